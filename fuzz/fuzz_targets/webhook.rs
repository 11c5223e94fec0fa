//! Webhook verification and parsing: `Pusher::validate_webhook` with arbitrary key and signature headers
//! and bodies, and with bodies correctly signed by the fuzzer's bytes so that the JSON, freshness, event and
//! decryption paths are reached.
//!
//! Input: `[flags] key 0xFF signature 0xFF body`. `flags & 3` is the mode:
//! 0 = headers as given (not UTF-8 → header absent; `flags & 16` / `flags & 32` drop the key / signature);
//! 1 = body signed with the app's secret under the app key; 2 = signed with the rotated-in extra token;
//! 3 = `{"time_ms":NOW,"events":[` body `]}` signed with the app's secret (fresh, so the events parse).
//! `flags & 4` configures the encryption master key, `flags & 8` turns the freshness check off.
//!
//! Properties beyond "no panic": an accepted webhook was signed by a configured token under its own key, is
//! within the body limit and the freshness window, and is a JSON object. A signed, fresh body whose envelope
//! parses (mode 3) is always accepted, whatever its events hold: one event's content never refuses a
//! webhook. Every element of `events` gives exactly one event, read independently here: `Malformed` keeps
//! the element's text, `Unknown` its `serde_json::Value`, and a known event has the element's fields (a
//! numeric `user_id` as its number's text, a client event's `data` as the string or the value's JSON text),
//! and its `Decryption` is what `Pusher::decrypt` gives. A webhook serializes and parses back unchanged
//! (event for event; `Unknown` values by name and channel, since floats may move by one unit in the last
//! place through serde_json's default float parsing).

#![no_main]

mod common;

use common::*;
use libfuzzer_sys::fuzz_target;
use pusher::{Decryption, Webhook, WebhookEvent, sign_webhook};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "time_ms")]
    _time_ms: serde_json::Number,
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
}

/// Checks `ev` against the element's text, read independently of the verifier.
fn check_event(pusher: &pusher::Pusher, text: &str, ev: &WebhookEvent) {
    let value = serde_json::from_str::<Value>(text).ok();
    match ev {
        WebhookEvent::Malformed { raw, .. } => {
            assert_eq!(raw, text, "a malformed element is kept as its text");
            assert!(
                value.as_ref().is_none_or(|v| !v["name"].is_string()),
                "an event with a string name kept as malformed: {text}"
            );
            return;
        }
        WebhookEvent::Unknown(v) => {
            assert_eq!(Some(v), value.as_ref(), "an unknown event is its value");
            assert!(v["name"].is_string(), "an unknown event has a string name");
            return;
        }
        _ => {}
    }
    // A known event is an object with its name; its fields are checked where serde_json can hold the
    // element (a known event ignores the fields it does not use, however odd).
    assert!(text.starts_with('{'), "a known event from {text}");
    let Some(v) = value else { return };
    assert_eq!(v["name"].as_str(), Some(ev.name()), "{text}");
    assert_eq!(v["channel"].as_str(), ev.channel(), "{text}");
    let same_id = |id: &str, field: &Value| match field {
        Value::String(s) => s == id,
        Value::Number(_) => serde_json::from_str::<Value>(id).ok().as_ref() == Some(field),
        _ => false,
    };
    match ev {
        WebhookEvent::MemberAdded { user_id, .. } | WebhookEvent::MemberRemoved { user_id, .. } => {
            assert!(same_id(user_id, &v["user_id"]), "{text}");
        }
        WebhookEvent::SubscriptionCount {
            subscription_count, ..
        } => assert_eq!(v["subscription_count"].as_u64(), Some(*subscription_count)),
        WebhookEvent::ClientEvent {
            channel,
            event,
            data,
            socket_id,
            user_id,
            decryption,
            ..
        } => {
            assert_eq!(v["event"].as_str(), Some(event.as_str()));
            match &v["data"] {
                Value::String(s) => assert_eq!(s, data),
                other => assert_eq!(
                    serde_json::from_str::<Value>(data).ok().as_ref(),
                    Some(other),
                    "{text}"
                ),
            }
            assert_eq!(v["socket_id"].as_str(), socket_id.as_deref());
            match user_id {
                Some(id) => assert!(same_id(id, &v["user_id"]), "{text}"),
                None => assert!(v["user_id"].is_null()),
            }
            let expected = if !channel.starts_with("private-encrypted-") {
                Decryption::NotEncrypted
            } else if !pusher.has_encryption() {
                Decryption::NoMasterKey
            } else {
                match pusher.decrypt(channel, data) {
                    Ok(plain) => match String::from_utf8(plain) {
                        Ok(s) => Decryption::Decrypted(s),
                        Err(_) => {
                            assert!(matches!(decryption, Decryption::Failed(_)));
                            return;
                        }
                    },
                    Err(_) => {
                        assert!(matches!(decryption, Decryption::Failed(_)), "{text}");
                        return;
                    }
                }
            };
            assert_eq!(decryption, &expected, "{text}");
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let (flags, f) = split(data, 3);
    let tolerance = flags & 8 == 0;
    let pusher = client(flags & 4 != 0, tolerance);
    let raw = field(&f, 2);
    let wrapped: Vec<u8>;
    let (key, sig, body): (Option<String>, Option<String>, &[u8]) = match flags & 3 {
        0 => {
            let key = std::str::from_utf8(field(&f, 0))
                .ok()
                .filter(|_| flags & 16 == 0);
            let sig = std::str::from_utf8(field(&f, 1))
                .ok()
                .filter(|_| flags & 32 == 0);
            (key.map(str::to_owned), sig.map(str::to_owned), raw)
        }
        1 => (
            Some(APP_KEY.into()),
            Some(sign_webhook(APP_SECRET, raw)),
            raw,
        ),
        2 => (
            Some(OLD_KEY.into()),
            Some(sign_webhook(OLD_SECRET, raw)),
            raw,
        ),
        _ => {
            let mut b = format!(r#"{{"time_ms":{NOW_MS},"events":["#).into_bytes();
            b.extend_from_slice(raw);
            b.extend_from_slice(b"]}");
            wrapped = b;
            let sig = sign_webhook(APP_SECRET, &wrapped);
            (Some(APP_KEY.into()), Some(sig), &wrapped[..])
        }
    };

    let result = pusher.validate_webhook(key.as_deref(), sig.as_deref(), body);
    // Mode 3 is signed and fresh: when the envelope parses, nothing in the events may refuse it.
    let envelope = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<Envelope<'_>>(text).ok());
    if flags & 3 == 3 && body.len() <= pusher.webhook_body_limit_bytes() && envelope.is_some() {
        assert!(
            result.is_ok(),
            "a signed webhook refused for its events: {result:?}"
        );
    }
    match result {
        Ok(hook) => {
            let key = key.as_deref().map(str::trim);
            let secret = match key {
                Some(APP_KEY) => APP_SECRET,
                Some(OLD_KEY) => OLD_SECRET,
                other => panic!("accepted under an unknown key {other:?}"),
            };
            assert_eq!(
                sig.as_deref(),
                Some(sign_webhook(secret, body).as_str()),
                "accepted without the right signature"
            );
            assert!(
                body.len() <= pusher.webhook_body_limit_bytes(),
                "accepted over the limit"
            );
            if tolerance {
                assert!(
                    hook.time_ms.abs_diff(NOW_MS) <= 300_000,
                    "accepted a stale webhook: {}",
                    hook.time_ms
                );
            }
            assert_eq!(
                body.trim_ascii_start().first(),
                Some(&b'{'),
                "accepted a non-object body"
            );
            let raw = envelope.expect("an accepted body parses");
            assert_eq!(raw.events.len(), hook.events.len(), "an event was dropped");
            for (text, ev) in raw.events.iter().zip(&hook.events) {
                check_event(pusher, text.get(), ev);
            }
            let text = serde_json::to_string(&hook).expect("a verified webhook serializes");
            let again: Webhook = serde_json::from_str(&text).expect("and parses back");
            assert_eq!(again.time_ms, hook.time_ms);
            assert_eq!(again.events.len(), hook.events.len());
            for (a, b) in again.events.iter().zip(&hook.events) {
                match b {
                    // An unknown event named like this crate's own `malformed` reads back as one.
                    WebhookEvent::Unknown(v) if v["name"] == "malformed" => {}
                    WebhookEvent::Unknown(_) => {
                        assert_eq!(a.name(), b.name());
                        assert_eq!(a.channel(), b.channel());
                    }
                    _ => assert_eq!(a, b, "changed through serde"),
                }
            }
        }
        Err(e) => {
            let _ = (e.status(), e.reason(), e.to_string());
            assert!(!e.reason().contains(APP_SECRET));
        }
    }
});
