//! A small HTTP/1.1 proxy on loopback between the client and sockudo, for delivery tests:
//!
//! * **faults** ([`HttpProxy::cut_every`]): every `n`-th request is forwarded, its whole response read
//!   from sockudo (so the request was processed), and then the client's connection is closed without the
//!   response: the client cannot know whether the event was published;
//! * **a path prefix** ([`HttpProxy::strip_prefix`]): requests for `PREFIX/…` are forwarded as `/…`, as a
//!   reverse proxy mounting a Pusher-protocol server under a path does; anything else gets 404;
//! * **round robin** ([`HttpProxy::round_robin`]): a load balancer in front of several app instances, the
//!   `n`-th request going to upstream `n mod count` (`tests/e2e/cluster.rs`).
//!
//! One request per client connection (each response is sent with `connection: close`); request bodies
//! need a `content-length` (what the `pusher` client sends). Tokio TCP only.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::Result;

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// How long one exchange with the upstream server may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// What the proxy has seen.
#[derive(Debug, Default)]
pub struct ProxyStats {
    requests: AtomicUsize,
    cut: AtomicUsize,
    forwarded_paths: std::sync::Mutex<Vec<String>>,
    forwarded_to: std::sync::Mutex<Vec<u16>>,
}

impl ProxyStats {
    /// Requests read from clients (forwarded or not).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests forwarded and processed whose response was withheld (the connection closed instead).
    pub fn cut(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }

    /// The request targets (path and query) as forwarded upstream, in order.
    pub fn forwarded_paths(&self) -> Vec<String> {
        self.forwarded_paths
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// The upstream port each forwarded request went to, in the order forwarded (parallel to
    /// [`forwarded_paths`](Self::forwarded_paths)).
    pub fn forwarded_to(&self) -> Vec<u16> {
        self.forwarded_to
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }
}

/// How the proxy treats requests.
#[derive(Debug, Clone, Default)]
struct Rules {
    /// The upstream ports on 127.0.0.1, taken in turn (one for the fault and prefix proxies).
    upstreams: Vec<u16>,
    cut_every: Option<usize>,
    strip_prefix: Option<String>,
}

/// A running proxy; stopped when dropped.
#[derive(Debug)]
pub struct HttpProxy {
    port: u16,
    stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpProxy {
    /// A proxy to `127.0.0.1:upstream_port` that withholds the response of every `n`-th request (the
    /// `n`-th, `2n`-th, …, counted over all requests, retries included).
    pub async fn cut_every(upstream_port: u16, n: usize) -> Result<HttpProxy> {
        Self::start(Rules {
            upstreams: vec![upstream_port],
            cut_every: Some(n.max(1)),
            strip_prefix: None,
        })
        .await
    }

    /// A proxy to `127.0.0.1:upstream_port` that serves it under `prefix` (e.g. `/pusher`): `PREFIX/x` is
    /// forwarded as `/x`, other paths get 404.
    pub async fn strip_prefix(upstream_port: u16, prefix: &str) -> Result<HttpProxy> {
        Self::start(Rules {
            upstreams: vec![upstream_port],
            cut_every: None,
            strip_prefix: Some(prefix.trim_end_matches('/').to_owned()),
        })
        .await
    }

    /// A load balancer over `127.0.0.1:<port>` for each of `upstream_ports`: request `n` (counted from 0
    /// over every request read) goes to `upstream_ports[n % len]`, unchanged. Fails when the list is empty.
    pub async fn round_robin(upstream_ports: &[u16]) -> Result<HttpProxy> {
        if upstream_ports.is_empty() {
            return Err(crate::Error::new("a round-robin proxy needs an upstream"));
        }
        Self::start(Rules {
            upstreams: upstream_ports.to_vec(),
            cut_every: None,
            strip_prefix: None,
        })
        .await
    }

    async fn start(rules: Rules) -> Result<HttpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(ProxyStats::default());
        let rules = Arc::new(rules);
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (stats, rules) = (task_stats.clone(), rules.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, &rules, &stats).await;
                });
            }
        });
        Ok(HttpProxy { port, stats, task })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it has seen so far.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }
}

/// One request head as read: request line parts and headers.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

async fn read_head(conn: &mut BufReader<TcpStream>) -> std::io::Result<Option<Head>> {
    let mut total = 0;
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    total += line.len();
    let mut parts = line.trim_end().splitn(3, ' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(std::io::Error::other("bad request line"));
    };
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers: Vec::new(),
    };
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("connection closed in the head"));
        }
        total += line.len();
        if total > MAX_HEAD {
            return Err(std::io::Error::other("head too large"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(Some(head));
        }
        if let Some((name, value)) = line.split_once(':') {
            head.headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
}

async fn serve(socket: TcpStream, rules: &Rules, stats: &ProxyStats) -> std::io::Result<()> {
    let mut conn = BufReader::new(socket);
    let Some(mut head) = read_head(&mut conn).await? else {
        return Ok(());
    };
    let length = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    let n = stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let upstream_port = rules.upstreams[(n - 1) % rules.upstreams.len().max(1)];

    if let Some(prefix) = &rules.strip_prefix {
        match head.target.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => head.target = rest.to_owned(),
            _ => {
                let reply = "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found";
                conn.get_mut().write_all(reply.as_bytes()).await?;
                return conn.get_mut().shutdown().await;
            }
        }
    }
    if let (Ok(mut paths), Ok(mut to)) = (stats.forwarded_paths.lock(), stats.forwarded_to.lock()) {
        paths.push(head.target.clone());
        to.push(upstream_port);
    }

    // Forward with `connection: close`, and read the whole response (the server closes after it).
    let mut request = format!("{} {} {}\r\n", head.method, head.target, head.version).into_bytes();
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    request.extend_from_slice(b"connection: close\r\n\r\n");
    request.extend_from_slice(&body);
    let exchange = async {
        let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
        upstream.write_all(&request).await?;
        let mut response = Vec::new();
        upstream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::other("upstream timed out"))??;

    if rules.cut_every.is_some_and(|every| n % every == 0) {
        // Processed upstream; the client gets the connection closed instead of the response.
        stats.cut.fetch_add(1, Ordering::SeqCst);
        return Ok(());
    }
    let socket = conn.get_mut();
    socket.write_all(&response).await?;
    socket.shutdown().await
}
