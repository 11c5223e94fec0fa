//! A background [`Publisher`] for apps that publish many events: a bounded queue, batching, bounded
//! concurrency, retries with idempotency keys, pacing on 429, per-channel order, and a report of every
//! event that could not be delivered.
//!
//! ```no_run
//! # async fn run(pusher: pusher::Pusher) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use pusher::{BatchEvent, Publisher, PublisherConfig};
//!
//! let config = PublisherConfig::new()
//!     .queue_capacity(10_000)
//!     .on_failure(|failed| eprintln!("not delivered: {} on {}: {}", failed.event.name, failed.event.channel, failed.error));
//! let publisher = Publisher::new(pusher, config)?; // keep it in your app state; clones share it
//! publisher.publish(BatchEvent::new("orders", "created", &serde_json::json!({"id": 7}))?).await?;
//! // ... on exit:
//! let report = publisher.shutdown(Duration::from_secs(10)).await;
//! assert!(report.undelivered.is_empty());
//! # Ok(()) }
//! ```
//!
//! # How events travel
//!
//! * [`publish`](Publisher::publish) validates the event (channel, name, data size, key; an encrypted
//!   channel's data is encrypted here, once) and returns once it is in the queue. The queue is bounded
//!   ([`queue_capacity`](PublisherConfig::queue_capacity)): `publish` waits for room,
//!   [`try_publish`](Publisher::try_publish) returns the event at once ([`PublishError::Full`]). An event is
//!   never dropped: it is delivered, returned to the caller, or reported as failed.
//! * A task spawned on the current tokio runtime takes events from the queue in order and coalesces them
//!   into batch requests of up to [`max_batch_events`](PublisherConfig::max_batch_events) (the client's
//!   limit, 10 on Pusher's shared clusters), with at most [`max_in_flight`](PublisherConfig::max_in_flight)
//!   requests at a time over the client's pooled connections. Events that arrive together go out together;
//!   a lone event is sent at once (no waiting to fill a batch).
//! * **Per-channel order.** Two events published to one channel (from one task, or ordered by the app)
//!   arrive in that order: a batch keeps queue order, and no two requests in flight carry the same
//!   channel. While a batch holding channel `X` is in flight (and while it is retried or paused), later
//!   events of `X` wait, and no event of `X` overtakes an earlier one left waiting. Events of other channels
//!   go ahead. (sockudo publishes a batch's events one after the other, in order.) Besides the queue, the
//!   task holds at most 4 × `max_in_flight` × `max_batch_events` events; when one busy channel's events
//!   fill that, events of other channels wait in the queue behind them.
//! * **Retries.** Every batch carries an idempotency key, generated for the batch and reused on every
//!   attempt (each event is sent with `KEY:INDEX`, or its own key if it has one;
//!   [`crate::idempotency`]), so a retry after a timeout, a cut connection or a 5xx is not published twice
//!   by a server that de-duplicates (sockudo). Retries follow [`retry`](PublisherConfig::retry) (default:
//!   the client's [`RetryPolicy`]) in its "POST with an idempotency key" column ([`crate::retry`]); a
//!   `Retry-After` on a transient error (sockudo's 503 for a key whose first request is still being
//!   handled) is waited for up to [`max_pause`](PublisherConfig::max_pause), even beyond the policy's
//!   `max_delay`.
//! * **Pacing.** A 429 with `Retry-After` pauses *all* sending of this publisher for that long, then the
//!   batch is sent again with the same key; it does not use up a retry and does not fail the events (up to
//!   [`max_pause`](PublisherConfig::max_pause) per answer: a longer `Retry-After` fails the batch with the
//!   server's error). A 429 without `Retry-After` is retried with backoff like any transient error.
//! * **Failures.** A batch that fails for good (a non-transient error such as a 4xx, or retries used up)
//!   reports each of its events, with the error, to [`on_failure`](PublisherConfig::on_failure) (or, when
//!   no callback is set, logs it with `tracing::error!`). Later events of the same channels are still sent:
//!   the events that do arrive are in order, and the failed ones are in the report.
//! * [`flush`](Publisher::flush) waits until every event accepted before it was called is delivered or
//!   reported; [`shutdown`](Publisher::shutdown) stops accepting events, delivers what is queued within a
//!   deadline and returns a [`ShutdownReport`] listing every event that was not delivered (failed while
//!   draining, never sent, or in flight when the deadline passed, whose outcome is unknown).
//! * [`stats`](Publisher::stats) reads the counters at any time: `queued = sent + failed + pending`.
//! * `tracing`: the task runs in a `pusher.publisher` span (app id), each batch in a
//!   `pusher.publisher.batch` span (batch number, events) and each of its attempts in a
//!   `pusher.publisher.request` span (attempt, status). Levels: a 429 pause at `info` (the server is
//!   rate-limiting this app: nobody else is told, and [`stats`](Publisher::stats) counts it); retries and a
//!   batch that fails for good at `debug` (a transient failure that a retry recovers is no news, and the
//!   failure of each event is reported once, below); an undelivered event, when no
//!   [`on_failure`](PublisherConfig::on_failure) callback receives it, at `error`.
//!
//! Dropping every handle without `shutdown` closes the queue: the task still delivers what was queued,
//! then ends (while the runtime runs).
//!
//! # Publishing after a database commit (an outbox)
//!
//! An event that must go out if and only if a transaction commits is written *in* the transaction to an
//! outbox table, and published from there after the commit; a crash between the commit and the publish
//! then delays the event instead of losing it. The idempotency key makes the relay safe to repeat:
//!
//! 1. in the transaction, insert the event with a key derived from the row (`order-42-created`):
//!    `INSERT INTO outbox (id, channel, name, data, key) VALUES (...)`, and commit;
//! 2. a relay loop reads unsent rows in id order and publishes each as
//!    `BatchEvent::new(channel, name, data)?.idempotency_key(key)` (the event's own key is kept, so a row
//!    published twice, after a crash or by two relays, reaches subscribers once within the server's
//!    de-duplication window: 120 s on sockudo);
//! 3. after [`flush`](Publisher::flush) returns, mark the rows sent, except those reported to
//!    [`on_failure`](PublisherConfig::on_failure) (leave them for the next pass, or park them after too many
//!    tries).
//!
//! To sign the requests in the transaction's own process and send them elsewhere (a job queue, another
//! HTTP stack), the sans-IO builders [`Pusher::batch_body`] and [`Pusher::batch_request`] give the exact
//! request without sending it; store the *body* and sign it when it is sent (the signature carries a
//! timestamp the server checks).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::client::Pusher;
use crate::error::Error;
use crate::http::Method;
use crate::idempotency::{derive_key, generate_key};
use crate::retry::{Replay, RetryPolicy};
use crate::trigger::BatchEvent;

/// The default [`PublisherConfig::queue_capacity`].
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// The default [`PublisherConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
/// The default [`PublisherConfig::max_pause`].
pub const DEFAULT_MAX_PAUSE: Duration = Duration::from_secs(60);

/// The shortest pause after a 429, whatever its `Retry-After` (whole seconds, so `0` means under a second)
/// and the retry policy's base delay.
const MIN_PAUSE: Duration = Duration::from_millis(100);

/// A callback receiving each event that could not be delivered.
type FailureCallback = Arc<dyn Fn(FailedEvent) + Send + Sync>;

/// How a [`Publisher`] queues, batches and retries. Built with [`PublisherConfig::new`] and its setters.
#[derive(Clone)]
#[must_use]
pub struct PublisherConfig {
    queue_capacity: usize,
    max_in_flight: usize,
    max_batch_events: Option<usize>,
    retry: Option<RetryPolicy>,
    max_pause: Duration,
    on_failure: Option<FailureCallback>,
}

impl fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherConfig")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_batch_events", &self.max_batch_events)
            .field("retry", &self.retry)
            .field("max_pause", &self.max_pause)
            .field("on_failure", &self.on_failure.is_some())
            .finish()
    }
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_batch_events: None,
            retry: None,
            max_pause: DEFAULT_MAX_PAUSE,
            on_failure: None,
        }
    }
}

impl PublisherConfig {
    /// The defaults: a queue of 1024 events, 4 requests in flight, batches of the client's
    /// [`max_batch_events`](crate::PusherBuilder::max_batch_events), the client's retry policy, pauses of
    /// up to 60 s, failures logged.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events the queue holds before [`publish`](Publisher::publish) waits (and
    /// [`try_publish`](Publisher::try_publish) returns the event). At least 1.
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events;
        self
    }

    /// How many batch requests may be in flight at once. At least 1.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// The most events per batch request: 1 to the client's
    /// [`max_batch_events`](crate::PusherBuilder::max_batch_events) (the default).
    pub fn max_batch_events(mut self, events: usize) -> Self {
        self.max_batch_events = Some(events);
        self
    }

    /// The retry policy of batch requests (default: the client's). Every batch carries an idempotency
    /// key, so the "POST with an idempotency key" rules apply whatever
    /// [`retry_posts`](RetryPolicy::retry_posts) says.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The longest `Retry-After` honoured (default 60 s): a 429 asking for longer fails its batch, and a
    /// transient error asking for longer is retried by the policy's rule (which gives up when it exceeds
    /// the policy's `max_delay`).
    pub fn max_pause(mut self, pause: Duration) -> Self {
        self.max_pause = pause;
        self
    }

    /// Called once for each event that could not be delivered, with the reason, on the publisher's task
    /// (keep it short: hand the event to a channel or a log; a panic in it is caught and logged). Without
    /// it, failures are logged with `tracing::error!`.
    pub fn on_failure(mut self, callback: impl Fn(FailedEvent) + Send + Sync + 'static) -> Self {
        self.on_failure = Some(Arc::new(callback));
        self
    }
}

/// Why an event was not accepted by [`Publisher::publish`] or [`Publisher::try_publish`]; the event is
/// given back ([`into_event`](Self::into_event)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The queue is full ([`try_publish`](Publisher::try_publish) only; `publish` waits instead).
    #[error("the publisher's queue is full")]
    Full(Box<BatchEvent>),
    /// The publisher is shut down (or its task ended).
    #[error("the publisher is shut down")]
    Closed(Box<BatchEvent>),
    /// The event is invalid (channel or event name, data size, socket id, key): it would never be accepted.
    #[error("invalid event: {error}")]
    Invalid {
        /// The event.
        event: Box<BatchEvent>,
        /// Why ([`Error::Validation`], or an encryption error).
        #[source]
        error: Error,
    },
}

impl PublishError {
    /// The event that was not queued.
    pub fn event(&self) -> &BatchEvent {
        match self {
            PublishError::Full(e)
            | PublishError::Closed(e)
            | PublishError::Invalid { event: e, .. } => e,
        }
    }

    /// The event that was not queued, to keep or publish again.
    pub fn into_event(self) -> BatchEvent {
        match self {
            PublishError::Full(e)
            | PublishError::Closed(e)
            | PublishError::Invalid { event: e, .. } => *e,
        }
    }
}

/// Why a queued event was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// Its batch request failed for good: a non-transient error (4xx), retries used up, or a `Retry-After`
    /// longer than [`max_pause`](PublisherConfig::max_pause). Shared by the events of one batch.
    #[error("the batch request failed: {0}")]
    Request(#[source] Arc<Error>),
    /// It was still queued when the [`shutdown`](Publisher::shutdown) deadline passed: never sent.
    #[error("not sent before the shutdown deadline")]
    NotSent,
    /// Its request was in flight (or waiting to retry) when the shutdown deadline passed: it may or may not
    /// have been published. Publishing it again with the same idempotency key is safe on a server that
    /// de-duplicates; the batch's key is not kept, so give events their own keys when this matters.
    #[error("in flight at the shutdown deadline: it may or may not have been published")]
    Unconfirmed,
}

/// An event that could not be delivered, with the reason.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailedEvent {
    /// The event as it was published (its data not encrypted).
    pub event: BatchEvent,
    /// Why it was not delivered.
    pub error: DeliveryError,
}

/// The publisher's counters, read with [`Publisher::stats`].
///
/// `queued = sent + failed + pending` (each counter is read on its own, so while events move the sum may
/// be off by the events that moved during the read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events delivered (their batch request succeeded).
    pub sent: u64,
    /// Events reported as not delivered.
    pub failed: u64,
    /// Events accepted and not yet delivered or failed.
    pub pending: u64,
    /// Batch requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a failed attempt (retries and re-sends after a 429 pause).
    pub retried: u64,
    /// 429 answers with `Retry-After` that paused sending.
    pub throttled: u64,
}

/// What [`Publisher::shutdown`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Every event that was not delivered after the shutdown began: batches that failed while draining,
    /// and, if the deadline passed, the events never sent and those in flight. (Each was also given to
    /// [`on_failure`](PublisherConfig::on_failure).)
    pub undelivered: Vec<FailedEvent>,
    /// Whether everything queued was delivered or failed before the deadline.
    pub drained: bool,
    /// The counters once the publisher stopped.
    pub stats: PublisherStats,
}

/// The counters, shared by the handles and the task.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    requests: AtomicU64,
    retried: AtomicU64,
    throttled: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> PublisherStats {
        // Outcomes first: an event is counted queued before it can be sent, so `pending` never underflows.
        let sent = self.sent.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let queued = self.queued.load(Ordering::Acquire);
        PublisherStats {
            queued,
            sent,
            failed,
            pending: queued.saturating_sub(sent).saturating_sub(failed),
            requests: self.requests.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

/// One accepted event: as published, and its data as sent when that differs (encrypted).
struct Queued {
    event: BatchEvent,
    wire_data: Option<String>,
}

/// What goes through the queue.
enum Item {
    Event(Box<Queued>),
    Flush(oneshot::Sender<()>),
}

struct Shutdown {
    deadline: Duration,
    reply: oneshot::Sender<ShutdownReport>,
}

/// A background publisher: a handle an app keeps in its state to publish many events without waiting for
/// each request. Cheap to clone (the clones share one queue and one task), `Send + Sync`. See the
/// [module docs](self) for batching, order, retries and pacing.
#[derive(Clone)]
pub struct Publisher {
    pusher: Pusher,
    queue: mpsc::Sender<Item>,
    control: mpsc::UnboundedSender<Shutdown>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("app_id", &self.pusher.app_id())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// A [`Publisher`] sending through this client (see [`Publisher::new`]).
    pub fn publisher(&self, config: PublisherConfig) -> Result<Publisher, Error> {
        Publisher::new(self.clone(), config)
    }
}

impl Publisher {
    /// Starts a publisher: checks `config` and spawns its task on the current tokio runtime (which needs
    /// its timer: `#[tokio::main]` or `enable_all`). Refused with [`Error::Config`] outside a runtime or
    /// for a capacity, concurrency or batch size of 0 (or a batch size above the client's limit).
    pub fn new(pusher: Pusher, config: PublisherConfig) -> Result<Publisher, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config(
                "runtime",
                "a Publisher must be started inside a tokio runtime",
            )
        })?;
        if config.queue_capacity == 0 {
            return Err(Error::config("queue_capacity", "must be at least 1"));
        }
        if config.max_in_flight == 0 {
            return Err(Error::config("max_in_flight", "must be at least 1"));
        }
        let client_max = pusher.max_batch_events();
        let batch = config.max_batch_events.unwrap_or(client_max);
        if batch == 0 || batch > client_max {
            return Err(Error::config(
                "max_batch_events",
                format!("must be 1 to the client's max_batch_events ({client_max})"),
            ));
        }
        let (queue, rx) = mpsc::channel(config.queue_capacity);
        let (control, control_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let retry = config
            .retry
            .clone()
            .unwrap_or_else(|| pusher.retry_policy().clone());
        let sender = Arc::new(Sender {
            pusher: pusher.clone(),
            retry,
            max_pause: config.max_pause,
            counters: counters.clone(),
            paused_until: Mutex::new(None),
            not_processed: Mutex::new(HashSet::new()),
        });
        let worker = Worker {
            rx,
            queue_open: true,
            control: control_rx,
            control_open: true,
            buffer: Buffer::default(),
            buffer_limit: config.max_in_flight.saturating_mul(batch).saturating_mul(4),
            batch,
            max_in_flight: config.max_in_flight,
            in_flight: FuturesUnordered::new(),
            batches: HashMap::new(),
            next_batch: 0,
            next_id: 0,
            unfinished: BTreeSet::new(),
            flushes: Vec::new(),
            sender,
            on_failure: config.on_failure,
            shutdown: None,
            deadline: None,
        };
        let span = tracing::info_span!("pusher.publisher", app_id = %pusher.app_id());
        handle.spawn(worker.run().instrument(span));
        Ok(Publisher {
            pusher,
            queue,
            control,
            counters,
        })
    }

    /// Validates `event` and keeps it with its data as sent (encrypted on an encrypted channel).
    fn accept(&self, event: BatchEvent) -> Result<Queued, PublishError> {
        match self.pusher.prepare_batch_event(&event) {
            Ok(prepared) => {
                let wire_data = (prepared.data != event.data).then_some(prepared.data);
                Ok(Queued { event, wire_data })
            }
            Err(error) => Err(PublishError::Invalid {
                event: Box::new(event),
                error,
            }),
        }
    }

    /// Queues `event`, waiting for room while the queue is full; returns once it is queued (not sent).
    /// Refused, with the event given back, when it is invalid or the publisher is shut down.
    pub async fn publish(&self, event: BatchEvent) -> Result<(), PublishError> {
        let queued = self.accept(event)?;
        match self.queue.reserve().await {
            Ok(permit) => {
                // Counted before the task can see it, so that `sent + failed <= queued` always holds.
                self.counters.queued.fetch_add(1, Ordering::AcqRel);
                permit.send(Item::Event(Box::new(queued)));
                Ok(())
            }
            Err(_) => Err(PublishError::Closed(Box::new(queued.event))),
        }
    }

    /// Queues `event` without waiting: [`PublishError::Full`] gives it back when the queue is full (also
    /// refused when invalid or shut down).
    pub fn try_publish(&self, event: BatchEvent) -> Result<(), PublishError> {
        let queued = self.accept(event)?;
        match self.queue.try_reserve() {
            Ok(permit) => {
                self.counters.queued.fetch_add(1, Ordering::AcqRel);
                permit.send(Item::Event(Box::new(queued)));
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                Err(PublishError::Full(Box::new(queued.event)))
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                Err(PublishError::Closed(Box::new(queued.event)))
            }
        }
    }

    /// Waits until every event queued before this call has been delivered or reported as failed (it waits
    /// for room in the queue first, like [`publish`](Self::publish)). Returns at once once shut down.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Item::Flush(tx)).await.is_err() {
            return;
        }
        // An error means the task ended (a shutdown deadline): nothing is pending any more.
        let _ = rx.await;
    }

    /// Stops accepting events (later `publish` calls get [`PublishError::Closed`]), delivers what is
    /// queued, and returns within `deadline` (plus the time to cancel) with every event not delivered.
    /// Events still queued at the deadline are [`DeliveryError::NotSent`]; those in flight are
    /// [`DeliveryError::Unconfirmed`]. Any handle may call it; a call after the task ended returns an
    /// empty report with the final counters.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let (reply, rx) = oneshot::channel();
        if self.control.send(Shutdown { deadline, reply }).is_err() {
            return self.ended_report();
        }
        rx.await.unwrap_or_else(|_| self.ended_report())
    }

    fn ended_report(&self) -> ShutdownReport {
        let stats = self.stats();
        ShutdownReport {
            undelivered: Vec::new(),
            drained: stats.pending == 0,
            stats,
        }
    }

    /// The counters now.
    pub fn stats(&self) -> PublisherStats {
        self.counters.snapshot()
    }

    /// The client this publisher sends through.
    pub fn pusher(&self) -> &Pusher {
        &self.pusher
    }
}

/// What the request futures share: the client, the policy, and the pause set by a 429.
struct Sender {
    pusher: Pusher,
    retry: RetryPolicy,
    max_pause: Duration,
    counters: Arc<Counters>,
    paused_until: Mutex<Option<Instant>>,
    /// Batches whose last answer proved they were not processed (a 429, a refused connection), until they
    /// are sent again: cut off at a shutdown deadline they are `NotSent`, not `Unconfirmed`.
    not_processed: Mutex<HashSet<u64>>,
}

impl Sender {
    fn paused_until(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Pauses every request until `delay` from now (a later pause already set is kept).
    fn pause_for(&self, delay: Duration) {
        let now = Instant::now();
        let until = now
            .checked_add(delay)
            .or_else(|| now.checked_add(crate::http::MAX_RETRY_AFTER))
            .unwrap_or(now);
        let mut slot = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none_or(|u| u < until) {
            *slot = Some(until);
        }
    }

    /// Waits out the current pause, if any (each pause once, so that a backend's timer is trusted).
    async fn wait_pause(&self) -> Result<(), Error> {
        let mut waited: Option<Instant> = None;
        while let Some(until) = self.paused_until() {
            let now = Instant::now();
            if until <= now || waited == Some(until) {
                break;
            }
            self.pusher.backend().sleep(until - now).await?;
            waited = Some(until);
        }
        Ok(())
    }

    /// Marks batch `id` as known not processed (or not any more).
    fn set_not_processed(&self, id: u64, yes: bool) {
        let mut set = self
            .not_processed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if yes {
            set.insert(id);
        } else {
            set.remove(&id);
        }
    }

    /// Whether batch `id`'s last answer proved it was not processed.
    fn was_not_processed(&self, id: u64) -> bool {
        self.not_processed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id)
    }

    /// Sends batch `id` until it succeeds or fails for good. 429 pauses are bounded per batch: once they add
    /// up to more than `max_pause`, the batch fails with the server's answer (a server that only ever
    /// answers 429 cannot keep a batch, `flush` or a drain going forever).
    async fn deliver(&self, id: u64, body: Bytes) -> Result<(), Error> {
        let mut attempt = 0u32;
        let mut sends = 0u32;
        let mut throttled_for = Duration::ZERO;
        loop {
            // Never a busy loop on an executor thread, whatever the backend's timer does.
            tokio::task::yield_now().await;
            self.wait_pause().await?;
            self.set_not_processed(id, false);
            let request = self.pusher.signed_request(
                Method::Post,
                "/batch_events",
                &[],
                Some(body.clone()),
            )?;
            if sends > 0 {
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
            }
            sends = sends.saturating_add(1);
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let span = tracing::debug_span!(
                "pusher.publisher.request",
                attempt = sends,
                status = tracing::field::Empty
            );
            let result = async {
                match self.pusher.backend().send(request).await {
                    Ok(r) if (200..300).contains(&r.status) => Ok(()),
                    Ok(r) => Err(Error::from_status(r.status, &r.body, r.retry_after)),
                    Err(e) => Err(e),
                }
            }
            .instrument(span.clone())
            .await;
            let error = match result {
                Ok(()) => {
                    span.record("status", 200u16);
                    return Ok(());
                }
                Err(e) => e,
            };
            if let Some(s) = error.status() {
                span.record("status", s);
            }
            if let Error::Status {
                status: 429,
                retry_after: Some(after),
                ..
            } = &error
            {
                // `Retry-After` is in whole seconds: `0` (sockudo says so in its window's last second)
                // means "under a second", not "now". Waiting at least the policy's base delay (and never
                // less than `MIN_PAUSE`) keeps a publisher from answering a rate limiter with a flood.
                let pause = (*after).max(self.retry.base_delay).max(MIN_PAUSE);
                throttled_for = throttled_for.saturating_add(pause);
                if throttled_for <= self.max_pause {
                    self.set_not_processed(id, true);
                    self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        pause_ms = pause.as_millis() as u64,
                        "publisher paused by 429"
                    );
                    self.pause_for(pause);
                    continue;
                }
                tracing::debug!(error = %error, "publisher batch failed: throttled beyond max_pause");
                return Err(error);
            }
            attempt = attempt.saturating_add(1);
            // A server's `Retry-After` (sockudo's 503 for a key whose first request is still being handled
            // says 1 s) is honoured up to `max_pause`, even beyond the policy's `max_delay`.
            let delay = match &error {
                Error::Status {
                    retry_after: Some(after),
                    ..
                } if attempt <= self.retry.max_retries
                    && error.is_transient()
                    && *after <= self.max_pause =>
                {
                    Some((*after).max(self.retry.base_delay))
                }
                _ => self.retry.delay_for(Replay::Keyed, attempt, &error),
            };
            match delay {
                Some(delay) => {
                    self.set_not_processed(id, crate::retry::not_processed(&error));
                    tracing::debug!(error = %error, attempt, delay_ms = delay.as_millis() as u64, "publisher batch retried");
                    if self.pusher.backend().sleep(delay).await.is_err() {
                        return Err(error);
                    }
                }
                None => {
                    tracing::debug!(error = %error, attempt, "publisher batch failed");
                    return Err(error);
                }
            }
        }
    }
}

/// One event in the task's hands, with its position in arrival order.
struct Pending {
    id: u64,
    queued: Box<Queued>,
}

type BatchFuture = Pin<Box<dyn Future<Output = (u64, Result<(), Error>)> + Send>>;
type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What woke the task.
enum Wake {
    Done(u64, Result<(), Error>),
    Shutdown(Shutdown),
    ControlClosed,
    Item(Item),
    QueueClosed,
    Deadline,
}

/// The task: takes events from the queue into `buffer`, forms batches, and tracks them in flight.
struct Worker {
    rx: mpsc::Receiver<Item>,
    queue_open: bool,
    control: mpsc::UnboundedReceiver<Shutdown>,
    control_open: bool,
    /// Events taken from the queue and not yet sent. At most `buffer_limit`.
    buffer: Buffer,
    buffer_limit: usize,
    batch: usize,
    max_in_flight: usize,
    in_flight: FuturesUnordered<BatchFuture>,
    /// The events of each batch in flight.
    batches: HashMap<u64, Vec<Pending>>,
    next_batch: u64,
    next_id: u64,
    /// Ids of the events taken and not yet finished.
    unfinished: BTreeSet<u64>,
    /// Flushes waiting for every id below theirs to finish.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    sender: Arc<Sender>,
    on_failure: Option<FailureCallback>,
    /// Set once shutting down: the waiters and what failed since.
    shutdown: Option<(Vec<oneshot::Sender<ShutdownReport>>, Vec<FailedEvent>)>,
    deadline: Option<Timer>,
}

impl Worker {
    async fn run(mut self) {
        let drained = loop {
            self.take_ready();
            self.dispatch();
            self.resolve_flushes();
            if !self.queue_open && self.buffer.is_empty() && self.in_flight.is_empty() {
                break true;
            }
            let wake = std::future::poll_fn(|cx| self.poll_wake(cx)).await;
            match wake {
                Wake::Done(batch, result) => self.finish_batch(batch, result),
                Wake::Shutdown(s) => self.begin_shutdown(s),
                Wake::ControlClosed => self.control_open = false,
                Wake::Item(item) => self.take(item),
                Wake::QueueClosed => self.queue_open = false,
                Wake::Deadline => {
                    self.cut_off();
                    // A publish holding a permit sends without waiting: `recv` ends once none is left, so
                    // no event accepted into the queue is lost with it.
                    while let Some(item) = self.rx.recv().await {
                        if let Item::Event(queued) = item {
                            self.fail(queued.event, DeliveryError::NotSent);
                        }
                    }
                    break false;
                }
            }
        };
        self.resolve_flushes();
        let stats = self.sender.counters.snapshot();
        tracing::debug!(?stats, drained, "publisher stopped");
        if let Some((waiters, undelivered)) = self.shutdown.take() {
            let report = ShutdownReport {
                undelivered,
                drained,
                stats,
            };
            for w in waiters {
                let _ = w.send(report.clone());
            }
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        // The shutdown request and its deadline first: busy batches cannot starve them.
        if self.control_open {
            if let Poll::Ready(s) = self.control.poll_recv(cx) {
                return Poll::Ready(s.map_or(Wake::ControlClosed, Wake::Shutdown));
            }
        }
        if let Some(timer) = self.deadline.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Deadline);
            }
        }
        if !self.in_flight.is_empty() {
            if let Poll::Ready(Some((batch, result))) = self.in_flight.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Done(batch, result));
            }
        }
        if self.queue_open && self.buffer.len() < self.buffer_limit {
            if let Poll::Ready(item) = self.rx.poll_recv(cx) {
                return Poll::Ready(item.map_or(Wake::QueueClosed, Wake::Item));
            }
        }
        Poll::Pending
    }

    /// Takes what is already queued (up to the buffer's limit), so that events queued together are
    /// batched together.
    fn take_ready(&mut self) {
        while self.queue_open && self.buffer.len() < self.buffer_limit {
            match self.rx.try_recv() {
                Ok(item) => self.take(item),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.queue_open = false,
            }
        }
    }

    fn take(&mut self, item: Item) {
        match item {
            Item::Event(queued) => {
                let id = self.next_id;
                self.next_id += 1;
                self.unfinished.insert(id);
                self.buffer.push(Pending { id, queued });
            }
            Item::Flush(reply) => self.flushes.push((self.next_id, reply)),
        }
    }

    fn resolve_flushes(&mut self) {
        let first = self.unfinished.first().copied().unwrap_or(u64::MAX);
        let mut i = 0;
        while i < self.flushes.len() {
            if self.flushes[i].0 <= first {
                let (_, reply) = self.flushes.swap_remove(i);
                let _ = reply.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Starts batches while fewer than `max_in_flight` are in flight ([`Buffer::take_batch`]).
    fn dispatch(&mut self) {
        while self.in_flight.len() < self.max_in_flight {
            let taken = self.buffer.take_batch(self.batch);
            if taken.is_empty() {
                break;
            }
            self.start(taken);
        }
    }

    fn start(&mut self, events: Vec<Pending>) {
        let id = self.next_batch;
        self.next_batch += 1;
        let body = batch_body(&events);
        let sender = self.sender.clone();
        let count = events.len();
        self.batches.insert(id, events);
        let fut = async move {
            let result = match body {
                Ok(body) => sender.deliver(id, body).await,
                Err(e) => Err(e),
            };
            (id, result)
        }
        .instrument(tracing::debug_span!(
            "pusher.publisher.batch",
            batch = id,
            events = count
        ));
        self.in_flight.push(Box::pin(fut));
    }

    fn finish_batch(&mut self, batch: u64, result: Result<(), Error>) {
        let Some(events) = self.batches.remove(&batch) else {
            return;
        };
        self.buffer.release(&events);
        for p in &events {
            self.unfinished.remove(&p.id);
        }
        let counters = &self.sender.counters;
        match result {
            Ok(()) => {
                counters
                    .sent
                    .fetch_add(events.len() as u64, Ordering::AcqRel);
            }
            Err(e) => {
                let error = DeliveryError::Request(Arc::new(e));
                for p in events {
                    self.fail(p.queued.event, error.clone());
                }
            }
        }
    }

    fn fail(&mut self, event: BatchEvent, error: DeliveryError) {
        self.sender.counters.failed.fetch_add(1, Ordering::AcqRel);
        let failed = FailedEvent { event, error };
        if let Some((_, undelivered)) = self.shutdown.as_mut() {
            undelivered.push(failed.clone());
        }
        match &self.on_failure {
            Some(callback) => {
                // A panicking callback must not end the task (and lose the events still queued).
                let call = std::panic::AssertUnwindSafe(|| callback(failed));
                if std::panic::catch_unwind(call).is_err() {
                    tracing::error!("the publisher's on_failure callback panicked");
                }
            }
            None => tracing::error!(
                channel = %failed.event.channel,
                event = %failed.event.name,
                error = %failed.error,
                "publisher could not deliver an event"
            ),
        }
    }

    fn begin_shutdown(&mut self, s: Shutdown) {
        match self.shutdown.as_mut() {
            Some((waiters, _)) => waiters.push(s.reply),
            None => {
                tracing::debug!(
                    deadline_ms = s.deadline.as_millis() as u64,
                    "publisher shutting down"
                );
                // Later sends fail (the events are given back); what is already queued is still received.
                self.rx.close();
                self.shutdown = Some((vec![s.reply], Vec::new()));
                let deadline = s.deadline;
                self.deadline = Some(Box::pin(async move {
                    // Without a timer the deadline is now: nothing is left waiting forever.
                    let _ = crate::http::default_sleep(deadline).await;
                }));
            }
        }
    }

    /// The deadline passed: fails what is in flight (outcome unknown) and what was never sent.
    fn cut_off(&mut self) {
        self.in_flight = FuturesUnordered::new();
        let mut batches: Vec<(u64, Vec<Pending>)> = self.batches.drain().collect();
        batches.sort_by_key(|(id, _)| *id);
        for (id, events) in batches {
            // A batch waiting after a 429 or a refused connection was provably not processed.
            let outcome = if self.sender.was_not_processed(id) {
                DeliveryError::NotSent
            } else {
                DeliveryError::Unconfirmed
            };
            for p in events {
                self.unfinished.remove(&p.id);
                self.fail(p.queued.event, outcome.clone());
            }
        }
        for p in self.buffer.drain() {
            self.unfinished.remove(&p.id);
            self.fail(p.queued.event, DeliveryError::NotSent);
        }
        while let Ok(item) = self.rx.try_recv() {
            if let Item::Event(queued) = item {
                self.fail(queued.event, DeliveryError::NotSent);
            }
        }
        self.queue_open = false;
    }
}

/// The events taken from the queue and not yet sent: one queue per channel in arrival order, and the
/// channels that may be sent (none of their events in flight) ordered by their oldest event. A batch takes
/// events in arrival order among those channels; a channel in flight waits whole, so none of its events
/// overtakes an earlier one. Each step costs O(log n), however many events wait on a busy channel.
#[derive(Default)]
struct Buffer {
    channels: HashMap<String, VecDeque<Pending>>,
    /// Oldest event id → channel, for channels with events and none in flight.
    ready: BTreeMap<u64, String>,
    /// The channels of the batches in flight (no two batches in flight share one).
    busy: HashSet<String>,
    len: usize,
}

impl Buffer {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, p: Pending) {
        let channel = &p.queued.event.channel;
        let queue = match self.channels.get_mut(channel) {
            Some(q) => q,
            None => self.channels.entry(channel.clone()).or_default(),
        };
        if queue.is_empty() && !self.busy.contains(channel) {
            self.ready.insert(p.id, channel.clone());
        }
        queue.push_back(p);
        self.len += 1;
    }

    /// Up to `max` events, oldest first among the channels not in flight; their channels are in flight
    /// from now on.
    fn take_batch(&mut self, max: usize) -> Vec<Pending> {
        let mut taken: Vec<Pending> = Vec::new();
        while taken.len() < max {
            let Some((_, channel)) = self.ready.pop_first() else {
                break;
            };
            let Some(queue) = self.channels.get_mut(&channel) else {
                continue;
            };
            let Some(p) = queue.pop_front() else {
                self.channels.remove(&channel);
                continue;
            };
            self.len -= 1;
            taken.push(p);
            match queue.front() {
                Some(next) => {
                    self.ready.insert(next.id, channel);
                }
                None => {
                    self.channels.remove(&channel);
                }
            }
        }
        for p in &taken {
            let channel = &p.queued.event.channel;
            if !self.busy.contains(channel) {
                self.busy.insert(channel.clone());
                if let Some(front) = self.channels.get(channel).and_then(VecDeque::front) {
                    self.ready.remove(&front.id);
                }
            }
        }
        taken
    }

    /// A batch is done: its channels may be sent again.
    fn release(&mut self, events: &[Pending]) {
        for p in events {
            let channel = &p.queued.event.channel;
            if self.busy.remove(channel) {
                if let Some(front) = self.channels.get(channel).and_then(VecDeque::front) {
                    self.ready.insert(front.id, channel.clone());
                }
            }
        }
    }

    /// Everything still waiting, oldest first; nothing is in flight afterwards.
    fn drain(&mut self) -> Vec<Pending> {
        let mut all: Vec<Pending> = self.channels.drain().flat_map(|(_, q)| q).collect();
        all.sort_by_key(|p| p.id);
        self.ready.clear();
        self.busy.clear();
        self.len = 0;
        all
    }
}

/// The JSON body of a batch: each event as sent, with its own key or `KEY:INDEX` from a key generated
/// for the batch (reused by every attempt). Written from borrowed fields, byte for byte what serializing
/// each [`BatchEvent`] with its sent data and key gives (`batch_body_matches_the_events_serialized`).
fn batch_body(events: &[Pending]) -> Result<Bytes, Error> {
    let key = generate_key()?;
    let mut wire = Vec::with_capacity(events.len());
    for (index, p) in events.iter().enumerate() {
        let ev = &p.queued.event;
        let idempotency_key = match &ev.idempotency_key {
            Some(own) => Cow::Borrowed(own.as_str()),
            None => Cow::Owned(derive_key(&key, index)?),
        };
        wire.push(WireEvent {
            channel: &ev.channel,
            name: &ev.name,
            data: p.queued.wire_data.as_deref().unwrap_or(&ev.data),
            socket_id: ev.socket_id.as_deref(),
            info: &ev.info,
            idempotency_key,
        });
    }
    Ok(Bytes::from(serde_json::to_vec(&WireBatch {
        batch: &wire,
    })?))
}

/// A batch body of [`WireEvent`]s (the shape of `BatchBody`).
#[derive(Serialize)]
struct WireBatch<'a> {
    batch: &'a [WireEvent<'a>],
}

/// One event of a batch as sent: [`BatchEvent`]'s fields, in its order and with its rules, borrowed.
#[derive(Serialize)]
struct WireEvent<'a> {
    channel: &'a str,
    name: &'a str,
    data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_id: Option<&'a str>,
    #[serde(
        skip_serializing_if = "<[String]>::is_empty",
        serialize_with = "crate::trigger::serialize_info"
    )]
    info: &'a [String],
    idempotency_key: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: u64, channel: &str) -> Pending {
        Pending {
            id,
            queued: Box::new(Queued {
                event: BatchEvent::new(channel, "e", &id.to_string()).unwrap(),
                wire_data: None,
            }),
        }
    }

    #[test]
    fn batch_body_matches_the_events_serialized() {
        // Every optional field on and off, sent data that differs from the event's (encrypted channels),
        // an event's own key and generated ones, and strings that need escaping.
        let mut events = Vec::new();
        for (id, channel) in ["a", "private-encrypted-x", "c\"q", "d"]
            .into_iter()
            .enumerate()
        {
            let mut p = pending(id as u64, channel);
            if id % 2 == 1 {
                p.queued.event.socket_id = Some(format!("{id}.{id}"));
                p.queued.event.info = vec!["subscription_count".into(), "user_count".into()];
            }
            if id == 1 {
                p.queued.wire_data = Some(String::from("{\"nonce\":\"n\",\"ciphertext\":\"c\"}"));
            }
            if id == 2 {
                p.queued.event.idempotency_key = Some(String::from("own-key"));
            }
            events.push(p);
        }
        let text = String::from_utf8(batch_body(&events).unwrap().to_vec()).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        // The generated base key is random: take it from the body, then build what serializing each
        // event with its sent data and key gives.
        let generated = body["batch"][0]["idempotency_key"].as_str().unwrap();
        let base = generated.strip_suffix(":0").unwrap().to_owned();
        let mut expected = Vec::new();
        for (index, p) in events.iter().enumerate() {
            let mut ev = p.queued.event.clone();
            if let Some(data) = &p.queued.wire_data {
                ev.data.clone_from(data);
            }
            if ev.idempotency_key.is_none() {
                ev.idempotency_key = Some(format!("{base}:{index}"));
            }
            expected.push(ev);
        }
        let expected = serde_json::to_vec(&crate::trigger::BatchBody { batch: &expected }).unwrap();
        assert_eq!(text, String::from_utf8(expected).unwrap());
        assert_eq!(body["batch"][2]["idempotency_key"], "own-key");
        assert_eq!(body["batch"][3]["idempotency_key"], format!("{base}:3"));
    }

    fn ids(events: &[Pending]) -> Vec<u64> {
        events.iter().map(|p| p.id).collect()
    }

    #[test]
    fn a_batch_takes_events_in_arrival_order_and_a_busy_channel_waits_whole() {
        let mut b = Buffer::default();
        for (id, c) in [(0, "a"), (1, "b"), (2, "a"), (3, "c"), (4, "b"), (5, "a")] {
            b.push(pending(id, c));
        }
        let first = b.take_batch(2);
        assert_eq!(ids(&first), [0, 1], "oldest first");
        // a and b are in flight: only c may go, and no later a or b overtakes.
        assert_eq!(ids(&b.take_batch(10)), [3]);
        assert!(b.take_batch(10).is_empty());
        assert_eq!(b.len(), 3);
        b.release(&first);
        assert_eq!(
            ids(&b.take_batch(10)),
            [2, 4, 5],
            "in order, a twice in one batch"
        );
        assert!(b.is_empty());
    }

    /// Events piling up on a channel in flight are never looked at until it is released: the ready set
    /// holds one entry per sendable channel, not one per event.
    #[test]
    fn events_waiting_on_a_busy_channel_cost_nothing_per_batch() {
        let mut b = Buffer::default();
        b.push(pending(0, "hot"));
        let hot = b.take_batch(1);
        for id in 1..=100_000 {
            b.push(pending(id, "hot"));
        }
        b.push(pending(100_001, "cold"));
        assert_eq!(b.ready.len(), 1, "only the cold channel is ready");
        assert_eq!(ids(&b.take_batch(10)), [100_001]);
        assert!(b.ready.is_empty());
        b.release(&hot);
        assert_eq!(b.ready.len(), 1);
        assert_eq!(ids(&b.take_batch(3)), [1, 2, 3]);
        assert_eq!(ids(&b.drain())[..2], [4, 5]);
        assert!(b.is_empty() && b.ready.is_empty() && b.busy.is_empty());
    }
}
