//! The gate on requests in flight to one endpoint: a semaphore whose size follows AIMD
//! (additive increase, multiplicative decrease). An answer saying the server is overloaded
//! (429, 503, 529) or an attempt timed out lowers the limit by a quarter; each success raises it
//! by 1 / limit, so by about one per round of requests; it stays within [1, max]. Requests
//! beyond the limit wait on the semaphore, in arrival order, at no cost but their future.

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

/// What a decrease keeps of the limit.
const DECREASE: f64 = 0.75;

pub(crate) struct Gate {
    permits: Semaphore,
    max: usize,
    adaptive: bool,
    state: Mutex<State>,
}

struct State {
    /// The limit, fractional so that it can grow by less than one per success.
    limit: f64,
    /// Permits that exist, in the semaphore or held.
    capacity: usize,
    /// Held permits to forget when they come back (a decrease that found them in use).
    debt: usize,
    /// Decreases so far: a congestion signal from a request that started before the last
    /// decrease is already answered by it.
    epoch: u64,
}

/// A request's place in flight; it gives the place back when dropped.
pub(crate) struct Ticket<'a> {
    gate: &'a Gate,
    permit: Option<SemaphorePermit<'a>>,
    epoch: u64,
}

impl Gate {
    /// A gate letting `max` requests through, fixed at `max` unless `adaptive`.
    pub(crate) fn new(max: usize, adaptive: bool) -> Self {
        let max = max.max(1);
        Gate {
            permits: Semaphore::new(max),
            max,
            adaptive,
            state: Mutex::new(State {
                limit: max as f64,
                capacity: max,
                debt: 0,
                epoch: 0,
            }),
        }
    }

    /// Waits for a place in flight.
    pub(crate) async fn enter(&self) -> Ticket<'_> {
        let permit = self.permits.acquire().await.expect("never closed");
        let epoch = self.state.lock().expect("not poisoned").epoch;
        Ticket {
            gate: self,
            permit: Some(permit),
            epoch,
        }
    }

    /// The requests allowed in flight now.
    pub(crate) fn limit(&self) -> usize {
        let state = self.state.lock().expect("not poisoned");
        state.capacity - state.debt
    }
}

impl Ticket<'_> {
    /// The request succeeded: the limit grows by 1 / limit.
    pub(crate) fn success(&self) {
        let gate = self.gate;
        if !gate.adaptive {
            return;
        }
        let mut state = gate.state.lock().expect("not poisoned");
        if state.limit >= gate.max as f64 {
            return;
        }
        state.limit = (state.limit + 1.0 / state.limit).min(gate.max as f64);
        let wanted = state.limit as usize;
        let allowed = state.capacity - state.debt;
        if wanted > allowed {
            let more = wanted - allowed;
            let repaid = more.min(state.debt);
            state.debt -= repaid;
            let added = more - repaid;
            state.capacity += added;
            gate.permits.add_permits(added);
        }
    }

    /// The server said it is overloaded, or the attempt timed out: the limit drops by a
    /// quarter, once for all the requests that were in flight together.
    pub(crate) fn congestion(&self) {
        let gate = self.gate;
        if !gate.adaptive {
            return;
        }
        let mut state = gate.state.lock().expect("not poisoned");
        if self.epoch != state.epoch {
            return;
        }
        state.epoch += 1;
        state.limit = (state.limit * DECREASE).max(1.0);
        let wanted = (state.limit as usize).max(1);
        let mut excess = (state.capacity - state.debt).saturating_sub(wanted);
        while excess > 0 {
            match gate.permits.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    state.capacity -= 1;
                    excess -= 1;
                }
                Err(_) => break,
            }
        }
        state.debt += excess;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        if !self.gate.adaptive {
            return;
        }
        let mut state = self.gate.state.lock().expect("not poisoned");
        if state.debt > 0 {
            state.debt -= 1;
            state.capacity -= 1;
            permit.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn decreases_once_per_round_and_grows_back() {
        let gate = Gate::new(64, true);
        let tickets: Vec<Ticket<'_>> =
            futures_util::future::join_all((0..64).map(|_| gate.enter())).await;
        // All 64 rejected together: one decrease, not 64.
        for ticket in &tickets {
            ticket.congestion();
        }
        assert_eq!(gate.limit(), 48);
        drop(tickets);
        assert_eq!(gate.permits.available_permits(), 48);
        let ticket = gate.enter().await;
        ticket.congestion();
        assert_eq!(gate.limit(), 36);
        for _ in 0..40 {
            ticket.success();
        }
        assert_eq!(gate.limit(), 37);
        drop(ticket);
        let fixed = Gate::new(8, false);
        fixed.enter().await.congestion();
        assert_eq!(fixed.limit(), 8);
        // Never below one.
        let small = Gate::new(2, true);
        for _ in 0..5 {
            small.enter().await.congestion();
        }
        assert_eq!(small.limit(), 1);
        assert!(small.enter().await.permit.is_some());
    }
}
