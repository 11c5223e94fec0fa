//! The fan-out helpers against sockudo: 250 events in batches of 10 (25 requests) and one event to 250
//! channels (3 requests of at most 100 channels), counted by pusher-js subscribers of every channel.

use pusher::BatchEvent;
use serde_json::json;

use super::*;

/// How long the 250 sentinels may take to reach a counter.
const COUNTED: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_channel_exactly_once() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    let channels: Vec<String> = (0..250).map(|i| format!("fan-{i}")).collect();
    let channel_names: Vec<&str> = channels.iter().map(String::as_str).collect();
    for (client, event) in [("batches", "batched"), ("notices", "notice")] {
        node.connect(client, &server).await.unwrap();
        for c in &channels {
            node.subscribe(client, c).await.unwrap();
        }
        node.call(
            json!({"cmd": "countBind", "name": client, "channels": channels, "event": event}),
        )
        .await
        .unwrap();
    }

    // 250 distinct events, one per channel, in 25 batches with 4 in flight.
    let events: Vec<BatchEvent> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| BatchEvent::new(c.as_str(), "batched", &json!({"seq": i})).unwrap())
        .collect();
    let report = pusher.trigger_batch_fanout(&events, 4).await.unwrap();
    assert_eq!((report.chunks, report.succeeded), (25, 25), "{report:?}");
    assert!(report.is_complete());
    // Counted once a sentinel sent after the fan-out has reached all 250 channels: a duplicate would be in.
    let c = node
        .counts_after_sentinel(&pusher, "batches", &channel_names, COUNTED)
        .await
        .unwrap();
    assert_eq!(
        (&c["received"], &c["unique"], &c["duplicates"], &c["bad"]),
        (&json!(250), &json!(250), &json!(0), &json!(0)),
        "{c}"
    );

    // One event to all 250 channels: 3 requests; each subscription receives it once.
    let report = pusher
        .trigger_fanout(
            &channels,
            "notice",
            &json!({"seq": 7}),
            &Default::default(),
            2,
        )
        .await
        .unwrap();
    assert_eq!((report.chunks, report.succeeded), (3, 3), "{report:?}");
    let c = node
        .counts_after_sentinel(&pusher, "notices", &channel_names, COUNTED)
        .await
        .unwrap();
    assert_eq!(
        (&c["received"], &c["unique"], &c["bad"]),
        (&json!(250), &json!(1), &json!(0)),
        "{c}"
    );
    // The chunk boundaries (first and last channel of each request) each got it.
    node.connect("edges", &server).await.unwrap();
    let edges = [
        "fan-0", "fan-99", "fan-100", "fan-199", "fan-200", "fan-249",
    ];
    for c in edges {
        node.subscribe_and_bind("edges", c).await.unwrap();
    }
    pusher
        .trigger_fanout(&channels, "edge", &json!({"n": 1}), &Default::default(), 3)
        .await
        .unwrap();
    for c in edges {
        let got = node.next_message("edges", c, "edge", WAIT).await.unwrap();
        assert_eq!(got["data"], json!({"n": 1}), "{c}");
    }
}
