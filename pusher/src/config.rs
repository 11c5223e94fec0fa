//! Configuration: [`PusherBuilder`], `PUSHER_URL` parsing, and the redacting [`Secret`] type.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::time::SystemTime;

use crate::channel::Limits;
use crate::client::{Clock, Parts, Pusher};
use crate::encryption::MasterKey;
use crate::error::{Error, Result};
use crate::http::{HttpBackend, ReqwestBackend};
use crate::request::check_sub_path;
use crate::retry::RetryPolicy;

/// The default request timeout (as in the Python library).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default largest event `data`, in UTF-8 bytes of what is sent: 10 KB, the multi-tenant clusters'
/// limit. Dedicated clusters and self-hosted servers may allow more ([`PusherBuilder::max_data_bytes`]).
pub const DEFAULT_MAX_DATA_BYTES: usize = 10 * 1024;
/// The default most events per batch: 10, the multi-tenant clusters' limit.
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 10;
/// The default webhook freshness window: `time_ms` may be at most this far from now, in either direction.
///
/// 600 s: a server sets `time_ms` when it creates a webhook and keeps it across its retries, and Pusher
/// retries for 5 minutes, so the last retries arrive up to 300 s after `time_ms`, later still with clock
/// skew between the server and this host. 600 s covers the retry window plus 300 s of skew, and is the
/// window servers apply to signed API requests. (The Python library's 300 s refuses late retries, whose
/// events are then lost.)
pub const DEFAULT_WEBHOOK_TOLERANCE: Duration = Duration::from_secs(600);
/// The default largest webhook body a framework integration reads: 1 MiB.
pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;
/// The default cap on a response body read from the API: 4 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The default cluster.
pub const DEFAULT_CLUSTER: &str = "mt1";

/// A secret string whose `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An extra key and secret accepted on incoming webhooks, for key rotation
/// ([`PusherBuilder::extra_webhook_token`]).
#[derive(Clone, Debug)]
struct WebhookToken {
    /// The key sent in `X-Pusher-Key`.
    key: String,
    /// The secret that signs the body.
    secret: Secret,
}

/// The constructors: a [`PusherBuilder`], or a `PUSHER_URL`.
impl Pusher {
    /// Starts configuring a client for the app with this id, key and secret.
    pub fn builder(app_id: &str, key: &str, secret: &str) -> PusherBuilder {
        PusherBuilder::new(app_id, key, secret)
    }

    /// A client from a URL of the form `http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID`.
    ///
    /// ```
    /// let p = pusher::Pusher::from_url("http://app-key:app-secret@127.0.0.1:6001/apps/app-id").unwrap();
    /// assert_eq!(p.base_url(), "http://127.0.0.1:6001");
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        PusherUrl::parse(url)?.into_builder().build()
    }

    /// A client from the `PUSHER_URL` environment variable (see [`Pusher::from_url`]).
    pub fn from_env() -> Result<Self> {
        Self::from_env_var("PUSHER_URL")
    }

    /// A client from the URL in the environment variable `name`.
    pub fn from_env_var(name: &str) -> Result<Self> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Self::from_url(&v),
            _ => Err(Error::config(
                "url",
                format!("environment variable {name} is not set"),
            )),
        }
    }
}

/// Builds a [`Pusher`]. Create one with [`Pusher::builder`].
///
/// ```
/// use std::time::Duration;
/// let pusher = pusher::Pusher::builder("123", "key", "secret")
///     .cluster("eu")
///     .timeout(Duration::from_secs(2))
///     .encryption_master_key_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
///     .build()
///     .unwrap();
/// assert_eq!(pusher.base_url(), "https://api-eu.pusher.com");
/// ```
#[must_use]
pub struct PusherBuilder {
    app_id: String,
    key: String,
    secret: String,
    cluster: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    use_tls: bool,
    timeout: Duration,
    master_key_base64: Option<String>,
    master_key_raw: Option<Vec<u8>>,
    max_data_bytes: usize,
    max_batch_events: usize,
    /// `None` until set: the default applies, and a custom backend may be used.
    max_response_bytes: Option<usize>,
    limits: Limits,
    webhook_tolerance: Option<Duration>,
    webhook_body_limit: usize,
    webhook_tokens: Vec<WebhookToken>,
    client: Option<reqwest::Client>,
    backend: Option<Arc<dyn HttpBackend>>,
    proxy: Option<String>,
    retry: RetryPolicy,
    chunked_events: bool,
    path_prefix: Option<String>,
    clock: Option<Clock>,
}

impl fmt::Debug for PusherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherBuilder")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("secret", &"[redacted]")
            .field("cluster", &self.cluster)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("use_tls", &self.use_tls)
            .finish_non_exhaustive()
    }
}

impl PusherBuilder {
    pub(crate) fn new(app_id: &str, key: &str, secret: &str) -> Self {
        PusherBuilder {
            app_id: app_id.to_owned(),
            key: key.to_owned(),
            secret: secret.to_owned(),
            cluster: None,
            host: None,
            port: None,
            use_tls: true,
            timeout: DEFAULT_TIMEOUT,
            master_key_base64: None,
            master_key_raw: None,
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            max_response_bytes: None,
            limits: Limits::DOCUMENTED,
            webhook_tolerance: Some(DEFAULT_WEBHOOK_TOLERANCE),
            webhook_body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
            webhook_tokens: Vec::new(),
            client: None,
            backend: None,
            proxy: None,
            retry: RetryPolicy::default(),
            chunked_events: false,
            path_prefix: None,
            clock: None,
        }
    }

    /// The cluster (default `mt1`): the API host becomes `api-<cluster>.pusher.com`. Ignored when
    /// [`host`](Self::host) is set.
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }

    /// The API host, overriding the cluster (e.g. `127.0.0.1` for a self-hosted server).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The path a self-hosted server is mounted under behind a reverse proxy (`/pusher`: requests go to
    /// `https://host/pusher/apps/ID/...`), like Reverb's `path` option and the PHP library's `path`.
    ///
    /// The prefix is sent but **not signed**: the signature covers `/apps/ID/...` only, the path the server
    /// checks once the proxy has stripped the prefix (Reverb strips its `path` before checking signatures;
    /// sockudo checks the path it receives). A trailing `/` is dropped and `""` or `"/"` means no prefix;
    /// `build()` refuses a prefix that does not start with `/`, holds characters outside
    /// `[A-Za-z0-9-._~!$&'()*+,;=:@/]` or has `.`/`..` segments. `PUSHER_URL` carries it as
    /// `https://KEY:SECRET@HOST/pusher/apps/ID`. The WebSocket is served under it too
    /// ([`Pusher::client_options`] gives pusher-js its `wsPath`).
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret")
    ///     .host("example.com")
    ///     .path_prefix("/pusher")
    ///     .build()
    ///     .unwrap();
    /// let req = pusher.trigger_request("orders", "created", "{}", &Default::default()).unwrap();
    /// assert!(req.url.starts_with("https://example.com/pusher/apps/1/events?"));
    /// ```
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// The port (default 443 with TLS, 80 without).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Whether to use HTTPS (default `true`).
    pub fn use_tls(mut self, use_tls: bool) -> Self {
        self.use_tls = use_tls;
        self
    }

    /// The timeout of each request (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The end-to-end encryption master key as base64 of 32 bytes (checked by `build()`).
    pub fn encryption_master_key_base64(mut self, key: impl Into<String>) -> Self {
        self.master_key_base64 = Some(key.into());
        self
    }

    /// The end-to-end encryption master key as 32 raw bytes (checked by `build()`).
    pub fn encryption_master_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.master_key_raw = Some(key.into());
        self
    }

    /// The largest event `data` accepted before sending, in UTF-8 bytes of what is sent (default 10 KB).
    /// Raise it for a dedicated cluster or a self-hosted server with a higher limit.
    pub fn max_data_bytes(mut self, bytes: usize) -> Self {
        self.max_data_bytes = bytes;
        self
    }

    /// The most events per batch accepted before sending (default 10).
    pub fn max_batch_events(mut self, events: usize) -> Self {
        self.max_batch_events = events;
        self
    }

    /// The limits on channel names, user ids, `user_info` and watchlists checked before signing or sending
    /// (default: the Channels documentation's, [`Limits::DOCUMENTED`]). Raise them for a self-hosted server
    /// that allows more; `build()` refuses limits under which a valid user id makes an invalid
    /// `#server-to-user-` channel.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The cap on a response body read from the API (default 4 MiB); a larger body is an error. It applies
    /// to the built-in backends (hyper by default, reqwest with [`http_client`](Self::http_client) or an
    /// `https://` proxy); `build()` refuses it
    /// together with a custom [`backend`](Self::backend), which enforces its own cap.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = Some(bytes);
        self
    }

    /// How far a webhook's `time_ms` may be from now, either way (default [`DEFAULT_WEBHOOK_TOLERANCE`],
    /// 600 s: the server's retry window plus clock skew). Keep it above the server's retry window, or late
    /// retries are refused and their events lost. `None` turns the check
    /// off, which makes replayed webhooks valid forever.
    pub fn webhook_tolerance(mut self, tolerance: Option<Duration>) -> Self {
        self.webhook_tolerance = tolerance;
        self
    }

    /// The largest webhook body the framework integrations read (default 1 MiB).
    pub fn webhook_body_limit(mut self, bytes: usize) -> Self {
        self.webhook_body_limit = bytes;
        self
    }

    /// Also accept webhooks signed with this key and secret (key rotation). `build()` refuses an empty key
    /// or secret.
    pub fn extra_webhook_token(
        mut self,
        key: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.webhook_tokens.push(WebhookToken {
            key: key.into(),
            secret: Secret::new(secret),
        });
        self
    }

    /// Sends requests through this `reqwest::Client` (its pool, proxy and TLS settings). `build()` refuses it
    /// together with [`backend`](Self::backend) or [`proxy`](Self::proxy): set the proxy on the client.
    /// This is how to trust a private CA, e.g. for a self-hosted server with its own certificate:
    ///
    /// ```no_run
    /// let ca = reqwest::Certificate::from_pem(&std::fs::read("ca.pem")?)?;
    /// let client = reqwest::Client::builder().tls_certs_merge([ca]).build()?;
    /// let pusher = pusher::Pusher::builder("app-id", "key", "secret")
    ///     .host("pusher.internal")
    ///     .http_client(client)
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Sends requests through any [`HttpBackend`] (a recording backend in tests, another HTTP stack…).
    /// `build()` refuses it together with [`http_client`](Self::http_client), [`proxy`](Self::proxy) or
    /// [`max_response_bytes`](Self::max_response_bytes), which only configure the built-in backend.
    pub fn backend(mut self, backend: impl HttpBackend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// Sends every request through this HTTP(S) proxy. Without it, the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
    /// environment variables are honoured. `build()` refuses it together with
    /// [`http_client`](Self::http_client) or [`backend`](Self::backend).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// The retry policy (default: GETs retried twice with backoff, POSTs not retried; see [`RetryPolicy`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether every trigger sends data over [`max_data_bytes`](Self::max_data_bytes) as `chunked-<event>`
    /// events that the client reassembles ([`crate::chunked`]), as if each call set
    /// [`TriggerOptions::chunked`](crate::TriggerOptions::chunked) (default `false`: such data is refused
    /// with [`Error::Validation`]). Batches and fan-outs are never chunked.
    pub fn chunked_events(mut self, yes: bool) -> Self {
        self.chunked_events = yes;
        self
    }

    /// The clock the client reads the time from (request timestamps, webhook freshness; default the
    /// system clock): for tests, or a host whose clock is known to be off.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let pusher = pusher::Pusher::builder("1", "key", "secret")
    ///     .clock(|| UNIX_EPOCH + Duration::from_secs(1_353_088_179))
    ///     .build()
    ///     .unwrap();
    /// let req = pusher.channels_request(None, &[]).unwrap();
    /// assert!(req.url.contains("auth_timestamp=1353088179"));
    /// ```
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the configuration and builds a [blocking client](crate::blocking::Pusher) (feature
    /// `blocking`), with every option of this builder.
    ///
    /// ```no_run
    /// let pusher = pusher::Pusher::builder("APP_ID", "KEY", "SECRET").cluster("eu").build_blocking()?;
    /// pusher.trigger("orders", "created", &serde_json::json!({"id": 42}))?;
    /// # Ok::<(), pusher::Error>(())
    /// ```
    #[cfg(feature = "blocking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
    pub fn build_blocking(self) -> Result<crate::blocking::Pusher> {
        crate::blocking::Pusher::new(self.build()?)
    }

    /// Checks the configuration and builds the client.
    ///
    /// Refused with [`Error::Config`]: a bad app id, key or host; an empty secret (anyone could then forge
    /// webhooks and auth signatures), also for an extra webhook token; a bad master key; a zero timeout
    /// or batch size; and conflicting transport options — at most one of [`backend`](Self::backend),
    /// [`http_client`](Self::http_client) and [`proxy`](Self::proxy), and no
    /// [`max_response_bytes`](Self::max_response_bytes) with a custom backend.
    pub fn build(self) -> Result<Pusher> {
        validate_app_id(&self.app_id)?;
        if self.secret.is_empty() {
            return Err(Error::config("secret", "must not be empty"));
        }
        if self.key.is_empty()
            || self.key.contains(':')
            || self.key.chars().any(char::is_whitespace)
        {
            return Err(Error::config(
                "key",
                "must be non-empty, without ':' or whitespace",
            ));
        }
        let host = match (&self.host, &self.cluster) {
            (Some(h), _) => h.clone(),
            (None, Some(c)) => format!("api-{c}.pusher.com"),
            (None, None) => format!("api-{DEFAULT_CLUSTER}.pusher.com"),
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@'))
        {
            return Err(Error::config("host", "must be a bare host name or address"));
        }
        let scheme = if self.use_tls { "https" } else { "http" };
        let default_port = if self.use_tls { 443 } else { 80 };
        let host_in_url = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let base_url = match self.port {
            Some(p) if p != default_port => format!("{scheme}://{host_in_url}:{p}"),
            _ => format!("{scheme}://{host_in_url}"),
        };
        // The URL as sent: an international host in its ASCII (punycode) form, and a URL the HTTP layer
        // takes (the `url` crate accepts characters, such as `{`, that no request line may carry).
        let parsed = url::Url::parse(&base_url)
            .map_err(|_| Error::config("host", "does not form a valid URL"))?;
        let base_url = parsed.as_str().trim_end_matches('/').to_owned();
        if hyper::Uri::try_from(base_url.as_str()).is_err() {
            return Err(Error::config("host", "does not form a valid URL"));
        }

        let master_key = match (&self.master_key_base64, &self.master_key_raw) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "encryption_master_key",
                    "set either the base64 or the raw key, not both",
                ));
            }
            (Some(b64), None) => Some(MasterKey::from_base64(b64)?),
            (None, Some(raw)) => Some(MasterKey::from_bytes(raw)?),
            (None, None) => None,
        };
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be greater than zero"));
        }
        if self.max_batch_events == 0 {
            return Err(Error::config("max_batch_events", "must be at least 1"));
        }
        self.limits.check()?;

        for t in &self.webhook_tokens {
            if t.key.is_empty() || t.secret.expose().is_empty() {
                return Err(Error::config(
                    "extra_webhook_token",
                    "key and secret must not be empty",
                ));
            }
        }

        let max_response_bytes = self
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        let backend: Arc<dyn HttpBackend> = match (self.backend, self.client, self.proxy.as_deref())
        {
            (Some(_), Some(_), _) => {
                return Err(conflict("backend", "http_client"));
            }
            (Some(_), None, Some(_)) => return Err(conflict("proxy", "backend")),
            (None, Some(_), Some(_)) => return Err(conflict("proxy", "http_client")),
            (Some(_), None, None) if self.max_response_bytes.is_some() => {
                return Err(conflict("backend", "max_response_bytes"));
            }
            (Some(b), None, None) => b,
            (None, Some(c), None) => Arc::new(ReqwestBackend::with_client(c, max_response_bytes)),
            (None, None, proxy) => {
                crate::hyper_backend::default_backend(proxy, max_response_bytes)?
            }
        };

        let path_prefix = match self.path_prefix.as_deref() {
            None => String::new(),
            Some(p) => normalize_path_prefix(p)?,
        };
        Ok(Pusher::from_parts(Parts {
            app_id: self.app_id,
            key: self.key,
            secret: self.secret,
            host,
            port: self.port.unwrap_or(default_port),
            use_tls: self.use_tls,
            base_url,
            path_prefix,
            timeout: self.timeout,
            master_key,
            max_data_bytes: self.max_data_bytes,
            max_batch_events: self.max_batch_events,
            limits: self.limits,
            webhook_tolerance: self.webhook_tolerance,
            webhook_body_limit: self.webhook_body_limit,
            webhook_tokens: self
                .webhook_tokens
                .into_iter()
                .map(|t| (t.key, t.secret.0))
                .collect(),
            backend,
            retry: self.retry,
            chunked_events: self.chunked_events,
            clock: self.clock,
        }))
    }
}

/// The error for two transport options that cannot be combined.
fn conflict(field: &'static str, other: &str) -> Error {
    Error::config(
        field,
        format!("cannot be combined with {other}: set one way of sending requests"),
    )
}

/// The prefix as sent: without trailing `/`, empty for none; refused unless it is sent exactly as written.
fn normalize_path_prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check_sub_path(trimmed).map_err(|_| {
        Error::config(
            "path_prefix",
            "must start with '/' and hold only [A-Za-z0-9-._~!$&'()*+,;=:@/], without '.' or '..' segments",
        )
    })?;
    if trimmed.contains("//") {
        return Err(Error::config(
            "path_prefix",
            "must not contain empty segments",
        ));
    }
    Ok(trimmed.to_owned())
}

fn validate_app_id(app_id: &str) -> Result<()> {
    // "." and ".." would be dot segments of the request path, which the URL layer removes.
    if app_id.is_empty()
        || app_id == "."
        || app_id == ".."
        || app_id.len() > 128
        || !app_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(Error::config(
            "app_id",
            "must be 1-128 characters of [A-Za-z0-9-_.~], not '.' or '..'",
        ));
    }
    Ok(())
}

/// The parts of a `PUSHER_URL` (`http[s]://KEY:SECRET@HOST[:PORT]/apps/APP_ID`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PusherUrl {
    /// The app id (a string: self-hosted servers use ids such as `app-id`).
    pub app_id: String,
    /// The app key.
    pub key: String,
    /// The app secret.
    pub secret: Secret,
    /// The host, without port.
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
    /// Whether the scheme is `https`.
    pub use_tls: bool,
    /// The path before `/apps/APP_ID` (`/pusher` in `https://KEY:SECRET@HOST/pusher/apps/ID`), if any:
    /// see [`PusherBuilder::path_prefix`].
    pub path_prefix: Option<String>,
}

impl fmt::Debug for PusherUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherUrl")
            .field("app_id", &self.app_id)
            .field("key", &self.key)
            .field("secret", &self.secret)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("use_tls", &self.use_tls)
            .field("path_prefix", &self.path_prefix)
            .finish()
    }
}

impl PusherUrl {
    /// Parses a `PUSHER_URL`. The scheme is `http` or `https` (any case); credentials are percent-decoded and
    /// split at the first `:`; the secret must not be empty; the port is honoured; the path is `/apps/APP_ID`,
    /// optionally after a path prefix (`/pusher/apps/APP_ID`, see [`PusherBuilder::path_prefix`]), without
    /// query string or fragment. Errors never quote the URL, since it holds the secret.
    ///
    /// ```
    /// let u = pusher::PusherUrl::parse("http://app-key:app-secret@127.0.0.1:6001/apps/app-id").unwrap();
    /// assert_eq!((u.app_id.as_str(), u.host.as_str(), u.port), ("app-id", "127.0.0.1", Some(6001)));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::config("url", reason.to_owned());
        let url = url::Url::parse(text.trim())
            .map_err(|_| bad("is not a URL of the form https://KEY:SECRET@HOST/apps/APP_ID"))?;
        let use_tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("scheme must be http or https")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query string or fragment"));
        }
        let key = percent_decode(url.username()).ok_or_else(|| bad("key is not valid UTF-8"))?;
        if key.is_empty() {
            return Err(bad("has no key (https://KEY:SECRET@HOST/apps/APP_ID)"));
        }
        let secret = match url.password() {
            Some(s) => s,
            // `url` reports an empty password as none: `KEY:@HOST` names an empty secret, refused below.
            None if userinfo_has_colon(text) => "",
            None => return Err(bad("has no secret (https://KEY:SECRET@HOST/apps/APP_ID)")),
        };
        let secret = percent_decode(secret).ok_or_else(|| bad("secret is not valid UTF-8"))?;
        if secret.is_empty() {
            // With an empty secret anyone can forge webhooks and auth signatures.
            return Err(bad(
                "has an empty secret (https://KEY:SECRET@HOST/apps/APP_ID)",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(bad("has no host")),
        };
        let path = url.path();
        let (prefix, app_id) = match path.rfind("/apps/") {
            Some(at) => (&path[..at], &path[at + "/apps/".len()..]),
            None => return Err(bad("path must be /apps/APP_ID or /PREFIX/apps/APP_ID")),
        };
        if app_id.is_empty() || app_id.contains('/') {
            return Err(bad("path must be /apps/APP_ID or /PREFIX/apps/APP_ID"));
        }
        let app_id = app_id.to_owned();
        validate_app_id(&app_id)?;
        let path_prefix = if prefix.is_empty() {
            None
        } else if prefix.ends_with('/') {
            return Err(bad(
                "path prefix must not end with '/' (/PREFIX/apps/APP_ID)",
            ));
        } else {
            Some(normalize_path_prefix(prefix).map_err(|_| {
                bad("path prefix must hold only [A-Za-z0-9-._~!$&'()*+,;=:@/], without '.', '..' or empty segments")
            })?)
        };
        Ok(PusherUrl {
            app_id,
            key,
            secret: Secret::new(secret),
            host,
            port: url.port(),
            use_tls,
            path_prefix,
        })
    }

    /// A builder preset with these parts.
    pub fn into_builder(self) -> PusherBuilder {
        let mut b = PusherBuilder::new(&self.app_id, &self.key, self.secret.expose())
            .host(self.host)
            .use_tls(self.use_tls);
        if let Some(p) = self.port {
            b = b.port(p);
        }
        if let Some(prefix) = self.path_prefix {
            b = b.path_prefix(prefix);
        }
        b
    }
}

fn userinfo_has_colon(text: &str) -> bool {
    text.split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_hosts() {
        let p = Pusher::builder("1", "k", "s").build().unwrap();
        assert_eq!(p.base_url(), "https://api-mt1.pusher.com");
        let p = Pusher::builder("1", "k", "s")
            .cluster("eu")
            .build()
            .unwrap();
        assert_eq!(p.base_url(), "https://api-eu.pusher.com");
        let p = Pusher::builder("1", "k", "s")
            .cluster("eu")
            .host("example.com")
            .use_tls(false)
            .port(8080)
            .build()
            .unwrap();
        assert_eq!(p.base_url(), "http://example.com:8080");
        let p = Pusher::builder("1", "k", "s")
            .host("::1")
            .port(9)
            .build()
            .unwrap();
        assert_eq!(p.base_url(), "https://[::1]:9");
    }

    #[test]
    fn bad_config_is_refused() {
        for (id, key) in [("", "k"), ("a/b", "k"), ("1", ""), ("1", "a:b")] {
            assert!(Pusher::builder(id, key, "s").build().is_err(), "{id} {key}");
        }
        assert!(Pusher::builder("1", "k", "s").host("a/b").build().is_err());
        assert!(
            Pusher::builder("1", "k", "s")
                .encryption_master_key_base64("short")
                .build()
                .is_err()
        );
        assert!(
            Pusher::builder("1", "k", "s")
                .encryption_master_key(vec![0u8; 31])
                .build()
                .is_err()
        );
        assert!(
            Pusher::builder("1", "k", "s")
                .encryption_master_key(vec![0u8; 32])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn url_parsing() {
        let u = PusherUrl::parse("https://key:secret@api-eu.pusher.com/apps/123").unwrap();
        assert_eq!(u.host, "api-eu.pusher.com");
        assert_eq!(u.port, None);
        assert!(u.use_tls);
        let u = PusherUrl::parse("HTTP://key:sec%2Fret@localhost:8080/apps/007").unwrap();
        assert_eq!(
            (u.secret.expose(), u.port, u.app_id.as_str()),
            ("sec/ret", Some(8080), "007")
        );
        let u = PusherUrl::parse("http://key:sec:ret@h/apps/1").unwrap();
        assert_eq!((u.key.as_str(), u.secret.expose()), ("key", "sec:ret"));
        for bad in [
            "ftp://k:s@h/apps/1",
            "http://k@h/apps/1",
            "http://h/apps/1",
            "http://k:s@h/apps/1/",
            "http://k:s@h/apps/1?x=1",
            "http://k:s@h/v1/apps/",
            "http://k:s@h//apps/1",
            "http://k:s@h/v1/apps/1/x",
            "not a url",
        ] {
            let e = PusherUrl::parse(bad).unwrap_err();
            assert!(!e.to_string().contains(":s@"), "{e}");
        }
    }

    #[test]
    fn url_path_prefixes() {
        let u = PusherUrl::parse("https://k:s@example.com/pusher/apps/42").unwrap();
        assert_eq!(u.path_prefix.as_deref(), Some("/pusher"));
        assert_eq!(u.app_id, "42");
        let p = u.into_builder().build().unwrap();
        assert_eq!(p.path_prefix(), "/pusher");
        assert_eq!(p.client_options()["wsPath"], "/pusher");
        let u = PusherUrl::parse("https://k:s@h/a/b-c/apps/apps/apps/7").unwrap();
        assert_eq!(
            (u.path_prefix.as_deref(), u.app_id.as_str()),
            (Some("/a/b-c/apps/apps"), "7")
        );
        assert_eq!(
            PusherUrl::parse("https://k:s@h/apps/7")
                .unwrap()
                .path_prefix,
            None
        );
        let e = PusherUrl::parse("https://k:very-secret@h/p%7Bx/apps/1").unwrap_err();
        assert!(!e.to_string().contains("very-secret"), "{e}");
    }

    #[test]
    fn builder_path_prefixes() {
        let prefix = |p: &str| {
            Pusher::builder("1", "k", "s")
                .path_prefix(p)
                .build()
                .map(|c| c.path_prefix().to_owned())
        };
        assert_eq!(prefix("/pusher").unwrap(), "/pusher");
        assert_eq!(prefix("/pusher/").unwrap(), "/pusher");
        assert_eq!(prefix("/a/b").unwrap(), "/a/b");
        assert_eq!(prefix("").unwrap(), "");
        assert_eq!(prefix("/").unwrap(), "");
        for bad in [
            "pusher", "/a b", "/a/../b", "/./x", "/a//b", "/a?x", "/a#x", "/a%2e",
        ] {
            let e = prefix(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Config {
                        field: "path_prefix",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
        }
        assert!(
            Pusher::builder("1", "k", "s")
                .build()
                .unwrap()
                .client_options()
                .get("wsPath")
                .is_none()
        );
    }

    #[test]
    fn debug_redacts() {
        let p = Pusher::builder("1", "k", "very-secret-value")
            .encryption_master_key(vec![7u8; 32])
            .build()
            .unwrap();
        let d = format!("{p:?}");
        assert!(!d.contains("very-secret-value"), "{d}");
        let u = PusherUrl::parse("http://k:very-secret-value@h/apps/1").unwrap();
        assert!(!format!("{u:?}").contains("very-secret-value"));
    }
}
