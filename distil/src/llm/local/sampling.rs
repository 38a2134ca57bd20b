//! Choosing the next token from the logits: greedy, or temperature, top-k and top-p sampling
//! with a seeded generator.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One sequence's sampling settings and random state.
pub(crate) struct Sampling {
    temperature: f64,
    top_p: f64,
    top_k: Option<usize>,
    rng: SmallRng,
}

impl Sampling {
    /// Greedy when `temperature` is 0; without a seed, a random one.
    pub fn new(temperature: f64, top_p: f64, top_k: Option<usize>, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Sampling {
            temperature,
            top_p,
            top_k,
            rng,
        }
    }

    /// The next token.
    pub fn next(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 0.0 || self.top_k == Some(1) {
            return distil_kernels::argmax(logits);
        }
        let candidates =
            distil_kernels::sampling_candidates(logits, self.temperature, self.top_k, self.top_p);
        let total: f64 = candidates.iter().map(|c| c.1).sum();
        let mut pick = self.rng.random::<f64>() * total;
        for &(id, weight) in &candidates {
            pick -= weight;
            if pick <= 0.0 {
                return id;
            }
        }
        candidates.last().map_or(0, |c| c.0)
    }
}
