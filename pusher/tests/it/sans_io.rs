//! The `*_request` methods sign exactly the request the sending method sends (same method, URL, headers
//! and body at the same time), for every operation.

use std::time::{Duration, UNIX_EPOCH};

use pusher::testing::RecordingBackend;
use pusher::trigger::BatchOptions;
use pusher::{BatchEvent, HttpRequest, Pusher, TriggerOptions};

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .clock(|| UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .build()
        .unwrap()
}

#[track_caller]
fn same(built: &HttpRequest, rec: &RecordingBackend) {
    let sent = rec.last().expect("a request was sent").request;
    assert_eq!(built.method, sent.method);
    assert_eq!(built.url, sent.url);
    assert_eq!(built.headers, sent.headers);
    assert_eq!(built.body, sent.body);
    assert_eq!(built.timeout, sent.timeout);
}

#[tokio::test]
async fn every_request_method_signs_what_the_sending_method_sends() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let opts = TriggerOptions::new()
        .socket_id("1.2")
        .info(["subscription_count"])
        .idempotency_key("k-1");

    p.trigger_with(&["a", "b"], "e", "x", &opts).await.unwrap();
    same(
        &p.trigger_request(&["a", "b"], "e", "x", &opts).unwrap(),
        &rec,
    );

    let batch = [
        BatchEvent::new("a", "e", "x").unwrap().info(["user_count"]),
        BatchEvent::new("b", "e", "y")
            .unwrap()
            .idempotency_key("own"),
    ];
    p.trigger_batch(&batch).await.unwrap();
    same(&p.batch_request(&batch).unwrap(), &rec);
    let bopts = BatchOptions::new().idempotency_key("batch-1");
    p.trigger_batch_with(&batch, &bopts).await.unwrap();
    same(&p.batch_request_with(&batch, &bopts).unwrap(), &rec);

    p.send_to_user("alice", "notice", "{}").await.unwrap();
    same(
        &p.send_to_user_request("alice", "notice", "{}").unwrap(),
        &rec,
    );

    p.terminate_user_connections("alice").await.unwrap();
    same(
        &p.terminate_user_connections_request("alice").unwrap(),
        &rec,
    );

    p.channels_info(Some("presence-"), &["user_count"])
        .await
        .unwrap();
    same(
        &p.channels_request(Some("presence-"), &["user_count"])
            .unwrap(),
        &rec,
    );

    p.channel_info("presence-a", &["user_count"]).await.unwrap();
    same(
        &p.channel_request("presence-a", &["user_count"]).unwrap(),
        &rec,
    );

    rec.respond(200, r#"{"users":[]}"#);
    p.users_info("presence-a").await.unwrap();
    same(&p.users_request("presence-a").unwrap(), &rec);

    let _: serde_json::Value = p
        .get("/channels", &[("filter_by_prefix", "a")])
        .await
        .unwrap();
    same(
        &p.get_request("/channels", &[("filter_by_prefix", "a")])
            .unwrap(),
        &rec,
    );

    let body = serde_json::json!({"x": 1});
    let _: serde_json::Value = p.post("/custom", &body).await.unwrap();
    same(&p.post_request("/custom", &body).unwrap(), &rec);
}

/// A request that would be refused when sent is refused when built, with the same error.
#[test]
fn request_methods_refuse_what_sending_refuses() {
    let p = client(&RecordingBackend::new());
    let e = p.send_to_user_request("has space", "e", "x").unwrap_err();
    assert!(
        matches!(
            e,
            pusher::Error::Validation {
                field: "user_id",
                ..
            }
        ),
        "{e:?}"
    );
    let e = p.terminate_user_connections_request("").unwrap_err();
    assert!(
        matches!(
            e,
            pusher::Error::Validation {
                field: "user_id",
                ..
            }
        ),
        "{e:?}"
    );
    let e = p
        .batch_request_with(
            &[BatchEvent::new("a", "e", "x").unwrap()],
            &BatchOptions::new().idempotency_key("has space"),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            pusher::Error::Validation {
                field: "idempotency_key",
                ..
            }
        ),
        "{e:?}"
    );
}
