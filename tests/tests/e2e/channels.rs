//! (b) Private and presence subscriptions authorised by the core's signatures; refusals; the query API
//! (`users_info`, `channel_info`, `channels_info`) against what is connected.

use std::collections::BTreeSet;

use pusher_e2e::AuthReply;
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_channels_allowed_and_refused() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    node.connect("a", &server).await.unwrap();

    node.subscribe_and_bind("a", "private-allowed")
        .await
        .unwrap();

    // The auth callback answers 403: pusher-js reports the failure itself.
    let refusal = node.subscribe_refused("a", "private-denied").await.unwrap();
    assert!(refusal.to_string().contains("403"), "{refusal}");

    // A forged signature (another secret) reaches sockudo, which answers with a connection-level
    // pusher:error 4009 (not pusher:subscription_error); the connection stays up.
    let forger = server
        .builder_with_secret("not-the-secret")
        .build()
        .unwrap();
    node.on_auth(move |r: &AuthRequest| {
        let auth = forger
            .authorize_channel(r.channel.as_deref().unwrap(), &r.socket_id, None)
            .unwrap();
        AuthReply {
            status: 200,
            body: serde_json::to_value(auth).unwrap(),
        }
    });
    let refusal = node.subscribe_refused("a", "private-forged").await.unwrap();
    assert_eq!(refusal["data"]["code"], 4009, "{refusal}");
    assert_eq!(node.state("a").await.unwrap(), "connected");

    // Every request went through the Rust callback.
    let asked: Vec<String> = node
        .auth_requests()
        .into_iter()
        .filter_map(|r| r.channel)
        .collect();
    assert_eq!(
        asked,
        ["private-allowed", "private-denied", "private-forged"]
    );

    // The allowed subscription still works.
    pusher
        .trigger("private-allowed", "ping", &json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(
        node.next_message("a", "private-allowed", "ping", WAIT)
            .await
            .unwrap()["data"],
        json!({"n": 1})
    );
    let info = pusher
        .channel_info("private-forged", &["subscription_count"])
        .await
        .unwrap();
    assert!(!info.occupied);
    assert_eq!(info.subscription_count, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_members_and_queries_agree() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    for c in ["alice-1", "alice-2", "bob-1", "carol-1"] {
        node.connect(c, &server).await.unwrap();
    }
    let room = "presence-room";
    node.subscribe_and_bind("alice-1", room).await.unwrap();
    node.subscribe_and_bind("alice-2", room).await.unwrap();
    let joined = node.subscribe_and_bind("bob-1", room).await.unwrap();

    // bob sees both users (alice's two connections are one member), with their user_info.
    let members = &joined["members"];
    assert_eq!(members["count"], 2, "{members}");
    assert_eq!(members["myID"], "bob");
    assert_eq!(
        members["members"],
        json!({"alice": {"name": "alice"}, "bob": {"name": "bob"}})
    );
    assert_eq!(members["me"], json!({"id": "bob", "info": {"name": "bob"}}));
    let added = node
        .next_event(
            |e| e["name"] == "alice-1" && e["eventName"] == "pusher:member_added",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(added["data"], json!({"id": "bob", "info": {"name": "bob"}}));

    // A refused presence subscription.
    node.subscribe_refused("carol-1", "presence-denied-room")
        .await
        .unwrap();
    // Public channels for the counts.
    node.subscribe("carol-1", "news").await.unwrap();
    node.subscribe("bob-1", "news").await.unwrap();

    let users = pusher.users_info(room).await.unwrap();
    let ids: BTreeSet<&str> = users.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["alice", "bob"]));

    let c = pusher
        .channel_info(room, &["user_count", "subscription_count"])
        .await
        .unwrap();
    assert!(c.occupied);
    assert_eq!((c.user_count, c.subscription_count), (Some(2), Some(3)));
    let c = pusher
        .channel_info("news", &["subscription_count"])
        .await
        .unwrap();
    assert!(c.occupied);
    assert_eq!(c.subscription_count, Some(2));
    let c = pusher.channel_info("nobody-here", &[]).await.unwrap();
    assert!(!c.occupied);
    assert!(
        !pusher
            .channel_info("presence-denied-room", &[])
            .await
            .unwrap()
            .occupied
    );

    let list = pusher
        .channels_info(Some("presence-"), &["user_count"])
        .await
        .unwrap();
    assert_eq!(list.channels.keys().collect::<Vec<_>>(), [room]);
    assert_eq!(list.channels[room].user_count, Some(2));
    let list = pusher
        .channels_info(None, &["subscription_count"])
        .await
        .unwrap();
    let counts: Vec<(&str, Option<u64>)> = list
        .channels
        .iter()
        .map(|(k, v)| (k.as_str(), v.subscription_count))
        .collect();
    assert_eq!(counts, [("news", Some(2)), (room, Some(3))]);
    let list = pusher.channels_info(Some("new"), &[]).await.unwrap();
    assert_eq!(list.channels.keys().collect::<Vec<_>>(), ["news"]);
    assert!(
        pusher
            .channels_info(Some("private-"), &[])
            .await
            .unwrap()
            .channels
            .is_empty()
    );

    // bob leaves: alice sees member_removed at once, and the queries follow.
    node.disconnect("bob-1").await.unwrap();
    for c in ["alice-1", "alice-2"] {
        let removed = node
            .next_event(
                |e| e["name"] == c && e["eventName"] == "pusher:member_removed",
                WAIT,
            )
            .await
            .unwrap();
        assert_eq!(removed["data"]["id"], "bob");
    }
    assert_eq!(node.members("alice-2", room).await.unwrap()["count"], 1);
    // The server finishes the rest of bob's cleanup (his other channel) right after: poll briefly.
    eventually(WAIT, "users_info and channel_info after bob left", || {
        let pusher = pusher.clone();
        async move {
            let users = pusher.users_info(room).await.unwrap();
            let ids: Vec<String> = users.users.into_iter().map(|u| u.id).collect();
            let news = pusher
                .channel_info("news", &["subscription_count"])
                .await
                .unwrap();
            (ids == ["alice"] && news.subscription_count == Some(1)).then_some(())
        }
    })
    .await;
    // The /channels list is cached for 2 s by sockudo: poll until it settles.
    eventually(WAIT, "channels_info after bob left", || {
        let pusher = pusher.clone();
        async move {
            let list = pusher
                .channels_info(Some("presence-"), &["user_count"])
                .await
                .unwrap();
            (list.channels.get(room).and_then(|c| c.user_count) == Some(1)).then_some(())
        }
    })
    .await;

    // One of alice's connections leaves: she is still a member. Once the server has handled the
    // unsubscribe (the barrier), a sentinel on the channel comes after any member_removed it caused.
    node.unsubscribe("alice-2", room).await.unwrap();
    node.barrier("alice-2").await.unwrap();
    let before = node.settle(&pusher, "alice-1", room).await.unwrap();
    assert!(
        before
            .iter()
            .all(|e| e["eventName"] != "pusher:member_removed"),
        "alice-1 saw a member leave: {before:?}"
    );
    eventually(WAIT, "channel_info after alice-2 left", || {
        let pusher = pusher.clone();
        async move {
            let c = pusher
                .channel_info(room, &["user_count", "subscription_count"])
                .await
                .unwrap();
            (c.user_count == Some(1) && c.subscription_count == Some(1)).then_some(())
        }
    })
    .await;
    assert_eq!(node.members("alice-1", room).await.unwrap()["count"], 1);
}
