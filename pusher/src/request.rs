//! Signed requests: the URL, signed query string and headers of one API request, built from the client's
//! endpoint and the time. Pure functions, no I/O; the facade ([`crate::Pusher`]) sends what they give.

use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::http::{HttpRequest, Method};
use crate::signing::{HmacSha256, push_signed_query};

/// Where and as whom requests are signed and sent.
pub(crate) struct Endpoint {
    /// The app key, sent as `auth_key`.
    pub key: String,
    /// HMAC-SHA256 keyed with the secret, cloned for each signature.
    pub mac: HmacSha256,
    /// `https://host[:port]`.
    pub base_url: String,
    /// The path the server is mounted under (`/pusher`), or empty: sent, not signed.
    pub path_prefix: String,
    /// `/apps/{id}`.
    pub app_path: String,
    /// The timeout of each request.
    pub timeout: Duration,
}

impl Endpoint {
    /// Signs a request for `sub_path` (below `/apps/{id}`) at `now_secs`. The URL is
    /// `base_url + path_prefix + /apps/{id} + sub_path`; the signature covers `/apps/{id} + sub_path`, the
    /// path the server sees once its reverse proxy has stripped the prefix.
    pub fn signed(
        &self,
        now_secs: u64,
        method: Method,
        sub_path: &str,
        params: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<HttpRequest> {
        // Every path (the typed API's, with names in it, and `get`/`post`'s) is sent as signed.
        check_sub_path(sub_path)?;
        let app_path = &self.app_path;
        let base_url = &self.base_url;
        let prefix = &self.path_prefix;
        let mut url = String::with_capacity(
            base_url.len() + prefix.len() + app_path.len() + sub_path.len() + 200,
        );
        url.push_str(base_url);
        url.push_str(prefix);
        url.push_str(app_path);
        url.push_str(sub_path);
        let path = &url[base_url.len() + prefix.len()..];
        let mut query = String::with_capacity(200);
        push_signed_query(
            &mut query,
            &self.mac,
            &self.key,
            now_secs,
            method.as_str(),
            path,
            params,
            body.as_deref(),
        )?;
        url.push('?');
        url.push_str(&query);
        Ok(HttpRequest::new(method, url, body, self.timeout))
    }
}

/// Which bytes a request path may hold: RFC 3986's unreserved characters, sub-delimiters, `:`, `@` and
/// `/`. The URL parser sends each of them as it is (no percent-encoding, no `\` to `/`), so the path that
/// is signed is the path that goes on the wire.
const PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        i += 1;
    }
    table
};

/// Checks a path below `/apps/{id}` so that it is sent exactly as signed: it starts with `/`, holds only
/// [`PATH_BYTES`], and has no `.` or `..` segment (which the URL layer would remove). One pass.
pub(crate) fn check_sub_path(sub_path: &str) -> Result<()> {
    let bad = || {
        Error::validation(
            "path",
            "must start with '/' and hold only [A-Za-z0-9-._~!$&'()*+,;=:@/], without '.' or '..' segments",
        )
    };
    let bytes = sub_path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(bad());
    }
    // `dots` counts the dots of the current segment while it holds nothing else (-1 once it does).
    let mut dots: i32 = 0;
    for &b in &bytes[1..] {
        if !PATH_BYTES[usize::from(b)] {
            return Err(bad());
        }
        match b {
            b'/' => {
                if dots == 1 || dots == 2 {
                    return Err(bad());
                }
                dots = 0;
            }
            b'.' if dots >= 0 => dots = dots.saturating_add(1),
            _ => dots = -1,
        }
    }
    if dots == 1 || dots == 2 {
        return Err(bad());
    }
    Ok(())
}
