//! `PusherUrl::parse` with arbitrary text (the whole input, decoded lossily), then the client that
//! `Pusher::from_url` would build from it.
//!
//! `Pusher::from_url(text)` is `PusherUrl::parse(text)?.into_builder().build()`; this target runs the same
//! steps with a `RecordingBackend` as the builder's backend, so an execution does not construct a reqwest
//! client (its connection pool, resolver and proxy settings do not depend on the URL, and building one per
//! input held the target at ~900 executions/s). Every check `build()` makes of the URL's parts runs as in
//! `from_url`.
//!
//! Properties beyond "no panic": a parsed URL has a key, a host and a valid app id; its `Debug` does not
//! depend on the secret; a parse error is one of the fixed reasons (never a quote of the URL, which holds
//! the secret); a client refused after the URL parsed gives the same error whatever the secret; a built
//! client has an http(s) base URL, and `client_options()` works.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pusher::testing::RecordingBackend;
use pusher::{Error, PusherUrl, Result, Secret};

/// Every reason `PusherUrl::parse` gives: fixed texts, so an error can never quote the URL (and its
/// secret). Update the list when a message is reworded.
const PARSE_REASONS: [&str; 13] = [
    "is not a URL of the form https://KEY:SECRET@HOST/apps/APP_ID",
    "scheme must be http or https",
    "must not have a query string or fragment",
    "key is not valid UTF-8",
    "has no key (https://KEY:SECRET@HOST/apps/APP_ID)",
    "has no secret (https://KEY:SECRET@HOST/apps/APP_ID)",
    "secret is not valid UTF-8",
    "has an empty secret (https://KEY:SECRET@HOST/apps/APP_ID)",
    "has no host",
    "path must be /apps/APP_ID or /PREFIX/apps/APP_ID",
    "path prefix must not end with '/' (/PREFIX/apps/APP_ID)",
    "path prefix must hold only [A-Za-z0-9-._~!$&'()*+,;=:@/], without '.', '..' or empty segments",
    "must be 1-128 characters of [A-Za-z0-9-_.~], not '.' or '..'",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = PusherUrl::parse(&text);
    match &parsed {
        Ok(u) => {
            assert!(!u.key.is_empty());
            assert!(!u.app_id.is_empty() && u.app_id.len() <= 128);
            assert!(!u.host.is_empty());
            // Debug redacts the secret: it is the same whatever the secret.
            let mut other = u.clone();
            other.secret = Secret::new("another secret");
            assert_eq!(
                format!("{u:?}"),
                format!("{other:?}"),
                "Debug shows the secret"
            );
        }
        Err(e) => match e {
            Error::Config { field, reason, .. } => {
                assert!(matches!(*field, "url" | "app_id"), "field {field}");
                assert!(
                    PARSE_REASONS.contains(&reason.as_str()),
                    "unexpected reason (does it quote the URL?): {reason}"
                );
            }
            other => panic!("PusherUrl::parse gave a non-config error: {other:?}"),
        },
    }
    let Ok(u) = parsed else { return };
    match build(u.clone()) {
        Ok(p) => {
            url_parses(p.base_url());
            let _ = p.client_options();
            let _ = format!("{p:?}");
        }
        Err(e) => {
            // A client refused after the URL parsed: the error does not depend on the secret.
            let mut other = u;
            other.secret = Secret::new("another secret");
            let again = build(other).expect_err("the same URL with another secret is refused too");
            assert_eq!(
                e.to_string(),
                again.to_string(),
                "the error depends on the secret"
            );
        }
    }
});

/// What `Pusher::from_url` does after parsing, with a backend that needs no HTTP client.
fn build(u: PusherUrl) -> Result<pusher::Pusher> {
    u.into_builder().backend(RecordingBackend::new()).build()
}

fn url_parses(base: &str) {
    assert!(
        base.starts_with("http://") || base.starts_with("https://"),
        "odd base URL {base:?}"
    );
    assert!(!base.ends_with('/'), "base URL ends with '/': {base:?}");
}
