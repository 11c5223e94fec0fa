//! (h) TLS end to end: sockudo serving only HTTPS and WSS with a certificate from a throwaway CA made in the
//! test, and the core client through each TLS backend compiled in (`tls-rustls`: rustls; `tls-native`:
//! the platform library, OpenSSL here), given a `reqwest::Client` that trusts only that CA. A trigger over
//! HTTPS reaches a WSS subscriber, a query reads the channel, and sockudo's webhook for the subscription
//! verifies. A client trusting another CA, or asking for a host name the certificate does not cover, gets
//! a transport error naming the certificate, and sends nothing.
//!
//! `--all-features` runs both backends in one binary; `scripts/check-features` also runs these tests with
//! `--no-default-features --features tls-native`, so with `pusher` built for native-tls alone.

use pusher::{Error, TriggerOptions, WebhookEvent};
use pusher_e2e::WebhookSink;
use pusher_e2e::tls::{Backend, TestCa, WssClient};
use serde_json::json;

use super::*;

/// A transport error whose cause (somewhere in its `source()` chain) names the certificate.
fn names_the_certificate(e: &Error) -> bool {
    let mut text = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    matches!(e, Error::Transport { .. }) && text.to_ascii_lowercase().contains("certificate")
}

async fn round_trip(backend: Backend) {
    let ca = TestCa::new("pusher-rs e2e CA").unwrap();
    let sink = WebhookSink::start().await.unwrap();
    let server = Sockudo::start_tls(
        Some(sink.url()),
        &ca.server_tls(&["127.0.0.1", "localhost"]).unwrap(),
    )
    .await
    .unwrap();
    assert!(server.ws_url().starts_with("wss://"));
    let channel = "tls-orders";

    // A subscriber over WSS; sockudo tells the webhook sink the channel is occupied.
    let mut ws = WssClient::connect(server.port(), &ca).await.unwrap();
    ws.subscribe(channel).await.unwrap();

    let client = backend.client_trusting(&ca).unwrap().build().unwrap();
    let pusher = server.pusher_builder().http_client(client).build().unwrap();
    assert!(
        pusher.base_url().starts_with("https://127.0.0.1:"),
        "{backend:?}"
    );

    // Trigger over HTTPS (with `info`, so the server's answer is read back too) and see it arrive.
    let response = pusher
        .trigger_with(
            channel,
            "created",
            &json!({"id": 7, "backend": format!("{backend:?}")}),
            &TriggerOptions::new().info(["subscription_count"]),
        )
        .await
        .unwrap_or_else(|e| panic!("{backend:?}: {e}\n{}", server.log_tail(20)));
    assert_eq!(
        response.channels[channel].subscription_count,
        Some(1),
        "{backend:?}: {response:?}"
    );
    let got = ws.next_event("created", channel, WAIT).await.unwrap();
    let data: serde_json::Value = serde_json::from_str(got["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"id": 7, "backend": format!("{backend:?}")}));

    // A query over HTTPS.
    let info = pusher
        .channel_info(channel, &["subscription_count"])
        .await
        .unwrap();
    assert!(info.occupied, "{backend:?}: {info:?}");
    assert_eq!(info.subscription_count, Some(1));

    // The webhook sockudo sent for the subscription verifies with this client.
    let hook = sink
        .wait_event("channel_occupied", channel, WAIT)
        .await
        .unwrap();
    let verified = pusher
        .validate_webhook(
            hook.header("X-Pusher-Key"),
            hook.header("X-Pusher-Signature"),
            &hook.body,
        )
        .unwrap();
    assert!(
        verified
            .events
            .iter()
            .any(|e| matches!(e, WebhookEvent::ChannelOccupied { channel: c, .. } if c == channel))
    );

    // Another CA: refused, naming the certificate, and nothing reaches the subscriber.
    let other = TestCa::new("pusher-rs e2e other CA").unwrap();
    let wrong_ca = server
        .pusher_builder()
        .http_client(backend.client_trusting(&other).unwrap().build().unwrap())
        .build()
        .unwrap();
    let e = wrong_ca
        .trigger(channel, "forged", &json!({}))
        .await
        .unwrap_err();
    assert!(names_the_certificate(&e), "{backend:?}: {e:?}");

    // The right CA but a host name the certificate does not cover (resolved to the server).
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
    let wrong_host = server
        .pusher_builder()
        .host("wrong-host.example")
        .http_client(
            backend
                .client_trusting(&ca)
                .unwrap()
                .resolve("wrong-host.example", addr)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = wrong_host
        .trigger(channel, "forged", &json!({}))
        .await
        .unwrap_err();
    assert!(names_the_certificate(&e), "{backend:?}: {e:?}");

    // Plain HTTP to the TLS port is no way around it either.
    let plain = server.pusher_builder().use_tls(false).build().unwrap();
    assert!(plain.trigger(channel, "forged", &json!({})).await.is_err());

    // A marker sent after the refused triggers: everything that arrives before it is what they delivered.
    pusher
        .trigger(channel, "e2e-sentinel", &json!({}))
        .await
        .unwrap();
    let before = ws
        .events_before("e2e-sentinel", channel, WAIT)
        .await
        .unwrap();
    assert!(
        before.iter().all(|m| m["event"] != "forged"),
        "{backend:?}: a refused trigger was delivered: {before:?}"
    );
}

#[cfg(feature = "tls-rustls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_rustls() {
    assert!(Backend::all().contains(&Backend::Rustls));
    round_trip(Backend::Rustls).await;
}

#[cfg(feature = "tls-native")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_native_tls() {
    assert!(Backend::all().contains(&Backend::Native));
    round_trip(Backend::Native).await;
}
