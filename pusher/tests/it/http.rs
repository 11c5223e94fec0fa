//! Real HTTP/1.1 through the default (reqwest) backend, against a small server on 127.0.0.1 started in the
//! test: it records each raw request (method, path, query string, headers, body) and answers with a
//! configured status, headers and body.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use pusher::http::LIBRARY_HEADER;
use pusher::{BatchEvent, Error, Pusher, PusherBuilder, TriggerOptions};

use crate::check_signed;

const APP_ID: &str = "app-id";
const KEY: &str = "key";
/// Distinctive, so that finding it in an error message means it leaked.
const SECRET: &str = "s3cret-9f2c-do-not-print";
const NOW: u64 = 1_700_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answer with a Content-Length and keep the connection open.
    Normal,
    /// Answer with a body delimited by closing the connection (no Content-Length).
    CloseDelimited,
    /// Read the request and never answer.
    Silent,
}

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    mode: Mode,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
        mode: Mode::Normal,
    }
}

/// One request as the server read it off the wire.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Method, path, headers, and a query that is sorted, ends with `auth_signature`, and verifies.
    #[track_caller]
    fn check(&self, method: &str, path: &str) {
        assert_eq!((self.method.as_str(), self.path.as_str()), (method, path));
        assert_eq!(self.header("x-pusher-library"), Some(LIBRARY_HEADER));
        let params = self.params();
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys.last(),
            Some(&"auth_signature"),
            "signature last: {keys:?}"
        );
        assert!(keys[..keys.len() - 1].is_sorted(), "keys sorted: {keys:?}");
        let body = (method == "POST").then_some(self.body.as_slice());
        let ts = check_signed(
            &format!("{method} {path}"),
            method,
            path,
            &params,
            body,
            KEY,
            SECRET,
        );
        assert_eq!(ts, NOW, "auth_timestamp");
        if method == "POST" {
            assert_eq!(self.header("content-type"), Some("application/json"));
        } else {
            assert_eq!(self.header("content-type"), None, "no Content-Type on GET");
            assert!(self.body.is_empty(), "no body on GET");
        }
    }

    #[track_caller]
    fn check_post(&self, path: &str, body: &str) {
        self.check("POST", path);
        assert_eq!(String::from_utf8_lossy(&self.body), body);
    }

    #[track_caller]
    fn check_get(&self, path: &str, params: &[(&str, &str)]) {
        self.check("GET", path);
        let ours: Vec<(String, String)> = self
            .params()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("auth_"))
            .collect();
        let expected: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(ours, expected, "the caller's parameters, decoded");
    }
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
}

impl Server {
    async fn start(first: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            port: listener.local_addr().unwrap().port(),
            seen: Arc::default(),
            connections: Arc::default(),
            reply: Arc::new(Mutex::new(first)),
        };
        let (seen, connections, reply) = (
            server.seen.clone(),
            server.connections.clone(),
            server.reply.clone(),
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, seen.clone(), reply.clone()));
            }
        });
        server
    }

    fn set_reply(&self, r: Reply) {
        *self.reply.lock().unwrap() = r;
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request reached the server")
    }

    fn builder(&self) -> PusherBuilder {
        Pusher::builder(APP_ID, KEY, SECRET)
            .host("127.0.0.1")
            .port(self.port)
            .use_tls(false)
    }

    fn client(&self) -> Pusher {
        fixed_clock(self.builder().build().unwrap())
    }
}

fn fixed_clock(p: Pusher) -> Pusher {
    p.with_clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
}

async fn serve(socket: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, reply: Arc<Mutex<Reply>>) {
    let mut conn = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap().to_owned(), parts.next().unwrap());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (path, query) = (path.to_owned(), query.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if conn.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let Some((name, value)) = h.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        conn.read_exact(&mut body).await.unwrap();
        seen.lock().unwrap().push(Seen {
            method,
            path,
            query,
            headers,
            body,
        });

        let r = reply.lock().unwrap().clone();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            r.status,
            if r.status == 200 { "OK" } else { "Status" }
        );
        for (n, v) in &r.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        match r.mode {
            Mode::Silent => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            Mode::Normal if r.status == 204 => head.push_str("\r\n"),
            Mode::Normal => head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                r.body.len()
            )),
            Mode::CloseDelimited => head.push_str("connection: close\r\n\r\n"),
        }
        let socket = conn.get_mut();
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&r.body).await.unwrap();
        socket.flush().await.unwrap();
        if r.mode == Mode::CloseDelimited {
            let _ = socket.shutdown().await;
            return;
        }
    }
}

#[track_caller]
fn assert_no_secret(e: &Error) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SECRET), "the secret leaked into {shown}");
}

#[tokio::test]
async fn trigger() {
    let s = Server::start(reply(200, "{}")).await;
    let res = s
        .client()
        .trigger("my-channel", "my-event", &json!({"x": 1}))
        .await
        .unwrap();
    assert!(res.channels.is_empty());
    s.last().check_post(
        "/apps/app-id/events",
        r#"{"name":"my-event","channels":["my-channel"],"data":"{\"x\":1}"}"#,
    );
}

#[tokio::test]
async fn trigger_with_socket_id_and_info() {
    let body = r#"{"channels":{"a":{"subscription_count":3},"presence-b":{"user_count":2}}}"#;
    let s = Server::start(reply(200, body)).await;
    let opts = TriggerOptions::new()
        .socket_id("123.456")
        .info(["subscription_count", "user_count"]);
    let res = s
        .client()
        .trigger_with(&["a", "presence-b"], "ev", "text", &opts)
        .await
        .unwrap();
    assert_eq!(res.channels["a"].subscription_count, Some(3));
    assert_eq!(res.channels["presence-b"].user_count, Some(2));
    s.last().check_post(
        "/apps/app-id/events",
        r#"{"name":"ev","channels":["a","presence-b"],"data":"text","socket_id":"123.456","info":"subscription_count,user_count"}"#,
    );
}

#[tokio::test]
async fn trigger_batch() {
    let s = Server::start(reply(200, r#"{"batch":[{"subscription_count":1},{}]}"#)).await;
    let batch = [
        BatchEvent::new("a", "e1", &json!({"n": 1}))
            .unwrap()
            .info(["subscription_count"]),
        BatchEvent::new("b", "e2", "hi").unwrap().socket_id("1.2"),
    ];
    let res = s.client().trigger_batch(&batch).await.unwrap();
    assert_eq!(res.batch.len(), 2);
    assert_eq!(res.batch[0].subscription_count, Some(1));
    s.last().check_post(
        "/apps/app-id/batch_events",
        r#"{"batch":[{"channel":"a","name":"e1","data":"{\"n\":1}","info":"subscription_count"},{"channel":"b","name":"e2","data":"hi","socket_id":"1.2"}]}"#,
    );
}

#[tokio::test]
async fn channels_info() {
    let s = Server::start(reply(
        200,
        r#"{"channels":{"presence-a":{"user_count":2},"presence-b":{}}}"#,
    ))
    .await;
    let res = s
        .client()
        .channels_info(Some("presence-"), &["user_count"])
        .await
        .unwrap();
    assert_eq!(res.channels.len(), 2);
    assert_eq!(res.channels["presence-a"].user_count, Some(2));
    s.last().check_get(
        "/apps/app-id/channels",
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
    );
}

#[tokio::test]
async fn channel_info() {
    let s = Server::start(reply(
        200,
        r#"{"occupied":true,"user_count":2,"subscription_count":3}"#,
    ))
    .await;
    let res = s
        .client()
        .channel_info("presence-a", &["user_count", "subscription_count"])
        .await
        .unwrap();
    assert!(res.occupied);
    assert_eq!((res.user_count, res.subscription_count), (Some(2), Some(3)));
    let seen = s.last();
    seen.check_get(
        "/apps/app-id/channels/presence-a",
        &[("info", "user_count,subscription_count")],
    );
    assert!(
        seen.query.contains("info=user_count%2Csubscription_count"),
        "{}",
        seen.query
    );
}

#[tokio::test]
async fn users_info() {
    let s = Server::start(reply(200, r#"{"users":[{"id":"u1"},{"id":"u2"}]}"#)).await;
    let res = s.client().users_info("presence-a").await.unwrap();
    let ids: Vec<&str> = res.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u2"]);
    s.last()
        .check_get("/apps/app-id/channels/presence-a/users", &[]);
}

#[tokio::test]
async fn send_to_user_and_terminate() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    p.send_to_user("alice", "notice", &json!({"unread": 3}))
        .await
        .unwrap();
    s.last().check_post(
        "/apps/app-id/events",
        r##"{"name":"notice","channels":["#server-to-user-alice"],"data":"{\"unread\":3}"}"##,
    );
    p.terminate_user_connections("alice").await.unwrap();
    s.last()
        .check_post("/apps/app-id/users/alice/terminate_connections", "{}");
}

#[tokio::test]
async fn raw_get_and_post() {
    let s = Server::start(reply(200, r#"{"channels":{"private-a":{}}}"#)).await;
    let p = s.client();
    let got: Value = p
        .get("/channels", &[("filter_by_prefix", "private-")])
        .await
        .unwrap();
    assert_eq!(got, json!({"channels": {"private-a": {}}}));
    s.last()
        .check_get("/apps/app-id/channels", &[("filter_by_prefix", "private-")]);
    s.set_reply(reply(200, r#"{"ok":true}"#));
    let posted: Value = p
        .post(
            "/events",
            &json!({"name": "e", "channels": ["c"], "data": "d"}),
        )
        .await
        .unwrap();
    assert_eq!(posted, json!({"ok": true}));
    let seen = s.last();
    seen.check("POST", "/apps/app-id/events");
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, json!({"name": "e", "channels": ["c"], "data": "d"}));
}

/// Paths with every character `get`/`post` accept arrive byte for byte as signed (the server's check
/// passes), and a path the URL layer would rewrite never leaves the client.
#[tokio::test]
async fn raw_paths_arrive_exactly_as_signed() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    for path in [
        "/channels/a:b@c!$&'()*+,;=~_-.x",
        "/x/.../y/",
        "/users/a.b/terminate_connections",
    ] {
        let _: Value = p.get(path, &[("info", "user_count")]).await.unwrap();
        s.last()
            .check_get(&format!("/apps/app-id{path}"), &[("info", "user_count")]);
        let _: Value = p.post(path, &json!({"a": 1})).await.unwrap();
        s.last().check("POST", &format!("/apps/app-id{path}"));
    }
    let sent = s.seen.lock().unwrap().len();
    for path in ["/channels/./x", "/channels/%2e%2e/x", "/a\\b", "/{x}"] {
        let e = p.get::<Value>(path, &[]).await.unwrap_err();
        assert!(
            matches!(e, Error::Validation { field: "path", .. }),
            "{e:?}"
        );
    }
    assert_eq!(s.seen.lock().unwrap().len(), sent, "nothing more was sent");
}

#[tokio::test]
async fn any_2xx_is_success_and_an_empty_body_is_the_empty_response() {
    let s = Server::start(reply(204, "")).await;
    let p = s.client();
    assert_eq!(p.trigger("c", "e", "x").await.unwrap(), Default::default());
    s.set_reply(reply(201, "{}"));
    assert!(p.trigger("c", "e", "x").await.unwrap().channels.is_empty());
    s.set_reply(reply(202, ""));
    assert_eq!(p.channel_info("c", &[]).await.unwrap(), Default::default());
}

#[tokio::test]
async fn error_statuses_map_to_typed_errors() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    for status in [400, 401, 403, 413, 500] {
        let body = format!("boom {status}");
        s.set_reply(reply(status, &body));
        let e = p.trigger("c", "e", "x").await.unwrap_err();
        let server_body = match &e {
            Error::BadRequest { body, .. } if status == 400 => body,
            Error::Unauthorized { body, .. } if status == 401 => body,
            Error::Forbidden { body, .. } if status == 403 => body,
            Error::PayloadTooLarge { body, .. } if status == 413 => body,
            Error::Status {
                status: 500,
                body,
                retry_after: None,
                ..
            } if status == 500 => body,
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(server_body, &body);
        assert_eq!(e.status(), Some(status));
        assert_eq!(e.is_transient(), status == 500);
        assert_no_secret(&e);
    }
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let mut r = reply(429, r#"{"error":"slow down"}"#);
    r.headers.push(("Retry-After".into(), "7".into()));
    let s = Server::start(r).await;
    let e = s.client().trigger("c", "e", "x").await.unwrap_err();
    match &e {
        Error::Status {
            status: 429,
            body,
            retry_after,
            ..
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(7)));
            assert_eq!(body, r#"{"error":"slow down"}"#);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    assert_no_secret(&e);
}

#[tokio::test]
async fn closed_port_is_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = fixed_clock(
        Pusher::builder(APP_ID, KEY, SECRET)
            .host("127.0.0.1")
            .port(port)
            .use_tls(false)
            .build()
            .unwrap(),
    );
    let e = p.trigger("c", "e", "x").await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(e.is_transient());
    assert_no_secret(&e);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let s = Server::start(Reply {
        mode: Mode::Silent,
        ..reply(200, "{}")
    })
    .await;
    let p = fixed_clock(
        s.builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    let e = p.trigger("c", "e", "x").await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout(d) if d == Duration::from_millis(300)),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        s.seen.lock().unwrap().len(),
        1,
        "the request reached the server"
    );
    assert_no_secret(&e);
}

/// A 2xx body that does not decode keeps its start (capped at 1 KiB) and serde_json's error as the source.
#[tokio::test]
async fn invalid_json_keeps_the_capped_body_and_its_cause() {
    let s = Server::start(reply(200, "not json")).await;
    let e = s.client().trigger("c", "e", "x").await.unwrap_err();
    let Error::InvalidResponse { status, body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*status, body.as_str()), (200, "not json"));
    assert!(std::error::Error::source(&e).is_some());
    assert_no_secret(&e);
    let long = format!("<html>{}</html>", "x".repeat(100_000));
    let s = Server::start(reply(200, &long)).await;
    let e = s.client().channel_info("c", &[]).await.unwrap_err();
    let Error::InvalidResponse { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(
        body.starts_with("<html>xxx") && body.ends_with('…'),
        "{body}"
    );
    assert!(body.len() <= pusher::error::MAX_DECODE_BODY + 3);
}

/// A transport error keeps the underlying error as its source, and its message names no URL.
#[tokio::test]
async fn a_transport_error_keeps_its_source() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let p = Pusher::builder("1", "key", "secret")
        .host("127.0.0.1")
        .port(port)
        .use_tls(false)
        .retry(pusher::RetryPolicy::none())
        .build()
        .unwrap();
    let e = p.trigger("c", "e", "x").await.unwrap_err();
    let Error::Transport { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(message, pusher::retry::CONNECT_FAILED);
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    assert!(pusher::retry::not_processed(&e));
    let mut chain = e.to_string();
    let mut next = std::error::Error::source(&e);
    while let Some(s) = next {
        chain.push_str(&format!(": {s}"));
        next = s.source();
    }
    assert!(
        !chain.contains("127.0.0.1") && !chain.contains("auth_signature"),
        "{chain}"
    );
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let big = format!(r#"{{"channels":{{}},"pad":"{}"}}"#, "a".repeat(2000));
    for mode in [Mode::Normal, Mode::CloseDelimited] {
        let s = Server::start(Reply {
            mode,
            ..reply(200, &big)
        })
        .await;
        let p = fixed_clock(s.builder().max_response_bytes(1024).build().unwrap());
        let e = p.trigger("c", "e", "x").await.unwrap_err();
        assert!(
            matches!(e, Error::ResponseTooLarge { limit: 1024, .. }),
            "{e:?}"
        );
        assert_no_secret(&e);
        // Under the cap, the same body is fine.
        let p = fixed_clock(s.builder().max_response_bytes(4096).build().unwrap());
        assert!(p.trigger("c", "e", "x").await.is_ok());
    }
}

#[tokio::test]
async fn one_client_reuses_one_connection() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    for i in 0..3 {
        p.trigger("c", "e", &i).await.unwrap();
    }
    let _: Value = p.get("/channels", &[]).await.unwrap();
    p.clone().trigger("c", "e", "from a clone").await.unwrap();
    assert_eq!(s.seen.lock().unwrap().len(), 5);
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        1,
        "keep-alive: one connection for five requests"
    );
}

#[tokio::test]
async fn errors_before_sending_do_not_show_the_secret() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    let errors = [
        p.trigger("bad channel", "e", "x").await.unwrap_err(),
        p.trigger("c", "e", &"x".repeat(20_000)).await.unwrap_err(),
        p.authorize_channel("private-a", "bad", None).unwrap_err(),
        Pusher::from_url(&format!("http://{KEY}:{SECRET}@127.0.0.1/apps/bad/path")).unwrap_err(),
        Pusher::from_url(&format!("ftp://{KEY}:{SECRET}@127.0.0.1/apps/1")).unwrap_err(),
        s.builder()
            .encryption_master_key_base64(SECRET)
            .build()
            .unwrap_err(),
    ];
    for e in &errors {
        assert_no_secret(e);
    }
    assert!(s.seen.lock().unwrap().is_empty(), "nothing was sent");
    assert!(!format!("{p:?}").contains(SECRET));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // A signed POST must not be replayed to another URL: a 3xx is returned as a status error, and the
    // target of the redirect sees nothing.
    let elsewhere = Server::start(reply(200, "{}")).await;
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    for status in [301, 302, 307, 308] {
        let mut r = reply(status, "");
        r.headers.push((
            "location".into(),
            format!("http://127.0.0.1:{}/apps/{APP_ID}/events", elsewhere.port),
        ));
        s.set_reply(r);
        let e = p.trigger("c", "e", "x").await.unwrap_err();
        assert_eq!(e.status(), Some(status), "{e:?}");
        let e = p.channels_info(None, &[]).await.unwrap_err();
        assert_eq!(e.status(), Some(status), "{e:?}");
    }
    assert!(elsewhere.seen.lock().unwrap().is_empty());
}

/// The built-in backend sends exactly the headers the request carries (and only what HTTP itself needs:
/// host, length, reqwest's `accept`), for a GET and for a POST with a body.
#[tokio::test]
async fn the_reqwest_backend_sends_exactly_the_request_headers() {
    let s = Server::start(reply(200, "{}")).await;
    let p = s.client();
    let post = p
        .trigger_request("c", "e", "x", &TriggerOptions::new())
        .unwrap();
    let get = p.channels_request(None, &[]).unwrap();
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(get.header("content-type"), None);
    p.trigger("c", "e", "x").await.unwrap();
    let sent_post = s.last();
    p.channels_info(None, &[]).await.unwrap();
    let sent_get = s.last();
    for (request, seen) in [(&post, &sent_post), (&get, &sent_get)] {
        for (name, value) in &request.headers {
            assert_eq!(
                seen.header(&name.to_ascii_lowercase()),
                Some(value.as_ref()),
                "{name}"
            );
        }
        let http_itself = ["host", "content-length", "accept"];
        let extra: Vec<&String> = seen
            .headers
            .iter()
            .map(|(n, _)| n)
            .filter(|n| !http_itself.contains(&n.as_str()) && request.header(n).is_none())
            .collect();
        assert!(
            extra.is_empty(),
            "headers the request did not carry: {extra:?}"
        );
    }
}
