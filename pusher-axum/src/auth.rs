//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pusher::Pusher;
use pusher::integration::{
    self as core, AuthError, AuthRoute, Authorizer, DEFAULT_AUTH_BODY_LIMIT,
};

use crate::{
    AuthConfig, AuthRejection, ChannelAuthRequest, UserAuthRequest, into_response, read_limited,
};

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
    let routes = authorizer.routes();
    let authorizer = Arc::new(authorizer);
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            let authorizer = Arc::clone(&authorizer);
            router.route(
                &path,
                post(move |State(state): State<S>, req: Request| {
                    let authorizer = Arc::clone(&authorizer);
                    async move { serve(&authorizer, route, &state, req).await }
                }),
            )
        })
}

async fn serve<U, S>(
    authorizer: &Authorizer<U>,
    route: AuthRoute,
    state: &S,
    req: Request,
) -> Response
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    let (mut parts, body) = req.into_parts();
    // The body first: an oversized or malformed request is refused before the app's user lookup runs.
    let body = read_limited(&parts.headers, body, authorizer.limit()).await;
    let user = match body {
        Ok(_) => U::from_request_parts(&mut parts, state).await.ok(),
        Err(_) => None,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes());
    let body = body.as_deref().map_err(|e| *e);
    into_response(
        authorizer
            .handle(route, &Pusher::from_ref(state), user, content_type, body)
            .await,
    )
}

/// The `Content-Type` header; a value that is not UTF-8 makes the body malformed.
fn content_type(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| AuthError::MalformedBody))
        .transpose()
}

/// Reads the body with the [`AuthConfig`] limit (set as a request extension) and parses it with the core.
async fn extract<T>(
    req: Request,
    parse: fn(Option<&str>, &[u8]) -> Result<T, AuthError>,
) -> Result<T, AuthRejection> {
    let (parts, body) = req.into_parts();
    let limit = parts
        .extensions
        .get::<AuthConfig>()
        .map_or(DEFAULT_AUTH_BODY_LIMIT, AuthConfig::max_bytes);
    let body = read_limited(&parts.headers, body, limit).await;
    let content_type = content_type(&parts.headers).map_err(AuthRejection)?;
    core::parse_auth(parse, content_type, body.as_deref().map_err(|e| *e)).map_err(AuthRejection)
}

macro_rules! auth_extractor {
    ($name:ident) => {
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

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        into_response(self.0.into())
    }
}
