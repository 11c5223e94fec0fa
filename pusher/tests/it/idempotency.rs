//! Idempotent publishing: which failures a POST is retried after (the table in `pusher::retry`), keys
//! generated once per call and reused on every attempt, caller keys on triggers, batches and fan-outs,
//! and the typed error for a bad key.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use pusher::retry::{CONNECT_FAILED, Replay, not_processed};
use pusher::trigger::BatchOptions;
use pusher::{
    BatchEvent, Error, HttpBackend, HttpRequest, HttpResponse, Method, Pusher, RetryPolicy,
    TriggerOptions,
};

/// What the scripted backend does with one attempt.
#[derive(Clone, Debug)]
enum Fault {
    Ok,
    /// The connection could not be opened: nothing was sent.
    Refused,
    /// Sent, then the connection was reset before the response.
    Reset,
    Timeout,
    Status(u16, Option<u64>),
}

/// A backend answering attempt N with `script[N]` (then 200), recording each request body and the
/// waits it is asked for. It never touches tokio.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Fault>>>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl Scripted {
    fn new(script: &[Fault]) -> Self {
        let s = Scripted::default();
        s.script.lock().unwrap().extend(script.iter().cloned());
        s
    }
    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
    fn attempts(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

#[async_trait]
impl HttpBackend for Scripted {
    async fn send(&self, request: HttpRequest) -> pusher::Result<HttpResponse> {
        let body = request
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(serde_json::Value::Null);
        self.bodies.lock().unwrap().push(body);
        let fault = self.script.lock().unwrap().pop_front().unwrap_or(Fault::Ok);
        let answer = |status: u16, retry_after: Option<u64>| {
            HttpResponse::new(status, Bytes::from_static(b"{}"))
                .retry_after(retry_after.map(Duration::from_secs))
        };
        match fault {
            Fault::Ok => Ok(answer(200, None)),
            Fault::Refused => Err(Error::transport(
                CONNECT_FAILED,
                Some(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()),
            )),
            Fault::Reset => Err(Error::transport(
                "request failed",
                Some(std::io::Error::other("connection closed before message completed").into()),
            )),
            Fault::Timeout => Err(Error::Timeout(Duration::from_secs(5))),
            Fault::Status(status, retry_after) => Ok(answer(status, retry_after)),
        }
    }

    async fn sleep(&self, delay: Duration) -> pusher::Result<()> {
        self.sleeps.lock().unwrap().push(delay);
        Ok(())
    }
}

fn client(backend: &Scripted, policy: RetryPolicy) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(backend.clone())
        .retry(policy)
        .build()
        .unwrap()
}

/// How many attempts a trigger makes after `fault` (then success), under `policy` and `options`.
fn attempts_after(fault: Fault, policy: RetryPolicy, options: &TriggerOptions) -> usize {
    let backend = Scripted::new(&[fault]);
    let p = client(&backend, policy);
    let _ = futures_executor::block_on(p.trigger_with("a", "e", "x", options));
    backend.attempts()
}

/// The table of `pusher::retry`, row by row and column by column.
#[test]
fn posts_are_retried_exactly_when_the_rule_table_says() {
    let keyed = TriggerOptions::new().idempotency_key("k-1");
    let plain = TriggerOptions::new();
    let default = RetryPolicy::default;
    let posts = || RetryPolicy::default().retry_posts(true);
    let posts_no_keys = || {
        RetryPolicy::default()
            .retry_posts(true)
            .idempotency_keys(false)
    };
    // (fault, default+no key, default+key, retry_posts (generated key), retry_posts without keys)
    let rows = [
        (Fault::Refused, 2, 2, 2, 2),
        (Fault::Status(429, Some(1)), 2, 2, 2, 2),
        (Fault::Status(429, None), 1, 2, 2, 2),
        (Fault::Timeout, 1, 2, 2, 2),
        (Fault::Reset, 1, 2, 2, 2),
        (Fault::Status(500, None), 1, 2, 2, 2),
        (Fault::Status(503, Some(1)), 1, 2, 2, 2),
        (Fault::Status(400, None), 1, 1, 1, 1),
        (Fault::Status(413, None), 1, 1, 1, 1),
    ];
    for (fault, plain_n, keyed_n, posts_n, no_keys_n) in rows {
        let what = format!("{fault:?}");
        assert_eq!(
            attempts_after(fault.clone(), default(), &plain),
            plain_n,
            "{what}: default, no key"
        );
        assert_eq!(
            attempts_after(fault.clone(), default(), &keyed),
            keyed_n,
            "{what}: default, key"
        );
        assert_eq!(
            attempts_after(fault.clone(), posts(), &plain),
            posts_n,
            "{what}: retry_posts"
        );
        assert_eq!(
            attempts_after(fault.clone(), posts_no_keys(), &plain),
            no_keys_n,
            "{what}: retry_posts without keys"
        );
        // GETs follow the "retried" column for every transient failure.
        let backend = Scripted::new(std::slice::from_ref(&fault));
        let _ = futures_executor::block_on(client(&backend, default()).channel_info("a", &[]));
        assert_eq!(backend.attempts(), keyed_n, "{what}: GET");
    }
    // The pure rule agrees.
    let p = RetryPolicy::default();
    let reset = Error::transport("request failed", None);
    assert!(p.delay_for(Replay::Unkeyed, 1, &reset).is_none());
    assert!(p.delay_for(Replay::Keyed, 1, &reset).is_some());
    assert!(
        p.delay(Method::Post, 1, &Error::transport(CONNECT_FAILED, None))
            .is_some()
    );
    assert!(
        RetryPolicy::none()
            .delay_for(Replay::Keyed, 1, &reset)
            .is_none()
    );
    // A refused certificate would be refused again: never retried.
    let cert = Error::transport(
        CONNECT_FAILED,
        Some(std::io::Error::other("invalid peer certificate: UnknownIssuer").into()),
    );
    assert!(p.delay_for(Replay::Safe, 1, &cert).is_none());
    assert!(p.delay_for(Replay::Keyed, 1, &cert).is_none());
}

#[test]
fn a_generated_key_is_made_once_per_call_and_sent_on_every_attempt() {
    let backend = Scripted::new(&[Fault::Reset, Fault::Timeout, Fault::Ok, Fault::Reset]);
    let p = client(
        &backend,
        RetryPolicy::default().retry_posts(true).max_retries(3),
    );
    futures_executor::block_on(p.trigger("a", "e", "x")).unwrap();
    futures_executor::block_on(p.trigger("a", "e", "x")).unwrap();
    let keys: Vec<String> = backend
        .bodies()
        .iter()
        .map(|b| b["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 5, "3 attempts, then 2");
    assert!(keys[..3].iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(keys[3], keys[4]);
    assert_ne!(keys[0], keys[3], "a new call, a new key");
    for k in &keys {
        assert!(
            k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()),
            "{k}"
        );
    }
    // Without retries, or with keys turned off, no key is sent.
    for policy in [
        RetryPolicy::default(),
        RetryPolicy::default()
            .retry_posts(true)
            .idempotency_keys(false),
        RetryPolicy::none().retry_posts(true),
    ] {
        let backend = Scripted::new(&[]);
        futures_executor::block_on(client(&backend, policy.clone()).trigger("a", "e", "x"))
            .unwrap();
        assert!(
            backend.bodies()[0].get("idempotency_key").is_none(),
            "{policy:?}"
        );
    }
}

#[test]
fn a_caller_key_is_sent_as_given_and_survives_retries() {
    let backend = Scripted::new(&[Fault::Status(502, None)]);
    let p = client(&backend, RetryPolicy::default());
    let opts = TriggerOptions::new().idempotency_key("order-42:created");
    futures_executor::block_on(p.trigger_with(&["a", "b"], "e", "x", &opts)).unwrap();
    let bodies = backend.bodies();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        assert_eq!(b["idempotency_key"], "order-42:created");
    }
    // The sans-IO request carries it too, inside the signed body.
    let req = p.trigger_request("a", "e", "x", &opts).unwrap();
    let body: serde_json::Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
    assert_eq!(body["idempotency_key"], "order-42:created");
}

#[test]
fn bad_keys_are_a_typed_error_and_nothing_is_sent() {
    let backend = Scripted::new(&[]);
    let p = client(&backend, RetryPolicy::default());
    for bad in [String::new(), "a b".into(), "ü".into(), "k".repeat(129)] {
        let e = futures_executor::block_on(p.trigger_with(
            "a",
            "e",
            "x",
            &TriggerOptions::new().idempotency_key(bad.clone()),
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Validation {
                    field: "idempotency_key",
                    ..
                }
            ),
            "{bad:?}: {e:?}"
        );
        let batch = [BatchEvent::new("a", "e", "x")
            .unwrap()
            .idempotency_key(bad.clone())];
        let e = futures_executor::block_on(p.trigger_batch(&batch)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Validation {
                    field: "idempotency_key",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = futures_executor::block_on(p.trigger_batch_with(
            &[BatchEvent::new("a", "e", "x").unwrap()],
            &BatchOptions::new().idempotency_key(bad.clone()),
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Validation {
                    field: "idempotency_key",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    // A batch key too long to take the `:INDEX` suffix.
    let e = futures_executor::block_on(p.trigger_batch_with(
        &[BatchEvent::new("a", "e", "x").unwrap()],
        &BatchOptions::new().idempotency_key("k".repeat(127)),
    ))
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Validation {
                field: "idempotency_key",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(backend.attempts(), 0);
}

#[test]
fn a_batch_key_becomes_a_key_per_event_and_events_keep_their_own() {
    let backend = Scripted::new(&[Fault::Timeout]);
    let p = client(&backend, RetryPolicy::default());
    let batch = [
        BatchEvent::new("a", "e", "1").unwrap(),
        BatchEvent::new("b", "e", "2")
            .unwrap()
            .idempotency_key("own"),
        BatchEvent::new("c", "e", "3").unwrap(),
    ];
    futures_executor::block_on(
        p.trigger_batch_with(&batch, &BatchOptions::new().idempotency_key("nightly")),
    )
    .unwrap();
    let bodies = backend.bodies();
    assert_eq!(bodies.len(), 2, "keyed: retried after a timeout");
    assert_eq!(bodies[0], bodies[1], "the same bytes on every attempt");
    let keys: Vec<&str> = bodies[0]["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["nightly:0", "own", "nightly:2"]);

    // A batch where only some events have keys is not safe to repeat: not retried after a timeout.
    let backend = Scripted::new(&[Fault::Timeout]);
    let p = client(&backend, RetryPolicy::default());
    let _ = futures_executor::block_on(p.trigger_batch(&batch));
    assert_eq!(backend.attempts(), 1);

    // With POST retries on, a batch gets a generated key per call, one per event.
    let backend = Scripted::new(&[Fault::Reset]);
    let p = client(&backend, RetryPolicy::default().retry_posts(true));
    futures_executor::block_on(p.trigger_batch(&batch[..1])).unwrap();
    let bodies = backend.bodies();
    assert_eq!(bodies.len(), 2);
    let k = bodies[0]["batch"][0]["idempotency_key"].as_str().unwrap();
    assert!(k.len() == 34 && k.ends_with(":0"), "{k}");
    assert_eq!(bodies[0], bodies[1]);
}

#[test]
fn fanout_chunks_get_one_key_each() {
    let backend = Scripted::new(&[Fault::Reset]);
    let p = client(&backend, RetryPolicy::default());
    let channels: Vec<String> = (0..150).map(|i| format!("c-{i}")).collect();
    let opts = TriggerOptions::new().idempotency_key("fan");
    let r = futures_executor::block_on(p.trigger_fanout(&channels, "e", "x", &opts, 1)).unwrap();
    assert!(r.is_complete());
    let mut keys: Vec<String> = backend
        .bodies()
        .iter()
        .map(|b| b["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3, "the first chunk retried once");
    keys.dedup();
    assert_eq!(keys, ["fan:0", "fan:1"]);
}

/// A server that reads each request whole and then closes the connection without answering, for the
/// first `cuts` requests (the request was processed, the response lost), then answers 200.
async fn cutting_server(cuts: usize) -> (u16, Arc<AtomicUsize>, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (seen2, bodies2) = (seen.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (seen, bodies) = (seen2.clone(), bodies2.clone());
            tokio::spawn(async move {
                let mut conn = BufReader::new(socket);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    bodies.lock().unwrap().push(body);
                    if seen.fetch_add(1, Ordering::SeqCst) < cuts {
                        return; // dropped: the client sees the connection close without a response
                    }
                    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                    conn.get_mut().write_all(ok.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, seen, bodies)
}

fn http_client(port: u16, policy: RetryPolicy) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .host("127.0.0.1")
        .port(port)
        .use_tls(false)
        .retry(policy.delays(Duration::from_millis(5), Duration::from_millis(50)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn over_real_http_a_cut_keyed_trigger_is_resent_with_the_same_body() {
    let (port, seen, bodies) = cutting_server(1).await;
    http_client(port, RetryPolicy::default())
        .trigger_with("a", "e", "x", &TriggerOptions::new().idempotency_key("k-7"))
        .await
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies[0], bodies[1]);

    // Without a key (the default policy) the cut trigger is not resent: the error says what happened.
    let (port, seen, _) = cutting_server(1).await;
    let e = http_client(port, RetryPolicy::default())
        .trigger("a", "e", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Transport { .. }) && !not_processed(&e),
        "{e:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

/// The reqwest backend reports a refused connection with the [`CONNECT_FAILED`] prefix, so the rule
/// knows nothing was sent.
#[tokio::test]
async fn a_refused_connection_is_known_not_to_be_processed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = http_client(port, RetryPolicy::none())
        .trigger("a", "e", "x")
        .await
        .unwrap_err();
    assert!(not_processed(&e), "{e:?}");
    assert!(!not_processed(&Error::Timeout(Duration::from_secs(1))));
    assert!(!not_processed(&Error::from_status(429, b"", None)));
    assert!(not_processed(&Error::from_status(
        429,
        b"",
        Some(Duration::from_secs(1))
    )));
}
