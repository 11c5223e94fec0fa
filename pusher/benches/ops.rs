//! Micro benchmarks of the hot paths: `cargo bench -p pusher --bench ops`.
//!
//! Every op runs through the public API with the inputs of `benches/common` (the same inputs the
//! cross-library comparison in `bench/compare` feeds the Python and Node libraries). `hmac_floor` is one
//! bare HMAC-SHA256 of a short message (keying included); `hmac_floor_prekeyed` the same from an HMAC
//! already keyed with the secret, as the client keeps one: no signing op can be faster than that.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use pusher::encryption::MasterKey;
use pusher::integration::ChannelPattern;
use pusher::{PresenceData, Pusher, TriggerOptions, UserData};
use sha2::Sha256;

fn client() -> Pusher {
    Pusher::builder(APP_ID, KEY, SECRET)
        .encryption_master_key_base64(MASTER_KEY_BASE64)
        .build()
        .unwrap()
}

fn ops(c: &mut Criterion) {
    let pusher = client();

    let msg = hmac_message();
    c.bench_function("hmac_floor", |b| {
        b.iter(|| {
            pusher::signing::hmac_sha256(black_box(SECRET.as_bytes()), black_box(msg.as_bytes()))
        })
    });

    // The floor of the auth ops: the client keeps an HMAC already keyed with the secret and clones it per
    // signature, so a short message costs two SHA-256 blocks instead of four.
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    c.bench_function("hmac_floor_prekeyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(msg.as_bytes()));
            <[u8; 32]>::from(mac.finalize().into_bytes())
        })
    });

    c.bench_function("auth_private", |b| {
        b.iter(|| {
            pusher
                .authorize_channel(black_box(PRIVATE_CHANNEL), black_box(SOCKET_ID), None)
                .unwrap()
        })
    });

    let member = PresenceData::new(PRESENCE_USER_ID)
        .user_info(presence_user_info())
        .unwrap();
    c.bench_function("auth_presence", |b| {
        b.iter(|| {
            pusher
                .authorize_channel(
                    black_box(PRESENCE_CHANNEL),
                    black_box(SOCKET_ID),
                    Some(black_box(&member)),
                )
                .unwrap()
        })
    });

    let user = UserData::new(USER_ID).user_info(user_info()).unwrap();
    c.bench_function("auth_user", |b| {
        b.iter(|| {
            pusher
                .authenticate_user(black_box(SOCKET_ID), black_box(&user))
                .unwrap()
        })
    });

    // A webhook created "now", checked by a client whose clock stays at that instant so it never goes stale.
    let time_ms = now_ms();
    let body = webhook_body(time_ms);
    assert_eq!(body.len(), 1024);
    let signature = pusher::sign_webhook(SECRET, body.as_bytes());
    let frozen = client().with_clock(move || UNIX_EPOCH + Duration::from_millis(time_ms));
    assert_eq!(
        frozen
            .validate_webhook(Some(KEY), Some(&signature), body.as_bytes())
            .unwrap()
            .events
            .len(),
        4
    );
    c.bench_function("webhook_validate_1kb", |b| {
        b.iter(|| {
            frozen
                .validate_webhook(
                    Some(black_box(KEY)),
                    Some(black_box(&signature)),
                    black_box(body.as_bytes()),
                )
                .unwrap()
        })
    });

    let master = MasterKey::from_base64(MASTER_KEY_BASE64).unwrap();
    let plaintext = encrypt_plaintext();
    assert_eq!(plaintext.len(), 1024);
    c.bench_function("encrypt_1kb", |b| {
        b.iter(|| {
            master
                .encrypt(
                    black_box(ENCRYPTED_CHANNEL),
                    black_box(plaintext.as_bytes()),
                )
                .unwrap()
        })
    });

    let data = trigger_data();
    assert_eq!(data.len(), 1024);
    let opts = TriggerOptions::default();
    c.bench_function("trigger_request_1kb", |b| {
        b.iter(|| {
            pusher
                .trigger_request(
                    black_box(TRIGGER_CHANNEL),
                    black_box(TRIGGER_EVENT),
                    black_box(data.as_str()),
                    &opts,
                )
                .unwrap()
        })
    });

    // The worst case of channel-pattern matching (the auth routes' rules): four `-`-separated placeholders
    // against a 200-character near-miss name of dashes. A backtracking matcher tries every split of the
    // dashes (0.33 s per name); the linear one fills a table of 9 × 201 cells.
    let pattern = ChannelPattern::new("presence-{a}-{b}-{c}-{d}");
    let near_miss = format!("presence-{}.123", "-".repeat(187));
    assert_eq!(near_miss.len(), 200);
    assert!(pattern.matches(&near_miss).is_none());
    c.bench_function("rule_match_worst_case_200", |b| {
        b.iter(|| pattern.matches(black_box(&near_miss)))
    });
    let hit = format!("presence-{}", "-".repeat(191));
    assert!(pattern.matches(&hit).is_some());
    c.bench_function("rule_match_dashes_200", |b| {
        b.iter(|| pattern.matches(black_box(&hit)))
    });

    let channels = multi_channels();
    c.bench_function("trigger_body_100_channels", |b| {
        b.iter(|| {
            pusher
                .trigger_body(
                    black_box(&channels),
                    black_box(MULTI_EVENT),
                    black_box(MULTI_DATA),
                    &opts,
                )
                .unwrap()
        })
    });
    c.bench_function("trigger_request_100_channels", |b| {
        b.iter(|| {
            pusher
                .trigger_request(
                    black_box(&channels),
                    black_box(MULTI_EVENT),
                    black_box(MULTI_DATA),
                    &opts,
                )
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = ops
}
criterion_main!(benches);
