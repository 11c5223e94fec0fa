//! Delivery helpers in the three example apps: a retried webhook (the same signed body twice, as a server
//! retries at least once) reaches the app's handler once (`VerifiedWebhook::first_time` with the app's
//! `WebhookDedup`), and `POST /messages` excludes the sender named by the `X-Socket-ID` header
//! (`SenderSocketId`), refusing an invalid one with 400 alike in every framework.

use std::time::{SystemTime, UNIX_EPOCH};

use pusher_e2e::{APP_KEY, APP_SECRET, App, Framework, Node, Sockudo, free_port};
use serde_json::{Value, json};

use crate::WAIT;

fn count(events: &[Value], channel: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"]["channel"] == channel)
        .count()
}

/// POSTs a webhook signed with the app secret; returns the status.
async fn post_webhook(app: &App, body: &str) -> u16 {
    let signature = pusher::sign_webhook(APP_SECRET, body.as_bytes());
    let (status, _) = app
        .post_raw(
            "/pusher/webhooks",
            &[
                ("x-pusher-key", APP_KEY),
                ("x-pusher-signature", &signature),
                ("content-type", "application/json"),
            ],
            body.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    status
}

async fn delivery_extras(framework: Framework) {
    let port = free_port().unwrap();
    let (server, node) = tokio::join!(Sockudo::start(None), Node::start());
    let (server, node) = (server.unwrap(), node.unwrap());
    let app = App::start(framework, port, &server).await.unwrap();
    node.on_auth(app.relay());
    let pusher = server.pusher();
    let fw = framework.name();

    // The same signed webhook twice (a retry), then another one: each POST is answered before the next is
    // sent, so once the third is recorded the first two were handled; no timer is involved.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let channel = format!("retried-{fw}");
    let body = format!(
        r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"{channel}"}}]}}"#
    );
    assert_eq!(post_webhook(&app, &body).await, 200, "{fw}: first delivery");
    assert_eq!(
        post_webhook(&app, &body).await,
        200,
        "{fw}: a retry is acknowledged"
    );
    let other = format!(
        r#"{{"time_ms":{},"events":[{{"name":"channel_occupied","channel":"{channel}"}}]}}"#,
        now + 1
    );
    assert_eq!(post_webhook(&app, &other).await, 200, "{fw}: a new webhook");
    let events = app.webhooks().await.unwrap();
    assert_eq!(
        count(&events, &channel),
        2,
        "{fw}: the retry reached the handler again: {events:?}"
    );

    // An invalid X-Socket-ID is refused before anything is published.
    let msg = json!({"text": "never sent"}).to_string();
    for bad in ["123", "1.2.3", "abc.def"] {
        let (status, reason) = app
            .post_raw(
                "/messages",
                &[
                    ("cookie", "user=bob"),
                    ("content-type", "application/json"),
                    ("x-socket-id", bad),
                ],
                msg.clone().into_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(
            (status, reason.as_str()),
            (400, "invalid X-Socket-ID header"),
            "{fw}: X-Socket-ID {bad:?}"
        );
    }

    // The sender named by X-Socket-ID only (no socket_id in the body) is excluded.
    node.connect("alice-1", &server).await.unwrap();
    let bob_socket = node.connect("bob-1", &server).await.unwrap();
    node.subscribe("alice-1", "presence-chat").await.unwrap();
    node.subscribe("bob-1", "presence-chat").await.unwrap();
    node.bind("alice-1", "presence-chat", Some("message"))
        .await
        .unwrap();
    node.bind("bob-1", "presence-chat", Some("message"))
        .await
        .unwrap();
    let text = format!("from bob's header on {fw}");
    let (status, body) = app
        .post_raw(
            "/messages",
            &[
                ("cookie", "user=bob"),
                ("content-type", "application/json"),
                ("X-Socket-ID", &bob_socket),
            ],
            json!({ "text": text }).to_string().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "{fw}: {body}");
    let got = node
        .next_message("alice-1", "presence-chat", "message", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], json!({"user": "bob", "text": text}), "{fw}");
    node.expect_no_message(&pusher, "bob-1", "presence-chat", "message")
        .await
        .unwrap_or_else(|e| panic!("{fw}: X-Socket-ID did not exclude the sender: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_dedups_retried_webhooks_and_reads_x_socket_id() {
    delivery_extras(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_dedups_retried_webhooks_and_reads_x_socket_id() {
    delivery_extras(Framework::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_dedups_retried_webhooks_and_reads_x_socket_id() {
    delivery_extras(Framework::Rocket).await;
}
