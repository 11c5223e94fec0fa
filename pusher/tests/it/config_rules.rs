//! Configuration that would be unsafe or ambiguous is refused at `build()` with a typed error: an empty
//! secret (anyone could forge webhooks and auth signatures with it) and conflicting transport options.

use pusher::testing::RecordingBackend;
use pusher::{Error, Pusher, PusherUrl};

#[track_caller]
fn assert_config_error<T: std::fmt::Debug>(r: Result<T, Error>, field: &str) {
    match r {
        Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected a config error on {field}, got {other:?}"),
    }
}

#[test]
fn an_empty_secret_is_refused_everywhere() {
    assert_config_error(Pusher::builder("1", "key", "").build(), "secret");
    for url in [
        "http://key:@api.pusherapp.com/apps/123",
        "https://key:@127.0.0.1:6001/apps/app-id",
    ] {
        assert_config_error(PusherUrl::parse(url), "url");
        assert_config_error(Pusher::from_url(url), "url");
    }
    // An extra webhook token with an empty secret (or key) would accept webhooks anyone can sign.
    assert_config_error(
        Pusher::builder("1", "key", "secret")
            .extra_webhook_token("old-key", "")
            .build(),
        "extra_webhook_token",
    );
    assert_config_error(
        Pusher::builder("1", "key", "secret")
            .extra_webhook_token("", "old-secret")
            .build(),
        "extra_webhook_token",
    );
    assert!(
        Pusher::builder("1", "key", "secret")
            .extra_webhook_token("old-key", "old-secret")
            .build()
            .is_ok()
    );
}

/// `from_env` reads the process environment, which a test cannot change safely (the crate forbids
/// `unsafe`): the test re-runs itself as a child process with the variable set.
#[test]
fn an_empty_secret_in_the_environment_is_refused() {
    const VAR: &str = "PUSHER_IT_EMPTY_SECRET_URL";
    if let Ok(url) = std::env::var(VAR) {
        assert_eq!(url, "http://key:@127.0.0.1/apps/1");
        assert_config_error(Pusher::from_env_var(VAR), "url");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "config_rules::an_empty_secret_in_the_environment_is_refused",
            "--nocapture",
        ])
        .env(VAR, "http://key:@127.0.0.1/apps/1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn conflicting_transport_options_are_refused() {
    let b = || Pusher::builder("1", "key", "secret");
    let client = reqwest::Client::new;
    let rec = RecordingBackend::new;
    assert_config_error(b().backend(rec()).http_client(client()).build(), "backend");
    assert_config_error(
        b().backend(rec()).proxy("http://127.0.0.1:3128").build(),
        "proxy",
    );
    assert_config_error(
        b().http_client(client())
            .proxy("http://127.0.0.1:3128")
            .build(),
        "proxy",
    );
    assert_config_error(
        b().backend(rec()).max_response_bytes(1024).build(),
        "backend",
    );
    // Each alone is fine, and so is a response cap on the built-in backend, with or without a client.
    assert!(b().backend(rec()).build().is_ok());
    assert!(b().http_client(client()).build().is_ok());
    assert!(b().proxy("http://127.0.0.1:3128").build().is_ok());
    assert!(b().max_response_bytes(1024).build().is_ok());
    assert!(
        b().http_client(client())
            .max_response_bytes(1024)
            .build()
            .is_ok()
    );
    assert!(
        b().proxy("http://127.0.0.1:3128")
            .max_response_bytes(1024)
            .build()
            .is_ok()
    );
}

/// An international host is sent in its ASCII (punycode) form, and a host no request line can carry is
/// refused when the client is built, not by every request after.
#[test]
fn hosts_are_sent_in_ascii_and_unsendable_ones_refused_at_build() {
    let pusher = Pusher::builder("1", "key", "secret")
        .host("bücher.example")
        .build()
        .unwrap();
    assert_eq!(pusher.base_url(), "https://xn--bcher-kva.example");
    let request = pusher
        .trigger_request("c", "e", "d", &pusher::TriggerOptions::new())
        .unwrap();
    assert!(
        request
            .url
            .starts_with("https://xn--bcher-kva.example/apps/1/events?"),
        "{}",
        request.url
    );
    for url in [
        "http://key:secret@a{b}:9/apps/1",
        "http://key:secret@a%7Bb:9/apps/1",
    ] {
        let e = Pusher::from_url(url).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{url}: {e:?}");
    }
}
