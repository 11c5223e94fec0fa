//! Secret hygiene: with a recognisable secret and master key, every error path, the `Debug` of every public
//! type that holds them, and all `tracing` output at TRACE must contain neither, nor an expected signature.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, PresenceData, Pusher, PusherUrl, TriggerOptions, UserData};

const SECRET: &str = "HYGIENE-secret-0d9f3b";
const MASTER_B64: &str = "SFlHSUVORS1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbiE=";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str, extra: &[String]) {
    assert!(!text.contains(SECRET), "{what} leaks the secret: {text}");
    assert!(
        !text.contains(MASTER_B64),
        "{what} leaks the master key: {text}"
    );
    for e in extra {
        assert!(!text.contains(e.as_str()), "{what} leaks {e}: {text}");
    }
}

/// The two tests that install a thread-local subscriber run one at a time, in this test binary of their own
/// (`[[test]] hygiene`): tracing caches each callsite's interest process-wide, and a subscriber on another
/// thread, or none, can make a capture miss events (seen in CI rehearsals).
static SUBSCRIBER_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn secrets_never_appear_in_errors_debug_or_logs() {
    let _one_at_a_time = SUBSCRIBER_TESTS.lock().await;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rec = RecordingBackend::new();
    let pusher = Pusher::builder("1", "key", SECRET)
        .encryption_master_key_base64(MASTER_B64)
        .extra_webhook_token("old", SECRET)
        .backend(rec.clone())
        .retry(pusher::RetryPolicy::none())
        .build()
        .unwrap();
    let mut seen: Vec<String> = vec![format!("{pusher:?}")];

    // Every API error status, with the server echoing something secret-looking back is out of our hands;
    // here the server says nothing secret, and our own wrapping must add nothing.
    for status in [400u16, 401, 403, 413, 429, 500] {
        rec.respond(status, "server says no");
        let e = pusher.trigger("a", "e", "x").await.unwrap_err();
        seen.push(format!("{e} {e:?}"));
    }
    // Validation, encryption and config errors.
    let bad = [
        pusher.trigger("bad channel", "e", "x").await.unwrap_err(),
        pusher
            .trigger(&["private-encrypted-a", "b"], "e", "x")
            .await
            .unwrap_err(),
        pusher
            .trigger_with("a", "e", "x", &TriggerOptions::new().socket_id("nope"))
            .await
            .unwrap_err(),
        pusher
            .trigger("a", "e", &"x".repeat(20_000))
            .await
            .unwrap_err(),
        pusher.trigger_batch(&[]).await.unwrap_err(),
        pusher.authorize_channel("public", "1.1", None).unwrap_err(),
        pusher
            .authorize_channel("presence-a", "1.1", None)
            .unwrap_err(),
        pusher
            .authenticate_user("x", &UserData::new("a"))
            .unwrap_err(),
        pusher
            .decrypt(
                "private-encrypted-a",
                "{\"nonce\":\"AA==\",\"ciphertext\":\"AA==\"}",
            )
            .unwrap_err(),
        Pusher::builder("1", "k", SECRET)
            .encryption_master_key_base64("bad")
            .build()
            .unwrap_err(),
        Pusher::from_url(&format!("ftp://k:{SECRET}@h/apps/1")).unwrap_err(),
        Pusher::from_url(&format!("http://k:{SECRET}@h/apps/1?x")).unwrap_err(),
    ];
    for e in &bad {
        seen.push(format!("{e} {e:?}"));
    }
    seen.push(format!(
        "{:?}",
        PusherUrl::parse(&format!("http://k:{SECRET}@h/apps/1")).unwrap()
    ));
    seen.push(format!(
        "{:?}",
        pusher::encryption::MasterKey::from_base64(MASTER_B64).unwrap()
    ));
    seen.push(format!(
        "{:?}",
        Pusher::builder("1", "k", SECRET).encryption_master_key_base64(MASTER_B64)
    ));

    // Successful calls log too.
    pusher.trigger("a", "e", "x").await.unwrap();
    pusher
        .trigger_batch(&[BatchEvent::new("private-encrypted-a", "e", "x").unwrap()])
        .await
        .unwrap();
    let member = PresenceData::new("u");
    let auth = pusher
        .authorize_channel("presence-a", "1.1", Some(&member))
        .unwrap();
    seen.push(format!("{auth:?}"));

    // Webhooks: every rejection, and the expected signature must never be printed.
    let body = br#"{"time_ms":1,"events":[]}"#;
    let expected = pusher::sign_webhook(SECRET, body);
    for (k, s) in [
        (None, None),
        (Some("key"), None),
        (Some("key"), Some("zz")),
        (Some("nope"), Some(expected.as_str())),
        (Some("key"), Some(&"0".repeat(64)[..])),
        (Some("key"), Some(expected.as_str())),
    ] {
        let e = pusher.validate_webhook(k, s, body).unwrap_err();
        seen.push(format!("{e} {e:?} {}", e.reason()));
    }

    tokio::time::sleep(Duration::from_millis(10)).await;
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("pusher"),
        "tracing output was captured: {logs}"
    );
    // The spans carry what an operator needs: channel count, event name, method, path, status, latency.
    for field in [
        "pusher.trigger{channels=1 event=\"e\"}",
        "pusher.trigger_batch{events=1}",
        "pusher.request{method=\"POST\" path=/events",
        "status=200",
        "latency_ms=",
    ] {
        assert!(logs.contains(field), "{field} is not in the logs: {logs}");
    }
    let extra = vec![expected];
    for s in &seen {
        assert_clean("error/debug text", s, &extra);
    }
    assert_clean("tracing output", &logs, &extra);
}

/// Library log levels: a request that fails (after retries), a refused webhook and a stopped chunked
/// trigger reach the caller as a `Result`, so the library logs them at DEBUG, never INFO or WARN.
#[tokio::test]
async fn outcomes_returned_to_the_caller_are_logged_below_info() {
    let _one_at_a_time = SUBSCRIBER_TESTS.lock().await;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rec = RecordingBackend::new();
    let pusher = Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .retry(
            pusher::RetryPolicy::default()
                .delays(Duration::from_millis(1), Duration::from_millis(2)),
        )
        .max_data_bytes(200)
        .build()
        .unwrap();
    // A GET retried twice, then failing.
    for _ in 0..3 {
        rec.respond(503, "busy");
    }
    assert!(pusher.channels_info(None, &[]).await.is_err());
    // A POST that is not retried.
    rec.respond(500, "boom");
    assert!(pusher.trigger("a", "e", "x").await.is_err());
    // A chunked trigger whose second chunk fails.
    rec.respond(200, "{}");
    rec.respond(400, "no");
    let big = "x".repeat(500);
    let opts = TriggerOptions::new().chunked(true);
    assert!(pusher.trigger_with("a", "e", &big, &opts).await.is_err());
    // A refused webhook.
    assert!(
        pusher
            .validate_webhook(Some("key"), Some("00"), b"{}")
            .is_err()
    );
    assert_eq!(rec.requests().len(), 6, "every attempt was made");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.is_empty(), "logged at INFO or above: {text}");
}
