//! A realtime chat on actix-web: `cargo run -p actix-app` (with a local sockudo: `scripts/demo actix`).
//!
//! Everything Pusher-specific is a few lines: the client in `app_data`, `pusher_actix::routes(..)` for
//! `/pusher/auth` and `/pusher/user-auth`, and a `VerifiedWebhook` handler.

use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, HttpServer, error, web};
use chat_common::{Config, NewMessage, User, WebhookLog};
use pusher::Pusher;
use pusher::dedup::WebhookDedup;
use pusher_actix::{SenderSocketId, VerifiedWebhook};
use serde::Deserialize;

/// The longest a request may take to arrive, head and body: actix's `client_request_timeout` covers only
/// the head, and without a bound on the rest a client sending its body a byte at a time holds the
/// connection until the body limit is reached.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds a whole request, body included, by [`REQUEST_TIMEOUT`] (408 after it).
async fn request_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match actix_web::rt::time::timeout(REQUEST_TIMEOUT, next.call(req)).await {
        Ok(response) => response.map(ServiceResponse::map_into_boxed_body),
        Err(_) => Err(error::ErrorRequestTimeout("request timed out")),
    }
}

/// The demo user, from the `user` cookie. Any extractor works here: a session, a JWT…
#[derive(Clone)]
struct ChatUser(User);

impl FromRequest for ChatUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let cookie = req
            .headers()
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok());
        ready(
            User::from_cookie_header(cookie)
                .map(ChatUser)
                .ok_or_else(|| error::ErrorUnauthorized("not signed in")),
        )
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let pusher = web::Data::new(config.pusher);
    let webhooks = web::Data::new(WebhookLog::default());
    // The webhooks already handled (delivery is at least once), shared by every worker.
    let dedup = web::Data::new(WebhookDedup::default());
    tracing::info!("chat on http://127.0.0.1:{}/", config.port);

    // Checked once, here: a bad or repeated path is an error before the server starts.
    let auth_routes = pusher_actix::routes(chat_common::authorizer().map_user(|u: ChatUser| u.0))?;

    HttpServer::new(move || {
        App::new()
            .wrap(from_fn(request_timeout))
            .app_data(pusher.clone())
            .app_data(webhooks.clone())
            .app_data(dedup.clone())
            // The examples' common limit for `POST /messages` (room for the page's 50 KB message).
            .app_data(web::JsonConfig::default().limit(chat_common::MAX_MESSAGE_BODY_BYTES))
            .service(auth_routes.clone())
            .route("/pusher/webhooks", web::post().to(webhook))
            .route(
                "/",
                web::get()
                    .to(|| async { page(chat_common::INDEX_HTML, "text/html; charset=utf-8") }),
            )
            .route(
                "/app.js",
                web::get().to(|| async { page(chat_common::APP_JS, "text/javascript") }),
            )
            .route(
                "/pusher-with-encryption.min.js",
                web::get().to(|| async { page(chat_common::PUSHER_JS, "text/javascript") }),
            )
            .route("/config.json", web::get().to(config_json))
            .route("/login", web::post().to(login))
            .route("/messages", web::post().to(message))
            .route("/notices", web::post().to(notice))
            .route(
                "/webhooks",
                web::get().to(|log: web::Data<WebhookLog>| async move {
                    HttpResponse::Ok().json(log.to_json())
                }),
            )
            // Health check; its POST form reads a body like the auth route does, and is the baseline
            // of the auth route's throughput in `scripts/load-routes`.
            .route("/healthz", web::get().to(|| async { "ok" }))
            .route("/healthz", web::post().to(|_body: String| async { "ok" }))
    })
    .client_request_timeout(REQUEST_TIMEOUT)
    .bind(("127.0.0.1", config.port))?
    .run()
    .await?;
    Ok(())
}

fn page(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).body(body)
}

async fn webhook(
    log: web::Data<WebhookLog>,
    dedup: web::Data<WebhookDedup>,
    hook: VerifiedWebhook,
) -> HttpResponse {
    // A retry of a webhook already handled: acknowledge it, do nothing.
    if !hook.first_time(&dedup) {
        return HttpResponse::Ok().finish();
    }
    log.record(&hook);
    HttpResponse::Ok().finish()
}

async fn config_json(pusher: web::Data<Pusher>, user: Option<ChatUser>) -> HttpResponse {
    HttpResponse::Ok().json(chat_common::page_config(
        &pusher,
        user.as_ref().map(|u| &u.0),
    ))
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

async fn login(form: web::Form<Login>) -> HttpResponse {
    match chat_common::login_cookie(&form.name) {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::SET_COOKIE, cookie))
            .insert_header((header::LOCATION, "/"))
            .finish(),
        Err(reason) => HttpResponse::BadRequest().body(reason),
    }
}

async fn message(
    pusher: web::Data<Pusher>,
    user: ChatUser,
    sender: SenderSocketId,
    msg: web::Json<NewMessage>,
) -> HttpResponse {
    match chat_common::post_message(&pusher, &user.0, &msg, sender.as_deref()).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

async fn notice(pusher: web::Data<Pusher>, user: ChatUser) -> HttpResponse {
    match chat_common::post_notice(&pusher, &user.0).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}
