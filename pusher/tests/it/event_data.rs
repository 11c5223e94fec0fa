//! Which event data is sent as is: only strings (`str`, `String`, and types that are one, like
//! `serde_json::Value::String`); every other value is JSON-encoded. pusher-js parses the data string as
//! JSON, so a newtype `OrderId("42")` sent unquoted would reach the browser as the number 42.

use serde::Serialize;
use serde_json::{Value, json};

use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Pusher};

use crate::vectors::parse_or_string;

#[derive(Serialize)]
struct OrderId(&'static str);

#[derive(Serialize)]
enum Status {
    Paid,
}

/// Serializes as a bare string: the documented limit of the rule (it looks at how a value serializes).
#[derive(Serialize)]
#[serde(transparent)]
struct Transparent(&'static str);

/// The data string of the last trigger, and what pusher-js makes of it.
fn sent(rec: &RecordingBackend) -> (String, Value) {
    let body = rec.last().unwrap().json();
    let data = body["data"].as_str().unwrap().to_owned();
    let seen = parse_or_string(&data);
    (data, seen)
}

#[tokio::test]
async fn only_strings_are_sent_as_is() {
    let rec = RecordingBackend::new();
    let p = Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .build()
        .unwrap();

    // Values whose JSON is a string are quoted: the browser gets a string.
    p.trigger("a", "e", &OrderId("42")).await.unwrap();
    assert_eq!(sent(&rec), (r#""42""#.to_owned(), json!("42")));
    p.trigger("a", "e", &Status::Paid).await.unwrap();
    assert_eq!(sent(&rec), (r#""Paid""#.to_owned(), json!("Paid")));
    p.trigger("a", "e", &'7').await.unwrap();
    assert_eq!(sent(&rec), (r#""7""#.to_owned(), json!("7")));
    p.trigger("a", "e", &Some("42")).await.unwrap();
    assert_eq!(sent(&rec).1, json!("42"));
    // Raw JSON is sent verbatim, so a raw JSON string stays a string.
    let raw = serde_json::value::RawValue::from_string(r#""42""#.into()).unwrap();
    p.trigger("a", "e", &raw).await.unwrap();
    assert_eq!(sent(&rec), (r#""42""#.to_owned(), json!("42")));
    let raw = serde_json::value::RawValue::from_string(r#"{"id": 42}"#.into()).unwrap();
    p.trigger("a", "e", &raw).await.unwrap();
    assert_eq!(sent(&rec), (r#"{"id": 42}"#.to_owned(), json!({"id": 42})));

    // The documented limit: a transparent wrapper serializes as a bare string and is sent as one; quoting
    // it is the caller's `serde_json::to_string`.
    p.trigger("a", "e", &Transparent("42")).await.unwrap();
    assert_eq!(sent(&rec).0, "42");
    let quoted = serde_json::to_string(&Transparent("42")).unwrap();
    p.trigger("a", "e", &quoted).await.unwrap();
    assert_eq!(sent(&rec), (r#""42""#.to_owned(), json!("42")));

    // Strings are sent as is (already-encoded JSON is not encoded twice).
    p.trigger("a", "e", "42").await.unwrap();
    assert_eq!(sent(&rec), ("42".to_owned(), json!(42)));
    p.trigger("a", "e", &String::from(r#"{"id":7}"#))
        .await
        .unwrap();
    assert_eq!(sent(&rec).1, json!({"id": 7}));
    p.trigger("a", "e", &json!("hello")).await.unwrap();
    assert_eq!(sent(&rec), ("hello".to_owned(), json!("hello")));
    p.trigger("a", "e", &json!({"n": 1})).await.unwrap();
    assert_eq!(sent(&rec), (r#"{"n":1}"#.to_owned(), json!({"n": 1})));

    // Batch events follow the same rule.
    let e = BatchEvent::new("a", "e", &OrderId("42")).unwrap();
    assert_eq!(e.data, r#""42""#);
    let e = BatchEvent::new("a", "e", "42").unwrap();
    assert_eq!(e.data, "42");
}
