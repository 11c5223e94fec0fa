//! The logic every web-framework integration shares, framework-neutral: the authorization rules
//! ([`Authorizer`], [`Decision`], [`ChannelContext`], [`RuleError`]), parsing auth requests, the auth route
//! handlers, and the HTTP meaning of every failure ([`AuthError`]).
//! `pusher-axum`, `pusher-actix` and `pusher-rocket` only read the body with a limit, find the app's user
//! and the [`Pusher`], call in here, and convert the result. The contract they implement is written down in
//! `docs/integrations.md`.
//!
//! An auth route, in every framework, runs in this order (so a refused body never costs the app's user
//! lookup):
//!
//! 1. the [`Pusher`] from the app state (none: 500);
//! 2. the body, read up to [`Authorizer::body_limit_bytes`] (over: 413);
//! 3. the body parsed for the route, with the `Content-Type` (malformed: 400);
//! 4. the app's user extractor;
//! 5. the rules ([`Authorizer`]), then the signature.
//!
//! [`Authorizer::handle`] runs steps 2 to 5 for a user already known: the entry point for serving the
//! routes from a framework without an integration crate.

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
    Authorizer, ChannelContext, ChannelParams, ChannelPattern, DEFAULT_AUTH_BODY_LIMIT,
    DEFAULT_AUTH_PATH, DEFAULT_USER_AUTH_PATH, Decision, RuleError, UserContext,
};
pub use sender::{InvalidSenderSocketId, SOCKET_ID_HEADER, sender_socket_id};
pub use types::{KEY_HEADER, SIGNATURE_HEADER};

use rules::{Ask, Refusal};
use types::BodyError;

/// The glue the framework crates (`pusher-axum`, `pusher-actix`, `pusher-rocket`) share, public only so
/// that they can reach it: not part of the documented API, and it may change in any release. Applications
/// use the framework crate's types instead.
#[doc(hidden)]
pub mod __private {
    pub use super::AuthRequest;
    pub use super::types::{
        BodyError, KEY_HEADER, SIGNATURE_HEADER, check_webhook_headers, header_value, parse_auth,
        verify_webhook,
    };
    pub use super::{missing_pusher, user_extractor_failed, webhook_rejection};
}

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
    /// A rule or a user lookup failed with a [`RuleError`] (a database outage…): 503, so pusher-js does not
    /// take it for a final refusal (the cause is logged at WARN).
    #[error("auth temporarily unavailable")]
    Unavailable,
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
            AuthError::Unavailable => 503,
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
            AuthError::Unavailable => "auth temporarily unavailable",
        }
    }
}

/// A response of an auth route: status, content type and body. Successful responses are the JSON pusher-js
/// expects; refusals are a short plain-text reason. `Debug` shows a refusal's reason but only the length of
/// a successful body, which may carry an encrypted channel's `shared_secret`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// The route's refusal for a rule's refusal, logging a failure (the app gets no `Result` for it).
fn refusal(r: Refusal, channel: Option<&str>) -> AuthError {
    match r {
        Refusal::NoRule => AuthError::NoRule,
        Refusal::NotSignedIn => AuthError::NotSignedIn,
        Refusal::Failed(e) => {
            let refused = e.auth_error();
            tracing::warn!(
                channel,
                status = refused.status(),
                error = %e,
                "pusher auth: a rule or user lookup failed"
            );
            refused
        }
    }
}

/// Signs one channel as `decision` says (or refuses).
fn sign_channel(
    pusher: &Pusher,
    channel: &str,
    socket_id: &str,
    decision: Decision,
) -> Result<crate::auth::ChannelAuth, AuthError> {
    let member = match (decision, ChannelKind::of(channel)) {
        (Decision::Deny, _) => return Err(AuthError::Forbidden),
        (Decision::Member(m), ChannelKind::Presence) => Some(m),
        (Decision::Allow, ChannelKind::Presence) => {
            tracing::error!(
                channel,
                "pusher auth: a presence- channel rule must answer Decision::member(..), not Allow"
            );
            return Err(AuthError::Misconfigured);
        }
        (Decision::Allow | Decision::Member(_), _) => None,
    };
    pusher
        .authorize_channel(channel, socket_id, member.as_ref())
        .map_err(|e| signing_failure(&e))
}

/// One entry of a batch auth response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BatchAuthEntry {
    /// The per-channel status (200, 401, 403…).
    status: u16,
    /// The signature, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<crate::auth::ChannelAuth>,
}

impl BatchAuthEntry {
    fn of(result: Result<crate::auth::ChannelAuth, AuthError>) -> Self {
        match result {
            Ok(auth) => BatchAuthEntry {
                status: 200,
                data: Some(auth),
            },
            Err(e) => BatchAuthEntry {
                status: e.status(),
                data: None,
            },
        }
    }
}

/// An auth request parsed by the first half of a route, to answer once the user is known.
#[doc(hidden)]
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

impl<U, S> Authorizer<U, S>
where
    U: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    /// The first half of an auth route, before the app's user is looked up: the body (or why it could not
    /// be read) and the `Content-Type` parsed for `route`. Every refusal here (413, 400) is final, so a
    /// framework runs its user extractor only on `Ok`. Integration glue.
    #[doc(hidden)]
    pub fn parse(
        &self,
        pusher: &Pusher,
        route: AuthRoute,
        content_type: Option<&str>,
        body: Result<&[u8], BodyError>,
    ) -> Result<AuthRequest, AuthResponse> {
        let parsed = body.map_err(AuthError::from).and_then(|body| {
            if body.len() > self.body_limit_bytes() {
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
    /// Integration glue.
    #[doc(hidden)]
    pub async fn answer(
        &self,
        pusher: &Pusher,
        request: AuthRequest,
        user: Option<U>,
    ) -> AuthResponse {
        match request {
            AuthRequest::Channel(req) => {
                let result = self.answer_channel(pusher, user, req).await;
                respond(result, "channel auth")
            }
            AuthRequest::User(req) => {
                let result = async {
                    let user = user.ok_or(AuthError::NotSignedIn)?;
                    let ctx = UserContext {
                        socket_id: req.socket_id.clone(),
                        auth_params: req.params,
                        state: (),
                    };
                    let data = self
                        .user_data(user, ctx)
                        .await
                        .map_err(|r| refusal(r, None))?
                        .ok_or(AuthError::Forbidden)?;
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

    async fn answer_channel(
        &self,
        pusher: &Pusher,
        user: Option<U>,
        req: ChannelAuthRequest,
    ) -> Result<crate::auth::ChannelAuth, AuthError> {
        // Checked by `parse` already; again here, as `answer` takes any `AuthRequest`.
        pusher
            .limits()
            .check_subscribable_channel(&req.channel_name)
            .map_err(|_| AuthError::InvalidChannel)?;
        req.check_needs_auth()?;
        let user = user.ok_or(AuthError::NotSignedIn)?;
        let ask = Ask {
            channel: req.channel_name.clone(),
            socket_id: req.socket_id.clone(),
            auth_params: req.params,
        };
        let verdict = self
            .decide_all(user, vec![ask])
            .await
            .pop()
            .unwrap_or(Err(Refusal::NoRule));
        let decision = verdict.map_err(|r| refusal(r, Some(&req.channel_name)))?;
        sign_channel(pusher, &req.channel_name, &req.socket_id, decision)
    }

    async fn answer_batch(
        &self,
        pusher: &Pusher,
        batch: BatchAuthRequest,
        user: Option<U>,
    ) -> AuthResponse {
        let mut out: BTreeMap<String, BatchAuthEntry> = BTreeMap::new();
        let mut asks = Vec::new();
        // Per channel, in the single route's order: the name, whether it needs authorization, the user;
        // then the rules, for every channel that got that far at once (one user lookup).
        for channel in batch.channel_names {
            let checked = pusher
                .limits()
                .check_subscribable_channel(&channel)
                .map_err(|_| AuthError::InvalidChannel)
                .and_then(|()| {
                    ChannelAuthRequest {
                        socket_id: batch.socket_id.clone(),
                        channel_name: channel.clone(),
                        params: BTreeMap::new(),
                    }
                    .check_needs_auth()
                })
                .and_then(|()| user.as_ref().map(|_| ()).ok_or(AuthError::NotSignedIn));
            match checked {
                Ok(()) => asks.push(Ask {
                    channel,
                    socket_id: batch.socket_id.clone(),
                    auth_params: batch.params.clone(),
                }),
                Err(e) => {
                    out.insert(channel, BatchAuthEntry::of(Err(e)));
                }
            }
        }
        if let (Some(user), false) = (user, asks.is_empty()) {
            let channels: Vec<String> = asks.iter().map(|a| a.channel.clone()).collect();
            let verdicts = self.decide_all(user, asks).await;
            for (channel, verdict) in channels.into_iter().zip(verdicts) {
                let result = verdict
                    .map_err(|r| refusal(r, Some(&channel)))
                    .and_then(|d| sign_channel(pusher, &channel, &batch.socket_id, d));
                out.insert(channel, BatchAuthEntry::of(result));
            }
        }
        AuthResponse::json(&out)
    }

    /// Serves `route` end to end for a user already known: the body (at most
    /// [`Authorizer::body_limit_bytes`]) parsed by its `Content-Type`, the rules, the signature; every
    /// failure as its status and short reason ([`AuthError`]). The framework crates run the same steps,
    /// extracting the user only once the body is read and parsed; this is the entry point for a framework
    /// without one (read the body with the limit, find the user, call this, send the [`AuthResponse`] with
    /// its [`headers`](AuthResponse::headers)).
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
            tracing::debug!(
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
/// expected signature). Integration glue.
#[doc(hidden)]
pub fn webhook_rejection(e: crate::error::WebhookError) -> AuthResponse {
    AuthResponse {
        status: e.status(),
        content_type: TEXT,
        body: e.reason().to_owned(),
    }
}

/// The contract's answer when the app's user extractor refused with HTTP status `status`: a server error (a
/// session store that is down) is "try again", 503, never a refusal pusher-js would keep; any other refusal
/// is `None`: not signed in, which the rules answer (401). Each framework reads the status its own way.
/// Integration glue.
#[doc(hidden)]
pub fn user_extractor_failed(status: u16) -> Option<AuthResponse> {
    (500..600)
        .contains(&status)
        .then(|| AuthError::Unavailable.into())
}

/// The log line and response for a route that needs a [`Pusher`] in the app state and found none (500).
/// Integration glue.
#[doc(hidden)]
pub fn missing_pusher(framework_hint: &'static str) -> AuthResponse {
    tracing::error!(
        "pusher: no Pusher client in the application state; add it with {framework_hint}"
    );
    AuthError::Misconfigured.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes check channel names against the client's limits, as `Pusher::authorize_channel` does: raised limits
    /// are honoured by the single and the batch route, the documented ones refuse a longer name.
    #[tokio::test]
    async fn routes_use_the_clients_limits() {
        let name = format!("private-{}", "a".repeat(180));
        let form = Some("application/x-www-form-urlencoded");
        let single = format!("socket_id=1.2&channel_name={name}");
        let batch = format!("socket_id=1.2&channel_name[]={name}");
        let a = Authorizer::<String>::new()
            .channel("private-{x}", |_, _| async { Ok(Decision::Allow) });
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
        let a = Authorizer::<String>::new().channel("private-encrypted-{x}", |_, _| async {
            Ok(Decision::Allow)
        });
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
            .channel("private-ok", |_, _| async { Ok(Decision::Allow) })
            .channel("private-no", |_, _| async { Ok(Decision::Deny) })
            .channel("presence-bad", |_, _| async { Ok(Decision::Allow) })
            .channel("private-encrypted-x", |_, _| async { Ok(Decision::Allow) });
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

    /// A rule that fails answers 503 (pusher-js must not take a database outage for a refusal), in the
    /// single, user and batch routes; the error's text is logged, never answered.
    #[tokio::test]
    async fn a_failing_rule_answers_503_not_403() {
        let pusher = Pusher::builder("1", "key", "secret").build().unwrap();
        let a = Authorizer::<String>::new()
            .channel("private-down", |_, _| async {
                Err(RuleError::unavailable("db password=hunter2 unreachable"))
            })
            .channel("private-bug", |_, _| async {
                Err(RuleError::misconfigured("no such table"))
            })
            .channel("private-ok", |_, _| async { Ok(Decision::Allow) })
            .user(|_, _| async { Err(std::io::Error::other("sessions down").into()) });
        let form = Some("application/x-www-form-urlencoded");
        let call = |route, body: &'static str| {
            let (a, pusher) = (a.clone(), pusher.clone());
            async move {
                a.handle(route, &pusher, Some("u".to_owned()), form, body.as_bytes())
                    .await
            }
        };
        let r = call(
            AuthRoute::Channel,
            "socket_id=1.2&channel_name=private-down",
        )
        .await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "auth temporarily unavailable")
        );
        let r = call(AuthRoute::Channel, "socket_id=1.2&channel_name=private-bug").await;
        assert_eq!((r.status, r.body.as_str()), (500, "server misconfigured"));
        let r = call(AuthRoute::User, "socket_id=1.2").await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "auth temporarily unavailable")
        );
        let r = call(
            AuthRoute::Batch,
            "socket_id=1.2&channel_name[]=private-down&channel_name[]=private-ok",
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["private-down"]["status"], 503, "{v}");
        assert_eq!(v["private-ok"]["status"], 200, "{v}");
        assert!(!r.body.contains("hunter2"));
    }

    /// A writer collecting what a `tracing` subscriber prints.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `run` logs at INFO and above.
    fn logged_at_info(run: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// Refused auth requests and webhooks are the caller's outcome (it gets the status): logged at DEBUG,
    /// nothing at INFO or above; a failing rule (503) is logged at WARN, without the response's body.
    #[test]
    fn refusals_log_at_debug_and_a_failing_rule_at_warn() {
        let pusher = Pusher::builder("1", "key", "secret").build().unwrap();
        let a = Authorizer::<String>::new()
            .channel("private-no", |_, _| async { Ok(Decision::Deny) })
            .channel("private-down", |_, _| async {
                Err(RuleError::unavailable("orders db unreachable"))
            });
        let form = Some("application/x-www-form-urlencoded");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let refusals = logged_at_info(|| {
            rt.block_on(async {
                for (user, body) in [
                    (Some("u"), &b"socket_id=1.2&channel_name=private-no"[..]),
                    (Some("u"), b"socket_id=1.2&channel_name=private-other"),
                    (None, b"socket_id=1.2&channel_name=private-no"),
                    (Some("u"), b"socket_id=x&channel_name=private-no"),
                    (Some("u"), b"socket_id=1.2&channel_name=public"),
                ] {
                    let user = user.map(str::to_owned);
                    let r = a
                        .handle(AuthRoute::Channel, &pusher, user, form, body)
                        .await;
                    assert!((400..500).contains(&r.status), "{r:?}");
                }
            });
            for (key, signature) in [
                (None, None),
                (Some("key"), None),
                (Some("key"), Some("zz")),
                (Some("nope"), Some(&*"0".repeat(64))),
            ] {
                assert!(types::check_webhook_headers(&pusher, key, signature).is_err());
            }
        });
        assert_eq!(refusals, "", "refusals must not log at INFO or above");
        let failure = logged_at_info(|| {
            let r = rt.block_on(a.handle(
                AuthRoute::Channel,
                &pusher,
                Some("u".into()),
                form,
                b"socket_id=1.2&channel_name=private-down",
            ));
            assert_eq!(r.status, 503);
        });
        assert!(
            failure.contains("WARN") && failure.contains("orders db unreachable"),
            "{failure}"
        );
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
