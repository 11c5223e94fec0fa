//! A sockudo server per test: found or installed once, configured per run, started on a free loopback port
//! under a scrubbed environment, and stopped when dropped.

use std::collections::HashSet;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Error, Result, file_tail, log_dir, workspace_root};

/// The app id configured in every test server.
pub const APP_ID: &str = "app-id";
/// The app key.
pub const APP_KEY: &str = "app-key";
/// The app secret.
pub const APP_SECRET: &str = "app-secret";
/// The end-to-end encryption master key of [`Sockudo::pusher`]: base64 of the 32 bytes
/// `pusher-rs-e2e-test-master-key-32`.
pub const TEST_MASTER_KEY: &str = "cHVzaGVyLXJzLWUyZS10ZXN0LW1hc3Rlci1rZXktMzI=";

/// How long a server may take to answer `GET /up/app-id` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How many ports to try when a server exits before it is ready (another process took the port).
const START_ATTEMPTS: usize = 3;

static BINARY: Mutex<Option<PathBuf>> = Mutex::new(None);
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running sockudo, killed on drop (SIGTERM, then SIGKILL after 3 s).
#[derive(Debug)]
pub struct Sockudo {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    pusher: pusher::Pusher,
    tls: Option<Tls>,
}

/// What a test server needs to serve HTTPS and WSS (sockudo's `ssl` config): its certificate and key, PEM,
/// and the CA that signed the certificate (see `tls::TestCa::server_tls`).
#[derive(Clone)]
pub struct ServerTls {
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
    /// The CA certificate that signed it, PEM: the harness's own client trusts it (and nothing else).
    pub ca_pem: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// A TLS server's settings and the client (trusting only its CA) the harness talks to it with.
#[derive(Debug, Clone)]
struct Tls {
    files: ServerTls,
    client: reqwest::Client,
}

impl Sockudo {
    /// Starts a server with the test app (`app-id`/`app-key`/`app-secret`) on a free loopback port, sending
    /// webhooks of the six Pusher types to `webhook_url` when given, and waits until it serves the app.
    ///
    /// The binary is `SOCKUDO_BIN` when set, else what `scripts/install-sockudo` prints (it builds sockudo
    /// once, which takes about 10 minutes). Any failure is an error with the server's log tail.
    pub async fn start(webhook_url: Option<&str>) -> Result<Sockudo> {
        Sockudo::start_inner(webhook_url, None, &|_| {}).await
    }

    /// [`start`](Self::start) with `tweak` applied to the [`config`] before sockudo reads it: a test that
    /// needs one setting changed (the HTTP API rate limiter, say) writes it there, e.g.
    /// `|c| c["rate_limiter"]["enabled"] = json!(true)`.
    pub async fn start_with(
        webhook_url: Option<&str>,
        tweak: impl Fn(&mut Value) + Sync,
    ) -> Result<Sockudo> {
        Sockudo::start_inner(webhook_url, None, &tweak).await
    }

    /// [`start`](Self::start) with TLS: sockudo serves only HTTPS and WSS on its port, with `tls`'s
    /// certificate. [`pusher`](Self::pusher) then uses `https://` through a client that trusts only
    /// `tls.ca_pem`; pusher-js clients in Node ([`client_options`](Self::client_options)) are not set up for it.
    #[cfg(any(feature = "tls-rustls", feature = "tls-native"))]
    pub async fn start_tls(webhook_url: Option<&str>, tls: &ServerTls) -> Result<Sockudo> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([reqwest::Certificate::from_pem(tls.ca_pem.as_bytes())?])
            .build()?;
        let tls = Tls {
            files: tls.clone(),
            client,
        };
        Sockudo::start_inner(webhook_url, Some(tls), &|_| {}).await
    }

    async fn start_inner(
        webhook_url: Option<&str>,
        tls: Option<Tls>,
        tweak: &(dyn Fn(&mut Value) + Sync),
    ) -> Result<Sockudo> {
        let binary = tokio::task::spawn_blocking(sockudo_binary).await??;
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match start_once(&binary, webhook_url, tls.as_ref(), tweak).await {
                Ok(server) => return Ok(server),
                Err(Start::Retry(e)) => failures.push(e.0),
                Err(Start::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::new(format!(
            "sockudo did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        )))
    }

    /// The port (HTTP API and WebSocket).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file (under `target/e2e/`; removed when the server is dropped, unless a test is failing).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log, lines)
    }

    /// A client for the test app on this server, with the test encryption master key.
    pub fn pusher(&self) -> pusher::Pusher {
        self.pusher.clone()
    }

    /// The builder behind [`pusher`](Self::pusher), to change one setting (`max_data_bytes`, the secret…).
    pub fn pusher_builder(&self) -> pusher::PusherBuilder {
        self.builder_with_secret(APP_SECRET)
    }

    /// [`pusher_builder`](Self::pusher_builder) with another secret.
    pub fn builder_with_secret(&self, secret: &str) -> pusher::PusherBuilder {
        pusher_builder(self.port, secret, self.tls.as_ref())
    }

    /// Whether the server serves TLS ([`start_tls`](Self::start_tls)).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The WebSocket URL of the test app, as pusher-js builds it (`wss://` on a TLS server).
    pub fn ws_url(&self) -> String {
        let scheme = if self.is_tls() { "wss" } else { "ws" };
        format!(
            "{scheme}://127.0.0.1:{}/app/{APP_KEY}?protocol=7&client=js&version=8.0.0",
            self.port
        )
    }

    /// The `connect` command fields for the Node helper: key, host and port of this server.
    pub fn client_options(&self) -> Value {
        json!({"key": APP_KEY, "wsHost": "127.0.0.1", "wsPort": self.port})
    }
}

impl Drop for Sockudo {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = fs::remove_dir_all(&self.dir);
        if std::thread::panicking() {
            // A failing test keeps the server's log and says where it is.
            eprintln!(
                "sockudo log (port {}): {}\n{}",
                self.port,
                self.log.display(),
                self.log_tail(20)
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

fn pusher_builder(port: u16, secret: &str, tls: Option<&Tls>) -> pusher::PusherBuilder {
    let builder = pusher::Pusher::builder(APP_ID, APP_KEY, secret)
        .host("127.0.0.1")
        .port(port)
        .encryption_master_key_base64(TEST_MASTER_KEY);
    match tls {
        Some(tls) => builder.use_tls(true).http_client(tls.client.clone()),
        None => builder.use_tls(false),
    }
}

/// The configuration of one test server (the project's own, written for the sockudo version it pins).
pub fn config(port: u16, webhook_url: Option<&str>) -> Value {
    let mut app = json!({
        "id": APP_ID,
        "key": APP_KEY,
        "secret": APP_SECRET,
        "enabled": true,
        "enable_client_messages": true,
        "enable_user_authentication": true,
        "max_connections": 0,
        "max_client_events_per_second": 0,
        "max_presence_members_per_channel": 100,
        "max_presence_member_size_in_kb": 2,
        "max_channel_name_length": 200,
        "max_event_channels_at_once": 100,
        "max_event_name_length": 200,
        "max_event_payload_in_kb": 10,
        "max_event_batch_size": 10
    });
    if let (Some(url), Some(obj)) = (webhook_url, app.as_object_mut()) {
        obj.insert(
            "webhooks".into(),
            json!([{
                "url": url,
                "event_types": [
                    "channel_occupied",
                    "channel_vacated",
                    "member_added",
                    "member_removed",
                    "client_event",
                    "subscription_count"
                ]
            }]),
        );
    }
    json!({
        "debug": false,
        "mode": "development",
        "host": "127.0.0.1",
        "port": port,
        "path_prefix": "/",
        "shutdown_grace_period": 1,
        "activity_timeout": 120,
        "user_authentication_timeout": 3600,
        "websocket_max_payload_kb": 64,
        "max_connections": 0,
        "adapter": {"driver": "local", "enable_socket_counting": true},
        // The memory cache also holds the idempotency keys: at its default 10,000 entries, keys are
        // evicted (or refused) during long runs and retried publishes are delivered twice (seen with the
        // publisher test at 10,000 events; 5,000 were clean).
        "cache": {"driver": "memory", "memory": {"max_capacity": 1000000}},
        "queue": {"driver": "memory"},
        "app_manager": {"driver": "memory", "array": {"apps": [app]}},
        "rate_limiter": {"enabled": false, "driver": "memory"},
        // Publishes de-duplicated by idempotency key (sockudo's default, spelled out: the delivery tests
        // depend on it; `cache.driver` memory is enough on one node).
        "idempotency": {"enabled": true, "ttl_seconds": 120, "max_key_length": 128},
        "metrics": {"enabled": false, "host": "127.0.0.1", "port": 9601},
        "ssl": {"enabled": false},
        "http_api": {"request_limit_in_mb": 10, "usage_enabled": true},
        "webhooks": {
            "batching": {"enabled": true, "duration": 50, "size": 100},
            "retry": {"enabled": false},
            "request_timeout_ms": 5000
        },
        "cluster_health": {"enabled": false},
        "logging": {"colors_enabled": false, "include_target": true}
    })
}

/// Finds the sockudo binary: `SOCKUDO_BIN`, else the last line printed by `scripts/install-sockudo`
/// (run once per test process).
pub fn sockudo_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SOCKUDO_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(Error::new(format!(
                "SOCKUDO_BIN={} is not a file; unset it to let scripts/install-sockudo install sockudo",
                bin.display()
            )))
        };
    }
    let mut cached = BINARY
        .lock()
        .map_err(|_| Error::new("sockudo binary lock poisoned"))?;
    if let Some(bin) = cached.as_ref() {
        return Ok(bin.clone());
    }
    let script = workspace_root().join("scripts").join("install-sockudo");
    let output = Command::new(&script)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(format!(
                "cannot run {} to find or install sockudo: {e}; set SOCKUDO_BIN to a sockudo 5.2.0 binary",
                script.display()
            ))
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let bin = match (output.status.success(), last) {
        (true, Some(line)) => PathBuf::from(line.trim()),
        _ => {
            return Err(Error::new(format!(
                "{} failed ({}); set SOCKUDO_BIN to a sockudo 5.2.0 binary.\nstderr tail:\n{}",
                script.display(),
                output.status,
                tail_of(&String::from_utf8_lossy(&output.stderr), 30)
            )));
        }
    };
    if !bin.is_file() {
        return Err(Error::new(format!(
            "{} printed {}, which is not a file",
            script.display(),
            bin.display()
        )));
    }
    *cached = Some(bin.clone());
    Ok(bin)
}

fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port that was free a moment ago and that this process has not handed out before.
pub fn free_port() -> Result<u16> {
    let mut used = PORTS
        .lock()
        .map_err(|_| Error::new("port registry lock poisoned"))?;
    let used = used.get_or_insert_with(HashSet::new);
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if used.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::new("no free loopback port found"))
}

enum Start {
    /// The server exited before it was ready (most likely its port was taken): try another port.
    Retry(Error),
    Fatal(Error),
}

impl From<Error> for Start {
    fn from(e: Error) -> Self {
        Start::Fatal(e)
    }
}

impl From<std::io::Error> for Start {
    fn from(e: std::io::Error) -> Self {
        Start::Fatal(e.into())
    }
}

async fn start_once(
    binary: &Path,
    webhook_url: Option<&str>,
    tls: Option<&Tls>,
    tweak: &(dyn Fn(&mut Value) + Sync),
) -> Result<Sockudo, Start> {
    let port = free_port()?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("pusher-e2e-sockudo-{pid}-{n}-{port}"));
    let _ = fs::remove_dir_all(&dir);
    let cwd = dir.join("cwd");
    fs::create_dir_all(&cwd)?;
    let config_path = dir.join("sockudo.json");
    let mut config = config(port, webhook_url);
    tweak(&mut config);
    if let Some(tls) = tls {
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        fs::write(&cert, &tls.files.cert_pem)?;
        fs::write(&key, &tls.files.key_pem)?;
        config["ssl"] = json!({
            "enabled": true,
            "cert_path": cert.to_string_lossy(),
            "key_path": key.to_string_lossy(),
            "redirect_http": false
        });
    }
    fs::write(
        &config_path,
        serde_json::to_vec_pretty(&config).map_err(Error::from)?,
    )?;

    let logs = log_dir();
    fs::create_dir_all(&logs)?;
    let log = logs.join(format!("sockudo-{pid}-{n}-{port}.log"));
    let out = File::create(&log)?;
    let err = out.try_clone()?;

    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(&config_path)
        .current_dir(&cwd)
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("METRICS_HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for var in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    let child = command.spawn().map_err(|e| {
        Error::new(format!(
            "cannot start sockudo {}: {e}; set SOCKUDO_BIN or run scripts/install-sockudo",
            binary.display()
        ))
    })?;
    let mut server = Sockudo {
        child,
        port,
        dir,
        log,
        pusher: pusher_builder(port, APP_SECRET, tls)
            .build()
            .map_err(Error::from)?,
        tls: tls.cloned(),
    };
    wait_ready(&mut server).await?;
    Ok(server)
}

async fn wait_ready(server: &mut Sockudo) -> Result<(), Start> {
    let (http, scheme) = match &server.tls {
        Some(tls) => (tls.client.clone(), "https"),
        None => (
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(Error::from)?,
            "http",
        ),
    };
    let url = format!("{scheme}://127.0.0.1:{}/up/{APP_ID}", server.port);
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait()? {
            return Err(Start::Retry(Error::new(format!(
                "sockudo on port {} exited with {status} before it was ready; log {}:\n{}",
                server.port,
                server.log.display(),
                server.log_tail(40)
            ))));
        }
        let probe = http.get(&url).timeout(Duration::from_secs(1)).send();
        if let Ok(response) = probe.await {
            match response.status().as_u16() {
                // Only if it is still our process answering (not another server that took the port).
                200 if server.child.try_wait()?.is_none() => return Ok(()),
                404 => {
                    return Err(Start::Fatal(Error::new(format!(
                        "sockudo on port {} answers 404 for /up/{APP_ID}: it rejected the generated config \
                         (it then keeps its defaults silently); log {}:\n{}",
                        server.port,
                        server.log.display(),
                        server.log_tail(40)
                    ))));
                }
                _ => {}
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(Start::Fatal(Error::new(format!(
                "sockudo on port {} was not ready within {READY_TIMEOUT:?}; log {}:\n{}",
                server.port,
                server.log.display(),
                server.log_tail(40)
            ))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, up to [`STOP_TIMEOUT`] to exit, then SIGKILL.
pub(crate) fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let started = Instant::now();
    while started.elapsed() < STOP_TIMEOUT {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
