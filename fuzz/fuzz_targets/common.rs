//! What the targets share: the input layout and the clients under test.
//!
//! Every input is `[flags] field 0xFF field 0xFF … rest`: the first byte selects a mode, the remaining bytes
//! are split at the first few `0xFF` bytes (never part of UTF-8, so hand-written seeds stay readable; the
//! last field keeps any further `0xFF`). Text fields are decoded lossily, so every input reaches the code.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pusher::Pusher;

/// The fixed "now" of every client here, in milliseconds (2023-11-14T22:13:20Z).
pub const NOW_MS: u64 = 1_700_000_000_000;
pub const APP_KEY: &str = "app-key";
pub const APP_SECRET: &str = "app-secret";
pub const OLD_KEY: &str = "old-key";
pub const OLD_SECRET: &str = "old-secret";
/// Base64 of the bytes 0, 1, …, 31.
pub const MASTER_KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `(flags, fields)`: at most `n` fields.
pub fn split(data: &[u8], n: usize) -> (u8, Vec<&[u8]>) {
    match data.split_first() {
        Some((flags, rest)) => (*flags, rest.splitn(n, |b| *b == 0xFF).collect()),
        None => (0, Vec::new()),
    }
}

/// Field `i`, or empty.
pub fn field<'a>(fields: &[&'a [u8]], i: usize) -> &'a [u8] {
    fields.get(i).copied().unwrap_or_default()
}

/// Field `i` as text.
pub fn text(fields: &[&[u8]], i: usize) -> String {
    String::from_utf8_lossy(field(fields, i)).into_owned()
}

fn build(master_key: bool, tolerance: Option<Duration>) -> Pusher {
    let mut b = Pusher::builder("app-id", APP_KEY, APP_SECRET)
        .host("127.0.0.1")
        .port(1)
        .use_tls(false)
        .extra_webhook_token(OLD_KEY, OLD_SECRET)
        .webhook_tolerance(tolerance)
        .webhook_body_limit(2048);
    if master_key {
        b = b.encryption_master_key_base64(MASTER_KEY_B64);
    }
    b.build()
        .expect("the fuzz client's configuration is valid")
        .with_clock(|| UNIX_EPOCH + Duration::from_millis(NOW_MS))
}

/// The four clients: with or without a master key, with the default 300 s tolerance or none.
pub fn client(master_key: bool, tolerance: bool) -> &'static Pusher {
    static CLIENTS: OnceLock<[Pusher; 4]> = OnceLock::new();
    let all = CLIENTS.get_or_init(|| {
        let t = Some(Duration::from_secs(300));
        [
            build(false, t),
            build(true, t),
            build(false, None),
            build(true, None),
        ]
    });
    &all[usize::from(master_key) + 2 * usize::from(!tolerance)]
}

/// The clock the clients read, for targets that need a `SystemTime`.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(NOW_MS)
}
