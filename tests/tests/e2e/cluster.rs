//! Beyond one machine: two sockudo nodes sharing Redis ([`Cluster`]: adapter, cache, rate limiter and queue
//! on Redis), pusher-js clients on either node, a `Pusher` client per node, and two instances of the axum
//! example app (each with its own client, pointed at a different node) behind a round-robin proxy.
//!
//! Delivery across nodes is proved with sentinels like everywhere else, with one rule: the sentinel goes
//! through the node the subscriber is **not** connected to. An event published through the subscriber's own
//! node is handed to its socket before the publish is answered; one published through the other node
//! travels through Redis, and a sentinel published later through that same node travels the same way
//! behind it. (Order across nodes is not asserted: an event through the local node can overtake an earlier
//! one still in Redis.)
//!
//! `CLUSTER_EVENTS` sets the event count of the load test (default 2,000, for CI; the figures recorded in
//! `docs/scaling.md` come from a run with 20,000).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pusher::dedup::WebhookDedup;
use pusher::webhook::WebhookEvent;
use pusher::{Pusher, TriggerOptions};
use pusher_e2e::cluster::CACHE_PREFIX;
use pusher_e2e::{App, Cluster, Framework, HttpProxy, Node, WebhookSink, free_port, relay_to};
use serde_json::{Value, json};

use crate::{WAIT, eventually, rule};

/// Webhooks for removed members come about 3 s late from sockudo, and the refused first deliveries are
/// retried after 200 ms or more.
const WEBHOOK_WAIT: Duration = Duration::from_secs(30);

/// A cluster of two nodes, a Node process whose clients are authorised by the tests' [`rule`], and one
/// client per node.
struct ClusterEnv {
    cluster: Cluster,
    node: Node,
    /// One client per node, in node order.
    pushers: [Pusher; 2],
}

impl ClusterEnv {
    async fn start(webhook_url: Option<&str>) -> ClusterEnv {
        let (cluster, node) = tokio::join!(Cluster::start(webhook_url), Node::start());
        let (cluster, node) = (cluster.unwrap(), node.unwrap());
        let pushers = [cluster.node(0).pusher(), cluster.node(1).pusher()];
        node.authorize_with(pushers[0].clone(), rule);
        ClusterEnv {
            cluster,
            node,
            pushers,
        }
    }

    /// Connects pusher-js client `name` to node `i`.
    async fn connect(&self, name: &str, i: usize) -> String {
        self.node.connect(name, self.cluster.node(i)).await.unwrap()
    }

    /// What `client` (connected to node `on`) received on `channel` before a sentinel sent through the other
    /// node (see the module documentation).
    async fn settle(&self, client: &str, on: usize, channel: &str) -> Vec<Value> {
        self.node
            .settle(&self.pushers[1 - on], client, channel)
            .await
            .unwrap()
    }
}

/// The `data.n` of every `event` in `messages`, sorted.
fn numbers(messages: &[Value], event: &str) -> Vec<u64> {
    let mut n: Vec<u64> = messages
        .iter()
        .filter(|m| m["eventName"] == event)
        .filter_map(|m| m["data"]["n"].as_u64())
        .collect();
    n.sort_unstable();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_alternating_between_nodes_reach_subscribers_on_both_nodes_once() {
    let env = ClusterEnv::start(None).await;
    for (name, on) in [("s0", 0), ("s1", 1)] {
        env.connect(name, on).await;
        env.node
            .subscribe_and_bind(name, "alternating")
            .await
            .unwrap();
        env.node
            .subscribe_and_bind(name, "private-alternating")
            .await
            .unwrap();
    }
    for n in 0..20u64 {
        let via = &env.pushers[(n % 2) as usize];
        via.trigger("alternating", "e", &json!({ "n": n }))
            .await
            .unwrap();
        via.trigger(
            &["private-alternating", "alternating-unused"][..],
            "e",
            &json!({ "n": n }),
        )
        .await
        .unwrap();
    }
    let expected: Vec<u64> = (0..20).collect();
    for (name, on) in [("s0", 0), ("s1", 1)] {
        for channel in ["alternating", "private-alternating"] {
            let got = env.settle(name, on, channel).await;
            assert_eq!(
                numbers(&got, "e"),
                expected,
                "{name} on node {on}, {channel}: each event exactly once: {got:?}"
            );
        }
    }
}

/// The bounded load: `CLUSTER_EVENTS` triggers (default 2,000) over 20 channels from 32 tasks, even ones
/// through node 0 and odd ones through node 1, counted by a pusher-js subscriber of every channel on each
/// node: every subscriber receives every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_alternating_between_nodes_none_lost_none_duplicated() {
    // Odd, so that each channel gets events through both nodes (event `seq` goes through node `seq % 2`).
    const CHANNELS: usize = 21;
    const CONCURRENCY: usize = 32;
    let total: usize = std::env::var("CLUSTER_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let env = ClusterEnv::start(None).await;
    let channels: Vec<String> = (0..CHANNELS).map(|i| format!("cluster-load-{i}")).collect();
    let counters = [("counter-0", 0), ("counter-1", 1)];
    for (name, on) in counters {
        env.connect(name, on).await;
        for c in &channels {
            env.node.subscribe(name, c).await.unwrap();
        }
        env.node
            .call(json!({"cmd": "countBind", "name": name, "channels": channels, "event": "tick"}))
            .await
            .unwrap();
    }

    let next = Arc::new(AtomicUsize::new(0));
    let errors: Arc<std::sync::Mutex<BTreeMap<String, usize>>> = Arc::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (pushers, next, errors, channels) = (
            env.pushers.clone(),
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
                let channel = channels[seq % CHANNELS].as_str();
                if let Err(e) = pushers[seq % 2]
                    .trigger(channel, "tick", &json!({ "seq": seq }))
                    .await
                {
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

    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let timeout = Duration::from_secs(30 + (total / 1_000) as u64);
    let mut figures = Vec::new();
    for (name, on) in counters {
        // Through the other node first (the path of half the events), then through its own.
        env.node
            .counts_after_sentinel(&env.pushers[1 - on], name, &names, timeout)
            .await
            .unwrap();
        let counts = env
            .node
            .counts_after_sentinel(&env.pushers[on], name, &names, timeout)
            .await
            .unwrap();
        figures.push((name, on, counts));
    }
    let delivered_in = started.elapsed();
    for (name, on, counts) in &figures {
        let unique = counts["unique"].as_u64().unwrap() as usize;
        println!(
            "cluster load: {total} events through 2 nodes (alternating) over {CHANNELS} channels from \
             {CONCURRENCY} tasks, published in {sent_in:.2?} ({:.0}/s), all delivered within {delivered_in:.2?}; \
             {name} on node {on}: received {}, lost {}, duplicated {}; errors {errors:?}",
            total as f64 / sent_in.as_secs_f64(),
            counts["received"],
            total - unique.min(total),
            counts["duplicates"],
        );
    }
    assert!(errors.is_empty(), "errors during the load: {errors:?}");
    for (name, on, counts) in &figures {
        assert_eq!(
            counts["unique"].as_u64(),
            Some(total as u64),
            "{name} on node {on}: events lost"
        );
        assert_eq!(
            counts["duplicates"], 0,
            "{name} on node {on}: events duplicated"
        );
        assert_eq!(counts["bad"], 0, "{name} on node {on}");
        assert_eq!(counts["received"].as_u64(), Some(total as u64));
    }
}

/// The user ids of `channel` as node `i`'s client sees them, sorted.
async fn user_ids(pusher: &Pusher, channel: &str) -> Vec<String> {
    let mut ids: Vec<String> = pusher
        .users_info(channel)
        .await
        .unwrap()
        .users
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort();
    ids
}

/// Waits until both nodes report `users` in `channel`, with `sockets` subscriptions, through
/// `users_info`, `channel_info` and `channels_info`.
async fn presence_settles(env: &ClusterEnv, channel: &str, users: &[&str], sockets: u64) {
    for (i, pusher) in env.pushers.iter().enumerate() {
        eventually(
            WAIT,
            &format!("node {i}: {channel} has users {users:?} on {sockets} sockets"),
            || async move {
                let ids = user_ids(pusher, channel).await;
                let info = pusher
                    .channel_info(channel, &["user_count", "subscription_count"])
                    .await
                    .unwrap();
                (ids == users
                    && info.occupied != users.is_empty()
                    && info.user_count == Some(users.len() as u64)
                    && info.subscription_count == Some(sockets))
                .then_some(())
            },
        )
        .await;
        // The channel list is cached for 2 s: waited for, not read once.
        eventually(
            Duration::from_secs(10),
            &format!(
                "node {i}: channels_info lists {channel} with {} users",
                users.len()
            ),
            || async move {
                let list = pusher
                    .channels_info(Some("presence-"), &["user_count"])
                    .await
                    .unwrap();
                let count = list.channels.get(channel).and_then(|c| c.user_count);
                let expected = (!users.is_empty()).then_some(users.len() as u64);
                (count == expected).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_members_joining_through_both_nodes_appear_from_either_node() {
    let env = ClusterEnv::start(None).await;
    let channel = "presence-cluster";
    // alice on both nodes, bob on node 0, carol on node 1.
    for (name, on) in [("alice-1", 0), ("bob-1", 0), ("carol-1", 1), ("alice-2", 1)] {
        env.connect(name, on).await;
        env.node.subscribe(name, channel).await.unwrap();
    }
    presence_settles(&env, channel, &["alice", "bob", "carol"], 4).await;
    // pusher-js members on either node include the members who joined through the other one.
    for name in ["alice-1", "carol-1"] {
        let node = &env.node;
        eventually(WAIT, &format!("{name}'s members"), || async move {
            let members = node.members(name, channel).await.unwrap();
            let mut ids: Vec<String> = members["members"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            ids.sort();
            (ids == ["alice", "bob", "carol"] && members["count"] == 3).then_some(())
        })
        .await;
    }
    // carol's member_added reaches bob's pusher-js through the other node: wait for it (bounded).
    let node = &env.node;
    let members = eventually(WAIT, "bob's view of carol", || async move {
        let members = node.members("bob-1", channel).await.unwrap();
        (!members["members"]["carol"].is_null()).then_some(members)
    })
    .await;
    assert_eq!(
        members["members"]["carol"],
        json!({"name": "carol"}),
        "user_info of a member on the other node: {members}"
    );

    // alice leaves node 0 but is still on node 1: still a member; then she leaves node 1 too.
    env.node.disconnect("alice-1").await.unwrap();
    presence_settles(&env, channel, &["alice", "bob", "carol"], 3).await;
    env.node.disconnect("alice-2").await.unwrap();
    presence_settles(&env, channel, &["bob", "carol"], 2).await;
    env.node.disconnect("bob-1").await.unwrap();
    env.node.disconnect("carol-1").await.unwrap();
    presence_settles(&env, channel, &[], 0).await;
}

/// One member webhook event as kept: (name, channel, user id).
type MemberEvent = (String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_webhooks_are_reported_once_cluster_wide_and_retries_kept_once_by_webhook_dedup() {
    // Members join and leave through both nodes. sockudo decides each presence transition cluster-wide and
    // one node reports it: the kept events below hold no event twice (two nodes reporting one transition
    // would send two bodies with different `time_ms`, which `WebhookDedup`, keyed on the body's `time_ms`
    // and events, would both keep). The duplicates `WebhookDedup` removes here are the retries.
    // Every first delivery is answered 503 after being recorded (handled, answer lost): with retries on,
    // each webhook arrives at least twice.
    let sink = WebhookSink::start_failing_first().await.unwrap();
    let env = ClusterEnv::start(Some(sink.url())).await;
    let channel = "presence-hooks";
    // alice joins through node 0 and again through node 1 (one member_added), bob through node 1.
    for (name, on) in [("alice-1", 0), ("bob-1", 1), ("alice-2", 1)] {
        env.connect(name, on).await;
        env.node.subscribe(name, channel).await.unwrap();
    }
    presence_settles(&env, channel, &["alice", "bob"], 3).await;
    // alice leaves node 0 (still a member through node 1), then node 1; bob leaves node 1.
    for name in ["alice-1", "alice-2", "bob-1"] {
        env.node.disconnect(name).await.unwrap();
    }

    let expected: BTreeSet<MemberEvent> = [
        ("member_added", "alice"),
        ("member_added", "bob"),
        ("member_removed", "alice"),
        ("member_removed", "bob"),
    ]
    .into_iter()
    .map(|(n, u)| (n.to_owned(), channel.to_owned(), u.to_owned()))
    .collect();
    let dedup = WebhookDedup::default();
    let mut kept: Vec<MemberEvent> = Vec::new();
    let mut delivered: BTreeMap<MemberEvent, usize> = BTreeMap::new();
    let mut deliveries = 0;
    let deadline = tokio::time::Instant::now() + WEBHOOK_WAIT;
    // Until every expected event was kept and delivered again (the retry of the refused delivery).
    while !expected
        .iter()
        .all(|e| kept.contains(e) && delivered.get(e).copied().unwrap_or(0) >= 2)
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let hook = sink
            .next_matching(|_| true, left)
            .await
            .unwrap_or_else(|e| panic!("kept so far {kept:?}, deliveries {delivered:?}: {e}"));
        deliveries += 1;
        // Both nodes sign with the app's secret: either node's client verifies every delivery.
        let webhook = env.pushers[deliveries % 2]
            .validate_webhook(
                hook.header("x-pusher-key"),
                hook.header("x-pusher-signature"),
                &hook.body,
            )
            .unwrap();
        let members: Vec<MemberEvent> = webhook
            .events
            .iter()
            .filter_map(|e| match e {
                WebhookEvent::MemberAdded {
                    channel, user_id, ..
                } => Some(("member_added".to_owned(), channel.clone(), user_id.clone())),
                WebhookEvent::MemberRemoved {
                    channel, user_id, ..
                } => Some((
                    "member_removed".to_owned(),
                    channel.clone(),
                    user_id.clone(),
                )),
                _ => None,
            })
            .collect();
        for m in &members {
            *delivered.entry(m.clone()).or_default() += 1;
        }
        if dedup.first_time(&webhook) {
            kept.extend(members);
        }
    }
    println!(
        "member webhooks: {deliveries} deliveries (first attempts refused, then retried); member events delivered {delivered:?}; kept {kept:?}"
    );
    let mut sorted = kept.clone();
    sorted.sort();
    let expected: Vec<MemberEvent> = expected.into_iter().collect();
    assert_eq!(
        sorted, expected,
        "each member event reported once cluster-wide and kept once (alice's second connection on the other node adds none)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_user_and_terminate_reach_a_user_connected_to_the_other_node() {
    let env = ClusterEnv::start(None).await;
    // alice is signed in on node 1 only; the calls go through node 0. bob, on node 1 too, is left alone.
    for name in ["alice-1", "bob-1"] {
        env.connect(name, 1).await;
        env.node.signin(name).await.unwrap();
        env.node.bind_user(name, "to-user").await.unwrap();
    }
    env.pushers[0]
        .send_to_user("alice", "to-user", &json!({"n": 1}))
        .await
        .unwrap();
    let id = env
        .node
        .send_user_sentinel(&env.pushers[0], "alice")
        .await
        .unwrap();
    let got = env
        .node
        .user_messages_before_sentinel("alice-1", id)
        .await
        .unwrap();
    assert_eq!(
        numbers(&got, "to-user"),
        [1],
        "send_to_user through node 0 reaches alice on node 1 once: {got:?}"
    );

    env.pushers[0]
        .terminate_user_connections("alice")
        .await
        .unwrap();
    let node = &env.node;
    eventually(WAIT, "alice on node 1 disconnected", || async move {
        let c = node.connection("alice-1").await.unwrap();
        (c["state"] == "disconnected" && c["retrying"] != true && c["connecting"] != true)
            .then_some(())
    })
    .await;
    assert_eq!(env.node.state("bob-1").await.unwrap(), "connected");
    // bob still receives what is sent to him through node 0.
    env.pushers[0]
        .send_to_user("bob", "to-user", &json!({"n": 2}))
        .await
        .unwrap();
    let id = env
        .node
        .send_user_sentinel(&env.pushers[0], "bob")
        .await
        .unwrap();
    let got = env
        .node
        .user_messages_before_sentinel("bob-1", id)
        .await
        .unwrap();
    assert_eq!(numbers(&got, "to-user"), [2], "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_published_through_node_a_then_node_b_is_delivered_once() {
    let env = ClusterEnv::start(None).await;
    for (name, on) in [("s0", 0), ("s1", 1)] {
        env.connect(name, on).await;
        env.node.subscribe_and_bind(name, "keyed").await.unwrap();
    }
    // Key 1 through node 0 then node 1; key 2 the other way round.
    for (n, first, key) in [(1u64, 0, "cluster-key-1"), (2, 1, "cluster-key-2")] {
        let opts = TriggerOptions::new().idempotency_key(key);
        env.pushers[first]
            .trigger_with("keyed", "e", &json!({ "n": n }), &opts)
            .await
            .unwrap();
        // sockudo records the publish under the key in the shared cache (Redis with the cluster config):
        // `…idempotency:publish:v1:<hash of app, channel, key>` is the record that de-duplicates, where
        // the other node finds it.
        let records = env
            .cluster
            .redis()
            .keys(&format!("{CACHE_PREFIX}*idempotency:publish:v1:*"))
            .unwrap();
        assert_eq!(
            records.len(),
            n as usize,
            "one publish record per key in Redis after a publish through node {first}: {records:?}"
        );
        env.pushers[1 - first]
            .trigger_with("keyed", "e", &json!({ "n": n }), &opts)
            .await
            .unwrap();
    }
    // The control: key 3 through node 0, then every idempotency record deleted from Redis: node 1 no
    // longer knows the key and publishes it again. The de-duplication across nodes is Redis's, not a copy
    // in each node.
    let opts = TriggerOptions::new().idempotency_key("cluster-key-3");
    env.pushers[0]
        .trigger_with("keyed", "e", &json!({ "n": 3 }), &opts)
        .await
        .unwrap();
    let redis = env.cluster.redis();
    for key in redis.keys(&format!("{CACHE_PREFIX}*idempotency*")).unwrap() {
        redis.command(&["DEL", &key]).unwrap();
    }
    env.pushers[1]
        .trigger_with("keyed", "e", &json!({ "n": 3 }), &opts)
        .await
        .unwrap();
    for (name, on) in [("s0", 0), ("s1", 1)] {
        let got = env.settle(name, on, "keyed").await;
        assert_eq!(
            numbers(&got, "e"),
            [1, 2, 3, 3],
            "{name} on node {on}: keys 1 and 2 once each, key 3 again once its records left Redis: {got:?}"
        );
    }
}

/// POSTs `body` to `url` as JSON, signed in as `user` (the demo cookie); returns the status.
async fn post_json(url: &str, user: &str, body: &Value) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(url)
        .header("cookie", format!("user={user}"))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_instances_behind_a_round_robin_proxy_authorise_and_publish_on_either_node() {
    let env = ClusterEnv::start(None).await;
    // Two instances of the axum example, each with its own client pointed at its own node.
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let (app0, app1) = tokio::join!(
        App::start(Framework::Axum, ports[0], env.cluster.node(0)),
        App::start(Framework::Axum, ports[1], env.cluster.node(1)),
    );
    let (_app0, _app1) = (app0.unwrap(), app1.unwrap());
    let proxy = HttpProxy::round_robin(&ports).await.unwrap();
    // Every channel authorization and user authentication goes through the proxy.
    env.node.on_auth(relay_to(proxy.port()));

    // In this order the proxy alternates instances 0, 1, 0, 1: node 0's sockets are authorised by
    // instance 0 then 1, node 1's by instance 0 then 1.
    let clients = [("alice-1", 0), ("bob-1", 0), ("alice-2", 1), ("bob-2", 1)];
    let mut sockets = BTreeMap::new();
    for (name, on) in clients {
        sockets.insert(name, env.connect(name, on).await);
    }
    for (name, _) in clients {
        env.node.subscribe(name, "presence-chat").await.unwrap();
    }
    assert_eq!(
        proxy.stats().forwarded_to(),
        [ports[0], ports[1], ports[0], ports[1]],
        "auth requests alternate between the instances"
    );
    assert!(
        proxy
            .stats()
            .forwarded_paths()
            .iter()
            .all(|p| p == "/pusher/auth")
    );
    presence_settles(&env, "presence-chat", &["alice", "bob"], 4).await;
    // The instances' rules hold whichever answers: another user's channel is refused by both.
    for (name, _) in &clients[..2] {
        env.node
            .subscribe_refused(name, "private-user-carol")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Sign-in through the proxy too, on both nodes.
    for (name, _) in clients {
        env.node.signin(name).await.unwrap();
    }
    assert!(
        proxy.stats().forwarded_to()[6..]
            .iter()
            .filter(|p| **p == ports[0])
            .count()
            == 2,
        "{:?}",
        proxy.stats().forwarded_to()
    );

    // bob-1 (node 0) posts two messages through the proxy: one handled by each instance, so published
    // through each node, each excluding bob-1's socket.
    for (name, _) in clients {
        env.node
            .bind(name, "presence-chat", Some("message"))
            .await
            .unwrap();
    }
    let url = format!("http://127.0.0.1:{}/messages", proxy.port());
    for n in 0..2 {
        let msg = json!({"text": format!("hello {n}"), "socket_id": sockets["bob-1"]});
        assert_eq!(post_json(&url, "bob", &msg).await, 204);
    }
    let forwarded = proxy.stats().forwarded_to();
    assert_eq!(
        forwarded[forwarded.len() - 2..],
        [ports[0], ports[1]],
        "one message through each instance (and node)"
    );
    for (name, on) in clients {
        let got = env.settle(name, on, "presence-chat").await;
        let mut texts: Vec<&str> = got
            .iter()
            .filter(|m| m["eventName"] == "message")
            .filter_map(|m| m["data"]["text"].as_str())
            .collect();
        texts.sort_unstable();
        if name == "bob-1" {
            assert!(
                texts.is_empty(),
                "the sender's socket is excluded on both nodes: {got:?}"
            );
        } else {
            assert_eq!(
                texts,
                ["hello 0", "hello 1"],
                "{name} on node {on}: {got:?}"
            );
        }
    }
}
