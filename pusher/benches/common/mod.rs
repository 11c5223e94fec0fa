//! The inputs of the benchmarks, shared by the Criterion benches (`benches/ops.rs`) and the cross-library
//! comparison (`examples/bench_ops.rs`, which writes them as JSON for the Python and Node runners in
//! `bench/`). Change them here and every runner follows.

#![allow(dead_code)]

use serde_json::{Value, json};

/// The app.
pub const APP_ID: &str = "123456";
/// The app key.
pub const KEY: &str = "278d425bdf160c739803";
/// The app secret.
pub const SECRET: &str = "7ad3773142a6692b25b8";
/// Base64 of the 32 bytes 0, 1, …, 31.
pub const MASTER_KEY_BASE64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The socket id every auth op signs for.
pub const SOCKET_ID: &str = "123456.7890123";
/// The private channel of the private-auth op.
pub const PRIVATE_CHANNEL: &str = "private-orders-42";
/// The presence channel of the presence-auth op.
pub const PRESENCE_CHANNEL: &str = "presence-room-42";
/// The presence member's id.
pub const PRESENCE_USER_ID: &str = "user-42";
/// The user id of the user-auth op.
pub const USER_ID: &str = "user-42";

/// The encrypted channel of the encrypt op.
pub const ENCRYPTED_CHANNEL: &str = "private-encrypted-orders-42";

/// The channel and event of the 1 KB trigger.
pub const TRIGGER_CHANNEL: &str = "orders";
/// The event name of the triggers.
pub const TRIGGER_EVENT: &str = "order-created";
/// The event of the 100-channel trigger, and its (already encoded) data.
pub const MULTI_EVENT: &str = "tick";
/// The data of the 100-channel trigger.
pub const MULTI_DATA: &str = r#"{"n":1}"#;

/// The short message of the bare HMAC floor (the private-auth string to sign).
pub fn hmac_message() -> String {
    format!("{SOCKET_ID}:{PRIVATE_CHANNEL}")
}

/// The presence member's `user_info`.
pub fn presence_user_info() -> Value {
    json!({"name": "Alice Example", "role": "admin"})
}

/// The user-auth op's `user_info`.
pub fn user_info() -> Value {
    json!({"name": "Alice Example"})
}

/// Pads `prefix` + filler + `suffix` to exactly `len` bytes (ASCII filler, no characters JSON escapes).
fn padded(prefix: &str, suffix: &str, len: usize) -> String {
    let filler = "Lorem ipsum dolor sit amet consectetur adipiscing elit ";
    let mut s = String::with_capacity(len);
    s.push_str(prefix);
    let want = len.saturating_sub(prefix.len() + suffix.len());
    while s.len() - prefix.len() < want {
        let left = want - (s.len() - prefix.len());
        s.push_str(&filler[..left.min(filler.len())]);
    }
    s.push_str(suffix);
    s
}

/// The 1 KB plaintext of the encrypt op (1024 ASCII bytes, nothing JSON escapes).
pub fn encrypt_plaintext() -> String {
    padded("", "", 1024)
}

/// The 1 KB already-encoded JSON data of the 1 KB trigger (1024 bytes).
pub fn trigger_data() -> String {
    padded(r#"{"id":42,"note":""#, r#""}"#, 1024)
}

/// The 100 channel names of the 100-channel trigger.
pub fn multi_channels() -> Vec<String> {
    (0..100).map(|i| format!("channel-{i}")).collect()
}

/// A 1024-byte webhook body created at `time_ms`: four events (occupied, member added, a client event
/// whose string data is padded to make up the size, vacated).
pub fn webhook_body(time_ms: u64) -> String {
    let head = format!(
        r#"{{"time_ms":{time_ms},"events":[{{"name":"channel_occupied","channel":"{PRIVATE_CHANNEL}"}},{{"name":"member_added","channel":"{PRESENCE_CHANNEL}","user_id":"{PRESENCE_USER_ID}"}},{{"name":"client_event","channel":"{PRIVATE_CHANNEL}","event":"client-typing","socket_id":"{SOCKET_ID}","data":"{{\"text\":\""#
    );
    let tail = format!(r#"\"}}"}},{{"name":"channel_vacated","channel":"{TRIGGER_CHANNEL}"}}]}}"#);
    padded(&head, &tail, 1024)
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
