//! The HTTP seam: [`HttpBackend`] sends one signed request. The default backend is reqwest with one pooled
//! keep-alive client; tests and unusual stacks plug in their own.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::error::{Error, Result};

/// The value of the `X-Pusher-Library` header.
pub const LIBRARY_HEADER: &str = concat!("pusher-http-rust ", env!("CARGO_PKG_VERSION"));

/// An HTTP method used by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// GET, for queries.
    Get,
    /// POST, for triggers and commands.
    Post,
}

impl Method {
    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One signed request, ready to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The full URL, with the signed query string.
    pub url: String,
    /// The JSON body of a POST (sent with `Content-Type: application/json`).
    pub body: Option<Bytes>,
    /// The request's timeout.
    pub timeout: Duration,
}

/// A response: status, the `Retry-After` delay if any, and the body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body (already capped by the backend).
    pub body: Bytes,
    /// The delay in seconds from a `Retry-After` header, when present.
    pub retry_after: Option<Duration>,
}

/// Sends requests for a [`Pusher`](crate::Pusher). Implement it to use another HTTP stack or to record
/// requests in tests. Every request carries `X-Pusher-Library` ([`LIBRARY_HEADER`]) and, with a body,
/// `Content-Type: application/json`.
#[async_trait]
pub trait HttpBackend: Send + Sync + 'static {
    /// Sends `request` and returns the response, or a transport error ([`Error::Timeout`],
    /// [`Error::Transport`], [`Error::ResponseTooLarge`]). A non-2xx status is *not* an error here.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse>;
}

/// The default backend: one `reqwest::Client` (connection pool with keep-alive) shared by every clone of
/// the `Pusher`, with response bodies capped.
#[derive(Debug, Clone)]
pub struct ReqwestBackend {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl ReqwestBackend {
    /// A backend with its own client; `proxy` overrides the environment's proxy settings.
    pub fn new(proxy: Option<&str>, max_response_bytes: usize) -> Result<Self> {
        // The API never redirects (a signed POST must not be replayed elsewhere) and retries are this
        // crate's own policy (`RetryPolicy`): both of reqwest's layers are turned off, which also saves
        // their per-request work (a URL parse and a clone of every request).
        let mut builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never());
        if let Some(p) = proxy {
            let proxy = reqwest::Proxy::all(p)
                .map_err(|_| Error::config("proxy", "is not a valid proxy URL"))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("http_client", format!("could not be built: {e}")))?;
        Ok(Self::with_client(client, max_response_bytes))
    }

    /// A backend around an existing client.
    pub fn with_client(client: reqwest::Client, max_response_bytes: usize) -> Self {
        ReqwestBackend {
            client,
            max_response_bytes,
        }
    }
}

fn transport(e: &reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        return Error::Timeout(timeout);
    }
    // The source chain tells "connection refused" from "reset"; the URL (which has no secret, only a
    // signature) is dropped to keep messages short.
    let mut msg = if e.is_connect() {
        String::from("connect failed")
    } else if e.is_body() || e.is_decode() {
        String::from("reading the response failed")
    } else {
        String::from("request failed")
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Transport(msg)
}

#[async_trait]
impl HttpBackend for ReqwestBackend {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let timeout = request.timeout;
        let mut rb = match request.method {
            Method::Get => self.client.get(&request.url),
            Method::Post => self.client.post(&request.url),
        }
        .timeout(timeout)
        .header("X-Pusher-Library", LIBRARY_HEADER);
        if let Some(body) = request.body {
            rb = rb.header("Content-Type", "application/json").body(body);
        }
        let fut = async {
            let resp = rb.send().await.map_err(|e| transport(&e, timeout))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            if resp
                .content_length()
                .is_some_and(|n| n > self.max_response_bytes as u64)
            {
                return Err(Error::ResponseTooLarge {
                    limit: self.max_response_bytes,
                });
            }
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| transport(&e, timeout))?;
                if body.len() + chunk.len() > self.max_response_bytes {
                    return Err(Error::ResponseTooLarge {
                        limit: self.max_response_bytes,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                body: Bytes::from(body),
                retry_after,
            })
        };
        fut.await
    }
}
