//! Fault injection against servers on 127.0.0.1 started by the tests: scripted answers per request (5xx,
//! 429 with `Retry-After`, a connection closed mid-response), checking the typed error of each fault and
//! the retry policy: GETs retried by default, POSTs only when opted in, `Retry-After` honoured.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use pusher::{Error, Pusher, RetryPolicy};

/// What the server does with one request.
#[derive(Clone, Debug)]
enum Step {
    /// Answer with this status, optional Retry-After seconds, and body.
    Answer(u16, Option<u64>, &'static str),
    /// Answer with this status, this literal Retry-After value, and body.
    AnswerRetryAfterText(u16, String, &'static str),
    /// Write half a status line and close the connection.
    CloseMidResponse,
}

struct Scripted {
    port: u16,
    requests: Arc<AtomicUsize>,
}

/// A server answering request N with `script[N]` (the last step repeats).
async fn scripted(script: Vec<Step>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(Mutex::new(script));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (counter, script) = (counter.clone(), script.clone());
            tokio::spawn(async move {
                let mut conn = BufReader::new(socket);
                loop {
                    let mut length = 0usize;
                    let mut first = true;
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" && !first {
                            break;
                        }
                        first = false;
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let step = {
                        let s = script.lock().unwrap();
                        s.get(n).or(s.last()).cloned().unwrap()
                    };
                    let socket = conn.get_mut();
                    match step {
                        Step::CloseMidResponse => {
                            let _ = socket.write_all(b"HTTP/1.1 200").await;
                            let _ = socket.shutdown().await;
                            return;
                        }
                        Step::Answer(..) | Step::AnswerRetryAfterText(..) => {
                            let (status, retry_after, body) = match step {
                                Step::Answer(status, s, body) => {
                                    (status, s.map(|s| s.to_string()), body)
                                }
                                Step::AnswerRetryAfterText(status, s, body) => {
                                    (status, Some(s), body)
                                }
                                Step::CloseMidResponse => unreachable!(),
                            };
                            let mut head = format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n",
                                body.len()
                            );
                            if let Some(s) = retry_after {
                                head.push_str(&format!("retry-after: {s}\r\n"));
                            }
                            head.push_str("\r\n");
                            socket.write_all(head.as_bytes()).await.unwrap();
                            socket.write_all(body.as_bytes()).await.unwrap();
                        }
                    }
                }
            });
        }
    });
    Scripted { port, requests }
}

fn client(port: u16, retry: RetryPolicy) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .host("127.0.0.1")
        .port(port)
        .use_tls(false)
        .timeout(Duration::from_secs(2))
        .retry(retry.delays(Duration::from_millis(5), Duration::from_secs(2)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn gets_are_retried_on_5xx_then_succeed() {
    let s = scripted(vec![
        Step::Answer(503, None, "busy"),
        Step::Answer(502, None, "busy"),
        Step::Answer(200, None, r#"{"occupied":true}"#),
    ])
    .await;
    let info = client(s.port, RetryPolicy::default())
        .channel_info("a", &[])
        .await
        .unwrap();
    assert!(info.occupied);
    assert_eq!(s.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_the_limit_with_the_last_typed_error() {
    let s = scripted(vec![Step::Answer(500, None, "down")]).await;
    let e = client(s.port, RetryPolicy::default().max_retries(3))
        .channels_info(None, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Status { status: 500, .. }), "{e:?}");
    assert_eq!(s.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn posts_are_not_retried_unless_opted_in() {
    let s = scripted(vec![
        Step::Answer(503, None, "busy"),
        Step::Answer(200, None, "{}"),
    ])
    .await;
    let e = client(s.port, RetryPolicy::default())
        .trigger("a", "e", "x")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(
        s.requests.load(Ordering::SeqCst),
        1,
        "a trigger is not retried by default"
    );

    let s = scripted(vec![
        Step::Answer(503, None, "busy"),
        Step::Answer(200, None, "{}"),
    ])
    .await;
    client(s.port, RetryPolicy::default().retry_posts(true))
        .trigger("a", "e", "x")
        .await
        .unwrap();
    assert_eq!(s.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for status in [400u16, 401, 403, 404, 413] {
        let s = scripted(vec![Step::Answer(status, None, "no")]).await;
        let e = client(s.port, RetryPolicy::default().retry_posts(true))
            .trigger("a", "e", "x")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(status));
        assert_eq!(s.requests.load(Ordering::SeqCst), 1, "{status} not retried");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = scripted(vec![
        Step::Answer(429, Some(1), "slow down"),
        Step::Answer(200, None, r#"{"users":[]}"#),
    ])
    .await;
    let started = Instant::now();
    client(s.port, RetryPolicy::default())
        .users_info("presence-a")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(s.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_read() {
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
    let s = scripted(vec![Step::AnswerRetryAfterText(503, at, "busy")]).await;
    let e = client(s.port, RetryPolicy::none())
        .channels_info(None, &[])
        .await
        .unwrap_err();
    let Error::Status {
        status: 503,
        retry_after: Some(after),
        ..
    } = e
    else {
        panic!("{e:?}");
    };
    assert!(
        after > Duration::from_secs(20) && after <= Duration::from_secs(30),
        "{after:?}"
    );
    // And the seconds form, through the same parser.
    let s = scripted(vec![Step::Answer(503, Some(7), "busy")]).await;
    let e = client(s.port, RetryPolicy::none())
        .channels_info(None, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Status { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_connection_closed_mid_response_is_a_transport_error_and_retried_for_gets() {
    let s = scripted(vec![Step::CloseMidResponse]).await;
    let e = client(s.port, RetryPolicy::none())
        .channel_info("a", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(e.is_transient());

    let s = scripted(vec![Step::CloseMidResponse, Step::Answer(200, None, "{}")]).await;
    client(s.port, RetryPolicy::default())
        .channel_info("a", &[])
        .await
        .unwrap();
    assert_eq!(s.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_operation_gives_a_typed_error_on_a_refused_connection() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = client(port, RetryPolicy::none());
    let batch = [pusher::BatchEvent::new("a", "e", "x").unwrap()];
    let results = [
        p.trigger("a", "e", "x").await.map(|_| ()),
        p.trigger_batch(&batch).await.map(|_| ()),
        p.channels_info(None, &[]).await.map(|_| ()),
        p.channel_info("a", &[]).await.map(|_| ()),
        p.users_info("presence-a").await.map(|_| ()),
        p.send_to_user("u", "e", "x").await.map(|_| ()),
        p.terminate_user_connections("u").await,
        p.get::<serde_json::Value>("/x", &[]).await.map(|_| ()),
        p.post::<_, serde_json::Value>("/x", &serde_json::json!({}))
            .await
            .map(|_| ()),
    ];
    for r in results {
        assert!(matches!(r, Err(Error::Transport { .. })), "{r:?}");
    }
}
