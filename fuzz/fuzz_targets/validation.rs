//! Validation and trigger bodies: `validate_channel`, `validate_subscribable_channel`,
//! `validate_socket_id`, `validate_user_id`, `validate_event_name`, `validate_attribute` on every field, and
//! `Pusher::trigger_body` / `Pusher::batch_body` with arbitrary channels, event, data, socket id and info.
//!
//! Input: `[flags] event 0xFF data 0xFF socket_id 0xFF info 0xFF channel 0xFF channel …`. An empty socket id
//! or info is absent; info is split at `,`. `flags & 1`: data is sent as the JSON value it parses to (when it
//! does) rather than as a string. `flags & 2`: the client has an encryption master key.
//!
//! Properties beyond "no panic": the validators agree with their documented rules, and an accepted trigger
//! body is JSON with exactly the event, channels, socket id and (unencrypted) data given.

#![no_main]

mod common;

use common::*;
use libfuzzer_sys::fuzz_target;
use pusher::channel::{
    validate_attribute, validate_channel, validate_event_name, validate_socket_id,
    validate_subscribable_channel, validate_user_id,
};
use pusher::{BatchEvent, TriggerOptions};
use serde_json::Value;

/// 1..=`max` characters of the name set (ASCII, so bytes are characters). The documented limits: channel
/// names 164, user ids 128 (`pusher::Limits::DOCUMENTED`).
fn name_chars(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'@' | b',' | b'.' | b';')
        })
}

fn check_validators(s: &str) {
    assert_eq!(
        validate_subscribable_channel(s).is_ok(),
        name_chars(s, 164),
        "{s:?}"
    );
    // A signed-in user's id: the name set, at most 128, and not a dot segment (`.`, `..`).
    let user_ok = |u: &str| name_chars(u, 128) && u != "." && u != "..";
    let channel_ok = match s.strip_prefix("#server-to-user-") {
        Some(user) => user_ok(user) && s.len() <= 164,
        None => name_chars(s, 164),
    };
    assert_eq!(validate_channel(s).is_ok(), channel_ok, "{s:?}");
    assert_eq!(validate_user_id(s).is_ok(), user_ok(s), "{s:?}");
    let socket_ok = s.len() <= 64
        && s.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
    assert_eq!(validate_socket_id(s).is_ok(), socket_ok, "{s:?}");
    let n = s.chars().count();
    assert_eq!(
        validate_event_name(s).is_ok(),
        (1..=200).contains(&n),
        "{s:?}"
    );
    let _ = validate_attribute(s);
    for r in [
        validate_channel(s),
        validate_socket_id(s),
        validate_user_id(s),
    ] {
        if let Err(e) = r {
            // Errors quote at most an excerpt: 40 characters, each at most 10 once escaped
            // (`\u{10ffff}`), whatever the input's length.
            assert!(e.to_string().len() < 600, "{e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (flags, f) = split(data, 16);
    let pusher = client(flags & 2 != 0, true);
    let event = text(&f, 0);
    let data_text = text(&f, 1);
    let socket_id = text(&f, 2);
    let info = text(&f, 3);
    let channels: Vec<String> = (4..f.len()).map(|i| text(&f, i)).collect();

    for s in [&event, &data_text, &socket_id, &info]
        .into_iter()
        .chain(&channels)
    {
        check_validators(s);
    }

    let mut opts = TriggerOptions::new();
    if !socket_id.is_empty() {
        opts = opts.socket_id(socket_id.clone());
    }
    if !info.is_empty() {
        opts = opts.info(info.split(','));
    }
    let json_data: Option<Value> = (flags & 1 != 0)
        .then(|| serde_json::from_str(&data_text).ok())
        .flatten();
    let result = match &json_data {
        Some(v) => pusher.trigger_body(&channels, &event, v, &opts),
        None => pusher.trigger_body(&channels, &event, data_text.as_str(), &opts),
    };
    if let Ok(body) = result {
        assert!(!channels.is_empty() && channels.len() <= 100);
        for c in &channels {
            assert!(validate_channel(c).is_ok());
        }
        let v: Value = serde_json::from_slice(&body).expect("trigger body is JSON");
        assert_eq!(v["name"], Value::String(event.clone()));
        let sent: Vec<&str> = v["channels"]
            .as_array()
            .expect("channels array")
            .iter()
            .map(|c| c.as_str().expect("channel string"))
            .collect();
        assert_eq!(sent, channels);
        assert_eq!(v["socket_id"].as_str(), opts.socket_id.as_deref());
        let encrypted = channels.iter().any(|c| c.starts_with("private-encrypted-"));
        let sent_data = v["data"].as_str().expect("data is a string");
        if encrypted {
            assert_eq!(channels.len(), 1);
            let plain = pusher.decrypt(&channels[0], sent_data).expect("decrypts");
            let expected = match &json_data {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => data_text.clone(),
            };
            assert_eq!(plain, expected.as_bytes());
        } else {
            match &json_data {
                Some(Value::String(s)) => assert_eq!(sent_data, s),
                Some(j) => assert_eq!(sent_data, j.to_string()),
                None => assert_eq!(sent_data, data_text),
            }
        }
    }

    // The same as a batch, one event per channel.
    let mut batch = Vec::new();
    for c in &channels {
        match BatchEvent::new(c.as_str(), event.as_str(), data_text.as_str()) {
            Ok(mut e) => {
                if !socket_id.is_empty() {
                    e = e.socket_id(socket_id.clone());
                }
                if !info.is_empty() {
                    e = e.info(info.split(','));
                }
                batch.push(e);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Ok(body) = pusher.batch_body(&batch) {
        let v: Value = serde_json::from_slice(&body).expect("batch body is JSON");
        assert_eq!(v["batch"].as_array().map(Vec::len), Some(batch.len()));
        for e in &batch {
            assert!(validate_channel(&e.channel).is_ok());
        }
    }
});
