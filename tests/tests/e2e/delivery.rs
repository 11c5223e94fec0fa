//! Delivery guarantees against sockudo, through the harness's HTTP proxy (`pusher_e2e::proxy`):
//!
//! * exactly once under faults: every 3rd request is processed by sockudo and its response withheld (the
//!   connection closed instead); with POST retries and idempotency keys, a pusher-js subscriber counts each
//!   of N events once (0 lost, 0 duplicated), and the same run without keys shows duplicates, so the keys
//!   are what prevents them;
//! * chunked events: 50 KB sent as `chunked-<event>` pieces, reassembled whole by pusher-js, on a plain and
//!   on an encrypted channel;
//! * a server behind a path prefix (a proxy stripping `/pusher`), reached through `PUSHER_URL` and the
//!   builder.
//!
//! `FAULT_EVENTS` sets N (default 300).

use std::time::{Duration, Instant};

use pusher::{RetryPolicy, TriggerOptions};
use pusher_e2e::HttpProxy;
use serde_json::{Value, json};

use super::*;

/// Events published through the faulty proxy (`FAULT_EVENTS`, default 300).
fn fault_events() -> usize {
    std::env::var("FAULT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(300)
}

/// The outcome of one run through the faulty proxy.
#[derive(Debug)]
struct Figures {
    sent: usize,
    /// Calls that returned an error (their events may or may not have been published).
    failed_calls: usize,
    received: usize,
    unique: usize,
    duplicated: usize,
    lost: usize,
    /// Attempts beyond one per call.
    retries: usize,
    /// Responses the proxy withheld after sockudo processed the request.
    cut: usize,
}

/// How the events are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// One trigger per event.
    Triggers,
    /// Batches of 10 events.
    Batches,
}

/// Publishes `n` events `{seq}` on a fresh channel through a proxy cutting every 3rd response, with POST
/// retries on and idempotency keys on or off, and counts what a pusher-js subscriber received.
async fn run_through_faults(
    env: &Env,
    client: &str,
    keys: bool,
    n: usize,
    how: Publish,
) -> Figures {
    let channel = format!("faults-{client}");
    env.node.connect(client, &env.server).await.unwrap();
    env.node.subscribe(client, &channel).await.unwrap();
    env.node
        .call(json!({"cmd": "countBind", "name": client, "channels": [channel], "event": "tick"}))
        .await
        .unwrap();

    let proxy = HttpProxy::cut_every(env.server.port(), 3).await.unwrap();
    let pusher = env
        .server
        .pusher_builder()
        .port(proxy.port())
        .retry(
            RetryPolicy::default()
                .retry_posts(true)
                .idempotency_keys(keys)
                .max_retries(3)
                .delays(Duration::from_millis(2), Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let mut failed_calls = 0;
    let mut calls = 0;
    let publish = async {
        match how {
            Publish::Triggers => {
                for seq in 0..n {
                    calls += 1;
                    if pusher
                        .trigger(channel.as_str(), "tick", &json!({ "seq": seq }))
                        .await
                        .is_err()
                    {
                        failed_calls += 1;
                    }
                }
            }
            Publish::Batches => {
                let events: Vec<pusher::BatchEvent> = (0..n)
                    .map(|seq| {
                        pusher::BatchEvent::new(&channel, "tick", &json!({ "seq": seq })).unwrap()
                    })
                    .collect();
                for batch in events.chunks(10) {
                    calls += 1;
                    if pusher.trigger_batch(batch).await.is_err() {
                        failed_calls += 1;
                    }
                }
            }
        }
    };
    // Bounded: a hang is a failure, not a stuck CI job.
    tokio::time::timeout(Duration::from_secs(60 + n as u64 / 10), publish)
        .await
        .expect("publishing through the proxy did not finish in time");

    // The sentinel goes straight to sockudo, after every publish call has returned: the channel delivers
    // in order, so every event (and every duplicate) is counted once it arrives.
    let counts = env
        .node
        .counts_after_sentinel(
            &env.pusher,
            client,
            &[channel.as_str()],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let as_usize = |v: &Value| v.as_u64().unwrap_or_default() as usize;
    assert_eq!(as_usize(&counts["bad"]), 0, "{counts}");
    let unique = as_usize(&counts["unique"]);
    Figures {
        sent: n,
        failed_calls,
        received: as_usize(&counts["received"]),
        unique,
        duplicated: as_usize(&counts["duplicates"]),
        lost: n - unique.min(n),
        retries: proxy.stats().requests() - calls,
        cut: proxy.stats().cut(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_give_exactly_once_delivery_through_cut_connections() {
    let env = env().await;
    let n = fault_events();

    let keyed = run_through_faults(&env, "keyed", true, n, Publish::Triggers).await;
    println!(
        "faults with idempotency keys: sent {}, received {}, duplicated {}, lost {}, retries {}, cut {}, failed calls {}",
        keyed.sent,
        keyed.received,
        keyed.duplicated,
        keyed.lost,
        keyed.retries,
        keyed.cut,
        keyed.failed_calls
    );
    assert!(keyed.cut >= n / 3, "the proxy cut responses: {keyed:?}");
    assert!(
        keyed.retries >= keyed.cut,
        "every cut was retried: {keyed:?}"
    );
    assert_eq!(keyed.failed_calls, 0, "{keyed:?}");
    assert_eq!(keyed.lost, 0, "{keyed:?}");
    assert_eq!(keyed.duplicated, 0, "{keyed:?}");
    assert_eq!((keyed.received, keyed.unique), (n, n), "{keyed:?}");

    // The control: the same faults and retries without keys publish the cut requests twice.
    let plain = run_through_faults(&env, "plain", false, n, Publish::Triggers).await;
    println!(
        "faults without idempotency keys: sent {}, received {}, duplicated {}, lost {}, retries {}, cut {}, failed calls {}",
        plain.sent,
        plain.received,
        plain.duplicated,
        plain.lost,
        plain.retries,
        plain.cut,
        plain.failed_calls
    );
    assert_eq!(plain.lost, 0, "{plain:?}");
    assert!(plain.duplicated > 0, "no duplicate without keys: {plain:?}");
    assert_eq!(plain.duplicated, plain.received - n, "{plain:?}");
}

/// The same through batches of 10: each event carries `KEY:INDEX` of its batch's generated key, so a batch
/// resent after a cut publishes none of its events twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_with_keys_arrive_exactly_once_through_cut_connections() {
    let env = env().await;
    let n = fault_events();
    let keyed = run_through_faults(&env, "bkeyed", true, n, Publish::Batches).await;
    println!("batch faults with idempotency keys: {keyed:?}");
    assert!(keyed.cut > 0 && keyed.retries >= keyed.cut, "{keyed:?}");
    assert_eq!(keyed.failed_calls, 0, "{keyed:?}");
    assert_eq!(
        (keyed.lost, keyed.duplicated, keyed.received),
        (0, 0, n),
        "{keyed:?}"
    );
    let plain = run_through_faults(&env, "bplain", false, n, Publish::Batches).await;
    println!("batch faults without idempotency keys: {plain:?}");
    assert_eq!(plain.lost, 0, "{plain:?}");
    assert!(plain.duplicated > 0, "{plain:?}");
}

/// The default policy (POSTs not retried after unknown outcomes, no keys) loses nothing it reports as
/// sent and duplicates nothing: the cut calls fail with a transport error, and the rule says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_cut_trigger_is_an_error_not_a_duplicate() {
    let env = env().await;
    let proxy = HttpProxy::cut_every(env.server.port(), 2).await.unwrap();
    let pusher = env
        .server
        .pusher_builder()
        .port(proxy.port())
        .build()
        .unwrap();
    pusher.trigger("default-a", "e", "1").await.unwrap();
    let e = pusher.trigger("default-a", "e", "2").await.unwrap_err();
    assert!(
        matches!(e, pusher::Error::Transport { .. }) && !pusher::retry::not_processed(&e),
        "{e:?}"
    );
    assert_eq!(
        proxy.stats().requests(),
        2,
        "the cut trigger was not resent"
    );
    // With a key of its own (the 4th request, cut too) it is resent, and published once.
    env.node.connect("d", &env.server).await.unwrap();
    env.node.subscribe_and_bind("d", "default-b").await.unwrap();
    pusher.trigger("default-a", "e", "3").await.unwrap();
    let opts = TriggerOptions::new().idempotency_key("default-b-1");
    let started = Instant::now();
    pusher
        .trigger_with("default-b", "e", &json!({"n": 1}), &opts)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!((proxy.stats().requests(), proxy.stats().cut()), (5, 2));
    let got = env
        .node
        .settle(&env.pusher, "d", "default-b")
        .await
        .unwrap();
    let events: Vec<&Value> = got.iter().filter(|e| e["eventName"] == "e").collect();
    assert_eq!(events.len(), 1, "{got:?}");
    assert_eq!(events[0]["data"], json!({"n": 1}));
}

/// 50 KB, five times sockudo's 10 KB limit, sent as chunks and reassembled whole by pusher-js with the
/// documented snippet, on a plain and on an end-to-end encrypted channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pusher_js_reassembles_a_50_kb_chunked_message_on_plain_and_encrypted_channels() {
    let env = env().await;
    env.node.connect("big", &env.server).await.unwrap();
    let data = json!({
        "text": "chunk me: a é € 😀 \" \\ \n ".repeat(1_800),
        "n": [1, 2, 3],
    });
    let size = serde_json::to_string(&data).unwrap().len();
    assert!(size >= 50_000, "{size}");
    // Without the option sockudo's limit holds: a typed error before sending.
    let e = env
        .pusher
        .trigger("big-plain", "doc", &data)
        .await
        .unwrap_err();
    assert!(
        matches!(e, pusher::Error::Validation { field: "data", .. }),
        "{e:?}"
    );

    for channel in ["big-plain", "private-encrypted-big"] {
        env.node.subscribe("big", channel).await.unwrap();
        env.node.bind_chunked("big", channel, "doc").await.unwrap();
        env.pusher
            .trigger_with(channel, "doc", &data, &TriggerOptions::new().chunked(true))
            .await
            .unwrap();
        // A small event on the same channel still arrives plain.
        env.pusher
            .trigger_with(
                channel,
                "doc",
                &json!({"small": true}),
                &TriggerOptions::new().chunked(true),
            )
            .await
            .unwrap();
        let got = env.node.settle(&env.pusher, "big", channel).await.unwrap();
        let docs: Vec<&Value> = got.iter().filter(|e| e["eventName"] == "doc").collect();
        assert_eq!(docs.len(), 2, "{channel}: {got:?}");
        assert_eq!(docs[0]["data"], data, "{channel}: reassembled whole");
        assert!(
            docs[0]["chunks"].as_u64().unwrap() >= 5,
            "{channel}: {}",
            docs[0]["chunks"]
        );
        assert_eq!(docs[1]["data"], json!({"small": true}));
        assert_eq!(docs[1]["chunks"], 0);
        println!(
            "chunked: {size} bytes on {channel} in {} chunks",
            docs[0]["chunks"]
        );
    }
}

/// sockudo mounted under `/pusher` behind a reverse proxy that strips the prefix: the client configured
/// by `PUSHER_URL` (and by the builder) reaches it, signing `/apps/...` as sockudo sees it; a client
/// without the prefix gets the proxy's 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_behind_a_path_prefix_accepts_requests_signed_without_it() {
    let env = env().await;
    let proxy = HttpProxy::strip_prefix(env.server.port(), "/pusher")
        .await
        .unwrap();
    env.node.connect("p", &env.server).await.unwrap();
    env.node.subscribe_and_bind("p", "prefixed").await.unwrap();

    let url = format!(
        "http://{}:{}@127.0.0.1:{}/pusher/apps/{}",
        pusher_e2e::APP_KEY,
        pusher_e2e::APP_SECRET,
        proxy.port(),
        pusher_e2e::APP_ID
    );
    let from_url = pusher::Pusher::from_url(&url).unwrap();
    assert_eq!(from_url.path_prefix(), "/pusher");
    from_url
        .trigger("prefixed", "e", &json!({"via": "url"}))
        .await
        .unwrap();
    let from_builder = env
        .server
        .pusher_builder()
        .port(proxy.port())
        .path_prefix("/pusher/")
        .build()
        .unwrap();
    from_builder
        .trigger_batch(&[
            pusher::BatchEvent::new("prefixed", "e", &json!({"via": "builder"})).unwrap(),
        ])
        .await
        .unwrap();
    let info = from_builder
        .channel_info("prefixed", &["subscription_count"])
        .await
        .unwrap();
    assert!(info.occupied);

    let got = env.node.settle(&env.pusher, "p", "prefixed").await.unwrap();
    let data: Vec<&Value> = got
        .iter()
        .filter(|e| e["eventName"] == "e")
        .map(|e| &e["data"])
        .collect();
    assert_eq!(data, [&json!({"via": "url"}), &json!({"via": "builder"})]);
    let paths = proxy.stats().forwarded_paths();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with(&format!("/apps/{}/", pusher_e2e::APP_ID))),
        "{paths:?}"
    );

    // Had the prefix been signed (the PHP library's `path` is not, Reverb strips it before checking),
    // sockudo, which checks the path it receives, would refuse the request: the decision, checked.
    let body = br#"{"name":"e","channels":["prefixed"],"data":"signed-with-prefix"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed_path = format!("/pusher/apps/{}/events", pusher_e2e::APP_ID);
    let query = pusher::signing::sign(
        pusher_e2e::APP_KEY,
        pusher_e2e::APP_SECRET.as_bytes(),
        now,
        "POST",
        &signed_path,
        &[],
        Some(body),
    )
    .unwrap();
    let status = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!(
            "http://127.0.0.1:{}{signed_path}?{}",
            proxy.port(),
            query.to_query_string()
        ))
        .header("content-type", "application/json")
        .body(&body[..])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status.as_u16(),
        401,
        "a signature over the prefixed path is refused"
    );

    // Without the prefix the proxy does not route the request.
    let unprefixed = env
        .server
        .pusher_builder()
        .port(proxy.port())
        .build()
        .unwrap();
    let e = unprefixed.trigger("prefixed", "e", "x").await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e:?}");
}
