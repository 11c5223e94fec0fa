//! The suite over a real socket: [`SocketHarness`] sends each request as raw HTTP/1.1 bytes over TCP, and
//! [`run_socket`] adds the cases only raw bytes can express (header values that are not UTF-8, paths a
//! test client would normalise, a body that never arrives).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{
    BATCH_AUTH_PATH, FORM, Harness, KEY, MASTER_KEY_B64, NO_SENDER, SECRET, SENDER_PATH,
    TestRequest, TestResponse, USER_HEADER, WEBHOOK_LIMIT, WEBHOOK_PATH, hmac_hex, now_ms,
    probe_name, webhook_body,
};
use crate::integration::{DEFAULT_AUTH_PATH, DEFAULT_USER_AUTH_PATH, SOCKET_ID_HEADER};

/// How long the suite waits for an answer before failing (a guard against a server that waits for a body
/// it should not need, never a performance assertion).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Sends the suite's requests as raw HTTP/1.1 over TCP to an app listening at an address.
#[derive(Debug, Clone, Copy)]
pub struct SocketHarness {
    addr: SocketAddr,
}

impl SocketHarness {
    /// A harness for the app listening at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        SocketHarness { addr }
    }
}

#[async_trait]
impl Harness for SocketHarness {
    async fn call(&self, request: TestRequest) -> TestResponse {
        let headers: Vec<(&str, &[u8])> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let raw = raw_request(request.method, &request.path, &headers, &request.body, true);
        exchange(self.addr, &raw).await
    }
}

/// A request as bytes: the request line, `Host`, `Connection: close`, the headers, `Content-Length` (when
/// `content_length`), then the body.
fn raw_request(
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    content_length: bool,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n")
        .into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if content_length {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Sends `raw`, then reads one response. The connection stays open for writing, so when `raw` holds less
/// body than it declares, the answer must come without the rest.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> TestResponse {
    exchange_with(addr, raw, false).await
}

/// [`exchange`], optionally closing the sending side after `raw` (a client that gives up mid-body).
async fn exchange_with(addr: SocketAddr, raw: &[u8], close_write: bool) -> TestResponse {
    let work = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect to the app");
        stream.write_all(raw).await.expect("send the request");
        if close_write {
            stream.shutdown().await.expect("close the sending side");
        }
        let mut buf = Vec::new();
        loop {
            if let Some(resp) = parse_response(&buf, false) {
                return resp;
            }
            let mut chunk = [0u8; 16 * 1024];
            // A reset counts as the end: after a complete answer that is fine; before one, the parse
            // below fails.
            let n = stream.read(&mut chunk).await.unwrap_or_default();
            if n == 0 {
                return parse_response(&buf, true).unwrap_or_else(|| {
                    panic!(
                        "the connection closed without a complete response: {:?}",
                        String::from_utf8_lossy(&buf)
                    )
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(ANSWER_WITHIN, work)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no answer within {ANSWER_WITHIN:?} to {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            )
        })
}

/// A complete response in `buf`, if there is one (`eof`: the connection closed, so a response without a
/// length ends here).
fn parse_response(buf: &[u8], eof: bool) -> Option<TestResponse> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..head_end]).expect("a UTF-8 response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rest = &buf[head_end + 4..];
    let body = if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().expect("a numeric content-length");
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    let content_type = header("content-type").map(str::to_owned);
    Some(TestResponse {
        status,
        content_type,
        headers,
        body,
    })
}

/// A chunked body, once complete.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Runs the whole suite ([`run`](super::run)) over a socket to the app listening at `addr`, then the cases
/// only raw bytes can send. Returns the number of requests checked.
pub async fn run_socket(addr: SocketAddr) -> usize {
    let mut checked = super::run(&SocketHarness::new(addr)).await;
    checked += header_values_that_are_not_utf8(addr).await;
    checked += webhook_headers_are_checked_before_the_body(addr).await;
    checked += auth_paths_match_exactly(addr).await;
    checked += other_methods_get_405(addr).await;
    checked += a_body_cut_short_is_malformed(addr).await;
    checked += a_sender_socket_id_that_is_not_utf8_is_ignored(addr).await;
    checked
}

/// An `X-Socket-ID` value that is not UTF-8 is ignored like every other header's (Rocket drops it): alone,
/// no sender; followed by a UTF-8 value, that value.
async fn a_sender_socket_id_that_is_not_utf8_is_ignored(addr: SocketAddr) -> usize {
    let h = SOCKET_ID_HEADER;
    let r = send(addr, SENDER_PATH, &[(h, b"1.2\xff")], b"").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, NO_SENDER),
        "X-Socket-ID that is not UTF-8"
    );
    let r = send(addr, SENDER_PATH, &[(h, b"\xff"), (h, b"1.2")], b"").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "1.2"),
        "X-Socket-ID not UTF-8, then a valid one"
    );
    2
}

/// A client that declares more body than it sends and then closes its side: the body is unreadable (400),
/// never taken as complete (actix ends the payload at the peer's close; the integration checks the length).
async fn a_body_cut_short_is_malformed(addr: SocketAddr) -> usize {
    let body = b"socket_id=1.2&channel_name=private-allowed-1";
    let declared = (body.len() + 10).to_string();
    let h: Vec<(&str, &[u8])> = vec![
        ("content-type", b"application/x-www-form-urlencoded"),
        (USER_HEADER, b"ann"),
        ("content-length", declared.as_bytes()),
    ];
    let raw = raw_request("POST", DEFAULT_AUTH_PATH, &h, body, false);
    let r = exchange_with(addr, &raw, true).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "malformed request body"),
        "auth body cut short"
    );
    1
}

/// Sends raw bytes (with a correct `Content-Length`), checks no secret leaks, returns the response.
async fn send(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> TestResponse {
    send_method(addr, "POST", path, headers, body).await
}

async fn send_method(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> TestResponse {
    let r = exchange(addr, &raw_request(method, path, headers, body, true)).await;
    no_leak(&r);
    r
}

fn no_leak(r: &TestResponse) {
    let text = r.text();
    for secret in [SECRET, MASTER_KEY_B64] {
        assert!(
            !text.contains(secret),
            "a response leaks a secret: {text:?}"
        );
    }
}

/// A value that is not UTF-8 is ignored, as Rocket drops it before the crate sees it: a `Content-Type`
/// becomes absent (malformed: 400, after the 413 check), a webhook header missing, and a later UTF-8
/// value of the same header is the one read.
async fn header_values_that_are_not_utf8(addr: SocketAddr) -> usize {
    let form = b"socket_id=1.2&channel_name=private-allowed-1";
    let bad_ct: &[u8] = b"application/x-www-form-urlencoded\xff";
    let user: &[u8] = b"ann";
    let r = send(
        addr,
        DEFAULT_AUTH_PATH,
        &[("content-type", bad_ct), (USER_HEADER, user)],
        form,
    )
    .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "malformed request body"),
        "auth with a Content-Type that is not UTF-8"
    );
    let big = format!(
        "socket_id=1.2&channel_name=private-allowed-1&pad={}",
        "x".repeat(70_000)
    );
    let r = send(
        addr,
        DEFAULT_AUTH_PATH,
        &[("content-type", bad_ct), (USER_HEADER, user)],
        big.as_bytes(),
    )
    .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, "request body too large"),
        "oversized auth body with a Content-Type that is not UTF-8"
    );
    // The first UTF-8 value counts.
    let r = send(
        addr,
        DEFAULT_AUTH_PATH,
        &[
            ("content-type", bad_ct),
            ("content-type", FORM.as_bytes()),
            (USER_HEADER, user),
        ],
        form,
    )
    .await;
    assert_eq!(r.status, 200, "a second, UTF-8 Content-Type: {}", r.text());

    let body = webhook_body(now_ms(), json!([]));
    let sig = hmac_hex(SECRET, &body);
    let key: &[u8] = KEY.as_bytes();
    let ct: (&str, &[u8]) = ("content-type", b"application/json");
    for (what, headers, status, reason) in [
        (
            "signature not UTF-8",
            vec![ct, ("x-pusher-key", key), ("x-pusher-signature", b"\xff")],
            400,
            "missing X-Pusher-Signature header",
        ),
        (
            "key not UTF-8",
            vec![
                ct,
                ("x-pusher-key", b"suite-key\xff"),
                ("x-pusher-signature", sig.as_bytes()),
            ],
            400,
            "missing X-Pusher-Key header",
        ),
        (
            "a signature not UTF-8, then the right one",
            vec![
                ct,
                ("x-pusher-key", key),
                ("x-pusher-signature", b"\xff\xfe"),
                ("x-pusher-signature", sig.as_bytes()),
            ],
            200,
            "",
        ),
        (
            "key with whitespace around it on the wire",
            vec![
                ct,
                ("x-pusher-key", b" \t suite-key \t "),
                ("x-pusher-signature", sig.as_bytes()),
            ],
            200,
            "",
        ),
    ] {
        let r = send(addr, WEBHOOK_PATH, &headers, &body).await;
        assert_eq!(r.status, status, "webhook, {what}: {}", r.text());
        if status != 200 {
            assert_eq!(r.text(), reason, "webhook, {what}");
        }
    }
    7
}

/// A webhook whose headers are missing, malformed or name an unknown key is refused without reading the
/// body: the request declares 1000 bytes, sends 20 and keeps the connection open; the answer must come
/// anyway. A declared length over the limit is refused the same way. (Rocket itself waits for the first
/// 14 bytes of any body before routing, for its `_method` check, hence 20.)
async fn webhook_headers_are_checked_before_the_body(addr: SocketAddr) -> usize {
    let sig = "a".repeat(64);
    let key: &[u8] = KEY.as_bytes();
    let mut checked = 0;
    for (what, headers, status, reason) in [
        (
            "no key",
            vec![("x-pusher-signature", sig.as_bytes())],
            400,
            "missing X-Pusher-Key header",
        ),
        (
            "no signature",
            vec![("x-pusher-key", key)],
            400,
            "missing X-Pusher-Signature header",
        ),
        (
            "malformed signature",
            vec![("x-pusher-key", key), ("x-pusher-signature", b"zz")],
            400,
            "malformed X-Pusher-Signature header",
        ),
        (
            "unknown key",
            vec![
                ("x-pusher-key", b"other"),
                ("x-pusher-signature", sig.as_bytes()),
            ],
            401,
            "unknown X-Pusher-Key",
        ),
    ] {
        let mut h = headers.clone();
        h.push(("content-type", b"application/json"));
        h.push(("content-length", b"1000"));
        let raw = raw_request(
            "POST",
            WEBHOOK_PATH,
            &h,
            b"{\"time_ms\":1,\"events\"",
            false,
        );
        let r = exchange(addr, &raw).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, reason),
            "webhook with {what}, body not sent"
        );
        checked += 1;
    }
    let declared = (WEBHOOK_LIMIT + 1).to_string();
    let h: Vec<(&str, &[u8])> = vec![
        ("x-pusher-key", key),
        ("x-pusher-signature", sig.as_bytes()),
        ("content-length", declared.as_bytes()),
    ];
    let raw = raw_request(
        "POST",
        WEBHOOK_PATH,
        &h,
        b"{\"time_ms\":1,\"events\"",
        false,
    );
    let r = exchange(addr, &raw).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, "webhook body too large"),
        "webhook declaring a length over the limit"
    );
    checked + 1
}

/// The auth routes answer at exactly their path as sent: no slash normalisation, no percent-decoding,
/// case-sensitive. The query string is not part of the path.
async fn auth_paths_match_exactly(addr: SocketAddr) -> usize {
    let form = b"socket_id=1.2&channel_name=private-allowed-1";
    let headers: [(&str, &[u8]); 2] = [("content-type", FORM.as_bytes()), (USER_HEADER, b"ann")];
    let mut checked = 0;
    for (path, status) in [
        ("/pusher/auth?x=1", 200),
        ("/pusher/auth/", 404),
        ("//pusher/auth", 404),
        ("/pusher//auth", 404),
        ("/pusher/%61uth", 404),
        ("/pusher%2Fauth", 404),
        ("/PUSHER/auth", 404),
        ("/pusher/./auth", 404),
        ("/pusher/user-auth/", 404),
    ] {
        let r = send(addr, path, &headers, form).await;
        assert_eq!(r.status, status, "POST {path}: {}", r.text());
        checked += 1;
    }
    checked
}

/// Any method but `POST` at an auth path: 405 with `Allow: POST`, in every framework. Rocket's
/// `_method` form field (which rewrites a `POST` into another method) does not change an auth route's
/// answer: the body is served as the `POST` it was.
async fn other_methods_get_405(addr: SocketAddr) -> usize {
    let mut checked = 0;
    for path in [DEFAULT_AUTH_PATH, DEFAULT_USER_AUTH_PATH, BATCH_AUTH_PATH] {
        for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
            let r = send_method(addr, method, path, &[], b"").await;
            assert_eq!(r.status, 405, "{method} {path}: {}", r.text());
            assert_eq!(r.header("allow"), Some("POST"), "{method} {path}: Allow");
            checked += 1;
        }
    }
    // A form POST whose first field is `_method` (Rocket rewrites the method from it; the others do not):
    // served as the POST it is, whatever the field's form.
    for prefix in [
        "_method=put&",
        "_method=get&",
        "_method=delete&",
        "_method=trace&",
        "&_method=put&",
        "_method.=put&",
    ] {
        let method = prefix;
        let user = probe_name("method");
        let body = format!("{prefix}socket_id=1.2&channel_name=private-allowed-1");
        let r = send(
            addr,
            DEFAULT_AUTH_PATH,
            &[
                ("content-type", FORM.as_bytes()),
                (USER_HEADER, user.as_bytes()),
            ],
            body.as_bytes(),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "POST with a body starting {method}: {}",
            r.text()
        );
        checked += 1;
    }
    checked
}
