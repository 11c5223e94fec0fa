//! Integration tests of the `pusher` core crate, as one test binary:
//!
//! * `vectors`: known-answer tests from `tests/data/vectors.json` (the official Python and Node libraries'
//!   results), checked case by case;
//! * `http`: real HTTP/1.1 against a small server on 127.0.0.1 started inside the test;
//! * `regressions`: one test per bug found by fuzzing (`fuzz/`);
//! * `send_futures`, `fanout`, `paths`, `retries`, `config_rules`, `event_data`, `limits`: the client's
//!   contracts (spawnable futures, all-or-nothing fan-out validation, paths sent as signed, retries
//!   without tokio and `Retry-After`, refused configurations, which data is sent as is, the API limits).
//! * `tls`, `proxy`, `blocking`: HTTPS through each TLS backend compiled in (a throwaway CA, a rustls server
//!   on loopback), proxies (explicit and from the environment), and the blocking client over real sockets;
//!   their servers live in `local` (plain threads, so that synchronous tests can use them).
//! * `user_limits`: the limits on names, ids and member data, the same for every operation.
//! * `webhooks`: what a correctly signed webhook must never lose, one test per issue item.
//! * `chunked`: data over the limit as `chunked-<event>` events (bytes, UTF-8 boundaries, encryption, keys).
//! * `path_prefix`: servers mounted under a path: the prefix is sent, the signature covers `/apps/...` only.
//! * `idempotency`: the POST retry rule table, idempotency keys per call, per batch event and per fan-out chunk.
//! * `constant_time`: signatures are compared only with `signing::constant_time_eq` (a scan of the sources).
//! * `sans_io`: every `*_request` method signs exactly the request its sending method sends.
//!
//! Signatures are re-checked here with `hmac`/`sha2`/`md-5` directly, independently of `pusher::signing`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "blocking")]
mod blocking;
mod chunked;
mod config_rules;
mod constant_time;
mod event_data;
mod fanout;
mod faults;
mod http;
mod idempotency;
mod limits;
#[allow(dead_code)]
mod local;
mod path_prefix;
mod paths;
mod proxy;
mod publisher;
mod regressions;
mod retries;
mod sans_io;
mod send_futures;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;
mod user_limits;
mod vectors;
mod webhooks;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// Lowercase hex HMAC-SHA256, computed here rather than by the crate under test.
pub fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Lowercase hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Checks a signed API request the way a server does: `auth_key`, `auth_version`, `auth_timestamp`, then
/// `body_md5` (present exactly when there is a body, and right), then `auth_signature` recomputed over
/// `METHOD\nPATH\nk=v&…` (decoded values, keys sorted, `auth_signature` left out). Returns `auth_timestamp`.
#[track_caller]
pub fn check_signed(
    what: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: Option<&[u8]>,
    key: &str,
    secret: &str,
) -> u64 {
    let get = |k: &str| {
        let mut hits = query.iter().filter(|(qk, _)| qk == k);
        let first = hits.next().map(|(_, v)| v.as_str());
        assert!(hits.next().is_none(), "{what}: parameter {k} appears twice");
        first
    };
    assert_eq!(get("auth_key"), Some(key), "{what}: auth_key");
    assert_eq!(get("auth_version"), Some("1.0"), "{what}: auth_version");
    let ts = get("auth_timestamp").unwrap_or_else(|| panic!("{what}: no auth_timestamp"));
    let ts: u64 = ts
        .parse()
        .unwrap_or_else(|_| panic!("{what}: auth_timestamp {ts:?}"));
    match body {
        Some(b) => assert_eq!(
            get("body_md5"),
            Some(md5_hex(b).as_str()),
            "{what}: body_md5"
        ),
        None => assert_eq!(get("body_md5"), None, "{what}: body_md5 without a body"),
    }
    let signature = get("auth_signature").unwrap_or_else(|| panic!("{what}: no auth_signature"));
    assert!(
        signature.len() == 64
            && signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{what}: auth_signature {signature:?} is not 64 lowercase hex"
    );
    let mut pairs: Vec<(String, &str)> = query
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_lowercase(), v.as_str()))
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let to_sign = format!("{method}\n{path}\n{}", joined.join("&"));
    assert_eq!(
        signature,
        hmac_hex(secret.as_bytes(), to_sign.as_bytes()),
        "{what}: auth_signature does not verify over {to_sign:?}"
    );
    ts
}
