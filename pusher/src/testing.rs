//! Test helpers for your own tests (feature `testing`):
//!
//! * [`RecordingBackend`]: captures every request a [`Pusher`](crate::Pusher) would send, answers with
//!   configured responses, and tells whether an event was triggered ([`RecordingBackend::was_triggered`]);
//! * [`webhook_request`]: a signed webhook (headers and body) to send to your `VerifiedWebhook` handler;
//! * [`channel_auth_body`], [`user_auth_body`], [`batch_auth_body`]: the bodies pusher-js sends to your auth
//!   routes, and [`auth_is_valid`] to check the signature they answer.
//!
//! ```
//! use pusher::testing::RecordingBackend;
//! # async fn run() -> Result<(), pusher::Error> {
//! let recorder = RecordingBackend::new();
//! let pusher = pusher::Pusher::builder("1", "key", "secret").backend(recorder.clone()).build()?;
//! // ... the code under test triggers:
//! pusher.trigger("orders", "created", &serde_json::json!({"id": 7})).await?;
//! assert!(recorder.was_triggered("orders", "created", &serde_json::json!({"id": 7})));
//! # Ok(()) }
//! ```

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

/// The content type pusher-js sends auth requests with.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The body pusher-js sends to the channel authorization endpoint, form-encoded (send it with
/// [`FORM_CONTENT_TYPE`]).
///
/// ```
/// assert_eq!(pusher::testing::channel_auth_body("1.2", "private-a b"), "socket_id=1.2&channel_name=private-a+b");
/// ```
pub fn channel_auth_body(socket_id: &str, channel_name: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("socket_id", socket_id)
        .append_pair("channel_name", channel_name)
        .finish()
}

/// The body pusher-js sends to the user authentication endpoint, form-encoded.
pub fn user_auth_body(socket_id: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("socket_id", socket_id)
        .finish()
}

/// The body of a batch authorization request (pusher-js-auth format), form-encoded.
pub fn batch_auth_body(socket_id: &str, channel_names: &[&str]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("socket_id", socket_id);
    for c in channel_names {
        s.append_pair("channel_name[]", c);
    }
    s.finish()
}

/// Checks that `auth` (`"<key>:<hex>"`) is the signature of `to_sign` under `key`/`secret`, recomputed
/// here: `"<socket_id>:<channel>"`, plus `":<channel_data>"` for presence, or
/// `"<socket_id>::user::<user_data>"` for user authentication.
pub fn auth_is_valid(auth: &str, key: &str, secret: &str, to_sign: &str) -> bool {
    match auth.split_once(':') {
        Some((k, sig)) if crate::signing::constant_time_eq(k.as_bytes(), key.as_bytes()) => {
            hex::decode(sig).is_ok_and(|raw| {
                crate::signing::verify_hmac_sha256(secret.as_bytes(), to_sign.as_bytes(), &raw)
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_round_trip_through_the_parsers() {
        let b = channel_auth_body("1.2", "presence-a");
        let r =
            crate::integration::ChannelAuthRequest::parse(Some(FORM_CONTENT_TYPE), b.as_bytes())
                .unwrap();
        assert_eq!(r.channel_name, "presence-a");
        let b = batch_auth_body("1.2", &["private-a", "private-b"]);
        let r = crate::integration::BatchAuthRequest::parse(Some(FORM_CONTENT_TYPE), b.as_bytes())
            .unwrap();
        assert_eq!(r.channel_names.len(), 2);
        let p = crate::Pusher::builder("1", "key", "secret")
            .build()
            .unwrap();
        let a = p.authorize_channel("private-a", "1.2", None).unwrap();
        assert!(auth_is_valid(&a.auth, "key", "secret", "1.2:private-a"));
        assert!(!auth_is_valid(&a.auth, "key", "secret", "1.2:private-b"));
        assert!(!auth_is_valid(&a.auth, "other", "secret", "1.2:private-a"));
        let hook = webhook_request(
            "key",
            "secret",
            &[serde_json::json!({"name":"channel_occupied","channel":"a"})],
        );
        assert!(
            p.validate_webhook(Some(&hook.key), Some(&hook.signature), &hook.body)
                .is_ok()
        );
    }
}
