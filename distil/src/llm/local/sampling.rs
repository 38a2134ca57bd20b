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
        let greedy = || {
            logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i as u32)
        };
        if self.temperature <= 0.0 || self.top_k == Some(1) {
            return greedy();
        }
        // Tokens more than e^30 less likely than the likeliest cannot be drawn: leaving them
        // out spares sorting the whole vocabulary for every token.
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = top - (30.0 * self.temperature) as f32;
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| **l >= floor)
            .map(|(i, &l)| (i as u32, l))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        if let Some(k) = self.top_k.filter(|&k| k > 0) {
            candidates.truncate(k);
        }
        let max = candidates[0].1 as f64;
        let mut weights: Vec<f64> = candidates
            .iter()
            .map(|(_, l)| ((*l as f64 - max) / self.temperature).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        if self.top_p < 1.0 {
            let mut kept = 0.0;
            let mut keep = weights.len();
            for (i, w) in weights.iter().enumerate() {
                kept += w / total;
                if kept >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
            weights.truncate(keep);
        }
        let total: f64 = weights.iter().sum();
        let mut pick = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            pick -= w;
            if pick <= 0.0 {
                return candidates[i].0;
            }
        }
        candidates[weights.len() - 1].0
    }
}
