//! The load generator of the network benchmarks (`bench/net`): one `Pusher` against the sink (`sink`) or
//! any Pusher-protocol server on 127.0.0.1. Each mode prints one JSON line.
//!
//! ```text
//! net request PORT                       # a signed trigger request (path, body) for wrk, same shape as below
//! net throughput PORT N SECONDS          # N triggers in flight for SECONDS: triggers/s, connections opened
//! net throughput-reqwest PORT N SECONDS  # the same through the crate with `ReqwestBackend`
//! net throughput-hyper PORT N SECONDS    # the same through the crate with `HyperBackend`
//! net publish PORT N SECONDS [BATCH]     # events/s through a `Publisher` (N batches in flight, BATCH
//!                                        # events per batch: 10 unless given, Pusher's limit)
//! net bare-hyper-conn PORT N SECONDS   # one pre-signed request re-sent on N hyper `client::conn` connections
//! net bare-raw PORT N SECONDS          # the same on N raw sockets, responses parsed with httparse
//! net fanout PORT CHANNELS CONCURRENCY   # one event to CHANNELS channels (trigger_fanout)
//! net batch PORT EVENTS CONCURRENCY      # EVENTS events in batches of 10 (trigger_batch_fanout)
//! ```
//!
//! The app id, key and secret are `12345`, `bench-key`, `bench-secret`, or `NET_APP_ID`, `NET_APP_KEY`,
//! `NET_APP_SECRET` when set (for a real server). `net throughput` uses the crate's default backend.
//!
//! The client runs on a current-thread Tokio runtime (one core, like the Python and Node runners and wrk's
//! single thread): pin it with `taskset -c 1`. `bench/net` reads the sink's counts of requests and accepted
//! connections (`GET /__stats`) around each run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use pusher::http::ReqwestBackend;
use pusher::{
    BatchEvent, HyperBackend, Publisher, PublisherConfig, Pusher, PusherBuilder, TriggerOptions,
};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// The largest response body the benchmark clients accept (the crate's default).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn builder(port: u16) -> PusherBuilder {
    Pusher::builder(
        &env_or("NET_APP_ID", "12345"),
        &env_or("NET_APP_KEY", "bench-key"),
        &env_or("NET_APP_SECRET", "bench-secret"),
    )
    .host("127.0.0.1")
    .port(port)
    .use_tls(false)
    .timeout(Duration::from_secs(10))
}

/// The client with the crate's default backend, or with `backend` ("reqwest", "hyper").
fn client_with(port: u16, backend: Option<&str>) -> Result<Pusher, Failure> {
    let builder = builder(port);
    Ok(match backend {
        None => builder.build()?,
        Some("reqwest") => builder
            .backend(ReqwestBackend::new(None, MAX_RESPONSE_BYTES)?)
            .build()?,
        Some("hyper") => builder
            .backend(HyperBackend::new(None, MAX_RESPONSE_BYTES)?)
            .build()?,
        Some(other) => return Err(format!("unknown backend {other}").into()),
    })
}

fn client(port: u16) -> Result<Pusher, Failure> {
    client_with(port, None)
}

/// The counters of a run of `n` tasks, shared with them.
struct Run<'a> {
    runner: &'a str,
    n: usize,
    started: Instant,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Run<'_> {
    /// Lets `tasks` run for `seconds`, stops them and waits for them; the run's JSON line, with the
    /// successes per second.
    async fn report_after(
        self,
        seconds: f64,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<Value, Failure> {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        self.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await?;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let ok = self.sent.load(Ordering::Relaxed);
        Ok(json!({
            "runner": self.runner,
            "n": self.n,
            "triggers": ok,
            "errors": self.failed.load(Ordering::Relaxed),
            "seconds": elapsed,
            "rate": ok as f64 / elapsed,
        }))
    }
}

/// Runs `n` tasks for `seconds`, each repeating `one(seq)` (true: a success) with its own sequence numbers
/// (task, task + n, …); returns the JSON line of `runner` with the successes per second.
async fn run_for<F, Fut>(runner: &str, n: usize, seconds: f64, one: F) -> Result<Value, Failure>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for task in 0..n {
        let (one, stop, sent, failed) = (one.clone(), stop.clone(), sent.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut seq = task as u64;
            while !stop.load(Ordering::Relaxed) {
                let counter = if one(seq).await { &sent } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
                seq += n as u64;
            }
        }));
    }
    let run = Run {
        runner,
        n,
        started,
        stop,
        sent,
        failed,
    };
    run.report_after(seconds, tasks).await
}

/// This crate: `Pusher::trigger` on channel `bench-(seq % 100)` with `{"seq": seq}`, through the default
/// backend (runner `rust`) or the one named (`rust-reqwest`, `rust-hyper`).
async fn throughput(
    port: u16,
    backend: Option<&str>,
    n: usize,
    seconds: f64,
) -> Result<Value, Failure> {
    let pusher = client_with(port, backend)?;
    let runner = backend.map_or_else(|| String::from("rust"), |b| format!("rust-{b}"));
    run_for(&runner, n, seconds, move |seq| {
        let pusher = pusher.clone();
        async move {
            let channel = format!("bench-{}", seq % 100);
            pusher
                .trigger(channel.as_str(), "tick", &json!({ "seq": seq }))
                .await
                .is_ok()
        }
    })
    .await
}

/// Events/s through a [`Publisher`]: one producer publishes `{"seq": seq}` on channel `bench-(seq % 100)`
/// (event `tick`) as fast as the queue takes them for `seconds`, with `n` batch requests in flight; then
/// `shutdown` delivers what is queued. The rate counts the events delivered over the whole time, drain
/// included; `undelivered` lists what was not (failed, never sent).
async fn publish(port: u16, n: usize, seconds: f64, batch: usize) -> Result<Value, Failure> {
    let pusher = builder(port).max_batch_events(batch).build()?;
    let config = PublisherConfig::new()
        .max_in_flight(n)
        .queue_capacity(4096)
        .on_failure(|_| {});
    let publisher = Publisher::new(pusher, config)?;
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut seq: u64 = 0;
    while Instant::now() < until {
        // A clock read per 64 events keeps the producer's own cost low.
        for _ in 0..64 {
            let event = BatchEvent::new(
                format!("bench-{}", seq % 100),
                "tick",
                &json!({ "seq": seq }),
            )?;
            publisher.publish(event).await?;
            seq += 1;
        }
    }
    let report = publisher.shutdown(Duration::from_secs(30)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = publisher.stats();
    Ok(json!({
        "runner": "rust-publisher",
        "n": n,
        "batch": batch,
        "events": stats.sent,
        "published": seq,
        "undelivered": report.undelivered.len(),
        "failed": stats.failed,
        "requests": stats.requests,
        "retried": stats.retried,
        "throttled": stats.throttled,
        "seconds": elapsed,
        "rate": stats.sent as f64 / elapsed,
    }))
}

async fn fanout(port: u16, mode: &str, size: usize, concurrency: usize) -> Result<Value, Failure> {
    let pusher = client(port)?;
    let started = Instant::now();
    let report = if mode == "fanout" {
        let channels: Vec<String> = (0..size).map(|i| format!("user-{i}")).collect();
        let data = json!({ "notice": "maintenance at 22:00" });
        pusher
            .trigger_fanout(
                &channels,
                "notice",
                &data,
                &TriggerOptions::default(),
                concurrency,
            )
            .await?
    } else {
        let events = (0..size)
            .map(|i| BatchEvent::new(format!("user-{i}"), "notice", &json!({ "seq": i })))
            .collect::<Result<Vec<_>, _>>()?;
        pusher.trigger_batch_fanout(&events, concurrency).await?
    };
    let elapsed = started.elapsed().as_secs_f64();
    Ok(json!({
        "mode": mode,
        "size": size,
        "concurrency": concurrency,
        "chunks": report.chunks,
        "failed_chunks": report.failures.len(),
        "seconds": elapsed,
        "us_per_item": elapsed * 1e6 / size as f64,
    }))
}

/// The floors below hyper-util's pool, with the same pre-signed request as [`transport_floor`]:
/// `bare-hyper-conn`, one `hyper::client::conn::http1` connection per task (what any pool on hyper pays),
/// and `bare-raw`, one tokio socket per task writing the request's bytes and parsing the response with
/// `httparse` (what a hand-written HTTP/1.1 client would pay; no chunked bodies, a sketch for measuring).
async fn connection_floor(
    port: u16,
    stack: &str,
    n: usize,
    seconds: f64,
) -> Result<Value, Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pusher = client(port)?;
    let req =
        pusher.trigger_request("bench-0", "tick", &json!({ "seq": 0 }), &Default::default())?;
    let path: Arc<str> = req
        .url
        .strip_prefix(pusher.base_url())
        .ok_or("URL outside the base URL")?
        .into();
    let body = req.body.unwrap_or_default();
    let runner = format!("bare-{stack}");
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        let (path, body, raw) = (path.clone(), body.clone(), stack == "raw");
        tasks.push(tokio::spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let _ = stream.set_nodelay(true);
            if raw {
                let mut stream = stream;
                let mut wire = format!(
                    "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                wire.extend_from_slice(&body);
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if stream.write_all(&wire).await.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let mut have = 0;
                    let ok = loop {
                        match stream.read(&mut buf[have..]).await {
                            Ok(0) | Err(_) => break false,
                            Ok(k) => have += k,
                        }
                        let mut headers = [httparse::EMPTY_HEADER; 16];
                        let mut resp = httparse::Response::new(&mut headers);
                        match resp.parse(&buf[..have]) {
                            Ok(httparse::Status::Complete(head)) => {
                                let len = resp
                                    .headers
                                    .iter()
                                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                                    .unwrap_or(0);
                                if have >= head + len {
                                    break resp.code == Some(200);
                                }
                            }
                            Ok(httparse::Status::Partial) => {}
                            Err(_) => break false,
                        }
                    };
                    let counter = if ok { &sent } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        return;
                    }
                }
            } else {
                let io = hyper_util::rt::TokioIo::new(stream);
                let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(io).await else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                tokio::spawn(conn);
                // Origin form, as the crate's pool sends it.
                let uri = path.to_string();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(request) = hyper::Request::post(&uri)
                        .header("host", format!("127.0.0.1:{port}"))
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                    else {
                        return;
                    };
                    let ok = match sender.send_request(request).await {
                        Ok(resp) => resp.into_body().collect().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if ok { &sent } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        return; // a failed connection is not retried (no spinning on it)
                    }
                }
            }
        }));
    }
    let run = Run {
        runner: &runner,
        n,
        started,
        stop,
        sent,
        failed,
    };
    run.report_after(seconds, tasks).await
}

/// The transport alone: the same signed request (built once) sent again and again by a bare `reqwest`
/// client or a bare `hyper-util` client, N in flight. What the HTTP stack costs before any signing.
async fn transport_floor(port: u16, stack: &str, n: usize, seconds: f64) -> Result<Value, Failure> {
    let pusher = client(port)?;
    let req =
        pusher.trigger_request("bench-0", "tick", &json!({ "seq": 0 }), &Default::default())?;
    let (url, body): (Arc<str>, _) = (req.url.into(), req.body.unwrap_or_default());
    let runner = format!("bare-{stack}");
    if stack == "hyper" {
        // As the crate's backends: TCP_NODELAY.
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, Full<Bytes>>(connector);
        run_for(&runner, n, seconds, move |_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move {
                let Ok(request) = hyper::Request::post(&*url)
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                else {
                    return false;
                };
                match client.request(request).await {
                    Ok(resp) => resp.into_body().collect().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    } else {
        let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
        run_for(&runner, n, seconds, move |_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move {
                let sent = client
                    .post(&*url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(resp) => resp.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, Failure> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i}: expected {what}").into())
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let port: u16 = arg(&args, 2, "PORT")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = match mode {
        "request" => {
            let pusher = client(port)?;
            let req = pusher.trigger_request(
                "bench-0",
                "tick",
                &json!({ "seq": 0 }),
                &Default::default(),
            )?;
            let path = req
                .url
                .strip_prefix(pusher.base_url())
                .ok_or("URL outside the base URL")?;
            let body = req
                .body
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            json!({ "path": path, "body": body })
        }
        "throughput" | "throughput-reqwest" | "throughput-hyper" => {
            let (n, seconds) = (arg(&args, 3, "N")?, arg(&args, 4, "SECONDS")?);
            let backend = mode.strip_prefix("throughput-");
            runtime.block_on(throughput(port, backend, n, seconds))?
        }
        "publish" => {
            let (n, seconds) = (arg(&args, 3, "N")?, arg(&args, 4, "SECONDS")?);
            let batch = if args.len() > 5 {
                arg(&args, 5, "BATCH")?
            } else {
                10
            };
            runtime.block_on(publish(port, n, seconds, batch))?
        }
        "bare-reqwest" | "bare-hyper" => {
            let (n, seconds) = (arg(&args, 3, "N")?, arg(&args, 4, "SECONDS")?);
            runtime.block_on(transport_floor(port, &mode[5..], n, seconds))?
        }
        "bare-hyper-conn" | "bare-raw" => {
            let (n, seconds) = (arg(&args, 3, "N")?, arg(&args, 4, "SECONDS")?);
            runtime.block_on(connection_floor(port, &mode[5..], n, seconds))?
        }
        "fanout" | "batch" => {
            let (size, concurrency) = (arg(&args, 3, "SIZE")?, arg(&args, 4, "CONCURRENCY")?);
            runtime.block_on(fanout(port, mode, size, concurrency))?
        }
        _ => {
            return Err(
                "usage: net request|throughput[-reqwest|-hyper]|publish|bare-reqwest|bare-hyper[-conn]|bare-raw|fanout|batch PORT ... (see the source)".into(),
            );
        }
    };
    println!("{out}");
    Ok(())
}
