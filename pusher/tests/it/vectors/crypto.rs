//! Request signing, webhook verification and end-to-end encryption vectors.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};

use pusher::encryption::MasterKey;
use pusher::signing::sign;
use pusher::trigger::encode_data;
use pusher::{Error, WebhookError};

use super::{
    Choices, Plan, Side, Tally, assert_json_eq, base64_decode, builder, check_choices, of_op,
    parse_or_string,
};
use crate::check_signed;

const SIGN_CHOICES: Choices = &[
    // body_md5 only when there is a body, never on GET (Node; sockudo refuses it on GET).
    ("sign/get-no-body", Plan::Follow(Side::Node)),
    ("sign/get-empty-params", Plan::Follow(Side::Node)),
    ("sign/unicode-param-value", Plan::Follow(Side::Node)),
    // A present body is hashed even when empty: every POST carries body_md5 (Python).
    ("sign/post-empty-body", Plan::Follow(Side::Python)),
    // The signing's own parameter names are refused (Node).
    ("sign/reserved-param", Plan::Refuse),
    // Integer seconds: a fractional input is truncated (Node), as the client's clock is read in seconds.
    ("sign/fractional-ts-.6", Plan::Follow(Side::Node)),
    ("sign/fractional-ts-.5-odd", Plan::Follow(Side::Node)),
    // No int32 overflow in 2038 (Python).
    ("sign/ts-2038", Plan::Follow(Side::Python)),
    // Parameters are strings; a number is passed as its decimal text (Node's result).
    ("sign/int-param-value", Plan::Follow(Side::Node)),
    // The method is upper-cased (Node).
    ("sign/lowercase-method", Plan::Follow(Side::Node)),
    // Keys sort by code point, i.e. UTF-8 byte order (Python), not UTF-16 units.
    ("sign/astral-vs-bmp-key-order", Plan::Follow(Side::Python)),
    // Keys are lowercased, on the wire and in the string to sign (the HTTP API reference's rule, which
    // sockudo applies when verifying). Both libraries keep "Alpha" as given; we send and sign "alpha".
    ("sign/param-sort-case", Plan::Own),
];

#[test]
fn sign_vectors() {
    let mut tally = Tally::default();
    for v in of_op("sign") {
        let plan = v.plan(SIGN_CHOICES);
        let i = &v.input;
        let (key, secret) = (v.str("key"), v.str("secret"));
        let ts = i["timestamp"].as_f64().unwrap().trunc() as u64;
        let params: Vec<(String, String)> = i["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, x)| {
                (
                    k.clone(),
                    x.as_str().map_or_else(|| x.to_string(), str::to_owned),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, x)| (k.as_str(), x.as_str()))
            .collect();
        let body = i["body"].as_str().map(str::as_bytes);
        let result = sign(
            key,
            secret.as_bytes(),
            ts,
            v.str("method"),
            v.str("path"),
            &refs,
            body,
        );
        if plan == Plan::Refuse {
            assert!(
                matches!(
                    result,
                    Err(Error::Validation {
                        field: "params",
                        ..
                    })
                ),
                "{}: a reserved parameter is refused, got {result:?}",
                v.id
            );
            tally.count(plan);
            continue;
        }
        let q = result.unwrap_or_else(|e| panic!("{}: {plan:?}, but sign refused: {e}", v.id));
        let method = v.str("method").to_uppercase();
        let signed_ts = check_signed(&v.id, &method, v.str("path"), &q.params, body, key, secret);
        assert_eq!(signed_ts, ts, "{}: auth_timestamp", v.id);
        let decoded: Vec<(String, String)> = form_urlencoded::parse(q.to_query_string().as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            decoded, q.params,
            "{}: the wire query decodes to the signed values",
            v.id
        );
        let ours: Map<String, Value> = q
            .params
            .iter()
            .map(|(k, x)| (k.clone(), Value::String(x.clone())))
            .collect();
        match plan {
            Plan::Exact => assert_json_eq(
                &v.id,
                "params (exact)",
                &ours.into(),
                &v.result(Side::Python)["params"],
            ),
            Plan::Follow(side) => assert_json_eq(
                &v.id,
                &format!("params ({side:?})"),
                &ours.into(),
                &v.result(side)["params"],
            ),
            Plan::Own => {
                // Same parameters with lowercased keys; the signature is ours (verified above).
                let mut theirs: Map<String, Value> = v.result(Side::Python)["params"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, x)| (k.to_lowercase(), x.clone()))
                    .collect();
                let mut ours = ours;
                theirs.remove("auth_signature");
                ours.remove("auth_signature");
                assert_json_eq(
                    &v.id,
                    "params with lowercased keys (our choice)",
                    &ours.into(),
                    &theirs.into(),
                );
            }
            other => panic!("{}: no sign vector is checked as {other:?}", v.id),
        }
        tally.count(plan);
    }
    tally.finish(&["sign"], &[], &[]);
    check_choices(SIGN_CHOICES);
}

const WEBHOOK_CHOICES: Choices = &[
    // time_ms must be within ±300 s of now (configured as Python's window), either way, and present and
    // non-zero (Python).
    ("webhook/stale-300001", Plan::Follow(Side::Python)),
    ("webhook/future-400000", Plan::Follow(Side::Python)),
    ("webhook/missing-time-ms", Plan::Follow(Side::Python)),
    ("webhook/time-ms-zero", Plan::Follow(Side::Python)),
    // The core takes headers and raw body only; the Content-Type is not its business (Python).
    ("webhook/charset-content-type", Plan::Follow(Side::Python)),
    // Refused with a typed reason where Python raises and Node returns data or null.
    ("webhook/time-ms-string", Plan::Refuse),
    ("webhook/json-array-body", Plan::Refuse),
    ("webhook/null-body", Plan::Refuse),
    ("webhook/non-ascii-signature", Plan::Refuse),
];

/// The reason we give for each rejected webhook vector.
const WEBHOOK_REASONS: &[(&str, WebhookError)] = &[
    ("webhook/stale-300001", WebhookError::Stale),
    ("webhook/future-400000", WebhookError::Stale),
    ("webhook/time-ms-zero", WebhookError::Stale),
    ("webhook/missing-time-ms", WebhookError::MalformedBody),
    ("webhook/time-ms-string", WebhookError::MalformedBody),
    ("webhook/json-array-body", WebhookError::MalformedBody),
    ("webhook/null-body", WebhookError::MalformedBody),
    (
        "webhook/non-ascii-signature",
        WebhookError::MalformedSignature,
    ),
    (
        "webhook/signature-trailing-space",
        WebhookError::MalformedSignature,
    ),
    ("webhook/empty-signature", WebhookError::MalformedSignature),
    ("webhook/wrong-key", WebhookError::UnknownKey),
];

#[test]
fn validate_webhook() {
    let mut tally = Tally::default();
    for v in of_op("validate_webhook") {
        let plan = v.plan(WEBHOOK_CHOICES);
        let i = &v.input;
        let now_ms = i["now_ms"].as_u64().unwrap();
        // The vectors follow Python's ±300 s window; our default is wider (600 s, to take the server's
        // late retries), so the boundary is checked at Python's window, which is configurable.
        let p = builder(&i["creds"])
            .unwrap()
            .webhook_tolerance(Some(Duration::from_secs(300)))
            .build()
            .unwrap()
            .with_clock(move || UNIX_EPOCH + Duration::from_millis(now_ms));
        let result = p.validate_webhook(
            i["key"].as_str(),
            i["signature"].as_str(),
            v.str("body").as_bytes(),
        );
        let expected = match plan {
            Plan::Refuse => &Value::Null,
            Plan::Exact => v.result(Side::Python),
            Plan::Follow(side) => v.result(side),
            other => panic!("{}: no webhook vector is checked as {other:?}", v.id),
        };
        if expected.is_null() {
            let e = result
                .err()
                .unwrap_or_else(|| panic!("{}: accepted, should be rejected", v.id));
            let reason = WEBHOOK_REASONS
                .iter()
                .find(|(id, _)| *id == v.id)
                .map(|(_, r)| *r);
            assert_eq!(Some(e), reason, "{}: rejection reason", v.id);
        } else {
            let w =
                result.unwrap_or_else(|e| panic!("{}: rejected ({e}), should be accepted", v.id));
            // time_ms is whole milliseconds (a fractional value is truncated); unknown top-level fields are
            // not kept (`webhook/unicode-body` has a "note").
            assert_eq!(
                w.time_ms,
                expected["time_ms"].as_f64().unwrap() as u64,
                "{}: time_ms",
                v.id
            );
            let events = serde_json::to_value(&w.events).unwrap();
            assert_json_eq(&v.id, "events", &events, &expected["events"]);
        }
        tally.count(plan);
    }
    tally.finish(&["validate_webhook"], &[], &[]);
    check_choices(WEBHOOK_CHOICES);
}

const ENCRYPT_CHOICES: Choices = &[
    // A string is encrypted verbatim (Python); Node encrypts its JSON form ("\"hello\"").
    ("encrypt/string", Plan::Follow(Side::Python)),
];

#[test]
fn encrypt_and_decrypt() {
    let mut tally = Tally::default();
    for v in of_op("encrypt") {
        let plan = v.plan(ENCRYPT_CHOICES);
        let key = MasterKey::from_base64(v.str("master_key_b64"));
        if plan == Plan::Refuse {
            assert!(
                matches!(key, Err(Error::Config { .. })),
                "{}: bad master key, got {key:?}",
                v.id
            );
            tally.count(plan);
            continue;
        }
        let key = key.unwrap_or_else(|e| panic!("{}: master key refused: {e}", v.id));
        let channel = v.str("channel");
        let nonce: [u8; 24] = base64_decode(v.str("nonce_b64")).try_into().unwrap();
        let plaintext = encode_data(&v.input["data"]).unwrap();
        let text = key
            .encrypt_with_nonce(channel, plaintext.as_bytes(), &nonce)
            .unwrap();
        let ours: Value = serde_json::from_str(&text).unwrap();
        match plan {
            Plan::Exact => assert_json_eq(&v.id, "payload (exact)", &ours, v.result(Side::Python)),
            Plan::Follow(side) => {
                assert_json_eq(&v.id, &format!("payload ({side:?})"), &ours, v.result(side))
            }
            Plan::Semantic => {
                let plain = String::from_utf8(key.decrypt(channel, &text).unwrap()).unwrap();
                let expected = v.semantic_view();
                assert_json_eq(
                    &v.id,
                    "decrypted",
                    &parse_or_string(&plain),
                    &expected["plaintext"]["$decrypted"],
                );
                assert_eq!(ours["nonce"], expected["nonce"], "{}: nonce", v.id);
                // Other values are encrypted as compact JSON, the same plaintext as Node's.
                assert_json_eq(
                    &v.id,
                    "payload (compact JSON, as Node)",
                    &ours,
                    v.result(Side::Node),
                );
            }
            other => panic!("{}: no encrypt vector is checked as {other:?}", v.id),
        }
        tally.count(plan);
    }
    for v in of_op("decrypt") {
        let plan = v.plan(&[]);
        let key = MasterKey::from_base64(v.str("master_key_b64")).unwrap();
        let result = key.decrypt(v.str("channel"), &v.input["payload"].to_string());
        match plan {
            Plan::Exact => {
                let plain = result.unwrap_or_else(|e| panic!("{}: {e}", v.id));
                assert_eq!(
                    Some(String::from_utf8(plain).unwrap().as_str()),
                    v.result(Side::Python)["plaintext"].as_str(),
                    "{}: plaintext",
                    v.id
                );
            }
            Plan::Refuse => assert!(
                matches!(result, Err(Error::Encryption(_))),
                "{}: {result:?}",
                v.id
            ),
            other => panic!("{}: no decrypt vector is checked as {other:?}", v.id),
        }
        tally.count(plan);
    }
    tally.finish(&["encrypt", "decrypt"], &[], &[]);
    check_choices(ENCRYPT_CHOICES);
}
