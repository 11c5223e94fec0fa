//! The HTTP seam: [`HttpBackend`] sends one signed request. The default backend is
//! [`HyperBackend`](crate::HyperBackend), a lean pooled keep-alive client on hyper-util (about 40% less client
//! CPU per request than reqwest); [`ReqwestBackend`] serves an application's own `reqwest::Client`
//! ([`PusherBuilder::http_client`](crate::PusherBuilder::http_client)) and `https://` proxies (SOCKS proxies are refused at `build()`).
//! Tests and unusual stacks plug in their own.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};

/// The value of the `X-Pusher-Library` header.
pub const LIBRARY_HEADER: &str = concat!("pusher-http-rust ", env!("CARGO_PKG_VERSION"));

/// The name of the library header ([`LIBRARY_HEADER`] is its value).
pub(crate) const LIBRARY_HEADER_NAME: &str = "X-Pusher-Library";
/// The `Content-Type` of every request body.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json";

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

/// One signed request, ready to send: a backend sends exactly this method, URL, headers and body.
///
/// Built by the client (or by the `*_request` methods of [`Pusher`](crate::Pusher)), never by hand; the
/// fields are public to read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The full URL, with the signed query string.
    pub url: String,
    /// The headers to send, names in canonical case: always `X-Pusher-Library` ([`LIBRARY_HEADER`]), and
    /// `Content-Type: application/json` with a body. (An idempotency key travels in the body, not in a
    /// header.)
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The JSON body of a POST.
    pub body: Option<Bytes>,
    /// The request's timeout.
    pub timeout: Duration,
}

impl HttpRequest {
    /// A request with the headers every request of this crate carries (see [`headers`](Self::headers)).
    pub(crate) fn new(method: Method, url: String, body: Option<Bytes>, timeout: Duration) -> Self {
        let mut headers = Vec::with_capacity(2);
        headers.push((LIBRARY_HEADER_NAME, Cow::Borrowed(LIBRARY_HEADER)));
        if body.is_some() {
            headers.push(("Content-Type", Cow::Borrowed(JSON_CONTENT_TYPE)));
        }
        HttpRequest {
            method,
            url,
            headers,
            body,
            timeout,
        }
    }

    /// The value of the header `name` (compared case-insensitively), if the request carries it.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let req = pusher.trigger_request("orders", "created", "{}", &Default::default()).unwrap();
    /// assert_eq!(req.header("content-type"), Some("application/json"));
    /// assert_eq!(req.header("X-Pusher-Library"), Some(pusher::http::LIBRARY_HEADER));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// A response: status, the `Retry-After` delay if any, and the body.
///
/// ```
/// use std::time::Duration;
/// let r = pusher::HttpResponse::new(429, "slow down").retry_after(Some(Duration::from_secs(2)));
/// assert_eq!((r.status, r.retry_after), (429, Some(Duration::from_secs(2))));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body (already capped by the backend).
    pub body: Bytes,
    /// The delay from a `Retry-After` header, when present and valid (see [`parse_retry_after`]).
    pub retry_after: Option<Duration>,
}

impl HttpResponse {
    /// A response with this status and body, without `Retry-After`.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        HttpResponse {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    /// Sets the delay of the response's `Retry-After` header (see [`parse_retry_after`]).
    #[must_use]
    pub fn retry_after(mut self, delay: Option<Duration>) -> Self {
        self.retry_after = delay;
        self
    }
}

/// The longest `Retry-After` delay [`parse_retry_after`] gives: one day. (The retry policy waits at most
/// its own [`max_delay`](crate::RetryPolicy::max_delay); this bounds what an error reports.)
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a `Retry-After` header value (RFC 9110 §10.2.3) into a delay from `now`: either delay-seconds
/// (`120`) or an HTTP-date in any of the three forms HTTP allows (`Sun, 06 Nov 1994 08:49:37 GMT`, the
/// obsolete RFC 850 and asctime forms). A date in the past is a zero delay; anything else invalid is
/// `None`. The result is capped at [`MAX_RETRY_AFTER`]. Linear in the length of `value`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pusher::http::parse_retry_after;
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
/// assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(77)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let delay = if value.bytes().all(|b| b.is_ascii_digit()) {
        // A number too large for u64 is "a long time", capped below.
        value
            .parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        // An HTTP-date is at most 30 bytes; anything much longer is not one.
        if value.len() > 64 {
            return None;
        }
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Sends requests for a [`Pusher`](crate::Pusher). Implement it to use another HTTP stack or to record
/// requests in tests. Send every header of [`HttpRequest::headers`] (the client fills in
/// `X-Pusher-Library` and, with a body, `Content-Type: application/json`) and nothing the request does not
/// say; report a connection that could not be opened with [`Error::transport`] and a message starting with
/// [`CONNECT_FAILED`](crate::retry::CONNECT_FAILED).
///
/// The client waits between retries with [`sleep`](Self::sleep), so that a backend running on another
/// executor than tokio brings its own timer.
#[async_trait]
pub trait HttpBackend: Send + Sync + 'static {
    /// Sends `request` and returns the response, or a transport error ([`Error::Timeout`],
    /// [`Error::Transport`], [`Error::ResponseTooLarge`]). A non-2xx status is *not* an error here.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse>;

    /// Waits `delay` before a retry. An error means "cannot wait here": the request is not retried and
    /// its own error is returned.
    ///
    /// The default uses tokio's timer when called inside a tokio runtime with its time driver (as
    /// `#[tokio::main]` and `enable_all` give), and otherwise returns [`Error::NoTimer`] (outside tokio,
    /// or in a runtime built without `enable_time`, where tokio's own timer would panic). A backend driven by another executor overrides it with that executor's timer
    /// (`async_io::Timer`, `smol::Timer`, a `futures-timer` `Delay`…).
    async fn sleep(&self, delay: Duration) -> Result<()> {
        default_sleep(delay).await
    }
}

/// The default [`HttpBackend::sleep`]: tokio's timer inside a tokio runtime that has one, otherwise
/// [`Error::NoTimer`].
pub async fn default_sleep(delay: Duration) -> Result<()> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::NoTimer);
    }
    // Tokio offers no way to ask whether the runtime has its time driver: creating the timer panics when it
    // does not (a runtime built without `enable_time`). That panic is turned into the same typed error; with
    // `panic = "abort"` it aborts, as tokio's own use of the timer would.
    match std::panic::catch_unwind(|| tokio::time::sleep(delay)) {
        Ok(sleep) => {
            sleep.await;
            Ok(())
        }
        Err(_) => Err(Error::NoTimer),
    }
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

fn transport(e: reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        return Error::Timeout(timeout);
    }
    let message = if e.is_connect() {
        crate::retry::CONNECT_FAILED
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    // reqwest's error is kept as the source (its chain tells "connection refused" from "reset"), without
    // the URL (no secret, but a signature and long): messages stay short.
    Error::transport(message, Some(Box::new(e.without_url())))
}

#[async_trait]
impl HttpBackend for ReqwestBackend {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let timeout = request.timeout;
        let mut rb = match request.method {
            Method::Get => self.client.get(&request.url),
            Method::Post => self.client.post(&request.url),
        }
        .timeout(timeout);
        // Exactly the request's headers: the client filled them in.
        for (name, value) in request.headers {
            rb = rb.header(name, value.into_owned());
        }
        if let Some(body) = request.body {
            rb = rb.body(body);
        }
        let fut = async {
            let resp = rb.send().await.map_err(|e| transport(e, timeout))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            if resp
                .content_length()
                .is_some_and(|n| n > self.max_response_bytes as u64)
            {
                return Err(Error::ResponseTooLarge {
                    limit: self.max_response_bytes,
                });
            }
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| transport(e, timeout))? {
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
