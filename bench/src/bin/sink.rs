//! A minimal HTTP/1.1 sink for the network benchmarks: answers every request with `200 {}` over
//! keep-alive connections, and counts requests, events and accepted connections. `GET /__stats` returns the
//! counts as JSON (`{"requests":N,"events":N,"connections":N}`; the stats requests themselves are not
//! counted). A request to `…/batch_events` counts the events of its `batch` array (parsed: a malformed one
//! counts none); any other request counts one event.
//!
//! ```text
//! sink [PORT]      # prints "listening PORT" once bound on 127.0.0.1 (PORT 0 or absent: any free port)
//! ```
//!
//! It runs on one thread (a current-thread Tokio runtime), so pinning it to a core (`taskset -c 0 sink`)
//! makes "the limit" one core's worth of HTTP handling.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    events: AtomicU64,
    connections: AtomicU64,
}

/// A batch request's body: only the number of events is kept.
#[derive(serde::Deserialize)]
struct Batch {
    batch: Vec<serde::de::IgnoredAny>,
}

async fn answer(
    counts: Arc<Counts>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let stats = req.uri().path() == "/__stats";
    let batch = req.uri().path().ends_with("/batch_events");
    // Read the body to the end, as a real server would, before answering.
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let body = if stats {
        Bytes::from(format!(
            r#"{{"requests":{},"events":{},"connections":{}}}"#,
            counts.requests.load(Ordering::Relaxed),
            counts.events.load(Ordering::Relaxed),
            counts.connections.load(Ordering::Relaxed)
        ))
    } else {
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let events = match body {
            Ok(body) if batch => {
                serde_json::from_slice::<Batch>(&body).map_or(0, |b| b.batch.len())
            }
            _ => 1,
        };
        counts.events.fetch_add(events as u64, Ordering::Relaxed);
        Bytes::from_static(b"{}")
    };
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let mut out = std::io::stdout();
        writeln!(out, "listening {}", listener.local_addr()?.port())?;
        out.flush()?;
        let counts = Arc::new(Counts::default());
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            counts.connections.fetch_add(1, Ordering::Relaxed);
            let counts = counts.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(counts.clone(), req));
                // A connection closed by the client ends here; nothing to report.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
