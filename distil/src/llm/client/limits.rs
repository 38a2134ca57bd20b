//! Rate limits: requests per minute, tokens per minute, and pauses the server asks for
//! (`Retry-After`, `x-ratelimit-remaining-* = 0`).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Limits a client keeps to, set with [`Client::rate_limits`](super::Client::rate_limits).
/// Limits the server announces in `x-ratelimit-*` headers apply on top: when it says none are
/// left, requests wait for its reset time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per minute at most, spread evenly (bursts of a second's worth).
    pub requests_per_minute: Option<u32>,
    /// Prompt + generated tokens per minute at most. A request is counted with an estimate
    /// (prompt characters / 4 + `max_new_tokens`) when it starts, corrected when it ends.
    pub tokens_per_minute: Option<u32>,
}

/// The live state of a client's limits.
pub(crate) struct Limiter {
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<TokenBucket>,
    /// No request starts before this instant.
    paused_until: Mutex<Option<Instant>>,
}

struct TokenBucket {
    per_second: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        let requests = limits
            .requests_per_minute
            .and_then(NonZeroU32::new)
            .map(|rpm| {
                let burst = NonZeroU32::new((rpm.get() / 60).max(1)).expect("at least 1");
                RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst))
            });
        let tokens = limits.tokens_per_minute.filter(|&t| t > 0).map(|tpm| {
            let capacity = f64::from(tpm);
            TokenBucket {
                per_second: capacity / 60.0,
                capacity,
                state: Mutex::new((capacity, Instant::now())),
            }
        });
        Limiter {
            requests,
            tokens,
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request of about `estimate` tokens may start, and counts it.
    pub(crate) async fn acquire(&self, estimate: u64) {
        loop {
            let pause = *self.paused_until.lock().expect("not poisoned");
            match pause {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        if let Some(requests) = &self.requests {
            requests.until_ready().await;
        }
        if let Some(bucket) = &self.tokens {
            loop {
                let wait = {
                    let mut state = bucket.state.lock().expect("not poisoned");
                    let now = Instant::now();
                    let refilled =
                        state.0 + now.duration_since(state.1).as_secs_f64() * bucket.per_second;
                    *state = (refilled.min(bucket.capacity), now);
                    if state.0 > 0.0 {
                        state.0 -= estimate as f64;
                        None
                    } else {
                        Some(Duration::from_secs_f64(
                            -state.0 / bucket.per_second + 0.001,
                        ))
                    }
                };
                match wait {
                    None => break,
                    Some(wait) => tokio::time::sleep(wait).await,
                }
            }
        }
    }

    /// Corrects a request's estimate with the tokens it really used.
    pub(crate) fn used(&self, estimate: u64, actual: u64) {
        if let Some(bucket) = &self.tokens {
            let mut state = bucket.state.lock().expect("not poisoned");
            state.0 += estimate as f64 - actual as f64;
        }
    }

    /// No request starts for `delay`.
    pub(crate) fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut paused = self.paused_until.lock().expect("not poisoned");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Learns from the rate-limit headers of an answer: when the server says no request (or
    /// token) is left, waits for its reset.
    pub(crate) fn learn<'h>(&self, header: impl Fn(&str) -> Option<&'h str>) {
        const KINDS: [[&str; 3]; 2] = [
            [
                "x-ratelimit-remaining-requests",
                "anthropic-ratelimit-requests-remaining",
                "x-ratelimit-reset-requests",
            ],
            [
                "x-ratelimit-remaining-tokens",
                "anthropic-ratelimit-tokens-remaining",
                "x-ratelimit-reset-tokens",
            ],
        ];
        for [remaining, anthropic_remaining, reset] in KINDS {
            let left = header(remaining)
                .or_else(|| header(anthropic_remaining))
                .and_then(|v| v.trim().parse::<u64>().ok());
            if left != Some(0) {
                continue;
            }
            let wait = header(reset).and_then(parse_reset);
            self.pause(wait.unwrap_or(Duration::from_secs(1)));
        }
    }
}

/// OpenAI's reset durations: `1s`, `6m0s`, `20ms`, `1m30.5s`, `2h`, or plain seconds.
pub(crate) fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += value * unit;
    }
    if !number.is_empty() {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reset_durations() {
        assert_eq!(parse_reset("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("1m30.5s"), Some(Duration::from_millis(90_500)));
        assert_eq!(parse_reset("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_reset("soon"), None);
    }

    #[tokio::test]
    async fn token_bucket_waits_when_spent() {
        let limiter = Limiter::new(RateLimits {
            tokens_per_minute: Some(6000),
            ..RateLimits::default()
        });
        let start = Instant::now();
        limiter.acquire(6000).await;
        limiter.used(6000, 6100);
        // 100 tokens over: at 100 tokens/s, the next request waits about a second.
        limiter.acquire(10).await;
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
    }
}
