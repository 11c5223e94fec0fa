//! `PusherUrl::parse` and `Pusher::from_url` with arbitrary text (the whole input, decoded lossily).
//!
//! Properties beyond "no panic": a parsed URL's parts are consistent (scheme ↔ TLS, a valid app id, a
//! non-empty key); `Debug` never shows a secret; errors never quote the input (it may hold the secret); a
//! built client has a base URL that parses, and `client_options()` works.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pusher::{Pusher, PusherUrl};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match PusherUrl::parse(&text) {
        Ok(u) => {
            assert!(!u.key.is_empty());
            assert!(!u.app_id.is_empty() && u.app_id.len() <= 128);
            assert!(!u.host.is_empty());
            let secret = u.secret.expose().to_owned();
            let debug = format!("{u:?}");
            if secret.len() >= 6 {
                let others = format!("{:?}{:?}{:?}", u.app_id, u.key, u.host);
                if !others.contains(&secret) && !"PusherUrl app_id key secret host port use_tls redacted Some None true false".contains(&secret) {
                    assert!(!debug.contains(&secret), "Debug shows the secret: {debug}");
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            if text.trim().len() >= 12 {
                assert!(!msg.contains(text.trim()), "error quotes the input: {msg}");
            }
        }
    }
    match Pusher::from_url(&text) {
        Ok(p) => {
            url_parses(p.base_url());
            let _ = p.client_options();
            let _ = format!("{p:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

fn url_parses(base: &str) {
    assert!(
        base.starts_with("http://") || base.starts_with("https://"),
        "odd base URL {base:?}"
    );
    assert!(!base.ends_with('/'), "base URL ends with '/': {base:?}");
}
