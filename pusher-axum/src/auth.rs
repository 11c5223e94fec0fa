//! The ready-made auth routes and the auth request extractors.

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pusher::Pusher;
use pusher::integration::{self, AuthError, AuthResponse, Authorizer, DEFAULT_AUTH_BODY_LIMIT};

use crate::{ReadError, header_str, into_response, read_limited};

#[derive(Clone, Copy)]
enum Kind {
    Channel,
    User,
    Batch,
}

/// The ready-made routes for `authorizer`: `POST /pusher/auth` (channel authorization),
/// `POST /pusher/user-auth` (user authentication) and, when configured, batch authorization, at the paths
/// the [`Authorizer`] names. Merge the router into the app's. The state must give a `Pusher` through
/// `FromRef`; `U` is the app's own user extractor, and when it fails the request is not signed in (401).
///
/// ```
/// use pusher_axum::{Authorizer, Decision};
///
/// #[derive(Clone)]
/// struct User(String);
/// impl<S: Send + Sync> axum::extract::FromRequestParts<S> for User {
///     type Rejection = ();
///     async fn from_request_parts(p: &mut axum::http::request::Parts, _: &S) -> Result<Self, ()> {
///         let name = p.headers.get("x-user").and_then(|v| v.to_str().ok());
///         name.map(|v| User(v.into())).ok_or(())
///     }
/// }
///
/// let rules = Authorizer::new().channel("private-user-{id}", |u: User, p| async move {
///     Decision::from(p.get("id") == Some(u.0.as_str()))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
/// let app: axum::Router = axum::Router::new().merge(pusher_axum::routes(rules)).with_state(pusher);
/// ```
pub fn routes<U, S>(authorizer: Authorizer<U>) -> Router<S>
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    U::Rejection: Send,
    S: Clone + Send + Sync + 'static,
    Pusher: FromRef<S>,
{
    let (auth_path, user_path, batch_path) = authorizer.paths();
    let (auth_path, user_path) = (auth_path.to_owned(), user_path.to_owned());
    let batch_path = batch_path.map(str::to_owned);
    let authorizer = Arc::new(authorizer);
    let mut router = Router::new()
        .route(
            &auth_path,
            post(handler::<U, S>(authorizer.clone(), Kind::Channel)),
        )
        .route(
            &user_path,
            post(handler::<U, S>(authorizer.clone(), Kind::User)),
        );
    if let Some(path) = batch_path {
        router = router.route(&path, post(handler::<U, S>(authorizer, Kind::Batch)));
    }
    router
}

type BoxResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

fn handler<U, S>(
    authorizer: Arc<Authorizer<U>>,
    kind: Kind,
) -> impl Fn(State<Pusher>, Result<U, U::Rejection>, Request) -> BoxResponse
+ Clone
+ Send
+ Sync
+ 'static
where
    U: FromRequestParts<S> + Clone + Send + Sync + 'static,
    U::Rejection: Send,
    S: Send + Sync + 'static,
{
    move |State(pusher): State<Pusher>, user: Result<U, U::Rejection>, req: Request| {
        let authorizer = authorizer.clone();
        Box::pin(async move {
            let user = user.ok();
            let (parts, body) = req.into_parts();
            let body = match read_limited(&parts.headers, body, authorizer.limit()).await {
                Ok(b) => b,
                Err(ReadError::TooLarge) => return into_response(AuthError::TooLarge.into()),
                Err(ReadError::Failed) => return into_response(AuthError::MalformedBody.into()),
            };
            let ct = header_str(&parts.headers, "content-type");
            let r: AuthResponse = match kind {
                Kind::Channel => {
                    authorizer
                        .handle_channel_auth(&pusher, user, ct, &body)
                        .await
                }
                Kind::User => authorizer.handle_user_auth(&pusher, user, ct, &body).await,
                Kind::Batch => authorizer.handle_batch_auth(&pusher, user, ct, &body).await,
            };
            into_response(r)
        })
    }
}

/// Why an auth request was refused: status and short reason (see `docs/integrations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRejection(pub AuthError);

impl AuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status()
    }
    /// The short reason sent in the body.
    pub fn reason(&self) -> &'static str {
        self.0.reason()
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        into_response(self.0.into())
    }
}

async fn read_auth_body(
    req: Request,
) -> Result<(Option<String>, axum::body::Bytes), AuthRejection> {
    let (parts, body) = req.into_parts();
    let body = read_limited(&parts.headers, body, DEFAULT_AUTH_BODY_LIMIT)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => AuthRejection(AuthError::TooLarge),
            ReadError::Failed => AuthRejection(AuthError::MalformedBody),
        })?;
    Ok((
        header_str(&parts.headers, "content-type").map(str::to_owned),
        body,
    ))
}

/// A parsed channel authorization request (pusher-js form or JSON: `socket_id`, `channel_name`), for custom
/// handlers that sign with [`Pusher::authenticate`] themselves. The body limit is 64 KiB.
///
/// ```
/// use axum::{Json, extract::State};
/// use pusher_axum::{AuthRejection, ChannelAuthRequest};
///
/// async fn auth(State(pusher): State<pusher::Pusher>, req: ChannelAuthRequest)
///     -> Result<Json<pusher::ChannelAuth>, AuthRejection> {
///     // ... decide for the signed-in user here ...
///     pusher.authenticate(&req.channel_name, &req.socket_id, None)
///         .map(Json)
///         .map_err(|_| AuthRejection(pusher::integration::AuthError::Forbidden))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ChannelAuthRequest(pub integration::ChannelAuthRequest);

impl Deref for ChannelAuthRequest {
    type Target = integration::ChannelAuthRequest;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for ChannelAuthRequest {
    type Rejection = AuthRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (ct, body) = read_auth_body(req).await?;
        integration::ChannelAuthRequest::parse(ct.as_deref(), &body)
            .map(ChannelAuthRequest)
            .map_err(AuthRejection)
    }
}

/// A parsed user authentication request (`socket_id`), for custom handlers that sign with
/// [`Pusher::authenticate_user`] themselves. The body limit is 64 KiB.
#[derive(Debug, Clone)]
pub struct UserAuthRequest(pub integration::UserAuthRequest);

impl Deref for UserAuthRequest {
    type Target = integration::UserAuthRequest;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for UserAuthRequest {
    type Rejection = AuthRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (ct, body) = read_auth_body(req).await?;
        integration::UserAuthRequest::parse(ct.as_deref(), &body)
            .map(UserAuthRequest)
            .map_err(AuthRejection)
    }
}
