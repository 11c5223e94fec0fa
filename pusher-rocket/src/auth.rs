//! [`routes`]: the ready-made auth routes; [`ChannelAuthRequest`] and [`UserAuthRequest`]: the data guards
//! for custom auth handlers; [`AuthRejection`].

use std::sync::Arc;

use pusher::Pusher;
use pusher::integration::{self as core, AuthError, AuthResponse, Authorizer};
use rocket::data::{self, Data, FromData};
use rocket::http::uri::Origin;
use rocket::http::{Method, Status};
use rocket::outcome::Outcome;
use rocket::request::{FromRequest, Request};
use rocket::response::{self, Responder};
use rocket::route::{self, Handler, Route};
use rocket::{Ignite, Rocket, Sentinel};

use crate::{
    AuthRejection, ChannelAuthRequest, Reply, UserAuthRequest, pusher_missing, read_limited,
};

/// The named limit (`[default.limits] pusher-auth = "16 KiB"`) of the auth data guards.
const AUTH_LIMIT: &str = "pusher-auth";

/// The ready-made auth routes for `authorizer`, to mount at `/`: channel authorization
/// (`POST /pusher/auth`), user authentication (`POST /pusher/user-auth`) and, when
/// [`Authorizer::batch_auth_path`] is set, batch authorization, at the paths the [`Authorizer`] names, with
/// its body limit ([`Authorizer::body_limit`], 64 KiB by default).
///
/// `U` is your own request guard for the signed-in user (a session cookie, a JWT…): when it fails or
/// forwards, the request is not signed in (401). When your rules are written for a type that is not a
/// request guard, wrap it in one and use [`Authorizer::map_user`].
///
/// The client is the managed [`Pusher`] ([`PusherFairing`](crate::PusherFairing)): the routes are
/// sentinels, so launch aborts when none is managed, and also when a path is not a valid Rocket route
/// path. Every status and body is in the integration contract (`docs/integrations.md`).
///
/// ```
/// use pusher_rocket::{Authorizer, Decision, PusherFairing};
/// use rocket::http::Status;
/// use rocket::request::{FromRequest, Outcome, Request};
///
/// # fn verify_session(_: Option<&rocket::http::Cookie<'_>>) -> Option<String> { None }
/// #[derive(Clone)]
/// struct User(String);
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for User {
///     type Error = ();
///     async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
///         match verify_session(req.cookies().get("session")) {
///             Some(id) => Outcome::Success(User(id)),
///             None => Outcome::Forward(Status::Unauthorized),
///         }
///     }
/// }
///
/// let rules = Authorizer::new().channel("private-user-{id}", |u: User, p| async move {
///     Decision::from(p.get("id") == Some(u.0.as_str()))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build()?;
/// let rocket = rocket::build()
///     .attach(PusherFairing::with(pusher))
///     .mount("/", pusher_rocket::routes(rules));
/// # let _ = rocket;
/// # Ok::<(), pusher::Error>(())
/// ```
pub fn routes<U>(authorizer: Authorizer<U>) -> Vec<Route>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    let (auth, user, batch) = authorizer.paths();
    let mut paths = vec![
        (auth.to_owned(), Kind::Channel),
        (user.to_owned(), Kind::User),
    ];
    paths.extend(batch.map(|p| (p.to_owned(), Kind::Batch)));
    let authorizer = Arc::new(authorizer);
    paths
        .into_iter()
        .flat_map(|(path, kind)| {
            let handler = AuthRoute {
                authorizer: Arc::clone(&authorizer),
                kind,
            };
            auth_route(&path, kind, handler)
        })
        .collect()
}

/// One auth route. Rocket derives a route's sentinels from its handler function's signature, which a
/// custom [`Handler`] does not have, so the route starts as a copy of a never-called template route that
/// carries the sentinel, then gets its own path, rank and handler.
fn auth_route<U>(path: &str, kind: Kind, handler: AuthRoute<U>) -> Vec<Route>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    if Origin::parse_route(path).is_err() {
        // `Route::new` would panic: make launch abort instead.
        tracing::error!(path, "pusher: invalid auth route path");
        let mut routes = rocket::routes![invalid_auth_path];
        for r in &mut routes {
            r.rank = kind as isize;
        }
        return routes;
    }
    let own = Route::new(Method::Post, path, handler);
    let mut routes = rocket::routes![needs_pusher];
    for r in &mut routes {
        r.name = Some(kind.name().into());
        r.uri = own.uri.clone();
        r.rank = own.rank;
        r.handler = own.handler.clone();
    }
    routes
}

#[rocket::post("/")]
fn needs_pusher() -> NeedsPusher {
    NeedsPusher
}

#[rocket::post("/pusher-rocket/invalid-auth-path")]
fn invalid_auth_path() -> InvalidAuthPath {
    InvalidAuthPath
}

/// The auth routes' sentinel: launch aborts when no `Pusher` is managed.
struct NeedsPusher;

impl Sentinel for NeedsPusher {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        pusher_missing(rocket, "pusher_rocket::routes(..)")
    }
}

impl<'r> Responder<'r, 'static> for NeedsPusher {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(AuthError::Misconfigured.into()).respond_to(req)
    }
}

/// The sentinel of a route whose path is invalid: launch aborts.
struct InvalidAuthPath;

impl Sentinel for InvalidAuthPath {
    fn abort(_: &Rocket<Ignite>) -> bool {
        tracing::error!(
            "pusher: an Authorizer path (auth_path, user_auth_path or batch_auth_path) is not a valid \
             Rocket route path such as `/pusher/auth`"
        );
        true
    }
}

impl<'r> Responder<'r, 'static> for InvalidAuthPath {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(AuthError::Misconfigured.into()).respond_to(req)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Channel = 1,
    User = 2,
    Batch = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Channel => "pusher_rocket::channel_auth",
            Kind::User => "pusher_rocket::user_auth",
            Kind::Batch => "pusher_rocket::batch_auth",
        }
    }
}

struct AuthRoute<U> {
    authorizer: Arc<Authorizer<U>>,
    kind: Kind,
}

impl<U> Clone for AuthRoute<U> {
    fn clone(&self) -> Self {
        AuthRoute {
            authorizer: Arc::clone(&self.authorizer),
            kind: self.kind,
        }
    }
}

#[rocket::async_trait]
impl<U> Handler for AuthRoute<U>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let response = self.respond(req, data).await;
        route::Outcome::from(req, Reply(response))
    }
}

impl<U> AuthRoute<U>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
{
    async fn respond(&self, req: &Request<'_>, data: Data<'_>) -> AuthResponse {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            return core::missing_pusher("PusherFairing");
        };
        let a = &self.authorizer;
        let body = match read_limited(req, data, None, a.limit()).await {
            Ok(body) => body,
            Err(e) => return AuthError::from(e).into(),
        };
        let user = req.guard::<U>().await.succeeded();
        let ct = req.headers().get_one("Content-Type").map(str::as_bytes);
        let route = match self.kind {
            Kind::Channel => core::AuthRoute::Channel,
            Kind::User => core::AuthRoute::User,
            Kind::Batch => core::AuthRoute::Batch,
        };
        a.handle(route, pusher, user, ct, Ok(&body)).await
    }
}

macro_rules! auth_guard {
    ($name:ident) => {
        #[rocket::async_trait]
        impl<'r> FromData<'r> for $name {
            type Error = AuthRejection;

            async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
                let limit = core::DEFAULT_AUTH_BODY_LIMIT;
                let body = read_limited(req, data, Some(AUTH_LIMIT), limit).await;
                let ct = req.headers().get_one("Content-Type");
                match core::parse_auth(core::$name::parse, ct, body.as_deref().map_err(|e| *e)) {
                    Ok(r) => Outcome::Success($name(r)),
                    Err(e) => Outcome::Error((Status::new(e.status()), AuthRejection(e))),
                }
            }
        }
    };
}

auth_guard!(ChannelAuthRequest);
auth_guard!(UserAuthRequest);

impl<'r> Responder<'r, 'static> for AuthRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(self.0.into()).respond_to(req)
    }
}
