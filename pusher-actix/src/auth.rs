//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory, Payload};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use pusher::integration::{self as core, AuthError, AuthRoute, Authorizer};

use crate::{
    AuthConfig, AuthRejection, ChannelAuthRequest, MISSING_PUSHER_HINT, UserAuthRequest,
    into_response, pusher_of, read_body,
};

/// The auth routes of `authorizer` as an actix service: `App::service(routes(authorizer))`.
///
/// They answer `POST` at [`Authorizer::paths`] (channel authorization at `/pusher/auth`, user
/// authentication at `/pusher/user-auth`, and batch authorization when
/// [`Authorizer::batch_auth_path`] is set), reading at most [`Authorizer::body_limit`] bytes. The client is
/// taken from `web::Data<Pusher>` in the app data (500 `server misconfigured` and a log line without it).
///
/// `U` is the app's user, found with its own [`FromRequest`] implementation (a session, a JWT…): when
/// extraction fails the request is not signed in (401). Statuses and bodies follow
/// [the integration contract](https://github.com/pusher-rs/pusher-rs/blob/main/docs/integrations.md).
///
/// ```
/// use std::future::{Ready, ready};
/// use actix_web::{App, FromRequest, HttpRequest, dev::Payload, error, web};
/// use pusher::integration::{Authorizer, Decision};
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
///         Decision::from(p.get("name") == Some(user.0.as_str()))
///     });
/// let app = App::new().service(pusher_actix::routes(authorizer));
/// # let _ = app;
/// ```
///
/// When the rules are written for a type that does not implement `FromRequest` (a type from another crate),
/// wrap it in a local extractor and convert with [`Authorizer::map_user`].
pub fn routes<U>(authorizer: Authorizer<U>) -> impl HttpServiceFactory
where
    U: FromRequest + Clone + Send + Sync + 'static,
{
    AuthRoutes {
        authorizer: Arc::new(authorizer),
    }
}

/// The service built by [`routes`].
struct AuthRoutes<U> {
    authorizer: Arc<Authorizer<U>>,
}

impl<U> HttpServiceFactory for AuthRoutes<U>
where
    U: FromRequest + Clone + Send + Sync + 'static,
{
    fn register(self, config: &mut AppService) {
        for (path, route) in self.authorizer.routes() {
            let authorizer = Arc::clone(&self.authorizer);
            let handler = move |req: HttpRequest, payload: web::Payload, user: Option<U>| {
                let authorizer = Arc::clone(&authorizer);
                async move { serve(&authorizer, route, req, payload.into_inner(), user).await }
            };
            web::resource(path)
                .route(web::post().to(handler))
                .register(config);
        }
    }
}

async fn serve<U>(
    authorizer: &Authorizer<U>,
    route: AuthRoute,
    req: HttpRequest,
    payload: Payload,
    user: Option<U>,
) -> HttpResponse
where
    U: Clone + Send + Sync + 'static,
{
    let Some(pusher) = pusher_of(&req) else {
        return into_response(core::missing_pusher(MISSING_PUSHER_HINT));
    };
    let body = read_body(&req, payload, authorizer.limit()).await;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes());
    let body = body.as_deref().map_err(|e| *e);
    into_response(
        authorizer
            .handle(route, &pusher, user, content_type, body)
            .await,
    )
}

/// The `Content-Type` header; a value that is not UTF-8 makes the body malformed.
fn content_type(req: &HttpRequest) -> Result<Option<&str>, AuthError> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| AuthError::MalformedBody))
        .transpose()
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
        let body = read_body(&req, payload, config_of(&req).max_bytes()).await;
        let content_type = content_type(&req)?;
        core::parse_auth(parse, content_type, body.as_deref().map_err(|e| *e))
            .map_err(AuthRejection)
    })
}

macro_rules! auth_extractor {
    ($name:ident) => {
        impl FromRequest for $name {
            type Error = AuthRejection;
            type Future = LocalBoxFuture<'static, Result<Self, AuthRejection>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                extract(req, payload, |content_type, body| {
                    core::$name::parse(content_type, body).map($name)
                })
            }
        }
    };
}

auth_extractor!(ChannelAuthRequest);
auth_extractor!(UserAuthRequest);

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.into())
    }
}
