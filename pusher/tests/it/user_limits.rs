//! Limits on names, ids and member data, checked the same by every operation before anything is signed or
//! sent: user ids (sign-in, presence, `send_to_user`, `terminate_user_connections`), channel names, socket
//! ids, `user_info`, watchlists; and what signed responses show or keep.

use pusher::testing::RecordingBackend;
use pusher::{
    BatchEvent, Error, Limits, PresenceData, Pusher, RetryPolicy, TriggerOptions, UserData,
};
use serde_json::{Value, json};

use crate::hmac_hex;

const SECRET: &str = "limits-secret";
const SOCKET: &str = "1234.5678";

fn client_with(limits: Limits) -> (Pusher, RecordingBackend) {
    let rec = RecordingBackend::new();
    let pusher = Pusher::builder("1", "key", SECRET)
        .encryption_master_key(vec![7u8; 32])
        .backend(rec.clone())
        .retry(RetryPolicy::none())
        .limits(limits)
        .build()
        .unwrap();
    (pusher, rec)
}

fn client() -> (Pusher, RecordingBackend) {
    client_with(Limits::default())
}

/// The field a validation error names.
#[track_caller]
fn refused_field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Each way a user id is used, for `id`: `Ok` or the field of the refusal.
async fn every_use_of(pusher: &Pusher, id: &str) -> [Result<(), &'static str>; 5] {
    let field = |r: Result<(), Error>| {
        r.map_err(|e| match e {
            Error::Validation { field, .. } => field,
            other => panic!("{id:?}: expected a validation error, got {other:?}"),
        })
    };
    [
        field(
            pusher
                .authenticate_user(SOCKET, &UserData::new(id))
                .map(drop),
        ),
        field(
            pusher
                .authorize_channel("presence-room", SOCKET, Some(&PresenceData::new(id)))
                .map(drop),
        ),
        field(
            pusher
                .authenticate_user(SOCKET, &UserData::new("me").watchlist([id]))
                .map(drop),
        ),
        field(pusher.send_to_user(id, "e", "x").await.map(drop)),
        field(pusher.terminate_user_connections(id).await),
    ]
}

/// Ids of 185–200 characters passed sign-in and `terminate_user_connections`, then `send_to_user` refused
/// the 206-character `#server-to-user-` channel, naming a channel the caller never named. Now one rule (at
/// most 128 characters, the Channels docs) holds everywhere, and the error names `user_id` (`watchlist` for
/// an id in a watchlist).
#[tokio::test]
async fn long_user_ids_are_refused_alike_everywhere() {
    let (pusher, rec) = client();
    let ok = "u".repeat(128);
    assert_eq!(every_use_of(&pusher, &ok).await, [Ok(()); 5]);
    let sent = rec.requests();
    assert_eq!(sent.len(), 2, "send_to_user and terminate were sent");
    assert_eq!(
        sent[0].json()["channels"],
        json!([format!("#server-to-user-{ok}")])
    );
    for len in [129, 185, 190, 200, 201] {
        let id = "u".repeat(len);
        assert_eq!(
            every_use_of(&pusher, &id).await,
            [
                Err("user_id"),
                Err("user_id"),
                Err("watchlist"),
                Err("user_id"),
                Err("user_id")
            ],
            "{len}"
        );
    }
    assert_eq!(rec.requests().len(), 2, "nothing more was sent");
}

/// Raised limits (a self-hosted server) move every check together; `build()` refuses limits under which a
/// valid user id would make an invalid `#server-to-user-` channel.
#[tokio::test]
async fn raised_limits_apply_everywhere_and_stay_consistent() {
    let mut limits = Limits::default();
    limits.max_channel_name = 200;
    limits.max_user_id = 184;
    let (pusher, _) = client_with(limits);
    assert_eq!(pusher.limits(), &limits);
    assert_eq!(every_use_of(&pusher, &"u".repeat(184)).await, [Ok(()); 5]);
    assert!(
        every_use_of(&pusher, &"u".repeat(185))
            .await
            .iter()
            .all(Result::is_err)
    );
    let long = format!("private-{}", "c".repeat(192));
    assert!(pusher.authorize_channel(&long, SOCKET, None).is_ok());
    assert!(pusher.trigger(long.as_str(), "e", "x").await.is_ok());
    let (default, _) = client();
    assert_eq!(
        refused_field(default.authorize_channel(&long, SOCKET, None)),
        "channel"
    );
    assert_eq!(
        refused_field(default.trigger(long.as_str(), "e", "x").await),
        "channel"
    );

    limits.max_user_id = 185;
    let e = Pusher::builder("1", "key", SECRET)
        .limits(limits)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config {
                field: "limits",
                ..
            }
        ),
        "{e:?}"
    );
}

/// The documented presence and sign-in limits, checked before signing: `user_info` at most 1 KB of JSON,
/// a watchlist at most 100 ids; both configurable.
#[test]
fn user_info_and_watchlist_limits_are_checked_before_signing() {
    let (pusher, _) = client();
    // {"p":"…"} is 8 bytes around the padding.
    let info = |bytes: usize| json!({"p": "x".repeat(bytes - 8)});
    assert_eq!(serde_json::to_string(&info(1024)).unwrap().len(), 1024);
    let member = |bytes| PresenceData::new("u").user_info(info(bytes)).unwrap();
    let user = |bytes| UserData::new("u").user_info(info(bytes)).unwrap();
    assert!(
        pusher
            .authorize_channel("presence-a", SOCKET, Some(&member(1024)))
            .is_ok()
    );
    assert!(pusher.authenticate_user(SOCKET, &user(1024)).is_ok());
    assert_eq!(
        refused_field(pusher.authorize_channel("presence-a", SOCKET, Some(&member(1025)))),
        "user_info"
    );
    assert_eq!(
        refused_field(pusher.authenticate_user(SOCKET, &user(1025))),
        "user_info"
    );
    // Bytes, not characters: 300 two-byte characters are 600 bytes of JSON.
    let wide = PresenceData::new("u")
        .user_info(json!("é".repeat(600)))
        .unwrap();
    assert_eq!(
        refused_field(pusher.authorize_channel("presence-a", SOCKET, Some(&wide))),
        "user_info"
    );

    let ids = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
    assert!(
        pusher
            .authenticate_user(SOCKET, &UserData::new("me").watchlist(ids(100)))
            .is_ok()
    );
    assert_eq!(
        refused_field(pusher.authenticate_user(SOCKET, &UserData::new("me").watchlist(ids(101)))),
        "watchlist"
    );

    let mut limits = Limits::default();
    limits.max_user_info_bytes = 4096;
    limits.max_watchlist = 1000;
    let (raised, _) = client_with(limits);
    assert!(raised.authenticate_user(SOCKET, &user(4096)).is_ok());
    assert!(
        raised
            .authenticate_user(SOCKET, &UserData::new("me").watchlist(ids(1000)))
            .is_ok()
    );
    assert!(raised.authenticate_user(SOCKET, &user(4097)).is_err());
}

/// Socket ids are at most 64 characters (the Channels docs): 64 passes and 65 is refused, for channel
/// authorization, user authentication, and the sender exclusion of a trigger and of a batch event.
#[test]
fn socket_ids_over_64_characters_are_refused_everywhere() {
    let (pusher, _) = client();
    let socket = |len: usize| format!("1234.{}", "5".repeat(len - 5));
    let user = UserData::new("u");
    let opts = |len| TriggerOptions::new().socket_id(socket(len));
    let batch = |len| {
        [BatchEvent::new("c", "e", "x")
            .unwrap()
            .socket_id(socket(len))]
    };

    assert!(
        pusher
            .authorize_channel("private-a", &socket(64), None)
            .is_ok()
    );
    assert!(pusher.authenticate_user(&socket(64), &user).is_ok());
    assert!(pusher.trigger_body("c", "e", "x", &opts(64)).is_ok());
    assert!(pusher.batch_body(&batch(64)).is_ok());

    assert_eq!(
        refused_field(pusher.authorize_channel("private-a", &socket(65), None)),
        "socket_id"
    );
    assert_eq!(
        refused_field(pusher.authenticate_user(&socket(65), &user)),
        "socket_id"
    );
    assert_eq!(
        refused_field(pusher.trigger_body("c", "e", "x", &opts(65))),
        "socket_id"
    );
    assert_eq!(refused_field(pusher.batch_body(&batch(65))), "socket_id");
}

/// `"é"×150` as a channel name was refused as "is 150 characters long, the maximum is 200": its 300 bytes
/// were compared with a limit in characters. The character set is what is wrong, and the message says so.
#[tokio::test]
async fn non_ascii_channel_names_are_refused_for_their_characters() {
    let (pusher, _) = client();
    let name = "é".repeat(150);
    for e in [
        pusher.trigger(name.as_str(), "e", "x").await.unwrap_err(),
        pusher.authorize_channel(&name, SOCKET, None).unwrap_err(),
        pusher.channel_info(&name, &[]).await.unwrap_err(),
    ] {
        let text = e.to_string();
        assert!(text.contains("characters outside"), "{text}");
        assert!(!text.contains("long"), "{text}");
    }
    let e = pusher
        .trigger("a".repeat(165).as_str(), "e", "x")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid channel: is 165 characters long, the maximum is 164"
    );
}

/// `ChannelAuth`'s `Debug` printed `shared_secret`, the channel's encryption key.
#[test]
fn channel_auth_debug_hides_the_shared_secret() {
    let (pusher, _) = client();
    let auth = pusher
        .authorize_channel("private-encrypted-a", SOCKET, None)
        .unwrap();
    let secret = auth.shared_secret.clone().unwrap();
    let debug = format!("{auth:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert!(debug.contains(&auth.auth), "the signature is not secret");
    // Serialized for pusher-js, it is still there.
    assert!(serde_json::to_string(&auth).unwrap().contains(&secret));
}

/// `UserData` deserialised from the app's JSON dropped unknown top-level fields, so what was signed was not
/// what the app built. They are kept, sent and signed.
#[test]
fn user_data_keeps_and_signs_unknown_top_level_fields() {
    let (pusher, _) = client();
    let built = json!({"id": "12345", "name": "Jane", "tags": [1, 2], "user_info": {"a": 1}});
    let user: UserData = serde_json::from_value(built.clone()).unwrap();
    assert_eq!(user.extra["name"], "Jane");
    let auth = pusher.authenticate_user(SOCKET, &user).unwrap();
    let sent: Value = serde_json::from_str(&auth.user_data).unwrap();
    assert_eq!(sent, built);
    let to_sign = format!("{SOCKET}::user::{}", auth.user_data);
    assert_eq!(
        auth.auth,
        format!("key:{}", hmac_hex(SECRET.as_bytes(), to_sign.as_bytes()))
    );
    // An extra field may not repeat a named one (two `id`s in the signed JSON).
    let mut twice = UserData::new("a");
    twice.extra.insert("id".into(), json!("b"));
    assert_eq!(
        refused_field(pusher.authenticate_user(SOCKET, &twice)),
        "user_data"
    );
}

/// `user_info` from any `Serialize` type.
#[test]
fn user_info_from_any_serializable_value() {
    #[derive(serde::Serialize)]
    struct Info {
        name: &'static str,
        age: u8,
    }
    let info = Info {
        name: "Ann",
        age: 30,
    };
    let member = PresenceData::new("ann").user_info(&info).unwrap();
    assert_eq!(member.user_info, Some(json!({"name": "Ann", "age": 30})));
    let user = UserData::new("ann").user_info(&info).unwrap();
    assert_eq!(user.user_info, member.user_info);
    // A map with non-string keys has no JSON form: an error, not a panic.
    let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    assert!(matches!(
        PresenceData::new("ann").user_info(&bad),
        Err(Error::Json(_))
    ));
}

/// A `#server-to-user-` channel named directly (trigger, batch) follows the same user-id rule as
/// `send_to_user`: over 128 characters, or `.`/`..`, it is refused (naming the `channel` the caller named, or
/// `user_id`), and nothing is sent.
#[tokio::test]
async fn server_to_user_channels_named_directly_follow_the_user_id_rule() {
    let (pusher, rec) = client();
    let long = format!("#server-to-user-{}", "u".repeat(140));
    assert_eq!(
        refused_field(pusher.trigger(long.as_str(), "e", "x").await),
        "channel"
    );
    assert_eq!(
        refused_field(pusher.send_to_user(&"u".repeat(140), "e", "x").await),
        "user_id"
    );
    let batch = [BatchEvent::new(long.as_str(), "e", "x").unwrap()];
    assert_eq!(refused_field(pusher.trigger_batch(&batch).await), "channel");
    for dots in [".", ".."] {
        let channel = format!("#server-to-user-{dots}");
        assert_eq!(
            refused_field(pusher.trigger(channel.as_str(), "e", "x").await),
            "channel"
        );
        assert_eq!(
            refused_field(pusher.authenticate_user(SOCKET, &UserData::new(dots))),
            "user_id"
        );
        assert_eq!(
            refused_field(pusher.terminate_user_connections(dots).await),
            "user_id"
        );
    }
    assert!(rec.requests().is_empty());
    // 128 characters is the documented maximum, and is accepted.
    let ok = format!("#server-to-user-{}", "u".repeat(128));
    pusher.trigger(ok.as_str(), "e", "x").await.unwrap();
}

/// A presence member's id is only signed into the member data: any characters, as the official libraries
/// sign, within the length limit.
#[test]
fn presence_member_ids_take_any_characters_within_the_length_limit() {
    let (pusher, _) = client();
    for id in ["a+b@example.com", "user:42", "Jane Doe", "élève"] {
        let auth = pusher
            .authorize_channel("presence-room", SOCKET, Some(&PresenceData::new(id)))
            .unwrap();
        let data: Value = serde_json::from_str(auth.channel_data.as_deref().unwrap()).unwrap();
        assert_eq!(data["user_id"], id);
    }
    let long = PresenceData::new("é".repeat(129));
    assert_eq!(
        refused_field(pusher.authorize_channel("presence-room", SOCKET, Some(&long))),
        "user_id"
    );
    let empty = PresenceData::new("");
    assert_eq!(
        refused_field(pusher.authorize_channel("presence-room", SOCKET, Some(&empty))),
        "user_id"
    );
}
