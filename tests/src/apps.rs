//! The example chat apps (`axum-app`, `actix-app`, `rocket-app`), each run as its own process against a
//! test sockudo, exactly as a user runs them: `PUSHER_URL`, `PORT` and `PUSHER_ENCRYPTION_MASTER_KEY` from
//! the environment. Their auth routes are the framework crates' ready-made routes and their webhook route
//! is the framework's `VerifiedWebhook`.
//!
//! The binaries must be built first (`cargo build -p axum-app -p actix-app -p rocket-app`, which
//! `scripts/test` does); a missing binary is an error naming that command.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::node::{AuthKind, AuthReply, AuthRequest};
use crate::sockudo::{APP_ID, APP_KEY, APP_SECRET, Sockudo, TEST_MASTER_KEY};
use crate::{Error, Result, file_tail, log_dir};

/// One of the three frameworks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// `examples/axum-app` on `pusher-axum`.
    Axum,
    /// `examples/actix-app` on `pusher-actix`.
    Actix,
    /// `examples/rocket-app` on `pusher-rocket`.
    Rocket,
}

impl Framework {
    /// All three.
    pub const ALL: [Framework; 3] = [Framework::Axum, Framework::Actix, Framework::Rocket];

    /// `axum`, `actix` or `rocket`.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Rocket => "rocket",
        }
    }

    /// The example's binary.
    pub fn binary(self) -> Result<PathBuf> {
        let path = log_dir()
            .parent()
            .map(|t| t.join("debug").join(format!("{}-app", self.name())))
            .ok_or_else(|| Error::new("no target dir"))?;
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::new(format!(
                "{} is missing: build the examples first with `cargo build -p axum-app -p actix-app -p rocket-app` \
                 (scripts/test does)",
                path.display()
            )))
        }
    }
}

/// A running example app; killed when dropped.
pub struct App {
    /// Which one.
    pub framework: Framework,
    port: u16,
    child: Child,
    log: PathBuf,
    http: reqwest::Client,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("framework", &self.framework)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Starts `framework`'s example on `port` (chosen before the server, whose webhooks point at
    /// `http://127.0.0.1:<port>/pusher/webhooks`), talking to `server`; waits for `GET /healthz`.
    pub async fn start(framework: Framework, port: u16, server: &Sockudo) -> Result<App> {
        let binary = framework.binary()?;
        let dir = log_dir();
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{}-app-{port}.log", framework.name()));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "PUSHER_URL",
                format!(
                    "http://{APP_KEY}:{APP_SECRET}@127.0.0.1:{}/apps/{APP_ID}",
                    server.port()
                ),
            )
            .env("PUSHER_ENCRYPTION_MASTER_KEY", TEST_MASTER_KEY)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("ROCKET_LOG_LEVEL", "normal")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {}: {e}", binary.display())))?;
        let app = App {
            framework,
            port,
            child,
            log,
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = app.http.get(app.url("/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(app);
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::new(format!(
                    "{} app did not answer /healthz within 20 s:\n{}",
                    framework.name(),
                    file_tail(&app.log, 30)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The app's log tail, for failure messages.
    pub fn log_tail(&self) -> String {
        file_tail(&self.log, 30)
    }

    /// POSTs `body` with `content_type`, signed in as `user` (the demo `user` cookie) when given; returns
    /// status and body text.
    pub async fn post(
        &self,
        path: &str,
        user: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Result<(u16, String)> {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(u) = user {
            req = req.header("cookie", format!("user={u}"));
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// POSTs raw bytes with extra headers (for webhooks); returns status and body text.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, String)> {
        let mut req = self.http.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// The webhook events the app's `VerifiedWebhook` route accepted (`GET /webhooks`).
    pub async fn webhooks(&self) -> Result<Vec<Value>> {
        let v: Value = self
            .http
            .get(self.url("/webhooks"))
            .send()
            .await?
            .json()
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// An auth handler for [`Node::on_auth`](crate::Node::on_auth) that relays pusher-js's request to this
    /// app's ready-made routes: [`relay_to`] with this app's port.
    pub fn relay(&self) -> impl Fn(&AuthRequest) -> AuthReply + Send + Sync + 'static {
        relay_to(self.port)
    }
}

/// An auth handler for [`Node::on_auth`](crate::Node::on_auth) that relays pusher-js's request to the app
/// routes served on `127.0.0.1:<port>` (an app, or a load balancer in front of several): `POST /pusher/auth`
/// or `/pusher/user-auth`, the form pusher-js sends, signed in as the client's name up to its first `-`
/// (`alice-2` is `alice`), or not signed in when the name starts with `anon`. pusher-js in Node cannot send
/// a `Cookie` header itself, hence the relay.
pub fn relay_to(port: u16) -> impl Fn(&AuthRequest) -> AuthReply + Send + Sync + 'static {
    move |request| {
        let user = request.client.split('-').next().unwrap_or_default();
        let user = (!user.starts_with("anon")).then_some(user);
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("socket_id", &request.socket_id);
        let path = match (request.kind, &request.channel) {
            (AuthKind::Channel, Some(c)) => {
                form.append_pair("channel_name", c);
                "/pusher/auth"
            }
            _ => "/pusher/user-auth",
        };
        let form = form.finish();
        // The handler runs inside the Node reader's task: on a multi-thread runtime, hand this worker's
        // other tasks to another thread while blocking, so an in-process upstream (a proxy in front of the
        // apps) keeps running.
        let post = || blocking_post(port, path, user, &form);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let result = if multi_thread {
            tokio::task::block_in_place(post)
        } else {
            post()
        };
        match result {
            Ok((status, body)) => AuthReply {
                status,
                body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            },
            Err(e) => AuthReply {
                status: 599,
                body: Value::String(e.to_string()),
            },
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A minimal blocking HTTP/1.1 form POST on loopback (the auth relay runs inside the Node reader's
/// synchronous callback, so it cannot await).
fn blocking_post(
    port: u16,
    path: &str,
    user: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let cookie = user
        .map(|u| format!("Cookie: user={u}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         {cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
