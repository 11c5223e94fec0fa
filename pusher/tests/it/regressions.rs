//! Regression tests for bugs found by fuzzing (`fuzz/`, see RELIABILITY.md), one test per bug, named after
//! what it fixes.

use std::time::{Duration, UNIX_EPOCH};

use pusher::{Pusher, WebhookError, WebhookEvent, sign_webhook};

const NOW_MS: u64 = 1_700_000_000_000;

fn client() -> Pusher {
    Pusher::builder("1", "key", "secret")
        .build()
        .unwrap()
        .with_clock(|| UNIX_EPOCH + Duration::from_millis(NOW_MS))
}

fn verify(body: &str) -> Result<pusher::Webhook, WebhookError> {
    let sig = sign_webhook("secret", body.as_bytes());
    client().validate_webhook(Some("key"), Some(&sig), body.as_bytes())
}

/// fuzz target `webhook`: a correctly signed JSON *array* `[time_ms, events]` was accepted as a webhook
/// (serde's derived struct parse also takes the sequence form).
#[test]
fn webhook_body_must_be_a_json_object() {
    for body in [
        format!("[{NOW_MS}]"),
        format!(r#"[{NOW_MS},[{{"name":"channel_occupied","channel":"a"}}]]"#),
        " [1700000000000]".to_owned(),
    ] {
        assert_eq!(verify(&body), Err(WebhookError::MalformedBody), "{body}");
    }
    // An object, with JSON whitespace around it and its events, is still fine.
    let body = format!(
        " \r\n\t{{\"time_ms\":{NOW_MS},\"events\":[ \n{{\"name\":\"channel_occupied\",\"channel\":\"a\"}} ]}}\n"
    );
    let hook = verify(&body).unwrap();
    assert_eq!(
        hook.events,
        [serde_json::from_value::<WebhookEvent>(
            serde_json::json!({"name": "channel_occupied", "channel": "a"})
        )
        .unwrap()]
    );
}

/// fuzz target `webhook` (same cause): an event given as a JSON array was accepted as a known event (tag
/// first: `["channel_occupied","a"]`) or as an `Unknown` event that has no `name`. It is neither: it is kept
/// as `Malformed` (its text), and since one element never refuses a signed webhook, the rest still counts.
#[test]
fn webhook_events_must_be_json_objects() {
    for (events, kept) in [
        (r#"["channel_occupied","a"]"#, 0),
        (r#"["future_thing"]"#, 0),
        (
            r#"{"name":"channel_occupied","channel":"a"},["member_added","presence-a","u"]"#,
            1,
        ),
    ] {
        let body = format!(r#"{{"time_ms":{NOW_MS},"events":[{events}]}}"#);
        let hook = verify(&body).unwrap();
        let malformed = hook
            .events
            .iter()
            .filter(|e| matches!(e, WebhookEvent::Malformed { raw, .. } if raw.starts_with('[')))
            .count();
        assert_eq!(
            (malformed, hook.events.len() - malformed),
            (1, kept),
            "{body}"
        );
    }
}
