//! Request signing for the Channels HTTP API: pure functions, no I/O.
//!
//! The string to sign is `METHOD\nPATH\nQUERY`, where `PATH` is the full path including `/apps/{app_id}`
//! and `QUERY` holds every parameter except `auth_signature`, keys lowercased, sorted by key (byte order,
//! which is Unicode code-point order), written `k=v` unescaped and joined with `&`. The signature is the
//! lowercase hex HMAC-SHA256 of that string under the app secret.
//!
//! `body_md5` is added only when the request has a body (every POST, even an empty one), never on GET:
//! sockudo rejects `body_md5` on GET and requires it on POST, and Pusher accepts both.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::error::{Error, Result};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The query parameters the signing adds; a caller's own parameter may not use these names.
pub const RESERVED_PARAMS: [&str; 5] = [
    "auth_key",
    "auth_timestamp",
    "auth_version",
    "auth_signature",
    "body_md5",
];

/// A signed query: the parameters to send, in signing order, with `auth_signature` last.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedQuery {
    /// Every parameter to send (lowercased keys, sorted), `auth_signature` last.
    pub params: Vec<(String, String)>,
    /// The exact string that was signed (useful for debugging a signature mismatch; contains no secret).
    pub string_to_sign: String,
}

impl SignedQuery {
    /// The `auth_signature` value.
    pub fn signature(&self) -> &str {
        self.params
            .last()
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The query string as sent on the wire: values percent-encoded (the server decodes them before
    /// checking the signature).
    pub fn to_query_string(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::with_capacity(256));
        for (k, v) in &self.params {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

/// Lowercase hex MD5 of `body`.
pub fn body_md5(body: &[u8]) -> String {
    let digest: [u8; 16] = Md5::digest(body).into();
    let mut out = String::with_capacity(32);
    push_hex(&mut out, &digest);
    out
}

/// Low-level: not part of the documented API (the crate's own tests and benchmarks use it). To sign a
/// webhook use [`sign_webhook`](crate::sign_webhook); requests are signed by the client.
/// Lowercase hex HMAC-SHA256 of `message` under `secret`.
#[doc(hidden)]
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &hmac_sha256(secret, message));
    out
}

/// Low-level: not part of the documented API (the crate's own tests and benchmarks use it). To sign a
/// webhook use [`sign_webhook`](crate::sign_webhook); requests are signed by the client.
/// Raw HMAC-SHA256 of `message` under `secret`.
#[doc(hidden)]
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = keyed_mac(secret);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Low-level: not part of the documented API (the crate's own tests and benchmarks use it). To sign a
/// webhook use [`sign_webhook`](crate::sign_webhook); requests are signed by the client.
/// Checks `expected` (raw 32 bytes) against the HMAC of `message` in constant time
/// (with [`constant_time_eq`]).
#[doc(hidden)]
pub fn verify_hmac_sha256(secret: &[u8], message: &[u8], expected: &[u8]) -> bool {
    constant_time_eq(&hmac_sha256(secret, message), expected)
}

/// Low-level: not part of the documented API (the crate compares signatures with it, and a test checks
/// that nothing else does).
/// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths.
///
/// This is the one function the crate compares signatures, MACs and credentials with (webhook signatures
/// and keys, channel and user authentication signatures); a test (`constant_time` in `tests/it`) fails if
/// one is compared with `==` or anything else that stops at the first difference.
///
/// Lengths are not secret (a signature is always 32 bytes, 64 in hex), so inputs of different lengths
/// return `false` at once. Otherwise every byte pair is read and the differences are OR-ed together
/// behind [`std::hint::black_box`], so the compiler cannot turn the loop into an early exit.
///
/// ```
/// use pusher::signing::constant_time_eq;
/// assert!(constant_time_eq(b"abc", b"abc"));
/// assert!(!constant_time_eq(b"abc", b"abd"));
/// assert!(!constant_time_eq(b"abc", b"ab"));
/// ```
#[doc(hidden)]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    std::hint::black_box(diff) == 0
}

/// An HMAC-SHA256 already keyed with `secret`. The client keeps one and clones it per message, which
/// saves hashing the padded key (two of the three or four SHA-256 blocks of a short message) each time.
pub(crate) fn keyed_mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails; fall back to an empty key rather than panic.
    HmacSha256::new_from_slice(secret).unwrap_or_else(|_| {
        <HmacSha256 as hmac::digest::KeyInit>::new(&hmac::digest::Key::<HmacSha256>::default())
    })
}

/// The two lowercase hex digits of every byte, so a byte costs one table read.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0x0f]];
        i += 1;
    }
    table
};

/// Writes the lowercase hex of a 32-byte digest (an HMAC-SHA256) into a stack buffer.
fn hex32(digest: &[u8; 32]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    for (pair, b) in hex.chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    hex
}

/// Appends the lowercase hex of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let hex = &mut buf[..chunk.len() * 2];
        for (pair, b) in hex.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
        }
        // Hex digits are ASCII, so this is always valid UTF-8.
        out.push_str(std::str::from_utf8(hex).unwrap_or_default());
    }
}

/// Appends `"<key>:<hex HMAC of the parts>"` to `out`: the `auth` value of channel and user
/// authentication, signed without first joining the parts into one string.
pub(crate) fn push_auth(out: &mut String, mac: &HmacSha256, key: &str, parts: &[&[u8]]) {
    let mut mac = mac.clone();
    for part in parts {
        mac.update(part);
    }
    let sig: [u8; 32] = mac.finalize().into_bytes().into();
    let hex = hex32(&sig);
    out.reserve(key.len() + 1 + hex.len());
    out.push_str(key);
    out.push(':');
    // Hex digits are ASCII, so this is always valid UTF-8.
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

/// The parameters of a request, sorted for signing, and the string that was signed.
struct Prepared<'a> {
    /// Every parameter but `auth_signature`: lowercased keys, sorted.
    params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    string_to_sign: String,
    /// Lowercase hex of the signature.
    signature: String,
}

fn prepare<'a>(
    mac: &HmacSha256,
    key: &'a str,
    timestamp: u64,
    method: &str,
    path: &str,
    params: &[(&'a str, &'a str)],
    body: Option<&[u8]>,
) -> Result<Prepared<'a>> {
    let mut all: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(params.len() + 4);
    for (k, v) in params {
        let k: Cow<'a, str> = if k.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
            Cow::Borrowed(k)
        } else {
            Cow::Owned(k.to_lowercase())
        };
        if RESERVED_PARAMS.contains(&k.as_ref()) {
            return Err(Error::validation(
                "params",
                format!("{k} is set by the signing and cannot be overridden"),
            ));
        }
        if all.iter().any(|(existing, _)| *existing == k) {
            return Err(Error::validation(
                "params",
                format!("duplicate parameter {k}"),
            ));
        }
        all.push((k, Cow::Borrowed(v)));
    }
    all.push((Cow::Borrowed("auth_key"), Cow::Borrowed(key)));
    all.push((
        Cow::Borrowed("auth_timestamp"),
        Cow::Owned(timestamp.to_string()),
    ));
    all.push((Cow::Borrowed("auth_version"), Cow::Borrowed("1.0")));
    if let Some(body) = body {
        all.push((Cow::Borrowed("body_md5"), Cow::Owned(body_md5(body))));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));

    let mut string_to_sign = String::with_capacity(method.len() + path.len() + 160);
    string_to_sign.extend(method.chars().map(|c| c.to_ascii_uppercase()));
    string_to_sign.push('\n');
    string_to_sign.push_str(path);
    string_to_sign.push('\n');
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            string_to_sign.push('&');
        }
        string_to_sign.push_str(k);
        string_to_sign.push('=');
        string_to_sign.push_str(v);
    }
    let mut mac = mac.clone();
    mac.update(string_to_sign.as_bytes());
    let mut signature = String::with_capacity(64);
    push_hex(&mut signature, &mac.finalize().into_bytes());
    Ok(Prepared {
        params: all,
        string_to_sign,
        signature,
    })
}

/// Signs an HTTP API request.
///
/// * `method` is upper-cased; `path` is the full path (`/apps/{id}/events`).
/// * `params` are the caller's query parameters; keys are lowercased, and a reserved key is refused.
/// * `body` is `Some` for a request with a body (then `body_md5` is added, even for an empty body).
///
/// ```
/// use pusher::signing::sign;
/// let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
/// let q = sign("278d425bdf160c739803", b"7ad3773142a6692b25b8", 1353088179,
///              "POST", "/apps/3/events", &[], Some(body)).unwrap();
/// assert_eq!(q.signature(), "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c");
/// ```
pub fn sign(
    key: &str,
    secret: &[u8],
    timestamp: u64,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<SignedQuery> {
    let p = prepare(
        &keyed_mac(secret),
        key,
        timestamp,
        method,
        path,
        params,
        body,
    )?;
    let mut params: Vec<(String, String)> = p
        .params
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.push(("auth_signature".into(), p.signature));
    Ok(SignedQuery {
        params,
        string_to_sign: p.string_to_sign,
    })
}

/// Signs a request like [`sign`] and appends its query string (as [`SignedQuery::to_query_string`] writes
/// it) to `out`, without building the [`SignedQuery`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_signed_query(
    out: &mut String,
    mac: &HmacSha256,
    key: &str,
    timestamp: u64,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<()> {
    let p = prepare(mac, key, timestamp, method, path, params, body)?;
    let pairs = p
        .params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .chain(std::iter::once(("auth_signature", p.signature.as_str())));
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_form_encoded(out, k);
        out.push('=');
        push_form_encoded(out, v);
    }
    Ok(())
}

/// Appends `s` form-urlencoded (as `form_urlencoded` does), copying it whole when nothing needs escaping
/// (hex digests, timestamps, most keys).
fn push_form_encoded(out: &mut String, s: &str) {
    /// The bytes `form_urlencoded` leaves as they are.
    const UNRESERVED: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            table[i] = b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
            i += 1;
        }
        table
    };
    if s.bytes()
        .fold(true, |plain, b| plain & UNRESERVED[usize::from(b)])
    {
        out.push_str(s);
    } else {
        out.extend(form_urlencoded::byte_serialize(s.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_example_post() {
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let q = sign(
            "278d425bdf160c739803",
            b"7ad3773142a6692b25b8",
            1353088179,
            "POST",
            "/apps/3/events",
            &[],
            Some(body),
        )
        .unwrap();
        assert_eq!(body_md5(body), "ec365a775a4cd0599faeb73354201b6f");
        assert_eq!(
            q.signature(),
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn pushed_query_matches_signed_query() {
        let params: &[(&str, &str)] = &[
            ("Info", "user_count,subscription_count"),
            ("filter_by_prefix", "presence- a+b&c=d/é*-._~"),
            ("ÉTÉ", "x y"),
        ];
        for (key, params, body) in [
            ("key", params, None),
            ("k&ey+ é", params, Some(&b"{}"[..])),
            ("278d425bdf160c739803", &[][..], Some(&b""[..])),
        ] {
            let q = sign(
                key,
                b"secret",
                1353088179,
                "pOst",
                "/apps/3/events",
                params,
                body,
            )
            .unwrap();
            let mut pushed = String::new();
            push_signed_query(
                &mut pushed,
                &keyed_mac(b"secret"),
                key,
                1353088179,
                "pOst",
                "/apps/3/events",
                params,
                body,
            )
            .unwrap();
            assert_eq!(pushed, q.to_query_string());
        }
        let mut out = String::new();
        push_hex(&mut out, &[0x00, 0x9f, 0xff]);
        assert_eq!(out, "009fff");
    }

    #[test]
    fn hex_matches_the_hex_crate_for_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = String::new();
        push_hex(&mut out, &all);
        assert_eq!(out, hex::encode(&all));
        for chunk in all.chunks_exact(32) {
            let digest: [u8; 32] = chunk.try_into().unwrap();
            assert_eq!(hex32(&digest).as_slice(), hex::encode(chunk).as_bytes());
        }
    }

    #[test]
    fn push_auth_is_key_colon_hmac_of_the_joined_parts() {
        let mac = keyed_mac(b"7ad3773142a6692b25b8");
        let mut out = String::from("kept ");
        push_auth(
            &mut out,
            &mac,
            "278d425bdf160c739803",
            &[b"1234.1234", b":", b"private-foobar"],
        );
        assert_eq!(
            out,
            format!(
                "kept 278d425bdf160c739803:{}",
                hmac_sha256_hex(b"7ad3773142a6692b25b8", b"1234.1234:private-foobar")
            )
        );
    }

    #[test]
    fn get_never_has_body_md5() {
        let q = sign("k", b"s", 1, "GET", "/apps/1/channels", &[], None).unwrap();
        assert!(q.params.iter().all(|(k, _)| k != "body_md5"));
    }

    #[test]
    fn empty_post_body_has_md5_of_empty_string() {
        let q = sign("k", b"s", 1, "POST", "/apps/1/x", &[], Some(b"")).unwrap();
        assert!(
            q.params
                .contains(&("body_md5".into(), "d41d8cd98f00b204e9800998ecf8427e".into()))
        );
    }

    #[test]
    fn reserved_params_are_refused() {
        let err = sign("k", b"s", 1, "GET", "/p", &[("AUTH_KEY", "x")], None).unwrap_err();
        assert!(matches!(
            err,
            Error::Validation {
                field: "params",
                ..
            }
        ));
    }

    #[test]
    fn rust_crate_get_vector() {
        // GET /channels from the old Rust crate's tests: values signed unescaped.
        let q = sign(
            "key",
            b"secret",
            1427034994,
            "GET",
            "/apps/102015/channels",
            &[("filter_by_prefix", "presence-"), ("info", "user_count")],
            None,
        )
        .unwrap();
        assert_eq!(
            q.signature(),
            "0ba82990cff5311f09d88d8c9317d1ceb1b2e085c01deb65618f4eaea1624d89"
        );
        let q = sign(
            "key",
            b"secret",
            1427053326,
            "GET",
            "/apps/102015/channels/presence-session-d41a439c438a100756f5-4bf35003e819bb138249-ROpCFmgFhXY",
            &[("info", "user_count,subscription_count")],
            None,
        )
        .unwrap();
        assert_eq!(
            q.signature(),
            "c39bf2e1ef8a4cbfc8e283daa610862cf01fd250437476e1ff4100677ebd3dab"
        );
        assert!(
            q.to_query_string()
                .contains("info=user_count%2Csubscription_count")
        );
    }

    #[test]
    fn signature_is_last_and_keys_sorted() {
        let q = sign(
            "k",
            b"s",
            1,
            "get",
            "/p",
            &[("Zeta", "1"), ("alpha", "2")],
            None,
        )
        .unwrap();
        let keys: Vec<_> = q.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alpha",
                "auth_key",
                "auth_timestamp",
                "auth_version",
                "zeta",
                "auth_signature"
            ]
        );
        assert!(q.string_to_sign.starts_with("GET\n/p\n"));
    }
}
