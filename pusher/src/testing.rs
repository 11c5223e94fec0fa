//! Test helpers (feature `testing`): a recording [`HttpBackend`] that captures every request a
//! [`Pusher`](crate::Pusher) would send and answers with configured responses, and helpers to build signed
//! webhook requests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;
use crate::http::{HttpBackend, HttpRequest, HttpResponse};

/// A captured request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The request as the client would have sent it.
    pub request: HttpRequest,
}

impl RecordedRequest {
    /// The path, without query string (`/apps/1/events`).
    pub fn path(&self) -> &str {
        let after_scheme = self.request.url.split_once("://").map_or("", |(_, r)| r);
        let start = after_scheme.find('/').unwrap_or(after_scheme.len());
        let p = &after_scheme[start..];
        p.split_once('?').map_or(p, |(p, _)| p)
    }

    /// The decoded query parameters, in wire order.
    pub fn query(&self) -> Vec<(String, String)> {
        let q = self.request.url.split_once('?').map_or("", |(_, q)| q);
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    /// The body parsed as JSON (`Null` when there is none or it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        self.request
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// An [`HttpBackend`] that records requests and answers from a queue of responses (default: 200 `{}`).
/// Clones share the same record.
#[derive(Debug, Clone, Default)]
pub struct RecordingBackend {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<RecordedRequest>,
    responses: VecDeque<HttpResponse>,
}

impl RecordingBackend {
    /// A backend answering 200 `{}` to everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a response for the next request.
    pub fn respond(&self, status: u16, body: &str) {
        self.lock().responses.push_back(HttpResponse {
            status,
            body: Bytes::from(body.to_owned()),
            retry_after: None,
        });
    }

    /// Every request recorded so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The last request recorded.
    pub fn last(&self) -> Option<RecordedRequest> {
        self.lock().requests.last().cloned()
    }

    /// Every event triggered so far, flattened: `(channel, event name, data string)` per channel, from
    /// `/events` and `/batch_events` requests.
    pub fn triggered(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for r in self.requests() {
            let body = r.json();
            let path = r.path().to_owned();
            let mut push = |ev: &serde_json::Value, channels: Vec<String>| {
                let name = ev["name"].as_str().unwrap_or_default().to_owned();
                let data = ev["data"].as_str().unwrap_or_default().to_owned();
                for c in channels {
                    out.push((c, name.clone(), data.clone()));
                }
            };
            if path.ends_with("/batch_events") {
                for ev in body["batch"].as_array().into_iter().flatten() {
                    let c = ev["channel"].as_str().unwrap_or_default().to_owned();
                    push(ev, vec![c]);
                }
            } else if path.ends_with("/events") {
                let channels = body["channels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect();
                push(&body, channels);
            }
        }
        out
    }

    /// Whether `event` was triggered on `channel` with data equal (as JSON, or as text) to `data`.
    pub fn was_triggered(&self, channel: &str, event: &str, data: &serde_json::Value) -> bool {
        self.triggered().iter().any(|(c, e, d)| {
            c == channel
                && e == event
                && (serde_json::from_str::<serde_json::Value>(d).ok().as_ref() == Some(data)
                    || data.as_str() == Some(d.as_str()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl HttpBackend for RecordingBackend {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let mut s = self.lock();
        s.requests.push(RecordedRequest { request });
        Ok(s.responses.pop_front().unwrap_or(HttpResponse {
            status: 200,
            body: Bytes::from_static(b"{}"),
            retry_after: None,
        }))
    }
}

/// A signed webhook request: the headers and body a server would send.
#[derive(Debug, Clone)]
pub struct SignedWebhook {
    /// The `X-Pusher-Key` value.
    pub key: String,
    /// The `X-Pusher-Signature` value.
    pub signature: String,
    /// The raw body.
    pub body: Vec<u8>,
}

/// Builds a webhook body `{"time_ms": now, "events": [...]}` from JSON events and signs it.
///
/// ```
/// let hook = pusher::testing::webhook_request("key", "secret",
///     &[serde_json::json!({"name": "channel_occupied", "channel": "a"})]);
/// assert_eq!(hook.signature, pusher::sign_webhook("secret", &hook.body));
/// ```
pub fn webhook_request(key: &str, secret: &str, events: &[serde_json::Value]) -> SignedWebhook {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    webhook_request_at(key, secret, now as u64, events)
}

/// Like [`webhook_request`] with a chosen `time_ms`.
pub fn webhook_request_at(
    key: &str,
    secret: &str,
    time_ms: u64,
    events: &[serde_json::Value],
) -> SignedWebhook {
    let body = serde_json::json!({"time_ms": time_ms, "events": events}).to_string();
    SignedWebhook {
        key: key.to_owned(),
        signature: crate::webhook::sign_webhook(secret, body.as_bytes()),
        body: body.into_bytes(),
    }
}
