//! The ready-made auth routes ([`routes`]) and the auth request extractors for custom handlers.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory, Payload};
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use pusher::integration::{self as core, AuthError, Authorizer, DEFAULT_AUTH_BODY_LIMIT};

use crate::{BodyError, MISSING_PUSHER_HINT, into_response, pusher_of, read_body};

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

#[derive(Debug, Clone, Copy)]
enum Route {
    Channel,
    User,
    Batch,
}

impl<U> HttpServiceFactory for AuthRoutes<U>
where
    U: FromRequest + Clone + Send + Sync + 'static,
{
    fn register(self, config: &mut AppService) {
        let (channel, user, batch) = self.authorizer.paths();
        let mut resources = vec![
            (channel.to_owned(), Route::Channel),
            (user.to_owned(), Route::User),
        ];
        resources.extend(batch.map(|path| (path.to_owned(), Route::Batch)));
        for (path, route) in resources {
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
    route: Route,
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
    let read = read_body(&req, payload, authorizer.limit()).await;
    let (body, content_type) = match read.map_err(body_error).and_then(|body| {
        let content_type = content_type(&req)?;
        Ok((body, content_type))
    }) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::info!(
                status = e.status(),
                reason = e.reason(),
                "pusher auth refused"
            );
            return into_response(e.into());
        }
    };
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

fn body_error(e: BodyError) -> AuthError {
    match e {
        BodyError::TooLarge => AuthError::TooLarge,
        BodyError::Payload => AuthError::MalformedBody,
    }
}

/// The `Content-Type` header; a value that is not UTF-8 makes the body malformed.
fn content_type(req: &HttpRequest) -> Result<Option<&str>, AuthError> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| AuthError::MalformedBody))
        .transpose()
}

/// The body limit of the [`ChannelAuthRequest`] and [`UserAuthRequest`] extractors, in the app data like
/// actix's `JsonConfig` (default 64 KiB). The ready-made [`routes`] use [`Authorizer::body_limit`] instead.
///
/// ```
/// use actix_web::App;
/// use pusher_actix::AuthConfig;
///
/// let app = App::new().app_data(AuthConfig::default().limit(16 * 1024));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    limit: usize,
}

const DEFAULT_CONFIG: AuthConfig = AuthConfig {
    limit: DEFAULT_AUTH_BODY_LIMIT,
};

impl AuthConfig {
    /// The largest body; larger is refused with 413.
    #[must_use]
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// The config in the app data (`AuthConfig` or `web::Data<AuthConfig>`), or the default.
    fn from_req(req: &HttpRequest) -> &Self {
        req.app_data::<Self>()
            .or_else(|| req.app_data::<web::Data<Self>>().map(|d| d.as_ref()))
            .unwrap_or(&DEFAULT_CONFIG)
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        DEFAULT_CONFIG
    }
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
        let limit = AuthConfig::from_req(&req).limit;
        let body = read_body(&req, payload, limit).await.map_err(body_error)?;
        let parsed = parse(content_type(&req)?, &body);
        parsed.map_err(|e| {
            tracing::debug!(
                status = e.status(),
                reason = e.reason(),
                "pusher auth request refused"
            );
            AuthRejection(e)
        })
    })
}

/// A channel authorization request from pusher-js, parsed (form or JSON) and checked (`socket_id`,
/// `channel_name`): the piece for a custom auth handler. The body limit is [`AuthConfig`]'s; a refusal
/// answers [`AuthRejection`].
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use pusher::Pusher;
/// use pusher::integration::AuthError;
/// use pusher_actix::{AuthRejection, ChannelAuthRequest};
///
/// async fn auth(
///     pusher: web::Data<Pusher>,
///     req: ChannelAuthRequest,
/// ) -> Result<HttpResponse, AuthRejection> {
///     if !req.channel_name.starts_with("private-") {
///         return Err(AuthError::Forbidden.into());
///     }
///     let auth = pusher
///         .authenticate(&req.channel_name, &req.socket_id, None)
///         .map_err(|_| AuthError::Misconfigured)?;
///     Ok(HttpResponse::Ok().json(auth))
/// }
///
/// let app = actix_web::App::new().route("/pusher/auth", web::post().to(auth));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAuthRequest(pub core::ChannelAuthRequest);

/// A user authentication request from pusher-js, parsed (form or JSON) with its `socket_id` checked: the
/// piece for a custom user-auth handler (sign with [`Pusher::authenticate_user`]). The body limit is
/// [`AuthConfig`]'s; a refusal answers [`AuthRejection`].
///
/// [`Pusher::authenticate_user`]: pusher::Pusher::authenticate_user
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

/// Why an auth extractor or route refused a request: wraps [`AuthError`]. As an actix [`ResponseError`] it
/// answers [`AuthError::status`] with the short [`AuthError::reason`] as `text/plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRejection(AuthError);

impl AuthRejection {
    /// The refusal.
    pub fn error(&self) -> AuthError {
        self.0
    }

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

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.into())
    }
}
