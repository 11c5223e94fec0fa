//! (c) End-to-end encrypted channels: pusher-js decrypts what the core encrypted, in a trigger and in a batch.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_js_decrypts_triggers_and_batches() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    node.connect("a", &server).await.unwrap();
    let channel = "private-encrypted-vault";
    node.subscribe_and_bind("a", channel).await.unwrap();
    node.subscribe_and_bind("a", "plain").await.unwrap();

    let secret = json!({"msg": "for js eyes only", "n": [1, 2, 3], "é": "ü"});
    pusher.trigger(channel, "secret", &secret).await.unwrap();
    let got = node
        .next_message("a", channel, "secret", WAIT)
        .await
        .unwrap();
    assert_eq!(got["data"], secret);

    // What went over the wire was ciphertext: the request body holds no plaintext.
    let body = pusher
        .trigger_body(channel, "secret", &secret, &Default::default())
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("ciphertext") && !text.contains("for js eyes only"),
        "{text}"
    );

    let batch = vec![
        pusher::BatchEvent::new(channel, "batched-secret", &json!({"k": "v"})).unwrap(),
        pusher::BatchEvent::new("plain", "batched-plain", &json!({"k": "plain"})).unwrap(),
    ];
    pusher.trigger_batch(&batch).await.unwrap();
    assert_eq!(
        node.next_message("a", channel, "batched-secret", WAIT)
            .await
            .unwrap()["data"],
        json!({"k": "v"})
    );
    assert_eq!(
        node.next_message("a", "plain", "batched-plain", WAIT)
            .await
            .unwrap()["data"],
        json!({"k": "plain"})
    );

    // An encrypted channel must be the only one of a trigger (refused before sending).
    let err = pusher
        .trigger(&[channel, "plain"], "x", "y")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            pusher::Error::Validation {
                field: "channels",
                ..
            }
        ),
        "{err}"
    );
}
