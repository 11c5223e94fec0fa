//! The background `Publisher`: coalescing, backpressure, per-channel order under concurrency and failures,
//! retries with one key per batch, pacing on 429, shutdown within a deadline, counters.
//!
//! `Server` below is an `HttpBackend` that behaves like sockudo for `/batch_events`: it publishes each
//! event once per idempotency key, in batch order, and can answer 429 with `Retry-After`, fail after
//! publishing (like a cut response), delay, or hang. Its `sleep` records the delays asked and (optionally)
//! returns at once, so no test depends on wall-clock timing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use pusher::publisher::{DeliveryError, FailedEvent, PublishError};
use pusher::{
    BatchEvent, Error, HttpBackend, HttpRequest, HttpResponse, Publisher, PublisherConfig, Pusher,
    RetryPolicy,
};

/// How the server answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Publish, then answer with this status (200, or a 5xx standing for a lost response).
    Publish(u16),
    /// Refuse without publishing: this status and `Retry-After` (seconds).
    Refuse(u16, Option<u64>),
}

#[derive(Default)]
struct State {
    bodies: Vec<Value>,
    /// Every event published, in order: (channel, data).
    published: Vec<(String, String)>,
    keys: HashSet<String>,
    script: VecDeque<Answer>,
    /// Every Nth request (1-based) publishes then answers 503.
    fail_every: Option<usize>,
    /// Requests are delayed by `(n * 7) % delay_mod` ms (0: no delay).
    delay_mod: u64,
    busy: HashMap<String, usize>,
    /// A channel found in two requests at once.
    overlap: Option<String>,
    in_flight: usize,
    max_in_flight: usize,
    sleeps: Vec<Duration>,
    instant_sleep: bool,
    /// Requests holding this channel never get an answer.
    hang: Option<String>,
}

#[derive(Clone, Default)]
struct Server(Arc<Mutex<State>>);

impl Server {
    fn with(f: impl FnOnce(&mut State)) -> Self {
        let s = Server::default();
        f(&mut s.0.lock().unwrap());
        s
    }
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
    fn published_on(&self, channel: &str) -> Vec<String> {
        self.state()
            .published
            .iter()
            .filter(|(c, _)| c == channel)
            .map(|(_, d)| d.clone())
            .collect()
    }
}

#[async_trait]
impl HttpBackend for Server {
    async fn send(&self, request: HttpRequest) -> pusher::Result<HttpResponse> {
        assert!(request.url.contains("/batch_events?"), "{}", request.url);
        let body: Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
        let events = body["batch"].as_array().unwrap().clone();
        let channels: HashSet<String> = events
            .iter()
            .map(|e| e["channel"].as_str().unwrap().to_owned())
            .collect();
        let (answer, delay, hang) = {
            let mut s = self.state();
            s.bodies.push(body.clone());
            let n = s.bodies.len();
            for c in &channels {
                let count = s.busy.entry(c.clone()).or_default();
                *count += 1;
                if *count > 1 {
                    s.overlap = Some(c.clone());
                }
            }
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            let answer = match s.script.pop_front() {
                Some(a) => a,
                None if s.fail_every.is_some_and(|k| n % k == 0) => Answer::Publish(503),
                None => Answer::Publish(200),
            };
            if let Answer::Publish(_) = answer {
                for e in &events {
                    let key = e["idempotency_key"].as_str().expect("every event is keyed");
                    if s.keys.insert(key.to_owned()) {
                        let c = e["channel"].as_str().unwrap().to_owned();
                        let d = e["data"].as_str().unwrap().to_owned();
                        s.published.push((c, d));
                    }
                }
            }
            let delay = if s.delay_mod == 0 {
                0
            } else {
                (n as u64 * 7) % s.delay_mod
            };
            let hang = s.hang.as_ref().is_some_and(|h| channels.contains(h));
            (answer, delay, hang)
        };
        if hang {
            std::future::pending::<()>().await;
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let mut s = self.state();
        for c in &channels {
            if let Some(count) = s.busy.get_mut(c) {
                *count -= 1;
            }
        }
        s.in_flight -= 1;
        let (status, retry_after) = match answer {
            Answer::Publish(status) => (status, None),
            Answer::Refuse(status, after) => (status, after.map(Duration::from_secs)),
        };
        Ok(HttpResponse::new(status, Bytes::from_static(b"{}")).retry_after(retry_after))
    }

    async fn sleep(&self, delay: Duration) -> pusher::Result<()> {
        let instant = {
            let mut s = self.state();
            s.sleeps.push(delay);
            s.instant_sleep
        };
        if !instant {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }
}

fn client(server: &Server) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .retry(
            RetryPolicy::default()
                .max_retries(5)
                .delays(Duration::from_millis(1), Duration::from_millis(4)),
        )
        .build()
        .unwrap()
}

fn event(channel: &str, seq: usize) -> BatchEvent {
    BatchEvent::new(channel, "tick", &seq.to_string()).unwrap()
}

/// Collects failures reported to the callback.
fn collector() -> (Arc<Mutex<Vec<FailedEvent>>>, PublisherConfig) {
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = failures.clone();
    let config = PublisherConfig::new().on_failure(move |f| sink.lock().unwrap().push(f));
    (failures, config)
}

#[tokio::test]
async fn events_queued_together_are_coalesced_into_full_batches() {
    let server = Server::default();
    let publisher = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    // `try_publish` does not yield: on this single-threaded runtime all 95 are queued before the task runs.
    for i in 0..95 {
        publisher
            .try_publish(event(&format!("c-{}", i % 3), i))
            .unwrap();
    }
    publisher.flush().await;
    let sizes: Vec<usize> = server
        .state()
        .bodies
        .iter()
        .map(|b| b["batch"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 10, "ceil(95 / 10) requests: {sizes:?}");
    assert_eq!(sizes.iter().filter(|&&n| n == 10).count(), 9, "{sizes:?}");
    let stats = publisher.stats();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.pending),
        (95, 95, 0, 0)
    );
    assert_eq!(stats.requests, 10);
}

#[tokio::test]
async fn the_batch_size_follows_the_config_and_the_client_limit() {
    let server = Server::default();
    let p = Publisher::new(client(&server), PublisherConfig::new().max_batch_events(4)).unwrap();
    for i in 0..9 {
        p.try_publish(event("a", i)).unwrap();
    }
    p.flush().await;
    assert_eq!(server.state().bodies.len(), 3, "4 + 4 + 1");
    let too_big = Publisher::new(client(&server), PublisherConfig::new().max_batch_events(11));
    assert!(
        matches!(
            too_big,
            Err(Error::Config {
                field: "max_batch_events",
                ..
            })
        ),
        "{too_big:?}"
    );
}

#[tokio::test]
async fn try_publish_gives_the_event_back_when_the_queue_is_full() {
    let server = Server::default();
    let p = Publisher::new(client(&server), PublisherConfig::new().queue_capacity(2)).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.try_publish(event("a", 1)).unwrap();
    match p.try_publish(event("a", 2)) {
        Err(PublishError::Full(e)) => assert_eq!(*e, event("a", 2)),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(p.stats().queued, 2, "the refused event is not counted");
    // `publish` waits for room instead: 50 events through a queue of 2, none lost.
    for i in 2..52 {
        p.publish(event("a", i)).await.unwrap();
    }
    p.flush().await;
    let expected: Vec<String> = (0..52).map(|i| i.to_string()).collect();
    assert_eq!(server.published_on("a"), expected);
}

#[tokio::test]
async fn invalid_events_are_refused_at_publish_with_the_event() {
    let server = Server::default();
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    let bad = BatchEvent::new("bad channel", "e", "x").unwrap();
    match p.publish(bad.clone()).await {
        Err(PublishError::Invalid { event, error }) => {
            assert_eq!(*event, bad);
            assert!(
                matches!(
                    error,
                    Error::Validation {
                        field: "channel",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let big = BatchEvent::new("a", "e", &"x".repeat(10_241)).unwrap();
    assert!(matches!(
        p.try_publish(big),
        Err(PublishError::Invalid { .. })
    ));
    p.flush().await;
    assert_eq!(p.stats().queued, 0);
    assert!(server.state().bodies.is_empty());
}

/// 4 channels × 100 events, 4 requests in flight with varied latencies, every 4th request processed and
/// its response lost (a 503): each channel receives 0..100 exactly once, in order, and no channel is ever
/// in two requests at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_channel_order_holds_under_concurrency_and_failures() {
    let server = Server::with(|s| {
        s.fail_every = Some(4);
        s.delay_mod = 5;
    });
    let p = Publisher::new(
        client(&server),
        PublisherConfig::new().queue_capacity(16).max_in_flight(4),
    )
    .unwrap();
    let channels = ["a", "b", "c", "d"];
    // Publishers on separate tasks, one per channel, interleaving freely.
    let mut tasks = Vec::new();
    for c in channels {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                p.publish(event(c, i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    p.flush().await;
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    for c in channels {
        assert_eq!(server.published_on(c), expected, "channel {c}");
    }
    let s = server.state();
    assert_eq!(s.overlap, None, "a channel was in two requests at once");
    assert!(
        s.max_in_flight > 1,
        "requests overlapped: {}",
        s.max_in_flight
    );
    let stats = p.stats();
    assert_eq!((stats.queued, stats.sent, stats.failed), (400, 400, 0));
    assert!(stats.retried > 0 && stats.requests == s.bodies.len() as u64);
}

/// One hot channel among others: while its batch is retried, its later events wait; the other channels
/// go on.
#[tokio::test]
async fn a_retried_batch_is_not_overtaken_by_later_events_of_its_channel() {
    let server = Server::with(|s| {
        s.script = VecDeque::from([Answer::Refuse(503, None), Answer::Refuse(503, None)]);
    });
    let p = Publisher::new(client(&server), PublisherConfig::new().max_batch_events(2)).unwrap();
    for i in 0..6 {
        p.try_publish(event("hot", i)).unwrap();
        p.try_publish(event(&format!("cold-{i}"), i)).unwrap();
    }
    p.flush().await;
    let expected: Vec<String> = (0..6).map(|i| i.to_string()).collect();
    assert_eq!(server.published_on("hot"), expected);
    assert_eq!(server.state().overlap, None);
    assert_eq!(p.stats().sent, 12);
}

#[tokio::test]
async fn a_retry_sends_the_same_batch_key() {
    let server = Server::with(|s| s.script = VecDeque::from([Answer::Publish(500)]));
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.try_publish(event("a", 1).idempotency_key("mine"))
        .unwrap();
    p.flush().await;
    let bodies = server.state().bodies.clone();
    assert_eq!(bodies.len(), 2, "one retry");
    let keys = |b: &Value| -> Vec<String> {
        b["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["idempotency_key"].as_str().unwrap().to_owned())
            .collect()
    };
    let (first, second) = (keys(&bodies[0]), keys(&bodies[1]));
    assert_eq!(first, second, "the retry carries the same keys");
    let (base, index) = first[0].rsplit_once(':').unwrap();
    assert_eq!(
        (base.len(), index),
        (32, "0"),
        "KEY:INDEX from a generated key"
    );
    assert_eq!(first[1], "mine", "an event's own key is kept");
    assert_eq!(server.state().published.len(), 2, "published once");
    assert_eq!(p.stats().retried, 1);
    // The next batch gets a new key.
    p.try_publish(event("a", 2)).unwrap();
    p.flush().await;
    let third = keys(&server.state().bodies[2]);
    assert_ne!(third[0].split(':').next(), Some(base));
}

/// `Retry-After: 0` (whole seconds: "under a second") pauses at least the policy's base delay.
#[tokio::test]
async fn a_429_with_retry_after_zero_still_pauses_the_base_delay() {
    // sockudo answers `Retry-After: 0` in the last second of its window: not an invitation to resend at once.
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = VecDeque::from([Answer::Refuse(429, Some(0)), Answer::Refuse(429, Some(0))]);
    });
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .build()
        .unwrap();
    let policy = RetryPolicy::none().delays(Duration::from_millis(200), Duration::from_secs(5));
    let p = Publisher::new(pusher, PublisherConfig::new().retry(policy)).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.flush().await;
    assert_eq!((p.stats().sent, p.stats().throttled), (1, 2));
    let sleeps = server.state().sleeps.clone();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(
        sleeps
            .iter()
            .all(|d| *d > Duration::from_millis(100) && *d <= Duration::from_millis(200)),
        "{sleeps:?}"
    );
}

/// A 429 with `Retry-After` pauses sending for that long and is sent again with the same key, without
/// failing the events, even with retries off; a `Retry-After` beyond `max_pause` fails the batch.
#[tokio::test]
async fn a_429_with_retry_after_pauses_sending_and_fails_nothing() {
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = VecDeque::from([Answer::Refuse(429, Some(2)), Answer::Refuse(429, Some(3))]);
    });
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .build()
        .unwrap();
    let p = Publisher::new(pusher, PublisherConfig::new().retry(RetryPolicy::none())).unwrap();
    for i in 0..25 {
        p.try_publish(event(&format!("c-{}", i % 5), i)).unwrap();
    }
    p.flush().await;
    let stats = p.stats();
    assert_eq!((stats.sent, stats.failed, stats.throttled), (25, 0, 2));
    let sleeps = server.state().sleeps.clone();
    // Pauses of about 2 s and 3 s (less what elapsed before the wait started), nothing else.
    assert!(
        sleeps
            .iter()
            .any(|d| *d > Duration::from_millis(1500) && *d <= Duration::from_secs(2)),
        "{sleeps:?}"
    );
    assert!(
        sleeps
            .iter()
            .any(|d| *d > Duration::from_millis(2500) && *d <= Duration::from_secs(3)),
        "{sleeps:?}"
    );
    assert_eq!(server.state().published.len(), 25);

    // Longer than max_pause: the batch fails with the server's answer.
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = VecDeque::from([Answer::Refuse(429, Some(120))]);
    });
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .build()
        .unwrap();
    let (failures, config) = collector();
    let p = Publisher::new(pusher, config.max_pause(Duration::from_secs(60))).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.flush().await;
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    match &failures[0].error {
        DeliveryError::Request(e) => assert_eq!(e.status(), Some(429)),
        other => panic!("{other:?}"),
    }
    assert!(server.state().sleeps.is_empty(), "not asked to wait 120 s");
}

/// Every request after the first 429 waits for the pause, also those of other batches in flight.
#[tokio::test]
async fn a_pause_holds_every_request() {
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = VecDeque::from([Answer::Refuse(429, Some(5))]);
    });
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .build()
        .unwrap();
    let p = Publisher::new(pusher, PublisherConfig::new().max_in_flight(1)).unwrap();
    for i in 0..30 {
        p.try_publish(event(&format!("c-{i}"), i)).unwrap();
    }
    p.flush().await;
    let s = server.state();
    // 1 refused + 3 batches; the refused batch and each later one waited for the same pause (this
    // backend's timer returns at once, so the pause is still running for each).
    assert_eq!(s.bodies.len(), 4);
    assert_eq!(s.sleeps.len(), 3, "{:?}", s.sleeps);
    assert!(
        s.sleeps
            .iter()
            .all(|d| *d > Duration::from_secs(4) && *d <= Duration::from_secs(5)),
        "{:?}",
        s.sleeps
    );
    assert_eq!(s.published.len(), 30);
}

#[tokio::test]
async fn failed_batches_report_each_event_with_its_error_and_counters_add_up() {
    let server = Server::with(|s| {
        s.script = VecDeque::from([Answer::Refuse(400, None), Answer::Refuse(503, None)]);
    });
    let (failures, config) = collector();
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let p = Publisher::new(pusher, config.max_batch_events(5)).unwrap();
    for i in 0..17 {
        p.try_publish(event("a", i)).unwrap();
    }
    let mid = p.stats();
    assert_eq!(mid.queued, mid.sent + mid.failed + mid.pending);
    assert_eq!(mid.pending, 17);
    p.flush().await;
    let failures = failures.lock().unwrap();
    let failed: Vec<String> = failures.iter().map(|f| f.event.data.clone()).collect();
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(failed, expected, "the first two batches, in order");
    let statuses: Vec<Option<u16>> = failures
        .iter()
        .map(|f| match &f.error {
            DeliveryError::Request(e) => e.status(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(&statuses[..5], &[Some(400); 5]);
    assert_eq!(&statuses[5..], &[Some(503); 5]);
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.pending),
        (17, 7, 10, 0)
    );
    assert_eq!(stats.queued, stats.sent + stats.failed + stats.pending);
    assert_eq!(
        server.published_on("a").len(),
        7,
        "sent = what the server published"
    );
}

/// A request that never answers: `shutdown` returns at its deadline with the event in flight
/// (`Unconfirmed`) and the events queued behind it on that channel (`NotSent`); the other channel's events
/// were delivered, and later publishes are refused with the event.
#[tokio::test]
async fn shutdown_reports_undelivered_events_within_the_deadline() {
    let server = Server::with(|s| s.hang = Some("stuck".into()));
    let (failures, config) = collector();
    let p = Publisher::new(client(&server), config.max_batch_events(1)).unwrap();
    for i in 0..3 {
        p.try_publish(event("stuck", i)).unwrap();
        p.try_publish(event("fine", i)).unwrap();
    }
    let report = p.shutdown(Duration::from_millis(300)).await;
    assert!(!report.drained);
    let mut got: Vec<(String, String, &'static str)> = report
        .undelivered
        .iter()
        .map(|f| {
            let kind = match f.error {
                DeliveryError::Unconfirmed => "unconfirmed",
                DeliveryError::NotSent => "not sent",
                _ => "other",
            };
            (f.event.channel.clone(), f.event.data.clone(), kind)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("stuck".into(), "0".into(), "unconfirmed"),
            ("stuck".into(), "1".into(), "not sent"),
            ("stuck".into(), "2".into(), "not sent"),
        ]
    );
    assert_eq!(
        failures.lock().unwrap().len(),
        3,
        "the callback saw them too"
    );
    assert_eq!(server.published_on("fine"), ["0", "1", "2"]);
    let s = report.stats;
    assert_eq!((s.queued, s.sent, s.failed, s.pending), (6, 3, 3, 0));
    match p.publish(event("fine", 3)).await {
        Err(PublishError::Closed(e)) => assert_eq!(*e, event("fine", 3)),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        p.try_publish(event("fine", 3)),
        Err(PublishError::Closed(_))
    ));
    // A second shutdown, after the task ended, has nothing more to report.
    let again = p.shutdown(Duration::from_millis(10)).await;
    assert!(again.undelivered.is_empty());
    p.flush().await;
}

#[tokio::test]
async fn shutdown_drains_everything_queued_before_the_deadline() {
    let server = Server::with(|s| s.delay_mod = 3);
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    for i in 0..200 {
        p.try_publish(event(&format!("c-{}", i % 7), i)).unwrap();
    }
    let report = p.shutdown(Duration::from_secs(30)).await;
    assert!(
        report.drained && report.undelivered.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.stats.sent, 200);
    assert_eq!(server.state().published.len(), 200);
}

#[tokio::test]
async fn encrypted_events_are_encrypted_once_and_reported_as_published() {
    let server = Server::with(|s| {
        s.script = VecDeque::from([Answer::Publish(500), Answer::Refuse(400, None)])
    });
    let (failures, config) = collector();
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(server.clone())
        .encryption_master_key(*b"this is a test master key 32 byt")
        .retry(
            RetryPolicy::default()
                .max_retries(1)
                .delays(Duration::from_millis(1), Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let p = Publisher::new(pusher, config).unwrap();
    let ev = BatchEvent::new("private-encrypted-x", "e", "secret data").unwrap();
    p.try_publish(ev.clone()).unwrap();
    p.flush().await;
    let s = server.state();
    assert_eq!(s.bodies.len(), 2);
    assert_eq!(
        s.bodies[0], s.bodies[1],
        "the retry resends the same ciphertext"
    );
    assert!(!s.bodies[0].to_string().contains("secret data"));
    let failures = failures.lock().unwrap();
    assert_eq!(
        failures[0].event, ev,
        "reported as published, not encrypted"
    );
}

#[test]
fn a_publisher_needs_a_runtime_and_a_sane_config() {
    let pusher = Pusher::builder("1", "key", "secret").build().unwrap();
    let r = Publisher::new(pusher.clone(), PublisherConfig::new());
    assert!(
        matches!(
            r,
            Err(Error::Config {
                field: "runtime",
                ..
            })
        ),
        "{r:?}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (config, field) in [
            (PublisherConfig::new().queue_capacity(0), "queue_capacity"),
            (PublisherConfig::new().max_in_flight(0), "max_in_flight"),
            (
                PublisherConfig::new().max_batch_events(0),
                "max_batch_events",
            ),
        ] {
            let r = pusher.publisher(config);
            assert!(
                matches!(r, Err(Error::Config { field: f, .. }) if f == field),
                "{r:?}"
            );
        }
    });
}

#[test]
fn a_publisher_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Publisher>();
    fn send<T: Send>(_: &T) {}
    let server = Server::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
        send(&p.publish(event("a", 0)));
        send(&p.flush());
        send(&p.shutdown(Duration::from_secs(1)));
    });
}

/// A transient error's `Retry-After` (sockudo's 503 "still in progress", 1 s) is waited for even when it
/// is longer than the policy's `max_delay` (4 ms here), using up one retry.
#[tokio::test]
async fn a_503_retry_after_longer_than_max_delay_is_waited_for() {
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = VecDeque::from([Answer::Refuse(503, Some(1))]);
    });
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.flush().await;
    assert_eq!(server.state().sleeps, [Duration::from_secs(1)]);
    let stats = p.stats();
    assert_eq!((stats.sent, stats.retried, stats.throttled), (1, 1, 0));
}

/// A callback that panics does not stop the task: later events are still delivered and reported.
#[tokio::test]
async fn a_panicking_failure_callback_does_not_stop_the_publisher() {
    let server = Server::with(|s| s.script = VecDeque::from([Answer::Refuse(400, None)]));
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let config = PublisherConfig::new()
        .max_batch_events(1)
        .on_failure(move |_| {
            *seen.lock().unwrap() += 1;
            panic!("callback bug");
        });
    let p = Publisher::new(client(&server), config).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    p.try_publish(event("a", 1)).unwrap();
    let report = p.shutdown(Duration::from_secs(10)).await;
    assert!(report.drained);
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(server.published_on("a"), ["1"]);
    let s = report.stats;
    assert_eq!((s.queued, s.sent, s.failed), (2, 1, 1));
}

/// Dropping every handle without `shutdown` closes the queue; the task still delivers what was queued.
#[tokio::test]
async fn dropping_every_handle_still_delivers_what_was_queued() {
    let server = Server::default();
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    let clone = p.clone();
    for i in 0..30 {
        p.try_publish(event("a", i)).unwrap();
    }
    drop(p);
    drop(clone);
    // The task runs on this single-threaded runtime whenever the test yields.
    for _ in 0..10_000 {
        if server.state().published.len() == 30 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let expected: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    assert_eq!(server.published_on("a"), expected);
}

/// A server that only ever answers 429 cannot keep a batch (and `flush`, and a drain) going forever: each
/// pause lasts at least 100 ms even with `Retry-After: 0` and a zero base delay, and once a batch's pauses
/// add up to more than `max_pause` it fails with the server's answer. (It spun for ever, 40k requests/s.)
#[tokio::test]
async fn an_endless_429_fails_the_batch_after_max_pause() {
    let server = Server::with(|s| {
        s.instant_sleep = true;
        s.script = (0..10_000).map(|_| Answer::Refuse(429, Some(0))).collect();
    });
    let (failures, config) = collector();
    let config = config
        .retry(RetryPolicy::none().delays(Duration::ZERO, Duration::from_secs(5)))
        .max_pause(Duration::from_secs(1));
    let p = Publisher::new(client(&server), config).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    tokio::time::timeout(Duration::from_secs(10), p.flush())
        .await
        .expect("flush ends");
    let requests = server.state().bodies.len();
    assert!((2..=11).contains(&requests), "{requests} requests");
    let f = failures.lock().unwrap();
    assert_eq!(f.len(), 1);
    assert!(
        matches!(&f[0].error, DeliveryError::Request(e) if e.status() == Some(429)),
        "{:?}",
        f[0].error
    );
}

/// A batch waiting out a 429 when the shutdown deadline passes was refused before it was handled: it is
/// reported `NotSent` (safe to send again), not `Unconfirmed`.
#[tokio::test]
async fn a_batch_paused_by_a_429_at_the_deadline_is_reported_not_sent() {
    let server = Server::with(|s| s.script = VecDeque::from([Answer::Refuse(429, Some(30))]));
    let p = Publisher::new(client(&server), PublisherConfig::new()).unwrap();
    p.try_publish(event("a", 0)).unwrap();
    while p.stats().throttled == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = tokio::time::timeout(
        Duration::from_secs(5),
        p.shutdown(Duration::from_millis(200)),
    )
    .await
    .expect("shutdown returns within its deadline");
    assert_eq!(report.undelivered.len(), 1);
    assert!(
        matches!(report.undelivered[0].error, DeliveryError::NotSent),
        "{:?}",
        report.undelivered[0].error
    );
}
