//! The logic every web-framework integration shares, framework-neutral: parsing auth requests, the
//! authorization rules ([`Authorizer`]), the auth route handlers, and the HTTP meaning of every failure.
//! `pusher-axum`, `pusher-actix` and `pusher-rocket` only read the body with a limit, find the app's user
//! and the [`Pusher`], call in here, and convert the result. The contract they implement is written down in
//! `docs/integrations.md`.

mod rules;
mod types;

#[cfg(feature = "testing")]
pub mod conformance;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use rules::{
    Authorizer, ChannelParams, ChannelPattern, DEFAULT_AUTH_BODY_LIMIT, DEFAULT_AUTH_PATH,
    DEFAULT_USER_AUTH_PATH, Decision,
};
pub use types::{BodyError, KEY_HEADER, SIGNATURE_HEADER, parse_auth, verify_webhook};

use crate::channel::{ChannelKind, validate_socket_id, validate_subscribable_channel};
use crate::client::Pusher;
use crate::error::Error;

/// Why an auth request was refused, with its HTTP status ([`AuthError::status`]) and a short fixed reason
/// ([`AuthError::reason`]) that never echoes input or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The body is over the limit (413).
    #[error("request body too large")]
    TooLarge,
    /// The body is neither a form nor JSON, or cannot be parsed (400).
    #[error("malformed request body")]
    MalformedBody,
    /// `socket_id` is missing or not of the form `1234.5678` (400).
    #[error("missing or invalid socket_id")]
    InvalidSocketId,
    /// `channel_name` is missing or not a valid channel name (400).
    #[error("missing or invalid channel_name")]
    InvalidChannel,
    /// The channel is public: it needs no authorization (400).
    #[error("public channels need no authorization")]
    PublicChannel,
    /// The app's user could not be found in the request (401).
    #[error("not signed in")]
    NotSignedIn,
    /// The app's rule refused (403).
    #[error("forbidden")]
    Forbidden,
    /// No rule matches the channel (403: deny by default).
    #[error("no rule allows this channel")]
    NoRule,
    /// The server is misconfigured (no master key for an encrypted channel, a presence rule without member
    /// data, no `Pusher` in the app state) (500; the details are logged).
    #[error("server misconfigured")]
    Misconfigured,
}

impl AuthError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::TooLarge => 413,
            AuthError::MalformedBody
            | AuthError::InvalidSocketId
            | AuthError::InvalidChannel
            | AuthError::PublicChannel => 400,
            AuthError::NotSignedIn => 401,
            AuthError::Forbidden | AuthError::NoRule => 403,
            AuthError::Misconfigured => 500,
        }
    }

    /// The short reason for the response body.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::TooLarge => "request body too large",
            AuthError::MalformedBody => "malformed request body",
            AuthError::InvalidSocketId => "missing or invalid socket_id",
            AuthError::InvalidChannel => "missing or invalid channel_name",
            AuthError::PublicChannel => "public channels need no authorization",
            AuthError::NotSignedIn => "not signed in",
            AuthError::Forbidden => "forbidden",
            AuthError::NoRule => "no rule allows this channel",
            AuthError::Misconfigured => "server misconfigured",
        }
    }
}

/// A parsed channel authorization request (`socket_id`, `channel_name`, and any other parameter pusher-js
/// was told to send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAuthRequest {
    /// The connection asking.
    pub socket_id: String,
    /// The channel it wants to subscribe to.
    pub channel_name: String,
    /// Other parameters (pusher-js `channelAuthorization.params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A parsed batch channel authorization request (pusher-js-auth: `socket_id` and `channel_name[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAuthRequest {
    /// The connection asking.
    pub socket_id: String,
    /// The channels, in request order, without duplicates.
    pub channel_names: Vec<String>,
}

/// A parsed user authentication request (`socket_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAuthRequest {
    /// The connection signing in.
    pub socket_id: String,
    /// Other parameters (pusher-js `userAuthentication.params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// The most channels one batch auth request may name.
pub const MAX_BATCH_AUTH_CHANNELS: usize = 100;

/// Whether `content_type` is JSON (`application/json`, with or without parameters, or `+json`).
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// Key/value pairs of an auth body, borrowed from the body where no decoding was needed.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Parses a form (`application/x-www-form-urlencoded`, also when no content type is given) or JSON body into
/// key/value pairs, keeping repeated keys in order.
fn parse_pairs<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<Pairs<'a>, AuthError> {
    if is_json(content_type) {
        let map: serde_json::Map<String, Value> =
            serde_json::from_slice(body).map_err(|_| AuthError::MalformedBody)?;
        let mut out: Pairs<'a> = Vec::with_capacity(map.len());
        for (k, v) in map {
            match v {
                Value::String(s) => out.push((k.into(), s.into())),
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => out.push((format!("{k}[]").into(), s.into())),
                            _ => return Err(AuthError::MalformedBody),
                        }
                    }
                }
                Value::Number(n) => out.push((k.into(), n.to_string().into())),
                Value::Bool(b) => out.push((k.into(), b.to_string().into())),
                Value::Null => {}
                Value::Object(_) => return Err(AuthError::MalformedBody),
            }
        }
        return Ok(out);
    }
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    match media_type {
        None | Some("") => {}
        Some(m) if m.eq_ignore_ascii_case("application/x-www-form-urlencoded") => {}
        Some(_) => return Err(AuthError::MalformedBody),
    }
    if std::str::from_utf8(body).is_err() {
        return Err(AuthError::MalformedBody);
    }
    Ok(form_urlencoded::parse(body).collect())
}

fn take_single(pairs: &Pairs<'_>, key: &str) -> Option<String> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Some(v.as_ref().to_owned()),
        _ => None,
    }
}

fn socket_id_of(pairs: &Pairs<'_>) -> Result<String, AuthError> {
    let s = take_single(pairs, "socket_id").ok_or(AuthError::InvalidSocketId)?;
    validate_socket_id(&s).map_err(|_| AuthError::InvalidSocketId)?;
    Ok(s)
}

fn other_params(pairs: Pairs<'_>, known: &[&str]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter(|(k, _)| !known.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl ChannelAuthRequest {
    /// Parses a pusher-js channel authorization body (form, or JSON when the content type says so) and
    /// checks `socket_id` and `channel_name`.
    ///
    /// ```
    /// use pusher::integration::ChannelAuthRequest;
    /// let r = ChannelAuthRequest::parse(Some("application/x-www-form-urlencoded"),
    ///     b"socket_id=1234.5678&channel_name=private-orders%2E42").unwrap();
    /// assert_eq!(r.channel_name, "private-orders.42");
    /// ```
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        let channel_name = take_single(&pairs, "channel_name").ok_or(AuthError::InvalidChannel)?;
        validate_subscribable_channel(&channel_name).map_err(|_| AuthError::InvalidChannel)?;
        Ok(ChannelAuthRequest {
            socket_id,
            channel_name,
            params: other_params(pairs, &["socket_id", "channel_name"]),
        })
    }
}

impl BatchAuthRequest {
    /// Parses a batch body: `socket_id` and `channel_name[]` (or `channel_name[0]`, `channel_name[1]`, …).
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        let mut channel_names: Vec<String> = Vec::new();
        for (k, v) in &pairs {
            let is_channel = k == "channel_name[]"
                || k.strip_prefix("channel_name[")
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
            if is_channel && !channel_names.iter().any(|c| c == v) {
                channel_names.push(v.as_ref().to_owned());
            }
        }
        if channel_names.is_empty() || channel_names.len() > MAX_BATCH_AUTH_CHANNELS {
            return Err(AuthError::InvalidChannel);
        }
        Ok(BatchAuthRequest {
            socket_id,
            channel_names,
        })
    }
}

impl UserAuthRequest {
    /// Parses a pusher-js user authentication body and checks `socket_id`.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        Ok(UserAuthRequest {
            socket_id,
            params: other_params(pairs, &["socket_id"]),
        })
    }
}

/// A response of an auth route: status, content type and body. Successful responses are the JSON pusher-js
/// expects; refusals are a short plain-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// The HTTP status.
    pub status: u16,
    /// `application/json` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

impl AuthResponse {
    fn json<T: Serialize>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => AuthResponse {
                status: 200,
                content_type: JSON,
                body,
            },
            Err(_) => AuthError::Misconfigured.into(),
        }
    }
}

impl From<AuthError> for AuthResponse {
    fn from(e: AuthError) -> Self {
        AuthResponse {
            status: e.status(),
            content_type: TEXT,
            body: e.reason().to_owned(),
        }
    }
}

/// Maps a core error met while signing to its route failure, logging the misconfigurations.
fn signing_failure(e: &Error) -> AuthError {
    match e {
        Error::MissingMasterKey => {
            tracing::error!(
                "pusher auth: a private-encrypted- channel was requested but the Pusher client has no \
                 encryption master key (set encryption_master_key_base64)"
            );
            AuthError::Misconfigured
        }
        Error::Validation {
            field: "socket_id", ..
        } => AuthError::InvalidSocketId,
        Error::Validation {
            field: "channel", ..
        } => AuthError::InvalidChannel,
        Error::Validation { field, .. } => {
            tracing::error!(
                field,
                "pusher auth: the rule's member or user data was refused"
            );
            AuthError::Misconfigured
        }
        _ => {
            tracing::error!(error = %e, "pusher auth: signing failed");
            AuthError::Misconfigured
        }
    }
}

/// Authorizes one channel for `user` (or refuses): the shared core of every framework's auth route.
pub async fn authorize_channel<U>(
    authorizer: &Authorizer<U>,
    pusher: &Pusher,
    user: Option<U>,
    request: &ChannelAuthRequest,
) -> Result<crate::auth::ChannelAuth, AuthError>
where
    U: Clone + Send + Sync + 'static,
{
    let channel = request.channel_name.as_str();
    let kind = ChannelKind::of(channel);
    if !kind.requires_auth() {
        return Err(if kind == ChannelKind::Public {
            AuthError::PublicChannel
        } else {
            AuthError::InvalidChannel
        });
    }
    let user = user.ok_or(AuthError::NotSignedIn)?;
    let decision = authorizer
        .decide(user, channel)
        .await
        .ok_or(AuthError::NoRule)?;
    let member = match (decision, kind) {
        (Decision::Deny, _) => return Err(AuthError::Forbidden),
        (Decision::Member(m), ChannelKind::Presence) => Some(m),
        (Decision::Allow, ChannelKind::Presence) => {
            tracing::error!(
                channel,
                "pusher auth: a presence- channel rule must answer Decision::Member(..), not Allow"
            );
            return Err(AuthError::Misconfigured);
        }
        (Decision::Allow | Decision::Member(_), _) => None,
    };
    pusher
        .authenticate(channel, &request.socket_id, member.as_ref())
        .map_err(|e| signing_failure(&e))
}

/// One entry of a batch auth response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAuthEntry {
    /// The per-channel status (200, 401, 403…).
    pub status: u16,
    /// The signature, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<crate::auth::ChannelAuth>,
}

impl<U> Authorizer<U>
where
    U: Clone + Send + Sync + 'static,
{
    /// Handles a channel authorization request end to end: parse, decide, sign.
    pub async fn handle_channel_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        if body.len() > self.body_limit {
            return AuthError::TooLarge.into();
        }
        let result = match ChannelAuthRequest::parse(content_type, body) {
            Ok(req) => authorize_channel(self, pusher, user, &req).await,
            Err(e) => Err(e),
        };
        respond(result, "channel auth")
    }

    /// Handles a batch channel authorization request: `{channel: {status, data?}}` for every channel asked.
    pub async fn handle_batch_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        if body.len() > self.body_limit {
            return AuthError::TooLarge.into();
        }
        let batch = match BatchAuthRequest::parse(content_type, body) {
            Ok(b) => b,
            Err(e) => return respond::<()>(Err(e), "batch auth"),
        };
        let mut out: BTreeMap<String, BatchAuthEntry> = BTreeMap::new();
        for channel in batch.channel_names {
            let entry = if validate_subscribable_channel(&channel).is_err() {
                BatchAuthEntry {
                    status: AuthError::InvalidChannel.status(),
                    data: None,
                }
            } else {
                let req = ChannelAuthRequest {
                    socket_id: batch.socket_id.clone(),
                    channel_name: channel.clone(),
                    params: BTreeMap::new(),
                };
                match authorize_channel(self, pusher, user.clone(), &req).await {
                    Ok(auth) => BatchAuthEntry {
                        status: 200,
                        data: Some(auth),
                    },
                    Err(e) => BatchAuthEntry {
                        status: e.status(),
                        data: None,
                    },
                }
            };
            out.insert(channel, entry);
        }
        AuthResponse::json(&out)
    }

    /// Handles a user authentication request: parse, ask the app for the user's data, sign.
    pub async fn handle_user_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        if body.len() > self.body_limit {
            return AuthError::TooLarge.into();
        }
        let result = async {
            let req = UserAuthRequest::parse(content_type, body)?;
            let user = user.ok_or(AuthError::NotSignedIn)?;
            let data = self.user_data(user).await.ok_or(AuthError::Forbidden)?;
            pusher
                .authenticate_user(&req.socket_id, &data)
                .map_err(|e| signing_failure(&e))
        }
        .await;
        respond(result, "user auth")
    }
}

/// One of the ready-made auth routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRoute {
    /// Channel authorization (`/pusher/auth`).
    Channel,
    /// User authentication (`/pusher/user-auth`).
    User,
    /// Batch channel authorization.
    Batch,
}

impl<U> Authorizer<U>
where
    U: Clone + Send + Sync + 'static,
{
    /// The routes to register: each path with its route (the batch route only when configured).
    pub fn routes(&self) -> Vec<(String, AuthRoute)> {
        let (channel, user, batch) = self.paths();
        let mut routes = vec![
            (channel.to_owned(), AuthRoute::Channel),
            (user.to_owned(), AuthRoute::User),
        ];
        routes.extend(batch.map(|p| (p.to_owned(), AuthRoute::Batch)));
        routes
    }

    /// Serves `route` from what a framework read: the raw `Content-Type` value (not UTF-8: malformed), and
    /// the body or why it could not be read. The framework extracts the user first or after, as it likes.
    pub async fn handle(
        &self,
        route: AuthRoute,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&[u8]>,
        body: Result<&[u8], BodyError>,
    ) -> AuthResponse {
        let content_type = match content_type.map(std::str::from_utf8).transpose() {
            Ok(ct) => ct,
            Err(_) => return respond::<()>(Err(AuthError::MalformedBody), "auth"),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return respond::<()>(Err(e.into()), "auth"),
        };
        match route {
            AuthRoute::Channel => {
                self.handle_channel_auth(pusher, user, content_type, body)
                    .await
            }
            AuthRoute::User => {
                self.handle_user_auth(pusher, user, content_type, body)
                    .await
            }
            AuthRoute::Batch => {
                self.handle_batch_auth(pusher, user, content_type, body)
                    .await
            }
        }
    }
}

fn respond<T: Serialize>(result: Result<T, AuthError>, what: &'static str) -> AuthResponse {
    match result {
        Ok(v) => AuthResponse::json(&v),
        Err(e) => {
            tracing::info!(
                route = what,
                status = e.status(),
                reason = e.reason(),
                "pusher auth refused"
            );
            e.into()
        }
    }
}

/// The response of a webhook route that rejects: status and short reason (never the secret or the
/// expected signature).
pub fn webhook_rejection(e: crate::error::WebhookError) -> AuthResponse {
    AuthResponse {
        status: e.status(),
        content_type: TEXT,
        body: e.reason().to_owned(),
    }
}

/// The log line and response for a route that needs a [`Pusher`] in the app state and found none (500).
pub fn missing_pusher(framework_hint: &'static str) -> AuthResponse {
    tracing::error!(
        "pusher: no Pusher client in the application state; add it with {framework_hint}"
    );
    AuthError::Misconfigured.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let form = Some("application/x-www-form-urlencoded; charset=UTF-8");
        let r =
            ChannelAuthRequest::parse(form, b"socket_id=1.2&channel_name=private-a&x=1").unwrap();
        assert_eq!(r.params.get("x").map(String::as_str), Some("1"));
        let r = ChannelAuthRequest::parse(
            Some("application/json"),
            br#"{"socket_id":"1.2","channel_name":"private-a"}"#,
        )
        .unwrap();
        assert_eq!(r.channel_name, "private-a");
        for (ct, body, err) in [
            (
                form,
                &b"channel_name=private-a"[..],
                AuthError::InvalidSocketId,
            ),
            (
                form,
                b"socket_id=abc&channel_name=private-a",
                AuthError::InvalidSocketId,
            ),
            (form, b"socket_id=1.2", AuthError::InvalidChannel),
            (
                form,
                b"socket_id=1.2&channel_name=bad%20name",
                AuthError::InvalidChannel,
            ),
            (
                form,
                b"socket_id=1.2&channel_name=a&channel_name=b",
                AuthError::InvalidChannel,
            ),
            (Some("application/json"), b"{nope", AuthError::MalformedBody),
            (Some("text/xml"), b"<a/>", AuthError::MalformedBody),
            (form, b"\xff\xfe", AuthError::MalformedBody),
        ] {
            assert_eq!(
                ChannelAuthRequest::parse(ct, body),
                Err(err),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let b = BatchAuthRequest::parse(form, b"socket_id=1.2&channel_name%5B%5D=private-a&channel_name[1]=private-b&channel_name[]=private-a").unwrap();
        assert_eq!(b.channel_names, ["private-a", "private-b"]);
        assert!(UserAuthRequest::parse(None, b"socket_id=1.2").is_ok());
    }

    #[tokio::test]
    async fn handling() {
        let pusher = Pusher::builder("1", "key", "secret").build().unwrap();
        let a = Authorizer::<String>::new()
            .channel("private-ok", |_, _| async { Decision::Allow })
            .channel("private-no", |_, _| async { Decision::Deny })
            .channel("presence-bad", |_, _| async { Decision::Allow })
            .channel("private-encrypted-x", |_, _| async { Decision::Allow });
        let form = Some("application/x-www-form-urlencoded");
        let call = |body: &'static str, user: Option<&str>| {
            let a = a.clone();
            let pusher = pusher.clone();
            let user = user.map(str::to_owned);
            async move {
                a.handle_channel_auth(&pusher, user, form, body.as_bytes())
                    .await
                    .status
            }
        };
        assert_eq!(
            call("socket_id=1.2&channel_name=private-ok", Some("u")).await,
            200
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=private-ok", None).await,
            401
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=private-no", Some("u")).await,
            403
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=private-other", Some("u")).await,
            403
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=public", Some("u")).await,
            400
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=presence-bad", Some("u")).await,
            500
        );
        assert_eq!(
            call("socket_id=1.2&channel_name=private-encrypted-x", Some("u")).await,
            500
        );
        let r = a
            .handle_user_auth(&pusher, Some("u".into()), form, b"socket_id=1.2")
            .await;
        assert_eq!(r.status, 403);
        let r = a
            .clone()
            .body_limit(4)
            .handle_user_auth(&pusher, Some("u".into()), form, b"socket_id=1.2")
            .await;
        assert_eq!(r.status, 413);
        let r = a
            .handle_batch_auth(
                &pusher,
                Some("u".into()),
                form,
                b"socket_id=1.2&channel_name[]=private-ok&channel_name[]=private-no",
            )
            .await;
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["private-ok"]["status"], 200);
        assert!(
            v["private-ok"]["data"]["auth"]
                .as_str()
                .unwrap()
                .starts_with("key:")
        );
        assert_eq!(v["private-no"]["status"], 403);
    }
}
