//! The ready-made auth routes and the auth request data guards.

use std::ops::Deref;
use std::sync::Arc;

use pusher::Pusher;
use pusher::integration::{self, AuthError, AuthResponse, Authorizer, DEFAULT_AUTH_BODY_LIMIT};
use rocket::data::{self, Data, FromData};
use rocket::http::{Method, Status};
use rocket::outcome::Outcome;
use rocket::request::{FromRequest, Request};
use rocket::response::{self, Responder};
use rocket::route::{self, Handler, Route};

use crate::{ReadError, Reply, read_limited};

#[derive(Clone, Copy)]
enum Kind {
    Channel,
    User,
    Batch,
}

struct AuthRoute<U> {
    authorizer: Arc<Authorizer<U>>,
    kind: Kind,
}

impl<U> Clone for AuthRoute<U> {
    fn clone(&self) -> Self {
        AuthRoute {
            authorizer: self.authorizer.clone(),
            kind: self.kind,
        }
    }
}

/// The ready-made routes for `authorizer`, to mount at `/`: `POST /pusher/auth` (channel authorization),
/// `POST /pusher/user-auth` (user authentication) and, when configured, batch authorization, at the paths
/// the [`Authorizer`] names. `U` is the app's own request guard for the signed-in user: when it fails or
/// forwards, the request is not signed in (401). The body limit is the named limit `pusher-auth` when
/// configured, else the authorizer's. The managed [`Pusher`] comes from
/// [`PusherFairing`](crate::PusherFairing); without it the routes answer 500 and log why.
///
/// ```
/// use pusher_rocket::{Authorizer, Decision, PusherFairing};
/// use rocket::request::{FromRequest, Outcome, Request};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for User {
///     type Error = ();
///     async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
///         match req.headers().get_one("x-user") {
///             Some(u) => Outcome::Success(User(u.to_owned())),
///             None => Outcome::Forward(rocket::http::Status::Unauthorized),
///         }
///     }
/// }
///
/// let rules = Authorizer::new().channel("private-user-{id}", |u: User, p| async move {
///     Decision::from(p.get("id") == Some(u.0.as_str()))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build().unwrap();
/// let rocket = rocket::build()
///     .attach(PusherFairing::with(pusher))
///     .mount("/", pusher_rocket::routes(rules));
/// # let _ = rocket;
/// ```
pub fn routes<U>(authorizer: Authorizer<U>) -> Vec<Route>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    let (auth_path, user_path, batch_path) = authorizer.paths();
    let (auth_path, user_path) = (auth_path.to_owned(), user_path.to_owned());
    let batch_path = batch_path.map(str::to_owned);
    let authorizer = Arc::new(authorizer);
    let route = |path: &str, kind| {
        Route::new(
            Method::Post,
            path,
            AuthRoute {
                authorizer: authorizer.clone(),
                kind,
            },
        )
    };
    let mut routes = vec![
        route(&auth_path, Kind::Channel),
        route(&user_path, Kind::User),
    ];
    if let Some(p) = batch_path {
        routes.push(route(&p, Kind::Batch));
    }
    routes
}

#[rocket::async_trait]
impl<U> Handler for AuthRoute<U>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let reply = self.reply(req, data).await;
        route::Outcome::from(req, Reply(reply))
    }
}

impl<U> AuthRoute<U>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    async fn reply<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> AuthResponse {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            return integration::missing_pusher("PusherFairing");
        };
        let body = match read_limited(req, data, "pusher-auth", self.authorizer.limit()).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => return AuthError::TooLarge.into(),
            Err(ReadError::Failed) => return AuthError::MalformedBody.into(),
        };
        let user = match req.guard::<U>().await {
            Outcome::Success(u) => Some(u),
            _ => None,
        };
        let ct = req.headers().get_one("Content-Type");
        let a = &self.authorizer;
        match self.kind {
            Kind::Channel => a.handle_channel_auth(pusher, user, ct, &body).await,
            Kind::User => a.handle_user_auth(pusher, user, ct, &body).await,
            Kind::Batch => a.handle_batch_auth(pusher, user, ct, &body).await,
        }
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

impl<'r> Responder<'r, 'static> for AuthRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(self.0.into()).respond_to(req)
    }
}

async fn read_auth<'r, T>(
    req: &'r Request<'_>,
    data: Data<'r>,
    parse: fn(Option<&str>, &[u8]) -> Result<T, AuthError>,
) -> data::Outcome<'r, T, AuthRejection> {
    let err = |e: AuthError| Outcome::Error((Status::new(e.status()), AuthRejection(e)));
    let body = match read_limited(req, data, "pusher-auth", DEFAULT_AUTH_BODY_LIMIT).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return err(AuthError::TooLarge),
        Err(ReadError::Failed) => return err(AuthError::MalformedBody),
    };
    match parse(req.headers().get_one("Content-Type"), &body) {
        Ok(v) => Outcome::Success(v),
        Err(e) => err(e),
    }
}

/// A parsed channel authorization request (pusher-js form or JSON: `socket_id`, `channel_name`), for custom
/// handlers that sign with [`Pusher::authenticate`] themselves. Take `Result<ChannelAuthRequest,
/// AuthRejection>` to answer a refusal with its reason.
#[derive(Debug, Clone)]
pub struct ChannelAuthRequest(pub integration::ChannelAuthRequest);

impl Deref for ChannelAuthRequest {
    type Target = integration::ChannelAuthRequest;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for ChannelAuthRequest {
    type Error = AuthRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        read_auth(req, data, integration::ChannelAuthRequest::parse)
            .await
            .map(ChannelAuthRequest)
    }
}

/// A parsed user authentication request (`socket_id`), for custom handlers that sign with
/// [`Pusher::authenticate_user`] themselves.
#[derive(Debug, Clone)]
pub struct UserAuthRequest(pub integration::UserAuthRequest);

impl Deref for UserAuthRequest {
    type Target = integration::UserAuthRequest;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for UserAuthRequest {
    type Error = AuthRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        read_auth(req, data, integration::UserAuthRequest::parse)
            .await
            .map(UserAuthRequest)
    }
}
