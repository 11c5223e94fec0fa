//! The Rust side of `tests/node/client.mjs`: a Node process running pusher-js clients, driven with one JSON
//! object per line over stdin/stdout.
//!
//! Commands get replies ([`Node::call`]); everything else the process prints is an event ([`Node::next_event`]):
//! `{"event":"message", name, channel, eventName, data}`, `{"event":"user_message", name, eventName, data}`,
//! `{"event":"state", name, previous, current}`, `{"event":"error", name, error}`,
//! `{"event":"subscription_error", …}` and `{"event":"auth_request", …}`. Channel authorization and user
//! authentication can be answered by Rust ([`Node::authorize_with`]): the clients connected with
//! `authVia: "rust"` ask over stdout and wait for an `auth_reply` line.
//!
//! # Proving that something did not arrive
//!
//! There is no timer here for "nothing arrives": waiting a while after the last event misses whatever
//! arrives later. Instead a test sends a *sentinel* ([`SENTINEL_EVENT`], data `{"id": n}` with a fresh `n`)
//! after the event under test, on the same channel (or to the same user), without excluding any socket, and
//! waits for it ([`Node::messages_before_sentinel`], [`Node::settle`], [`Node::expect_no_message`]). A
//! channel delivers in order on each connection, so everything the server sent that connection on that
//! channel before the sentinel has arrived by then: an event missing from what came before the sentinel was
//! not sent, and a duplicate or leaked one is in that list. The Node process pushes its lines in the order
//! pusher-js received the messages, and the queue here keeps that order.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pusher::{PresenceData, Pusher, UserData};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{Error, Result, Sockudo, workspace_root};

/// How long [`Node::call`] waits for a reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How many stderr lines of the Node process are kept for error messages.
const STDERR_LINES: usize = 60;
/// How many unclaimed events are kept.
const BACKLOG: usize = 10_000;
/// The event name of sentinels (see the module documentation). `tests/node/client.mjs` binds it on every
/// channel it binds, and on the user once `bind_user` was called.
pub const SENTINEL_EVENT: &str = "e2e-sentinel";
/// Most channels in one trigger (the HTTP API's limit).
const CHANNELS_PER_TRIGGER: usize = 100;

/// What an authorization request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Channel authorization (private, presence, encrypted channels).
    Channel,
    /// User authentication (`pusher:signin`).
    User,
}

/// An authorization request from a pusher-js client connected with `authVia: "rust"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// Channel or user.
    pub kind: AuthKind,
    /// The client's name in the Node process.
    pub client: String,
    /// The connection's socket id.
    pub socket_id: String,
    /// The channel (channel authorization only).
    pub channel: Option<String>,
    /// The request's id in the Node process.
    pub req_id: u64,
}

/// The answer to an [`AuthRequest`], as an auth endpoint would give it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthReply {
    /// The HTTP status; anything but 200 fails the authorization in pusher-js.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// What a rule decides for an [`AuthRequest`]; [`Node::authorize_with`] turns it into the core's signatures.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthDecision {
    /// Sign the private or encrypted channel with [`Pusher::authorize_channel`].
    Allow,
    /// Sign the presence channel with this member.
    Presence(PresenceData),
    /// Sign the user with [`Pusher::authenticate_user`].
    User(UserData),
    /// Refuse with this HTTP status (like an auth endpoint answering 403).
    Deny(u16),
    /// Answer exactly this (a forged signature, a broken body…).
    Reply(AuthReply),
}

type AuthHandler = Arc<dyn Fn(&AuthRequest) -> AuthReply + Send + Sync>;
type Pending = Arc<StdMutex<HashMap<u64, oneshot::Sender<Value>>>>;

struct Events {
    rx: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

/// A running `tests/node/client.mjs`; killed when dropped.
pub struct Node {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    pending: Pending,
    events: Mutex<Events>,
    auth: Arc<StdMutex<Option<AuthHandler>>>,
    auth_log: Arc<StdMutex<Vec<AuthRequest>>>,
    stderr: Arc<StdMutex<VecDeque<String>>>,
    next_id: AtomicU64,
    next_sentinel: AtomicU64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// The folder of the Node helper (`tests/node`).
pub fn node_dir() -> PathBuf {
    workspace_root().join("tests").join("node")
}

impl Node {
    /// Starts the helper. Fails when `node` or `tests/node/node_modules` is missing.
    pub async fn start() -> Result<Node> {
        let dir = node_dir();
        let script = dir.join("client.mjs");
        if !dir.join("node_modules").join("pusher-js").is_dir() {
            return Err(Error::new(format!(
                "{}/node_modules is missing pusher-js: run `npm ci --prefix tests/node` (or scripts/setup)",
                dir.display()
            )));
        }
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::new(format!(
                    "cannot run `node {}`: {e}; install Node 18+ and run `npm ci --prefix tests/node`",
                    script.display()
                ))
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::new("node started without piped stdio"));
        };
        let stdin = Arc::new(Mutex::new(stdin));
        let pending: Pending = Arc::default();
        let auth: Arc<StdMutex<Option<AuthHandler>>> = Arc::default();
        let auth_log: Arc<StdMutex<Vec<AuthRequest>>> = Arc::default();
        let stderr_tail: Arc<StdMutex<VecDeque<String>>> = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();

        {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() >= STDERR_LINES {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        {
            let pending = pending.clone();
            let auth = auth.clone();
            let auth_log = auth_log.clone();
            let stdin = stdin.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(value) = serde_json::from_str::<Value>(&line) else {
                        let _ = tx.send(json!({"event": "garbage", "line": line}));
                        continue;
                    };
                    if value.get("event").is_none() {
                        if let Some(id) = value.get("id").and_then(Value::as_u64) {
                            let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
                            if let Some(w) = waiter {
                                let _ = w.send(value);
                            }
                            continue;
                        }
                    }
                    if value["event"] == "auth_request" {
                        if let Some(request) = parse_auth_request(&value) {
                            if let Ok(mut log) = auth_log.lock() {
                                log.push(request.clone());
                            }
                            let handler = auth.lock().ok().and_then(|h| h.clone());
                            if let Some(handler) = handler {
                                let reply = handler(&request);
                                let line = json!({
                                    "cmd": "auth_reply",
                                    "reqId": request.req_id,
                                    "status": reply.status,
                                    "body": reply.body,
                                });
                                let stdin = stdin.clone();
                                tokio::spawn(async move {
                                    let _ = write_line(&stdin, &line).await;
                                });
                                continue;
                            }
                        }
                    }
                    let _ = tx.send(value);
                }
                // The process is gone: fail every waiting call.
                if let Ok(mut p) = pending.lock() {
                    p.clear();
                }
            });
        }

        let node = Node {
            child,
            stdin,
            pending,
            events: Mutex::new(Events {
                rx,
                backlog: VecDeque::new(),
            }),
            auth,
            auth_log,
            stderr: stderr_tail,
            next_id: AtomicU64::new(1),
            next_sentinel: AtomicU64::new(1),
        };
        node.call(json!({"cmd": "ping"})).await?;
        Ok(node)
    }

    /// The last lines the Node process wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Sends a command and returns the whole reply, `ok: false` included. `cmd` is an object with a `cmd`
    /// field; the `id` is added here.
    pub async fn request_timeout(&self, cmd: Value, timeout: Duration) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut cmd = cmd;
        let Some(obj) = cmd.as_object_mut() else {
            return Err(Error::new("a command must be a JSON object"));
        };
        obj.insert("id".into(), json!(id));
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| Error::new("pending lock poisoned"))?
            .insert(id, tx);
        if let Err(e) = write_line(&self.stdin, &cmd).await {
            return Err(Error::new(format!(
                "cannot write to node ({e}); stderr:\n{}",
                self.stderr_tail()
            )));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(Error::new(format!(
                "node exited while running {cmd}; stderr:\n{}",
                self.stderr_tail()
            ))),
            Err(_) => {
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&id);
                }
                Err(Error::new(format!(
                    "no reply to {cmd} within {timeout:?}; node stderr:\n{}",
                    self.stderr_tail()
                )))
            }
        }
    }

    /// [`request_timeout`](Self::request_timeout) with [`CALL_TIMEOUT`].
    pub async fn request(&self, cmd: Value) -> Result<Value> {
        self.request_timeout(cmd, CALL_TIMEOUT).await
    }

    /// Sends a command and returns its reply; a reply with `ok: false` is an error carrying its `error`.
    pub async fn call(&self, cmd: Value) -> Result<Value> {
        let reply = self.request(cmd.clone()).await?;
        if reply["ok"] == true {
            Ok(reply)
        } else {
            Err(Error::new(format!("{cmd} failed: {}", reply["error"])))
        }
    }

    /// The first event (pushed so far or within `timeout`) matching `predicate`; it is removed, the others
    /// stay queued for later calls.
    pub async fn next_event(
        &self,
        predicate: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.events.lock().await;
        if let Some(i) = events.backlog.iter().position(&predicate) {
            if let Some(event) = events.backlog.remove(i) {
                return Ok(event);
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, events.rx.recv()).await {
                Ok(Some(event)) if predicate(&event) => return Ok(event),
                Ok(Some(event)) => {
                    if events.backlog.len() >= BACKLOG {
                        events.backlog.pop_front();
                    }
                    events.backlog.push_back(event);
                }
                Ok(None) => {
                    return Err(Error::new(format!(
                        "node exited; stderr:\n{}",
                        self.stderr_tail()
                    )));
                }
                Err(_) => {
                    let recent: Vec<String> = events
                        .backlog
                        .iter()
                        .rev()
                        .take(20)
                        .map(Value::to_string)
                        .collect();
                    return Err(Error::new(format!(
                        "no matching event within {timeout:?}; latest other events:\n{}",
                        recent.join("\n")
                    )));
                }
            }
        }
    }

    /// Waits until an event matching `marker` arrives (or has arrived), then removes it and every earlier
    /// event matching `stream` from the queue and returns those, oldest first. Events that match neither
    /// stay queued, and so do the ones after the marker.
    pub async fn events_before(
        &self,
        marker: impl Fn(&Value) -> bool,
        stream: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.events.lock().await;
        let at = loop {
            if let Some(i) = events.backlog.iter().position(&marker) {
                break i;
            }
            match tokio::time::timeout_at(deadline, events.rx.recv()).await {
                // The backlog is not trimmed here: dropping its oldest events would lose the ones asked for.
                Ok(Some(event)) => events.backlog.push_back(event),
                Ok(None) => {
                    return Err(Error::new(format!(
                        "node exited; stderr:\n{}",
                        self.stderr_tail()
                    )));
                }
                Err(_) => {
                    let recent: Vec<String> = events
                        .backlog
                        .iter()
                        .rev()
                        .take(20)
                        .map(Value::to_string)
                        .collect();
                    return Err(Error::new(format!(
                        "the marker did not arrive within {timeout:?}; latest other events:\n{}",
                        recent.join("\n")
                    )));
                }
            }
        };
        let mut later = events.backlog.split_off(at);
        later.pop_front();
        let (before, others): (VecDeque<Value>, VecDeque<Value>) =
            events.backlog.drain(..).partition(|e| stream(e));
        events.backlog = others;
        events.backlog.extend(later);
        while events.backlog.len() > BACKLOG {
            events.backlog.pop_front();
        }
        Ok(before.into())
    }

    /// Triggers a sentinel ([`SENTINEL_EVENT`], data `{"id": n}`) on each of `channels`, excluding no socket;
    /// returns its id `n`, fresh for this Node process.
    pub async fn send_sentinel(&self, pusher: &Pusher, channels: &[&str]) -> Result<u64> {
        let id = self.next_sentinel.fetch_add(1, Ordering::Relaxed);
        for chunk in channels.chunks(CHANNELS_PER_TRIGGER) {
            pusher
                .trigger(chunk, SENTINEL_EVENT, &json!({ "id": id }))
                .await
                .map_err(|e| Error::new(format!("cannot trigger the sentinel: {e}")))?;
        }
        Ok(id)
    }

    /// Sends a sentinel to the user `user_id` ([`Pusher::send_to_user`]); returns its id.
    pub async fn send_user_sentinel(&self, pusher: &Pusher, user_id: &str) -> Result<u64> {
        let id = self.next_sentinel.fetch_add(1, Ordering::Relaxed);
        pusher
            .send_to_user(user_id, SENTINEL_EVENT, &json!({ "id": id }))
            .await
            .map_err(|e| Error::new(format!("cannot send the sentinel to {user_id}: {e}")))?;
        Ok(id)
    }

    /// Waits until `client` receives sentinel `id` on `channel` and returns every `message` it received on
    /// `channel` before it and that no earlier call took: by the order of delivery, everything the server
    /// sent it there before the sentinel. Other sentinels are left out.
    pub async fn messages_before_sentinel(
        &self,
        client: &str,
        channel: &str,
        id: u64,
    ) -> Result<Vec<Value>> {
        let messages = self
            .events_before(
                |e| is_message(e, client, channel, SENTINEL_EVENT) && e["data"]["id"] == id,
                |e| e["event"] == "message" && e["name"] == client && e["channel"] == channel,
                SENTINEL_TIMEOUT,
            )
            .await
            .map_err(|e| {
                Error::new(format!(
                    "{client} did not receive sentinel {id} on {channel}: {e}"
                ))
            })?;
        Ok(without_sentinels(messages))
    }

    /// Like [`messages_before_sentinel`](Self::messages_before_sentinel) for the events sent to the user
    /// signed in on `client` (`user_message`; the client must have called [`bind_user`](Self::bind_user)).
    pub async fn user_messages_before_sentinel(&self, client: &str, id: u64) -> Result<Vec<Value>> {
        let messages = self
            .events_before(
                |e| {
                    e["event"] == "user_message"
                        && e["name"] == client
                        && e["eventName"] == SENTINEL_EVENT
                        && e["data"]["id"] == id
                },
                |e| e["event"] == "user_message" && e["name"] == client,
                SENTINEL_TIMEOUT,
            )
            .await
            .map_err(|e| Error::new(format!("{client} did not receive user sentinel {id}: {e}")))?;
        Ok(without_sentinels(messages))
    }

    /// Sends a sentinel on `channel` and returns what `client` received there before it
    /// ([`messages_before_sentinel`](Self::messages_before_sentinel)).
    pub async fn settle(&self, pusher: &Pusher, client: &str, channel: &str) -> Result<Vec<Value>> {
        let id = self.send_sentinel(pusher, &[channel]).await?;
        self.messages_before_sentinel(client, channel, id).await
    }

    /// Fails if `client` received `event` on `channel` (and no earlier call took it) before a sentinel sent
    /// now on `channel`.
    pub async fn expect_no_message(
        &self,
        pusher: &Pusher,
        client: &str,
        channel: &str,
        event: &str,
    ) -> Result<()> {
        let before = self.settle(pusher, client, channel).await?;
        match before.iter().find(|e| e["eventName"] == event) {
            Some(e) => Err(Error::new(format!(
                "{client} received {event} on {channel}: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// The counts of a `countBind` counter `client` once everything sent to its channels so far has arrived:
    /// sends a sentinel to every channel in `channels` (all the channels it counts) and waits until the
    /// counter has received it on each (`{"event":"counted"}`), then returns
    /// `{received, unique, duplicates, bad}`.
    pub async fn counts_after_sentinel(
        &self,
        pusher: &Pusher,
        client: &str,
        channels: &[&str],
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.send_sentinel(pusher, channels).await?;
        self.next_event(
            |e| e["event"] == "counted" && e["name"] == client && e["sentinel"] == id,
            timeout,
        )
        .await
        .map_err(|e| {
            Error::new(format!(
                "sentinel {id} did not reach every channel of {client}: {e}"
            ))
        })?;
        self.call(json!({"cmd": "counts", "name": client})).await
    }

    /// Returns once the server has handled every message `client` sent before this call: it subscribes
    /// `client` to a fresh public channel and waits for the subscription to succeed (a connection's messages
    /// are handled in order). For instance after an unsubscribe, so that what the server sends because of
    /// it is queued before a sentinel triggered next.
    pub async fn barrier(&self, client: &str) -> Result<()> {
        let n = self.next_sentinel.fetch_add(1, Ordering::Relaxed);
        let channel = format!("e2e-barrier-{n}");
        self.subscribe(client, &channel).await?;
        self.unsubscribe(client, &channel).await
    }

    /// Answers every `auth_request` with `handler` from now on (requests that arrived earlier stay events).
    pub fn on_auth(&self, handler: impl Fn(&AuthRequest) -> AuthReply + Send + Sync + 'static) {
        if let Ok(mut h) = self.auth.lock() {
            *h = Some(Arc::new(handler));
        }
    }

    /// Answers every `auth_request` with the core's signatures, as `rule` decides: [`Pusher::authorize_channel`]
    /// for channels and [`Pusher::authenticate_user`] for users. A signing error answers 500.
    pub fn authorize_with(
        &self,
        pusher: Pusher,
        rule: impl Fn(&AuthRequest) -> AuthDecision + Send + Sync + 'static,
    ) {
        self.on_auth(move |request| answer(&pusher, request, rule(request)));
    }

    /// Every authorization request received so far.
    pub fn auth_requests(&self) -> Vec<AuthRequest> {
        self.auth_log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends an `auth_reply` by hand (for requests left as events).
    pub async fn auth_reply(&self, req_id: u64, reply: &AuthReply) -> Result<()> {
        let line = json!({"cmd": "auth_reply", "reqId": req_id, "status": reply.status, "body": reply.body});
        write_line(&self.stdin, &line).await
    }

    // ---------------------------------------------------------------------------------------------
    // Typed commands

    /// Connects a pusher-js client named `name` to `server`, authorized by Rust ([`authorize_with`]).
    /// Returns its socket id.
    ///
    /// [`authorize_with`]: Self::authorize_with
    pub async fn connect(&self, name: &str, server: &Sockudo) -> Result<String> {
        let mut cmd = server.client_options();
        if let Some(obj) = cmd.as_object_mut() {
            obj.insert("cmd".into(), json!("connect"));
            obj.insert("name".into(), json!(name));
            obj.insert("authVia".into(), json!("rust"));
        }
        let reply = self.call(cmd).await?;
        reply["socket_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::new(format!("connect reply without socket_id: {reply}")))
    }

    /// Subscribes `name` to `channel`; the reply (with `members` on presence channels) once subscribed.
    pub async fn subscribe(&self, name: &str, channel: &str) -> Result<Value> {
        self.call(json!({"cmd": "subscribe", "name": name, "channel": channel}))
            .await
    }

    /// Subscribes and fails unless it is refused; returns the refusal.
    pub async fn subscribe_refused(&self, name: &str, channel: &str) -> Result<Value> {
        let reply = self
            .request(json!({"cmd": "subscribe", "name": name, "channel": channel}))
            .await?;
        if reply["ok"] == false {
            Ok(reply["error"].clone())
        } else {
            Err(Error::new(format!(
                "{name} was allowed to subscribe to {channel}: {reply}"
            )))
        }
    }

    /// Pushes every event of `channel` received by `name` as a `message` event (`event` = `None`: all events,
    /// `pusher:` ones included).
    pub async fn bind(&self, name: &str, channel: &str, event: Option<&str>) -> Result<()> {
        let mut cmd = json!({"cmd": "bind", "name": name, "channel": channel});
        if let (Some(e), Some(obj)) = (event, cmd.as_object_mut()) {
            obj.insert("event".into(), json!(e));
        }
        self.call(cmd).await.map(drop)
    }

    /// Binds `event` on `channel` for `name` with the chunk-reassembling handler of `tests/node/client.mjs`
    /// (the pusher crate's documented snippet): each whole event, plain or reassembled from
    /// `chunked-<event>` pieces, is pushed as a `message` with `chunks` = how many pieces it came in.
    pub async fn bind_chunked(&self, name: &str, channel: &str, event: &str) -> Result<()> {
        self.call(json!({"cmd": "bindChunked", "name": name, "channel": channel, "event": event}))
            .await
            .map(drop)
    }

    /// Subscribes and binds every event of the channel.
    pub async fn subscribe_and_bind(&self, name: &str, channel: &str) -> Result<Value> {
        let reply = self.subscribe(name, channel).await?;
        self.bind(name, channel, None).await?;
        Ok(reply)
    }

    /// The next `message` event `event` on `channel` received by `name`, within `timeout`.
    pub async fn next_message(
        &self,
        name: &str,
        channel: &str,
        event: &str,
        timeout: Duration,
    ) -> Result<Value> {
        self.next_event(|e| is_message(e, name, channel, event), timeout)
            .await
            .map_err(|e| Error::new(format!("{name} did not receive {event} on {channel}: {e}")))
    }

    /// Signs `name` in (user authentication); returns the signed-in `user_data`.
    pub async fn signin(&self, name: &str) -> Result<Value> {
        self.call(json!({"cmd": "signin", "name": name})).await
    }

    /// Pushes events sent to the signed-in user of `name` (`pusher.user.bind(event)`) as `user_message`.
    pub async fn bind_user(&self, name: &str, event: &str) -> Result<()> {
        self.call(json!({"cmd": "bindUser", "name": name, "event": event}))
            .await
            .map(drop)
    }

    /// Sends a client event from `name` on `channel`; whether pusher-js sent it.
    pub async fn trigger_client(
        &self,
        name: &str,
        channel: &str,
        event: &str,
        data: Value,
    ) -> Result<bool> {
        let reply = self
            .call(json!({"cmd": "trigger_client", "name": name, "channel": channel, "event": event, "data": data}))
            .await?;
        Ok(reply["sent"] == true)
    }

    /// The connection state of `name` (`connected`, `disconnected`…).
    pub async fn state(&self, name: &str) -> Result<String> {
        let reply = self.connection(name).await?;
        Ok(reply["state"].as_str().unwrap_or_default().to_owned())
    }

    /// The connection of `name`: `{state, socket_id, retrying, connecting}`, where `retrying` says pusher-js
    /// has a reconnection scheduled and `connecting` that it is connecting now. A client `disconnected` with
    /// neither stays disconnected.
    pub async fn connection(&self, name: &str) -> Result<Value> {
        self.call(json!({"cmd": "state", "name": name})).await
    }

    /// The presence members of `channel` as `name` sees them (`{count, myID, me, members}`).
    pub async fn members(&self, name: &str, channel: &str) -> Result<Value> {
        let reply = self
            .call(json!({"cmd": "members", "name": name, "channel": channel}))
            .await?;
        Ok(reply["members"].clone())
    }

    /// Unsubscribes `name` from `channel`.
    pub async fn unsubscribe(&self, name: &str, channel: &str) -> Result<()> {
        self.call(json!({"cmd": "unsubscribe", "name": name, "channel": channel}))
            .await
            .map(drop)
    }

    /// Disconnects `name` and waits until it is disconnected.
    pub async fn disconnect(&self, name: &str) -> Result<()> {
        self.call(json!({"cmd": "disconnect", "name": name}))
            .await
            .map(drop)
    }
}

/// How long [`Node::messages_before_sentinel`] waits for the sentinel.
pub const SENTINEL_TIMEOUT: Duration = Duration::from_secs(10);

fn without_sentinels(events: Vec<Value>) -> Vec<Value> {
    events
        .into_iter()
        .filter(|e| e["eventName"] != SENTINEL_EVENT)
        .collect()
}

/// Whether `event` is a `message` event `event_name` on `channel` received by `name`.
pub fn is_message(event: &Value, name: &str, channel: &str, event_name: &str) -> bool {
    event["event"] == "message"
        && event["name"] == name
        && event["channel"] == channel
        && event["eventName"] == event_name
}

fn parse_auth_request(value: &Value) -> Option<AuthRequest> {
    let kind = match value["kind"].as_str()? {
        "channel" => AuthKind::Channel,
        "user" => AuthKind::User,
        _ => return None,
    };
    Some(AuthRequest {
        kind,
        client: value["name"].as_str().unwrap_or_default().to_owned(),
        socket_id: value["socketId"].as_str().unwrap_or_default().to_owned(),
        channel: value["channelName"].as_str().map(str::to_owned),
        req_id: value["reqId"].as_u64()?,
    })
}

/// The reply an auth endpoint built on the core would give.
pub fn answer(pusher: &Pusher, request: &AuthRequest, decision: AuthDecision) -> AuthReply {
    let channel = request.channel.as_deref().unwrap_or_default();
    let signed: pusher::Result<Value> = match (decision, request.kind) {
        (AuthDecision::Deny(status), _) => {
            return AuthReply {
                status,
                body: json!({"error": "refused by the test's rule"}),
            };
        }
        (AuthDecision::Reply(reply), _) => return reply,
        (AuthDecision::Allow, AuthKind::Channel) => pusher
            .authorize_channel(channel, &request.socket_id, None)
            .and_then(|a| serde_json::to_value(a).map_err(Into::into)),
        (AuthDecision::Presence(member), AuthKind::Channel) => pusher
            .authorize_channel(channel, &request.socket_id, Some(&member))
            .and_then(|a| serde_json::to_value(a).map_err(Into::into)),
        (AuthDecision::User(user), AuthKind::User) => pusher
            .authenticate_user(&request.socket_id, &user)
            .and_then(|a| serde_json::to_value(a).map_err(Into::into)),
        (decision, kind) => {
            return AuthReply {
                status: 500,
                body: json!({"error": format!("decision {decision:?} does not fit a {kind:?} request")}),
            };
        }
    };
    match signed {
        Ok(body) => AuthReply { status: 200, body },
        Err(e) => AuthReply {
            status: 500,
            body: json!({"error": e.to_string()}),
        },
    }
}

async fn write_line(stdin: &Mutex<ChildStdin>, value: &Value) -> Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    let mut stdin = stdin.lock().await;
    stdin.write_all(&line).await?;
    stdin.flush().await?;
    Ok(())
}
