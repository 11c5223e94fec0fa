//! The Rust side of the cross-library comparison run by `bench/compare` (see `bench/README.md`).
//!
//! ```text
//! cargo run --release -p pusher --example bench_ops -- --write-inputs target/bench-inputs.json
//! cargo run --release -p pusher --example bench_ops -- --inputs target/bench-inputs.json
//! ```
//!
//! The first form writes the inputs (from `benches/common`, with a webhook created now) as JSON for the
//! Python and Node runners; the second times every op on those inputs with `std::time::Instant` and prints
//! `{"runner": "rust", "results": {op: {"ns": median ns/op, "min": fastest batch ns/op, "iters": n}}}`.
//! The timing loop is the same in all three runners: calibrate a batch to ~20 ms, warm up ~200 ms, then
//! time `BENCH_SAMPLES` (default 15) batches and report the median batch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::*;
use pusher::encryption::MasterKey;
use pusher::{PresenceData, Pusher, TriggerOptions, UserData};
use serde_json::{Value, json};

fn inputs() -> Value {
    let time_ms = now_ms();
    let body = webhook_body(time_ms);
    let signature = pusher::sign_webhook(SECRET, body.as_bytes());
    json!({
        "app_id": APP_ID,
        "key": KEY,
        "secret": SECRET,
        "master_key_base64": MASTER_KEY_BASE64,
        "socket_id": SOCKET_ID,
        "hmac_message": hmac_message(),
        "private_channel": PRIVATE_CHANNEL,
        "presence_channel": PRESENCE_CHANNEL,
        "presence_data": {"user_id": PRESENCE_USER_ID, "user_info": presence_user_info()},
        "user_data": {"id": USER_ID, "user_info": user_info()},
        "webhook_time_ms": time_ms,
        "webhook_body": body,
        "webhook_signature": signature,
        "encrypted_channel": ENCRYPTED_CHANNEL,
        "encrypt_plaintext": encrypt_plaintext(),
        "trigger_channel": TRIGGER_CHANNEL,
        "trigger_event": TRIGGER_EVENT,
        "trigger_data": trigger_data(),
        "multi_channels": multi_channels(),
        "multi_event": MULTI_EVENT,
        "multi_data": MULTI_DATA,
    })
}

/// Times `f`: batches calibrated to ~20 ms, ~200 ms of warm-up, then `samples` batches; the median and
/// the fastest batch in ns/op.
fn measure<R>(samples: usize, mut f: impl FnMut() -> R) -> Value {
    let batch = |n: u64, f: &mut dyn FnMut() -> R| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        t.elapsed()
    };
    let mut n = 1u64;
    while batch(n, &mut f) < Duration::from_millis(20) {
        n *= 2;
    }
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        batch(n, &mut f);
    }
    let mut per_op: Vec<f64> = (0..samples)
        .map(|_| batch(n, &mut f).as_nanos() as f64 / n as f64)
        .collect();
    per_op.sort_by(f64::total_cmp);
    json!({"ns": per_op[per_op.len() / 2], "min": per_op[0], "iters": n})
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("input {k} is not a string"))
}

fn run(inp: &Value, samples: usize) -> Value {
    let key = text(inp, "key");
    let secret = text(inp, "secret");
    let pusher = Pusher::builder(text(inp, "app_id"), key, secret)
        .encryption_master_key_base64(text(inp, "master_key_base64"))
        .build()
        .unwrap();
    let socket_id = text(inp, "socket_id");
    let mut results = serde_json::Map::new();
    let mut record = |name: &str, v: Value| {
        eprintln!(
            "rust {name:<24} {:>10.0} ns/op",
            v["ns"].as_f64().unwrap_or(0.0)
        );
        results.insert(name.to_owned(), v);
    };

    let msg = text(inp, "hmac_message");
    record(
        "hmac_floor",
        measure(samples, || {
            pusher::signing::hmac_sha256_hex(secret.as_bytes(), msg.as_bytes())
        }),
    );

    let private = text(inp, "private_channel");
    record(
        "auth_private",
        measure(samples, || {
            pusher.authorize_channel(private, socket_id, None).unwrap()
        }),
    );

    let presence = text(inp, "presence_channel");
    let member: PresenceData = serde_json::from_value(inp["presence_data"].clone()).unwrap();
    record(
        "auth_presence",
        measure(samples, || {
            pusher
                .authorize_channel(presence, socket_id, Some(&member))
                .unwrap()
        }),
    );

    let user: UserData = serde_json::from_value(inp["user_data"].clone()).unwrap();
    record(
        "auth_user",
        measure(samples, || {
            pusher.authenticate_user(socket_id, &user).unwrap()
        }),
    );

    let time_ms = inp["webhook_time_ms"].as_u64().unwrap();
    let body = text(inp, "webhook_body").as_bytes();
    let sig = text(inp, "webhook_signature");
    let frozen = pusher
        .clone()
        .with_clock(move || UNIX_EPOCH + Duration::from_millis(time_ms));
    record(
        "webhook_validate_1kb",
        measure(samples, || {
            frozen.validate_webhook(Some(key), Some(sig), body).unwrap()
        }),
    );

    let master = MasterKey::from_base64(text(inp, "master_key_base64")).unwrap();
    let encrypted = text(inp, "encrypted_channel");
    let plaintext = text(inp, "encrypt_plaintext");
    record(
        "encrypt_1kb",
        measure(samples, || {
            master.encrypt(encrypted, plaintext.as_bytes()).unwrap()
        }),
    );

    let opts = TriggerOptions::default();
    let channel = text(inp, "trigger_channel");
    let event = text(inp, "trigger_event");
    let data = text(inp, "trigger_data");
    record(
        "trigger_1kb",
        measure(samples, || {
            pusher.trigger_request(channel, event, data, &opts).unwrap()
        }),
    );

    let channels: Vec<String> = serde_json::from_value(inp["multi_channels"].clone()).unwrap();
    let multi_event = text(inp, "multi_event");
    let multi_data = text(inp, "multi_data");
    record(
        "trigger_100_channels",
        measure(samples, || {
            pusher
                .trigger_request(&channels, multi_event, multi_data, &opts)
                .unwrap()
        }),
    );

    record(
        "trigger_encrypted_1kb",
        measure(samples, || {
            pusher
                .trigger_request(encrypted, event, plaintext, &opts)
                .unwrap()
        }),
    );

    json!({"runner": "rust", "results": results})
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15usize)
        .max(1);
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--write-inputs", path] => {
            std::fs::write(path, serde_json::to_string_pretty(&inputs()).unwrap()).unwrap();
        }
        ["--inputs", path] => {
            let inp: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            println!("{}", run(&inp, samples));
        }
        [] => println!("{}", run(&inputs(), samples)),
        _ => {
            eprintln!("usage: bench_ops [--write-inputs PATH | --inputs PATH]");
            std::process::exit(2);
        }
    }
}
