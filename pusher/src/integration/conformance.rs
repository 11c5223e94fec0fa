//! The conformance suite every framework integration runs (feature `testing`), twice: through its own test
//! client (axum `oneshot`, actix `test::init_service`, rocket's local client) with [`run`], and as raw bytes
//! over a real socket to the app served on `127.0.0.1` with [`run_socket`], so that no test client can
//! hide a difference (Rocket dropping header values that are not UTF-8, a framework's path decoding…).
//! The framework crate builds an app with:
//!
//! * the [`pusher()`] client in its state,
//! * the ready-made auth routes from [`authorizer()`] (paths `/pusher/auth`, `/pusher/user-auth`,
//!   `/pusher/batch-auth`), whose user type [`SuiteUser`] comes from the [`USER_HEADER`] request header
//!   (absent header: extraction fails, so the request is not signed in),
//! * a `POST` [`WEBHOOK_PATH`] route taking `VerifiedWebhook` and answering 200 with the JSON of the
//!   verified [`Webhook`](crate::Webhook),
//!
//! then calls [`run`] with a [`Harness`] that sends one request and returns the response, and
//! [`run_socket`] with the address the same app listens on. Every check recomputes signatures itself,
//! independently of the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod socket;

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use socket::{SocketHarness, run_socket};

use super::{Authorizer, Decision};
use crate::auth::UserData;
use crate::client::Pusher;

/// The suite app's id.
pub const APP_ID: &str = "suite-app";
/// The suite app's key.
pub const KEY: &str = "suite-key";
/// The suite app's secret: recognisable, so a leak is easy to find.
pub const SECRET: &str = "suite-SECRET-must-never-leak-8c1f";
/// The suite's encryption master key (base64).
pub const MASTER_KEY_B64: &str = "U1VJVEUtbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nISE=";
/// The header carrying the suite user's name.
pub const USER_HEADER: &str = "x-suite-user";
/// The webhook route's path.
pub const WEBHOOK_PATH: &str = "/pusher/webhooks";
/// The path of the suite app's sender route: `POST` answers 200 with the `SenderSocketId` extractor's
/// socket id as plain text, or [`NO_SENDER`] when it has none (and its rejection as the framework answers
/// it).
pub const SENDER_PATH: &str = "/sender";
/// The body of the sender route when the request carries no sender socket id.
pub const NO_SENDER: &str = "none";
/// The batch auth route's path.
pub const BATCH_AUTH_PATH: &str = "/pusher/batch-auth";
/// The webhook body limit of [`pusher()`].
pub const WEBHOOK_LIMIT: usize = 64 * 1024;

/// The [`USER_HEADER`] value for which the suite app's user extractor fails with a server error (500), as a
/// session store that is down would: the routes answer 503, not 401 (not signed in).
pub const OUTAGE_USER: &str = "!outage";

/// The suite's signed-in user: the value of [`USER_HEADER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteUser(pub String);

/// Every user name [`SuiteUser::from_header`] extracted, so the suite can tell whether a framework ran the
/// app's user extractor for a request.
static EXTRACTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

impl SuiteUser {
    /// The user named by the header value, if any (non-empty). The suite app's user extractor must call
    /// this (it records the name, see [`SuiteUser::was_extracted`]).
    pub fn from_header(value: Option<&str>) -> Option<SuiteUser> {
        let user = value
            .filter(|v| !v.is_empty())
            .map(|v| SuiteUser(v.to_owned()));
        if let Some(u) = &user {
            EXTRACTED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(HashSet::new)
                .insert(u.0.clone());
        }
        user
    }

    /// Whether a user of this name was ever extracted.
    pub fn was_extracted(name: &str) -> bool {
        EXTRACTED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|s| s.contains(name))
    }
}

/// A user name no other request uses, to probe whether the user extractor ran.
fn probe_name(what: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "probe-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The client the suite app must hold in its state.
pub fn pusher() -> Pusher {
    Pusher::builder(APP_ID, KEY, SECRET)
        .host("127.0.0.1")
        .use_tls(false)
        .encryption_master_key_base64(MASTER_KEY_B64)
        .webhook_body_limit(WEBHOOK_LIMIT)
        .build()
        .expect("suite pusher config")
}

/// The rules the suite app must serve:
/// `private-allowed-{x}` allow; `private-denied` deny; `presence-room.{room}` member with
/// `{"room": room}`; `private-encrypted-secret` allow; `private-user-{name}` only that user;
/// `private-unavailable` fails with a [`RuleError`](super::RuleError) (503); `private-context-{*x}` allows
/// when the extra auth parameter `echo` equals `{x}.{socket_id}.{state}` (the rule sees the captures,
/// the `socket_id`, pusher-js's `params` and the state [`SUITE_STATE`]); user auth gives `{"id": user}`
/// except for the user `nobody` (refused) and `broken` (its rule fails: 503).
pub fn authorizer() -> Authorizer<SuiteUser, &'static str> {
    Authorizer::with_state(SUITE_STATE)
        .channel("private-allowed-{x}", |_, _| async { Ok(Decision::Allow) })
        .channel("private-denied", |_, _| async { Ok(Decision::Deny) })
        .channel("presence-room.{room}", |u: SuiteUser, p| async move {
            Decision::member(u.0, json!({ "room": p.get("room") }))
        })
        .channel("private-encrypted-secret", |_, _| async {
            Ok(Decision::Allow)
        })
        .channel("private-user-{name}", |u: SuiteUser, p| async move {
            Ok(Decision::from(p.get("name") == Some(u.0.as_str())))
        })
        .channel("private-unavailable", |_, _| async {
            Err(super::RuleError::unavailable("suite: the database is down"))
        })
        .channel("private-context-{*x}", |_, ctx| async move {
            let seen = format!(
                "{}.{}.{}",
                ctx.get("x").unwrap_or_default(),
                ctx.socket_id,
                ctx.state
            );
            let sent = ctx.auth_params.get("echo").cloned();
            Ok(Decision::from(sent == Some(seen)))
        })
        .user(|u: SuiteUser, _| async move {
            if u.0 == "broken" {
                return Err(super::RuleError::unavailable(
                    "suite: the session store is down",
                ));
            }
            Ok((u.0 != "nobody")
                .then(|| UserData::new(u.0).user_info(json!({"suite": true})))
                .transpose()?)
        })
        .batch_auth_path(BATCH_AUTH_PATH)
}

/// The state of the suite's [`authorizer()`], which its `private-context-{*x}` rule checks.
pub const SUITE_STATE: &str = "suite-state";

/// One request sent by the suite.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// Always `POST` in this suite.
    pub method: &'static str,
    /// The path.
    pub path: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// What the app answered.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Every header (names lowercase), in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "expected JSON, got {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to the app under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Sends `request`, returns the response.
    async fn call(&self, request: TestRequest) -> TestResponse;
}

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Suite<'a> {
    h: &'a dyn Harness,
    /// Strings that must never appear in a response.
    forbidden: Vec<String>,
    checked: usize,
}

const FORM: &str = "application/x-www-form-urlencoded";

impl Suite<'_> {
    async fn send(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> TestResponse {
        let req = TestRequest {
            method: "POST",
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        };
        let resp = self.h.call(req).await;
        let text = resp.text();
        for f in &self.forbidden {
            assert!(
                !text.contains(f.as_str()),
                "response to {path} leaks a secret or expected signature: {text:?}"
            );
        }
        self.checked += 1;
        resp
    }

    async fn webhook(&mut self, headers: &[(&str, &str)], body: &[u8]) -> TestResponse {
        self.send(WEBHOOK_PATH, headers, body).await
    }

    async fn auth(&mut self, user: Option<&str>, body: &str) -> TestResponse {
        self.auth_at(super::DEFAULT_AUTH_PATH, user, FORM, body)
            .await
    }

    async fn auth_at(
        &mut self,
        path: &str,
        user: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> TestResponse {
        let mut headers = vec![("content-type", content_type)];
        if let Some(u) = user {
            headers.push((USER_HEADER, u));
        }
        self.send(path, &headers, body.as_bytes()).await
    }
}

fn webhook_body(time_ms: u64, events: Value) -> Vec<u8> {
    json!({"time_ms": time_ms, "events": events})
        .to_string()
        .into_bytes()
}

/// Runs every check against the app behind `harness`; panics with a message naming the failed check.
/// Returns the number of requests checked.
pub async fn run(harness: &dyn Harness) -> usize {
    let mut s = Suite {
        h: harness,
        forbidden: vec![SECRET.to_owned(), MASTER_KEY_B64.to_owned()],
        checked: 0,
    };
    webhooks(&mut s).await;
    contract::webhook_key_whitespace_is_trimmed(&mut s).await;
    auth(&mut s).await;
    contract::not_signed_in_is_401_and_refused_is_403(&mut s).await;
    contract::content_types_and_repeated_keys(&mut s).await;
    contract::a_refused_body_never_runs_the_user_extractor(&mut s).await;
    contract::auth_responses_are_not_stored(&mut s).await;
    user_auth(&mut s).await;
    batch_auth(&mut s).await;
    contract::batch_auth_caps_distinct_channels_at_100(&mut s).await;
    contract::rules_see_the_context_and_a_failing_rule_answers_503(&mut s).await;
    contract::a_user_extractor_failing_with_a_server_error_answers_503(&mut s).await;
    sender_socket_id(&mut s).await;
    s.checked
}

/// A sender route request's headers, with the status and body expected.
type SenderCase = (&'static [(&'static str, &'static str)], u16, &'static str);

/// `X-Socket-ID`: absent or empty is no sender, a valid id (trimmed) is the sender, anything else is 400
/// with the same short reason in every framework.
async fn sender_socket_id(s: &mut Suite<'_>) {
    const H: &str = super::SOCKET_ID_HEADER;
    let cases: [SenderCase; 7] = [
        (&[], 200, NO_SENDER),
        (&[(H, "")], 200, NO_SENDER),
        (&[(H, "123.456")], 200, "123.456"),
        (&[("X-Socket-Id", " 123.456\t")], 200, "123.456"),
        (&[(H, "123")], 400, "invalid X-Socket-ID header"),
        (&[(H, "1.2.3")], 400, "invalid X-Socket-ID header"),
        (&[(H, "abc.def")], 400, "invalid X-Socket-ID header"),
    ];
    for (headers, status, body) in cases {
        let r = s.send(SENDER_PATH, headers, b"").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, body),
            "sender route with headers {headers:?}"
        );
        if status == 400 {
            assert_eq!(
                r.content_type.as_deref(),
                Some("text/plain; charset=utf-8"),
                "a refused X-Socket-ID is plain text"
            );
        }
    }
}

async fn webhooks(s: &mut Suite<'_>) {
    let master = crate::encryption::MasterKey::from_base64(MASTER_KEY_B64).unwrap();
    let secret_data = master
        .encrypt("private-encrypted-secret", br#"{"hidden":1}"#)
        .unwrap();
    let events = json!([
        {"name": "channel_occupied", "channel": "a"},
        {"name": "member_added", "channel": "presence-room.x", "user_id": "u1"},
        {"name": "client_event", "channel": "private-encrypted-secret", "event": "client-x",
         "data": secret_data, "socket_id": "1.2"},
    ]);
    let body = webhook_body(now_ms(), events);
    let sig = hmac_hex(SECRET, &body);
    s.forbidden.push(sig.clone());
    let json_ct = ("content-type", "application/json");

    // Valid, with the headers in any case and a content type with parameters.
    for (k, sg, ct) in [
        ("X-Pusher-Key", "X-Pusher-Signature", "application/json"),
        (
            "x-pusher-key",
            "x-pusher-signature",
            "application/json; charset=utf-8",
        ),
        ("X-PUSHER-KEY", "X-PUSHER-SIGNATURE", "application/json"),
    ] {
        let r = s
            .webhook(&[("content-type", ct), (k, KEY), (sg, &sig)], &body)
            .await;
        assert_eq!(r.status, 200, "valid webhook ({k}, {ct}): {}", r.text());
        let v = r.json();
        assert_eq!(v["events"].as_array().map(Vec::len), Some(3), "events: {v}");
        assert_eq!(v["events"][0]["name"], "channel_occupied");
        assert_eq!(v["events"][1]["user_id"], "u1");
        // The client event keeps its data as sent, with the decryption outcome beside it.
        let decrypted = v["events"][2]["decryption"]["decrypted"]
            .as_str()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
        assert_eq!(
            decrypted,
            Some(json!({"hidden": 1})),
            "encrypted client event decrypted: {v}"
        );
    }

    type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16);
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong key",
            vec![
                ("x-pusher-key", "other".into()),
                ("x-pusher-signature", sig.clone()),
            ],
            401,
        ),
        (
            "uppercase signature",
            vec![
                ("x-pusher-key", KEY.into()),
                ("x-pusher-signature", sig.to_uppercase()),
            ],
            400,
        ),
        (
            "non-hex signature",
            vec![
                ("x-pusher-key", KEY.into()),
                ("x-pusher-signature", "zz".repeat(32)),
            ],
            400,
        ),
        (
            "short signature",
            vec![
                ("x-pusher-key", KEY.into()),
                ("x-pusher-signature", sig[..40].to_owned()),
            ],
            400,
        ),
        (
            "wrong signature",
            vec![
                ("x-pusher-key", KEY.into()),
                ("x-pusher-signature", hmac_hex("other", &body)),
            ],
            401,
        ),
        (
            "missing key",
            vec![("x-pusher-signature", sig.clone())],
            400,
        ),
        ("missing signature", vec![("x-pusher-key", KEY.into())], 400),
        ("no headers", vec![], 400),
    ];
    for (what, headers, status) in cases {
        let mut hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        hs.push(json_ct);
        let r = s.webhook(&hs, &body).await;
        assert_eq!(r.status, status, "webhook {what}: {}", r.text());
        assert!(
            !r.body.is_empty(),
            "webhook {what}: a short reason in the body"
        );
    }

    // The default window is 600 s (the server's 5-minute retry window plus clock skew).
    for (what, time) in [
        ("stale", now_ms() - 601_000),
        ("future", now_ms() + 601_000),
    ] {
        let b = webhook_body(time, json!([]));
        let sg = hmac_hex(SECRET, &b);
        let r = s
            .webhook(
                &[json_ct, ("x-pusher-key", KEY), ("x-pusher-signature", &sg)],
                &b,
            )
            .await;
        assert_eq!(r.status, 401, "webhook {what} time_ms: {}", r.text());
    }

    let mut big = webhook_body(
        now_ms(),
        json!([{"name": "x", "pad": "p".repeat(WEBHOOK_LIMIT)}]),
    );
    big.truncate(big.len());
    let sg = hmac_hex(SECRET, &big);
    let r = s
        .webhook(
            &[json_ct, ("x-pusher-key", KEY), ("x-pusher-signature", &sg)],
            &big,
        )
        .await;
    assert_eq!(r.status, 413, "webhook over the body limit: {}", r.text());

    let junk = b"this is not json";
    let sg = hmac_hex(SECRET, junk);
    let r = s
        .webhook(
            &[json_ct, ("x-pusher-key", KEY), ("x-pusher-signature", &sg)],
            junk,
        )
        .await;
    assert_eq!(r.status, 400, "webhook non-JSON body: {}", r.text());
}

fn check_auth(auth: &str, to_sign: &str) {
    let expected = format!("{KEY}:{}", hmac_hex(SECRET, to_sign.as_bytes()));
    assert_eq!(auth, expected, "signature of {to_sign:?}");
}

async fn auth(s: &mut Suite<'_>) {
    let sock = "1234.5678";
    // Allowed private channel; form and JSON bodies; a percent-encoded name.
    let r = s
        .auth(
            Some("ann"),
            "socket_id=1234.5678&channel_name=private-allowed-1",
        )
        .await;
    assert_eq!(r.status, 200, "private allowed: {}", r.text());
    check_auth(
        r.json()["auth"].as_str().unwrap(),
        "1234.5678:private-allowed-1",
    );
    assert!(
        r.content_type
            .as_deref()
            .unwrap_or("")
            .starts_with("application/json")
    );

    let r = s
        .auth(
            Some("ann"),
            "socket_id=1234.5678&channel_name=private%2Dallowed%2D%32",
        )
        .await;
    assert_eq!(r.status, 200, "percent-encoded name: {}", r.text());
    check_auth(
        r.json()["auth"].as_str().unwrap(),
        "1234.5678:private-allowed-2",
    );

    let r = s
        .auth_at(
            super::DEFAULT_AUTH_PATH,
            Some("ann"),
            "application/json",
            r#"{"socket_id":"1234.5678","channel_name":"private-allowed-3"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "JSON body: {}", r.text());
    check_auth(
        r.json()["auth"].as_str().unwrap(),
        "1234.5678:private-allowed-3",
    );

    // Presence: member data from the rule, signed with the channel_data.
    let r = s
        .auth(
            Some("ann"),
            "socket_id=1234.5678&channel_name=presence-room.lobby",
        )
        .await;
    assert_eq!(r.status, 200, "presence: {}", r.text());
    let v = r.json();
    let cd = v["channel_data"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(cd).unwrap();
    assert_eq!(
        parsed,
        json!({"user_id": "ann", "user_info": {"room": "lobby"}})
    );
    check_auth(
        v["auth"].as_str().unwrap(),
        &format!("{sock}:presence-room.lobby:{cd}"),
    );

    // Encrypted: shared_secret = base64(sha256(channel ‖ master key)).
    let r = s
        .auth(
            Some("ann"),
            "socket_id=1234.5678&channel_name=private-encrypted-secret",
        )
        .await;
    assert_eq!(r.status, 200, "encrypted: {}", r.text());
    let v = r.json();
    check_auth(
        v["auth"].as_str().unwrap(),
        "1234.5678:private-encrypted-secret",
    );
    let mut h = Sha256::new();
    h.update(b"private-encrypted-secret");
    h.update(
        base64::engine::general_purpose::STANDARD
            .decode(MASTER_KEY_B64)
            .unwrap(),
    );
    let expected = base64::engine::general_purpose::STANDARD.encode(h.finalize());
    assert_eq!(v["shared_secret"], expected.as_str());

    // Own-user channel.
    let r = s
        .auth(Some("ann"), "socket_id=1.2&channel_name=private-user-ann")
        .await;
    assert_eq!(r.status, 200, "own user channel: {}", r.text());
    let r = s
        .auth(Some("bob"), "socket_id=1.2&channel_name=private-user-ann")
        .await;
    assert_eq!(r.status, 403, "other user's channel: {}", r.text());

    for (what, user, body, status) in [
        (
            "denied",
            Some("ann"),
            "socket_id=1.2&channel_name=private-denied",
            403,
        ),
        (
            "unmatched",
            Some("ann"),
            "socket_id=1.2&channel_name=private-nobody-knows",
            403,
        ),
        (
            "public",
            Some("ann"),
            "socket_id=1.2&channel_name=public-news",
            400,
        ),
        (
            "not signed in",
            None,
            "socket_id=1.2&channel_name=private-allowed-1",
            401,
        ),
        (
            "missing socket_id",
            Some("ann"),
            "channel_name=private-allowed-1",
            400,
        ),
        (
            "bad socket_id",
            Some("ann"),
            "socket_id=12.ab&channel_name=private-allowed-1",
            400,
        ),
        ("missing channel", Some("ann"), "socket_id=1.2", 400),
        (
            "bad channel",
            Some("ann"),
            "socket_id=1.2&channel_name=private%20allowed",
            400,
        ),
        (
            "server-to-user",
            Some("ann"),
            "socket_id=1.2&channel_name=%23server-to-user-ann",
            400,
        ),
    ] {
        let r = s.auth(user, body).await;
        assert_eq!(r.status, status, "auth {what}: {}", r.text());
        assert!(
            !r.body.is_empty(),
            "auth {what}: a short reason in the body"
        );
    }

    let big = format!(
        "socket_id=1.2&channel_name=private-allowed-1&pad={}",
        "x".repeat(70_000)
    );
    let r = s.auth(Some("ann"), &big).await;
    assert_eq!(r.status, 413, "auth body over the limit: {}", r.text());
}

async fn user_auth(s: &mut Suite<'_>) {
    let path = super::DEFAULT_USER_AUTH_PATH;
    let r = s
        .auth_at(path, Some("ann"), FORM, "socket_id=1234.5678")
        .await;
    assert_eq!(r.status, 200, "user auth: {}", r.text());
    let v = r.json();
    let ud = v["user_data"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(ud).unwrap(),
        json!({"id": "ann", "user_info": {"suite": true}})
    );
    check_auth(
        v["auth"].as_str().unwrap(),
        &format!("1234.5678::user::{ud}"),
    );

    for (what, user, body, status) in [
        ("refused user", Some("nobody"), "socket_id=1.2", 403),
        ("not signed in", None, "socket_id=1.2", 401),
        ("bad socket_id", Some("ann"), "socket_id=x", 400),
    ] {
        let r = s.auth_at(path, user, FORM, body).await;
        assert_eq!(r.status, status, "user auth {what}: {}", r.text());
    }
}

async fn batch_auth(s: &mut Suite<'_>) {
    let r = s
        .auth_at(
            BATCH_AUTH_PATH,
            Some("ann"),
            FORM,
            "socket_id=1.2&channel_name%5B%5D=private-allowed-9&channel_name%5B%5D=private-denied",
        )
        .await;
    assert_eq!(r.status, 200, "batch auth: {}", r.text());
    let v = r.json();
    assert_eq!(v["private-allowed-9"]["status"], 200);
    check_auth(
        v["private-allowed-9"]["data"]["auth"].as_str().unwrap(),
        "1.2:private-allowed-9",
    );
    assert_eq!(v["private-denied"]["status"], 403);
    let r = s
        .auth_at(BATCH_AUTH_PATH, Some("ann"), FORM, "socket_id=1.2")
        .await;
    assert_eq!(r.status, 400, "batch auth without channels: {}", r.text());
}
