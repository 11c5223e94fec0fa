//! The three example apps end to end, one test per framework: pusher-js clients authorised through the
//! framework's ready-made `/pusher/auth` and `/pusher/user-auth` routes, the app's triggers, and sockudo's
//! webhooks arriving at the framework's `VerifiedWebhook` route.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pusher::BatchEvent;
use pusher_e2e::{APP_KEY, App, Framework, Node, Sockudo, free_port};
use serde_json::{Value, json};

use crate::{WAIT, eventually};

/// Webhooks for vacated channels and removed members come about 3 s late from sockudo.
const WEBHOOK_WAIT: Duration = Duration::from_secs(10);

const FORM: &str = "application/x-www-form-urlencoded";

fn has_webhook(events: &[Value], name: &str, channel: &str, user: Option<&str>) -> bool {
    events.iter().any(|e| {
        let ev = &e["event"];
        ev["name"] == name && ev["channel"] == channel && user.is_none_or(|u| ev["user_id"] == u)
    })
}

async fn routes_end_to_end(framework: Framework) {
    let port = free_port().unwrap();
    let hook_url = format!("http://127.0.0.1:{port}/pusher/webhooks");
    let (server, node) = tokio::join!(Sockudo::start(Some(&hook_url)), Node::start());
    let (server, node) = (server.unwrap(), node.unwrap());
    let app = App::start(framework, port, &server).await.unwrap();
    node.on_auth(app.relay());
    let pusher = server.pusher();
    let fw = framework.name();

    // Private and presence channels through the framework's /pusher/auth.
    node.connect("alice-1", &server).await.unwrap();
    let bob_socket = node.connect("bob-1", &server).await.unwrap();
    node.connect("anon-1", &server).await.unwrap();
    let joined = node.subscribe("alice-1", "presence-chat").await.unwrap();
    assert_eq!(joined["members"]["count"], 1, "{fw}: {joined}");
    let joined = node.subscribe("bob-1", "presence-chat").await.unwrap();
    assert_eq!(joined["members"]["count"], 2, "{fw}: {joined}");
    // bob's join reaches alice's pusher-js as a `member_added` event after bob's own subscription
    // succeeded: wait for it (bounded), rather than read alice's member list at once.
    let node_ref = &node;
    let members = eventually(
        WAIT,
        &format!("{fw}: bob in alice's members"),
        || async move {
            let members = node_ref.members("alice-1", "presence-chat").await.unwrap();
            let has = |id: &str| members["members"].get(id).is_some();
            (has("alice") && has("bob")).then_some(members)
        },
    )
    .await;
    let ids: Vec<&str> = members["members"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&"alice") && ids.contains(&"bob"),
        "{fw}: {members}"
    );
    assert_eq!(
        members["members"]["alice"],
        json!({"name": "alice"}),
        "{fw}: user_info from the rule"
    );

    node.subscribe("alice-1", "private-user-alice")
        .await
        .unwrap();
    node.subscribe_refused("alice-1", "private-user-bob")
        .await
        .unwrap_or_else(|e| panic!("{fw}: another user's channel: {e}"));
    node.subscribe_refused("alice-1", "private-unlisted")
        .await
        .unwrap_or_else(|e| panic!("{fw}: unmatched channel: {e}"));
    node.subscribe_refused("anon-1", "presence-chat")
        .await
        .unwrap_or_else(|e| panic!("{fw}: not signed in: {e}"));

    // The route's answers themselves, as pusher-js receives them.
    let (status, body) = app
        .post(
            "/pusher/auth",
            None,
            FORM,
            "socket_id=1.2&channel_name=presence-chat",
        )
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (401, "not signed in"), "{fw}");
    let (status, _) = app
        .post(
            "/pusher/auth",
            Some("alice"),
            FORM,
            "socket_id=1.2&channel_name=private-user-bob",
        )
        .await
        .unwrap();
    assert_eq!(status, 403, "{fw}");

    // State queries agree with what is connected.
    let users = pusher.users_info("presence-chat").await.unwrap();
    let mut ids: Vec<String> = users.users.into_iter().map(|u| u.id).collect();
    ids.sort();
    assert_eq!(ids, ["alice", "bob"], "{fw}");
    let info = pusher
        .channel_info("presence-chat", &["user_count", "subscription_count"])
        .await
        .unwrap();
    assert!(info.occupied, "{fw}");
    assert_eq!(info.user_count, Some(2), "{fw}");
    assert_eq!(info.subscription_count, Some(2), "{fw}");
    let list = pusher
        .channels_info(Some("presence-"), &["user_count"])
        .await
        .unwrap();
    assert_eq!(list.channels["presence-chat"].user_count, Some(2), "{fw}");
    let list = pusher
        .channels_info(Some("private-user-"), &[])
        .await
        .unwrap();
    assert!(
        list.channels.contains_key("private-user-alice"),
        "{fw}: {list:?}"
    );
    assert!(
        !list.channels.contains_key("private-user-bob"),
        "{fw}: {list:?}"
    );

    // The app's POST /messages: delivered to the others, not to the sender's socket.
    node.bind("alice-1", "presence-chat", Some("message"))
        .await
        .unwrap();
    node.bind("bob-1", "presence-chat", Some("message"))
        .await
        .unwrap();
    let msg = json!({"text": format!("hello from bob on {fw}"), "socket_id": bob_socket});
    let (status, _) = app
        .post(
            "/messages",
            Some("bob"),
            "application/json",
            msg.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "{fw}");
    let got = node
        .next_message("alice-1", "presence-chat", "message", WAIT)
        .await
        .unwrap();
    assert_eq!(
        got["data"],
        json!({"user": "bob", "text": format!("hello from bob on {fw}")}),
        "{fw}"
    );
    node.expect_no_message(&pusher, "bob-1", "presence-chat", "message")
        .await
        .unwrap_or_else(|e| panic!("{fw}: the sender's socket was not excluded: {e}"));

    // Encrypted channel: the shared secret comes from the framework's route; pusher-js decrypts.
    node.subscribe("alice-1", "private-encrypted-notices")
        .await
        .unwrap();
    node.bind("alice-1", "private-encrypted-notices", Some("notice"))
        .await
        .unwrap();
    let (status, _) = app.post("/notices", Some("alice"), FORM, "").await.unwrap();
    assert_eq!(status, 204, "{fw}");
    let got = node
        .next_message("alice-1", "private-encrypted-notices", "notice", WAIT)
        .await
        .unwrap();
    assert_eq!(
        got["data"],
        json!({"text": "a secret notice from alice"}),
        "{fw}"
    );
    let batch = [
        BatchEvent::new(
            "private-encrypted-notices",
            "notice",
            &json!({"text": "batched"}),
        )
        .unwrap(),
        BatchEvent::new(
            "presence-chat",
            "message",
            &json!({"user": "server", "text": "plain"}),
        )
        .unwrap(),
    ];
    pusher.trigger_batch(&batch).await.unwrap();
    let got = node
        .next_message("alice-1", "private-encrypted-notices", "notice", WAIT)
        .await
        .unwrap();
    assert_eq!(
        got["data"],
        json!({"text": "batched"}),
        "{fw}: encrypted batch event"
    );

    // Client event, for the client_event webhook.
    node.trigger_client(
        "bob-1",
        "presence-chat",
        "client-typing",
        json!({"who": "bob"}),
    )
    .await
    .unwrap();

    // User sign-in through /pusher/user-auth, send_to_user, terminate_user_connections.
    let signed = node.signin("alice-1").await.unwrap();
    let user_data: Value = match &signed["user_data"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(user_data, json!({"id": "alice"}), "{fw}: {signed}");
    node.bind_user("alice-1", "hello-user").await.unwrap();
    pusher
        .send_to_user("alice", "hello-user", &json!({"hi": fw}))
        .await
        .unwrap();
    let got = node
        .next_event(
            |e| e["event"] == "user_message" && e["name"] == "alice-1",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(got["data"], json!({"hi": fw}), "{fw}");
    assert!(
        node.signin("anon-1").await.is_err(),
        "{fw}: sign-in without a user"
    );
    pusher.terminate_user_connections("alice").await.unwrap();
    node.next_event(
        |e| e["event"] == "state" && e["name"] == "alice-1" && e["current"] == "disconnected",
        WAIT,
    )
    .await
    .unwrap_or_else(|e| panic!("{fw}: terminate did not disconnect alice: {e}"));
    assert_eq!(node.state("bob-1").await.unwrap(), "connected", "{fw}");

    // Webhooks from sockudo reached the framework's VerifiedWebhook route and were accepted.
    let events = eventually(WEBHOOK_WAIT, "webhooks", || async {
        let events = app.webhooks().await.ok()?;
        let all = has_webhook(&events, "channel_occupied", "presence-chat", None)
            && has_webhook(&events, "member_added", "presence-chat", Some("alice"))
            && has_webhook(&events, "member_added", "presence-chat", Some("bob"))
            && has_webhook(&events, "client_event", "presence-chat", None)
            && has_webhook(&events, "member_removed", "presence-chat", Some("alice"))
            && has_webhook(&events, "channel_vacated", "private-user-alice", None);
        all.then_some(events)
    })
    .await;
    let client_event = events
        .iter()
        .find(|e| e["event"]["name"] == "client_event")
        .unwrap();
    assert_eq!(client_event["event"]["event"], "client-typing", "{fw}");

    // A forged copy is refused; a correctly signed one is accepted.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body = format!(
        r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"forged-{fw}"}}]}}"#
    );
    let forged = pusher::sign_webhook("not-the-secret", body.as_bytes());
    let (status, reason) = app
        .post_raw(
            "/pusher/webhooks",
            &[
                ("x-pusher-key", APP_KEY),
                ("x-pusher-signature", &forged),
                ("content-type", "application/json"),
            ],
            body.clone().into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, reason.as_str()),
        (401, "invalid signature"),
        "{fw}"
    );
    let genuine = pusher::sign_webhook(pusher_e2e::APP_SECRET, body.as_bytes());
    let (status, _) = app
        .post_raw(
            "/pusher/webhooks",
            &[
                ("X-Pusher-Key", APP_KEY),
                ("X-Pusher-Signature", &genuine),
                ("content-type", "application/json; charset=utf-8"),
            ],
            body.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{fw}: {}", app.log_tail());
    let events = app.webhooks().await.unwrap();
    assert!(has_webhook(
        &events,
        "channel_occupied",
        &format!("forged-{fw}"),
        None
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_end_to_end() {
    routes_end_to_end(Framework::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_routes_end_to_end() {
    routes_end_to_end(Framework::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_routes_end_to_end() {
    routes_end_to_end(Framework::Rocket).await;
}
