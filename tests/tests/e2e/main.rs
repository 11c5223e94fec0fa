//! End-to-end tests: the core client against a real sockudo, with pusher-js subscribers in Node authorised
//! by the core's signatures. Each test starts its own server, so they run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use pusher::{PresenceData, UserData};
use pusher_e2e::{AuthDecision, AuthKind, AuthRequest, Node, Sockudo};

mod browser;
mod channels;
mod chat_chunked;
mod cluster;
mod delivery;
mod encrypted;
mod errors;
mod extras;
mod fanout;
mod frameworks;
mod info;
mod load;
mod publisher;
#[cfg(any(feature = "tls-rustls", feature = "tls-native"))]
mod tls;
mod trigger;
mod users;
mod webhooks;

/// How long to wait for something that should happen. That something does *not* happen is never waited
/// for: a sentinel sent after it proves it (`Node::settle`, `Node::expect_no_message`).
const WAIT: Duration = Duration::from_secs(5);

/// A server and a Node process whose clients are authorised by [`rule`].
struct Env {
    server: Sockudo,
    node: Node,
    pusher: pusher::Pusher,
}

async fn env() -> Env {
    env_with(None).await
}

async fn env_with(webhook_url: Option<&str>) -> Env {
    let (server, node) = tokio::join!(Sockudo::start(webhook_url), Node::start());
    let server = server.unwrap();
    let node = node.unwrap();
    let pusher = server.pusher();
    node.authorize_with(pusher.clone(), rule);
    Env {
        server,
        node,
        pusher,
    }
}

/// The tests' auth rule: channels containing `denied` get 403; presence members and users are named after
/// the client up to its first `-` (clients `alice-1` and `alice-2` are both user `alice`), with their name
/// as `user_info`.
fn rule(request: &AuthRequest) -> AuthDecision {
    let user = request
        .client
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned();
    match (request.kind, request.channel.as_deref()) {
        (_, Some(c)) if c.contains("denied") => AuthDecision::Deny(403),
        (AuthKind::Channel, Some(c)) if c.starts_with("presence-") => AuthDecision::Presence(
            PresenceData::new(user.clone())
                .user_info(serde_json::json!({"name": user}))
                .expect("JSON user_info"),
        ),
        (AuthKind::Channel, _) => AuthDecision::Allow,
        (AuthKind::User, _) if user.contains("denied") => AuthDecision::Deny(403),
        (AuthKind::User, _) => AuthDecision::User(
            UserData::new(user.clone())
                .user_info(serde_json::json!({"name": user}))
                .expect("JSON user_info"),
        ),
    }
}

/// Retries `check` every 200 ms until it returns `Some`, for at most `timeout`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not settled within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
