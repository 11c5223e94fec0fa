//! The logic every web-framework integration shares, framework-neutral: parsing auth requests, the
//! authorization rules ([`Authorizer`]), the auth route handlers, and the HTTP meaning of every failure.
//! `pusher-axum`, `pusher-actix` and `pusher-rocket` only read the body with a limit, find the app's user
//! and the [`Pusher`], call in here, and convert the result. The contract they implement is written down in
//! `docs/integrations.md`.
//!
//! An auth route, in every framework, runs in this order (so a refused body never costs the app's user
//! lookup):
//!
//! 1. the [`Pusher`] from the app state (none: 500);
//! 2. the body, read up to [`Authorizer::limit`] (over: 413);
//! 3. [`Authorizer::parse`] with the `Content-Type` from [`header_value`] (malformed: 400);
//! 4. the app's user extractor;
//! 5. [`Authorizer::answer`].

mod parse;
mod routes;
mod rules;
mod sender;
mod types;

#[cfg(feature = "testing")]
pub mod conformance;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use parse::{BatchAuthRequest, ChannelAuthRequest, MAX_BATCH_AUTH_CHANNELS, UserAuthRequest};
pub use routes::{AuthRoute, RouteError};
pub use rules::{
    Authorizer, ChannelParams, ChannelPattern, DEFAULT_AUTH_BODY_LIMIT, DEFAULT_AUTH_PATH,
    DEFAULT_USER_AUTH_PATH, Decision,
};
pub use sender::{InvalidSenderSocketId, SOCKET_ID_HEADER, sender_socket_id};
pub use types::{
    BodyError, KEY_HEADER, SIGNATURE_HEADER, check_webhook_headers, header_value, parse_auth,
    verify_webhook,
};

use crate::channel::ChannelKind;
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

/// A response of an auth route: status, content type and body. Successful responses are the JSON pusher-js
/// expects; refusals are a short plain-text reason. `Debug` shows a refusal's reason but only the length of
/// a successful body, which may carry an encrypted channel's `shared_secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// The HTTP status.
    pub status: u16,
    /// `application/json` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl std::fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("AuthResponse");
        d.field("status", &self.status)
            .field("content_type", &self.content_type);
        if (200..300).contains(&self.status) {
            d.field(
                "body",
                &format_args!("[{} bytes, not shown]", self.body.len()),
            );
        } else {
            d.field("body", &self.body);
        }
        d.finish()
    }
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// The `Allow` header value of a 405.
const ALLOW: &str = "POST";

impl AuthResponse {
    /// The headers to answer with besides the body: `Content-Type`, `Cache-Control: no-store` (an auth
    /// response may carry a `shared_secret`; no refusal should be cached either), and `Allow: POST` on a
    /// 405. Every integration sends exactly these.
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut headers = vec![
            ("content-type", self.content_type),
            ("cache-control", "no-store"),
        ];
        if self.status == 405 {
            headers.push(("allow", ALLOW));
        }
        headers
    }

    /// The answer of an auth path to any method but `POST`: 405, `Allow: POST`.
    pub fn method_not_allowed() -> Self {
        AuthResponse {
            status: 405,
            content_type: TEXT,
            body: "method not allowed".to_owned(),
        }
    }

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
    request.check_needs_auth()?;
    let channel = request.channel_name.as_str();
    // The client's limits (raised for a self-hosted server, or the documented ones), as `authenticate` uses.
    pusher
        .limits()
        .check_subscribable_channel(channel)
        .map_err(|_| AuthError::InvalidChannel)?;
    let kind = ChannelKind::of(channel);
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
        .authorize_channel(channel, &request.socket_id, member.as_ref())
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

/// An auth request parsed by [`Authorizer::parse`], to answer with [`Authorizer::answer`] once the user
/// is known.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRequest {
    /// A channel authorization request (its channel needs authorization).
    Channel(ChannelAuthRequest),
    /// A user authentication request.
    User(UserAuthRequest),
    /// A batch channel authorization request.
    Batch(BatchAuthRequest),
}

impl<U> Authorizer<U>
where
    U: Clone + Send + Sync + 'static,
{
    /// The first half of an auth route, before the app's user is looked up: the body (or why it could not
    /// be read) and the `Content-Type` ([`header_value`]) parsed for `route`. Every refusal here (413, 400)
    /// is final, so a framework runs its user extractor only on `Ok`.
    pub fn parse(
        &self,
        pusher: &Pusher,
        route: AuthRoute,
        content_type: Option<&str>,
        body: Result<&[u8], BodyError>,
    ) -> Result<AuthRequest, AuthResponse> {
        let parsed = body.map_err(AuthError::from).and_then(|body| {
            if body.len() > self.limit() {
                return Err(AuthError::TooLarge);
            }
            match route {
                AuthRoute::Channel => {
                    let req = ChannelAuthRequest::parse(content_type, body)?;
                    // The client's limits, known here: an over-long name is refused before the user.
                    pusher
                        .limits()
                        .check_subscribable_channel(&req.channel_name)
                        .map_err(|_| AuthError::InvalidChannel)?;
                    req.check_needs_auth()?;
                    Ok(AuthRequest::Channel(req))
                }
                AuthRoute::User => {
                    UserAuthRequest::parse(content_type, body).map(AuthRequest::User)
                }
                AuthRoute::Batch => {
                    BatchAuthRequest::parse(content_type, body).map(AuthRequest::Batch)
                }
            }
        });
        parsed.map_err(|e| respond::<()>(Err(e), "auth"))
    }

    /// The second half of an auth route: answers `request` for `user` (`None`: not signed in).
    pub async fn answer(
        &self,
        pusher: &Pusher,
        request: AuthRequest,
        user: Option<U>,
    ) -> AuthResponse {
        match request {
            AuthRequest::Channel(req) => respond(
                authorize_channel(self, pusher, user, &req).await,
                "channel auth",
            ),
            AuthRequest::User(req) => {
                let result = async {
                    let user = user.ok_or(AuthError::NotSignedIn)?;
                    let data = self.user_data(user).await.ok_or(AuthError::Forbidden)?;
                    pusher
                        .authenticate_user(&req.socket_id, &data)
                        .map_err(|e| signing_failure(&e))
                }
                .await;
                respond(result, "user auth")
            }
            AuthRequest::Batch(batch) => self.answer_batch(pusher, batch, user).await,
        }
    }

    async fn answer_batch(
        &self,
        pusher: &Pusher,
        batch: BatchAuthRequest,
        user: Option<U>,
    ) -> AuthResponse {
        let mut out: BTreeMap<String, BatchAuthEntry> = BTreeMap::new();
        for channel in batch.channel_names {
            let entry = if pusher
                .limits()
                .check_subscribable_channel(&channel)
                .is_err()
            {
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

    /// [`Authorizer::handle`] for the channel authorization route.
    pub async fn handle_channel_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        self.handle(AuthRoute::Channel, pusher, user, content_type, body)
            .await
    }

    /// [`Authorizer::handle`] for the batch authorization route: `{channel: {status, data?}}` for every
    /// channel asked.
    pub async fn handle_batch_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        self.handle(AuthRoute::Batch, pusher, user, content_type, body)
            .await
    }

    /// [`Authorizer::handle`] for the user authentication route.
    pub async fn handle_user_auth(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        self.handle(AuthRoute::User, pusher, user, content_type, body)
            .await
    }

    /// Serves `route` end to end for a user already known: [`Authorizer::parse`] then
    /// [`Authorizer::answer`]. Integrations call the two halves, extracting the user in between.
    pub async fn handle(
        &self,
        route: AuthRoute,
        pusher: &Pusher,
        user: Option<U>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> AuthResponse {
        match self.parse(pusher, route, content_type, Ok(body)) {
            Ok(request) => self.answer(pusher, request, user).await,
            Err(refused) => refused,
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

    /// The routes check channel names against the client's limits, as `authenticate` does: raised limits
    /// are honoured by the single and the batch route, the documented ones refuse a longer name.
    #[tokio::test]
    async fn routes_use_the_clients_limits() {
        let name = format!("private-{}", "a".repeat(180));
        let form = Some("application/x-www-form-urlencoded");
        let single = format!("socket_id=1.2&channel_name={name}");
        let batch = format!("socket_id=1.2&channel_name[]={name}");
        let a =
            Authorizer::<String>::new().channel("private-{x}", |_, _| async { Decision::Allow });
        let raised = crate::Limits {
            max_channel_name: 200,
            ..crate::Limits::DOCUMENTED
        };
        for (limits, single_status, batch_status) in
            [(raised, 200, 200), (crate::Limits::DOCUMENTED, 400, 400)]
        {
            let pusher = Pusher::builder("1", "key", "secret")
                .limits(limits)
                .build()
                .unwrap();
            assert_eq!(
                pusher.authorize_channel(&name, "1.2", None).is_ok(),
                single_status == 200
            );
            let r = a
                .handle(
                    AuthRoute::Channel,
                    &pusher,
                    Some("u".into()),
                    form,
                    single.as_bytes(),
                )
                .await;
            assert_eq!(r.status, single_status, "{r:?}");
            let r = a
                .handle(
                    AuthRoute::Batch,
                    &pusher,
                    Some("u".into()),
                    form,
                    batch.as_bytes(),
                )
                .await;
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body[&name]["status"], batch_status, "{}", r.body);
        }
    }

    /// `Debug` of a successful auth response (which may carry a `shared_secret`) shows no body.
    #[tokio::test]
    async fn auth_response_debug_hides_a_successful_body() {
        let pusher = Pusher::builder("1", "key", "secret")
            .encryption_master_key(vec![7u8; 32])
            .build()
            .unwrap();
        let a = Authorizer::<String>::new()
            .channel("private-encrypted-{x}", |_, _| async { Decision::Allow });
        let form = Some("application/x-www-form-urlencoded");
        let r = a
            .handle(
                AuthRoute::Channel,
                &pusher,
                Some("u".into()),
                form,
                b"socket_id=1.2&channel_name=private-encrypted-a",
            )
            .await;
        assert_eq!(r.status, 200);
        let secret = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["shared_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let debug = format!("{r:?}");
        assert!(
            !debug.contains(&secret) && !debug.contains("shared_secret"),
            "{debug}"
        );
        // A refusal's reason is shown.
        let r = a
            .handle(
                AuthRoute::Channel,
                &pusher,
                None,
                form,
                b"socket_id=1.2&channel_name=private-encrypted-a",
            )
            .await;
        assert!(format!("{r:?}").contains(&r.body), "{r:?}");
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
        let call = |route: AuthRoute, body: &'static str, user: Option<&str>| {
            let a = a.clone();
            let pusher = pusher.clone();
            let user = user.map(str::to_owned);
            async move {
                a.handle(route, &pusher, user, form, body.as_bytes())
                    .await
                    .status
            }
        };
        let channel = |body, user| call(AuthRoute::Channel, body, user);
        assert_eq!(
            channel("socket_id=1.2&channel_name=private-ok", Some("u")).await,
            200
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=private-ok", None).await,
            401
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=private-no", Some("u")).await,
            403
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=private-other", Some("u")).await,
            403
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=public", Some("u")).await,
            400
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=presence-bad", Some("u")).await,
            500
        );
        assert_eq!(
            channel("socket_id=1.2&channel_name=private-encrypted-x", Some("u")).await,
            500
        );
        assert_eq!(call(AuthRoute::User, "socket_id=1.2", Some("u")).await, 403);
        let r = a
            .clone()
            .body_limit(4)
            .handle(
                AuthRoute::User,
                &pusher,
                Some("u".into()),
                form,
                b"socket_id=1.2",
            )
            .await;
        assert_eq!(r.status, 413);
        let r = a
            .handle(
                AuthRoute::Batch,
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

    #[test]
    fn a_refused_body_is_final_before_the_user_is_known() {
        let a = Authorizer::<String>::new().body_limit(48);
        let pusher = Pusher::builder("1", "key", "secret").build().unwrap();
        let form = Some("application/x-www-form-urlencoded");
        for (body, status) in [
            (Err(BodyError::TooLarge), 413),
            (
                Ok(&b"socket_id=1.2&channel_name=private-a&pad=xxxxxxxxxxxxxx"[..]),
                413,
            ),
            (Ok(&b"socket_id=1.2"[..]), 400),
            (Ok(&b"socket_id=1.2&channel_name=a"[..]), 400),
            (Err(BodyError::Unreadable), 400),
        ] {
            let r = a
                .parse(&pusher, AuthRoute::Channel, form, body)
                .unwrap_err();
            assert_eq!(r.status, status, "{body:?}");
        }
    }

    #[test]
    fn every_response_says_no_store() {
        let ok = AuthResponse::json(&serde_json::json!({"auth": "k:s", "shared_secret": "x"}));
        for r in [
            ok,
            AuthError::Forbidden.into(),
            AuthResponse::method_not_allowed(),
        ] {
            assert!(
                r.headers().contains(&("cache-control", "no-store")),
                "{r:?}"
            );
        }
        assert!(
            AuthResponse::method_not_allowed()
                .headers()
                .contains(&("allow", "POST"))
        );
    }
}
