//! Routing: which successors receive each batch of a step.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::index::sample;

type Choose = dyn FnMut(&[&str], &mut SmallRng) -> Vec<usize> + Send;

/// Picks, for each batch, the successors that receive it.
pub struct Router {
    name: String,
    /// How many targets each batch goes to, when the router says (`sample_n_steps`).
    pub(crate) picks: Option<usize>,
    choose: Box<Choose>,
    rng: SmallRng,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router from a function of the successors' names to the indices of those that receive
    /// the batch.
    pub fn new(
        name: impl Into<String>,
        mut choose: impl FnMut(&[&str]) -> Vec<usize> + Send + 'static,
    ) -> Self {
        Router {
            name: name.into(),
            picks: None,
            choose: Box::new(move |targets, _| choose(targets)),
            rng: SmallRng::from_os_rng(),
        }
    }

    /// The router's name, for messages and the pipeline description.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn seed(&mut self, seed: u64) {
        self.rng = SmallRng::seed_from_u64(seed);
    }

    /// The indices (into `targets`) of the successors for the next batch.
    pub(crate) fn choose(&mut self, targets: &[&str]) -> Vec<usize> {
        let mut chosen = (self.choose)(targets, &mut self.rng);
        chosen.retain(|&i| i < targets.len());
        chosen.sort_unstable();
        chosen.dedup();
        chosen
    }
}

/// Sends each batch to `n` successors picked at random (all of them if there are fewer).
///
/// ```
/// # use distil::prelude::*;
/// let router = sample_n_steps(2);
/// assert_eq!(router.name(), "sample_n_steps(2)");
/// ```
pub fn sample_n_steps(n: usize) -> Router {
    Router {
        name: format!("sample_n_steps({n})"),
        picks: Some(n),
        choose: Box::new(move |targets, rng| {
            sample(rng, targets.len(), n.min(targets.len())).into_vec()
        }),
        rng: SmallRng::from_os_rng(),
    }
}

/// A router from a function: given the successors' names, return the indices of those that
/// receive the batch.
///
/// ```
/// # use distil::prelude::*;
/// // Every batch goes to the first successor only.
/// let router = route(|targets: &[&str]| vec![0]);
/// ```
pub fn route(choose: impl FnMut(&[&str]) -> Vec<usize> + Send + 'static) -> Router {
    Router::new("route", choose)
}
