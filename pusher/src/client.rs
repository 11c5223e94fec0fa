//! [`Pusher`]: the client. Cheap to clone (one `Arc`), safe to share across tasks.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::auth::{self, ChannelAuth, PresenceData, UserAuth, UserData};
use crate::channel::{
    ChannelKind, Limits, MAX_TRIGGER_CHANNELS, SERVER_TO_USER_PREFIX, validate_attribute,
    validate_event_name, validate_socket_id,
};
use crate::config::{PusherBuilder, PusherUrl, Secret};
use crate::encryption::MasterKey;
use crate::error::{Error, Result, WebhookError};
use crate::http::{HttpBackend, HttpRequest, Method};
use crate::idempotency::{derive_key, generate_key, validate_key};
use crate::query::{ChannelInfo, ChannelsInfo, UsersInfo};
use crate::retry::Replay;
use crate::signing::{HmacSha256, push_signed_query};
use crate::trigger::{
    BatchBody, BatchEvent, BatchOptions, BatchResponse, ChannelList, TriggerBody, TriggerOptions,
    TriggerResponse, check_data_size, encode_data,
};
use crate::webhook::{Verifier, Webhook};

/// A clock giving the current time; see [`Pusher::with_clock`].
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub(crate) struct Inner {
    pub app_id: String,
    pub key: String,
    pub secret: Secret,
    /// HMAC-SHA256 keyed with the secret, cloned for each signature.
    pub mac: HmacSha256,
    pub host: String,
    pub port: u16,
    pub use_tls: bool,
    pub base_url: String,
    /// The path the server is mounted under (`/pusher`), or empty: sent, not signed.
    pub path_prefix: String,
    pub app_path: String,
    pub timeout: Duration,
    pub master_key: Option<MasterKey>,
    pub max_data_bytes: usize,
    pub max_batch_events: usize,
    /// Channel-name, user-id, `user_info` and watchlist limits, checked everywhere the same.
    pub limits: Limits,
    pub webhook_tolerance: Option<Duration>,
    pub webhook_body_limit: usize,
    /// The keys whose signatures webhooks may carry, each with its HMAC already keyed: the app's own
    /// first, then the extra tokens.
    pub webhook_keys: Vec<(String, HmacSha256)>,
    pub backend: Arc<dyn HttpBackend>,
    pub retry: crate::retry::RetryPolicy,
    /// Whether triggers chunk data over the limit ([`crate::chunked`]).
    pub chunked_events: bool,
}

/// The Pusher Channels server client: publishes events, queries channels, signs subscriptions and verifies
/// webhooks.
///
/// ```no_run
/// # async fn run() -> Result<(), pusher::Error> {
/// let pusher = pusher::Pusher::builder("123", "key", "secret").cluster("eu").build()?;
/// pusher.trigger("orders", "created", &serde_json::json!({"id": 7})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pusher {
    inner: Arc<Inner>,
    clock: Option<Clock>,
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("app_id", &self.inner.app_id)
            .field("key", &self.inner.key)
            .field("secret", &self.inner.secret)
            .field("base_url", &self.inner.base_url)
            .field("path_prefix", &self.inner.path_prefix)
            .field("encryption", &self.inner.master_key.is_some())
            .finish_non_exhaustive()
    }
}

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

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Pusher {
            inner: Arc::new(inner),
            clock: None,
        }
    }

    /// The same client reading the time from `clock` (for request timestamps and webhook freshness): for
    /// tests, or a host whose clock is known to be off.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The limits names, user ids and member data are checked against ([`PusherBuilder::limits`]).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The app key (public: clients connect with it).
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The API host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The API base URL (`https://api-mt1.pusher.com`), without the [path prefix](Self::path_prefix).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The path the server is mounted under ([`PusherBuilder::path_prefix`]), or `""`.
    ///
    /// ```
    /// let p = pusher::Pusher::from_url("https://k:s@example.com/pusher/apps/1").unwrap();
    /// assert_eq!((p.base_url(), p.path_prefix()), ("https://example.com", "/pusher"));
    /// ```
    pub fn path_prefix(&self) -> &str {
        &self.inner.path_prefix
    }

    /// The pusher-js options that connect a browser to this app's server, to hand to a web page:
    /// `{"cluster": "eu"}` for Pusher's own `api-<cluster>.pusher.com` hosts, otherwise the host, port and
    /// TLS setting of a self-hosted server (sockudo, soketi, Reverb serve WebSockets on the API port), with
    /// `wsPath` when the server is mounted under a [path prefix](Self::path_prefix).
    ///
    /// ```
    /// let p = pusher::Pusher::from_url("http://k:s@127.0.0.1:6001/apps/1").unwrap();
    /// assert_eq!(p.client_options()["wsPort"], 6001);
    /// let p = pusher::Pusher::builder("1", "k", "s").cluster("eu").build().unwrap();
    /// assert_eq!(p.client_options(), serde_json::json!({"cluster": "eu", "forceTLS": true}));
    /// ```
    pub fn client_options(&self) -> serde_json::Value {
        let host = &self.inner.host;
        if let Some(cluster) = host
            .strip_prefix("api-")
            .and_then(|h| h.strip_suffix(".pusher.com"))
        {
            return serde_json::json!({"cluster": cluster, "forceTLS": true});
        }
        let mut options = serde_json::json!({
            "cluster": "mt1",
            "wsHost": host,
            "wsPort": self.inner.port,
            "wssPort": self.inner.port,
            "forceTLS": self.inner.use_tls,
            "enabledTransports": ["ws", "wss"],
            "disableStats": true,
        });
        // A server mounted under a path serves its WebSocket there too (pusher-js's `wsPath`).
        if !self.inner.path_prefix.is_empty() {
            options["wsPath"] = serde_json::Value::from(self.inner.path_prefix.as_str());
        }
        options
    }

    /// Whether an encryption master key is configured.
    pub fn has_encryption(&self) -> bool {
        self.inner.master_key.is_some()
    }

    /// The most events one batch request may carry.
    pub fn max_batch_events(&self) -> usize {
        self.inner.max_batch_events
    }

    /// The HTTP backend (for the [`Publisher`](crate::publisher::Publisher), which runs its own retries).
    pub(crate) fn backend(&self) -> &Arc<dyn HttpBackend> {
        &self.inner.backend
    }

    /// The retry policy the client was built with.
    pub(crate) fn retry_policy(&self) -> &crate::retry::RetryPolicy {
        &self.inner.retry
    }

    /// The largest webhook body the framework integrations read.
    pub fn webhook_body_limit(&self) -> usize {
        self.inner.webhook_body_limit
    }

    fn now(&self) -> SystemTime {
        self.clock.as_ref().map_or_else(SystemTime::now, |c| c())
    }

    fn now_secs(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn now_ms(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    // ---------------------------------------------------------------------------------------------
    // Requests

    /// Signs a request for `sub_path` (below `/apps/{id}`) at the current time. The URL is
    /// `base_url + path_prefix + /apps/{id} + sub_path`; the signature covers `/apps/{id} + sub_path`, the
    /// path the server sees once its reverse proxy has stripped the prefix.
    pub(crate) fn signed_request(
        &self,
        method: Method,
        sub_path: &str,
        params: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<HttpRequest> {
        // Every path (the typed API's, with names in it, and `get`/`post`'s) is sent as signed.
        check_sub_path(sub_path)?;
        let app_path = &self.inner.app_path;
        let base_url = &self.inner.base_url;
        let prefix = &self.inner.path_prefix;
        let mut url = String::with_capacity(
            base_url.len() + prefix.len() + app_path.len() + sub_path.len() + 200,
        );
        url.push_str(base_url);
        url.push_str(prefix);
        url.push_str(app_path);
        url.push_str(sub_path);
        let path = &url[base_url.len() + prefix.len()..];
        let mut query = String::with_capacity(200);
        push_signed_query(
            &mut query,
            &self.inner.mac,
            &self.inner.key,
            self.now_secs(),
            method.as_str(),
            path,
            params,
            body.as_deref(),
        )?;
        url.push('?');
        url.push_str(&query);
        Ok(HttpRequest {
            method,
            url,
            body,
            timeout: self.inner.timeout,
        })
    }

    pub(crate) async fn send<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        sub_path: &str,
        params: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<T> {
        let request = self.signed_request(method, sub_path, params, body)?;
        self.execute(request, sub_path).await
    }

    /// [`send`](Self::send) of a POST whose body carries an idempotency key when `keyed`.
    pub(crate) async fn send_post<T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        body: Bytes,
        keyed: bool,
    ) -> Result<T> {
        let request = self.signed_request(Method::Post, sub_path, &[], Some(body))?;
        self.execute_as(request, sub_path, post_replay(keyed)).await
    }

    /// [`execute_as`](Self::execute_as) with the replay class of the method: a GET is safe to repeat, a
    /// POST without an idempotency key is not.
    async fn execute<T: DeserializeOwned + Default>(
        &self,
        request: HttpRequest,
        sub_path: &str,
    ) -> Result<T> {
        let replay = match request.method {
            Method::Get => Replay::Safe,
            Method::Post => Replay::Unkeyed,
        };
        self.execute_as(request, sub_path, replay).await
    }

    /// Sends a signed request with the retry policy and decodes its JSON response (an empty body is
    /// `T::default()`). Every attempt sends the same bytes (the same idempotency key, if any); `replay` says
    /// which failures may be retried ([`crate::retry`]). `sub_path` is for the span only.
    async fn execute_as<T: DeserializeOwned + Default>(
        &self,
        request: HttpRequest,
        sub_path: &str,
        replay: Replay,
    ) -> Result<T> {
        let method = request.method;
        let span = tracing::debug_span!(
            "pusher.request",
            method = method.as_str(),
            path = %sub_path,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let span = tracing::Span::current();
            let mut attempt = 0u32;
            let response = loop {
                let result = match self.inner.backend.send(request.clone()).await {
                    Ok(r) if (200..300).contains(&r.status) => Ok(r),
                    Ok(r) => Err(Error::from_status(r.status, &r.body, r.retry_after)),
                    Err(e) => Err(e),
                };
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                span.record("latency_ms", latency_ms);
                match result {
                    Ok(r) => {
                        span.record("status", r.status);
                        tracing::debug!(status = r.status, latency_ms, attempt, "pusher request done");
                        break r;
                    }
                    Err(e) => {
                        if let Some(s) = e.status() {
                            span.record("status", s);
                        }
                        attempt += 1;
                        match self.inner.retry.delay_for(replay, attempt, &e) {
                            Some(delay) => {
                                tracing::info!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "pusher request retried");
                                // The backend's timer: no tokio runtime is assumed here.
                                if let Err(why) = self.inner.backend.sleep(delay).await {
                                    tracing::warn!(error = %e, reason = %why, latency_ms, "pusher request failed, not retried");
                                    return Err(e);
                                }
                            }
                            None => {
                                tracing::warn!(error = %e, latency_ms, "pusher request failed");
                                return Err(e);
                            }
                        }
                    }
                }
            };
            if response.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(T::default());
            }
            serde_json::from_slice(&response.body)
                .map_err(|e| Error::Json(format!("invalid response body: {e}")))
        }
        .instrument(span)
        .await
    }

    fn json_body<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
        Ok(Bytes::from(serde_json::to_vec(value)?))
    }

    // ---------------------------------------------------------------------------------------------
    // Events

    /// Publishes `event` with `data` on one channel or up to 100.
    ///
    /// `data` is sent by this rule ([`encode_data`](crate::trigger::encode_data)):
    ///
    /// * a string — `&str`, `String`, `Cow<str>`, `Box<str>`, `serde_json::Value::String` — is
    ///   sent **as is**, so already-encoded JSON is not encoded twice (pusher-js parses it: the string
    ///   `"42"` arrives as the number 42);
    /// * every other `Serialize` value is sent as its compact JSON, including newtype structs around a
    ///   string (`OrderId("42")` arrives as the string `"42"`), enum variants, `char` and `Option`;
    /// * a `serde_json::value::RawValue` is sent as its JSON text, verbatim.
    ///
    /// The check is on how the value serializes, not on its type: a type whose `Serialize` writes a bare
    /// string — a `#[serde(transparent)]` wrapper, an untagged enum, many decimal or id types — counts as a
    /// string and is sent as is. Send `serde_json::to_string(&value)?` to have such a value quoted.
    ///
    /// At most 10 KB (UTF-8 bytes of the data sent, [`PusherBuilder::max_data_bytes`]). On a
    /// `private-encrypted-` channel the data is encrypted, and such a channel must be the only one.
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// pusher.trigger("orders", "created", &serde_json::json!({"id": 7})).await?;
    /// pusher.trigger(&["a", "b"], "ping", "already-encoded").await?;
    /// # Ok(()) }
    /// ```
    pub async fn trigger<C, D>(
        &self,
        channels: &C,
        event: &str,
        data: &D,
    ) -> Result<TriggerResponse>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        self.trigger_with(channels, event, data, &TriggerOptions::default())
            .await
    }

    /// [`trigger`](Self::trigger) with options: exclude a `socket_id`, ask for channel attributes (`info`),
    /// which come back typed in the response, publish at most once per
    /// [`idempotency_key`](TriggerOptions::idempotency_key), split data over the limit into
    /// [chunks](crate::chunked) ([`chunked`](TriggerOptions::chunked)).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let opts = pusher::TriggerOptions::new().socket_id("1234.5678").info(["subscription_count"]);
    /// let res = pusher.trigger_with("orders", "created", "{}", &opts).await?;
    /// println!("{:?}", res.channels.get("orders").and_then(|c| c.subscription_count));
    /// // Published once however often it is retried (on a server that de-duplicates, like sockudo).
    /// let opts = pusher::TriggerOptions::new().idempotency_key("order-42-created");
    /// pusher.trigger_with("orders", "created", "{}", &opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn trigger_with<C, D>(
        &self,
        channels: &C,
        event: &str,
        data: &D,
        options: &TriggerOptions,
    ) -> Result<TriggerResponse>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        // The field values are only computed when the span is enabled (DEBUG).
        let span = tracing::debug_span!(
            "pusher.trigger",
            channels = channels.channel_names().len(),
            event,
        );
        async move {
            let names = channels.channel_names();
            let prepared = self.prepare_trigger(&names, event, data, options)?;
            let key = self.call_key(options.idempotency_key.as_deref())?;
            let chunk = options.chunked || self.inner.chunked_events;
            if chunk {
                // What chunking would need is checked whatever the data's size, so a call that works with
                // small data does not start failing once the data grows: the `chunked-` event name and
                // room for a `KEY:INDEX` key per piece.
                validate_event_name(&format!("{}{event}", crate::chunked::CHUNKED_EVENT_PREFIX))?;
                if let Some(k) = key.as_deref() {
                    derive_key(k, 9999)?;
                }
            }
            if chunk && !prepared.fits(self.inner.max_data_bytes) {
                return self.send_chunked(&prepared, event, key.as_deref()).await;
            }
            let body = self.single_body(&prepared, event, key.as_deref())?;
            self.send_post("/events", body, key.is_some()).await
        }
        .instrument(span)
        .await
    }

    /// The idempotency key of one call: the caller's (checked), else one generated when the retry policy
    /// retries POSTs with keys ([`RetryPolicy::generates_keys`](crate::RetryPolicy::generates_keys)).
    pub(crate) fn call_key(&self, explicit: Option<&str>) -> Result<Option<String>> {
        match explicit {
            Some(k) => {
                validate_key(k)?;
                Ok(Some(k.to_owned()))
            }
            None if self.inner.retry.generates_keys() => generate_key().map(Some),
            None => Ok(None),
        }
    }

    /// Validates a trigger's channels, event name and options, and encodes its data (not yet encrypted).
    fn prepare_trigger<'a, D: Serialize + ?Sized>(
        &self,
        channels: &'a [&'a str],
        event: &str,
        data: &D,
        options: &'a TriggerOptions,
    ) -> Result<PreparedTrigger<'a>> {
        if channels.is_empty() {
            return Err(Error::validation(
                "channels",
                "at least one channel is needed",
            ));
        }
        if channels.len() > MAX_TRIGGER_CHANNELS {
            return Err(Error::validation(
                "channels",
                format!(
                    "{} channels, the maximum per trigger is {MAX_TRIGGER_CHANNELS}",
                    channels.len()
                ),
            ));
        }
        validate_event_name(event)?;
        for c in channels {
            self.inner.limits.check_channel(c)?;
        }
        // `ChannelKind::of(c) == ChannelKind::PrivateEncrypted`, without testing the other prefixes.
        let encrypted = channels
            .iter()
            .any(|c| c.starts_with(crate::channel::PRIVATE_ENCRYPTED_PREFIX));
        if encrypted && channels.len() > 1 {
            return Err(Error::validation(
                "channels",
                "you cannot trigger to multiple channels when using encrypted channels",
            ));
        }
        if encrypted && self.inner.master_key.is_none() {
            return Err(Error::MissingMasterKey);
        }
        let (socket_id, info) = check_options(options)?;
        Ok(PreparedTrigger {
            channels,
            encrypted,
            socket_id,
            info,
            data: encode_data(data)?,
        })
    }

    /// The body of one trigger request carrying `data` (encrypted here on an encrypted channel).
    fn trigger_request_body(
        &self,
        p: &PreparedTrigger<'_>,
        event: &str,
        data: &str,
        key: Option<&str>,
    ) -> Result<Bytes> {
        let encrypted;
        let data = if p.encrypted {
            encrypted = self.encrypt(p.channels[0], data)?;
            encrypted.as_str()
        } else {
            data
        };
        check_data_size(data, self.inner.max_data_bytes)?;
        let body = TriggerBody {
            name: event,
            channels: p.channels,
            data,
            socket_id: p.socket_id,
            info: p.info.as_deref(),
            idempotency_key: key,
        }
        .to_json();
        Ok(Bytes::from(body))
    }

    fn single_body(
        &self,
        p: &PreparedTrigger<'_>,
        event: &str,
        key: Option<&str>,
    ) -> Result<Bytes> {
        self.trigger_request_body(p, event, &p.data, key)
    }

    /// Sends data over the limit as `chunked-<event>` events, one request per chunk, in order
    /// ([`crate::chunked`]). Each chunk's key is `KEY:INDEX` when the call has a key; the message id is the
    /// call's explicit key (so that a caller's retry of the whole call continues the same message), else
    /// random. Returns the last chunk's response.
    async fn send_chunked(
        &self,
        p: &PreparedTrigger<'_>,
        event: &str,
        key: Option<&str>,
    ) -> Result<TriggerResponse> {
        let chunk_event = format!("{}{event}", crate::chunked::CHUNKED_EVENT_PREFIX);
        validate_event_name(&chunk_event)?;
        let id = match key {
            Some(k) => k.to_owned(),
            None => generate_key()?,
        };
        let wrapper_limit = if p.encrypted {
            crate::chunked::max_plaintext_for_encrypted(self.inner.max_data_bytes)
        } else {
            self.inner.max_data_bytes
        };
        let pieces = crate::chunked::split(&p.data, &id, wrapper_limit)?;
        // Every body is built (and checked) before the first is sent.
        let count = pieces.len();
        let mut bodies = Vec::with_capacity(count);
        for (index, piece) in pieces.iter().enumerate() {
            let wrapper = crate::chunked::wrapper(&id, index, piece, index + 1 == count);
            let chunk_key = key.map(|k| derive_key(k, index)).transpose()?;
            bodies.push(self.trigger_request_body(
                p,
                &chunk_event,
                &wrapper,
                chunk_key.as_deref(),
            )?);
        }
        tracing::debug!(chunks = count, "pusher trigger chunked");
        let mut last = TriggerResponse::default();
        for (index, body) in bodies.into_iter().enumerate() {
            last = self
                .send_post("/events", body, key.is_some())
                .await
                .inspect_err(|e| {
                    tracing::warn!(error = %e, index, chunks = count, "pusher chunked trigger stopped");
                })?;
        }
        Ok(last)
    }

    /// Validates, encodes and signs a trigger without sending it: the exact request
    /// [`trigger_with`](Self::trigger_with) would send now (to queue it, or to send it through another
    /// HTTP stack). Only an explicit [`idempotency_key`](TriggerOptions::idempotency_key) is sent; data over
    /// the limit is refused even with [`chunked`](TriggerOptions::chunked) (a chunked trigger is several
    /// requests).
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let req = pusher.trigger_request("orders", "created", "{}", &Default::default()).unwrap();
    /// assert!(req.url.starts_with("https://api-mt1.pusher.com/apps/1/events?"));
    /// ```
    pub fn trigger_request<C, D>(
        &self,
        channels: &C,
        event: &str,
        data: &D,
        options: &TriggerOptions,
    ) -> Result<HttpRequest>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        let body = self.trigger_body(channels, event, data, options)?;
        self.signed_request(Method::Post, "/events", &[], Some(body))
    }

    /// Validates a trigger and builds its JSON body, without sending it (with the options' explicit
    /// idempotency key, if any).
    pub fn trigger_body<C, D>(
        &self,
        channels: &C,
        event: &str,
        data: &D,
        options: &TriggerOptions,
    ) -> Result<Bytes>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        let names = channels.channel_names();
        let prepared = self.prepare_trigger(&names, event, data, options)?;
        let key = options.idempotency_key.as_deref();
        if let Some(k) = key {
            validate_key(k)?;
        }
        self.single_body(&prepared, event, key)
    }

    fn encrypt(&self, channel: &str, data: &str) -> Result<String> {
        self.inner
            .master_key
            .as_ref()
            .ok_or(Error::MissingMasterKey)?
            .encrypt(channel, data.as_bytes())
    }

    /// Publishes up to 10 events ([`PusherBuilder::max_batch_events`]) in one request. Each event may name
    /// its own channel, `socket_id`, `info` and idempotency key; events on `private-encrypted-` channels
    /// are encrypted.
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let batch = vec![
    ///     pusher::BatchEvent::new("a", "e", &serde_json::json!({"n": 1}))?,
    ///     pusher::BatchEvent::new("b", "e", "text")?.info(["subscription_count"]),
    /// ];
    /// let res = pusher.trigger_batch(&batch).await?;
    /// # let _ = res; Ok(()) }
    /// ```
    pub async fn trigger_batch(&self, batch: &[BatchEvent]) -> Result<BatchResponse> {
        self.trigger_batch_with(batch, &BatchOptions::default())
            .await
    }

    /// [`trigger_batch`](Self::trigger_batch) with a batch-level idempotency key: each event without a key
    /// of its own is sent with `KEY:INDEX`, so a retried batch publishes each event at most once on a server
    /// that de-duplicates ([`crate::idempotency`]).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let batch = [pusher::BatchEvent::new("a", "e", "x")?, pusher::BatchEvent::new("b", "e", "y")?];
    /// let opts = pusher::trigger::BatchOptions::new().idempotency_key("digest-2026-11-30");
    /// pusher.trigger_batch_with(&batch, &opts).await?;
    /// # Ok(()) }
    /// ```
    pub async fn trigger_batch_with(
        &self,
        batch: &[BatchEvent],
        options: &BatchOptions,
    ) -> Result<BatchResponse> {
        let span = tracing::debug_span!("pusher.trigger_batch", events = batch.len());
        async move {
            let key = self.call_key(options.idempotency_key.as_deref())?;
            let (body, keyed) = self.keyed_batch_body(batch, key.as_deref())?;
            self.send_post("/batch_events", body, keyed).await
        }
        .instrument(span)
        .await
    }

    /// Validates, encodes and signs a batch without sending it: the exact request
    /// [`trigger_batch`](Self::trigger_batch) would send now.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let batch = [pusher::BatchEvent::new("a", "e", "x").unwrap()];
    /// let req = pusher.batch_request(&batch).unwrap();
    /// assert!(req.url.starts_with("https://api-mt1.pusher.com/apps/1/batch_events?"));
    /// ```
    pub fn batch_request(&self, batch: &[BatchEvent]) -> Result<HttpRequest> {
        let body = self.batch_body(batch)?;
        self.signed_request(Method::Post, "/batch_events", &[], Some(body))
    }

    /// Validates a batch and builds its JSON body (encrypting where needed), without sending it.
    pub fn batch_body(&self, batch: &[BatchEvent]) -> Result<Bytes> {
        self.keyed_batch_body(batch, None).map(|(body, _)| body)
    }

    /// The body of a batch whose events without a key get `KEY:INDEX` from `key`; whether every event
    /// carries a key (then the request is safe to retry).
    fn keyed_batch_body(&self, batch: &[BatchEvent], key: Option<&str>) -> Result<(Bytes, bool)> {
        if batch.is_empty() {
            return Err(Error::validation("batch", "at least one event is needed"));
        }
        if batch.len() > self.inner.max_batch_events {
            return Err(Error::validation(
                "batch",
                format!(
                    "{} events, the maximum per batch is {}",
                    batch.len(),
                    self.inner.max_batch_events
                ),
            ));
        }
        let mut prepared = batch
            .iter()
            .map(|ev| self.prepare_batch_event(ev))
            .collect::<Result<Vec<_>>>()?;
        if let Some(k) = key {
            for (index, ev) in prepared.iter_mut().enumerate() {
                if ev.idempotency_key.is_none() {
                    ev.idempotency_key = Some(derive_key(k, index)?);
                }
            }
        }
        let keyed = prepared.iter().all(|ev| ev.idempotency_key.is_some());
        Ok((Self::json_body(&BatchBody { batch: &prepared })?, keyed))
    }

    /// Validates one batch event and gives it as sent (its data encrypted on an encrypted channel).
    pub(crate) fn prepare_batch_event(&self, ev: &BatchEvent) -> Result<BatchEvent> {
        self.inner.limits.check_channel(&ev.channel)?;
        validate_event_name(&ev.name)?;
        if let Some(s) = &ev.socket_id {
            validate_socket_id(s)?;
        }
        if let Some(info) = &ev.info {
            for a in info.split(',') {
                validate_attribute(a)?;
            }
        }
        if let Some(k) = &ev.idempotency_key {
            validate_key(k)?;
        }
        let mut ev = ev.clone();
        if ChannelKind::of(&ev.channel) == ChannelKind::PrivateEncrypted {
            ev.data = self.encrypt(&ev.channel, &ev.data)?;
        }
        check_data_size(&ev.data, self.inner.max_data_bytes)?;
        Ok(ev)
    }

    /// The largest event data accepted, in bytes.
    pub(crate) fn max_data_bytes(&self) -> usize {
        self.inner.max_data_bytes
    }

    /// Sends `event` to every connection of the signed-in user `user_id` (the `#server-to-user-` channel).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// pusher.send_to_user("alice", "notice", &serde_json::json!({"unread": 3})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_user<D: Serialize + ?Sized>(
        &self,
        user_id: &str,
        event: &str,
        data: &D,
    ) -> Result<TriggerResponse> {
        // The user id's own limits, so the error names `user_id`; `build()` checked that any valid id
        // makes a valid channel name.
        self.inner.limits.check_user_id(user_id)?;
        let channel = format!("{SERVER_TO_USER_PREFIX}{user_id}");
        self.trigger(channel.as_str(), event, data).await
    }

    /// Closes every connection of the signed-in user `user_id`
    /// (`POST /apps/{id}/users/{user_id}/terminate_connections`).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// pusher.terminate_user_connections("alice").await?;
    /// # Ok(()) }
    /// ```
    pub async fn terminate_user_connections(&self, user_id: &str) -> Result<()> {
        self.inner.limits.check_user_id(user_id)?;
        let path = format!("/users/{user_id}/terminate_connections");
        let _: serde_json::Value = self
            .send(Method::Post, &path, &[], Some(Bytes::from_static(b"{}")))
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------
    // Queries

    /// Lists occupied channels, optionally only those starting with `prefix`, with the asked attributes
    /// (`user_count` needs `prefix` = `presence-`).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let list = pusher.channels_info(Some("presence-"), &["user_count"]).await?;
    /// for (name, attrs) in &list.channels { println!("{name}: {:?}", attrs.user_count); }
    /// # Ok(()) }
    /// ```
    pub async fn channels_info(
        &self,
        prefix: Option<&str>,
        attributes: &[&str],
    ) -> Result<ChannelsInfo> {
        let request = self.channels_request(prefix, attributes)?;
        self.execute(request, "/channels").await
    }

    /// Validates and signs a [`channels_info`](Self::channels_info) query without sending it (sans-IO: to
    /// send it through another HTTP stack).
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let req = pusher.channels_request(Some("presence-"), &["user_count"]).unwrap();
    /// assert!(req.url.starts_with("https://api-mt1.pusher.com/apps/1/channels?"));
    /// ```
    pub fn channels_request(
        &self,
        prefix: Option<&str>,
        attributes: &[&str],
    ) -> Result<HttpRequest> {
        let info = join_attributes(attributes)?;
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(2);
        if let Some(p) = prefix {
            if !p.bytes().all(crate::channel::is_name_byte) || p.len() > 200 {
                return Err(Error::validation(
                    "prefix",
                    "must be characters of [-a-zA-Z0-9_=@,.;]",
                ));
            }
            if !p.is_empty() {
                params.push(("filter_by_prefix", p));
            }
        }
        if let Some(i) = &info {
            params.push(("info", i));
        }
        self.signed_request(Method::Get, "/channels", &params, None)
    }

    /// The state of one channel, with the asked attributes (`user_count`, `subscription_count`, `cache`).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let c = pusher.channel_info("presence-room", &["user_count"]).await?;
    /// println!("{} {:?}", c.occupied, c.user_count);
    /// # Ok(()) }
    /// ```
    pub async fn channel_info(&self, channel: &str, attributes: &[&str]) -> Result<ChannelInfo> {
        let request = self.channel_request(channel, attributes)?;
        self.execute(request, "/channels/{channel}").await
    }

    /// Validates and signs a [`channel_info`](Self::channel_info) query without sending it.
    pub fn channel_request(&self, channel: &str, attributes: &[&str]) -> Result<HttpRequest> {
        self.inner.limits.check_subscribable_channel(channel)?;
        let info = join_attributes(attributes)?;
        let params: Vec<(&str, &str)> = info.iter().map(|i| ("info", i.as_str())).collect();
        self.signed_request(Method::Get, &format!("/channels/{channel}"), &params, None)
    }

    /// The users of a presence channel.
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let users = pusher.users_info("presence-room").await?;
    /// # let _ = users; Ok(()) }
    /// ```
    pub async fn users_info(&self, channel: &str) -> Result<UsersInfo> {
        let request = self.users_request(channel)?;
        self.execute(request, "/channels/{channel}/users").await
    }

    /// Validates and signs a [`users_info`](Self::users_info) query without sending it.
    pub fn users_request(&self, channel: &str) -> Result<HttpRequest> {
        self.inner.limits.check_subscribable_channel(channel)?;
        if ChannelKind::of(channel) != ChannelKind::Presence {
            return Err(Error::validation(
                "channel",
                "only presence- channels have users",
            ));
        }
        self.signed_request(
            Method::Get,
            &format!("/channels/{channel}/users"),
            &[],
            None,
        )
    }

    /// A signed GET of any endpoint below `/apps/{id}` (for endpoints the typed API does not cover).
    ///
    /// `sub_path` starts with `/` and holds only `[A-Za-z0-9-._~!$&'()*+,;=:@/]`, without `.` or `..`
    /// segments: exactly what is signed is sent (the URL layer would otherwise rewrite `\`, `{`, `%2e`
    /// or dot segments after signing, and the server would answer 401). Other paths are refused with
    /// [`Error::Validation`] (`field` = `"path"`); percent-encode nothing yourself.
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let v: serde_json::Value = pusher.get("/channels", &[("filter_by_prefix", "private-")]).await?;
    /// # let _ = v; Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        params: &[(&str, &str)],
    ) -> Result<T> {
        let request = self.get_request(sub_path, params)?;
        self.execute(request, sub_path).await
    }

    /// Signs a [`get`](Self::get) without sending it.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// assert!(pusher.get_request("/channels/a:b", &[]).is_ok());
    /// assert!(pusher.get_request("/channels/./x", &[]).is_err());
    /// ```
    pub fn get_request(&self, sub_path: &str, params: &[(&str, &str)]) -> Result<HttpRequest> {
        self.signed_request(Method::Get, sub_path, params, None)
    }

    /// A signed POST of a JSON body to any endpoint below `/apps/{id}` (the path rules of
    /// [`get`](Self::get)).
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        body: &B,
    ) -> Result<T> {
        let request = self.post_request(sub_path, body)?;
        self.execute(request, sub_path).await
    }

    /// Signs a [`post`](Self::post) without sending it.
    pub fn post_request<B: Serialize + ?Sized>(
        &self,
        sub_path: &str,
        body: &B,
    ) -> Result<HttpRequest> {
        check_sub_path(sub_path)?;
        self.signed_request(Method::Post, sub_path, &[], Some(Self::json_body(body)?))
    }

    // ---------------------------------------------------------------------------------------------
    // Authentication

    /// Signs a subscription to a private, presence or encrypted channel, giving the JSON response for
    /// pusher-js. Presence channels need `presence` (the member's `user_id` and `user_info`); encrypted
    /// channels get their `shared_secret`. Public and `#server-to-user-` channels are refused.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let auth = pusher.authenticate("private-orders", "1234.5678", None).unwrap();
    /// assert!(auth.auth.starts_with("key:"));
    /// let member = pusher::PresenceData::new("alice");
    /// let auth = pusher.authenticate("presence-room", "1234.5678", Some(&member)).unwrap();
    /// assert_eq!(auth.channel_data.as_deref(), Some(r#"{"user_id":"alice"}"#));
    /// ```
    pub fn authenticate(
        &self,
        channel: &str,
        socket_id: &str,
        presence: Option<&PresenceData>,
    ) -> Result<ChannelAuth> {
        auth::authorize_channel(
            &self.inner.key,
            &self.inner.mac,
            self.inner.master_key.as_ref(),
            &self.inner.limits,
            channel,
            socket_id,
            presence,
        )
    }

    /// Signs a user for `pusher:signin` (user authentication), giving the JSON response for pusher-js.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let auth = pusher.authenticate_user("1234.5678", &pusher::UserData::new("alice")).unwrap();
    /// assert_eq!(auth.user_data, r#"{"id":"alice"}"#);
    /// ```
    pub fn authenticate_user(&self, socket_id: &str, user: &UserData) -> Result<UserAuth> {
        auth::authenticate_user(
            &self.inner.key,
            &self.inner.mac,
            &self.inner.limits,
            socket_id,
            user,
        )
    }

    /// The `shared_secret` of an encrypted channel (base64 of its key).
    pub fn shared_secret(&self, channel: &str) -> Result<String> {
        Ok(self
            .inner
            .master_key
            .as_ref()
            .ok_or(Error::MissingMasterKey)?
            .shared_secret(channel))
    }

    /// Decrypts the `data` of an event received on an encrypted channel.
    pub fn decrypt(&self, channel: &str, data: &str) -> Result<Vec<u8>> {
        self.inner
            .master_key
            .as_ref()
            .ok_or(Error::MissingMasterKey)?
            .decrypt(channel, data)
    }

    // ---------------------------------------------------------------------------------------------
    // Webhooks

    /// Verifies a webhook from its `X-Pusher-Key` and `X-Pusher-Signature` headers and raw body: the key must
    /// be the app's (or an extra token's), the signature the HMAC of the body (compared in constant time),
    /// and `time_ms` within the tolerance (600 s by default) either way. Once the signature verifies, no
    /// event's content refuses the webhook; client events on encrypted channels carry their own
    /// [`Decryption`](crate::Decryption) outcome (see [`crate::webhook`]).
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    /// let body = format!(r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"a"}}]}}"#);
    /// let sig = pusher::sign_webhook("secret", body.as_bytes());
    /// let hook = pusher.validate_webhook(Some("key"), Some(&sig), body.as_bytes()).unwrap();
    /// assert_eq!(hook.events.len(), 1);
    /// ```
    pub fn validate_webhook(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Webhook, WebhookError> {
        self.verify_webhook_with_limit(key, signature, body, self.inner.webhook_body_limit)
    }

    /// [`Pusher::validate_webhook`] for a body a framework integration already read with its own limit.
    pub(crate) fn validate_webhook_read(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Webhook, WebhookError> {
        self.verify_webhook_with_limit(key, signature, body, usize::MAX)
    }

    /// Whether `key` may sign webhooks (the app key or an extra webhook token).
    pub(crate) fn knows_webhook_key(&self, key: &str) -> bool {
        self.inner
            .webhook_keys
            .iter()
            .any(|(k, _)| crate::signing::constant_time_eq(k.as_bytes(), key.as_bytes()))
    }

    fn verify_webhook_with_limit(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        body_limit: usize,
    ) -> Result<Webhook, WebhookError> {
        let result = Verifier {
            tokens: &self.inner.webhook_keys,
            tolerance: self.inner.webhook_tolerance,
            body_limit,
            master_key: self.inner.master_key.as_ref(),
            now_ms: self.now_ms(),
        }
        .verify(key, signature, body);
        match &result {
            Ok(w) => tracing::debug!(events = w.events.len(), "webhook verified"),
            Err(e) => tracing::info!(reason = e.reason(), status = e.status(), "webhook rejected"),
        }
        result
    }
}

/// A trigger validated and its data encoded, before encryption.
struct PreparedTrigger<'a> {
    channels: &'a [&'a str],
    encrypted: bool,
    socket_id: Option<&'a str>,
    info: Option<String>,
    data: String,
}

impl PreparedTrigger<'_> {
    /// Whether the data, as sent (encrypted on an encrypted channel), is within `max` bytes.
    fn fits(&self, max: usize) -> bool {
        let sent = if self.encrypted {
            crate::chunked::encrypted_len(self.data.len())
        } else {
            self.data.len()
        };
        sent <= max
    }
}

/// The replay class of a POST: keyed or not.
fn post_replay(keyed: bool) -> Replay {
    if keyed {
        Replay::Keyed
    } else {
        Replay::Unkeyed
    }
}

/// Validates trigger options: the socket id to exclude and the `info` attributes, joined.
pub(crate) fn check_options(options: &TriggerOptions) -> Result<(Option<&str>, Option<String>)> {
    let socket_id = options.socket_id.as_deref();
    if let Some(s) = socket_id {
        validate_socket_id(s)?;
    }
    for a in &options.info {
        validate_attribute(a)?;
    }
    let info = (!options.info.is_empty()).then(|| options.info.join(","));
    Ok((socket_id, info))
}

fn join_attributes(attributes: &[&str]) -> Result<Option<String>> {
    for a in attributes {
        validate_attribute(a)?;
    }
    Ok((!attributes.is_empty()).then(|| attributes.join(",")))
}

/// Which bytes a request path may hold: RFC 3986's unreserved characters, sub-delimiters, `:`, `@` and
/// `/`. The URL parser sends each of them as it is (no percent-encoding, no `\` to `/`), so the path that
/// is signed is the path that goes on the wire.
const PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        i += 1;
    }
    table
};

/// Checks a path below `/apps/{id}` so that it is sent exactly as signed: it starts with `/`, holds only
/// [`PATH_BYTES`], and has no `.` or `..` segment (which the URL layer would remove). One pass.
pub(crate) fn check_sub_path(sub_path: &str) -> Result<()> {
    let bad = || {
        Error::validation(
            "path",
            "must start with '/' and hold only [A-Za-z0-9-._~!$&'()*+,;=:@/], without '.' or '..' segments",
        )
    };
    let bytes = sub_path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(bad());
    }
    // `dots` counts the dots of the current segment while it holds nothing else (-1 once it does).
    let mut dots: i32 = 0;
    for &b in &bytes[1..] {
        if !PATH_BYTES[usize::from(b)] {
            return Err(bad());
        }
        match b {
            b'/' => {
                if dots == 1 || dots == 2 {
                    return Err(bad());
                }
                dots = 0;
            }
            b'.' if dots >= 0 => dots = dots.saturating_add(1),
            _ => dots = -1,
        }
    }
    if dots == 1 || dots == 2 {
        return Err(bad());
    }
    Ok(())
}
