//! Bounded load against sockudo with nothing lost: `LOAD_TRIGGERS` triggers (default 2,000 so CI stays
//! short; the recorded run used 100,000) spread over 100 public channels from 64 concurrent tasks of one
//! `Pusher`, counted by a pusher-js subscriber of all 100 channels: zero lost, zero duplicated, and every
//! error typed. Loopback only, bounded in count and time.
//!
//! `LOAD_CONCURRENCY` changes the number of tasks (default 64); `LOAD_WRK_SECONDS`, when set, then runs wrk
//! against the same sockudo for that long with one signed trigger (the server's limit for `bench/net
//! --sockudo`; wrk must be installed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pusher_e2e::{Node, Sockudo};
use serde_json::json;

const CHANNELS: usize = 100;
const CONCURRENCY: usize = 64;

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_triggers_none_lost_none_duplicated() {
    let total = env_number("LOAD_TRIGGERS").unwrap_or(2_000);
    let concurrency = env_number("LOAD_CONCURRENCY").unwrap_or(CONCURRENCY);
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
    for _ in 0..concurrency {
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

    // Every trigger has been answered; a sentinel sent now on every channel arrives after all of them (and
    // after any duplicate), so the counts are final once it has reached each channel.
    let channel_names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let counts = node
        .counts_after_sentinel(
            &pusher,
            "counter",
            &channel_names,
            Duration::from_secs(30 + (total / 2_000) as u64),
        )
        .await
        .unwrap();
    let received = counts["received"].as_u64().unwrap() as usize;
    let unique = counts["unique"].as_u64().unwrap() as usize;
    let rate = total as f64 / sent_in.as_secs_f64();
    println!(
        "load: sent {total} triggers over {CHANNELS} channels from {concurrency} tasks in {sent_in:.2?} \
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

    if let Some(seconds) = env_number("LOAD_WRK_SECONDS") {
        wrk_limit(&pusher, concurrency, seconds);
    }
}

/// wrk re-sending one signed trigger (valid for sockudo's timestamp window) with `connections` connections,
/// on a channel the pusher-js subscriber holds (so sockudo delivers every one, as in the counted run; the
/// event name differs, so they are not counted).
fn wrk_limit(pusher: &pusher::Pusher, connections: usize, seconds: usize) {
    let req = pusher
        .trigger_request("load-0", "wrk", &json!({"seq": 0}), &Default::default())
        .unwrap();
    let path = req.url.strip_prefix(pusher.base_url()).unwrap();
    let body = String::from_utf8(req.body.unwrap().to_vec()).unwrap();
    let script = std::env::temp_dir().join(format!("pusher-e2e-wrk-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.path = {}\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            serde_json::to_string(path).unwrap(),
            serde_json::to_string(&body).unwrap()
        ),
    )
    .unwrap();
    let output = std::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(&script)
        .arg(pusher.base_url())
        .output()
        .expect("LOAD_WRK_SECONDS is set but wrk could not be run");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    println!(
        "wrk: {connections} connections, {seconds} s: {} ({}){}",
        line("Requests/sec"),
        text.lines()
            .find(|l| l.contains("requests in"))
            .unwrap_or("")
            .trim(),
        match line("Non-2xx") {
            l if l.is_empty() => String::new(),
            l => format!(", {l}"),
        }
    );
    assert!(output.status.success(), "wrk failed: {text}");
}
