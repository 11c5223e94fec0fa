//! (a) Triggers reach subscribers, one channel or several; `socket_id` excludes a connection.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_reaches_a_subscriber_with_exactly_the_data() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    node.connect("a", &server).await.unwrap();
    node.subscribe_and_bind("a", "orders").await.unwrap();

    let data =
        json!({"id": 7, "text": "héllo \"world\"", "list": [1, 2.5, null], "nested": {"ok": true}});
    pusher.trigger("orders", "created", &data).await.unwrap();
    let got = node
        .next_message("a", "orders", "created", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], data);

    // A string is sent as is.
    pusher
        .trigger("orders", "text", "plain words")
        .await
        .unwrap();
    let got = node
        .next_message("a", "orders", "text", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], "plain words");

    // Nothing else arrived before a sentinel sent after the two events: no duplicate, nothing extra.
    let before = node.settle(&pusher, "a", "orders").await.unwrap();
    let extra: Vec<&serde_json::Value> = before
        .iter()
        .filter(|e| !e["eventName"].as_str().unwrap_or("").starts_with("pusher:"))
        .collect();
    assert!(extra.is_empty(), "more than the two events: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_to_several_channels() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    node.connect("a", &server).await.unwrap();
    node.connect("b", &server).await.unwrap();
    node.subscribe_and_bind("a", "multi-1").await.unwrap();
    node.subscribe_and_bind("b", "multi-2").await.unwrap();
    node.subscribe_and_bind("b", "private-multi-3")
        .await
        .unwrap();

    let data = json!({"n": 1});
    pusher
        .trigger(&["multi-1", "multi-2", "private-multi-3"], "fan-out", &data)
        .await
        .unwrap();
    for (client, channel) in [("a", "multi-1"), ("b", "multi-2"), ("b", "private-multi-3")] {
        let got = node
            .next_message(client, channel, "fan-out", WAIT)
            .await
            .unwrap();
        assert_eq!(got["data"], data, "{client} on {channel}");
    }
    // Exactly one copy per channel: no second one before a sentinel sent after it on every channel.
    let id = node
        .send_sentinel(&pusher, &["multi-1", "multi-2", "private-multi-3"])
        .await
        .unwrap();
    for (client, channel) in [("a", "multi-1"), ("b", "multi-2"), ("b", "private-multi-3")] {
        let before = node
            .messages_before_sentinel(client, channel, id)
            .await
            .unwrap();
        assert!(
            before.iter().all(|e| e["eventName"] != "fan-out"),
            "{client} got fan-out twice on {channel}: {before:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_id_excludes_one_connection() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    let a = node.connect("a", &server).await.unwrap();
    let b = node.connect("b", &server).await.unwrap();
    for c in ["a", "b"] {
        node.subscribe_and_bind(c, "room").await.unwrap();
    }

    let opts = pusher::TriggerOptions::new().socket_id(a.clone());
    pusher
        .trigger_with("room", "said", &json!({"from": "a"}), &opts)
        .await
        .unwrap();
    let got = node.next_message("b", "room", "said", WAIT).await.unwrap();
    assert_eq!(got["data"], json!({"from": "a"}));
    // a is subscribed and bound, yet nothing came before a sentinel sent to the channel after the event.
    node.expect_no_message(&pusher, "a", "room", "said")
        .await
        .unwrap();

    // The same in a batch: each event excludes its own socket.
    let batch = vec![
        pusher::BatchEvent::new("room", "batched", &json!({"skip": "b"}))
            .unwrap()
            .socket_id(b),
        pusher::BatchEvent::new("room", "batched-2", &json!({"skip": "a"}))
            .unwrap()
            .socket_id(a),
    ];
    pusher.trigger_batch(&batch).await.unwrap();
    assert_eq!(
        node.next_message("a", "room", "batched", WAIT)
            .await
            .unwrap()["data"],
        json!({"skip": "b"})
    );
    assert_eq!(
        node.next_message("b", "room", "batched-2", WAIT)
            .await
            .unwrap()["data"],
        json!({"skip": "a"})
    );
    let id = node.send_sentinel(&pusher, &["room"]).await.unwrap();
    for (client, excluded) in [("b", "batched"), ("a", "batched-2")] {
        let before = node
            .messages_before_sentinel(client, "room", id)
            .await
            .unwrap();
        assert!(
            before.iter().all(|e| e["eventName"] != excluded),
            "{client} was excluded from {excluded} but got it: {before:?}"
        );
    }
}
