//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory, Payload};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use pusher::integration::__private::{self as glue, header_value};
use pusher::integration::{
    self as core, AuthError, AuthResponse, AuthRoute, Authorizer, RouteError,
};

use crate::{
    AuthConfig, AuthRejection, ChannelAuthBody, MISSING_PUSHER_HINT, UserAuthBody, into_response,
    pusher_of, read_body,
};

/// The auth routes of `authorizer` as an actix service: `App::service(routes(authorizer))`.
///
/// They answer `POST` at [`Authorizer::paths`] (channel authorization at `/pusher/auth`, user
/// authentication at `/pusher/user-auth`, and batch authorization when
/// [`Authorizer::batch_auth_path`] is set), exactly at those paths as sent (no percent-decoding), reading
/// at most [`Authorizer::body_limit_bytes`] bytes, and 405 to any other method. The client is taken from
/// `web::Data<Pusher>` in the app data (500 `server misconfigured` and a log line without it). A path that
/// is not a plain path, or two equal paths, is a [`RouteError`] here, at setup (actix would otherwise let
/// the first registration silently shadow the second).
///
/// Build it once and clone it into each worker's `App` (`let auth = routes(rules)?;` then
/// `HttpServer::new(move || App::new().service(auth.clone()))`).
///
/// The body is read and parsed before `U` is extracted (with an empty payload), so a refused body never
/// costs a session or database lookup.
///
/// `A` is the rules' own state ([`Authorizer::with_state`], `()` by default), which every rule gets as
/// `ctx.state`; it is independent of the framework's.
///
/// `U` is the app's user, found with its own [`FromRequest`] implementation (a session, a JWT…): when
/// extraction fails the request is not signed in (401). Statuses and bodies follow
/// [the integration contract](https://github.com/pusher-rs/pusher-rs/blob/main/docs/integrations.md).
///
/// ```
/// use std::future::{Ready, ready};
/// use actix_web::{App, FromRequest, HttpRequest, dev::Payload, error, web};
/// use pusher_actix::{Authorizer, Decision};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// impl FromRequest for User {
///     type Error = actix_web::Error;
///     type Future = Ready<Result<Self, Self::Error>>;
///
///     fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
///         let name = req.headers().get("x-user").and_then(|v| v.to_str().ok());
///         ready(name.map(|n| User(n.to_owned())).ok_or_else(|| error::ErrorUnauthorized("")))
///     }
/// }
///
/// let authorizer = Authorizer::<User>::new()
///     .channel("private-user-{name}", |user: User, p| async move {
///         Ok(Decision::from(p.get("name") == Some(user.0.as_str())))
///     });
/// let app = App::new().service(pusher_actix::routes(authorizer)?);
/// # let _ = app;
/// # Ok::<(), pusher_actix::RouteError>(())
/// ```
///
/// When the rules are written for a type that does not implement `FromRequest` (a type from another crate),
/// wrap it in a local extractor and convert with [`Authorizer::map_user`].
pub fn routes<U, A>(
    authorizer: Authorizer<U, A>,
) -> Result<impl HttpServiceFactory + Clone, RouteError>
where
    U: FromRequest + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    let paths = authorizer.routes()?;
    Ok(AuthRoutes {
        authorizer: Arc::new(authorizer),
        paths,
    })
}

/// The service built by [`routes`]: cheap to clone into each worker's `App`.
struct AuthRoutes<U, A> {
    authorizer: Arc<Authorizer<U, A>>,
    paths: Vec<(String, AuthRoute)>,
}

impl<U, A> Clone for AuthRoutes<U, A> {
    fn clone(&self) -> Self {
        AuthRoutes {
            authorizer: Arc::clone(&self.authorizer),
            paths: self.paths.clone(),
        }
    }
}

impl<U, A> HttpServiceFactory for AuthRoutes<U, A>
where
    U: FromRequest + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    fn register(self, config: &mut AppService) {
        for (path, route) in self.paths {
            let authorizer = Arc::clone(&self.authorizer);
            let handler = move |req: HttpRequest, payload: web::Payload| {
                let authorizer = Arc::clone(&authorizer);
                async move { serve(&authorizer, route, req, payload.into_inner()).await }
            };
            web::resource(path)
                .route(web::post().to(handler))
                .default_service(web::to(|req: HttpRequest| async move {
                    match exact_path(&req) {
                        Some(refused) => refused,
                        None => into_response(AuthResponse::method_not_allowed()),
                    }
                }))
                .register(config);
        }
    }
}

/// A 404 unless the path as sent is exactly the route's, as in axum and Rocket: a guard against a match of
/// actix's router on a requoted (percent-decoded) path.
fn exact_path(req: &HttpRequest) -> Option<HttpResponse> {
    match req.match_pattern() {
        Some(pattern) if pattern == req.uri().path() => None,
        _ => Some(HttpResponse::NotFound().finish()),
    }
}

/// One auth request, in the contract's order: the client, the body (read with the limit) and its parse,
/// so a refused body never runs the app's user extractor; then the user; then the answer.
async fn serve<U, A>(
    authorizer: &Authorizer<U, A>,
    route: AuthRoute,
    req: HttpRequest,
    payload: Payload,
) -> HttpResponse
where
    U: FromRequest + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    if let Some(refused) = exact_path(&req) {
        return refused;
    }
    let Some(pusher) = pusher_of(&req) else {
        return into_response(glue::missing_pusher(MISSING_PUSHER_HINT));
    };
    let body = read_body(&req, payload, authorizer.body_limit_bytes()).await;
    let request = match authorizer.parse(
        &pusher,
        route,
        content_type(&req),
        body.as_deref().map_err(|e| *e),
    ) {
        Ok(request) => request,
        Err(refused) => return into_response(refused),
    };
    // The payload is consumed: the user extractor gets an empty one (it reads headers, cookies…).
    let user = match U::from_request(&req, &mut Payload::None).await {
        Ok(user) => Some(user),
        Err(e) => {
            let status = Into::<actix_web::Error>::into(e)
                .as_response_error()
                .status_code();
            match glue::user_extractor_failed(status.as_u16()) {
                Some(unavailable) => return into_response(unavailable),
                None => None,
            }
        }
    };
    into_response(authorizer.answer(&pusher, request, user).await)
}

/// The `Content-Type` as every integration reads it (`header_value`).
fn content_type(req: &HttpRequest) -> Option<&str> {
    header_value(
        req.headers()
            .get_all(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
    )
}

/// The [`AuthConfig`] in the app data, or the default.
fn config_of(req: &HttpRequest) -> AuthConfig {
    req.app_data::<AuthConfig>()
        .or_else(|| req.app_data::<web::Data<AuthConfig>>().map(|d| d.as_ref()))
        .copied()
        .unwrap_or_default()
}

/// Reads the body with the [`AuthConfig`] limit and parses it with the core.
fn extract<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    parse: fn(Option<&str>, &[u8]) -> Result<T, AuthError>,
) -> LocalBoxFuture<'static, Result<T, AuthRejection>> {
    let req = req.clone();
    let payload = payload.take();
    Box::pin(async move {
        let body = read_body(&req, payload, config_of(&req).body_limit_bytes()).await;
        glue::parse_auth(parse, content_type(&req), body.as_deref().map_err(|e| *e))
            .map_err(AuthRejection)
    })
}

macro_rules! auth_extractor {
    ($name:ident => $core:ident) => {
        impl FromRequest for $name {
            type Error = AuthRejection;
            type Future = LocalBoxFuture<'static, Result<Self, AuthRejection>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                extract(req, payload, |content_type, body| {
                    core::$core::parse(content_type, body).map($name)
                })
            }
        }
    };
}

auth_extractor!(ChannelAuthBody => ChannelAuthRequest);
auth_extractor!(UserAuthBody => UserAuthRequest);

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.into())
    }
}
