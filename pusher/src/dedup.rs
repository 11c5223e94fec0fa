//! Webhook de-duplication: process each webhook once, although servers deliver them at least once.
//!
//! Pusher retries a webhook whose endpoint failed or was slow for 5 minutes, sockudo per its retry
//! configuration; a retry is the same webhook (the same body: `time_ms` is set when the webhook is created
//! and kept across retries). [`WebhookDedup::first_time`] remembers each verified webhook for a time window
//! and says whether it is new, in one line of a handler:
//!
//! ```
//! # let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
//! # let body = format!(r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"a"}}]}}"#);
//! # let (body, signature) = (body.as_bytes(), pusher::sign_webhook("secret", body.as_bytes()));
//! let dedup = pusher::dedup::WebhookDedup::default(); // shared by every request (in app state)
//! let webhook = pusher.validate_webhook(Some("key"), Some(&signature), body)?;
//! if dedup.first_time(&webhook) {
//!     // handle the events
//! }
//! assert!(!dedup.first_time(&webhook), "a retry of the same webhook");
//! # Ok::<(), pusher::WebhookError>(())
//! ```
//!
//! * The key is what a retry cannot change: SHA-256 of `time_ms` and the events
//!   ([`first_time`](WebhookDedup::first_time)), or the body's signature, the HMAC of the whole body
//!   ([`first_time_signature`](WebhookDedup::first_time_signature)). Two different webhooks share a key
//!   only if they carry the same events created in the same millisecond.
//! * Memory is bounded: at most [`capacity`](WebhookDedup::new) keys (32 bytes each, plus their time). When
//!   full, the oldest key is forgotten first, so a very late retry of it is processed again: the helper errs
//!   towards processing twice, never towards dropping a webhook.
//! * A key is remembered for `window` (default [`DEFAULT_WEBHOOK_TOLERANCE`], 600 s: a retry older than
//!   the verification window is refused as stale anyway, so every retry that verifies is within it).
//! * Each call does constant work on average (expired keys are dropped from the front of a queue).
//!
//! Mark a webhook seen only once it is verified (after [`Pusher::validate_webhook`](crate::Pusher::validate_webhook)):
//! an unverified body must not be able to fill the memory or pre-empt a real webhook. If handling fails
//! after `first_time` said yes, answer with an error *and* call [`forget`](WebhookDedup::forget), so the
//! server's retry is handled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::config::DEFAULT_WEBHOOK_TOLERANCE;
use crate::webhook::Webhook;

/// The default most keys a [`WebhookDedup`] remembers.
pub const DEFAULT_DEDUP_CAPACITY: usize = 65_536;

type Key = [u8; 32];
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Remembers the webhooks already seen, within a time window and a bounded number of keys. Share one
/// (it is `Sync`; wrap it in an `Arc` or keep it in app state) across every request of the endpoint.
pub struct WebhookDedup {
    window_ms: u64,
    capacity: usize,
    state: Mutex<State>,
    clock: Option<Clock>,
}

#[derive(Default)]
struct State {
    /// When each remembered key was first seen, in ms since the epoch.
    seen: HashMap<Key, u64>,
    /// The keys in the order first seen, with that time (the oldest at the front).
    order: VecDeque<(Key, u64)>,
}

impl std::fmt::Debug for WebhookDedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDedup")
            .field("window_ms", &self.window_ms)
            .field("capacity", &self.capacity)
            .field("remembered", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for WebhookDedup {
    /// A 600 s window ([`DEFAULT_WEBHOOK_TOLERANCE`]) and [`DEFAULT_DEDUP_CAPACITY`] keys.
    fn default() -> Self {
        Self::new(DEFAULT_WEBHOOK_TOLERANCE, DEFAULT_DEDUP_CAPACITY)
    }
}

impl WebhookDedup {
    /// Remembers each key for `window`, and at most `capacity` keys (at least 1).
    pub fn new(window: Duration, capacity: usize) -> Self {
        WebhookDedup {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            clock: None,
        }
    }

    /// The same, reading the time from `clock` (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Whether this verified webhook is seen for the first time within the window (then it is remembered);
    /// `false` for a repeat (a server's retry). Keyed on `time_ms` and the events.
    pub fn first_time(&self, webhook: &Webhook) -> bool {
        let mut h = Sha256::new();
        h.update(webhook.time_ms.to_be_bytes());
        match serde_json::to_vec(&webhook.events) {
            Ok(events) => h.update(&events),
            // Not expected (every event serializes); never drop a webhook over it.
            Err(_) => return true,
        }
        self.check(h.finalize().into())
    }

    /// Whether the webhook with this `X-Pusher-Signature` (the HMAC of its whole body) is seen for the first
    /// time within the window. Use it after verification only.
    pub fn first_time_signature(&self, signature: &str) -> bool {
        let mut h = Sha256::new();
        h.update(b"signature:");
        h.update(signature.trim().to_ascii_lowercase().as_bytes());
        self.check(h.finalize().into())
    }

    /// Forgets `webhook`, so that the server's next retry of it is processed (call it when handling failed
    /// after [`first_time`](Self::first_time) said yes).
    pub fn forget(&self, webhook: &Webhook) {
        let mut h = Sha256::new();
        h.update(webhook.time_ms.to_be_bytes());
        if let Ok(events) = serde_json::to_vec(&webhook.events) {
            h.update(&events);
            let key: Key = h.finalize().into();
            self.lock().seen.remove(&key);
        }
    }

    /// How many keys are remembered now (expired ones included until the next call drops them).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_ms(&self) -> u64 {
        let now = self.clock.as_ref().map_or_else(SystemTime::now, |c| c());
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, key: Key) -> bool {
        let now = self.now_ms();
        let mut state = self.lock();
        let State { seen, order } = &mut *state;
        // Drop what left the window (the front is the oldest). An entry whose key was forgotten, or
        // seen again later, is removed only if the map still holds that very sighting.
        while let Some(&(k, at)) = order.front() {
            if now.saturating_sub(at) < self.window_ms {
                break;
            }
            order.pop_front();
            if seen.get(&k) == Some(&at) {
                seen.remove(&k);
            }
        }
        if seen.contains_key(&key) {
            return false;
        }
        // Bounded: forget the oldest first. `order` may hold stale entries of forgotten keys, which are
        // dropped here too, so it stays within twice the capacity.
        while seen.len() >= self.capacity || order.len() >= self.capacity.saturating_mul(2) {
            let Some((k, at)) = order.pop_front() else {
                break;
            };
            if seen.get(&k) == Some(&at) {
                seen.remove(&k);
            }
        }
        seen.insert(key, now);
        order.push_back((key, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::WebhookEvent;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn hook(time_ms: u64, channel: &str) -> Webhook {
        Webhook {
            time_ms,
            events: vec![WebhookEvent::ChannelOccupied {
                channel: channel.to_owned(),
            }],
        }
    }

    fn clocked(window: Duration, capacity: usize) -> (WebhookDedup, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_700_000_000_000));
        let c = now.clone();
        let d = WebhookDedup::new(window, capacity)
            .with_clock(move || UNIX_EPOCH + Duration::from_millis(c.load(Ordering::SeqCst)));
        (d, now)
    }

    #[test]
    fn a_repeat_within_the_window_is_not_first_and_a_late_one_is() {
        let (d, now) = clocked(Duration::from_secs(600), 100);
        let h = hook(1, "a");
        assert!(d.first_time(&h));
        assert!(!d.first_time(&h));
        assert!(d.first_time(&hook(1, "b")), "other events");
        assert!(d.first_time(&hook(2, "a")), "another time_ms");
        now.fetch_add(599_999, Ordering::SeqCst);
        assert!(!d.first_time(&h), "still within the window");
        now.fetch_add(1, Ordering::SeqCst);
        assert!(d.first_time(&h), "the window has passed");
        assert!(!d.first_time(&h));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_is_forgotten_first() {
        let (d, _) = clocked(Duration::from_secs(600), 3);
        for i in 0..1_000 {
            assert!(d.first_time(&hook(i, "a")));
            assert!(d.len() <= 3);
            assert!(d.lock().order.len() <= 6);
        }
        assert!(!d.first_time(&hook(999, "a")));
        assert!(!d.first_time(&hook(997, "a")));
        assert!(
            d.first_time(&hook(996, "a")),
            "evicted: processed again, never dropped"
        );
    }

    #[test]
    fn expired_keys_are_dropped_as_time_passes() {
        let (d, now) = clocked(Duration::from_secs(1), 1_000);
        for i in 0..500 {
            d.first_time(&hook(i, "a"));
        }
        assert_eq!(d.len(), 500);
        now.fetch_add(1_000, Ordering::SeqCst);
        assert!(d.first_time(&hook(10_000, "a")));
        assert_eq!(d.len(), 1, "the 500 expired keys were dropped by one call");
    }

    #[test]
    fn signatures_and_forget() {
        let (d, _) = clocked(Duration::from_secs(600), 10);
        let sig = "ab".repeat(32);
        assert!(d.first_time_signature(&sig));
        assert!(!d.first_time_signature(&sig.to_ascii_uppercase()));
        let h = hook(5, "x");
        assert!(d.first_time(&h));
        d.forget(&h);
        assert!(d.first_time(&h), "forgotten: the retry is handled");
        assert!(!d.first_time(&h));
    }
}
