//! Fan-out: everything is validated before anything is sent, and the report names exactly the channels
//! (and input positions) of each request that failed.

use serde_json::json;

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Error, Pusher, RetryPolicy, TriggerOptions};

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn channels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c-{i}")).collect()
}

#[track_caller]
fn assert_validation(result: Result<pusher::FanOutReport, Error>, field: &str, position: &str) {
    match result {
        Err(Error::Validation {
            field: f, reason, ..
        }) => {
            assert_eq!(f, field, "{reason}");
            assert!(reason.starts_with(position), "{reason}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn one_bad_channel_refuses_the_whole_fanout_before_sending() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let mut list = channels(250);
    list[180] = "bad channel".into();
    let r = p
        .trigger_fanout(&list, "e", &json!({"x": 1}), &TriggerOptions::new(), 4)
        .await;
    assert_validation(r, "channel", "channel 180:");
    assert!(rec.requests().is_empty(), "nothing is sent");

    // An encrypted channel cannot share a trigger: refused up front too.
    let mut list = channels(150);
    list[120] = "private-encrypted-x".into();
    let r = p
        .trigger_fanout(&list, "e", "x", &TriggerOptions::new(), 4)
        .await;
    assert_validation(r, "channels", "channel 120:");
    // Bad options, event name, oversized data or an empty list: refused, nothing sent.
    let list = channels(150);
    let bad_socket = TriggerOptions::new().socket_id("nope");
    assert!(
        p.trigger_fanout(&list, "e", "x", &bad_socket, 4)
            .await
            .is_err()
    );
    assert!(
        p.trigger_fanout(&list, "", "x", &TriggerOptions::new(), 4)
            .await
            .is_err()
    );
    let big = "x".repeat(10 * 1024 + 1);
    assert!(
        p.trigger_fanout(&list, "e", &big, &TriggerOptions::new(), 4)
            .await
            .is_err()
    );
    let none: [&str; 0] = [];
    assert!(
        p.trigger_fanout(&none, "e", "x", &TriggerOptions::new(), 4)
            .await
            .is_err()
    );
    assert!(rec.requests().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn one_bad_event_refuses_the_whole_batch_fanout_before_sending() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let mut events: Vec<BatchEvent> = (0..25)
        .map(|i| BatchEvent::new(format!("c-{i}"), "e", "x").unwrap())
        .collect();
    events[17] = events[17].clone().socket_id("not-a-socket");
    assert_validation(
        p.trigger_batch_fanout(&events, 2).await,
        "socket_id",
        "event 17:",
    );
    events[17] = BatchEvent::new("c-17", "e", &"y".repeat(10 * 1024 + 1)).unwrap();
    assert_validation(
        p.trigger_batch_fanout(&events, 2).await,
        "data",
        "event 17:",
    );
    // An encrypted event without a master key: refused up front (not a validation error).
    events[17] = BatchEvent::new("private-encrypted-a", "e", "x").unwrap();
    assert!(matches!(
        p.trigger_batch_fanout(&events, 2).await,
        Err(Error::MissingMasterKey)
    ));
    assert!(p.trigger_batch_fanout(&[], 2).await.is_err());
    assert!(rec.requests().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn the_report_names_exactly_the_channels_of_failed_requests() {
    let rec = RecordingBackend::new();
    rec.respond(200, "{}");
    rec.respond(503, "busy");
    rec.respond(200, "{}");
    let p = client(&rec);
    let list = channels(250);
    // Concurrency 1: chunks are sent in order, so the 503 is chunk 1 (channels 100..200).
    let r = p
        .trigger_fanout(&list, "e", &json!({"x": 1}), &TriggerOptions::new(), 1)
        .await
        .unwrap();
    assert_eq!((r.chunks, r.succeeded, r.failures.len()), (3, 2, 1));
    let f = &r.failures[0];
    assert_eq!((f.index, f.items.clone()), (1, 100..200));
    assert_eq!(f.channels, list[100..200]);
    assert_eq!(f.error.status(), Some(503));
    assert_eq!(r.failed_channels().collect::<Vec<_>>(), list[100..200]);
    // Every channel was sent exactly once, in chunks of at most 100.
    let sent: Vec<String> = rec
        .requests()
        .iter()
        .flat_map(|q| {
            let chans = q.json()["channels"].as_array().unwrap().clone();
            assert!(chans.len() <= 100);
            chans.into_iter().map(|c| c.as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(sent, list);

    let rec = RecordingBackend::new();
    rec.respond(200, "{}");
    rec.respond(200, "{}");
    rec.respond(500, "boom");
    let p = client(&rec);
    let events: Vec<BatchEvent> = (0..25)
        .map(|i| BatchEvent::new(format!("b-{i}"), "e", "x").unwrap())
        .collect();
    let r = p.trigger_batch_fanout(&events, 1).await.unwrap();
    assert_eq!((r.chunks, r.succeeded, r.failures.len()), (3, 2, 1));
    let f = &r.failures[0];
    assert_eq!((f.index, f.items.clone()), (2, 20..25));
    let expected: Vec<String> = (20..25).map(|i| format!("b-{i}")).collect();
    assert_eq!(f.channels, expected);
    assert!(!r.is_complete());
}
