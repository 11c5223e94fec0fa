//! Retries with exponential backoff and jitter, honouring `Retry-After` (both its forms, see
//! [`parse_retry_after`](crate::http::parse_retry_after)).
//!
//! By default GET queries are retried (they are idempotent) and POSTs are not: the Channels API has no
//! idempotency key, so a retried trigger whose first attempt reached the server is delivered twice. Opt in
//! with [`RetryPolicy::retry_posts`] when a duplicate is better than a loss.

use std::time::Duration;

use rand_core::{OsRng, RngCore};

use crate::error::Error;
use crate::http::Method;

/// When and how often to retry a failed request. Only transient failures are retried: timeouts, transport
/// errors, 429 and 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry.
    pub base_delay: Duration,
    /// The longest backoff, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
    /// Whether POSTs (triggers, batches, terminate) are retried too.
    pub retry_posts: bool,
}

impl Default for RetryPolicy {
    /// 2 retries of GETs, 100 ms doubling up to 5 s, POSTs not retried.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            retry_posts: false,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first backoff and the cap.
    pub fn delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max;
        self
    }

    /// Also retries POSTs. A retried trigger may be delivered twice.
    pub fn retry_posts(mut self, yes: bool) -> Self {
        self.retry_posts = yes;
        self
    }

    /// The backoff before retry number `attempt` (1-based), before jitter: `base_delay` doubled on each
    /// retry (`base`, `2·base`, `4·base`, …), capped at `max_delay`. A pure function.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = pusher::RetryPolicy::default().delays(Duration::from_millis(100), Duration::from_secs(1));
    /// let ms: Vec<u128> = (1..=6).map(|a| p.backoff(a).as_millis()).collect();
    /// assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    /// ```
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The delay before retry number `attempt` (1-based) after `error`, or `None` when not to retry.
    ///
    /// A `Retry-After` from the server is honoured, capped at `max_delay`. Otherwise the delay is
    /// [`backoff(attempt)`](Self::backoff) with "equal jitter": uniformly in `[backoff/2, backoff]`, so
    /// clients spread out and yet each retry waits at least as long as the previous one's lower bound.
    pub fn delay(&self, method: Method, attempt: u32, error: &Error) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_retries || !error.is_transient() {
            return None;
        }
        if method == Method::Post && !self.retry_posts {
            return None;
        }
        if let Error::Status {
            retry_after: Some(after),
            ..
        } = error
        {
            return Some((*after).min(self.max_delay));
        }
        let exp = u64::try_from(self.backoff(attempt).as_nanos()).unwrap_or(u64::MAX);
        let half = exp / 2;
        let spread = exp - half;
        let jitter = if spread == 0 {
            0
        } else {
            OsRng.next_u64() % (spread + 1)
        };
        Some(Duration::from_nanos(half + jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_and_bounded() {
        let p = RetryPolicy::default();
        let t = Error::Transport("x".into());
        assert!(p.delay(Method::Get, 1, &t).is_some());
        assert!(p.delay(Method::Get, 3, &t).is_none());
        assert!(p.delay(Method::Post, 1, &t).is_none());
        assert!(
            p.clone()
                .retry_posts(true)
                .delay(Method::Post, 1, &t)
                .is_some()
        );
        assert!(
            p.delay(Method::Get, 1, &Error::from_status(400, b"", None))
                .is_none()
        );
        for a in 1..=2 {
            let d = p.delay(Method::Get, a, &t).unwrap();
            assert!(d <= p.backoff(a) && d >= p.backoff(a) / 2, "{d:?}");
        }
        let ra = Error::from_status(429, b"", Some(Duration::from_secs(7)));
        assert_eq!(p.delay(Method::Get, 1, &ra), Some(Duration::from_secs(5)));
        let ra = Error::from_status(503, b"", Some(Duration::from_secs(1)));
        assert_eq!(p.delay(Method::Get, 1, &ra), Some(Duration::from_secs(1)));
        assert!(RetryPolicy::none().delay(Method::Get, 1, &t).is_none());
        let huge = RetryPolicy::default().max_retries(100);
        assert!(huge.delay(Method::Get, 99, &t).unwrap() <= Duration::from_secs(5));
    }
}
