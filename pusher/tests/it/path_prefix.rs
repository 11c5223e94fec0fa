//! Servers behind a path prefix: every request goes to `PREFIX/apps/ID/...`, and the signature covers
//! `/apps/ID/...` only (what the server checks once its reverse proxy has stripped the prefix), checked
//! byte for byte with an independent HMAC.

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Pusher};

use crate::{check_signed, hmac_hex};

fn client(rec: &RecordingBackend, prefix: &str) -> Pusher {
    Pusher::builder("42", "key", "secret")
        .host("example.com")
        .path_prefix(prefix)
        .backend(rec.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_request_goes_under_the_prefix_and_signs_the_path_without_it() {
    let rec = RecordingBackend::new();
    let p = client(&rec, "/pusher/v1/");
    p.trigger("a", "e", "x").await.unwrap();
    p.trigger_batch(&[BatchEvent::new("a", "e", "x").unwrap()])
        .await
        .unwrap();
    p.channels_info(Some("presence-"), &["user_count"])
        .await
        .unwrap();
    p.channel_info("a", &[]).await.unwrap();
    p.terminate_user_connections("alice").await.unwrap();
    let _: serde_json::Value = p.get("/channels/a:b", &[("x", "1")]).await.unwrap();
    let expected = [
        ("POST", "/apps/42/events"),
        ("POST", "/apps/42/batch_events"),
        ("GET", "/apps/42/channels"),
        ("GET", "/apps/42/channels/a"),
        ("POST", "/apps/42/users/alice/terminate_connections"),
        ("GET", "/apps/42/channels/a:b"),
    ];
    let requests = rec.requests();
    assert_eq!(requests.len(), expected.len());
    for (r, (method, signed_path)) in requests.iter().zip(expected) {
        assert!(
            r.request
                .url
                .starts_with("https://example.com/pusher/v1/apps/42/"),
            "{}",
            r.request.url
        );
        assert_eq!(r.path(), format!("/pusher/v1{signed_path}"));
        check_signed(
            signed_path,
            method,
            signed_path,
            &r.query(),
            r.request.body.as_deref(),
            "key",
            "secret",
        );
        // The prefixed path is not what is signed.
        let query = r.query();
        let signature = &query.iter().find(|(k, _)| k == "auth_signature").unwrap().1;
        let mut pairs: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "auth_signature")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.sort();
        let prefixed = format!("{method}\n/pusher/v1{signed_path}\n{}", pairs.join("&"));
        assert_ne!(*signature, hmac_hex(b"secret", prefixed.as_bytes()));
    }
}

/// The same request with and without a prefix is signed identically (same timestamp): only the URL
/// differs.
#[test]
fn the_prefix_changes_the_url_and_not_the_signed_bytes() {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let plain = Pusher::builder("42", "key", "secret")
        .build()
        .unwrap()
        .with_clock(move || at);
    let prefixed = Pusher::from_url("https://key:secret@api-mt1.pusher.com/pusher/apps/42")
        .unwrap()
        .with_clock(move || at);
    let a = plain
        .trigger_request("a", "e", "x", &Default::default())
        .unwrap();
    let b = prefixed
        .trigger_request("a", "e", "x", &Default::default())
        .unwrap();
    assert_eq!(
        b.url,
        a.url.replacen("/apps/42", "/pusher/apps/42", 1),
        "only the prefix differs"
    );
    assert_eq!(a.body, b.body);
}
