//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use pusher::Pusher;
use pusher::integration::{self as core, AuthError, Authorizer, DEFAULT_AUTH_BODY_LIMIT};

use crate::{ReadError, into_response, read_limited};

/// The auth routes of `authorizer` as an [`axum::Router<S>`] to merge into the app's.
///
/// They answer `POST` at [`Authorizer::paths`] (channel authorization at `/pusher/auth`, user
/// authentication at `/pusher/user-auth`, and batch authorization when [`Authorizer::batch_auth_path`] is
/// set), reading at most [`Authorizer::body_limit`] bytes. The client comes from the state through
/// [`FromRef`].
///
/// `U` is the app's user, found with its own [`FromRequestParts`] implementation (a session, a JWT…): when
/// extraction fails the request is not signed in (401). Statuses and bodies follow
/// [the integration contract](https://github.com/pusher-rs/pusher-rs/blob/main/docs/integrations.md).
///
/// ```
/// use axum::{Router, extract::FromRequestParts, http::{StatusCode, request::Parts}};
/// use pusher_axum::{Authorizer, Decision};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// impl<S: Send + Sync> FromRequestParts<S> for User {
///     type Rejection = StatusCode;
///
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
///         let name = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
///         name.map(|n| User(n.to_owned())).ok_or(StatusCode::UNAUTHORIZED)
///     }
/// }
///
/// let rules = Authorizer::new().channel("private-user-{name}", |user: User, p| async move {
///     Decision::from(p.get("name") == Some(user.0.as_str()))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build()?;
/// let app: Router = Router::new().merge(pusher_axum::routes(rules)).with_state(pusher);
/// # Ok::<(), pusher::Error>(())
/// ```
///
/// When the rules are written for a type that does not implement `FromRequestParts` (a type from another
/// crate), wrap it in a local extractor and convert with [`Authorizer::map_user`].
pub fn routes<U, S>(authorizer: Authorizer<U>) -> Router<S>
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
    Pusher: FromRef<S>,
{
    let (channel, user, batch) = authorizer.paths();
    let mut paths = vec![
        (channel.to_owned(), Route::Channel),
        (user.to_owned(), Route::User),
    ];
    paths.extend(batch.map(|path| (path.to_owned(), Route::Batch)));
    let authorizer = Arc::new(authorizer);
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router.route(&path, method_router(Arc::clone(&authorizer), route))
        })
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Channel,
    User,
    Batch,
}

fn method_router<U, S>(authorizer: Arc<Authorizer<U>>, route: Route) -> MethodRouter<S>
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
    Pusher: FromRef<S>,
{
    post(move |State(state): State<S>, req: Request| {
        let authorizer = Arc::clone(&authorizer);
        async move { serve(&authorizer, route, &state, req).await }
    })
}

async fn serve<U, S>(authorizer: &Authorizer<U>, route: Route, state: &S, req: Request) -> Response
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    let (mut parts, body) = req.into_parts();
    // The body first: an oversized or malformed request is refused before the app's user lookup runs.
    let read = read_limited(&parts.headers, body, authorizer.limit()).await;
    let (body, content_type) = match read
        .map_err(body_error)
        .and_then(|body| Ok((body, content_type(&parts.headers)?.map(str::to_owned))))
    {
        Ok(read) => read,
        Err(e) => {
            tracing::info!(
                status = e.status(),
                reason = e.reason(),
                "pusher auth refused"
            );
            return into_response(e.into());
        }
    };
    let user = U::from_request_parts(&mut parts, state).await.ok();
    let pusher = Pusher::from_ref(state);
    let content_type = content_type.as_deref();
    into_response(match route {
        Route::Channel => {
            authorizer
                .handle_channel_auth(&pusher, user, content_type, &body)
                .await
        }
        Route::User => {
            authorizer
                .handle_user_auth(&pusher, user, content_type, &body)
                .await
        }
        Route::Batch => {
            authorizer
                .handle_batch_auth(&pusher, user, content_type, &body)
                .await
        }
    })
}

fn body_error(e: ReadError) -> AuthError {
    match e {
        ReadError::TooLarge => AuthError::TooLarge,
        ReadError::Failed => AuthError::MalformedBody,
    }
}

/// The `Content-Type` header; a value that is not UTF-8 makes the body malformed.
fn content_type(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| AuthError::MalformedBody))
        .transpose()
}

/// The body limit of the [`ChannelAuthRequest`] and [`UserAuthRequest`] extractors (default 64 KiB), set
/// as a request extension like axum's `DefaultBodyLimit`. The ready-made [`routes`] use
/// [`Authorizer::body_limit`] instead.
///
/// ```
/// use axum::{Extension, Router};
/// use pusher_axum::AuthConfig;
///
/// let app: Router = Router::new()
///     // .route("/my-auth", post(my_auth))
///     .layer(Extension(AuthConfig::default().limit(16 * 1024)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    limit: usize,
}

impl AuthConfig {
    /// The largest body; larger is refused with 413.
    #[must_use]
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            limit: DEFAULT_AUTH_BODY_LIMIT,
        }
    }
}

/// Reads the body with the [`AuthConfig`] limit and parses it with the core.
async fn extract<T>(
    req: Request,
    parse: fn(Option<&str>, &[u8]) -> Result<T, AuthError>,
) -> Result<T, AuthRejection> {
    let (parts, body) = req.into_parts();
    let limit = parts
        .extensions
        .get::<AuthConfig>()
        .map_or(DEFAULT_AUTH_BODY_LIMIT, |c| c.limit);
    let parsed = match read_limited(&parts.headers, body, limit).await {
        Ok(body) => content_type(&parts.headers).and_then(|ct| parse(ct, &body)),
        Err(e) => Err(body_error(e)),
    };
    parsed.map_err(|e| {
        tracing::debug!(
            status = e.status(),
            reason = e.reason(),
            "pusher auth request refused"
        );
        AuthRejection(e)
    })
}

/// A channel authorization request from pusher-js, parsed (form or JSON) and checked (`socket_id`,
/// `channel_name`): the piece for a custom auth handler. The body limit is [`AuthConfig`]'s; a refusal
/// answers [`AuthRejection`]. As it reads the body, it must be the handler's last argument.
///
/// ```
/// use axum::{Json, Router, extract::State, routing::post};
/// use pusher::{ChannelAuth, Pusher};
/// use pusher::integration::AuthError;
/// use pusher_axum::{AuthRejection, ChannelAuthRequest};
///
/// async fn auth(
///     State(pusher): State<Pusher>,
///     req: ChannelAuthRequest,
/// ) -> Result<Json<ChannelAuth>, AuthRejection> {
///     if !req.channel_name.starts_with("private-") {
///         return Err(AuthError::Forbidden.into());
///     }
///     let auth = pusher
///         .authenticate(&req.channel_name, &req.socket_id, None)
///         .map_err(|_| AuthError::Misconfigured)?;
///     Ok(Json(auth))
/// }
///
/// let pusher = Pusher::builder("1", "key", "secret").build()?;
/// let app: Router = Router::new().route("/pusher/auth", post(auth)).with_state(pusher);
/// # Ok::<(), pusher::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAuthRequest(pub core::ChannelAuthRequest);

/// A user authentication request from pusher-js, parsed (form or JSON) with its `socket_id` checked: the
/// piece for a custom user-auth handler (sign with [`Pusher::authenticate_user`]). The body limit is
/// [`AuthConfig`]'s; a refusal answers [`AuthRejection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAuthRequest(pub core::UserAuthRequest);

macro_rules! auth_extractor {
    ($name:ident) => {
        impl $name {
            /// The parsed request.
            pub fn into_inner(self) -> core::$name {
                self.0
            }
        }

        impl Deref for $name {
            type Target = core::$name;

            fn deref(&self) -> &core::$name {
                &self.0
            }
        }

        impl<S: Send + Sync> FromRequest<S> for $name {
            type Rejection = AuthRejection;

            async fn from_request(req: Request, _: &S) -> Result<Self, AuthRejection> {
                extract(req, |content_type, body| {
                    core::$name::parse(content_type, body).map($name)
                })
                .await
            }
        }
    };
}

auth_extractor!(ChannelAuthRequest);
auth_extractor!(UserAuthRequest);

/// Why an auth extractor refused a request: wraps [`AuthError`]. As a response it answers
/// [`AuthError::status`] with the short [`AuthError::reason`] as `text/plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRejection(pub AuthError);

impl AuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status()
    }

    /// The short reason answered in the body.
    pub fn reason(&self) -> &'static str {
        self.0.reason()
    }
}

impl From<AuthError> for AuthRejection {
    fn from(e: AuthError) -> Self {
        AuthRejection(e)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        into_response(self.0.into())
    }
}
