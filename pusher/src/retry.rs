//! Retries with exponential backoff and jitter, honouring `Retry-After` (both its forms, see
//! [`parse_retry_after`](crate::http::parse_retry_after)), and the rule that decides when a request may be
//! sent again.
//!
//! # When a request is sent again
//!
//! A GET only reads, so sending it twice changes nothing. A POST that publishes (a trigger, a batch) must not
//! be sent twice if the first attempt may have been processed: its subscribers would get the event twice.
//! Whether it was processed is only *known* in two cases: the connection could not be opened (nothing was
//! sent), or the server answered 429 with `Retry-After` (rate limiters refuse before handling the request).
//! After a timeout, a connection reset after the request was sent, or a 5xx, the event may or may not have
//! been published. An idempotency key ([`TriggerOptions::idempotency_key`](crate::TriggerOptions::idempotency_key))
//! makes those cases safe on servers that de-duplicate by key (sockudo: 120 s window by default): the
//! retry carries the same key, and the server answers it without publishing again.
//!
//! | failure (transient only; other 4xx never retried) | GET | POST with an idempotency key | POST without key, [`retry_posts`](RetryPolicy::retry_posts) on | POST without key (default) |
//! |---|---|---|---|---|
//! | connection refused / DNS / TLS handshake (nothing sent; a refused certificate is never retried) | retried | retried | retried | **retried** |
//! | 429 with `Retry-After` (refused before handling) | retried | retried | retried | **retried** |
//! | 429 without `Retry-After` | retried | retried | retried | not retried |
//! | timeout | retried | retried | retried (may duplicate) | not retried |
//! | connection reset or closed after sending | retried | retried | retried (may duplicate) | not retried |
//! | 5xx | retried | retried | retried (may duplicate) | not retried |
//!
//! With [`retry_posts`](RetryPolicy::retry_posts) on (and [`idempotency_keys`](RetryPolicy::idempotency_keys)
//! left on), every trigger and batch carries an idempotency key generated once per call (32 random hex
//! characters) and reused on every attempt, so it falls in the "with an idempotency key" column. Other POSTs
//! ([`terminate_user_connections`](crate::Pusher::terminate_user_connections), [`post`](crate::Pusher::post))
//! carry no key. Retries stop after [`max_retries`](RetryPolicy::max_retries); the last error is returned.
//!
//! Only a server that de-duplicates makes a key useful: sockudo does (body field `idempotency_key`,
//! header `X-Idempotency-Key`; on by default); Pusher's hosted API documents no idempotency key and ignores
//! the field, so there a retried publish may still arrive twice.

use std::time::Duration;

use rand_core::{OsRng, RngCore};

use crate::error::Error;
use crate::http::Method;

/// When and how often to retry a failed request. Only transient failures are retried (timeouts, transport
/// errors, 429 and 5xx), and a POST only when sending it again is safe (see the [module docs](self)).
///
/// Build one from [`RetryPolicy::default`] or [`RetryPolicy::none`] and its setters; the fields are public
/// to read (the struct is `#[non_exhaustive]`).
///
/// ```
/// use std::time::Duration;
/// let policy = pusher::RetryPolicy::default()
///     .max_retries(4)
///     .delays(Duration::from_millis(50), Duration::from_secs(2))
///     .retry_posts(true);
/// assert_eq!(policy.max_retries, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry.
    pub base_delay: Duration,
    /// The longest backoff, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
    /// Whether POSTs (triggers, batches, terminate) are retried after failures that leave their outcome
    /// unknown (timeouts, resets, 5xx). POSTs are always retried when they provably were not processed.
    pub retry_posts: bool,
    /// Whether triggers and batches carry an idempotency key generated per call when `retry_posts` is on
    /// (default `true`), so that a retry is not published twice by a server that de-duplicates.
    pub idempotency_keys: bool,
}

impl Default for RetryPolicy {
    /// 2 retries, 100 ms doubling up to 5 s; POSTs retried only when they provably were not processed or
    /// carry an idempotency key.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            retry_posts: false,
            idempotency_keys: true,
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

    /// Also retries POSTs after failures whose outcome is unknown. Triggers and batches then carry an
    /// idempotency key generated per call (unless [`idempotency_keys`](Self::idempotency_keys) is off), so a
    /// server that de-duplicates publishes them once; without a key a retried POST may be delivered twice.
    pub fn retry_posts(mut self, yes: bool) -> Self {
        self.retry_posts = yes;
        self
    }

    /// Whether [`retry_posts`](Self::retry_posts) gives triggers and batches a generated idempotency key
    /// (default `true`). Turn it off only for a server that refuses unknown body fields; retried publishes
    /// may then be delivered twice.
    pub fn idempotency_keys(mut self, yes: bool) -> Self {
        self.idempotency_keys = yes;
        self
    }

    /// Whether a trigger or batch sent under this policy gets a generated idempotency key.
    pub fn generates_keys(&self) -> bool {
        self.retry_posts && self.idempotency_keys && self.max_retries > 0
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

    /// The delay before retry number `attempt` (1-based) after `error`, or `None` when not to retry: a GET
    /// is [`Replay::Safe`], a POST [`Replay::Unkeyed`] (see [`delay_for`](Self::delay_for)).
    pub fn delay(&self, method: Method, attempt: u32, error: &Error) -> Option<Duration> {
        let replay = match method {
            Method::Get => Replay::Safe,
            Method::Post => Replay::Unkeyed,
        };
        self.delay_for(replay, attempt, error)
    }

    /// The delay before retry number `attempt` (1-based) of a request that is `replay`, after `error`, or
    /// `None` when not to retry (the table in the [module docs](self)).
    ///
    /// A `Retry-After` from the server is honoured; one longer than `max_delay` is not cut short but ends the
    /// retries (the error, carrying `retry_after`, goes to the caller: a rate-limited server is not asked
    /// again before it said to). Otherwise the delay is
    /// [`backoff(attempt)`](Self::backoff) with "equal jitter": uniformly in `[backoff/2, backoff]`, so
    /// clients spread out and yet each retry waits at least as long as the previous one's lower bound.
    pub fn delay_for(&self, replay: Replay, attempt: u32, error: &Error) -> Option<Duration> {
        if attempt == 0
            || attempt > self.max_retries
            || !error.is_transient()
            || certificate_refused(error)
        {
            return None;
        }
        if replay == Replay::Unkeyed && !self.retry_posts && !not_processed(error) {
            return None;
        }
        if let Error::Status {
            retry_after: Some(after),
            ..
        } = error
        {
            // Whole seconds: `0` means "under a second", so at least the base delay (never a busy loop).
            return (*after <= self.max_delay)
                .then_some((*after).max(self.base_delay).min(self.max_delay));
        }
        let exp = u64::try_from(self.backoff(attempt).as_nanos()).unwrap_or(u64::MAX);
        let half = exp / 2;
        let spread = exp - half;
        // A failing system generator means no jitter, never a panic.
        let mut random = [0u8; 8];
        let jitter = if spread == 0 || OsRng.try_fill_bytes(&mut random).is_err() {
            0
        } else {
            u64::from_le_bytes(random) % (spread + 1)
        };
        Some(Duration::from_nanos(half + jitter))
    }
}

/// How safe it is to send a request again when the outcome of an attempt is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// A GET: sending it twice changes nothing.
    Safe,
    /// A POST carrying an idempotency key: a server that de-duplicates drops the repeat.
    Keyed,
    /// A POST without a key: a repeat may be processed twice.
    Unkeyed,
}

/// The start of the [`Error::Transport`] message of a connection that could not be opened (refused, DNS,
/// TLS handshake, proxy): nothing was sent. A custom [`HttpBackend`](crate::HttpBackend) reports such
/// failures with a message starting with it, so that [`not_processed`] recognises them.
pub const CONNECT_FAILED: &str = "connect failed";

/// Whether a connection failed because a TLS certificate was refused: it would be refused again, so it is
/// not retried (whatever the method).
fn certificate_refused(error: &Error) -> bool {
    let Error::Transport { message, source } = error else {
        return false;
    };
    if !message.starts_with(CONNECT_FAILED) {
        return false;
    }
    let mentions = |text: String| text.to_ascii_lowercase().contains("certificate");
    if mentions(message.clone()) {
        return true;
    }
    // The reason is in the source chain (rustls: "invalid peer certificate: UnknownIssuer").
    let mut next: Option<&(dyn std::error::Error + 'static)> = match source {
        Some(s) => Some(s.as_ref()),
        None => None,
    };
    while let Some(e) = next {
        if mentions(e.to_string()) {
            return true;
        }
        next = e.source();
    }
    false
}

/// Whether `error` proves that the request was not processed: the connection could not be opened
/// ([`CONNECT_FAILED`]), or the server answered 429 with `Retry-After` (rate limiters refuse a request
/// before handling it, and sockudo's answers 429 with `Retry-After`). Such a request is safe to send again
/// even without an idempotency key.
pub fn not_processed(error: &Error) -> bool {
    match error {
        Error::Transport { message, .. } => message.starts_with(CONNECT_FAILED),
        Error::Status {
            status: 429,
            retry_after: Some(_),
            ..
        } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server asking for a longer wait than `max_delay` is not asked again early: no retry.
    #[test]
    fn a_retry_after_beyond_max_delay_ends_the_retries() {
        let p = RetryPolicy::default().delays(Duration::from_millis(10), Duration::from_secs(5));
        let status = |secs| Error::Status {
            status: 429,
            body: String::new(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            p.delay(Method::Get, 1, &status(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(p.delay(Method::Get, 1, &status(3600)), None);
    }

    /// A refused certificate is found in the source chain, and never retried.
    #[test]
    fn a_certificate_in_the_source_chain_is_not_retried() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let cert = Error::transport(CONNECT_FAILED, Some(Box::new(Outer(inner))));
        let refused = Error::transport(
            CONNECT_FAILED,
            Some(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        );
        let p = RetryPolicy::default();
        assert!(certificate_refused(&cert));
        assert_eq!(p.delay(Method::Get, 1, &cert), None);
        assert!(!certificate_refused(&refused));
        assert!(p.delay(Method::Get, 1, &refused).is_some());
    }

    #[test]
    fn only_transient_and_bounded() {
        let p = RetryPolicy::default();
        let t = Error::transport("x", None);
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
        assert_eq!(
            p.delay(Method::Get, 1, &ra),
            None,
            "longer than max_delay: not asked early"
        );
        let ra = Error::from_status(503, b"", Some(Duration::from_secs(1)));
        assert_eq!(p.delay(Method::Get, 1, &ra), Some(Duration::from_secs(1)));
        assert!(RetryPolicy::none().delay(Method::Get, 1, &t).is_none());
        let huge = RetryPolicy::default().max_retries(100);
        assert!(huge.delay(Method::Get, 99, &t).unwrap() <= Duration::from_secs(5));
    }
}
