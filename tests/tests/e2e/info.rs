//! (e) `trigger_with` info and `trigger_batch` with info return sockudo's channel attributes.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_and_batch_return_channel_attributes() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    for c in ["alice-1", "alice-2", "bob-1"] {
        node.connect(c, &server).await.unwrap();
    }
    node.subscribe("alice-1", "pub-e").await.unwrap();
    node.subscribe("bob-1", "pub-e").await.unwrap();
    node.subscribe("alice-1", "presence-e").await.unwrap();
    node.subscribe("alice-2", "presence-e").await.unwrap();

    let opts = pusher::TriggerOptions::new().info(["subscription_count"]);
    let res = pusher
        .trigger_with(&["pub-e", "pub-unoccupied"], "ev", &json!({}), &opts)
        .await
        .unwrap();
    assert_eq!(res.channels["pub-e"].subscription_count, Some(2), "{res:?}");
    assert_eq!(
        res.channels["pub-unoccupied"].subscription_count,
        Some(0),
        "{res:?}"
    );

    let opts = pusher::TriggerOptions::new().info(["user_count", "subscription_count"]);
    let res = pusher
        .trigger_with("presence-e", "ev", &json!({}), &opts)
        .await
        .unwrap();
    let attrs = &res.channels["presence-e"];
    assert_eq!(
        (attrs.user_count, attrs.subscription_count),
        (Some(1), Some(2)),
        "{res:?}"
    );

    // Without info: no attributes.
    let res = pusher.trigger("pub-e", "ev", &json!({})).await.unwrap();
    assert!(res.channels.is_empty(), "{res:?}");

    let batch = vec![
        pusher::BatchEvent::new("pub-e", "b", &json!({}))
            .unwrap()
            .info(["subscription_count"]),
        pusher::BatchEvent::new("presence-e", "b", &json!({}))
            .unwrap()
            .info(["user_count", "subscription_count"]),
        pusher::BatchEvent::new("pub-e", "b", &json!({})).unwrap(),
    ];
    let res = pusher.trigger_batch(&batch).await.unwrap();
    assert_eq!(res.batch.len(), 3, "{res:?}");
    assert_eq!(res.batch[0].subscription_count, Some(2), "{res:?}");
    assert_eq!(
        (res.batch[1].user_count, res.batch[1].subscription_count),
        (Some(1), Some(2)),
        "{res:?}"
    );
    assert_eq!(
        (res.batch[2].user_count, res.batch[2].subscription_count),
        (None, None),
        "{res:?}"
    );

    // A batch without info at all.
    let res = pusher
        .trigger_batch(&[pusher::BatchEvent::new("pub-e", "b", "x").unwrap()])
        .await
        .unwrap();
    assert!(
        res.batch
            .iter()
            .all(|a| a.user_count.is_none() && a.subscription_count.is_none()),
        "{res:?}"
    );
}
