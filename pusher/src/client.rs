//! [`Pusher`]: the client. Cheap to clone (one `Arc`), safe to share across tasks.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::auth::{self, ChannelAuth, PresenceData, UserAuth, UserData};
use crate::channel::{ChannelKind, Limits, SERVER_TO_USER_PREFIX};
use crate::encryption::MasterKey;
use crate::error::{Error, Result, WebhookError};
use crate::http::{HttpBackend, HttpRequest, Method};
use crate::idempotency::{derive_key, generate_key, validate_key};
use crate::query::{ChannelInfo, ChannelsInfo, UsersInfo};
use crate::request::Endpoint;
use crate::retry::RetryPolicy;
use crate::send::{execute, post_replay, replay_of};
use crate::signing::{HmacSha256, keyed_mac};
use crate::trigger::{
    BatchEvent, BatchOptions, BatchResponse, ChannelList, PreparedTrigger, Rules, TriggerOptions,
    TriggerResponse, info_param,
};
use crate::webhook::{Verifier, Webhook};

/// A clock giving the current time; see [`PusherBuilder::clock`](crate::PusherBuilder::clock).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A client's configuration, checked by [`PusherBuilder::build`](crate::PusherBuilder::build): what
/// [`Pusher::from_parts`] makes a client of.
pub(crate) struct Parts {
    pub app_id: String,
    pub key: String,
    pub secret: String,
    pub host: String,
    pub port: u16,
    pub use_tls: bool,
    pub base_url: String,
    pub path_prefix: String,
    pub timeout: Duration,
    pub master_key: Option<MasterKey>,
    pub max_data_bytes: usize,
    pub max_batch_events: usize,
    pub limits: Limits,
    pub webhook_tolerance: Option<Duration>,
    pub webhook_body_limit: usize,
    /// Extra `(key, secret)` pairs accepted on webhooks.
    pub webhook_tokens: Vec<(String, String)>,
    pub backend: Arc<dyn HttpBackend>,
    pub retry: RetryPolicy,
    pub chunked_events: bool,
    pub clock: Option<Clock>,
}

struct Inner {
    app_id: String,
    host: String,
    port: u16,
    use_tls: bool,
    /// Where and as whom requests are signed (key, keyed HMAC, URLs, timeout).
    endpoint: Endpoint,
    master_key: Option<MasterKey>,
    max_data_bytes: usize,
    max_batch_events: usize,
    /// Channel-name, user-id, `user_info` and watchlist limits, checked everywhere the same.
    limits: Limits,
    webhook_tolerance: Option<Duration>,
    webhook_body_limit: usize,
    /// The keys whose signatures webhooks may carry, each with its HMAC already keyed: the app's own
    /// first, then the extra tokens.
    webhook_keys: Vec<(String, HmacSha256)>,
    backend: Arc<dyn HttpBackend>,
    retry: RetryPolicy,
    /// Whether triggers chunk data over the limit ([`crate::chunked`]).
    chunked_events: bool,
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
            .field("key", &self.inner.endpoint.key)
            .field("secret", &"[redacted]")
            .field("base_url", &self.inner.endpoint.base_url)
            .field("path_prefix", &self.inner.endpoint.path_prefix)
            .field("encryption", &self.inner.master_key.is_some())
            .finish_non_exhaustive()
    }
}

// The constructors (`Pusher::builder`, `from_url`, `from_env`) are in `config.rs`, beside the builder.
impl Pusher {
    /// The client for a checked configuration: the one constructor, called by the builder.
    pub(crate) fn from_parts(p: Parts) -> Self {
        let mac = keyed_mac(p.secret.as_bytes());
        let mut webhook_keys = Vec::with_capacity(1 + p.webhook_tokens.len());
        webhook_keys.push((p.key.clone(), mac.clone()));
        for (key, secret) in p.webhook_tokens {
            webhook_keys.push((key, keyed_mac(secret.as_bytes())));
        }
        let app_path = format!("/apps/{}", p.app_id);
        Pusher {
            inner: Arc::new(Inner {
                app_id: p.app_id,
                host: p.host,
                port: p.port,
                use_tls: p.use_tls,
                endpoint: Endpoint {
                    key: p.key,
                    mac,
                    base_url: p.base_url,
                    path_prefix: p.path_prefix,
                    app_path,
                    timeout: p.timeout,
                },
                master_key: p.master_key,
                max_data_bytes: p.max_data_bytes,
                max_batch_events: p.max_batch_events,
                limits: p.limits,
                webhook_tolerance: p.webhook_tolerance,
                webhook_body_limit: p.webhook_body_limit,
                webhook_keys,
                backend: p.backend,
                retry: p.retry,
                chunked_events: p.chunked_events,
            }),
            clock: p.clock,
        }
    }

    /// The same client reading the time from `clock` (for request timestamps and webhook freshness): to
    /// freeze the time of a client built elsewhere (from a URL, in a test or a fuzz target). Set it when
    /// building with [`PusherBuilder::clock`](crate::PusherBuilder::clock).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The limits names, user ids and member data are checked against
    /// ([`PusherBuilder::limits`](crate::PusherBuilder::limits)).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The app key (public: clients connect with it).
    pub fn key(&self) -> &str {
        &self.inner.endpoint.key
    }

    /// The API host.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The API base URL (`https://api-mt1.pusher.com`), without the [path prefix](Self::path_prefix).
    pub fn base_url(&self) -> &str {
        &self.inner.endpoint.base_url
    }

    /// The path the server is mounted under
    /// ([`PusherBuilder::path_prefix`](crate::PusherBuilder::path_prefix)), or `""`.
    ///
    /// ```
    /// let p = pusher::Pusher::from_url("https://k:s@example.com/pusher/apps/1").unwrap();
    /// assert_eq!((p.base_url(), p.path_prefix()), ("https://example.com", "/pusher"));
    /// ```
    pub fn path_prefix(&self) -> &str {
        &self.inner.endpoint.path_prefix
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
        let prefix = &self.inner.endpoint.path_prefix;
        if !prefix.is_empty() {
            options["wsPath"] = serde_json::Value::from(prefix.as_str());
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
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The largest webhook body the framework integrations read.
    pub fn webhook_body_limit_bytes(&self) -> usize {
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

    /// Signs a request for `sub_path` (below `/apps/{id}`) at the current time ([`Endpoint::signed`]).
    pub(crate) fn signed_request(
        &self,
        method: Method,
        sub_path: &str,
        params: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<HttpRequest> {
        self.inner
            .endpoint
            .signed(self.now_secs(), method, sub_path, params, body)
    }

    /// What the client checks triggers and batches against ([`crate::trigger`]'s pure functions).
    fn rules(&self) -> Rules<'_> {
        Rules {
            limits: &self.inner.limits,
            master_key: self.inner.master_key.as_ref(),
            max_data_bytes: self.inner.max_data_bytes,
            max_batch_events: self.inner.max_batch_events,
        }
    }

    /// Sends a POST whose body carries an idempotency key when `keyed`.
    pub(crate) async fn send_post<T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        body: Bytes,
        keyed: bool,
    ) -> Result<T> {
        let request = self.signed_request(Method::Post, sub_path, &[], Some(body))?;
        self.execute_as(request, sub_path, post_replay(keyed)).await
    }

    /// Sends a signed request, retried as its method allows ([`crate::send`]).
    async fn execute<T: DeserializeOwned + Default>(
        &self,
        request: HttpRequest,
        sub_path: &str,
    ) -> Result<T> {
        let replay = replay_of(request.method);
        self.execute_as(request, sub_path, replay).await
    }

    async fn execute_as<T: DeserializeOwned + Default>(
        &self,
        request: HttpRequest,
        sub_path: &str,
        replay: crate::retry::Replay,
    ) -> Result<T> {
        execute(
            self.inner.backend.as_ref(),
            &self.inner.retry,
            request,
            sub_path,
            replay,
        )
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
    /// At most 10 KB (UTF-8 bytes of the data sent,
    /// [`PusherBuilder::max_data_bytes`](crate::PusherBuilder::max_data_bytes)). On a `private-encrypted-`
    /// channel the data is encrypted, and such a channel must be the only one.
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
            let rules = self.rules();
            let prepared = rules.prepare_trigger(&names, event, data, options)?;
            let key = self.call_key(options.idempotency_key.as_deref())?;
            let chunk = options.chunked || self.inner.chunked_events;
            if chunk {
                Rules::check_chunkable(event, key.as_deref())?;
            }
            if chunk && !prepared.fits(self.inner.max_data_bytes) {
                return self.send_chunked(&prepared, event, key.as_deref()).await;
            }
            let body = rules.trigger_body(&prepared, event, &prepared.data, key.as_deref())?;
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
        crate::channel::validate_event_name(&chunk_event)?;
        let rules = self.rules();
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
            bodies.push(rules.trigger_body(p, &chunk_event, &wrapper, chunk_key.as_deref())?);
        }
        tracing::debug!(chunks = count, "pusher trigger chunked");
        let mut last = TriggerResponse::default();
        for (index, body) in bodies.into_iter().enumerate() {
            last = self
                .send_post("/events", body, key.is_some())
                .await
                .inspect_err(|e| {
                    tracing::debug!(error = %e, index, chunks = count, "pusher chunked trigger stopped");
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
        let rules = self.rules();
        let prepared = rules.prepare_trigger(&names, event, data, options)?;
        let key = options.idempotency_key.as_deref();
        if let Some(k) = key {
            validate_key(k)?;
        }
        rules.trigger_body(&prepared, event, &prepared.data, key)
    }

    /// Publishes up to 10 events
    /// ([`PusherBuilder::max_batch_events`](crate::PusherBuilder::max_batch_events)) in one request. Each
    /// event may name its own channel, `socket_id`, `info` and idempotency key; events on
    /// `private-encrypted-` channels are encrypted.
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
            let (body, keyed) = self.rules().batch_body(batch, key.as_deref())?;
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
        self.batch_request_with(batch, &BatchOptions::default())
    }

    /// [`batch_request`](Self::batch_request) with the batch's options: the exact request
    /// [`trigger_batch_with`](Self::trigger_batch_with) would send now with an explicit
    /// [`idempotency_key`](BatchOptions::idempotency_key) (a key the client would generate is not
    /// included: it is random per call).
    pub fn batch_request_with(
        &self,
        batch: &[BatchEvent],
        options: &BatchOptions,
    ) -> Result<HttpRequest> {
        let key = options.idempotency_key.as_deref();
        if let Some(k) = key {
            validate_key(k)?;
        }
        let (body, _) = self.rules().batch_body(batch, key)?;
        self.signed_request(Method::Post, "/batch_events", &[], Some(body))
    }

    /// Validates a batch and builds its JSON body (encrypting where needed), without sending it.
    pub fn batch_body(&self, batch: &[BatchEvent]) -> Result<Bytes> {
        self.rules().batch_body(batch, None).map(|(body, _)| body)
    }

    /// Validates one batch event and gives it as sent (its data encrypted on an encrypted channel).
    pub(crate) fn prepare_batch_event(&self, ev: &BatchEvent) -> Result<BatchEvent> {
        self.rules().prepare_batch_event(ev)
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
        let channel = self.user_channel(user_id)?;
        self.trigger(channel.as_str(), event, data).await
    }

    /// Validates, encodes and signs a [`send_to_user`](Self::send_to_user) without sending it.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let req = pusher.send_to_user_request("alice", "notice", "{}").unwrap();
    /// assert!(req.url.starts_with("https://api-mt1.pusher.com/apps/1/events?"));
    /// ```
    pub fn send_to_user_request<D: Serialize + ?Sized>(
        &self,
        user_id: &str,
        event: &str,
        data: &D,
    ) -> Result<HttpRequest> {
        let channel = self.user_channel(user_id)?;
        self.trigger_request(channel.as_str(), event, data, &TriggerOptions::default())
    }

    /// The `#server-to-user-` channel of `user_id`, checked by the user id's own limits (so the error names
    /// `user_id`; `build()` checked that any valid id makes a valid channel name).
    fn user_channel(&self, user_id: &str) -> Result<String> {
        self.inner.limits.check_user_id(user_id)?;
        Ok(format!("{SERVER_TO_USER_PREFIX}{user_id}"))
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
        let request = self.terminate_user_connections_request(user_id)?;
        let _: serde::de::IgnoredAny = self
            .execute(request, "/users/{user_id}/terminate_connections")
            .await?;
        Ok(())
    }

    /// Validates and signs a [`terminate_user_connections`](Self::terminate_user_connections) without
    /// sending it.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let req = pusher.terminate_user_connections_request("alice").unwrap();
    /// assert!(req.url.starts_with("https://api-mt1.pusher.com/apps/1/users/alice/terminate_connections?"));
    /// ```
    pub fn terminate_user_connections_request(&self, user_id: &str) -> Result<HttpRequest> {
        self.inner.limits.check_user_id(user_id)?;
        let path = format!("/users/{user_id}/terminate_connections");
        self.signed_request(Method::Post, &path, &[], Some(Bytes::from_static(b"{}")))
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
        let info = info_param(attributes)?;
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
        let info = info_param(attributes)?;
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
        self.signed_request(Method::Post, sub_path, &[], Some(Self::json_body(body)?))
    }

    // ---------------------------------------------------------------------------------------------
    // Channel authorization and user authentication

    /// Authorizes a subscription to a private, presence or encrypted channel (Channels' *channel
    /// authorization*; Node's `authorizeChannel`), giving the JSON response for pusher-js. Presence
    /// channels need `presence` (the member's `user_id` and `user_info`); encrypted channels get their
    /// `shared_secret`. Public and `#server-to-user-` channels are refused.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let auth = pusher.authorize_channel("private-orders", "1234.5678", None).unwrap();
    /// assert!(auth.auth.starts_with("key:"));
    /// let member = pusher::PresenceData::new("alice");
    /// let auth = pusher.authorize_channel("presence-room", "1234.5678", Some(&member)).unwrap();
    /// assert_eq!(auth.channel_data.as_deref(), Some(r#"{"user_id":"alice"}"#));
    /// ```
    pub fn authorize_channel(
        &self,
        channel: &str,
        socket_id: &str,
        presence: Option<&PresenceData>,
    ) -> Result<ChannelAuth> {
        auth::authorize_channel(
            &self.inner.endpoint.key,
            &self.inner.endpoint.mac,
            self.inner.master_key.as_ref(),
            &self.inner.limits,
            channel,
            socket_id,
            presence,
        )
    }

    /// Authenticates a user for `pusher:signin` (Channels' *user authentication*; Node's
    /// `authenticateUser`), giving the JSON response for pusher-js.
    ///
    /// ```
    /// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
    /// let auth = pusher.authenticate_user("1234.5678", &pusher::UserData::new("alice")).unwrap();
    /// assert_eq!(auth.user_data, r#"{"id":"alice"}"#);
    /// ```
    pub fn authenticate_user(&self, socket_id: &str, user: &UserData) -> Result<UserAuth> {
        auth::authenticate_user(
            &self.inner.endpoint.key,
            &self.inner.endpoint.mac,
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
            Err(e) => tracing::debug!(reason = e.reason(), status = e.status(), "webhook rejected"),
        }
        result
    }
}
