//! (g) Webhooks from sockudo: they arrive, `validate_webhook` accepts them, and a forged copy is rejected.

use pusher::{WebhookError, WebhookEvent};
use pusher_e2e::{ReceivedWebhook, WebhookSink};
use serde_json::json;

use super::*;

/// Checks the headers and signature of a received webhook and returns its verified form.
fn verify(pusher: &pusher::Pusher, hook: &ReceivedWebhook) -> pusher::Webhook {
    assert_eq!(hook.path, "/pusher/webhooks");
    assert_eq!(hook.header("x-pusher-key"), Some(pusher_e2e::APP_KEY));
    assert!(
        hook.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let verified = pusher
        .validate_webhook(
            hook.header("X-Pusher-Key"),
            hook.header("X-Pusher-Signature"),
            &hook.body,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&hook.body)));

    // A forged copy: the same headers over an altered body.
    let text = String::from_utf8(hook.body.clone()).unwrap();
    let forged = text.replacen("\"events\"", "\"events\" ", 1);
    assert_ne!(forged, text);
    let err = pusher
        .validate_webhook(
            hook.header("X-Pusher-Key"),
            hook.header("X-Pusher-Signature"),
            forged.as_bytes(),
        )
        .unwrap_err();
    assert_eq!(err, WebhookError::InvalidSignature);
    // Another key, or no signature.
    let err = pusher
        .validate_webhook(
            Some("other-key"),
            hook.header("X-Pusher-Signature"),
            &hook.body,
        )
        .unwrap_err();
    assert_eq!(err, WebhookError::UnknownKey);
    let err = pusher
        .validate_webhook(hook.header("X-Pusher-Key"), None, &hook.body)
        .unwrap_err();
    assert_eq!(err, WebhookError::MissingSignature);
    verified
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_arrive_signed_and_verify() {
    let sink = WebhookSink::start().await.unwrap();
    let Env {
        node,
        pusher,
        server,
    } = env_with(Some(sink.url())).await;
    for c in ["alice-1", "bob-1"] {
        node.connect(c, &server).await.unwrap();
    }

    // channel_occupied (public channel).
    node.subscribe("alice-1", "hooks-public").await.unwrap();
    let hook = sink
        .wait_event("channel_occupied", "hooks-public", WAIT)
        .await
        .unwrap();
    let verified = verify(&pusher, &hook);
    assert!(verified.events.iter().any(
        |e| matches!(e, WebhookEvent::ChannelOccupied { channel, .. } if channel == "hooks-public")
    ));

    // member_added (presence channel).
    node.subscribe("alice-1", "presence-hooks").await.unwrap();
    let hook = sink
        .wait_event("member_added", "presence-hooks", WAIT)
        .await
        .unwrap();
    let verified = verify(&pusher, &hook);
    assert!(
        verified.events.iter().any(|e| matches!(e, WebhookEvent::MemberAdded { channel, user_id, .. } if channel == "presence-hooks" && user_id == "alice")),
        "{verified:?}"
    );

    // client_event (private channel, from bob to alice).
    node.subscribe_and_bind("alice-1", "private-chat")
        .await
        .unwrap();
    node.subscribe("bob-1", "private-chat").await.unwrap();
    let bob_socket = node
        .request(json!({"cmd": "state", "name": "bob-1"}))
        .await
        .unwrap()["socket_id"]
        .clone();
    assert!(
        node.trigger_client(
            "bob-1",
            "private-chat",
            "client-typing",
            json!({"who": "bob"})
        )
        .await
        .unwrap()
    );
    let got = node
        .next_message("alice-1", "private-chat", "client-typing", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], json!({"who": "bob"}));
    let hook = sink
        .wait_event("client_event", "private-chat", WAIT)
        .await
        .unwrap();
    let verified = verify(&pusher, &hook);
    let event = verified
        .events
        .iter()
        .find(|e| e.name() == "client_event")
        .unwrap();
    let WebhookEvent::ClientEvent {
        channel,
        event,
        data,
        socket_id,
        ..
    } = event
    else {
        panic!("{event:?}");
    };
    assert_eq!(
        (channel.as_str(), event.as_str()),
        ("private-chat", "client-typing")
    );
    // `data` is kept as sent: here sockudo forwards the object, kept as its JSON text.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(data).unwrap(),
        json!({"who": "bob"})
    );
    assert_eq!(socket_id.as_deref(), bob_socket.as_str());

    // member_removed and channel_vacated come about 3 s after the member leaves (in one POST or two).
    let left_at = std::time::Instant::now();
    node.unsubscribe("alice-1", "presence-hooks").await.unwrap();
    let mut pending = vec!["member_removed", "channel_vacated"];
    while !pending.is_empty() {
        let hook = sink
            .next_matching(
                |h| {
                    pending
                        .iter()
                        .any(|name| h.has_event(name, "presence-hooks"))
                },
                Duration::from_secs(8),
            )
            .await
            .unwrap();
        let verified = verify(&pusher, &hook);
        for e in &verified.events {
            if e.channel() == Some("presence-hooks") {
                pending.retain(|name| *name != e.name());
            }
            if let WebhookEvent::MemberRemoved { user_id, .. } = e {
                assert_eq!(user_id, "alice");
            }
        }
    }
    println!(
        "member_removed/channel_vacated webhooks after {:?}",
        left_at.elapsed()
    );
}
