//! Runs one hot-path op a fixed number of times, for CPU counters that do not depend on the machine's
//! load (`bench/README.md`, "CPU cycles per op"):
//!
//! ```text
//! cargo build --release -p pusher --example op_loop
//! perf stat -e cycles:u,instructions:u target/release/examples/op_loop encrypt_1kb 200000
//! ```
//!
//! Ops: `auth_private`, `auth_presence`, `auth_user`, `encrypt_1kb`, `trigger_1kb`, `webhook_validate_1kb`,
//! on the inputs of `benches/common` (the ones `cargo bench --bench ops` and `bench/compare` use). Divide the
//! counters by the count (the setup before the loop is a few hundred microseconds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use pusher::encryption::MasterKey;
use pusher::{PresenceData, Pusher, TriggerOptions, UserData};

fn repeat<T>(n: u64, mut f: impl FnMut() -> T) {
    for _ in 0..n {
        black_box(f());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, n) = match args.as_slice() {
        [op, n] => (op.as_str(), n.parse::<u64>().expect("a count")),
        _ => {
            eprintln!("usage: op_loop OP COUNT");
            std::process::exit(2);
        }
    };
    let pusher = Pusher::builder(APP_ID, KEY, SECRET)
        .encryption_master_key_base64(MASTER_KEY_BASE64)
        .build()
        .unwrap();
    match op {
        "auth_private" => repeat(n, || {
            pusher
                .authorize_channel(black_box(PRIVATE_CHANNEL), black_box(SOCKET_ID), None)
                .unwrap()
        }),
        "auth_presence" => {
            let member = PresenceData::new(PRESENCE_USER_ID)
                .user_info(presence_user_info())
                .unwrap();
            repeat(n, || {
                pusher
                    .authorize_channel(
                        black_box(PRESENCE_CHANNEL),
                        black_box(SOCKET_ID),
                        Some(&member),
                    )
                    .unwrap()
            })
        }
        "auth_user" => {
            let user = UserData::new(USER_ID).user_info(user_info()).unwrap();
            repeat(n, || {
                pusher
                    .authenticate_user(black_box(SOCKET_ID), &user)
                    .unwrap()
            })
        }
        "encrypt_1kb" => {
            let key = MasterKey::from_base64(MASTER_KEY_BASE64).unwrap();
            let plaintext = encrypt_plaintext();
            repeat(n, || {
                key.encrypt(black_box(ENCRYPTED_CHANNEL), plaintext.as_bytes())
                    .unwrap()
            })
        }
        "trigger_1kb" => {
            let data = trigger_data();
            let opts = TriggerOptions::default();
            repeat(n, || {
                pusher
                    .trigger_request(black_box(TRIGGER_CHANNEL), TRIGGER_EVENT, &data, &opts)
                    .unwrap()
            })
        }
        "webhook_validate_1kb" => {
            let time_ms = 1_700_000_000_000;
            let body = webhook_body(time_ms);
            let sig = pusher::sign_webhook(SECRET, body.as_bytes());
            let frozen = pusher
                .clone()
                .with_clock(move || UNIX_EPOCH + Duration::from_millis(time_ms));
            repeat(n, || {
                frozen
                    .validate_webhook(Some(KEY), Some(&sig), black_box(body.as_bytes()))
                    .unwrap()
            })
        }
        other => {
            eprintln!("unknown op {other}");
            std::process::exit(2);
        }
    }
}
