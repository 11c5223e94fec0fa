//! A sockudo cluster per test: Debian's `redis-server` on a free loopback port and two (or more) sockudo nodes
//! sharing it through sockudo's Redis drivers, as sockudo recommends for horizontal scaling:
//!
//! * `adapter.driver = "redis"`: every publish, presence change and user message reaches the sockets of
//!   every node (Redis pub/sub), and the HTTP API's queries (`channel_info`, `users_info`…) ask every node;
//! * `cache.driver = "redis"`: the cache, which also holds the publish **idempotency keys**
//!   (`app:<app id>:idempotency:<key>`, with the `sockudo_cache:` prefix), is shared, so a key published
//!   through one node is known to the others;
//! * `rate_limiter.driver = "redis"`: limits count across nodes (on here, with limits far above what the
//!   tests send, so the shared limiter is in every request's path without refusing any);
//! * `queue.driver = "redis"`: webhook jobs go through a Redis queue that the workers of every node take
//!   from.
//!
//! Redis runs with `--save '' --appendonly no` in its own folder under `target/e2e/`, and is stopped (then the
//! folder removed, its log kept only when a test fails) when the [`Cluster`] is dropped, after the nodes.
//! A missing `redis-server`, or a sockudo built without its `redis` feature, is an error saying what to
//! install: never a skipped test.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sockudo::{free_port, stop};
use crate::{Error, Result, Sockudo, file_tail, log_dir};

/// How long `redis-server` may take to answer `PING`.
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one command to Redis may take.
const REDIS_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest reply [`Redis::command`] reads (the tests ask for a few keys or client lists).
const MAX_REPLY: usize = 16 * 1024 * 1024;
/// The prefix of sockudo's shared cache keys (idempotency keys included) in the cluster config.
pub const CACHE_PREFIX: &str = "sockudo_cache:";
/// The prefix of the adapter's pub/sub channels in the cluster config.
pub const ADAPTER_PREFIX: &str = "sockudo_adapter:";

/// A running `redis-server` on loopback, stopped on drop.
#[derive(Debug)]
pub struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

/// One Redis reply (RESP2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `:1`.
    Integer(i64),
    /// A bulk string (`None`: the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// An array (`None`: the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: simple and bulk strings (lossy UTF-8), integers; `None` otherwise.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Reply::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// The texts of an array reply (empty for anything else).
    pub fn texts(&self) -> Vec<String> {
        match self {
            Reply::Array(Some(items)) => items.iter().filter_map(Reply::text).collect(),
            _ => Vec::new(),
        }
    }
}

impl Redis {
    /// Starts `redis-server` on a free loopback port, without persistence, and waits until it answers
    /// `PING`. Fails with what to install when `redis-server` is missing.
    pub fn start() -> Result<Redis> {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Redis::start_once() {
                Ok(redis) => return Ok(redis),
                Err((retry, e)) if retry => failures.push(e.to_string()),
                Err((_, e)) => return Err(e),
            }
        }
        Err(Error::new(format!(
            "redis-server did not start in 3 attempts:\n{}",
            failures.join("\n---\n")
        )))
    }

    fn start_once() -> Result<Redis, (bool, Error)> {
        let fatal = |e: Error| (false, e);
        let port = free_port().map_err(fatal)?;
        let dir = log_dir().join(format!("redis-{}-{port}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| fatal(e.into()))?;
        let log = log_dir().join(format!("redis-{}-{port}.log", std::process::id()));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "yes"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                fatal(Error::new(format!(
                    "cannot run redis-server ({e}): the cluster tests need Redis; install Debian's \
                     redis-server (`apt-get install redis-server`, which scripts/setup does)"
                )))
            })?;
        let mut redis = Redis {
            child,
            port,
            dir,
            log,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = redis.child.try_wait() {
                return Err((
                    true,
                    Error::new(format!(
                        "redis-server on port {port} exited with {status} before it was ready:\n{}",
                        file_tail(&redis.log, 20)
                    )),
                ));
            }
            if matches!(redis.command(&["PING"]), Ok(Reply::Simple(ref s)) if s == "PONG") {
                return Ok(redis);
            }
            if started.elapsed() > REDIS_READY_TIMEOUT {
                return Err(fatal(Error::new(format!(
                    "redis-server on port {port} did not answer PING within {REDIS_READY_TIMEOUT:?}:\n{}",
                    file_tail(&redis.log, 20)
                ))));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Sends one command on a fresh connection and reads its reply (blocking; for a few checks per test).
    pub fn command(&self, args: &[&str]) -> Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(REDIS_IO_TIMEOUT))?;
        stream.set_write_timeout(Some(REDIS_IO_TIMEOUT))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request)?;
        let mut reader = BufReader::new(stream);
        read_reply(&mut reader, 0)
    }

    /// The keys matching `pattern` (`SCAN`, so a large keyspace is walked in steps).
    pub fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let reply = self.command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])?;
            let Reply::Array(Some(parts)) = reply else {
                return Err(Error::new(format!("SCAN answered {reply:?}")));
            };
            let (Some(next), Some(found)) = (parts.first(), parts.get(1)) else {
                return Err(Error::new("SCAN answered fewer than two parts"));
            };
            keys.extend(found.texts());
            cursor = next.text().unwrap_or_else(|| "0".to_owned());
            if cursor == "0" {
                return Ok(keys);
            }
        }
    }

    /// The value of `key` (`None` when absent).
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        match self.command(&["GET", key])? {
            Reply::Bulk(None) => Ok(None),
            reply => Ok(reply.text()),
        }
    }

    /// The pub/sub channels with at least one subscriber.
    pub fn pubsub_channels(&self) -> Result<Vec<String>> {
        Ok(self.command(&["PUBSUB", "CHANNELS", "*"])?.texts())
    }
}

fn read_line_crlf(reader: &mut impl BufRead) -> Result<String> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_REPLY as u64)
        .read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(Error::new("redis: reply line without CRLF"));
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_reply(reader: &mut impl BufRead, depth: usize) -> Result<Reply> {
    if depth > 8 {
        return Err(Error::new("redis: reply nested too deep"));
    }
    let line = read_line_crlf(reader)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| Error::new(format!("redis: bad length or integer {rest:?}")))
    };
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Integer(number()?)),
        "$" => {
            let n = number()?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = usize::try_from(n).map_err(|_| Error::new("redis: bad bulk length"))?;
            if n > MAX_REPLY {
                return Err(Error::new(format!("redis: bulk string of {n} bytes")));
            }
            let mut data = vec![0; n + 2];
            reader.read_exact(&mut data)?;
            data.truncate(n);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let n = number()?;
            if n < 0 {
                return Ok(Reply::Array(None));
            }
            let n = usize::try_from(n).map_err(|_| Error::new("redis: bad array length"))?;
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                items.push(read_reply(reader, depth + 1)?);
            }
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(Error::new(format!("redis: unexpected reply {line:?}"))),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = fs::remove_dir_all(&self.dir);
        if std::thread::panicking() {
            eprintln!(
                "redis log (port {}): {}\n{}",
                self.port,
                self.log.display(),
                file_tail(&self.log, 20)
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// Turns one node's configuration ([`crate::sockudo::config`]) into a cluster node's: Redis for the adapter,
/// the cache, the rate limiter and the queue, all at `127.0.0.1:<redis_port>` (database 0), with sockudo's
/// default key prefixes spelled out; webhook retries on (the cluster is set up as in production).
pub fn cluster_config(config: &mut Value, redis_port: u16) {
    config["database"] = json!({
        "redis": {"host": "127.0.0.1", "port": redis_port, "db": 0, "key_prefix": "sockudo:"}
    });
    config["adapter"] = json!({
        "driver": "redis",
        "redis": {"prefix": ADAPTER_PREFIX, "requests_timeout": 5000},
        "enable_socket_counting": true,
        // A node that cannot reach Redis must fail to start, not run alone on the local adapter.
        "fallback_to_local": false,
        "cluster_health": {
            "enabled": true,
            "heartbeat_interval_ms": 2000,
            "node_timeout_ms": 10000,
            "cleanup_interval_ms": 5000
        }
    });
    config["cache"] = json!({"driver": "redis", "redis": {"prefix": CACHE_PREFIX}});
    config["queue"] =
        json!({"driver": "redis", "redis": {"prefix": "sockudo_queue:", "concurrency": 5}});
    config["rate_limiter"] = json!({
        "enabled": true,
        "driver": "redis",
        "api_rate_limit": {"max_requests": 10_000_000, "window_seconds": 60},
        "websocket_rate_limit": {"max_requests": 100_000, "window_seconds": 60},
        "redis": {"prefix": "sockudo_rate_limit:"}
    });
    config["webhooks"]["retry"] = json!({
        "enabled": true,
        "max_attempts": 5,
        "initial_backoff_ms": 200,
        "max_backoff_ms": 1000,
        "max_elapsed_time_ms": 10_000
    });
}

/// Redis and sockudo nodes sharing it; everything stopped on drop (the nodes first).
#[derive(Debug)]
pub struct Cluster {
    // Dropped in declaration order: the nodes stop before Redis does.
    nodes: Vec<Sockudo>,
    redis: Redis,
}

impl Cluster {
    /// Redis and two nodes sending webhooks to `webhook_url` when given.
    pub async fn start(webhook_url: Option<&str>) -> Result<Cluster> {
        Cluster::start_nodes(2, webhook_url).await
    }

    /// Redis and `count` nodes. Fails when a node does not use Redis (a sockudo built without its `redis`
    /// feature), saying how to build one.
    pub async fn start_nodes(count: usize, webhook_url: Option<&str>) -> Result<Cluster> {
        let redis = tokio::task::spawn_blocking(Redis::start).await??;
        let port = redis.port();
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            nodes.push(Sockudo::start_with(webhook_url, |c| cluster_config(c, port)).await?);
        }
        let cluster = Cluster { nodes, redis };
        cluster.check_nodes_use_redis()?;
        Ok(cluster)
    }

    /// The adapter of every node subscribes to the shared Redis pub/sub channels named after its prefix
    /// (`#broadcast`, `#requests`; besides its own `#node:`/`#reply:` ones): each shared channel must have
    /// one subscriber per node (a node that fell back to a local adapter subscribes to none). A binary without the `redis` feature refuses the config and never gets here.
    fn check_nodes_use_redis(&self) -> Result<()> {
        let channels = self.redis.pubsub_channels()?;
        let adapter: Vec<&String> = channels
            .iter()
            .filter(|c| {
                c.starts_with(ADAPTER_PREFIX)
                    && (c.ends_with("#broadcast") || c.ends_with("#requests"))
            })
            .collect();
        let mut every_node_subscribed = !adapter.is_empty();
        for channel in &adapter {
            let counts = self.redis.command(&["PUBSUB", "NUMSUB", channel])?.texts();
            let subscribers: usize = counts.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            every_node_subscribed &= subscribers >= self.nodes.len();
        }
        if every_node_subscribed {
            return Ok(());
        }
        let binary = crate::sockudo::sockudo_binary()
            .map(|b| b.display().to_string())
            .unwrap_or_else(|e| e.to_string());
        Err(Error::new(format!(
            "the sockudo nodes do not all use Redis (pub/sub channels {channels:?}): \
             {binary} was most likely built without the `redis` feature. Run scripts/install-sockudo (it \
             builds sockudo with features local,redis) and unset SOCKUDO_BIN, or point SOCKUDO_BIN at such a \
             build.\nfirst node's log:\n{}",
            self.nodes
                .first()
                .map(|n| n.log_tail(30))
                .unwrap_or_default()
        )))
    }

    /// Node `i` (0-based).
    ///
    /// # Panics
    /// When there is no node `i` (a test's mistake).
    pub fn node(&self, i: usize) -> &Sockudo {
        &self.nodes[i]
    }

    /// Every node.
    pub fn nodes(&self) -> &[Sockudo] {
        &self.nodes
    }

    /// The shared Redis.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }
}
