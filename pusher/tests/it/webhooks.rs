//! Webhook regressions: what a correctly signed webhook must never lose (one test per issue item, named
//! after what it guards).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pusher::encryption::{DecryptError, MasterKey};
use pusher::{Decryption, Pusher, Webhook, WebhookError, WebhookEvent, sign_webhook};
use serde_json::{Value, json};

const NOW_MS: u64 = 1_700_000_000_000;
const MASTER_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ENC: &str = "private-encrypted-room";

fn builder() -> pusher::PusherBuilder {
    Pusher::builder("1", "key", "secret")
}

fn at_now(p: pusher::PusherBuilder) -> Pusher {
    p.build()
        .unwrap()
        .with_clock(|| UNIX_EPOCH + Duration::from_millis(NOW_MS))
}

fn with_key() -> Pusher {
    at_now(builder().encryption_master_key_base64(MASTER_B64))
}

fn verify(p: &Pusher, body: &str) -> Result<Webhook, WebhookError> {
    let sig = sign_webhook("secret", body.as_bytes());
    p.validate_webhook(Some("key"), Some(&sig), body.as_bytes())
}

fn body_of(time_ms: u64, events: &[String]) -> String {
    format!(r#"{{"time_ms":{time_ms},"events":[{}]}}"#, events.join(","))
}

fn client_event(channel: &str, data_json: &str) -> String {
    format!(
        r#"{{"name":"client_event","channel":"{channel}","event":"client-x","data":{data_json},"socket_id":"1.2"}}"#
    )
}

/// An event from this type's own serialized form (the variants are `#[non_exhaustive]`).
fn event(form: serde_json::Value) -> WebhookEvent {
    serde_json::from_value(form).unwrap()
}

/// `(data, decryption)` of a client event.
fn outcome(e: &WebhookEvent) -> (&str, &Decryption) {
    match e {
        WebhookEvent::ClientEvent {
            data, decryption, ..
        } => (data, decryption),
        other => panic!("not a client event: {other:?}"),
    }
}

/// Issue item 1: with a master key, one client event on an encrypted channel whose data is not
/// `{nonce, ciphertext}` made the whole webhook fail (400 `Decryption`), losing every other event of the
/// batch. Now each client event carries its own outcome, and the rest of the batch is kept.
#[test]
fn one_undecryptable_client_event_does_not_poison_the_webhook() {
    let key = MasterKey::from_base64(MASTER_B64).unwrap();
    let sealed = key.encrypt(ENC, br#"{"msg":"hi"}"#).unwrap();
    let events = vec![
        r#"{"name":"member_added","channel":"presence-a","user_id":"u1"}"#.to_owned(),
        client_event(ENC, r#""not a payload""#),
        client_event(ENC, r#"{"text":"plain json on an encrypted channel"}"#),
        client_event(ENC, &serde_json::to_string(&sealed).unwrap()),
        client_event("private-plain", r#""{\"a\":1}""#),
        r#"{"name":"channel_vacated","channel":"b"}"#.to_owned(),
    ];
    let body = body_of(NOW_MS, &events);

    let hook = verify(&with_key(), &body).expect("a signed webhook is not refused for one event");
    assert_eq!(hook.events.len(), events.len());
    assert_eq!(
        hook.events[0],
        event(
            serde_json::json!({"name": "member_added", "channel": "presence-a", "user_id": "u1"})
        )
    );
    assert_eq!(
        outcome(&hook.events[1]),
        (
            "not a payload",
            &Decryption::Failed(DecryptError::NotAPayload)
        )
    );
    assert_eq!(
        outcome(&hook.events[2]),
        (
            r#"{"text":"plain json on an encrypted channel"}"#,
            &Decryption::Failed(DecryptError::NotAPayload)
        )
    );
    assert_eq!(
        outcome(&hook.events[3]),
        (
            sealed.as_str(),
            &Decryption::Decrypted(r#"{"msg":"hi"}"#.into())
        )
    );
    assert_eq!(hook.events[3].client_data(), Some(r#"{"msg":"hi"}"#));
    assert_eq!(
        outcome(&hook.events[4]),
        (r#"{"a":1}"#, &Decryption::NotEncrypted)
    );
    assert_eq!(hook.events[5].name(), "channel_vacated");

    // Without a master key: the same events, the same raw data, and `NoMasterKey` where a key was needed.
    let plain = verify(&at_now(builder()), &body).unwrap();
    assert_eq!(plain.events.len(), hook.events.len());
    for (a, b) in plain.events.iter().zip(&hook.events) {
        assert_eq!(a.name(), b.name());
        assert_eq!(a.channel(), b.channel());
        if let (
            WebhookEvent::ClientEvent {
                data: da,
                decryption: xa,
                channel,
                ..
            },
            WebhookEvent::ClientEvent { data: db, .. },
        ) = (a, b)
        {
            assert_eq!(da, db);
            let expected = if channel == ENC {
                Decryption::NoMasterKey
            } else {
                Decryption::NotEncrypted
            };
            assert_eq!(xa, &expected);
        }
    }
}

/// Issue item 1 (audit): nothing inside one element of `events` refuses a signed webhook: not an object, no
/// name, a known kind with the wrong fields, numbers and strings `serde_json` cannot hold, client data nested
/// past the JSON depth limit. Each element is still one event, in order; only the envelope can refuse.
#[test]
fn no_event_content_refuses_a_signed_webhook() {
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let events = vec![
        r#"{"name":"channel_occupied","channel":"a"}"#.to_owned(),
        "7".to_owned(),
        r#"["member_added","presence-a","u"]"#.to_owned(),
        r#"{"no_name":true}"#.to_owned(),
        r#"{"name":"member_added","channel":"presence-a"}"#.to_owned(),
        r#"{"name":"channel_occupied","channel":"a","x":1e400}"#.to_owned(),
        r#"{"name":"future","x":1e400}"#.to_owned(),
        r#"{"name":"future","x":"\ud800"}"#.to_owned(),
        client_event("private-a", &deep),
        client_event(ENC, &deep),
        client_event("private-a", "1e400"),
        r#"{"name":"channel_vacated","channel":"a"}"#.to_owned(),
    ];
    let hook = verify(&with_key(), &body_of(NOW_MS, &events)).unwrap();
    let names: Vec<&str> = hook.events.iter().map(WebhookEvent::name).collect();
    assert_eq!(
        names,
        [
            "channel_occupied",
            "",
            "",
            "",
            "member_added",
            "channel_occupied",
            "",
            "",
            "client_event",
            "client_event",
            "client_event",
            "channel_vacated"
        ]
    );
    for i in [1, 2, 3, 6, 7] {
        assert_eq!(
            hook.events[i],
            event(serde_json::json!({"name": "$malformed", "raw": events[i]}))
        );
    }
    assert!(matches!(hook.events[4], WebhookEvent::Unknown(_)));
    assert_eq!(
        outcome(&hook.events[8]),
        (deep.as_str(), &Decryption::NotEncrypted)
    );
    assert_eq!(
        outcome(&hook.events[9]),
        (
            deep.as_str(),
            &Decryption::Failed(DecryptError::NotAPayload)
        )
    );
    assert_eq!(outcome(&hook.events[10]).0, "1e400");
    // And it serializes and reads back unchanged.
    let again: Webhook = serde_json::from_str(&serde_json::to_string(&hook).unwrap()).unwrap();
    assert_eq!(again, hook);

    // The envelope still refuses.
    for body in [
        format!(r#"{{"events":[{}]}}"#, events[0]),
        format!(r#"{{"time_ms":{NOW_MS},"events":{}}}"#, events[0]),
        format!(r#"[{NOW_MS},[{}]]"#, events[0]),
        format!(r#"{{"time_ms":{NOW_MS},"events":[{}]"#, events[0]),
    ] {
        assert_eq!(
            verify(&with_key(), &body),
            Err(WebhookError::MalformedBody),
            "{body}"
        );
    }
}

/// Issue item 2: `time_ms` is set when the webhook is created and kept across retries, and Pusher retries
/// for 5 minutes; the old default window of 300 s refused the last retries (and earlier ones with clock
/// skew), losing their events. The default now covers the retry window plus 300 s of skew.
#[test]
fn late_retries_within_the_retry_window_are_accepted_by_default() {
    let p = at_now(builder());
    let events = [r#"{"name":"channel_occupied","channel":"a"}"#.to_owned()];
    let retry_window = 300_000;
    for (time_ms, accepted) in [
        // The last retry, on time.
        (NOW_MS - retry_window, true),
        // The last retries, with this host's clock 2 and 5 minutes ahead of the server's.
        (NOW_MS - retry_window - 1, true),
        (NOW_MS - retry_window - 120_000, true),
        (NOW_MS - 600_000, true),
        // A clock behind the server's.
        (NOW_MS + 600_000, true),
        // Beyond the retry window and the skew: a replay.
        (NOW_MS - 600_001, false),
        (NOW_MS + 600_001, false),
    ] {
        let r = verify(&p, &body_of(time_ms, &events));
        if accepted {
            assert!(r.is_ok(), "{time_ms}: {r:?}");
        } else {
            assert_eq!(r, Err(WebhookError::Stale), "{time_ms}");
        }
    }
    assert_eq!(
        pusher::config::DEFAULT_WEBHOOK_TOLERANCE,
        Duration::from_secs(600)
    );
    // Still configurable.
    let strict = at_now(builder().webhook_tolerance(Some(Duration::from_secs(300))));
    assert_eq!(
        verify(&strict, &body_of(NOW_MS - retry_window - 1, &events)),
        Err(WebhookError::Stale)
    );
}

/// Issue item 3: a numeric `user_id` (PHP and Laravel authorisers send `"user_id": 42`) turned member
/// events into `Unknown` ones. A number is now its JSON text, as written.
#[test]
fn numeric_user_ids_in_member_webhooks() {
    let events = [
        r#"{"name":"member_added","channel":"presence-a","user_id":42}"#.to_owned(),
        r#"{"name":"member_removed","channel":"presence-a","user_id":-7}"#.to_owned(),
        r#"{"name":"member_added","channel":"presence-a","user_id":9007199254740993}"#.to_owned(),
        r#"{"name":"member_added","channel":"presence-a","user_id":1.50}"#.to_owned(),
        r#"{"name":"client_event","channel":"presence-a","event":"client-e","data":"x","user_id":42}"#
            .to_owned(),
    ];
    let hook = verify(&at_now(builder()), &body_of(NOW_MS, &events)).unwrap();
    let added = |user_id: &str| {
        event(
            serde_json::json!({"name": "member_added", "channel": "presence-a", "user_id": user_id}),
        )
    };
    assert_eq!(hook.events[0], added("42"));
    assert_eq!(
        hook.events[1],
        event(
            serde_json::json!({"name": "member_removed", "channel": "presence-a", "user_id": "-7"})
        )
    );
    assert_eq!(hook.events[2], added("9007199254740993"));
    assert_eq!(hook.events[3], added("1.50"));
    assert!(matches!(
        &hook.events[4],
        WebhookEvent::ClientEvent { user_id: Some(u), .. } if u == "42"
    ));
}

/// Issue item 4: `MasterKey::encrypt_with_nonce` (a caller-chosen nonce: reuse breaks the encryption) was
/// public API, only hidden from the docs. It now exists only with the `testing` feature (this binary needs
/// it, so the check reads the source): every definition is gated on it.
#[test]
fn encrypt_with_nonce_is_only_public_with_the_testing_feature() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut definitions = 0;
    let mut stack = vec![std::path::PathBuf::from(src)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if !line.contains("fn encrypt_with_nonce") {
                    continue;
                }
                definitions += 1;
                let in_testing_module = path.ends_with("testing.rs");
                // The attributes right above the definition (doc comments and attributes).
                let gated = lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| {
                        l.trim_start().starts_with("#[") || l.trim_start().starts_with("///")
                    })
                    .any(|l| l.contains("cfg(any(test, feature = \"testing\"))"));
                assert!(
                    in_testing_module || gated || !line.contains("pub"),
                    "{}:{}: encrypt_with_nonce is public without the `testing` feature",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert!(definitions >= 1, "encrypt_with_nonce not found");
}

/// Issue item 5: hostile data on an encrypted channel (huge ciphertext, bad base64, wrong nonce length,
/// short or non-UTF-8 plaintext) gives each event its own typed outcome, never a panic or a refusal. The
/// work is linear: a size check on the nonce before decoding, one base64 decode and one cipher pass over
/// the ciphertext (checked here at a 4 MiB body, not timed).
#[test]
fn hostile_encrypted_client_data_gets_a_per_event_outcome() {
    let key = MasterKey::from_base64(MASTER_B64).unwrap();
    let p = at_now(
        builder()
            .encryption_master_key_base64(MASTER_B64)
            .webhook_body_limit(8 * 1024 * 1024),
    );
    let payload = |nonce: &str, ciphertext: &str| {
        serde_json::to_string(&json!({"nonce": nonce, "ciphertext": ciphertext}).to_string())
            .unwrap()
    };
    let nonce24 = STANDARD.encode([1u8; 24]);
    let huge = STANDARD.encode(vec![0u8; 3 * 1024 * 1024]);
    let huge_nonce = "A".repeat(2 * 1024 * 1024);
    // Sealed non-UTF-8 bytes, and a valid payload whose tag was cut off.
    let not_utf8 = key.encrypt(ENC, &[0xff, 0xfe, 0x00]).unwrap();
    let good = key.encrypt(ENC, b"hello").unwrap();
    let truncated: Value = serde_json::from_str(&good).unwrap();
    let cut = STANDARD.encode(
        &STANDARD
            .decode(truncated["ciphertext"].as_str().unwrap())
            .unwrap()[..10],
    );
    let cases: Vec<(String, Decryption)> = vec![
        (
            payload(&nonce24, &huge),
            Decryption::Failed(DecryptError::AuthenticationFailed),
        ),
        (
            payload(&huge_nonce, "AAAA"),
            Decryption::Failed(DecryptError::BadNonce),
        ),
        (
            payload("!!not base64!!", "AAAA"),
            Decryption::Failed(DecryptError::BadNonce),
        ),
        (
            payload(&STANDARD.encode([1u8; 23]), "AAAA"),
            Decryption::Failed(DecryptError::BadNonce),
        ),
        (
            payload(&STANDARD.encode([1u8; 25]), "AAAA"),
            Decryption::Failed(DecryptError::BadNonce),
        ),
        (
            payload(&nonce24, "@@@@"),
            Decryption::Failed(DecryptError::BadCiphertext),
        ),
        (
            payload(&nonce24, "AAA"),
            Decryption::Failed(DecryptError::BadCiphertext),
        ),
        (
            payload(&nonce24, ""),
            Decryption::Failed(DecryptError::AuthenticationFailed),
        ),
        (
            payload(truncated["nonce"].as_str().unwrap(), &cut),
            Decryption::Failed(DecryptError::AuthenticationFailed),
        ),
        (
            r#"{"nonce":1,"ciphertext":"AAAA"}"#.to_owned(),
            Decryption::Failed(DecryptError::NotAPayload),
        ),
        (
            r#""{\"nonce\":\"x\"}""#.to_owned(),
            Decryption::Failed(DecryptError::NotAPayload),
        ),
        (
            "null".to_owned(),
            Decryption::Failed(DecryptError::NotAPayload),
        ),
        (
            "[1,2]".to_owned(),
            Decryption::Failed(DecryptError::NotAPayload),
        ),
        (
            serde_json::to_string(&not_utf8).unwrap(),
            Decryption::Failed(DecryptError::NotUtf8),
        ),
        (
            serde_json::to_string(&good).unwrap(),
            Decryption::Decrypted("hello".into()),
        ),
    ];
    let mut events: Vec<String> = cases
        .iter()
        .map(|(data, _)| client_event(ENC, data))
        .collect();
    events.push(r#"{"name":"member_added","channel":"presence-a","user_id":"u"}"#.to_owned());
    let body = body_of(NOW_MS, &events);
    assert!(body.len() > 4 * 1024 * 1024);
    let hook = verify(&p, &body).unwrap();
    assert_eq!(hook.events.len(), cases.len() + 1);
    for (i, (event, (_, expected))) in hook.events.iter().zip(&cases).enumerate() {
        assert_eq!(outcome(event).1, expected, "case {i}");
    }
    assert_eq!(hook.events[cases.len()].name(), "member_added");
    // The same reasons through `MasterKey::decrypt`, as a crate error.
    let text = json!({"nonce": huge_nonce, "ciphertext": "AAAA"}).to_string();
    assert_eq!(
        key.decrypt(ENC, &text).unwrap_err().to_string(),
        pusher::Error::Encryption(DecryptError::BadNonce.reason()).to_string()
    );
}

/// A verified webhook serialized and read back is the same value, also when the server sent an event
/// named `malformed` (kept as `Unknown`) beside an element that is not an event (`Malformed`).
#[test]
fn a_verified_webhook_round_trips_through_serde() {
    let p = with_key();
    let events = [
        r#"{"name":"malformed","raw":"hello"}"#.to_owned(),
        "[1, 2]".to_owned(),
        r#"{"name":"member_added","channel":"presence-a","user_id":42}"#.to_owned(),
        client_event("private-encrypted-a", r#""not a payload""#),
    ];
    let hook = verify(&p, &body_of(NOW_MS, &events)).unwrap();
    assert!(matches!(&hook.events[0], WebhookEvent::Unknown(v) if v["name"] == "malformed"));
    assert!(matches!(&hook.events[1], WebhookEvent::Malformed { .. }));
    let text = serde_json::to_string(&hook).unwrap();
    let back: Webhook = serde_json::from_str(&text).unwrap();
    assert_eq!(back, hook, "{text}");
}
