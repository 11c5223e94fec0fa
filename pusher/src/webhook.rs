//! Incoming webhooks: verification (key, constant-time HMAC over the raw body, freshness) and the typed
//! [`Webhook`] with its [`WebhookEvent`]s. Inputs are framework-neutral: `Option<&str>` headers and the raw
//! `&[u8]` body.

use std::borrow::Cow;
use std::time::Duration;

use hmac::Mac;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::channel::ChannelKind;
use crate::encryption::MasterKey;
use crate::error::WebhookError;
use crate::signing::{HmacSha256, hmac_sha256_hex};

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
    /// Each key with its HMAC already keyed with the key's secret; the first match wins.
    pub tokens: &'a [(String, HmacSha256)],
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

/// [`RawWebhook`] with the events parsed on the way, for [`Verifier::parse_usual`].
#[derive(Deserialize)]
struct UsualWebhook<'a> {
    time_ms: Option<serde_json::Number>,
    #[serde(borrow, default)]
    events: Vec<KnownFields<'a>>,
}

/// `time_ms` as whole milliseconds: an integer, or a non-negative float (truncated).
fn time_of(time_ms: Option<serde_json::Number>) -> Option<u64> {
    time_ms.and_then(|n| {
        n.as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    })
}

#[derive(Deserialize)]
struct NameOnly<'a> {
    #[serde(borrow, rename = "name")]
    _name: Cow<'a, str>,
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
        let key = key.trim();
        let mut mac = self
            .tokens
            .iter()
            .find(|(k, _)| crate::signing::constant_time_eq(k.as_bytes(), key.as_bytes()))
            .map(|(_, mac)| mac.clone())
            .ok_or(WebhookError::UnknownKey)?;
        mac.update(body);
        if !crate::signing::constant_time_eq(&mac.finalize().into_bytes(), &sig) {
            return Err(WebhookError::InvalidSignature);
        }
        // A webhook is a JSON object: serde's derive would also take the array form `[time_ms, events]`.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(WebhookError::MalformedBody);
        }
        match self.parse_usual(body)? {
            Some(webhook) => Ok(webhook),
            None => self.parse_stepwise(body),
        }
    }

    /// The body, step by step: the top level (time, freshness), then each event.
    fn parse_stepwise(&self, body: &[u8]) -> Result<Webhook, WebhookError> {
        let raw: RawWebhook<'_> =
            serde_json::from_slice(body).map_err(|_| WebhookError::MalformedBody)?;
        let time_ms = time_of(raw.time_ms).ok_or(WebhookError::MalformedBody)?;
        if self.is_stale(time_ms) {
            return Err(WebhookError::Stale);
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for ev in raw.events {
            events.push(self.parse_event(ev)?);
        }
        Ok(Webhook { time_ms, events })
    }

    /// The usual webhook in one pass over the body: fresh, and every event a well-formed known event.
    /// `Ok(None)` for anything else, which the step-by-step parse then handles (so errors and their order
    /// are its own). When this succeeds, that parse gives the same webhook: the body is the same JSON
    /// object, parsed here at least as strictly, and each event goes through the same [`known_event`].
    fn parse_usual(&self, body: &[u8]) -> Result<Option<Webhook>, WebhookError> {
        // Checking the UTF-8 once up front is cheaper than the per-string checks of a byte-slice parse.
        let Ok(text) = std::str::from_utf8(body) else {
            return Ok(None);
        };
        let Ok(raw) = serde_json::from_str::<UsualWebhook<'_>>(text) else {
            return Ok(None);
        };
        let Some(time_ms) = time_of(raw.time_ms) else {
            return Ok(None);
        };
        if self.is_stale(time_ms) {
            return Ok(None);
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for fields in raw.events {
            match known_event(fields) {
                Some(event) => events.push(event),
                None => return Ok(None),
            }
        }
        for event in &mut events {
            self.decrypt_event(event)?;
        }
        Ok(Some(Webhook { time_ms, events }))
    }

    fn is_stale(&self, time_ms: u64) -> bool {
        self.tolerance.is_some_and(|tol| {
            let tol_ms = u64::try_from(tol.as_millis()).unwrap_or(u64::MAX);
            self.now_ms.abs_diff(time_ms) > tol_ms
        })
    }

    /// Decrypts the data of a client event on an encrypted channel, when a master key is configured.
    fn decrypt_event(&self, event: &mut WebhookEvent) -> Result<(), WebhookError> {
        if let (WebhookEvent::ClientEvent { channel, data, .. }, Some(mk)) =
            (event, self.master_key)
        {
            if ChannelKind::of(channel) == ChannelKind::PrivateEncrypted {
                *data = decrypt_data(mk, channel, data)?;
            }
        }
        Ok(())
    }

    fn parse_event(&self, raw: &RawValue) -> Result<WebhookEvent, WebhookError> {
        // An event is a JSON object: the derived parse would also take an array (tag first), or keep one as
        // an `Unknown` event without a name.
        if !raw.get().starts_with('{') {
            return Err(WebhookError::MalformedBody);
        }
        let mut event = match parse_known_event(raw.get()) {
            Some(event) => event,
            None => parse_event_generic(raw.get())?,
        };
        self.decrypt_event(&mut event)?;
        Ok(event)
    }
}

/// Parses one event: every event needs a string `name`; one this version does not know (or whose shape
/// differs) is kept whole as `Unknown` rather than failing the whole batch.
fn parse_event_generic(raw: &str) -> Result<WebhookEvent, WebhookError> {
    let _: NameOnly<'_> = serde_json::from_str(raw).map_err(|_| WebhookError::MalformedBody)?;
    serde_json::from_str(raw).map_err(|_| WebhookError::MalformedBody)
}

/// The fields of the known events, each parsed into its type where it stands, for [`known_event`].
#[derive(Default)]
struct KnownFields<'a> {
    name: Option<Cow<'a, str>>,
    channel: Option<String>,
    /// `null` is `Some(None)`.
    user_id: Option<Option<String>>,
    event: Option<String>,
    data: Option<Value>,
    /// `null` is `Some(None)`.
    socket_id: Option<Option<String>>,
    subscription_count: Option<u64>,
}

impl<'de: 'a, 'a> Deserialize<'de> for KnownFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = KnownFields<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a webhook event object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                /// Parses the value into `slot`; a second value for the same field is an error.
                fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    slot: &mut Option<T>,
                ) -> Result<(), A::Error> {
                    if slot.is_some() {
                        return Err(serde::de::Error::custom("duplicate field"));
                    }
                    *slot = Some(map.next_value()?);
                    Ok(())
                }
                let mut f = KnownFields::default();
                while let Some(key) = map.next_key::<BorrowedStr<'_>>()? {
                    match key.0.as_ref() {
                        "name" => {
                            if f.name.is_some() {
                                return Err(serde::de::Error::duplicate_field("name"));
                            }
                            f.name = Some(map.next_value::<BorrowedStr<'a>>()?.0);
                        }
                        "channel" => set(&mut map, &mut f.channel)?,
                        "user_id" => set(&mut map, &mut f.user_id)?,
                        "event" => set(&mut map, &mut f.event)?,
                        "data" => set(&mut map, &mut f.data)?,
                        "socket_id" => set(&mut map, &mut f.socket_id)?,
                        "subscription_count" => set(&mut map, &mut f.subscription_count)?,
                        _ => map.next_value_seed(FullParse)?,
                    }
                }
                Ok(f)
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// A string, borrowed from the input when it has no escapes.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = BorrowedStr<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// Parses a value as fully as deserializing it into `serde_json::Value` would (every number converted,
/// every string and escape decoded, so the same values are refused), keeping nothing.
#[derive(Clone, Copy)]
struct FullParse;

impl<'de> DeserializeSeed<'de> for FullParse {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FullParse {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// The fast path of [`parse_event_generic`] for a well-formed known event: one pass over the event, each
/// field parsed straight into its type, where the derived `WebhookEvent` buffers the whole event first (it
/// has to, to find the tag and to fall back to `Unknown`). Every part of the event is still parsed in
/// full (the known fields into their types, the others by [`FullParse`]) and where it stands (so as deep
/// as in the generic parse), so what the generic path refuses is refused here too. `None` whenever anything
/// is unusual (not an object, an unknown name, a missing, null, duplicate or mistyped field, a value a full
/// parse refuses…): the generic path then decides, so the result is always the generic path's.
fn parse_known_event(raw: &str) -> Option<WebhookEvent> {
    if !raw.starts_with('{') {
        return None;
    }
    known_event(serde_json::from_str(raw).ok()?)
}

/// The event of `f` when it is a well-formed known event (see [`parse_known_event`]).
fn known_event(f: KnownFields<'_>) -> Option<WebhookEvent> {
    Some(match f.name?.as_ref() {
        "channel_occupied" => WebhookEvent::ChannelOccupied {
            channel: f.channel?,
        },
        "channel_vacated" => WebhookEvent::ChannelVacated {
            channel: f.channel?,
        },
        "member_added" => WebhookEvent::MemberAdded {
            channel: f.channel?,
            user_id: f.user_id??,
        },
        "member_removed" => WebhookEvent::MemberRemoved {
            channel: f.channel?,
            user_id: f.user_id??,
        },
        "client_event" => WebhookEvent::ClientEvent {
            channel: f.channel?,
            event: f.event?,
            data: f.data?,
            socket_id: f.socket_id.flatten(),
            user_id: f.user_id.flatten(),
        },
        "subscription_count" => WebhookEvent::SubscriptionCount {
            channel: f.channel?,
            subscription_count: f.subscription_count?,
        },
        "cache_miss" => WebhookEvent::CacheMiss {
            channel: f.channel?,
        },
        _ => return None,
    })
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
        let tokens = vec![
            ("key".to_owned(), crate::signing::keyed_mac(b"secret")),
            (
                "old-key".to_owned(),
                crate::signing::keyed_mac(b"old-secret"),
            ),
        ];
        Verifier {
            tokens: Vec::leak(tokens),
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
    fn fast_path_agrees_with_the_generic_parse() {
        // (event, whether the fast path takes it)
        let cases: &[(&str, bool)] = &[
            (r#"{"name":"channel_occupied","channel":"a"}"#, true),
            (
                r#"{"channel":"a","name":"channel_vacated","extra":[1,{"x":null}]}"#,
                true,
            ),
            (
                r#"{"name":"member_added","channel":"presence-a","user_id":"u"}"#,
                true,
            ),
            (
                r#"{"name":"member_removed","channel":"presence-a","user_id":"u"}"#,
                true,
            ),
            (
                r#"{"name":"client_event","channel":"private-a","event":"client-x","data":{"x":[1,2.5,-3,1e400]}}"#,
                false,
            ),
            (
                r#"{"name":"client_event","channel":"private-a","event":"client-x","data":{"x":[1,2.5,-3]},"socket_id":"1.1","user_id":"u"}"#,
                true,
            ),
            (
                r#"{"name":"client_event","channel":"c","event":"e","data":"s\u00e9\"","socket_id":null,"user_id":null}"#,
                true,
            ),
            (
                r#"{"name":"client_event","channel":"c","event":"e","data":null}"#,
                true,
            ),
            (
                r#"{"name":"client_event","channel":"c","event":"e"}"#,
                false,
            ),
            (
                r#"{"name":"client_event","channel":"c","event":"e","data":1,"socket_id":5}"#,
                false,
            ),
            (
                r#"{"name":"subscription_count","channel":"a","subscription_count":18446744073709551615}"#,
                true,
            ),
            (
                r#"{"name":"subscription_count","channel":"a","subscription_count":18446744073709551616}"#,
                false,
            ),
            (
                r#"{"name":"subscription_count","channel":"a","subscription_count":-1}"#,
                false,
            ),
            (
                r#"{"name":"subscription_count","channel":"a","subscription_count":2.0}"#,
                false,
            ),
            (
                r#"{"name":"subscription_count","channel":"a","subscription_count":"2"}"#,
                false,
            ),
            (r#"{"name":"cache_miss","channel":"cache-a"}"#, true),
            (
                r#"{"n\u0061me":"channel\u005foccupied","ch\u0061nnel":"\u0061"}"#,
                true,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","user_id":5}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","user_id":null,"data":[{"x":1}]}"#,
                true,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","channel":"b"}"#,
                false,
            ),
            (r#"{"name":"channel_occupied","channel":null}"#, false),
            (r#"{"name":"channel_occupied","channel":1}"#, false),
            (r#"{"name":"channel_occupied"}"#, false),
            (r#"{"name":"member_added","channel":"x"}"#, false),
            (r#"{"name":"future_thing","channel":"z","n":1}"#, false),
            (r#"{"name":"Channel_Occupied","channel":"a"}"#, false),
            (r#"["channel_occupied"]"#, false),
            (r#"["channel_occupied","a"]"#, false),
            (r#"{"name":1,"channel":"a"}"#, false),
            (r#"{"name":"a","name":"b"}"#, false),
            (r#"{"channel":"a"}"#, false),
            ("7", false),
            // What a full parse refuses anywhere in the event (out-of-range numbers, lone surrogates)
            // makes the generic path fail; the fast path must not accept it.
            (
                r#"{"name":"channel_occupied","channel":"a","x":1e400}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","x":[{"y":-1e400}]}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","x":"\ud800"}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","user_id":1e400}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","data":"\udc00"}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","\ud800":1}"#,
                false,
            ),
            (
                r#"{"name":"channel_occupied","channel":"a","x":1e300,"y":"\ud83d\ude00"}"#,
                true,
            ),
        ];
        let deep = |n: usize| {
            format!(
                r#"{{"name":"channel_occupied","channel":"a","x":{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let deep_data = |n: usize| {
            format!(
                r#"{{"name":"client_event","channel":"a","event":"e","data":{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let (deep_ok, too_deep) = (deep(63), deep(127));
        let (deep_data_ok, deeper_data, too_deep_data) =
            (deep_data(64), deep_data(65), deep_data(127));
        assert!(parse_event_generic(&too_deep).is_err());
        assert!(parse_event_generic(&too_deep_data).is_err());
        let cases: Vec<(&str, bool)> = cases
            .iter()
            .copied()
            .chain([
                (deep_ok.as_str(), true),
                (too_deep.as_str(), false),
                (deep_data_ok.as_str(), true),
                (deeper_data.as_str(), true),
                (too_deep_data.as_str(), false),
            ])
            .collect();
        for (raw, fast) in cases {
            let generic = parse_event_generic(raw);
            match parse_known_event(raw) {
                Some(event) => {
                    assert!(fast, "fast path took {raw}: generic {generic:?}");
                    assert_eq!(Ok(event), generic, "{raw}");
                }
                None => assert!(!fast, "fast path refused {raw}: generic {generic:?}"),
            }
        }
    }

    #[test]
    fn one_pass_agrees_with_step_by_step() {
        let mk = MasterKey::from_bytes(&[3u8; 32]).unwrap();
        let sealed = mk.encrypt("private-encrypted-a", br#"{"x":1}"#).unwrap();
        let client = |channel: &str, data: &str| {
            serde_json::json!({"name":"client_event","channel":channel,"event":"client-e","data":data})
                .to_string()
        };
        let events = [
            r#"{"name":"channel_occupied","channel":"a"},{"name":"member_added","channel":"presence-a","user_id":"u"}"#.to_owned(),
            client("private-encrypted-a", &sealed),
            client("private-encrypted-a", "not a payload"),
            format!("{},{}", client("private-encrypted-a", "bad"), r#"{"no_name":1}"#),
            format!("{},{}", client("private-encrypted-a", &sealed), r#"{"name":"future","x":1}"#),
            r#"{"name":"channel_occupied","channel":"a","x":1e400}"#.to_owned(),
            r#"{"name":"channel_occupied","channel":"a"},[1]"#.to_owned(),
            r#""x""#.to_owned(),
            String::new(),
        ];
        let mut bodies: Vec<Vec<u8>> = events.iter().map(|e| body(NOW, e)).collect();
        bodies.push(body(NOW - 400_000, &events[0]));
        bodies.push(br#"{"time_ms":1700000000000.5,"events":[],"time_ms":1}"#.to_vec());
        bodies.push(br#"{"time_ms":-1,"events":[]}"#.to_vec());
        bodies.push(br#"{"time_ms":1700000000000,"events":[],"extra":{"deep":[1e400]}}"#.to_vec());
        for mk in [None, Some(&mk)] {
            let v = verifier(mk);
            for b in &bodies {
                let stepwise = v.parse_stepwise(b);
                match v.parse_usual(b) {
                    Ok(Some(w)) => assert_eq!(Ok(w), stepwise),
                    Ok(None) => {}
                    Err(e) => assert_eq!(Err(e), stepwise),
                }
            }
            // The usual webhook does take the one-pass path.
            assert!(matches!(v.parse_usual(&bodies[0]), Ok(Some(_))));
        }
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
