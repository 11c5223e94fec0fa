//! A realtime chat on Rocket: `cargo run -p rocket-app` (with a local sockudo: `scripts/demo rocket`).
//!
//! Everything Pusher-specific is a few lines: `PusherFairing` manages the client, `pusher_rocket::routes(..)`
//! serves `/pusher/auth` and `/pusher/user-auth`, and a `VerifiedWebhook` handler takes the webhooks.

#[macro_use]
extern crate rocket;

use chat_common::{Config, NewMessage, User, WebhookLog};
use pusher::Pusher;
use pusher::dedup::WebhookDedup;
use pusher_rocket::{
    PusherFairing, SenderSocketId, SenderSocketIdRejection, VerifiedWebhook, WebhookRejection,
};
use rocket::State;
use rocket::form::Form;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use rocket::serde::json::{Json, Value};

/// The demo user, from the `user` cookie. Any request guard works here: a session, a JWT…
#[derive(Clone)]
struct ChatUser(User);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ChatUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match User::from_cookie_header(req.headers().get_one("cookie")) {
            Some(u) => Outcome::Success(ChatUser(u)),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[post("/pusher/webhooks", data = "<hook>")]
fn webhook(
    log: &State<WebhookLog>,
    dedup: &State<WebhookDedup>,
    hook: Result<VerifiedWebhook, WebhookRejection>,
) -> Result<Status, WebhookRejection> {
    let hook = hook?;
    // A retry of a webhook already handled: acknowledge it, do nothing.
    if !hook.first_time(dedup) {
        return Ok(Status::Ok);
    }
    log.record(&hook);
    Ok(Status::Ok)
}

#[get("/")]
fn index() -> (ContentType, &'static str) {
    (ContentType::HTML, chat_common::INDEX_HTML)
}

#[get("/app.js")]
fn app_js() -> (ContentType, &'static str) {
    (ContentType::JavaScript, chat_common::APP_JS)
}

#[get("/pusher-with-encryption.min.js")]
fn pusher_js() -> (ContentType, &'static str) {
    (ContentType::JavaScript, chat_common::PUSHER_JS)
}

#[get("/config.json")]
fn config_json(pusher: &State<Pusher>, user: Option<ChatUser>) -> Json<Value> {
    Json(chat_common::page_config(
        pusher,
        user.as_ref().map(|u| &u.0),
    ))
}

#[derive(FromForm)]
struct Login {
    name: String,
}

#[derive(Responder)]
enum LoginResponse {
    Ok(Box<Redirect>, Header<'static>),
    #[response(status = 400)]
    Bad(&'static str),
}

#[post("/login", data = "<form>")]
fn login(form: Form<Login>) -> LoginResponse {
    match chat_common::login_cookie(&form.name) {
        Ok(cookie) => LoginResponse::Ok(
            Box::new(Redirect::to("/")),
            Header::new("Set-Cookie", cookie),
        ),
        Err(reason) => LoginResponse::Bad(reason),
    }
}

#[post("/messages", data = "<msg>")]
async fn message(
    pusher: &State<Pusher>,
    user: ChatUser,
    sender: Result<SenderSocketId, SenderSocketIdRejection>,
    msg: Json<NewMessage>,
) -> Result<Status, (Status, String)> {
    let sender = sender.map_err(|e| (Status::new(e.status()), e.reason().to_owned()))?;
    chat_common::post_message(pusher, &user.0, &msg, sender.as_deref())
        .await
        .map(|()| Status::NoContent)
        .map_err(|e| (Status::BadGateway, e.to_string()))
}

#[post("/notices")]
async fn notice(pusher: &State<Pusher>, user: ChatUser) -> Result<Status, (Status, String)> {
    chat_common::post_notice(pusher, &user.0)
        .await
        .map(|()| Status::NoContent)
        .map_err(|e| (Status::BadGateway, e.to_string()))
}

#[get("/webhooks")]
fn webhooks(log: &State<WebhookLog>) -> Json<Value> {
    Json(log.to_json())
}

#[get("/healthz")]
fn healthz() -> &'static str {
    "ok"
}

/// The health check's POST form reads a body like the auth route does: the baseline of the auth route's
/// throughput in `scripts/load-routes`.
#[post("/healthz", data = "<_body>")]
fn healthz_post(_body: String) -> &'static str {
    "ok"
}

#[launch]
fn rocket() -> _ {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rocket-app: {e}");
            std::process::exit(2);
        }
    };
    // Rocket 0.5 has no request-head or body read timeout: in production, serve it behind a proxy that
    // bounds both (nginx `client_header_timeout` / `client_body_timeout`).
    let auth_routes =
        match pusher_rocket::routes(chat_common::authorizer().map_user(|u: ChatUser| u.0)) {
            Ok(routes) => routes,
            Err(e) => {
                eprintln!("rocket-app: {e}");
                std::process::exit(2);
            }
        };
    let figment = rocket::Config::figment()
        .merge(("port", config.port))
        .merge(("address", "127.0.0.1"))
        .merge(("limits.json", chat_common::MAX_MESSAGE_BODY_BYTES));
    rocket::custom(figment)
        .attach(PusherFairing::with(config.pusher))
        .manage(WebhookLog::default())
        .manage(WebhookDedup::default())
        .mount("/", auth_routes)
        .mount(
            "/",
            routes![
                webhook,
                index,
                app_js,
                pusher_js,
                config_json,
                login,
                message,
                notice,
                webhooks,
                healthz,
                healthz_post
            ],
        )
}
