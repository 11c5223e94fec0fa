//! The connection pool [`HyperBackend`](crate::HyperBackend) uses for plain-HTTP origins reached without a
//! proxy (a self-hosted server on an internal network, a local test server): idle HTTP/1.1 connections on
//! hyper's own `client::conn`, kept per origin, newest first.
//!
//! hyper-util's general pool costs about 2 µs of client CPU per request on loopback (`bench/net`: 9.4 µs
//! per request through hyper-util's `Client` against 7.3 µs on `client::conn` connections): a hash of the
//! pool key per checkout, its waiter and bookkeeping types, and the connector's layers. This pool keeps what a
//! client of one API host needs:
//!
//! * checkout takes the newest idle connection to the origin that hyper says is ready and whose socket
//!   shows no close from the server (a non-blocking peek); any other is dropped, never waited for;
//! * a request that hyper hands back unsent (the connection closed before it was written) is sent again
//!   on another connection, as hyper-util's `retry_canceled_requests` does; a request that was written is
//!   never sent twice;
//! * a connection goes back to the pool only once its response body has been read whole, and once hyper
//!   says it is ready for the next request (at once, or from a small task waiting for it, as hyper-util
//!   does); one whose exchange failed, timed out or was cancelled is dropped, which closes it;
//! * idle connections are closed after [`IDLE_TIMEOUT`] (checked when connections come back, and by a
//!   sweep every [`SWEEP_EVERY`] that ends with the pool) and at most [`MAX_IDLE`] are kept.
//!
//! TLS origins (which may negotiate HTTP/2) and proxied requests keep hyper-util's `Client`.
//!
//! **Servers that close without saying so.** A server that closes a connection right after answering,
//! without `Connection: close`, races with the client's next request on it: a close that has reached the
//! client before the request is written is caught (the socket is peeked before a connection is reused,
//! and the request goes out on another connection), one made after the request was written cannot be seen
//! by any client, and the
//! request fails with `request failed` (not retried for a POST without an idempotency key: the server
//! may have read it). How often a loopback test loses that race depends only on how soon the client
//! reuses the connection: 5–26 requests in 1,000 here, about 1 in 2,500 with hyper-util's slower path
//! (the reviewed measurement of this pool). Servers that close send `Connection: close` (sockudo does),
//! and then the connection is never reused.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::http::uri::{Authority, PathAndQuery};
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::error::{Error, Result};

/// How long an idle connection is kept (hyper-util's and reqwest's default).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How often the background sweep closes connections idle for longer than [`IDLE_TIMEOUT`].
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The most idle connections kept (all origins together); a connection coming back beyond it is closed.
pub(crate) const MAX_IDLE: usize = 1024;

/// How many connections a request tries when hyper hands it back unsent each time.
const ATTEMPTS: usize = 3;

type Sender = SendRequest<Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An idle connection: its origin, its sender and when it came back.
struct Idle {
    origin: Authority,
    conn: Conn,
    since: Instant,
}

/// A pooled connection: hyper's sender, and a duplicate of its socket's descriptor to look at the socket
/// without reading from it ([`Conn::peer_closed`]); both are dropped together.
struct Conn {
    sender: Sender,
    probe: std::net::TcpStream,
}

impl Conn {
    /// Whether the server has closed the connection (or sent bytes no request asked for), as the socket
    /// says now: one non-blocking `MSG_PEEK`. hyper's connection task only learns of a close when Tokio's
    /// reactor reports the socket readable, which may not have happened yet when the next request is
    /// written; the kernel already knows.
    fn peer_closed(&self) -> bool {
        match self.probe.peek(&mut [0u8; 1]) {
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            Ok(_) => true,
        }
    }
}

/// Idle HTTP/1.1 connections to plain-HTTP origins (see the [module documentation](self)).
#[derive(Clone)]
pub(crate) struct Http1Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpConnector,
    /// The most idle connections kept ([`MAX_IDLE`] but in tests).
    max_idle: usize,
    /// Oldest at the front, newest at the back.
    idle: Mutex<VecDeque<Idle>>,
    /// Whether the sweep task runs (started with the first connection, inside a runtime).
    sweeping: std::sync::atomic::AtomicBool,
}

/// A connection checked out for one exchange: back to the pool with [`Http1Pool::check_in`] once its
/// response body is read whole, closed when dropped otherwise.
pub(crate) struct CheckedOut {
    origin: Authority,
    conn: Conn,
}

impl Http1Pool {
    /// A pool opening its TCP connections with `connector` (its keepalive and `TCP_NODELAY` settings).
    pub(crate) fn new(connector: HttpConnector) -> Self {
        Self::with_max_idle(connector, MAX_IDLE)
    }

    fn with_max_idle(connector: HttpConnector, max_idle: usize) -> Self {
        Http1Pool {
            inner: Arc::new(Inner {
                connector,
                max_idle,
                idle: Mutex::new(VecDeque::new()),
                sweeping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Sends `request` (its URI absolute, `http://`) on a pooled or new connection, in origin form with a
    /// `Host` header. Returns the response head and the connection, to be checked in after the body.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, CheckedOut)> {
        let uri = std::mem::take(request.uri_mut());
        let origin = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::transport("the request URL has no host", None))?;
        // A `Host` the request already has is sent as given (as hyper-util and reqwest do).
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, host_header(&origin)?);
        }
        *request.uri_mut() = origin_form(&uri);
        let mut request = request;
        for _ in 0..ATTEMPTS {
            let mut conn = match self.checkout(&origin) {
                Some(conn) => conn,
                None => self.connect(&uri).await?,
            };
            match conn.sender.try_send_request(request).await {
                Ok(response) => {
                    let conn = CheckedOut {
                        origin: origin.clone(),
                        conn,
                    };
                    return Ok((response, conn));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: safe to send on another connection.
                    Some(unsent) => request = unsent,
                    None => {
                        return Err(Error::transport(
                            "request failed",
                            Some(Box::new(e.into_error())),
                        ));
                    }
                },
            }
        }
        // Nothing was written: the request was not processed, which `CONNECT_FAILED` tells the retry logic.
        Err(Error::transport(
            format!(
                "{}: connections kept closing before the request could be sent",
                crate::retry::CONNECT_FAILED
            ),
            None,
        ))
    }

    /// Puts a connection whose exchange completed (its response body read whole) back in the pool: at once
    /// when hyper says it is ready for the next request, else once it is (its task asks for the next
    /// request just after delivering the end of the body, or is still writing a request body to a server
    /// that answered early), as hyper-util's pool does, in a task that holds no strong reference to the
    /// pool and gives up after [`IDLE_TIMEOUT`].
    pub(crate) fn check_in(&self, conn: CheckedOut) {
        let CheckedOut { origin, mut conn } = conn;
        if conn.sender.is_closed() {
            return;
        }
        if conn.sender.is_ready() {
            self.put(origin, conn);
            return;
        }
        let pool = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let ready = tokio::time::timeout(IDLE_TIMEOUT, conn.sender.ready()).await;
            if let (Ok(Ok(())), Some(inner)) = (ready, pool.upgrade()) {
                Http1Pool { inner }.put(origin, conn);
            }
        });
    }

    /// Adds a connection to the idle ones.
    fn put(&self, origin: Authority, conn: Conn) {
        let now = Instant::now();
        let Ok(mut idle) = self.inner.idle.lock() else {
            return;
        };
        // Only the oldest end here (the cost of a check-in stays constant); the sweep drops closed ones.
        expire_old(&mut idle, now);
        if idle.len() >= self.inner.max_idle {
            return; // dropped: closed
        }
        idle.push_back(Idle {
            origin,
            conn,
            since: now,
        });
    }

    /// The newest idle connection to `origin` that is still open and ready for a request: hyper's sender
    /// ready, and the socket not closed by the server ([`Conn::peer_closed`]: a close that has arrived is
    /// seen before a request is written, even when hyper's connection task has not been told yet). Any
    /// other is dropped, which closes it; none is waited for (one still writing the previous request's body
    /// to a server that answered early is not ready).
    fn checkout(&self, origin: &Authority) -> Option<Conn> {
        loop {
            let candidate = {
                let mut idle = self.inner.idle.lock().ok()?;
                let at = idle.iter().rposition(|i| i.origin == *origin)?;
                idle.remove(at)?
            };
            let conn = candidate.conn;
            if conn.sender.is_ready()
                && candidate.since.elapsed() <= IDLE_TIMEOUT
                && !conn.peer_closed()
            {
                return Some(conn);
            }
        }
    }

    /// A new connection to `uri`'s origin, its connection task spawned on the current runtime.
    async fn connect(&self, uri: &Uri) -> Result<Conn> {
        let failed = |e: BoxError| Error::transport(crate::retry::CONNECT_FAILED, Some(e));
        let mut connector = self.inner.connector.clone();
        let stream = connector
            .call(uri.clone())
            .await
            .map_err(|e| failed(Box::new(e)))?;
        // A duplicate of the descriptor, to peek at the socket while hyper owns the stream; set
        // non-blocking itself (on Windows a duplicated socket does not share the mode).
        let socket = stream
            .into_inner()
            .into_std()
            .map_err(|e| failed(Box::new(e)))?;
        let probe = socket.try_clone().map_err(|e| failed(Box::new(e)))?;
        probe
            .set_nonblocking(true)
            .map_err(|e| failed(Box::new(e)))?;
        let stream = tokio::net::TcpStream::from_std(socket).map_err(|e| failed(Box::new(e)))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::transport(crate::retry::CONNECT_FAILED, Some(Box::new(e))))?;
        tokio::spawn(async move {
            // The connection's errors reach the request that was on it; an idle one just ends.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "pooled HTTP/1.1 connection ended");
            }
        });
        self.start_sweep();
        Ok(Conn { sender, probe })
    }

    /// Starts the task that closes connections idle for too long, once; it ends when the pool is dropped.
    fn start_sweep(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        // The flag is cleared when the task ends or is dropped with its runtime, so that the next
        // connection, on a runtime still running, starts another sweep.
        let guard = SweepGuard(Arc::downgrade(&self.inner));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                let Some(inner) = guard.0.upgrade() else {
                    return;
                };
                if let Ok(mut idle) = inner.idle.lock() {
                    expire(&mut idle, Instant::now());
                }
            }
        });
    }

    /// How many idle connections the pool holds (tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.inner.idle.lock().map_or(0, |i| i.len())
    }
}

/// Marks the sweep as stopped when its task ends or is dropped.
struct SweepGuard(Weak<Inner>);

impl Drop for SweepGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner
                .sweeping
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Drops (closes) the idle connections older than [`IDLE_TIMEOUT`] or already closed (the sweep).
fn expire(idle: &mut VecDeque<Idle>, now: Instant) {
    expire_old(idle, now);
    idle.retain(|i| !i.conn.sender.is_closed());
}

/// Drops the idle connections older than [`IDLE_TIMEOUT`]: they are at the front, oldest first.
fn expire_old(idle: &mut VecDeque<Idle>, now: Instant) {
    while idle
        .front()
        .is_some_and(|i| now.duration_since(i.since) > IDLE_TIMEOUT)
    {
        idle.pop_front();
    }
}

/// The `Host` header of `origin`: as written in the URL, without the default port 80.
fn host_header(origin: &Authority) -> Result<HeaderValue> {
    // From the host and port only: an authority may also hold `user:password@`, which never goes here.
    let value = match origin.port_u16() {
        Some(80) | None => Cow::Borrowed(origin.host()),
        Some(port) => Cow::Owned(format!("{}:{port}", origin.host())),
    };
    HeaderValue::from_str(&value)
        .map_err(|e| Error::transport("the request URL's host is not valid", Some(Box::new(e))))
}

/// `uri` in origin form (`/path?query`), as an HTTP/1.1 request to the origin itself carries it.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path)
}

impl std::fmt::Debug for Http1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Pool").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

    /// A server answering each request with [`OK`] (each read is taken as one whole request), counting the
    /// connections it accepts and those that ended, closing each connection after `answers` responses
    /// (without saying so in the response) when `answers` is given.
    async fn server(answers: Option<usize>) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (accepted, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, e) = (accepted.clone(), ended.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let e = e.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut answered = 0;
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                        if stream.write_all(OK).await.is_err() {
                            break;
                        }
                        answered += 1;
                        if answers == Some(answered) {
                            break;
                        }
                    }
                    drop(stream);
                    e.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (port, accepted, ended)
    }

    fn pool(max_idle: usize) -> Http1Pool {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        Http1Pool::with_max_idle(http, max_idle)
    }

    /// One exchange through `pool`: the status, with the connection checked in after the body.
    async fn exchange(pool: &Http1Pool, port: u16) -> Result<u16> {
        let request = Request::post(format!("http://127.0.0.1:{port}/apps/1/events?x=1"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let (response, conn) = pool.send(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        pool.check_in(conn);
        Ok(status)
    }

    #[test]
    fn host_header_leaves_out_only_the_default_port() {
        let host = |a: &str| host_header(&a.parse().unwrap()).unwrap();
        assert_eq!(host("example.com:80"), "example.com");
        assert_eq!(host("example.com"), "example.com");
        assert_eq!(host("example.com:8080"), "example.com:8080");
        assert_eq!(host("[::1]:80"), "[::1]");
        assert_eq!(host("[::1]:6001"), "[::1]:6001");
    }

    /// Review: the `Host` header is `host[:port]` only, as hyper-util's client writes it: never the URL's
    /// userinfo (`http://user:pw@host:8080/` gave `Host: user:pw@host:8080`, sending the credentials in
    /// clear in a header, and a `Host` that servers refuse with 400).
    #[test]
    fn host_header_never_carries_the_urls_userinfo() {
        let host = |a: &str| host_header(&a.parse().unwrap()).unwrap();
        assert_eq!(host("user:pw@example.com:8080"), "example.com:8080");
        assert_eq!(host("user:pw@example.com:80"), "example.com");
        assert_eq!(host("user@[::1]:6001"), "[::1]:6001");
    }

    #[test]
    fn origin_form_keeps_the_path_and_query() {
        let uri: Uri = "http://h:1/apps/1/events?a=1&b=2".parse().unwrap();
        assert_eq!(origin_form(&uri).to_string(), "/apps/1/events?a=1&b=2");
        let bare: Uri = "http://h:1".parse().unwrap();
        assert_eq!(origin_form(&bare).to_string(), "/");
    }

    #[tokio::test]
    async fn one_connection_serves_requests_in_sequence() {
        let (port, accepted, _) = server(None).await;
        let pool = pool(MAX_IDLE);
        for _ in 0..5 {
            assert_eq!(exchange(&pool, port).await.unwrap(), 200);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_not_reused() {
        // The server closes every connection after one answer, without `Connection: close`.
        let (port, accepted, _) = server(Some(1)).await;
        let pool = pool(MAX_IDLE);
        for _ in 0..3 {
            assert_eq!(exchange(&pool, port).await.unwrap(), 200);
            // Time for the connection task to see the end of the stream.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn concurrent_requests_open_connections_and_the_idle_ones_are_capped() {
        let (port, accepted, ended) = server(None).await;
        let pool = pool(2);
        // Four requests at once, none checked in before all have their connection.
        let mut sent = Vec::new();
        for _ in 0..4 {
            let request = Request::post(format!("http://127.0.0.1:{port}/"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            sent.push(pool.send(request).await.unwrap());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        for (response, conn) in sent {
            response.into_body().collect().await.unwrap();
            pool.check_in(conn);
        }
        assert_eq!(pool.idle_count(), 2);
        // The two beyond the cap were closed.
        for _ in 0..50 {
            if ended.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ended.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idle_connections_expire_and_are_closed() {
        let (port, _, ended) = server(None).await;
        let pool = pool(MAX_IDLE);
        exchange(&pool, port).await.unwrap();
        assert_eq!(pool.idle_count(), 1);
        {
            let mut idle = pool.inner.idle.lock().unwrap();
            expire(&mut idle, Instant::now() + IDLE_TIMEOUT / 2);
            assert_eq!(idle.len(), 1, "not idle for long enough yet");
            expire(
                &mut idle,
                Instant::now() + IDLE_TIMEOUT + Duration::from_secs(1),
            );
        }
        assert_eq!(pool.idle_count(), 0);
        for _ in 0..50 {
            if ended.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            ended.load(Ordering::SeqCst),
            1,
            "the expired connection is closed"
        );
    }

    #[tokio::test]
    async fn a_connection_whose_exchange_was_abandoned_is_not_kept() {
        let (port, accepted, _) = server(None).await;
        let pool = pool(MAX_IDLE);
        let request = Request::post(format!("http://127.0.0.1:{port}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        // The response is dropped unread and the connection not checked in (as on a timeout or error).
        drop(pool.send(request).await.unwrap());
        assert_eq!(pool.idle_count(), 0);
        assert_eq!(exchange(&pool, port).await.unwrap(), 200);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// Review: the sweep is started once per pool, on the runtime of the first connection, and never again:
    /// once that runtime is gone (a `#[tokio::test]`, a start-up `Runtime::block_on`, a dropped
    /// `blocking::Pusher` sharing the pool of an async client), no sweep runs for the connections opened on
    /// the runtimes still alive. (The sweep task holds the pool's only `Weak`: counting them counts sweeps.)
    #[test]
    fn a_sweep_runs_after_the_runtime_that_started_the_first_one_is_gone() {
        let rt = |threads: Option<usize>| match threads {
            Some(n) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build()
                .unwrap(),
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        // The server lives on a runtime of its own, for the whole test.
        let server_rt = rt(Some(1));
        let (port, accepted, _) = server_rt.block_on(server(None));
        let pool = pool(MAX_IDLE);

        let first = rt(None);
        first.block_on(exchange(&pool, port)).unwrap();
        assert_eq!(Arc::weak_count(&pool.inner), 1, "a sweep was started");
        drop(first); // its tasks go with it: the connection and the sweep
        assert_eq!(Arc::weak_count(&pool.inner), 0);

        let second = rt(None);
        second.block_on(exchange(&pool, port)).unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
        assert_eq!(pool.idle_count(), 1);
        assert_eq!(
            Arc::weak_count(&pool.inner),
            1,
            "no sweep runs for the idle connection of the runtime still alive"
        );
    }

    #[test]
    fn a_close_that_has_arrived_is_seen_before_a_request_is_written() {
        // The server closes each connection after one answer, without `Connection: close`.
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (port, accepted, ended) = server_rt.block_on(server(Some(1)));
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = pool(MAX_IDLE);
        for round in 1..=20 {
            assert_eq!(client.block_on(exchange(&pool, port)).unwrap(), 200);
            // The client's runtime does not run while this thread waits: its connection task is not told
            // of the close, only the socket knows.
            while ended.load(Ordering::SeqCst) < round {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    /// Review (churn): `blocking::Pusher` drives the client with `block_on` on a runtime of one worker: the
    /// caller's future runs on the calling thread, the connection task on the worker. The caller checks
    /// the connection in as soon as the body has ended, and the next `checkout` often runs before the
    /// worker has polled the connection task on to its "want the next request" signal: the connection is
    /// not `is_ready()`, is dropped (closed) and a new one opened. 200 sequential requests must use very
    /// few connections (here: 1 in most runs, 38 to 51 in one run of six, depending on the load:
    /// statistical; `an_open_connection_not_ready_yet_is_not_dropped_for_a_new_one` is the deterministic
    /// form).
    #[test]
    fn sequential_requests_from_block_on_on_a_one_worker_runtime_reuse_connections() {
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (port, accepted, _) = server_rt.block_on(server(None));
        let client = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let pool = pool(MAX_IDLE);
        for i in 0..200 {
            let result = client.block_on(exchange(&pool, port));
            assert!(matches!(result, Ok(200)), "request {i}: {result:?}");
        }
        let n = accepted.load(Ordering::SeqCst);
        assert!(n <= 10, "{n} connections for 200 sequential requests");
    }

    /// Review (churn, deterministic): a connection whose task has not yet signalled that it wants the next
    /// request (the state a connection is in when its caller has read the end of the body a moment before
    /// the connection's task got to that signal) is open and healthy, yet `checkout` drops it (closing it)
    /// and opens another connection.
    #[tokio::test]
    async fn an_open_connection_not_ready_yet_is_not_dropped_for_a_new_one() {
        let (port, accepted, ended) = server(None).await;
        let pool = pool(MAX_IDLE);
        let uri: Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        // Its task is spawned, not yet run (this runtime has one thread): open, not `is_ready()`.
        let conn = pool.connect(&uri).await.unwrap();
        assert!(!conn.sender.is_ready() && !conn.sender.is_closed());
        let origin = uri.authority().unwrap().clone();
        pool.check_in(CheckedOut { origin, conn });
        assert_eq!(exchange(&pool, port).await.unwrap(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Every connection opened is still open and kept (here the first one was closed).
        let (opened, closed) = (
            accepted.load(Ordering::SeqCst),
            ended.load(Ordering::SeqCst),
        );
        assert_eq!(
            (closed, pool.idle_count()),
            (0, opened),
            "(connections closed, kept); {opened} opened"
        );
    }

    /// Review: `a_close_that_has_arrived_is_seen_before_a_request_is_written` is not deterministic (it
    /// failed 13 runs in 40 here, `request failed` / `IncompleteMessage`): it passes when the server's FIN
    /// reaches the client together with the answer (the connection task sees the end of the stream at once
    /// and the connection is never pooled), and fails when the FIN comes a little later. Then the pooled
    /// connection's task has last read `WouldBlock`, the FIN's readiness event waits in the I/O driver
    /// (which a paused or busy current-thread runtime has not polled), the task's read before its write
    /// finds no readiness, and the request is written to a closed connection: a POST lost, and not
    /// retried. Made deterministic here: the server closes 50 ms after answering.
    #[test]
    fn a_close_that_arrives_after_the_connection_went_idle_is_seen_before_a_request_is_written() {
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (port, ended) = server_rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let ended = Arc::new(AtomicUsize::new(0));
            let e = ended.clone();
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    let e = e.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 4096];
                        if matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                            let _ = stream.write_all(OK).await;
                            // Closes once the client is surely idle, without `Connection: close`.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        drop(stream);
                        e.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            (port, ended)
        });
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = pool(MAX_IDLE);
        for round in 1..=5 {
            let result = client.block_on(exchange(&pool, port));
            assert!(
                matches!(result, Ok(200)),
                "round {round}: {result:?} (idle connections: {})",
                pool.idle_count()
            );
            while ended.load(Ordering::SeqCst) < round {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test]
    async fn connect_refused_is_a_connect_failure() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let err = exchange(&pool(MAX_IDLE), port).await.unwrap_err();
        assert!(
            matches!(&err, Error::Transport { message, .. } if message.starts_with(crate::retry::CONNECT_FAILED)),
            "{err:?}"
        );
    }
}
