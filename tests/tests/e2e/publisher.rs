//! The background `Publisher` against sockudo, through the harness's fault proxy (every 3rd response
//! withheld after sockudo processed the request): N events over a few channels, published from concurrent
//! tasks, are each received once by a pusher-js subscriber, in per-channel order, and nothing is reported
//! undelivered.
//!
//! `PUBLISHER_EVENTS` sets N (default 1,000).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pusher::publisher::FailedEvent;
use pusher::{BatchEvent, PublisherConfig, RetryPolicy};
use pusher_e2e::HttpProxy;
use serde_json::json;

use super::*;

/// Events published (`PUBLISHER_EVENTS`, default 1,000).
fn publisher_events() -> usize {
    std::env::var("PUBLISHER_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1_000)
}

/// What one subscriber received on one channel, against what was published there.
#[derive(Debug, Default)]
struct ChannelFigures {
    published: usize,
    received: usize,
    lost: usize,
    duplicated: usize,
    /// Events received after one with a higher sequence number.
    out_of_order: usize,
}

fn tally(published: usize, seqs: &[u64]) -> ChannelFigures {
    let mut seen = vec![false; published];
    let mut f = ChannelFigures {
        published,
        received: seqs.len(),
        ..Default::default()
    };
    let mut highest: Option<u64> = None;
    for &s in seqs {
        match seen.get_mut(s as usize) {
            Some(true) => f.duplicated += 1,
            Some(slot) => *slot = true,
            None => f.duplicated += 1,
        }
        if highest.is_some_and(|h| s < h) {
            f.out_of_order += 1;
        }
        highest = highest.max(Some(s));
    }
    f.lost = seen.iter().filter(|s| !**s).count();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_delivers_every_event_once_in_channel_order_through_cut_connections() {
    let env = env().await;
    let n = publisher_events();
    let channels: Vec<String> = (0..4).map(|i| format!("publisher-{i}")).collect();
    env.node.connect("pub", &env.server).await.unwrap();
    for c in &channels {
        env.node.subscribe("pub", c).await.unwrap();
        env.node.bind("pub", c, Some("tick")).await.unwrap();
    }

    let proxy = HttpProxy::cut_every(env.server.port(), 3).await.unwrap();
    let pusher = env
        .server
        .pusher_builder()
        .port(proxy.port())
        .retry(
            RetryPolicy::default()
                // Four requests in flight share the proxy's count: one batch may be cut several times.
                .max_retries(10)
                .delays(Duration::from_millis(2), Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    let failures: Arc<Mutex<Vec<FailedEvent>>> = Arc::default();
    let sink = failures.clone();
    let publisher = pusher
        .publisher(
            PublisherConfig::new()
                .queue_capacity(256)
                .max_in_flight(4)
                .on_failure(move |f| sink.lock().unwrap().push(f)),
        )
        .unwrap();

    // One task per channel publishing its sequence, all at once: the queue is shared.
    let per_channel: Vec<usize> = (0..channels.len())
        .map(|i| n / channels.len() + usize::from(i < n % channels.len()))
        .collect();
    let started = Instant::now();
    let run = async {
        let mut tasks = Vec::new();
        for (c, &count) in channels.iter().zip(&per_channel) {
            let (p, c) = (publisher.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                for seq in 0..count {
                    let ev = BatchEvent::new(c.as_str(), "tick", &json!({ "seq": seq })).unwrap();
                    p.publish(ev).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        publisher.shutdown(Duration::from_secs(60)).await
    };
    // Bounded: a hang is a failure, not a stuck CI job.
    let report = tokio::time::timeout(Duration::from_secs(90 + n as u64 / 20), run)
        .await
        .expect("publishing through the proxy did not finish in time");
    let elapsed = started.elapsed();
    assert!(report.drained, "{report:?}");
    assert!(report.undelivered.is_empty(), "{:?}", report.undelivered);
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );

    // Sentinels go straight to sockudo after the shutdown: a channel delivers in order, so everything
    // published there has arrived once its sentinel has.
    let mut totals = ChannelFigures::default();
    for (c, &count) in channels.iter().zip(&per_channel) {
        let id = env
            .node
            .send_sentinel(&env.pusher, &[c.as_str()])
            .await
            .unwrap();
        let messages = env
            .node
            .messages_before_sentinel("pub", c, id)
            .await
            .unwrap();
        let seqs: Vec<u64> = messages
            .iter()
            .filter(|m| m["eventName"] == "tick")
            .map(|m| m["data"]["seq"].as_u64().expect("a seq"))
            .collect();
        let f = tally(count, &seqs);
        assert_eq!(
            (f.lost, f.duplicated, f.out_of_order, f.received),
            (0, 0, 0, count),
            "channel {c}: {f:?}"
        );
        totals.published += f.published;
        totals.received += f.received;
    }

    let stats = report.stats;
    let cut = proxy.stats().cut();
    println!(
        "publisher through faults: events {n}, channels {}, received {}, lost 0, duplicated 0, out of order 0, \
         requests {} (retried {}, cut by the proxy {cut}), time {:.2} s, {:.0} events/s",
        channels.len(),
        totals.received,
        stats.requests,
        stats.retried,
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    assert_eq!(
        (stats.queued, stats.sent, stats.failed),
        (n as u64, n as u64, 0)
    );
    assert_eq!(stats.requests as usize, proxy.stats().requests());
    assert!(
        cut > 0 && stats.retried as usize >= cut,
        "{stats:?}, cut {cut}"
    );
    // Coalesced: far fewer requests than events.
    assert!(stats.requests as usize <= n / 2, "{stats:?}");
}

/// The API rate limit of [`publisher_waits_out_sockudos_rate_limiter_and_delivers_every_event_once`]:
/// requests per window.
const RATE_LIMIT_REQUESTS: u64 = 10;
/// Its window, seconds.
const RATE_LIMIT_WINDOW_SECS: u64 = 2;

/// sockudo with its HTTP API rate limiter on (10 requests per 2 s per client IP) answers the publisher's
/// surplus batches 429 with `Retry-After` (sockudo's `reset_after`: whole seconds left in the window,
/// rounded down, so 1 and then 0). The publisher pauses and re-sends them; a pusher-js subscriber receives
/// every event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_waits_out_sockudos_rate_limiter_and_delivers_every_event_once() {
    const EVENTS: usize = 200;
    const BATCH: usize = 5;
    let limited = |config: &mut serde_json::Value| {
        config["rate_limiter"] = json!({
            "enabled": true,
            "driver": "memory",
            "api_rate_limit": {
                "max_requests": RATE_LIMIT_REQUESTS,
                "window_seconds": RATE_LIMIT_WINDOW_SECS,
                "trust_hops": 0
            },
            // pusher-js connections are not what this test limits.
            "websocket_rate_limit": {"max_requests": 1000, "window_seconds": 60, "trust_hops": 0}
        });
    };
    let (server, node) = tokio::join!(Sockudo::start_with(None, limited), Node::start());
    let (server, node) = (server.unwrap(), node.unwrap());
    node.authorize_with(server.pusher(), rule);
    let channel = "rate-limited";
    node.connect("sub", &server).await.unwrap();
    node.subscribe("sub", channel).await.unwrap();
    node.bind("sub", channel, Some("tick")).await.unwrap();

    let failures: Arc<Mutex<Vec<FailedEvent>>> = Arc::default();
    let sink = failures.clone();
    let publisher = server
        .pusher()
        .publisher(
            PublisherConfig::new()
                .max_batch_events(BATCH)
                .max_in_flight(2)
                .on_failure(move |f| sink.lock().unwrap().push(f)),
        )
        .unwrap();
    let started = Instant::now();
    let run = async {
        for seq in 0..EVENTS {
            let ev = BatchEvent::new(channel, "tick", &json!({ "seq": seq })).unwrap();
            publisher.publish(ev).await.unwrap();
        }
        publisher.shutdown(Duration::from_secs(60)).await
    };
    let report = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("publishing under the rate limit did not finish in time");
    let elapsed = started.elapsed();
    assert!(report.drained, "{report:?}");
    assert!(report.undelivered.is_empty(), "{:?}", report.undelivered);
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );

    // The sentinel goes through the same limiter: a refused one (429, not processed) is sent again once
    // the window has passed; only the one sockudo accepted is waited for.
    let pusher = server.pusher();
    let mut sentinel = None;
    for _ in 0..4 * RATE_LIMIT_WINDOW_SECS {
        match node.send_sentinel(&pusher, &[channel]).await {
            Ok(id) => {
                sentinel = Some(id);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let id = sentinel.expect("the sentinel was refused for 4 windows");
    let messages = node
        .messages_before_sentinel("sub", channel, id)
        .await
        .unwrap();
    let seqs: Vec<u64> = messages
        .iter()
        .filter(|m| m["eventName"] == "tick")
        .map(|m| m["data"]["seq"].as_u64().expect("a seq"))
        .collect();
    let f = tally(EVENTS, &seqs);

    let stats = report.stats;
    println!(
        "publisher under sockudo's rate limiter ({RATE_LIMIT_REQUESTS} requests / {RATE_LIMIT_WINDOW_SECS} s): \
         events {EVENTS}, received {}, lost {}, duplicated {}, out of order {}, requests {} (429s {}, \
         accepted {}), time {:.2} s",
        f.received,
        f.lost,
        f.duplicated,
        f.out_of_order,
        stats.requests,
        stats.throttled,
        stats.requests - stats.throttled,
        elapsed.as_secs_f64(),
    );
    assert_eq!(
        (f.lost, f.duplicated, f.out_of_order, f.received),
        (0, 0, 0, EVENTS),
        "{f:?}"
    );
    assert_eq!(
        (stats.queued, stats.sent, stats.failed),
        (EVENTS as u64, EVENTS as u64, 0)
    );
    // The pacing happened: sockudo refused batches and the publisher paused for them.
    assert!(stats.throttled > 0, "{stats:?}");
    // Every re-send answered a 429: nothing else failed on the way.
    assert_eq!(stats.retried, stats.throttled, "{stats:?}");
    // Paced, not flooding: a 429's `Retry-After` (whole seconds, `0` in a window's last second) is waited
    // out, at least the base delay, so refusals stay of the order of the accepted requests (33 for 40 in a
    // run; thousands when `Retry-After: 0` meant "resend now").
    let accepted = stats.requests - stats.throttled;
    assert!(stats.throttled <= 4 * accepted, "{stats:?}");
}
