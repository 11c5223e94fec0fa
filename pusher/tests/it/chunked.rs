//! Chunked events (`pusher::chunked`): data over the limit split into `chunked-<event>` events in the format
//! of Pusher's chunking example, by bytes, never inside a UTF-8 character, in order, within the limit after
//! encryption; opt-in per call or per client; the limit stays a typed error without it.

use pusher::testing::{RecordedRequest, RecordingBackend};
use pusher::{Error, Pusher, RetryPolicy, TriggerOptions};
use serde_json::{Value, json};

const MASTER_KEY: [u8; 32] = [9; 32];

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .encryption_master_key(MASTER_KEY.to_vec())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// About 50 KB of JSON with one-, two-, three- and four-byte characters and characters JSON escapes.
fn big_data() -> Value {
    json!({"text": "a é € 😀 \" \\ \n \u{1} ".repeat(2_000), "n": 42})
}

/// The `data` string of each recorded trigger (decrypted on an encrypted channel), parsed.
fn chunks_of(p: &Pusher, requests: &[RecordedRequest]) -> Vec<(String, String, Value)> {
    requests
        .iter()
        .map(|r| {
            let body = r.json();
            let channel = body["channels"][0].as_str().unwrap().to_owned();
            let data = body["data"].as_str().unwrap().to_owned();
            let plain = if channel.starts_with("private-encrypted-") {
                String::from_utf8(p.decrypt(&channel, &data).unwrap()).unwrap()
            } else {
                data
            };
            (
                body["name"].as_str().unwrap().to_owned(),
                body["data"].as_str().unwrap().to_owned(),
                serde_json::from_str(&plain).unwrap(),
            )
        })
        .collect()
}

/// Joins the pieces as the pusher-js snippet does, checking the wrapper on the way.
fn reassemble(chunks: &[(String, String, Value)], event: &str, limit: usize) -> String {
    let id = chunks[0].2["id"].clone();
    let mut whole = String::new();
    for (i, (name, sent, wrapper)) in chunks.iter().enumerate() {
        assert_eq!(name, &format!("chunked-{event}"));
        assert!(sent.len() <= limit, "chunk {i}: {} bytes sent", sent.len());
        assert_eq!(wrapper["id"], id);
        assert_eq!(wrapper["index"], i, "in order");
        assert_eq!(wrapper["final"], i + 1 == chunks.len());
        whole.push_str(wrapper["chunk"].as_str().unwrap());
    }
    whole
}

#[tokio::test]
async fn data_over_the_limit_is_a_typed_error_without_the_option() {
    let rec = RecordingBackend::new();
    let e = client(&rec)
        .trigger("a", "big", &big_data())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Validation { field: "data", .. }),
        "{e:?}"
    );
    assert!(rec.requests().is_empty());
}

#[tokio::test]
async fn fifty_kilobytes_become_chunks_that_rejoin_to_the_data() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let data = big_data();
    let sent = serde_json::to_string(&data).unwrap();
    assert!(sent.len() > 50_000);
    p.trigger_with("a", "big", &data, &TriggerOptions::new().chunked(true))
        .await
        .unwrap();
    let chunks = chunks_of(&p, &rec.requests());
    assert!(chunks.len() >= 6, "{} chunks", chunks.len());
    assert_eq!(reassemble(&chunks, "big", 10 * 1024), sent);
    // Pieces are full: all but the last within one escaped character of the limit.
    for (_, sent, _) in &chunks[..chunks.len() - 1] {
        assert!(sent.len() > 10 * 1024 - 60, "{}", sent.len());
    }
    let id = chunks[0].2["id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

#[tokio::test]
async fn encrypted_chunks_fit_after_encryption_and_decrypt_to_the_pieces() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let data = big_data();
    p.trigger_with(
        "private-encrypted-vault",
        "big",
        &data,
        &TriggerOptions::new().chunked(true),
    )
    .await
    .unwrap();
    let chunks = chunks_of(&p, &rec.requests());
    let whole = reassemble(&chunks, "big", 10 * 1024);
    assert_eq!(serde_json::from_str::<Value>(&whole).unwrap(), data);
    for (_, sent, _) in &chunks {
        assert!(sent.contains("ciphertext") && !sent.contains("😀"));
    }
}

#[tokio::test]
async fn sizes_count_bytes_and_cuts_fall_between_characters() {
    // 4000 three-byte characters: under the limit in characters, over it in bytes.
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let text = "€".repeat(4_000);
    p.trigger_with(
        "a",
        "e",
        text.as_str(),
        &TriggerOptions::new().chunked(true),
    )
    .await
    .unwrap();
    let chunks = chunks_of(&p, &rec.requests());
    assert_eq!(chunks.len(), 2);
    assert_eq!(reassemble(&chunks, "e", 10 * 1024), text);

    // A small limit and only four-byte characters and escapes: every piece is whole characters.
    let rec = RecordingBackend::new();
    let p = Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .max_data_bytes(100)
        .chunked_events(true)
        .build()
        .unwrap();
    let text = "😀\"😀\u{2}".repeat(50);
    p.trigger("a", "e", text.as_str()).await.unwrap();
    let chunks = chunks_of(&p, &rec.requests());
    assert!(chunks.len() > 10);
    assert_eq!(reassemble(&chunks, "e", 100), text);
    for (_, _, w) in &chunks {
        let piece = w["chunk"].as_str().unwrap();
        assert!(!piece.is_empty());
    }
    // A limit that leaves no room for a piece is a typed error, and nothing is sent.
    let rec = RecordingBackend::new();
    let p = Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .max_data_bytes(40)
        .chunked_events(true)
        .build()
        .unwrap();
    let e = p.trigger("a", "e", &"x".repeat(100)).await.unwrap_err();
    assert!(
        matches!(e, Error::Validation { field: "data", .. }),
        "{e:?}"
    );
    assert!(rec.requests().is_empty());
}

#[tokio::test]
async fn data_within_the_limit_is_a_plain_event_and_the_client_option_applies_to_trigger() {
    let rec = RecordingBackend::new();
    let p = Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .chunked_events(true)
        .build()
        .unwrap();
    p.trigger("a", "small", &json!({"x": 1})).await.unwrap();
    p.trigger("a", "big", &big_data()).await.unwrap();
    let names: Vec<String> = rec
        .requests()
        .iter()
        .map(|r| r.json()["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names[0], "small");
    assert!(names[1..].iter().all(|n| n == "chunked-big"), "{names:?}");
    // A chunked event name over 200 characters is refused before sending.
    let e = p
        .trigger("a", &"e".repeat(195), &big_data())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Validation { .. }), "{e:?}");
}

#[tokio::test]
async fn keyed_chunks_carry_key_index_and_the_message_id_is_the_key() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let opts = TriggerOptions::new()
        .chunked(true)
        .idempotency_key("report-7");
    p.trigger_with("a", "big", &big_data(), &opts)
        .await
        .unwrap();
    let requests = rec.requests();
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.json()["idempotency_key"], format!("report-7:{i}"));
    }
    let chunks = chunks_of(&p, &requests);
    assert!(chunks.iter().all(|(_, _, w)| w["id"] == "report-7"));
}

#[tokio::test]
async fn a_failed_chunk_stops_the_message_with_its_error() {
    let rec = RecordingBackend::new();
    rec.respond(200, "{}");
    rec.respond(500, "boom");
    let p = client(&rec);
    let e = p
        .trigger_with(
            "a",
            "big",
            &big_data(),
            &TriggerOptions::new().chunked(true),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(rec.requests().len(), 2, "no chunk after the failed one");
}

/// With chunking on, what chunking needs is checked whatever the data's size: an event name that leaves no
/// room for `chunked-`, or a key too long for `KEY:INDEX`, fails with small data too (not only once the
/// data grows past the limit in production). Nothing is sent.
#[tokio::test]
async fn chunking_limits_are_checked_whatever_the_size() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    let chunked = TriggerOptions::new().chunked(true);
    let long_event = "e".repeat(195);
    for data in ["small".to_owned(), "x".repeat(50_000)] {
        let e = p
            .trigger_with("c", &long_event, data.as_str(), &chunked)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Validation { field: "event", .. }),
            "{e:?}"
        );
        let keyed = chunked.clone().idempotency_key("k".repeat(127));
        let e = p
            .trigger_with("c", "e", data.as_str(), &keyed)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Validation {
                    field: "idempotency_key",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert!(rec.requests().is_empty());
    // Without chunking, the long name is fine for small data.
    p.trigger("c", &long_event, "small").await.unwrap();
}
