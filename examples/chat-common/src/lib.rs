//! What the three chat examples (`axum-app`, `actix-app`, `rocket-app`) share, so that each example is only
//! its framework's glue: configuration from the environment, the demo sign-in cookie, the channel rules,
//! the chat and notice triggers, the in-memory webhook log, and the static page.
//!
//! The sign-in is a **demo**: `POST /login` stores the name in a plain `user` cookie and trusts it. A real
//! app uses its own session or token extractor as the user type of `pusher::integration::Authorizer`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use pusher::integration::{Authorizer, Decision};
use pusher::{Pusher, UserData, Webhook};
use serde::Deserialize;
use serde_json::{Value, json};

/// The page.
pub const INDEX_HTML: &str = include_str!("../static/index.html");
/// The page's script.
pub const APP_JS: &str = include_str!("../static/app.js");
/// pusher-js, served by the app itself (no CDN).
pub const PUSHER_JS: &str = include_str!("../static/pusher-with-encryption.min.js");

/// The local sockudo started by `scripts/demo`.
pub const DEFAULT_PUSHER_URL: &str = "http://app-key:app-secret@127.0.0.1:6001/apps/app-id";

/// The presence channel everyone chats in.
pub const CHAT_CHANNEL: &str = "presence-chat";
/// The encrypted channel for notices.
pub const NOTICES_CHANNEL: &str = "private-encrypted-notices";

/// The largest `POST /messages` body the examples accept (each sets its framework's JSON limit to it):
/// room for the page's 50 KB message, which goes out as chunked events ([`post_message`]).
pub const MAX_MESSAGE_BODY_BYTES: usize = 256 * 1024;

/// A signed-in demo user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name given at sign-in; also the Pusher user id.
    pub name: String,
}

impl User {
    /// The user named by a `Cookie` header's `user` cookie, if its value is a valid user id.
    pub fn from_cookie_header(header: Option<&str>) -> Option<User> {
        header?
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "user")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|name| valid_name(name))
            .map(|name| User { name })
    }
}

/// A demo name: 1-40 ASCII letters, digits, `-` or `_` (a valid user id that needs no cookie escaping).
pub fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Set-Cookie` value for `POST /login` with form field `name`, or a short error for a 400.
pub fn login_cookie(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if !valid_name(name) {
        return Err("name: 1-40 letters, digits, - or _");
    }
    Ok(format!("user={name}; Path=/; HttpOnly; SameSite=Lax"))
}

/// The configuration read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The client (from `PUSHER_URL`, default [`DEFAULT_PUSHER_URL`], plus `PUSHER_ENCRYPTION_MASTER_KEY`).
    pub pusher: Pusher,
    /// The port to listen on (`PORT`, default 3000).
    pub port: u16,
}

impl Config {
    /// Reads `PUSHER_URL`, `PUSHER_ENCRYPTION_MASTER_KEY` (base64) and `PORT`.
    pub fn from_env() -> Result<Config, pusher::Error> {
        let url = std::env::var("PUSHER_URL").unwrap_or_else(|_| DEFAULT_PUSHER_URL.to_owned());
        let mut builder = pusher::PusherUrl::parse(&url)?.into_builder();
        if let Ok(key) = std::env::var("PUSHER_ENCRYPTION_MASTER_KEY") {
            builder = builder.encryption_master_key_base64(key);
        }
        let port = std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3000);
        Ok(Config {
            pusher: builder.build()?,
            port,
        })
    }
}

/// The rules: `presence-chat` for any signed-in user (member id = name, info = `{"name"}`),
/// `private-encrypted-notices` for any signed-in user, `private-user-<name>` only for that user; everything
/// else refused. User authentication gives `{"id": name}`. (A real app's rules reach its database through
/// `Authorizer::with_state(..)` and `ctx.state`, and answer 503 with `?` on its errors.)
pub fn authorizer() -> Authorizer<User> {
    Authorizer::new()
        .channel(CHAT_CHANNEL, |user: User, _| async move {
            Decision::member(user.name.clone(), json!({ "name": user.name }))
        })
        .channel(NOTICES_CHANNEL, |_, _| async { Ok(Decision::Allow) })
        // `{*name}`: the rest of the channel name, `.` included.
        .channel("private-user-{*name}", |user: User, ctx| async move {
            Ok(Decision::from(ctx.get("name") == Some(user.name.as_str())))
        })
        .user(|user: User, _| async move { Ok(Some(UserData::new(user.name))) })
}

/// The JSON body of `POST /messages`.
#[derive(Debug, Deserialize)]
pub struct NewMessage {
    /// The text.
    pub text: String,
    /// The sender's connection, excluded from the broadcast (for clients that do not send the
    /// `X-Socket-ID` header; the header wins when both are given).
    pub socket_id: Option<String>,
}

impl NewMessage {
    /// The connection to exclude: the `X-Socket-ID` header's socket id (already validated by the
    /// framework's `SenderSocketId` extractor) when the request has one, else the body's `socket_id`, if
    /// not empty. The header wins because the client library sets it from the live connection on every
    /// request, while a body field is the app's own and may be stale.
    pub fn sender<'a>(&'a self, header: Option<&'a str>) -> Option<&'a str> {
        header.or_else(|| self.socket_id.as_deref().filter(|s| !s.is_empty()))
    }
}

/// Publishes `message` with `{"user", "text"}` on `presence-chat`, excluding the sender's socket: the one
/// of the `X-Socket-ID` header (`sender_header`), else the body's ([`NewMessage::sender`]).
///
/// Chunked (`TriggerOptions::chunked`): a message within the server's data limit is one plain `message`
/// event; a longer one (the page's "Send a 50 KB message") goes out as `chunked-message` events that the
/// page's `bindWithChunking` reassembles.
pub async fn post_message(
    pusher: &Pusher,
    user: &User,
    msg: &NewMessage,
    sender_header: Option<&str>,
) -> Result<(), pusher::Error> {
    let mut opts = pusher::TriggerOptions::new().chunked(true);
    if let Some(s) = msg.sender(sender_header) {
        opts = opts.socket_id(s);
    }
    let data = json!({ "user": user.name, "text": msg.text });
    pusher
        .trigger_with(CHAT_CHANNEL, "message", &data, &opts)
        .await?;
    Ok(())
}

/// Publishes an encrypted `notice` on `private-encrypted-notices` (needs `PUSHER_ENCRYPTION_MASTER_KEY`).
pub async fn post_notice(pusher: &Pusher, user: &User) -> Result<(), pusher::Error> {
    let data = json!({ "text": format!("a secret notice from {}", user.name) });
    pusher.trigger(NOTICES_CHANNEL, "notice", &data).await?;
    Ok(())
}

/// The last webhook events received, newest last (at most 50).
#[derive(Debug, Clone, Default)]
pub struct WebhookLog(Arc<Mutex<VecDeque<Value>>>);

impl WebhookLog {
    /// Keeps the events of a verified webhook.
    pub fn record(&self, webhook: &Webhook) {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for event in &webhook.events {
            log.push_back(json!({
                "time_ms": webhook.time_ms,
                "event": serde_json::to_value(event).unwrap_or(Value::Null),
            }));
            while log.len() > 50 {
                log.pop_front();
            }
        }
        tracing::info!(events = webhook.events.len(), "webhook received");
    }

    /// The events as a JSON array.
    pub fn to_json(&self) -> Value {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Value::Array(log.iter().cloned().collect())
    }
}

/// The JSON of `GET /config.json`: the pusher-js options, the app key and the signed-in user.
pub fn page_config(pusher: &Pusher, user: Option<&User>) -> Value {
    json!({
        "key": pusher.key(),
        "options": pusher.client_options(),
        "user": user.map(|u| u.name.clone()),
        "encryption": pusher.has_encryption(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        assert_eq!(
            User::from_cookie_header(Some("a=b; user=alice")),
            Some(User {
                name: "alice".into()
            })
        );
        assert_eq!(User::from_cookie_header(Some("user=bad name")), None);
        assert_eq!(User::from_cookie_header(None), None);
        assert!(login_cookie("alice").unwrap().starts_with("user=alice;"));
        assert!(login_cookie("a;b").is_err());
        assert!(login_cookie("").is_err());
    }

    #[test]
    fn the_x_socket_id_header_wins_over_the_body() {
        let msg = |socket_id: Option<&str>| NewMessage {
            text: "hi".into(),
            socket_id: socket_id.map(str::to_owned),
        };
        assert_eq!(msg(Some("1.1")).sender(Some("2.2")), Some("2.2"));
        assert_eq!(msg(None).sender(Some("2.2")), Some("2.2"));
        assert_eq!(msg(Some("1.1")).sender(None), Some("1.1"));
        assert_eq!(msg(Some("")).sender(None), None);
        assert_eq!(msg(None).sender(None), None);
    }
}
