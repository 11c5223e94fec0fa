//! The API's limits are enforced before sending, at their exact edges: 100 channels per trigger, 10
//! events per batch, 10 KB (10,240 UTF-8 bytes, not characters) of data per event.

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Error, Pusher, TriggerOptions};

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .build()
        .unwrap()
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(r: Result<T, Error>, field: &str) {
    assert!(
        matches!(&r, Err(Error::Validation { field: f, .. }) if *f == field),
        "{field}: {r:?}"
    );
}

#[tokio::test]
async fn a_trigger_takes_at_most_100_channels() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let channels: Vec<String> = (0..101).map(|i| format!("c-{i}")).collect();
    p.trigger(&channels[..100], "e", "x").await.unwrap();
    assert_eq!(rec.requests().len(), 1);
    assert_refused(p.trigger(&channels, "e", "x").await, "channels");
    assert_refused(
        p.trigger_request(&channels, "e", "x", &TriggerOptions::new()),
        "channels",
    );
    assert_eq!(rec.requests().len(), 1, "101 channels are not sent");
}

#[tokio::test]
async fn a_batch_takes_at_most_10_events() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let events: Vec<BatchEvent> = (0..11)
        .map(|i| BatchEvent::new(format!("c-{i}"), "e", "x").unwrap())
        .collect();
    p.trigger_batch(&events[..10]).await.unwrap();
    assert_eq!(rec.requests().len(), 1);
    assert_refused(p.trigger_batch(&events).await, "batch");
    assert_refused(p.batch_request(&events), "batch");
    assert_eq!(rec.requests().len(), 1, "11 events are not sent");
}

#[tokio::test]
async fn data_is_capped_at_10240_bytes_counted_in_bytes() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let ascii_ok = "x".repeat(10_240);
    let ascii_over = "x".repeat(10_241);
    // 5,121 characters but 10,242 bytes: a cap counted in characters would let it through.
    let wide_over = "é".repeat(5_121);
    let wide_ok = "é".repeat(5_120);
    for ok in [&ascii_ok, &wide_ok] {
        p.trigger("a", "e", ok).await.unwrap();
        p.trigger_batch(&[BatchEvent::new("a", "e", ok).unwrap()])
            .await
            .unwrap();
    }
    assert_eq!(rec.requests().len(), 4);
    for over in [&ascii_over, &wide_over] {
        assert_refused(p.trigger("a", "e", over).await, "data");
        assert_refused(
            p.trigger_batch(&[BatchEvent::new("a", "e", over).unwrap()])
                .await,
            "data",
        );
    }
    // JSON-encoded data is measured as sent: `["yy…"]` is the string plus 4 bytes.
    p.trigger("a", "e", &["y".repeat(10_236)]).await.unwrap();
    assert_refused(p.trigger("a", "e", &["y".repeat(10_237)]).await, "data");
    assert_eq!(rec.requests().len(), 5, "oversized data is not sent");
}
