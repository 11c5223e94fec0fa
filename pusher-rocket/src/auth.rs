//! [`routes`]: the ready-made auth routes; [`ChannelAuthBody`] and [`UserAuthBody`]: the data guards
//! for custom auth handlers; [`AuthRejection`].

use std::sync::Arc;

use pusher::Pusher;
use pusher::integration::__private::{self as glue, header_value};
use pusher::integration::{self as core, AuthError, AuthResponse, Authorizer, RouteError};
use rocket::data::{self, Data, FromData};
use rocket::http::{Method, Status};
use rocket::outcome::Outcome;
use rocket::request::{FromRequest, Request};
use rocket::response::{self, Responder};
use rocket::route::{self, Handler, Route};
use rocket::{Ignite, Rocket, Sentinel};

use crate::{AuthRejection, ChannelAuthBody, Reply, UserAuthBody, pusher_missing, read_limited};

/// The named limit (`[default.limits] pusher-auth = "16 KiB"`) of the auth data guards.
const AUTH_LIMIT: &str = "pusher-auth";

/// The ready-made auth routes for `authorizer`, to mount at `/`: channel authorization
/// (`POST /pusher/auth`), user authentication (`POST /pusher/user-auth`) and, when
/// [`Authorizer::batch_auth_path`] is set, batch authorization, at the paths the [`Authorizer`] names, with
/// its body limit ([`Authorizer::body_limit`], 64 KiB by default).
///
/// `A` is the rules' own state ([`Authorizer::with_state`], `()` by default), which every rule gets as
/// `ctx.state`; it is independent of the framework's.
///
/// `U` is your own request guard for the signed-in user (a session cookie, a JWT…): when it fails or
/// forwards, the request is not signed in (401). When your rules are written for a type that is not a
/// request guard, wrap it in one and use [`Authorizer::map_user`].
///
/// The client is the managed [`Pusher`] ([`PusherFairing`](crate::PusherFairing)): the routes are
/// sentinels, so launch aborts when none is managed. A path that is not a plain path, or two equal paths,
/// is a [`RouteError`] here, at setup. Every status and body is in the integration contract
/// (`docs/integrations.md`), the same as axum's and actix's: the routes answer only at exactly their path
/// as sent (Rocket would also match `/pusher/auth/`, `//pusher/auth` or `/pusher/%61uth`), 405 to other
/// methods (rank 100, after any route of yours), and serve a form whose first field is `_method` as the
/// `POST` it was (Rocket rewrites the method of such a request).
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
///     Ok(Decision::from(p.get("id") == Some(u.0.as_str())))
/// });
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build()?;
/// let rocket = rocket::build()
///     .attach(PusherFairing::with(pusher))
///     .mount("/", pusher_rocket::routes(rules)?);
/// # let _ = rocket;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn routes<U, A>(authorizer: Authorizer<U, A>) -> Result<Vec<Route>, RouteError>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    let paths = authorizer.routes()?;
    let authorizer = Arc::new(authorizer);
    Ok(paths
        .into_iter()
        .flat_map(|(path, kind)| {
            let handler = AuthRoute {
                authorizer: Arc::clone(&authorizer),
                kind,
            };
            auth_routes(&path, kind, handler)
        })
        .collect())
}

/// The methods answered 405 at an auth path (`HEAD` goes to the `GET` route).
const OTHER_METHODS: [Method; 7] = [
    Method::Get,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Trace,
    Method::Connect,
];

/// The rank of the 405 routes: after any route of the app's own at the same path.
const OTHER_METHODS_RANK: isize = 100;

/// One auth path's routes: `POST`, and the other methods (405). Rocket derives a route's sentinels from its
/// handler function's signature, which a custom [`Handler`] does not have, so the `POST` route starts as a
/// copy of a never-called template route that carries the sentinel, then gets its own path, rank and
/// handler. The path passed the core's check ([`Authorizer::routes`]), so `Route::new` accepts it.
fn auth_routes<U, A>(path: &str, kind: core::AuthRoute, handler: AuthRoute<U, A>) -> Vec<Route>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    let own = Route::new(Method::Post, path, handler.clone());
    let mut routes = rocket::routes![needs_pusher];
    for r in &mut routes {
        r.name = Some(route_name(kind).into());
        r.uri = own.uri.clone();
        r.rank = own.rank;
        r.handler = own.handler.clone();
    }
    routes.extend(OTHER_METHODS.into_iter().map(|method| {
        let mut r = Route::ranked(OTHER_METHODS_RANK, method, path, handler.clone());
        r.name = Some(route_name(kind).into());
        r
    }));
    routes
}

fn route_name(kind: core::AuthRoute) -> &'static str {
    match kind {
        core::AuthRoute::User => "pusher_rocket::user_auth",
        core::AuthRoute::Batch => "pusher_rocket::batch_auth",
        _ => "pusher_rocket::channel_auth",
    }
}

#[rocket::post("/")]
fn needs_pusher() -> NeedsPusher {
    NeedsPusher
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

struct AuthRoute<U, A> {
    authorizer: Arc<Authorizer<U, A>>,
    kind: core::AuthRoute,
}

impl<U, A> Clone for AuthRoute<U, A> {
    fn clone(&self) -> Self {
        AuthRoute {
            authorizer: Arc::clone(&self.authorizer),
            kind: self.kind,
        }
    }
}

/// Whether Rocket rewrote this `POST` into another method: it does so when a form `POST`'s first field is
/// `_method` naming a method. This repeats Rocket's own test (`Form::values` over the same peeked bytes, at
/// least `_method=get` of them), and the method it names must be the one the request now has. An auth route
/// serves such a request as the `POST` it was, as axum and actix do. (A real `GET` whose form body starts
/// with `_method=get` looks the same from here: Rocket rewrites before any fairing or route sees the
/// request; the contract lists it as Rocket's own.)
async fn rewritten_from_post(req: &Request<'_>, data: &mut Data<'_>) -> bool {
    if req.method() == Method::Post || !req.content_type().is_some_and(|ct| ct.is_form()) {
        return false;
    }
    let (min_len, max_len) = ("_method=get".len(), "_method=delete".len());
    let peeked = data.peek(max_len).await;
    if peeked.len() < min_len {
        return false;
    }
    std::str::from_utf8(peeked)
        .ok()
        .and_then(|form| rocket::form::Form::values(form).next())
        .filter(|field| field.name == "_method")
        .and_then(|field| field.value.parse::<Method>().ok())
        .is_some_and(|named| named == req.method())
}

#[rocket::async_trait]
impl<U, A> Handler for AuthRoute<U, A>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    async fn handle<'r>(&self, req: &'r Request<'_>, mut data: Data<'r>) -> route::Outcome<'r> {
        // Rocket matches a path after percent-decoding and collapsing empty segments; the auth routes
        // answer only at exactly their path, as axum and actix do.
        let exact = req
            .route()
            .is_some_and(|r| r.uri.path() == req.uri().path().as_str());
        if !exact {
            return route::Outcome::Forward((data, Status::NotFound));
        }
        let response = if req.method() == Method::Post || rewritten_from_post(req, &mut data).await
        {
            self.respond(req, data).await
        } else {
            AuthResponse::method_not_allowed()
        };
        route::Outcome::from(req, Reply(response))
    }
}

impl<U, A> AuthRoute<U, A>
where
    U: for<'r> FromRequest<'r> + Clone + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    /// One auth request, in the contract's order: the client, the body (read with the limit) and its
    /// parse, so a refused body never runs the app's user guard; then the user; then the answer.
    async fn respond(&self, req: &Request<'_>, data: Data<'_>) -> AuthResponse {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            return glue::missing_pusher("PusherFairing");
        };
        let a = &self.authorizer;
        let body = read_limited(req, data, None, a.body_limit_bytes()).await;
        let request = match a.parse(
            pusher,
            self.kind,
            content_type(req),
            body.as_deref().map_err(|e| *e),
        ) {
            Ok(request) => request,
            Err(refused) => return refused,
        };
        // A forward is "not signed in"; a guard error is judged by its status.
        let user = match req.guard::<U>().await {
            Outcome::Success(user) => Some(user),
            Outcome::Error((status, _)) => match glue::user_extractor_failed(status.code) {
                Some(unavailable) => return unavailable,
                None => None,
            },
            Outcome::Forward(_) => None,
        };
        a.answer(pusher, request, user).await
    }
}

/// The `Content-Type` as every integration reads it (`header_value`; Rocket has already dropped a value
/// that is not UTF-8).
fn content_type<'a>(req: &'a Request<'_>) -> Option<&'a str> {
    header_value(req.headers().get("Content-Type").map(str::as_bytes))
}

macro_rules! auth_guard {
    ($name:ident => $core:ident) => {
        #[rocket::async_trait]
        impl<'r> FromData<'r> for $name {
            type Error = AuthRejection;

            async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
                let limit = core::DEFAULT_AUTH_BODY_LIMIT;
                let body = read_limited(req, data, Some(AUTH_LIMIT), limit).await;
                let ct = content_type(req);
                match glue::parse_auth(core::$core::parse, ct, body.as_deref().map_err(|e| *e)) {
                    Ok(r) => Outcome::Success($name(r)),
                    Err(e) => Outcome::Error((Status::new(e.status()), AuthRejection(e))),
                }
            }
        }
    };
}

auth_guard!(ChannelAuthBody => ChannelAuthRequest);
auth_guard!(UserAuthBody => UserAuthRequest);

impl<'r> Responder<'r, 'static> for AuthRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(self.0.into()).respond_to(req)
    }
}
