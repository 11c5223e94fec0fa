//! A tiny HTTP receiver for the webhooks sockudo sends: it records every POST (headers and raw body) and
//! answers 200.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// The largest request head or body the receiver reads.
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// One webhook request as received.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    /// The request path.
    pub path: String,
    /// The headers, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body, exactly as sent (what the signature covers).
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at: Instant,
    /// The status the receiver answered (200, or 503 for a first delivery with
    /// [`WebhookSink::start_failing_first`]).
    pub answered: u16,
}

impl ReceivedWebhook {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parsed body (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body's events (empty when there are none).
    pub fn events(&self) -> Vec<Value> {
        match self.json().get("events") {
            Some(Value::Array(events)) => events.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the body holds an event with this `name` on this `channel`.
    pub fn has_event(&self, name: &str, channel: &str) -> bool {
        self.events()
            .iter()
            .any(|e| e["name"] == name && e["channel"] == channel)
    }
}

/// An HTTP listener on a free loopback port collecting webhooks; stops when dropped.
#[derive(Debug)]
pub struct WebhookSink {
    url: String,
    queue: Mutex<Queue>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Queue {
    rx: mpsc::UnboundedReceiver<ReceivedWebhook>,
    backlog: VecDeque<ReceivedWebhook>,
}

impl WebhookSink {
    /// Listens on `127.0.0.1:<free port>`; the webhook URL is `http://127.0.0.1:<port>/pusher/webhooks`.
    pub async fn start() -> Result<WebhookSink> {
        WebhookSink::start_inner(false).await
    }

    /// Like [`start`](Self::start), but the first delivery of each distinct body is answered 503 (it is
    /// still recorded, as an endpoint that handled the webhook but whose answer was lost): the server
    /// delivers it again when its webhook retries are on, and the receiver sees each webhook at least twice.
    pub async fn start_failing_first() -> Result<WebhookSink> {
        WebhookSink::start_inner(true).await
    }

    async fn start_inner(fail_first: bool) -> Result<WebhookSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::unbounded_channel();
        let seen: Seen = fail_first.then(Arc::default);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, seen) = (tx.clone(), seen.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, tx, seen).await;
                });
            }
        });
        Ok(WebhookSink {
            url: format!("http://127.0.0.1:{port}/pusher/webhooks"),
            queue: Mutex::new(Queue {
                rx,
                backlog: VecDeque::new(),
            }),
            task,
        })
    }

    /// The URL to configure as the webhook target.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first webhook (received so far or within `timeout`) matching `predicate`; it is removed, the others
    /// stay queued for later calls.
    pub async fn next_matching(
        &self,
        predicate: impl Fn(&ReceivedWebhook) -> bool,
        timeout: Duration,
    ) -> Result<ReceivedWebhook> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut queue = self.queue.lock().await;
        if let Some(i) = queue.backlog.iter().position(&predicate) {
            if let Some(hook) = queue.backlog.remove(i) {
                return Ok(hook);
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, queue.rx.recv()).await {
                Ok(Some(hook)) if predicate(&hook) => return Ok(hook),
                Ok(Some(hook)) => queue.backlog.push_back(hook),
                Ok(None) => return Err(Error::new("webhook listener stopped")),
                Err(_) => {
                    let seen: Vec<String> = queue
                        .backlog
                        .iter()
                        .map(|h| String::from_utf8_lossy(&h.body).into_owned())
                        .collect();
                    return Err(Error::new(format!(
                        "no matching webhook within {timeout:?}; received otherwise:\n{}",
                        seen.join("\n")
                    )));
                }
            }
        }
    }

    /// The first webhook holding an event `name` on `channel`, within `timeout`.
    pub async fn wait_event(
        &self,
        name: &str,
        channel: &str,
        timeout: Duration,
    ) -> Result<ReceivedWebhook> {
        self.next_matching(|h| h.has_event(name, channel), timeout)
            .await
            .map_err(|e| Error::new(format!("webhook {name} for {channel}: {e}")))
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bodies delivered so far, when first deliveries are refused.
type Seen = Option<Arc<std::sync::Mutex<HashSet<Vec<u8>>>>>;

/// Serves HTTP/1.1 requests on one connection (keep-alive) until it closes.
async fn serve(
    mut stream: TcpStream,
    tx: mpsc::UnboundedSender<ReceivedWebhook>,
    seen: Seen,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_REQUEST || !read_more(&mut stream, &mut buf).await? {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        buf.drain(..head_end + 4);
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            read_chunked(&mut stream, &mut buf).await?
        } else {
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            if length > MAX_REQUEST {
                return Err(Error::new("webhook body too large"));
            }
            while buf.len() < length {
                if !read_more(&mut stream, &mut buf).await? {
                    return Err(Error::new("connection closed mid-body"));
                }
            }
            buf.drain(..length).collect()
        };
        let first = seen
            .as_ref()
            .and_then(|s| s.lock().ok().map(|mut s| s.insert(body.clone())))
            .unwrap_or(false);
        let answered = if first { 503 } else { 200 };
        let _ = tx.send(ReceivedWebhook {
            path,
            headers,
            body,
            received_at: Instant::now(),
            answered,
        });
        let reply: &[u8] = if first {
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        };
        stream.write_all(reply).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            if !read_more(stream, buf).await? {
                return Err(Error::new("connection closed mid-chunk"));
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| Error::new(format!("bad chunk size {size_hex:?}")))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                if let Some(i) = find(buf, b"\r\n") {
                    let empty = i == 0;
                    buf.drain(..i + 2);
                    if empty {
                        return Ok(body);
                    }
                    continue;
                }
                if !read_more(stream, buf).await? {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_REQUEST {
            return Err(Error::new("webhook body too large"));
        }
        while buf.len() < size + 2 {
            if !read_more(stream, buf).await? {
                return Err(Error::new("connection closed mid-chunk"));
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
