//! Incoming webhooks: verification (key, constant-time HMAC over the raw body, freshness) and the typed
//! [`Webhook`] with its [`WebhookEvent`]s. Inputs are framework-neutral: `Option<&str>` headers and the raw
//! `&[u8]` body.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::channel::ChannelKind;
use crate::encryption::MasterKey;
use crate::error::WebhookError;
use crate::signing::{hmac_sha256_hex, verify_hmac_sha256};

/// A verified webhook: when it was created and its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Milliseconds since the Unix epoch when the server created the webhook.
    pub time_ms: u64,
    /// The events, in the order sent.
    pub events: Vec<WebhookEvent>,
}

/// One webhook event. Events with a name this version does not know are kept as [`WebhookEvent::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user joined a presence channel.
    MemberAdded {
        /// The presence channel.
        channel: String,
        /// The member's user id.
        user_id: String,
    },
    /// A user left a presence channel.
    MemberRemoved {
        /// The presence channel.
        channel: String,
        /// The member's user id.
        user_id: String,
    },
    /// A client sent a `client-` event.
    ClientEvent {
        /// The channel.
        channel: String,
        /// The event name (`client-…`).
        event: String,
        /// The data as sent by the client (a string on Pusher, often an object on other servers); decrypted
        /// on `private-encrypted-` channels when a master key is configured.
        data: Value,
        /// The sending connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        socket_id: Option<String>,
        /// The sender's user id (presence channels).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// The number of subscriptions of a channel changed.
    SubscriptionCount {
        /// The channel.
        channel: String,
        /// The new count.
        subscription_count: u64,
    },
    /// A client subscribed to a cache channel that had no cached event.
    CacheMiss {
        /// The channel.
        channel: String,
    },
    /// An event this version does not know, kept whole (its `name` is in the object).
    #[serde(untagged)]
    Unknown(Value),
}

impl WebhookEvent {
    /// The channel the event concerns, when it has one.
    pub fn channel(&self) -> Option<&str> {
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::MemberAdded { channel, .. }
            | WebhookEvent::MemberRemoved { channel, .. }
            | WebhookEvent::ClientEvent { channel, .. }
            | WebhookEvent::SubscriptionCount { channel, .. }
            | WebhookEvent::CacheMiss { channel } => Some(channel),
            WebhookEvent::Unknown(raw) => raw.get("channel").and_then(Value::as_str),
        }
    }

    /// The event's `name` on the wire (`channel_occupied`, …).
    pub fn name(&self) -> &str {
        match self {
            WebhookEvent::ChannelOccupied { .. } => "channel_occupied",
            WebhookEvent::ChannelVacated { .. } => "channel_vacated",
            WebhookEvent::MemberAdded { .. } => "member_added",
            WebhookEvent::MemberRemoved { .. } => "member_removed",
            WebhookEvent::ClientEvent { .. } => "client_event",
            WebhookEvent::SubscriptionCount { .. } => "subscription_count",
            WebhookEvent::CacheMiss { .. } => "cache_miss",
            WebhookEvent::Unknown(raw) => {
                raw.get("name").and_then(Value::as_str).unwrap_or_default()
            }
        }
    }
}

/// Who may sign webhooks: the app's own key and secret, then any extra tokens.
pub(crate) struct Verifier<'a> {
    pub tokens: Vec<(&'a str, &'a [u8])>,
    pub tolerance: Option<Duration>,
    pub body_limit: usize,
    pub master_key: Option<&'a MasterKey>,
    pub now_ms: u64,
}

#[derive(Deserialize)]
struct RawWebhook<'a> {
    time_ms: Option<serde_json::Number>,
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow, rename = "name")]
    _name: std::borrow::Cow<'a, str>,
}

impl Verifier<'_> {
    pub fn verify(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Webhook, WebhookError> {
        if body.len() > self.body_limit {
            return Err(WebhookError::TooLarge);
        }
        let key = key.ok_or(WebhookError::MissingKey)?;
        let signature = signature.ok_or(WebhookError::MissingSignature)?;
        let sig = decode_signature(signature)?;
        let secret = self
            .tokens
            .iter()
            .find(|(k, _)| *k == key.trim())
            .map(|(_, s)| *s)
            .ok_or(WebhookError::UnknownKey)?;
        if !verify_hmac_sha256(secret, body, &sig) {
            return Err(WebhookError::InvalidSignature);
        }
        let raw: RawWebhook<'_> =
            serde_json::from_slice(body).map_err(|_| WebhookError::MalformedBody)?;
        let time_ms = raw
            .time_ms
            .and_then(|n| {
                n.as_u64()
                    .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            })
            .ok_or(WebhookError::MalformedBody)?;
        if let Some(tol) = self.tolerance {
            let tol_ms = u64::try_from(tol.as_millis()).unwrap_or(u64::MAX);
            if self.now_ms.abs_diff(time_ms) > tol_ms {
                return Err(WebhookError::Stale);
            }
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for ev in raw.events {
            events.push(self.parse_event(ev)?);
        }
        Ok(Webhook { time_ms, events })
    }

    fn parse_event(&self, raw: &RawValue) -> Result<WebhookEvent, WebhookError> {
        // Every event needs a string `name`; one this version does not know (or whose shape differs) is
        // kept whole as `Unknown` rather than failing the whole batch.
        let _: NameOnly<'_> =
            serde_json::from_str(raw.get()).map_err(|_| WebhookError::MalformedBody)?;
        let mut event: WebhookEvent =
            serde_json::from_str(raw.get()).map_err(|_| WebhookError::MalformedBody)?;
        if let (WebhookEvent::ClientEvent { channel, data, .. }, Some(mk)) =
            (&mut event, self.master_key)
        {
            if ChannelKind::of(channel) == ChannelKind::PrivateEncrypted {
                *data = decrypt_data(mk, channel, data)?;
            }
        }
        Ok(event)
    }
}

fn decrypt_data(mk: &MasterKey, channel: &str, data: &Value) -> Result<Value, WebhookError> {
    let payload: crate::encryption::EncryptedPayload = match data {
        Value::String(s) => serde_json::from_str(s).map_err(|_| WebhookError::Decryption)?,
        other => serde_json::from_value(other.clone()).map_err(|_| WebhookError::Decryption)?,
    };
    let plain = mk
        .decrypt_payload(channel, &payload)
        .map_err(|_| WebhookError::Decryption)?;
    // As pusher-js does: JSON when the plaintext parses, the raw string otherwise.
    Ok(serde_json::from_slice(&plain)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&plain).into_owned())))
}

fn decode_signature(signature: &str) -> Result<[u8; 32], WebhookError> {
    let s = signature.as_bytes();
    if s.len() != 64
        || !s
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(WebhookError::MalformedSignature);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| WebhookError::MalformedSignature)?;
    Ok(out)
}

/// Signs a webhook body as the server does: lowercase hex HMAC-SHA256 of the raw body under the secret.
/// Use it to build valid webhook requests in tests.
///
/// ```
/// let sig = pusher::sign_webhook("secret", br#"{"time_ms":1327078148132,"events":[{"name":"event_name","some":"data"}]}"#);
/// assert_eq!(sig, "05a115b7898e4956cf46df2dd2822b3b913a4255343acd82d31609f222765c6a");
/// ```
pub fn sign_webhook(secret: &str, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn verifier(mk: Option<&MasterKey>) -> Verifier<'_> {
        Verifier {
            tokens: vec![("key", b"secret"), ("old-key", b"old-secret")],
            tolerance: Some(Duration::from_secs(300)),
            body_limit: 1024 * 1024,
            master_key: mk,
            now_ms: NOW,
        }
    }

    fn body(time_ms: u64, events: &str) -> Vec<u8> {
        format!(r#"{{"time_ms":{time_ms},"events":[{events}]}}"#).into_bytes()
    }

    #[test]
    fn all_event_kinds_parse() {
        let b = body(
            NOW,
            r#"{"name":"channel_occupied","channel":"a"},{"name":"channel_vacated","channel":"a"},
            {"name":"member_added","channel":"presence-a","user_id":"u"},
            {"name":"member_removed","channel":"presence-a","user_id":"u"},
            {"name":"client_event","channel":"private-a","event":"client-x","data":{"x":1},"socket_id":"1.1"},
            {"subscription_count":2,"name":"subscription_count","channel":"a"},
            {"name":"cache_miss","channel":"cache-a"},{"name":"future_thing","channel":"z","n":1}"#,
        );
        let w = verifier(None)
            .verify(Some("key"), Some(&sign_webhook("secret", &b)), &b)
            .unwrap();
        assert_eq!(w.events.len(), 8);
        assert_eq!(
            w.events[5],
            WebhookEvent::SubscriptionCount {
                channel: "a".into(),
                subscription_count: 2
            }
        );
        assert!(matches!(&w.events[7], WebhookEvent::Unknown(_)));
        assert_eq!(w.events[7].name(), "future_thing");
        let again: Webhook = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(again, w);
        assert_eq!(w.events[7].channel(), Some("z"));
        assert_eq!(w.events[4].name(), "client_event");
    }

    #[test]
    fn rejections() {
        let b = body(NOW, "");
        let good = sign_webhook("secret", &b);
        let v = verifier(None);
        assert_eq!(
            v.verify(None, Some(&good), &b),
            Err(WebhookError::MissingKey)
        );
        assert_eq!(
            v.verify(Some("key"), None, &b),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            v.verify(Some("nope"), Some(&good), &b),
            Err(WebhookError::UnknownKey)
        );
        for bad in [
            good.to_uppercase(),
            good[..63].to_owned(),
            "zz".repeat(32),
            String::new(),
            format!("{good} "),
            "é".repeat(32),
        ] {
            assert_eq!(
                v.verify(Some("key"), Some(&bad), &b),
                Err(WebhookError::MalformedSignature),
                "{bad}"
            );
        }
        let other = sign_webhook("secret", b"{}");
        assert_eq!(
            v.verify(Some("key"), Some(&other), &b),
            Err(WebhookError::InvalidSignature)
        );
        // Signed by the rotated-out token: accepted under its own key only.
        let old = sign_webhook("old-secret", &b);
        assert!(v.verify(Some("old-key"), Some(&old), &b).is_ok());
        assert_eq!(
            v.verify(Some("key"), Some(&old), &b),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn freshness_both_ways() {
        let v = verifier(None);
        for (t, ok) in [
            (NOW - 300_000, true),
            (NOW - 300_001, false),
            (NOW + 300_000, true),
            (NOW + 400_000, false),
            (0, false),
            (u64::MAX, false),
        ] {
            let b = body(t, "");
            let r = v.verify(Some("key"), Some(&sign_webhook("secret", &b)), &b);
            assert_eq!(r.is_ok(), ok, "{t}");
            if !ok {
                assert_eq!(r, Err(WebhookError::Stale));
            }
        }
    }

    #[test]
    fn odd_bodies() {
        let v = verifier(None);
        for b in [
            &b"[1,2]"[..],
            b"null",
            b"not json",
            br#"{"events":[]}"#,
            br#"{"time_ms":"1700000000000","events":[]}"#,
            br#"{"time_ms":1700000000000,"events":[{"no_name":1}]}"#,
        ] {
            assert_eq!(
                v.verify(Some("key"), Some(&sign_webhook("secret", b)), b),
                Err(WebhookError::MalformedBody),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        // A known event with an unexpected shape is kept whole rather than failing the batch.
        let b = br#"{"time_ms":1700000000000,"events":[{"name":"member_added","channel":"x"}]}"#;
        let w = v
            .verify(Some("key"), Some(&sign_webhook("secret", b)), b)
            .unwrap();
        assert!(matches!(w.events[0], WebhookEvent::Unknown(_)));
        let b = br#"{"time_ms":1700000000000.5,"events":[]}"#;
        assert!(
            v.verify(Some("key"), Some(&sign_webhook("secret", b)), b)
                .is_ok()
        );
    }

    #[test]
    fn encrypted_client_events_are_decrypted() {
        let mk = MasterKey::from_bytes(&[3u8; 32]).unwrap();
        let data = mk.encrypt("private-encrypted-a", br#"{"x":1}"#).unwrap();
        let ev = serde_json::json!({"name":"client_event","channel":"private-encrypted-a","event":"client-e","data":data});
        let b = body(NOW, &ev.to_string());
        let sig = sign_webhook("secret", &b);
        let w = verifier(Some(&mk))
            .verify(Some("key"), Some(&sig), &b)
            .unwrap();
        let WebhookEvent::ClientEvent { data, .. } = &w.events[0] else {
            unreachable!()
        };
        assert_eq!(data, &serde_json::json!({"x":1}));
        let wrong = MasterKey::from_bytes(&[4u8; 32]).unwrap();
        assert_eq!(
            verifier(Some(&wrong)).verify(Some("key"), Some(&sig), &b),
            Err(WebhookError::Decryption)
        );
    }

    #[test]
    fn too_large() {
        let mut v = verifier(None);
        v.body_limit = 10;
        let b = body(NOW, "");
        assert_eq!(
            v.verify(Some("key"), Some(&sign_webhook("secret", &b)), &b),
            Err(WebhookError::TooLarge)
        );
    }
}
