//! How often and how long to retry a request that failed in a way that may pass, and which
//! statuses say so: one policy for the Hub and the LLM clients.

use std::time::Duration;

/// Bounded exponential backoff for connection errors, `429 Too Many Requests` and `5xx`
/// answers. Other failures (404, 401, a malformed answer) are never retried: they would fail
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled after each further failure.
    pub initial_delay: Duration,
    /// Upper bound of one wait, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based), or `None` when no attempt is
    /// left. `retry_after` is the server's own hint, honored up to `max_delay`.
    pub(crate) fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts.max(1) {
            return None;
        }
        let doubled = self
            .initial_delay
            .saturating_mul(1u32 << (attempt - 1).min(16));
        Some(retry_after.unwrap_or(doubled).min(self.max_delay))
    }
}

/// Whether an HTTP status is worth another attempt: 408 (timeout), 409 (conflict, e.g. a model
/// still loading), 429 (too many requests) and 5xx.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(150),
        };
        assert_eq!(
            policy.delay_after(1, None),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            policy.delay_after(2, None),
            Some(Duration::from_millis(150))
        );
        assert_eq!(policy.delay_after(3, None), None);
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(60))),
            Some(Duration::from_millis(150))
        );
        assert_eq!(RetryPolicy::none().delay_after(1, None), None);
    }

    #[test]
    fn only_transient_statuses_retry() {
        assert!(is_retryable_status(500));
        assert!(is_retryable_status(503));
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(408));
        assert!(!is_retryable_status(404));
        assert!(!is_retryable_status(401));
    }
}
