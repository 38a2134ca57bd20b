//! The gate on requests in flight to one endpoint: a semaphore whose size adapts to what the
//! server can take.
//!
//! An overloaded server answers most requests beyond its capacity at once with 429, 503 or
//! 529 (or lets them time out), while a server with transient faults rejects a share of
//! requests whatever their number. So the limit drops only when congestion answers are more
//! than half of a round of answers (the limit's worth, at least [`MIN_WINDOW`]), and then to
//! what the server was seen to serve without congestion: the requests that succeeded in
//! flight at once on average (Little's law: their time in flight over the wall time), or half
//! the limit before that is known. It then holds for [`HOLD_ROUNDS`] rounds and grows again by one per round,
//! so it probes above a known capacity rarely, and each probe costs a few rejections. Random
//! rejections, however many, never lower it: they are retried, and the slot is used again at
//! once. The limit stays within [1, max]. Requests beyond it wait on the semaphore, in arrival
//! order, at no cost but their future.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Answers in a round, at least: fewer would let a few random rejections look like overload.
const MIN_WINDOW: usize = 8;

/// Rounds of answers without growth after a decrease.
const HOLD_ROUNDS: f64 = 30.0;

/// What the limit keeps when it drops before any request succeeded.
const BLIND_DECREASE: f64 = 0.5;

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
    /// Decreases so far: congestion met by a request sent before the last decrease is
    /// already answered by it.
    epoch: u64,
    /// The current round of answers.
    answers: usize,
    congested: usize,
    /// Successes to go before the limit grows again.
    hold: f64,
    /// Time successful requests spent in flight, in the current and the previous period.
    served: Served,
}

/// What the server served: successful requests' time in flight, period by period (a typical
/// latency each), and the average number served at once in the best period that met no
/// congestion since the last decrease. That one, not the last round, says what the server
/// takes: while a limit above it is probed, rejected requests crowd out served ones.
#[derive(Default)]
struct Served {
    /// `None` before the first success.
    periods: Option<(Period, Period)>,
    /// A typical success's time in flight (moving average), to size the periods.
    latency: Option<Duration>,
    /// Requests served at once on average in the best clean period since the last decrease
    /// (the limit only grows in between).
    clean: Option<f64>,
}

/// One period's successes and congestion.
#[derive(Clone, Copy)]
struct Period {
    start: Instant,
    busy: Duration,
    successes: usize,
    congested: usize,
}

impl Period {
    fn new(start: Instant) -> Self {
        Period {
            start,
            busy: Duration::ZERO,
            successes: 0,
            congested: 0,
        }
    }
}

/// Successes a period needs for its average to count.
const MIN_SERVED_SAMPLES: usize = 2;

impl Served {
    fn record(&mut self, entered: Instant, now: Instant) {
        let latency = now - entered;
        let mean = match self.latency {
            Some(mean) => mean.mul_f64(0.9) + latency.mul_f64(0.1),
            None => latency,
        };
        self.latency = Some(mean);
        let (previous, current) = self
            .periods
            .get_or_insert((Period::new(entered), Period::new(entered)));
        if now - current.start >= mean.max(Duration::from_millis(5)) {
            // The previous period is complete: its requests in flight have ended since.
            let span = current.start - previous.start;
            if previous.congested == 0
                && previous.successes >= MIN_SERVED_SAMPLES
                && !span.is_zero()
            {
                let served = previous.busy.as_secs_f64() / span.as_secs_f64();
                self.clean = Some(self.clean.map_or(served, |clean| clean.max(served)));
            }
            *previous = *current;
            *current = Period::new(now);
        }
        let overlap = |from: Instant, to: Instant| to.saturating_duration_since(entered.max(from));
        current.busy += overlap(current.start, now);
        current.successes += 1;
        if current.start > previous.start {
            previous.busy += overlap(previous.start, current.start);
        }
    }

    fn congestion(&mut self) {
        if let Some((_, current)) = &mut self.periods {
            current.congested += 1;
        }
    }
}

/// A request's place in flight; it gives the place back when dropped.
pub(crate) struct Ticket<'a> {
    gate: &'a Gate,
    permit: Option<SemaphorePermit<'a>>,
    epoch: u64,
    entered: Instant,
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
                answers: 0,
                congested: 0,
                hold: 0.0,
                served: Served::default(),
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
            entered: Instant::now(),
        }
    }

    /// Whether a request the server failed may be retried at once: the limit adapts, and the
    /// server was not found overloaded lately (the limit is not holding after a decrease).
    /// Otherwise retries wait their backoff.
    pub(crate) fn retries_at_once(&self) -> bool {
        self.adaptive && self.state.lock().expect("not poisoned").hold <= 0.0
    }

    /// The requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        let state = self.state.lock().expect("not poisoned");
        state.capacity - self.permits.available_permits().min(state.capacity)
    }

    /// The requests allowed in flight now.
    pub(crate) fn limit(&self) -> usize {
        let state = self.state.lock().expect("not poisoned");
        state.capacity - state.debt
    }

    /// Sets the limit to `limit` (at least 1), taking free permits back at once and the
    /// others as they return.
    fn resize(&self, state: &mut State, limit: f64) {
        state.limit = limit.clamp(1.0, self.max as f64);
        let wanted = state.limit as usize;
        let allowed = state.capacity - state.debt;
        if wanted > allowed {
            let more = wanted - allowed;
            let repaid = more.min(state.debt);
            state.debt -= repaid;
            let added = more - repaid;
            state.capacity += added;
            self.permits.add_permits(added);
            return;
        }
        let mut excess = allowed - wanted;
        while excess > 0 {
            match self.permits.try_acquire() {
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

impl State {
    /// Answers in a round at the current limit.
    fn window(&self) -> usize {
        (self.limit.ceil() as usize).max(MIN_WINDOW)
    }

    fn count(&mut self, congested: bool) {
        if self.answers >= self.window() {
            self.answers = 0;
            self.congested = 0;
        }
        self.answers += 1;
        self.congested += usize::from(congested);
    }
}

impl Ticket<'_> {
    /// The request succeeded: after the hold, the limit grows by 1 / limit.
    pub(crate) fn success(&self) {
        let gate = self.gate;
        if !gate.adaptive {
            return;
        }
        let mut state = gate.state.lock().expect("not poisoned");
        state.served.record(self.entered, Instant::now());
        state.count(false);
        if state.hold > 0.0 {
            state.hold -= 1.0;
            return;
        }
        if state.limit < gate.max as f64 {
            let grown = state.limit + 1.0 / state.limit;
            gate.resize(&mut state, grown);
        }
    }

    /// The server said it is overloaded, or the attempt timed out: once more than half a
    /// round's answers say so, the limit drops to what the server served.
    pub(crate) fn congestion(&self) {
        let gate = self.gate;
        if !gate.adaptive {
            return;
        }
        let mut state = gate.state.lock().expect("not poisoned");
        state.served.congestion();
        if self.epoch != state.epoch {
            return;
        }
        state.count(true);
        if state.congested * 2 <= state.window() {
            return;
        }
        let limit = match state.served.clean {
            Some(served) if served < state.limit => served.round().min(state.limit - 1.0),
            _ => state.limit * BLIND_DECREASE,
        };
        tracing::debug!(
            from = state.limit,
            to = limit,
            served = state.served.clean,
            "adaptive concurrency: the server is overloaded"
        );
        state.served.clean = None;
        state.epoch += 1;
        state.answers = 0;
        state.congested = 0;
        gate.resize(&mut state, limit);
        state.hold = HOLD_ROUNDS * state.limit;
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

    async fn enter_all(gate: &Gate, n: usize) -> Vec<Ticket<'_>> {
        futures_util::future::join_all((0..n).map(|_| gate.enter())).await
    }

    #[tokio::test]
    async fn random_rejections_never_lower_the_limit() {
        let gate = Gate::new(64, true);
        for _ in 0..50 {
            let tickets = enter_all(&gate, 64).await;
            // A third rejected, spread over the round.
            for (i, ticket) in tickets.iter().enumerate() {
                if i % 3 == 0 {
                    ticket.congestion();
                } else {
                    ticket.success();
                }
            }
        }
        assert_eq!(gate.limit(), 64);
    }

    #[tokio::test]
    async fn overload_halves_before_any_success_then_holds_and_grows() {
        let gate = Gate::new(64, true);
        let tickets = enter_all(&gate, 64).await;
        // Most of the first round rejected together: one decrease, not one per answer.
        for ticket in &tickets {
            ticket.congestion();
        }
        assert_eq!(gate.limit(), 32);
        drop(tickets);
        assert_eq!(gate.permits.available_permits(), 32);
        // Held: a round of successes does not grow it.
        let ticket = gate.enter().await;
        for _ in 0..32 {
            ticket.success();
        }
        assert_eq!(gate.limit(), 32);
        // After the hold, about one per round.
        for _ in 0..(30 * 32 - 32 + 40) {
            ticket.success();
        }
        assert_eq!(gate.limit(), 33);
        drop(ticket);

        let fixed = Gate::new(8, false);
        for _ in 0..20 {
            fixed.enter().await.congestion();
        }
        assert_eq!(fixed.limit(), 8);
        // Never below one.
        let small = Gate::new(2, true);
        for _ in 0..40 {
            small.enter().await.congestion();
        }
        assert_eq!(small.limit(), 1);
        assert!(small.enter().await.permit.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn overload_drops_to_what_the_server_served() {
        let gate = Gate::new(12, true);
        // The server serves 8 at once, 100 ms each, for a while.
        for _ in 0..30 {
            let tickets = enter_all(&gate, 8).await;
            tokio::time::advance(Duration::from_millis(100)).await;
            for ticket in &tickets {
                ticket.success();
            }
        }
        // Then rejects everything beyond them.
        let tickets = enter_all(&gate, 12).await;
        for ticket in &tickets {
            ticket.congestion();
        }
        assert_eq!(gate.limit(), 8);
    }
}
