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
//! within the body limit and the freshness window, is a JSON object whose events are objects, serializes and parses back with the same events, and
//! each event equals what serde's derived `WebhookEvent` parse gives for its text (a differential check of
//! the verifier's fast path for known events; events it decrypted are left out).

#![no_main]

mod common;

use common::*;
use libfuzzer_sys::fuzz_target;
use pusher::{Webhook, WebhookEvent, sign_webhook};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct RawEvents<'a> {
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
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
                body.len() <= pusher.webhook_body_limit(),
                "accepted over the limit"
            );
            if tolerance {
                assert!(
                    hook.time_ms.abs_diff(NOW_MS) <= 300_000,
                    "accepted a stale webhook: {}",
                    hook.time_ms
                );
            }
            for ev in &hook.events {
                let _ = (ev.name(), ev.channel());
            }
            // The body is an object and every event an object (the derived parse alone would take arrays).
            assert_eq!(
                body.trim_ascii_start().first(),
                Some(&b'{'),
                "accepted a non-object body"
            );
            let raw: RawEvents<'_> = serde_json::from_slice(body).expect("an accepted body parses");
            assert_eq!(raw.events.len(), hook.events.len());
            for (text, ev) in raw.events.iter().zip(&hook.events) {
                let decrypted = pusher.has_encryption()
                    && matches!(ev, WebhookEvent::ClientEvent { channel, .. }
                        if channel.starts_with("private-encrypted-"));
                assert!(
                    text.get().starts_with('{'),
                    "accepted a non-object event {}",
                    text.get()
                );
                if !decrypted {
                    let generic: WebhookEvent =
                        serde_json::from_str(text.get()).expect("an accepted event parses");
                    assert_eq!(&generic, ev, "event parsed differently from {}", text.get());
                }
            }
            let text = serde_json::to_string(&hook).expect("a verified webhook serializes");
            let again: Webhook = serde_json::from_str(&text).expect("and parses back");
            assert_eq!(again.time_ms, hook.time_ms);
            assert_eq!(again.events.len(), hook.events.len());
            for (a, b) in again.events.iter().zip(&hook.events) {
                assert_eq!(a.name(), b.name());
                assert_eq!(a.channel(), b.channel());
            }
        }
        Err(e) => {
            let _ = (e.status(), e.reason(), e.to_string());
            assert!(!e.reason().contains(APP_SECRET));
        }
    }
});
