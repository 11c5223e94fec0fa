//! Channel authorization (`authorize_channel`) and user authentication (`authenticate_user`) vectors.

use serde_json::{Value, json};

use pusher::{ChannelAuth, Error, PresenceData, Pusher, UserAuth, UserData};

use super::{
    Choices, Plan, Tally, Vector, assert_compact_utf8, assert_json_eq, builder, check_choices,
    json_eq, of_op,
};
use crate::hmac_hex;

const CHOICES: Choices = &[
    // A master key must be canonical base64 (Python).
    ("auth/encrypted-noncanonical-key", Plan::Refuse),
    // Socket ids are ASCII digits (Node).
    ("auth/socket-arabic-digits", Plan::Refuse),
    // A signed-in user's id is 1-128 characters of [-a-zA-Z0-9_=@,.;] (the Channels docs; Python checks
    // 200): it becomes part of the `#server-to-user-` channel. A presence member's id is only limited in
    // length, as both libraries sign any text.
    ("user/id-with-space", Plan::Refuse),
    ("user/id-201", Plan::Refuse),
    ("user/id-unicode", Plan::Refuse),
];

/// Member data that [`PresenceData`] cannot hold: presence authorization requires a string `user_id`, so
/// `{}` (Python omits channel_data, Node signs "{}"), a member without `user_id`, and a numeric `user_id`
/// cannot be expressed; both libraries sign them, we cannot even be asked to.
const PRESENCE_SKIPPED: &[&str] = &[
    "auth/presence-empty-dict",
    "auth/presence-int-user-id",
    "auth/presence-no-user-id",
];

/// User data that [`UserData`] cannot hold. None: top-level fields besides `id`, `user_info` and `watchlist`
/// (`user/basic` has `name`) are kept in `UserData::extra` and signed, as both libraries do.
const USER_SKIPPED: &[&str] = &[];

/// Refused by both libraries, and not even expressible with our types (`null`, or no `id`).
const USER_TYPE_REFUSED: &[&str] = &["user/null", "user/no-id"];

/// Sorts an unexpressible vector into "refused by the type system" (we would refuse it anyway) or "skipped".
fn unexpressible(v: &Vector, tally: &mut Tally) {
    if v.refused_by_us(CHOICES) {
        tally.type_refused.push(v.id.clone());
    } else {
        tally.skipped.push(v.id.clone());
    }
}

/// `Some(typed)` when `json` round-trips through `T` unchanged.
fn expressible<T: serde::Serialize + serde::de::DeserializeOwned>(json: &Value) -> Option<T> {
    let typed: T = serde_json::from_value(json.clone()).ok()?;
    json_eq(&serde_json::to_value(&typed).ok()?, json).then_some(typed)
}

fn client(v: &Vector) -> Result<Pusher, Error> {
    let mut b = builder(&v.input["creds"]).unwrap();
    if let Some(k) = v.input["encryption_master_key_base64"].as_str() {
        b = b.encryption_master_key_base64(k);
    }
    b.build()
}

fn secret(v: &Vector) -> &str {
    v.input["creds"]["secret"].as_str().unwrap()
}

fn auth_key_and_valid(id: &str, auth: &str, secret: &str, to_sign: &str) -> Value {
    let (key, sig) = auth
        .split_once(':')
        .unwrap_or_else(|| panic!("{id}: auth {auth:?}"));
    json!({"auth_key": key, "auth_valid": sig == hmac_hex(secret.as_bytes(), to_sign.as_bytes())})
}

/// The normalised view of a channel authorization: key, whether the signature verifies (recomputed here),
/// channel_data parsed, shared_secret.
fn channel_view(v: &Vector, a: &ChannelAuth) -> Value {
    let mut to_sign = format!("{}:{}", v.str("socket_id"), v.str("channel"));
    if let Some(cd) = &a.channel_data {
        assert_compact_utf8(&v.id, cd);
        to_sign = format!("{to_sign}:{cd}");
    }
    let mut view = auth_key_and_valid(&v.id, &a.auth, secret(v), &to_sign);
    if let Some(cd) = &a.channel_data {
        view["channel_data"] = serde_json::from_str(cd).unwrap();
    }
    if let Some(ss) = &a.shared_secret {
        view["shared_secret"] = json!(ss);
    }
    view
}

fn user_view(v: &Vector, u: &UserAuth) -> Value {
    assert_compact_utf8(&v.id, &u.user_data);
    let to_sign = format!("{}::user::{}", v.str("socket_id"), u.user_data);
    let mut view = auth_key_and_valid(&v.id, &u.auth, secret(v), &to_sign);
    view["user_data"] = serde_json::from_str(&u.user_data).unwrap();
    view
}

#[test]
fn authenticate() {
    let mut tally = Tally::default();
    for v in of_op("authenticate") {
        let presence = match &v.input["custom_data"] {
            Value::Null => None,
            data => match expressible::<PresenceData>(data) {
                Some(p) => Some(p),
                None => {
                    unexpressible(v, &mut tally);
                    continue;
                }
            },
        };
        let plan = v.plan(CHOICES);
        let result = client(v).and_then(|p| {
            p.authorize_channel(v.str("channel"), v.str("socket_id"), presence.as_ref())
        });
        check(v, plan, result, channel_view);
        tally.count(plan);
    }
    tally.finish(&["authenticate"], PRESENCE_SKIPPED, &[]);
    check_choices(CHOICES);
}

#[test]
fn authenticate_user() {
    let mut tally = Tally::default();
    for v in of_op("authenticate_user") {
        let Some(user) = expressible::<UserData>(&v.input["user_data"]) else {
            unexpressible(v, &mut tally);
            continue;
        };
        let plan = v.plan(CHOICES);
        let result = client(v).and_then(|p| p.authenticate_user(v.str("socket_id"), &user));
        check(v, plan, result, user_view);
        tally.count(plan);
    }
    tally.finish(&["authenticate_user"], USER_SKIPPED, USER_TYPE_REFUSED);
}

fn check<T: serde::Serialize + std::fmt::Debug>(
    v: &Vector,
    plan: Plan,
    result: Result<T, Error>,
    view: fn(&Vector, &T) -> Value,
) {
    match plan {
        Plan::Refuse => {
            let e = result
                .err()
                .unwrap_or_else(|| panic!("{}: we refuse this, but signed it", v.id));
            assert!(
                matches!(
                    e,
                    Error::Validation { .. } | Error::Config { .. } | Error::MissingMasterKey
                ),
                "{}: refused with {e:?}",
                v.id
            );
            assert!(
                !format!("{e} {e:?}").contains(secret(v)),
                "{}: the error shows the secret",
                v.id
            );
        }
        Plan::Exact => {
            let ours = result
                .unwrap_or_else(|e| panic!("{}: both libraries sign this, we refused: {e}", v.id));
            let ours_json = serde_json::to_value(&ours).unwrap();
            assert_json_eq(
                &v.id,
                "response (exact)",
                &ours_json,
                v.result(super::Side::Python),
            );
            assert_eq!(view(v, &ours)["auth_valid"], true, "{}: signature", v.id);
        }
        Plan::Semantic => {
            let ours = result
                .unwrap_or_else(|e| panic!("{}: both libraries sign this, we refused: {e}", v.id));
            assert_json_eq(
                &v.id,
                "response (semantic)",
                &view(v, &ours),
                &v.semantic_view(),
            );
        }
        other => panic!("{}: no auth vector is checked as {other:?}", v.id),
    }
}
