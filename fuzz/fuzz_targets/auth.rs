//! Auth request parsing and the auth route handlers end to end: `ChannelAuthRequest`, `BatchAuthRequest` and
//! `UserAuthRequest::parse` with arbitrary content types and bodies, then `Authorizer::handle` on the channel,
//! batch and user routes with the chat example's rules (plus a deny rule and a
//! misconfigured presence rule).
//!
//! Input: `[flags] content-type 0xFF body`. `flags & 3`: 0 = the content type as given, 1 = none,
//! 2 = `application/json`, 3 = `application/x-www-form-urlencoded`. `(flags >> 2) & 3`: the signed-in user
//! (none, alice, bob, mallory). `flags & 16`: the client has an encryption master key. `(flags >> 5) & 3`:
//! the route: 0 = channel auth, 1 = batch auth, 2 = user auth, 3 = all three on the same input (one route
//! per execution keeps the target fast enough for long runs; every route still sees every body).
//!
//! Properties beyond "no panic": a 200 only for a channel the rules allow this user, signed correctly
//! (checked with `sign_webhook`, the same HMAC-SHA256 hex); a refusal is one of the fixed reasons (never an echo of the body
//! or the secret).

#![no_main]

mod common;

use std::sync::OnceLock;

use common::*;
use libfuzzer_sys::fuzz_target;
use pusher::integration::{
    AuthRoute, Authorizer, BatchAuthRequest, ChannelAuthRequest, Decision, UserAuthRequest,
};
use pusher::{ChannelAuth, UserAuth, UserData, sign_webhook};
use serde_json::{Value, json};

const LIMIT: usize = 2048;

fn authorizer() -> &'static Authorizer<String> {
    static A: OnceLock<Authorizer<String>> = OnceLock::new();
    A.get_or_init(|| {
        Authorizer::new()
            .channel("presence-chat", |user: String, _| async move {
                Decision::member(user.clone(), json!({ "name": user }))
            })
            .channel("private-encrypted-notices", |_, _| async { Ok(Decision::Allow) })
            .channel("private-user-{name}", |user: String, p| async move {
                Ok(Decision::from(p.get("name") == Some(user.as_str())))
            })
            .channel("private-deny-{x}", |_, _| async { Ok(Decision::Deny) })
            .channel("presence-misconfigured", |_, _| async { Ok(Decision::Allow) })
            .user(|user: String, _| async move { Ok((user != "mallory").then(|| UserData::new(user))) })
            .body_limit(LIMIT)
    })
}

/// Whether the rules let `user` subscribe to `channel`.
fn allowed(user: &str, channel: &str, encryption: bool) -> bool {
    channel == "presence-chat"
        || (channel == "private-encrypted-notices" && encryption)
        || channel.strip_prefix("private-user-") == Some(user)
}

/// Checks a successful channel signature as a server would.
fn check_auth(auth: &ChannelAuth, socket_id: &str, channel: &str, encryption: bool) {
    let mut to_sign = format!("{socket_id}:{channel}");
    if let Some(cd) = &auth.channel_data {
        to_sign.push(':');
        to_sign.push_str(cd);
    }
    assert_eq!(
        auth.auth,
        format!("{APP_KEY}:{}", sign_webhook(APP_SECRET, to_sign.as_bytes())),
        "bad signature for {channel}"
    );
    assert_eq!(
        auth.channel_data.is_some(),
        channel.starts_with("presence-")
    );
    assert_eq!(
        auth.shared_secret.is_some(),
        encryption && channel.starts_with("private-encrypted-")
    );
}

/// The fixed refusal reasons: a refusal never echoes the request or the secret.
const REASONS: [&str; 9] = [
    "request body too large",
    "malformed request body",
    "missing or invalid socket_id",
    "missing or invalid channel_name",
    "public channels need no authorization",
    "not signed in",
    "forbidden",
    "no rule allows this channel",
    "server misconfigured",
];

fn check_refusal(status: u16, content_type: &str, body: &str) {
    assert!(
        matches!(status, 400 | 401 | 403 | 413 | 500),
        "unexpected status {status}"
    );
    assert!(content_type.starts_with("text/plain"));
    assert!(REASONS.contains(&body), "unexpected refusal body {body:?}");
}

fuzz_target!(|data: &[u8]| {
    let (flags, f) = split(data, 2);
    let ct_text = text(&f, 0);
    let content_type = match flags & 3 {
        0 => Some(ct_text.as_str()),
        1 => None,
        2 => Some("application/json"),
        _ => Some("application/x-www-form-urlencoded"),
    };
    let user = match (flags >> 2) & 3 {
        0 => None,
        1 => Some("alice"),
        2 => Some("bob"),
        _ => Some("mallory"),
    };
    let encryption = flags & 16 != 0;
    let pusher = client(encryption, true);
    let body = field(&f, 1);
    let a = authorizer();

    let route = (flags >> 5) & 3;
    let owned_user = user.map(str::to_owned);
    if route == 0 || route == 3 {
        channel_auth(a, pusher, content_type, body, user, encryption);
    }
    if route == 1 || route == 3 {
        batch_auth(a, pusher, content_type, body, user, encryption);
    }
    if route == 2 || route == 3 {
        user_auth(a, pusher, content_type, body, owned_user);
    }
});

fn channel_auth(
    a: &Authorizer<String>,
    pusher: &pusher::Pusher,
    content_type: Option<&str>,
    body: &[u8],
    user: Option<&str>,
    encryption: bool,
) {
    let channel_req = ChannelAuthRequest::parse(content_type, body);
    if let Ok(r) = &channel_req {
        assert!(pusher::channel::validate_socket_id(&r.socket_id).is_ok());
        // Parsing checks the characters; the length is checked against the client's limits by the routes.
        let mut any_length = pusher::Limits::DOCUMENTED;
        any_length.max_channel_name = usize::MAX;
        assert!(
            any_length
                .check_subscribable_channel(&r.channel_name)
                .is_ok()
        );
        assert!(!r.params.contains_key("socket_id") && !r.params.contains_key("channel_name"));
    }
    let res = futures_executor::block_on(a.handle(
        AuthRoute::Channel,
        pusher,
        user.map(str::to_owned),
        content_type,
        body,
    ));
    if res.status == 200 {
        let req = channel_req
            .as_ref()
            .expect("200 for a request that does not parse");
        let u = user.expect("200 without a signed-in user");
        assert!(body.len() <= LIMIT);
        assert!(
            allowed(u, &req.channel_name, encryption),
            "{u} got {}",
            req.channel_name
        );
        let auth: ChannelAuth = serde_json::from_str(&res.body).expect("200 body is ChannelAuth");
        check_auth(&auth, &req.socket_id, &req.channel_name, encryption);
    } else {
        check_refusal(res.status, res.content_type, &res.body);
    }
}

fn batch_auth(
    a: &Authorizer<String>,
    pusher: &pusher::Pusher,
    content_type: Option<&str>,
    body: &[u8],
    user: Option<&str>,
    encryption: bool,
) {
    let batch_req = BatchAuthRequest::parse(content_type, body);
    if let Ok(b) = &batch_req {
        assert!(pusher::channel::validate_socket_id(&b.socket_id).is_ok());
        assert!(
            (1..=pusher::integration::MAX_BATCH_AUTH_CHANNELS).contains(&b.channel_names.len())
        );
        for (i, c) in b.channel_names.iter().enumerate() {
            assert!(!b.channel_names[..i].contains(c), "duplicate {c:?}");
        }
    }
    let res = futures_executor::block_on(a.handle(
        AuthRoute::Batch,
        pusher,
        user.map(str::to_owned),
        content_type,
        body,
    ));
    if res.status == 200 {
        let batch = batch_req.as_ref().expect("200 for a bad batch");
        let v: serde_json::Map<String, Value> =
            serde_json::from_str(&res.body).expect("batch body is a JSON object");
        assert_eq!(v.len(), batch.channel_names.len());
        for (channel, entry) in &v {
            if entry["status"] == 200 {
                let u = user.expect("batch 200 entry without a user");
                assert!(
                    allowed(u, channel, encryption),
                    "{u} got {channel} in a batch"
                );
                let auth: ChannelAuth =
                    serde_json::from_value(entry["data"].clone()).expect("entry data");
                check_auth(&auth, &batch.socket_id, channel, encryption);
            } else {
                assert!(entry.get("data").is_none());
            }
        }
    } else {
        check_refusal(res.status, res.content_type, &res.body);
    }
}

fn user_auth(
    a: &Authorizer<String>,
    pusher: &pusher::Pusher,
    content_type: Option<&str>,
    body: &[u8],
    owned_user: Option<String>,
) {
    let user = owned_user.clone();
    let user = user.as_deref();
    let user_req = UserAuthRequest::parse(content_type, body);
    if let Ok(r) = &user_req {
        assert!(pusher::channel::validate_socket_id(&r.socket_id).is_ok());
    }
    let res = futures_executor::block_on(a.handle(
        AuthRoute::User,
        pusher,
        owned_user,
        content_type,
        body,
    ));
    if res.status == 200 {
        let req = user_req.as_ref().expect("user 200 for a bad request");
        let u = user.expect("user 200 without a user");
        assert_ne!(u, "mallory");
        let auth: UserAuth = serde_json::from_str(&res.body).expect("200 body is UserAuth");
        assert_eq!(auth.user_data, format!(r#"{{"id":"{u}"}}"#));
        let to_sign = format!("{}::user::{}", req.socket_id, auth.user_data);
        assert_eq!(
            auth.auth,
            format!("{APP_KEY}:{}", sign_webhook(APP_SECRET, to_sign.as_bytes()))
        );
    } else {
        check_refusal(res.status, res.content_type, &res.body);
    }
}
