//! (d) User authentication: sign-in, `send_to_user`, `terminate_user_connections`.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signin_send_to_user_and_terminate() {
    let Env {
        node,
        pusher,
        server,
    } = env().await;
    for c in ["alice-1", "alice-2", "bob-1"] {
        node.connect(c, &server).await.unwrap();
        let signed = node.signin(c).await.unwrap();
        let user: serde_json::Value =
            serde_json::from_str(signed["user_data"].as_str().unwrap()).unwrap();
        assert_eq!(user["id"], c.split('-').next().unwrap(), "{signed}");
        node.bind_user(c, "notice").await.unwrap();
    }

    pusher
        .send_to_user("alice", "notice", &json!({"unread": 3}))
        .await
        .unwrap();
    for c in ["alice-1", "alice-2"] {
        let got = node
            .next_event(
                |e| e["event"] == "user_message" && e["name"] == c && e["eventName"] == "notice",
                WAIT,
            )
            .await
            .unwrap();
        assert_eq!(got["data"], json!({"unread": 3}));
    }
    // No second copy to alice's connections and nothing to bob, before sentinels sent to both users.
    let to_alice = node.send_user_sentinel(&pusher, "alice").await.unwrap();
    let to_bob = node.send_user_sentinel(&pusher, "bob").await.unwrap();
    for (c, id) in [
        ("alice-1", to_alice),
        ("alice-2", to_alice),
        ("bob-1", to_bob),
    ] {
        let before = node.user_messages_before_sentinel(c, id).await.unwrap();
        assert!(before.is_empty(), "{c}: {before:?}");
    }

    pusher.terminate_user_connections("alice").await.unwrap();
    for c in ["alice-1", "alice-2"] {
        node.next_event(
            |e| e["event"] == "state" && e["name"] == c && e["current"] == "disconnected",
            WAIT,
        )
        .await
        .unwrap();
    }
    // They stay disconnected: pusher-js has no reconnection scheduled or under way (so none can come
    // later). bob is untouched and still reachable.
    for c in ["alice-1", "alice-2"] {
        let conn = node.connection(c).await.unwrap();
        assert_eq!(
            (&conn["state"], &conn["retrying"], &conn["connecting"]),
            (&json!("disconnected"), &json!(false), &json!(false)),
            "{c}: {conn}"
        );
    }
    assert_eq!(node.state("bob-1").await.unwrap(), "connected");
    pusher
        .send_to_user("bob", "notice", "hi bob")
        .await
        .unwrap();
    let got = node
        .next_event(
            |e| e["event"] == "user_message" && e["name"] == "bob-1",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(got["data"], "hi bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_forged_signins_fail() {
    let Env { node, server, .. } = env().await;
    // The auth callback refuses (403): pusher-js reports pusher:signin_error.
    node.connect("denied-1", &server).await.unwrap();
    let reply = node
        .request(json!({"cmd": "signin", "name": "denied-1"}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(reply["error"].to_string().contains("403"), "{reply}");

    // A signature made with another secret: sockudo answers 4009 and keeps the connection.
    let forger = server
        .builder_with_secret("not-the-secret")
        .build()
        .unwrap();
    node.on_auth(move |r: &AuthRequest| {
        let auth = forger
            .authenticate_user(&r.socket_id, &UserData::new("mallory"))
            .unwrap();
        pusher_e2e::AuthReply {
            status: 200,
            body: serde_json::to_value(auth).unwrap(),
        }
    });
    node.connect("mallory-1", &server).await.unwrap();
    let reply = node
        .request(json!({"cmd": "signin", "name": "mallory-1"}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["data"]["code"], 4009, "{reply}");
    assert_eq!(node.state("mallory-1").await.unwrap(), "connected");
}
