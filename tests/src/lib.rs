//! End-to-end test harness: a real Pusher-protocol server ([`sockudo::Sockudo`]) or a cluster of them sharing
//! Redis ([`cluster::Cluster`]), real pusher-js clients driven in Node ([`node::Node`]) and a webhook
//! receiver ([`webhooks::WebhookSink`]).
//!
//! The tests live in `tests/e2e/` (one integration-test binary); run them with `cargo test -p pusher-e2e`.
//! They need the sockudo binary (`SOCKUDO_BIN`, or `scripts/install-sockudo`), Node, and the helper's
//! packages (`npm ci --prefix tests/node`). Anything missing is an error, never a skipped test.

use std::fmt;
use std::path::{Path, PathBuf};

pub mod apps;
pub mod cluster;
pub mod node;
pub mod proxy;
pub mod sockudo;
#[cfg(any(feature = "tls-rustls", feature = "tls-native"))]
pub mod tls;
pub mod webhooks;

pub use apps::{App, Framework, relay_to};
pub use cluster::{Cluster, Redis};
pub use node::{AuthDecision, AuthKind, AuthReply, AuthRequest, Node};
pub use proxy::{HttpProxy, ProxyStats};
pub use sockudo::{APP_ID, APP_KEY, APP_SECRET, ServerTls, Sockudo, TEST_MASTER_KEY, free_port};
pub use webhooks::{ReceivedWebhook, WebhookSink};

/// The harness's error: a message meant for a human reading a failed test (it includes log tails).
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

// Debug prints the bare message so that `unwrap()` in a test shows multi-line log tails readably.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(format!("i/o: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error(format!("json: {e}"))
    }
}

impl From<pusher::Error> for Error {
    fn from(e: pusher::Error) -> Self {
        Error(format!("pusher: {e}"))
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error(format!("http: {e}"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error(format!("task: {e}"))
    }
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where the harness writes its logs: `<target dir>/e2e` (`CARGO_TARGET_DIR` when set, else the
/// workspace's `target/`).
pub fn log_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    };
    target.join("e2e")
}

/// The last `lines` lines of a text file (for error messages); a note when it cannot be read.
pub fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
