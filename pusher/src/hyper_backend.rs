//! A lean [`HttpBackend`] on hyper-util's pooled client ([`HyperBackend`]), and the rule that picks the
//! built-in backend ([`default_backend`]).
//!
//! Against a local sink, reqwest's layers above hyper (its `Url` parses, request and response wrappers,
//! the per-request timeout and proxy lookup) cost about as much client CPU as hyper itself; this backend
//! sends the request straight to hyper-util's `legacy::Client` and keeps only what the API needs:
//!
//! * one pooled keep-alive client (HTTP/1.1; HTTP/2 when TLS negotiates `h2` through ALPN, with rustls),
//! * TLS with the crates and settings of reqwest 0.13 in this build: rustls with the process's default
//!   crypto provider or aws-lc-rs and the platform's verifier (`rustls`), or the platform's native library
//!   (`native-tls`, which wins when both features are on, as in reqwest),
//! * HTTP proxies: an explicit one, or `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` read with the
//!   matcher reqwest uses; plain-HTTP requests go to the proxy in absolute form, HTTPS through a `CONNECT`
//!   tunnel, with the proxy URL's credentials as `Proxy-Authorization`,
//! * the response body capped at `max_response_bytes` whether or not it has a `Content-Length`, the whole
//!   exchange bounded by the request's timeout ([`Error::Timeout`]), `Retry-After` parsed with
//!   [`parse_retry_after`].
//!
//! Proxies reached over HTTPS (`https://` proxy URLs) and SOCKS proxies are not handled here:
//! [`default_backend`] keeps [`ReqwestBackend`] for them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::Body as _;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use hyper::http::uri::Scheme;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tower_service::Service;

use crate::error::{Error, Result};
use crate::http::{
    HttpBackend, HttpRequest, HttpResponse, LIBRARY_HEADER, Method, ReqwestBackend,
    parse_retry_after,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector of this build: TCP (through a proxy when one applies) under the TLS backend compiled in.
#[cfg(feature = "native-tls")]
type Transport = hyper_tls::HttpsConnector<ProxyConnector>;
#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
type Transport = hyper_rustls::HttpsConnector<ProxyConnector>;
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
type Transport = ProxyConnector;

/// Whether this build can speak TLS (a `rustls` or `native-tls` feature).
const HAS_TLS: bool = cfg!(any(feature = "rustls", feature = "native-tls"));

/// The environment variables that configure proxies (read by hyper-util's matcher, as in reqwest).
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

static X_PUSHER_LIBRARY: HeaderName = HeaderName::from_static("x-pusher-library");

/// A backend on hyper-util's pooled `legacy::Client`: the same behaviour as [`ReqwestBackend`] (pooled
/// keep-alive connections, HTTP/2 through ALPN with rustls, TLS, HTTP proxies from the builder or the
/// environment, capped bodies, typed timeouts), with less work per request. See the
/// [module documentation](self) for what it covers; [`default_backend`] picks it.
#[derive(Clone)]
pub struct HyperBackend {
    client: Client<Transport, Full<Bytes>>,
    max_response_bytes: usize,
    /// The proxy settings, `None` when no proxy is configured at all (then no per-request lookup).
    proxy: Option<Arc<Matcher>>,
}

impl std::fmt::Debug for HyperBackend {
    // The proxy URL may hold credentials: only whether one is configured is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperBackend")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

/// Where the proxy settings of a backend come from.
enum ProxySource<'a> {
    /// `PusherBuilder::proxy`: every request goes through it, the environment is ignored.
    Explicit(&'a str),
    /// The environment variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    Environment,
}

impl HyperBackend {
    /// A backend with its own pooled client. `proxy` (an `http://` proxy URL, optionally with
    /// `user:password@`) overrides the environment's proxy settings; without it, `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their lower-case forms) are honoured as reqwest does.
    ///
    /// Errors: an invalid proxy URL ([`Error::Config`]), a proxy URL that is not `http://` (use
    /// [`ReqwestBackend`] for those, as [`default_backend`] does), or a TLS library that cannot be set up.
    pub fn new(proxy: Option<&str>, max_response_bytes: usize) -> Result<Self> {
        let source = match proxy {
            Some(p) => ProxySource::Explicit(p),
            None => ProxySource::Environment,
        };
        Self::with_proxy_source(source, max_response_bytes)
    }

    fn with_proxy_source(source: ProxySource<'_>, max_response_bytes: usize) -> Result<Self> {
        let proxy = match source {
            ProxySource::Explicit(url) => Some(Arc::new(explicit_proxy(url)?)),
            ProxySource::Environment => environment_proxy().map(Arc::new),
        };
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // The TLS layer above decides on the scheme; this layer only opens TCP connections.
        http.enforce_http(false);
        let connector = transport(ProxyConnector {
            http,
            proxy: proxy.clone(),
        })?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(HyperBackend {
            client,
            max_response_bytes,
            proxy,
        })
    }

    /// Reads the response body up to the cap, keeping a body that arrives in one piece without copying.
    async fn read_body(&self, mut body: hyper::body::Incoming) -> Result<Bytes> {
        let limit = self.max_response_bytes;
        let too_large = || Error::ResponseTooLarge { limit };
        // A declared `Content-Length` over the cap fails before anything is read.
        if body.size_hint().lower() > limit as u64 {
            return Err(too_large());
        }
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transport_error(&e, "reading the response failed"))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let had = first.as_ref().map_or(0, Bytes::len) + rest.len();
            if had + data.len() > limit {
                return Err(too_large());
            }
            match first.take() {
                None if rest.is_empty() => first = Some(data),
                None => rest.extend_from_slice(&data),
                Some(f) => {
                    rest.reserve(f.len() + data.len());
                    rest.extend_from_slice(&f);
                    rest.extend_from_slice(&data);
                }
            }
        }
        Ok(match first {
            Some(f) => f,
            None => Bytes::from(rest),
        })
    }
}

/// The headers of `request`: `X-Pusher-Library`, and `Content-Type: application/json` with a body.
/// (Exactly the request's headers: when `HttpRequest` carries its own list, this is where it is copied.)
fn request_headers(request: &HttpRequest) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(
        X_PUSHER_LIBRARY.clone(),
        HeaderValue::from_static(LIBRARY_HEADER),
    );
    if request.body.is_some() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers
}

#[async_trait]
impl HttpBackend for HyperBackend {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let timeout = request.timeout;
        let mut headers = request_headers(&request);
        let HttpRequest {
            method, url, body, ..
        } = request;
        // `Uri` takes the `String`'s buffer as is (no copy).
        let uri = Uri::try_from(url)
            .map_err(|_| Error::Transport(String::from("the request URL is not a valid URI")))?;
        if uri.scheme() == Some(&Scheme::HTTPS) && !HAS_TLS {
            return Err(Error::Transport(String::from(
                "https needs a TLS backend: enable the `rustls` or `native-tls` feature",
            )));
        }
        // A plain-HTTP request through a proxy carries the proxy's credentials itself (an HTTPS one sends
        // them on the CONNECT).
        let proxy_auth = match &self.proxy {
            Some(proxy) if uri.scheme() == Some(&Scheme::HTTP) => {
                proxy.intercept(&uri).and_then(|i| i.basic_auth().cloned())
            }
            _ => None,
        };
        if let Some(auth) = proxy_auth {
            headers.insert(PROXY_AUTHORIZATION, auth);
        }
        let mut req = hyper::Request::new(Full::new(body.unwrap_or_default()));
        *req.method_mut() = match method {
            Method::Get => hyper::Method::GET,
            Method::Post => hyper::Method::POST,
        };
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| client_error(&e))?;
            let (parts, body) = resp.into_parts();
            let retry_after = parts
                .headers
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = self.read_body(body).await?;
            Ok(HttpResponse {
                status: parts.status.as_u16(),
                body,
                retry_after,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

/// The backend `PusherBuilder::build` uses when neither `backend(..)` nor `http_client(..)` is given:
/// [`HyperBackend`], except when the proxy it would use is not a plain `http://` proxy (an `https://` or
/// SOCKS proxy URL, given with `proxy(..)` or, without it, in `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` or
/// their lower-case forms), which [`ReqwestBackend`] handles.
pub fn default_backend(
    proxy: Option<&str>,
    max_response_bytes: usize,
) -> Result<Arc<dyn HttpBackend>> {
    let lean = match proxy {
        Some(p) => is_http_proxy(p),
        None => PROXY_VARS.iter().all(|var| match std::env::var(var) {
            Ok(v) => v.trim().is_empty() || is_http_proxy(&v),
            Err(_) => true,
        }),
    };
    Ok(if lean {
        Arc::new(HyperBackend::new(proxy, max_response_bytes)?)
    } else {
        Arc::new(ReqwestBackend::new(proxy, max_response_bytes)?)
    })
}

/// Whether a proxy URL is one [`HyperBackend`] handles: `http://` or no scheme (which means `http`).
fn is_http_proxy(url: &str) -> bool {
    let url = url.trim();
    match url.split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("http"),
        None => true,
    }
}

fn explicit_proxy(url: &str) -> Result<Matcher> {
    let invalid = || Error::config("proxy", "is not a valid proxy URL");
    if !is_http_proxy(url) {
        return Err(Error::config(
            "proxy",
            "must be an http:// proxy URL for HyperBackend (ReqwestBackend handles https:// and SOCKS)",
        ));
    }
    let matcher = Matcher::builder().all(url.trim().to_owned()).build();
    // The matcher drops a URL it cannot parse: it must intercept an arbitrary destination.
    let probe = Uri::from_static("http://example.com/");
    match matcher.intercept(&probe) {
        Some(i) if i.uri().host().is_some_and(|h| !h.is_empty()) => Ok(matcher),
        _ => Err(invalid()),
    }
}

/// The environment's proxy settings, or `None` when no proxy variable is set (no lookups per request).
fn environment_proxy() -> Option<Matcher> {
    let any = PROXY_VARS
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
    any.then(Matcher::from_env)
}

#[cfg(feature = "native-tls")]
fn transport(inner: ProxyConnector) -> Result<Transport> {
    let tls = native_tls::TlsConnector::new()
        .map_err(|e| Error::config("http_client", format!("TLS could not be set up: {e}")))?;
    Ok(hyper_tls::HttpsConnector::from((
        inner,
        tokio_native_tls::TlsConnector::from(tls),
    )))
}

#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
fn transport(inner: ProxyConnector) -> Result<Transport> {
    let failed = |e: rustls::Error| {
        Error::config("http_client", format!("TLS could not be set up: {e}"))
    };
    // As reqwest 0.13 with its `rustls` feature: the process's default provider if one is installed,
    // otherwise aws-lc-rs; the platform's certificate verifier; ALPN h2 then http/1.1.
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(failed)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(inner))
}

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
fn transport(inner: ProxyConnector) -> Result<Transport> {
    Ok(inner)
}

fn client_error(e: &hyper_util::client::legacy::Error) -> Error {
    let what = if e.is_connect() {
        "connect failed"
    } else {
        "request failed"
    };
    transport_error(e, what)
}

/// A transport error: `what`, then the error's source chain (which tells "connection refused" from
/// "reset", and names a refused certificate). The URL is not part of it.
fn transport_error(e: &(dyn std::error::Error + 'static), what: &str) -> Error {
    let mut msg = String::from(what);
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Transport(msg)
}

/// Opens TCP connections: to the destination, or through the proxy that applies to it (a `CONNECT`
/// tunnel for HTTPS, a connection to the proxy marked as proxied for plain HTTP, so that the client sends
/// the request in absolute form).
#[derive(Clone)]
pub struct ProxyConnector {
    http: HttpConnector,
    proxy: Option<Arc<Matcher>>,
}

impl std::fmt::Debug for ProxyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConnector")
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxiedStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<ProxiedStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let via = self.proxy.as_deref().and_then(|m| m.intercept(&dst));
        Box::pin(async move {
            let Some(via) = via else {
                let io = http.call(dst).await?;
                return Ok(ProxiedStream { io, proxied: false });
            };
            if via.uri().scheme() != Some(&Scheme::HTTP) {
                return Err(BoxError::from(
                    "only http:// proxies are supported by HyperBackend",
                ));
            }
            if dst.scheme() == Some(&Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(via.uri().clone(), http);
                if let Some(auth) = via.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel.call(dst).await?;
                Ok(ProxiedStream { io, proxied: false })
            } else {
                let io = http.call(via.uri().clone()).await?;
                Ok(ProxiedStream { io, proxied: true })
            }
        })
    }
}

/// A TCP connection opened by [`ProxyConnector`], marked as proxied when it goes to an HTTP proxy.
#[derive(Debug)]
pub struct ProxiedStream {
    io: TokioIo<tokio::net::TcpStream>,
    proxied: bool,
}

impl Connection for ProxiedStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for ProxiedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxiedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
