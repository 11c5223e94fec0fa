//! A realtime chat on axum: `cargo run -p axum-app` (with a local sockudo: `scripts/demo`).
//!
//! Everything Pusher-specific is a few lines: the client in the state, `pusher_axum::routes(..)` for
//! `/pusher/auth` and `/pusher/user-auth`, and a `VerifiedWebhook` handler.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chat_common::{Config, NewMessage, User, WebhookLog};
use pusher::Pusher;
use pusher::dedup::WebhookDedup;
use pusher_axum::{SenderSocketId, VerifiedWebhook};
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;

/// The longest a request may take, body included: axum has no timeout of its own, and without one a
/// client sending its body a byte at a time holds the connection until the body limit is reached.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AppState {
    pusher: Pusher,
    webhooks: WebhookLog,
    /// The webhooks already handled: delivery is at least once.
    dedup: Arc<WebhookDedup>,
}

impl FromRef<AppState> for Pusher {
    fn from_ref(state: &AppState) -> Pusher {
        state.pusher.clone()
    }
}

/// The demo user, from the `user` cookie. Any extractor works here: a session, a JWT…
#[derive(Clone)]
struct ChatUser(User);

impl<S: Send + Sync> FromRequestParts<S> for ChatUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let cookie = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok());
        User::from_cookie_header(cookie)
            .map(ChatUser)
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let state = AppState {
        pusher: config.pusher,
        webhooks: WebhookLog::default(),
        dedup: Arc::new(WebhookDedup::default()),
    };

    let app = Router::new()
        .merge(pusher_axum::routes(
            chat_common::authorizer().map_user(|u: ChatUser| u.0),
        )?)
        .route("/pusher/webhooks", post(webhook))
        .route(
            "/",
            get(|| async { page(chat_common::INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(chat_common::APP_JS, "text/javascript") }),
        )
        .route(
            "/pusher-with-encryption.min.js",
            get(|| async { page(chat_common::PUSHER_JS, "text/javascript") }),
        )
        .route("/config.json", get(config_json))
        .route("/login", post(login))
        .route(
            "/messages",
            post(message).layer(DefaultBodyLimit::max(chat_common::MAX_MESSAGE_BODY_BYTES)),
        )
        .route("/notices", post(notice))
        .route(
            "/webhooks",
            get(|State(s): State<AppState>| async move { Json(s.webhooks.to_json()) }),
        )
        // Health check; its POST form reads a body like the auth route does, and is the baseline of the
        // auth route's throughput in `scripts/load-routes`.
        .route(
            "/healthz",
            get(|| async { "ok" }).post(|_body: String| async { "ok" }),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    tracing::info!("chat on http://127.0.0.1:{}/", config.port);
    axum::serve(listener, app).await?;
    Ok(())
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn webhook(State(s): State<AppState>, hook: VerifiedWebhook) -> StatusCode {
    // A retry of a webhook already handled: acknowledge it, do nothing.
    if !hook.first_time(&s.dedup) {
        return StatusCode::OK;
    }
    s.webhooks.record(&hook);
    StatusCode::OK
}

async fn config_json(
    State(s): State<AppState>,
    user: Result<ChatUser, StatusCode>,
) -> Json<serde_json::Value> {
    let user = user.ok();
    Json(chat_common::page_config(
        &s.pusher,
        user.as_ref().map(|u| &u.0),
    ))
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

async fn login(Form(form): Form<Login>) -> Response {
    match chat_common::login_cookie(&form.name) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
        Err(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
    }
}

async fn message(
    State(s): State<AppState>,
    ChatUser(user): ChatUser,
    sender: SenderSocketId,
    Json(msg): Json<NewMessage>,
) -> Response {
    match chat_common::post_message(&s.pusher, &user, &msg, sender.as_deref()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn notice(State(s): State<AppState>, ChatUser(user): ChatUser) -> Response {
    match chat_common::post_notice(&s.pusher, &user).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
