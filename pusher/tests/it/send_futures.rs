//! Every public async method of `Pusher` gives a `Send` future: each is checked with `assert_send` on the
//! borrowed future and spawned on tokio with owned arguments, as an axum handler or a background task
//! does. This file does not compile when one of them is not `Send` — the fan-out helpers were not: their
//! per-chunk closures borrowed the chunks ("implementation of `FnOnce` is not general enough").

use serde_json::{Value, json};

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Error, Pusher, TriggerOptions};

fn assert_send<T: Send>(_: &T) {}

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_public_async_method_is_send_when_borrowed() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let data = json!({"a": 1});
    let opts = TriggerOptions::new();
    let batch = [BatchEvent::new("a", "e", &data).unwrap()];
    let channels: Vec<String> = (0..150).map(|i| format!("c-{i}")).collect();

    let f = p.trigger("a", "e", &data);
    assert_send(&f);
    f.await.unwrap();
    let f = p.trigger_with(&["a", "b"], "e", "x", &opts);
    assert_send(&f);
    f.await.unwrap();
    let f = p.trigger_batch(&batch);
    assert_send(&f);
    f.await.unwrap();
    let f = p.send_to_user("u", "e", &data);
    assert_send(&f);
    f.await.unwrap();
    let f = p.terminate_user_connections("u");
    assert_send(&f);
    f.await.unwrap();
    let f = p.channels_info(Some("presence-"), &["user_count"]);
    assert_send(&f);
    f.await.unwrap();
    let f = p.channel_info("a", &[]);
    assert_send(&f);
    f.await.unwrap();
    let f = p.users_info("presence-a");
    assert_send(&f);
    f.await.unwrap();
    let f = p.get::<Value>("/channels", &[]);
    assert_send(&f);
    f.await.unwrap();
    let f = p.post::<_, Value>("/events", &data);
    assert_send(&f);
    f.await.unwrap();
    let f = p.trigger_fanout(&channels, "e", &data, &opts, 2);
    assert_send(&f);
    assert!(f.await.unwrap().is_complete());
    let f = p.trigger_batch_fanout(&batch, 2);
    assert_send(&f);
    assert!(f.await.unwrap().is_complete());
    assert_eq!(rec.requests().len(), 13);
}

#[tokio::test]
async fn every_public_async_method_can_be_spawned() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let mut tasks: Vec<tokio::task::JoinHandle<Result<(), Error>>> = Vec::new();
    // Each task owns its client clone and arguments, like a handler's future.
    macro_rules! spawn {
        (|$c:ident| $call:expr) => {{
            let $c = p.clone();
            tasks.push(tokio::spawn(async move { $call.await.map(drop) }));
        }};
    }
    spawn!(|c| c.trigger("a", "e", &json!({"a": 1})));
    spawn!(|c| c.trigger_with(&vec!["a".to_owned()], "e", "x", &TriggerOptions::new()));
    spawn!(|c| c.trigger_batch(&[BatchEvent::new("a", "e", "x").unwrap()]));
    spawn!(|c| c.send_to_user("u", "e", &json!(1)));
    spawn!(|c| c.terminate_user_connections("u"));
    spawn!(|c| c.channels_info(None, &[]));
    spawn!(|c| c.channel_info("a", &["subscription_count"]));
    spawn!(|c| c.users_info("presence-a"));
    spawn!(|c| c.get::<Value>("/channels", &[("filter_by_prefix", "a")]));
    spawn!(|c| c.post::<_, Value>("/events", &json!({})));
    spawn!(|c| {
        let channels: Vec<String> = (0..250).map(|i| format!("c-{i}")).collect();
        async move {
            c.trigger_fanout(&channels, "e", &json!({"n": 1}), &TriggerOptions::new(), 4)
                .await
        }
    });
    spawn!(|c| {
        let events: Vec<BatchEvent> = (0..25)
            .map(|i| BatchEvent::new(format!("c-{i}"), "e", "x").unwrap())
            .collect();
        async move { c.trigger_batch_fanout(&events, 4).await }
    });
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 10 single requests, 3 trigger chunks, 3 batch chunks.
    assert_eq!(rec.requests().len(), 16);
}
