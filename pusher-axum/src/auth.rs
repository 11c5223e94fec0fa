//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pusher::Pusher;
use pusher::integration::__private::{self as glue, header_value};
use pusher::integration::{
    self as core, AuthError, AuthResponse, AuthRoute, Authorizer, DEFAULT_AUTH_BODY_LIMIT,
    RouteError,
};

use crate::{
    AuthConfig, AuthRejection, ChannelAuthBody, UserAuthBody, into_response, read_limited,
};

/// The auth routes of `authorizer` as an [`axum::Router<S>`] to merge into the app's.
///
/// They answer `POST` at [`Authorizer::paths`] (channel authorization at `/pusher/auth`, user
/// authentication at `/pusher/user-auth`, and batch authorization when [`Authorizer::batch_auth_path`] is
/// set), reading at most [`Authorizer::body_limit_bytes`] bytes, and 405 to any other method. The client comes
/// from the state through [`FromRef`]. A path that is not a plain path, or two equal paths, is a
/// [`RouteError`] here, at setup.
///
/// `A` is the rules' own state ([`Authorizer::with_state`], `()` by default), which every rule gets as
/// `ctx.state`; it is independent of the framework's.
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
///     Ok(Decision::from(p.get("name") == Some(user.0.as_str())))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build()?;
/// let app: Router = Router::new().merge(pusher_axum::routes(rules)?).with_state(pusher);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// When the rules are written for a type that does not implement `FromRequestParts` (a type from another
/// crate), wrap it in a local extractor and convert with [`Authorizer::map_user`].
pub fn routes<U, A, S>(authorizer: Authorizer<U, A>) -> Result<Router<S>, RouteError>
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
    Pusher: FromRef<S>,
{
    let routes = authorizer.routes()?;
    let authorizer = Arc::new(authorizer);
    Ok(routes
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            let authorizer = Arc::clone(&authorizer);
            router.route(
                &path,
                post(move |State(state): State<S>, req: Request| {
                    let authorizer = Arc::clone(&authorizer);
                    async move { serve(&authorizer, route, &state, req).await }
                })
                .fallback(|| async { into_response(AuthResponse::method_not_allowed()) }),
            )
        }))
}

/// One auth request, in the contract's order: the body (read with the limit) and its parse first, so a
/// refused body never runs the app's user extractor; then the user; then the answer.
async fn serve<U, A, S>(
    authorizer: &Authorizer<U, A>,
    route: AuthRoute,
    state: &S,
    req: Request,
) -> Response
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    let (mut parts, body) = req.into_parts();
    let pusher = Pusher::from_ref(state);
    let body = read_limited(&parts.headers, body, authorizer.body_limit_bytes()).await;
    let request = match authorizer.parse(
        &pusher,
        route,
        content_type(&parts.headers),
        body.as_deref().map_err(|e| *e),
    ) {
        Ok(request) => request,
        Err(refused) => return into_response(refused),
    };
    let user = match U::from_request_parts(&mut parts, state).await {
        Ok(user) => Some(user),
        Err(rejection) => {
            match glue::user_extractor_failed(rejection.into_response().status().as_u16()) {
                Some(unavailable) => return into_response(unavailable),
                None => None,
            }
        }
    };
    into_response(authorizer.answer(&pusher, request, user).await)
}

/// The `Content-Type` as every integration reads it (`header_value`).
fn content_type(headers: &HeaderMap) -> Option<&str> {
    header_value(
        headers
            .get_all(header::CONTENT_TYPE)
            .iter()
            .map(|v| v.as_bytes()),
    )
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
        .map_or(DEFAULT_AUTH_BODY_LIMIT, AuthConfig::body_limit_bytes);
    let body = read_limited(&parts.headers, body, limit).await;
    glue::parse_auth(
        parse,
        content_type(&parts.headers),
        body.as_deref().map_err(|e| *e),
    )
    .map_err(AuthRejection)
}

macro_rules! auth_extractor {
    ($name:ident => $core:ident) => {
        impl<S: Send + Sync> FromRequest<S> for $name {
            type Rejection = AuthRejection;

            async fn from_request(req: Request, _: &S) -> Result<Self, AuthRejection> {
                extract(req, |content_type, body| {
                    core::$core::parse(content_type, body).map($name)
                })
                .await
            }
        }
    };
}

auth_extractor!(ChannelAuthBody => ChannelAuthRequest);
auth_extractor!(UserAuthBody => UserAuthRequest);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        into_response(self.0.into())
    }
}
