//! The example apps' 50 KB chat message: `POST /messages` triggers chunked (`TriggerOptions::chunked`), and
//! a pusher-js client bound with the reassembly code (the page's `bindWithChunking`, the Node helper's
//! `bindChunked`) receives it whole, in pieces under sockudo's 10 KB limit.

use pusher_e2e::{App, Framework, Node, Sockudo, free_port};
use serde_json::json;

use crate::WAIT;

async fn a_50_kb_message_arrives_whole(framework: Framework) {
    let port = free_port().unwrap();
    let (server, node) = tokio::join!(Sockudo::start(None), Node::start());
    let (server, node) = (server.unwrap(), node.unwrap());
    let app = App::start(framework, port, &server).await.unwrap();
    node.on_auth(app.relay());
    let fw = framework.name();

    node.connect("alice-1", &server).await.unwrap();
    node.subscribe("alice-1", "presence-chat").await.unwrap();
    node.bind_chunked("alice-1", "presence-chat", "message")
        .await
        .unwrap();

    // What the page's "Send a 50 KB message" button sends: 50,000 bytes, a non-ASCII character included
    // so that a split inside a UTF-8 character would show.
    let text: String = format!("é {}", "lorem ipsum dolor sit amet ".repeat(1900))
        .chars()
        .take(50_000)
        .collect();
    let (status, body) = app
        .post(
            "/messages",
            Some("bob"),
            "application/json",
            json!({ "text": text }).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "{fw}: {body}\n{}", app.log_tail());
    let got = node
        .next_message("alice-1", "presence-chat", "message", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], json!({"user": "bob", "text": text}), "{fw}");
    let chunks = got["chunks"].as_u64().unwrap();
    println!(
        "{fw}: a {} byte message arrived whole in {chunks} chunked events",
        text.len()
    );
    assert!(
        chunks >= 5,
        "{fw}: {chunks} chunks for {} bytes",
        text.len()
    );

    // A short message is still one plain event.
    let (status, _) = app
        .post(
            "/messages",
            Some("bob"),
            "application/json",
            json!({ "text": "hi" }).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "{fw}");
    let got = node
        .next_message("alice-1", "presence-chat", "message", WAIT)
        .await
        .unwrap();
    assert_eq!(
        (&got["data"], &got["chunks"]),
        (&json!({"user": "bob", "text": "hi"}), &json!(0)),
        "{fw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_app_delivers_a_50_kb_message_whole() {
    a_50_kb_message_arrives_whole(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_app_delivers_a_50_kb_message_whole() {
    a_50_kb_message_arrives_whole(Framework::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_app_delivers_a_50_kb_message_whole() {
    a_50_kb_message_arrives_whole(Framework::Rocket).await;
}
