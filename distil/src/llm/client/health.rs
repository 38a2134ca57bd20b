//! The circuit breaker of one endpoint: once it has answered, an endpoint whose every attempt
//! fails without an answer (connection refused, reset, silence) for a while is declared down,
//! and every request then fails at once with the same fatal error instead of each going
//! through its own retries.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) struct Health {
    /// How long every attempt must fail before the endpoint is down.
    window: Duration,
    state: Mutex<State>,
    down: OnceLock<String>,
}

#[derive(Default)]
struct State {
    /// Whether the endpoint ever answered.
    answered: bool,
    /// Since when every attempt failed, and how many did.
    failing_since: Option<Instant>,
    failures: u32,
}

/// Attempts in a row that must fail, however long they take, before the endpoint is down.
const FAILURES: u32 = 3;

impl Health {
    pub(crate) fn new(window: Duration) -> Self {
        Health {
            window,
            state: Mutex::new(State::default()),
            down: OnceLock::new(),
        }
    }

    /// Why the endpoint is down, once it is.
    pub(crate) fn down(&self) -> Option<&str> {
        self.down.get().map(String::as_str)
    }

    /// The endpoint answered (whatever the status): it is up.
    pub(crate) fn answered(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        state.answered = true;
        state.failing_since = None;
        state.failures = 0;
    }

    /// An attempt got no answer. Returns why the endpoint is down when this failure makes it
    /// so: `describe` words it from the failures' duration and count.
    pub(crate) fn unanswered(
        &self,
        describe: impl FnOnce(Duration, u32) -> String,
    ) -> Option<&str> {
        if let Some(down) = self.down() {
            return Some(down);
        }
        let mut state = self.state.lock().expect("not poisoned");
        let now = Instant::now();
        let since = *state.failing_since.get_or_insert(now);
        state.failures += 1;
        if !state.answered || state.failures < FAILURES || now - since < self.window {
            return None;
        }
        let message = describe(now - since, state.failures);
        drop(state);
        Some(self.down.get_or_init(|| message))
    }
}
