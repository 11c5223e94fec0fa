//! Bounded load against sockudo with nothing lost: `LOAD_TRIGGERS` triggers (default 2,000 so CI stays
//! short; the recorded run used 100,000) spread over 100 public channels from 64 concurrent tasks of one
//! `Pusher`, counted by a pusher-js subscriber of all 100 channels: zero lost, zero duplicated, and every
//! error typed. Loopback only, bounded in count and time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pusher_e2e::{Node, Sockudo};
use serde_json::json;

const CHANNELS: usize = 100;
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_triggers_none_lost_none_duplicated() {
    let total: usize = std::env::var("LOAD_TRIGGERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let (server, node) = tokio::join!(Sockudo::start(None), Node::start());
    let (server, node) = (server.unwrap(), node.unwrap());
    let pusher = server.pusher();
    let channels: Vec<String> = (0..CHANNELS).map(|i| format!("load-{i}")).collect();
    node.connect("counter", &server).await.unwrap();
    for c in &channels {
        node.subscribe("counter", c).await.unwrap();
    }
    node.call(
        json!({"cmd": "countBind", "name": "counter", "channels": channels, "event": "tick"}),
    )
    .await
    .unwrap();

    let next = Arc::new(AtomicUsize::new(0));
    let errors: Arc<std::sync::Mutex<BTreeMap<String, usize>>> = Arc::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (pusher, next, errors, channels) = (
            pusher.clone(),
            next.clone(),
            errors.clone(),
            channels.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= total {
                    break;
                }
                let channel = &channels[seq % CHANNELS];
                if let Err(e) = pusher
                    .trigger(channel.as_str(), "tick", &json!({"seq": seq}))
                    .await
                {
                    // Every error is a typed variant; count them by kind.
                    let kind = format!("{e:?}")
                        .split([' ', '(', '{'])
                        .next()
                        .unwrap_or("?")
                        .to_owned();
                    *errors.lock().unwrap().entry(kind).or_default() += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sent_in = started.elapsed();
    let errors = errors.lock().unwrap().clone();
    let failed: usize = errors.values().sum();

    let deadline = Instant::now() + Duration::from_secs(30 + (total / 2_000) as u64);
    let counts = loop {
        let c = node
            .call(json!({"cmd": "counts", "name": "counter"}))
            .await
            .unwrap();
        let unique = c["unique"].as_u64().unwrap_or(0) as usize;
        if unique + failed >= total || Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let received = counts["received"].as_u64().unwrap() as usize;
    let unique = counts["unique"].as_u64().unwrap() as usize;
    let rate = total as f64 / sent_in.as_secs_f64();
    println!(
        "load: sent {total} triggers over {CHANNELS} channels from {CONCURRENCY} tasks in {sent_in:.2?} \
         ({rate:.0}/s); received {received}, unique {unique}, lost {}, duplicated {}, errors {errors:?}",
        total - unique.min(total),
        counts["duplicates"]
    );
    assert!(
        errors.is_empty(),
        "typed errors during the load: {errors:?}"
    );
    assert_eq!(unique, total, "events lost");
    assert_eq!(counts["duplicates"], 0, "events duplicated");
    assert_eq!(counts["bad"], 0);
    assert_eq!(received, total);
}
