//! The verifier: headers, signature (constant time), envelope and freshness; then each event.

use std::time::Duration;

use hmac::Mac;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::parse::{KnownFields, decryption_of, known_event, parse_event};
use super::{Webhook, WebhookEvent};
use crate::encryption::MasterKey;
use crate::error::WebhookError;
use crate::signing::HmacSha256;

/// Who may sign webhooks: the app's own key and secret, then any extra tokens.
pub(crate) struct Verifier<'a> {
    /// Each key with its HMAC already keyed with the key's secret; the first match wins.
    pub tokens: &'a [(String, HmacSha256)],
    pub tolerance: Option<Duration>,
    pub body_limit: usize,
    pub master_key: Option<&'a MasterKey>,
    pub now_ms: u64,
}

/// The envelope, each event kept as its text.
#[derive(Deserialize)]
struct RawWebhook<'a> {
    time_ms: Option<serde_json::Number>,
    #[serde(borrow, default)]
    events: Vec<&'a RawValue>,
}

/// [`RawWebhook`] with the fields of the known events taken on the way, for [`Verifier::parse_usual`].
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
        // JSON is UTF-8; checking it once up front is cheaper than the per-string checks of a byte parse.
        let body = std::str::from_utf8(body).map_err(|_| WebhookError::MalformedBody)?;
        // A webhook is a JSON object: serde's derive would also take the array form `[time_ms, events]`.
        if !body.trim_start_matches(is_json_space).starts_with('{') {
            return Err(WebhookError::MalformedBody);
        }
        let mut webhook = match self.parse_usual(body) {
            Some(webhook) => webhook,
            None => self.parse_stepwise(body)?,
        };
        for event in &mut webhook.events {
            if let WebhookEvent::ClientEvent {
                channel,
                data,
                decryption,
                ..
            } = event
            {
                *decryption = decryption_of(self.master_key, channel, data);
                if let super::Decryption::Failed(e) = decryption {
                    // Any client can send such data: logged quietly, and the webhook stands.
                    tracing::debug!(%channel, reason = e.reason(), "client event did not decrypt");
                }
            }
        }
        Ok(webhook)
    }

    /// The body, step by step: the envelope (time, freshness), then each event on its own. Fails only for
    /// the envelope: every element of `events` gives an event.
    fn parse_stepwise(&self, body: &str) -> Result<Webhook, WebhookError> {
        let raw: RawWebhook<'_> =
            serde_json::from_str(body).map_err(|_| WebhookError::MalformedBody)?;
        let time_ms = time_of(raw.time_ms).ok_or(WebhookError::MalformedBody)?;
        if self.is_stale(time_ms) {
            return Err(WebhookError::Stale);
        }
        let events = raw.events.iter().map(|ev| parse_event(ev.get())).collect();
        Ok(Webhook { time_ms, events })
    }

    /// The usual webhook in one pass over the body: fresh, and every event a well-formed known event.
    /// `None` for anything else, which [`Verifier::parse_stepwise`] then handles (so errors and their order
    /// are its own). When this succeeds, that parse gives the same webhook: the same envelope parse, and each
    /// event read from the same [`KnownFields`] by the same [`known_event`].
    fn parse_usual(&self, body: &str) -> Option<Webhook> {
        let raw = serde_json::from_str::<UsualWebhook<'_>>(body).ok()?;
        let time_ms = time_of(raw.time_ms)?;
        if self.is_stale(time_ms) {
            return None;
        }
        let events = raw
            .events
            .into_iter()
            .map(known_event)
            .collect::<Option<Vec<_>>>()?;
        Some(Webhook { time_ms, events })
    }

    fn is_stale(&self, time_ms: u64) -> bool {
        self.tolerance.is_some_and(|tol| {
            let tol_ms = u64::try_from(tol.as_millis()).unwrap_or(u64::MAX);
            self.now_ms.abs_diff(time_ms) > tol_ms
        })
    }
}

/// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return.
fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::DecryptError;
    use crate::webhook::{Decryption, sign_webhook};

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

    fn check(v: &Verifier<'_>, b: &[u8]) -> Result<Webhook, WebhookError> {
        v.verify(Some("key"), Some(&sign_webhook("secret", b)), b)
    }

    #[test]
    fn all_event_kinds_parse() {
        let b = body(
            NOW,
            r#"{"name":"channel_occupied","channel":"a"},{"name":"channel_vacated","channel":"a"},
            {"name":"member_added","channel":"presence-a","user_id":"u"},
            {"name":"member_removed","channel":"presence-a","user_id":7},
            {"name":"client_event","channel":"private-a","event":"client-x","data":{"x":1},"socket_id":"1.1"},
            {"subscription_count":2,"name":"subscription_count","channel":"a"},
            {"name":"cache_miss","channel":"cache-a"},{"name":"future_thing","channel":"z","n":1},
            [1]"#,
        );
        let w = check(&verifier(None), &b).unwrap();
        assert_eq!(w.events.len(), 9);
        assert_eq!(
            w.events[3],
            WebhookEvent::MemberRemoved {
                channel: "presence-a".into(),
                user_id: "7".into()
            }
        );
        assert_eq!(
            w.events[5],
            WebhookEvent::SubscriptionCount {
                channel: "a".into(),
                subscription_count: 2
            }
        );
        assert!(matches!(&w.events[7], WebhookEvent::Unknown(_)));
        assert_eq!(w.events[7].name(), "future_thing");
        assert_eq!(w.events[7].channel(), Some("z"));
        assert_eq!(w.events[4].name(), "client_event");
        assert_eq!(w.events[4].client_data(), Some(r#"{"x":1}"#));
        assert_eq!(w.events[8], WebhookEvent::Malformed { raw: "[1]".into() });
        assert_eq!((w.events[8].name(), w.events[8].channel()), ("", None));
        // The serialized form reads back to the same webhook.
        let again: Webhook = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(again, w);
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
            let r = check(&v, &body(t, ""));
            assert_eq!(r.is_ok(), ok, "{t}");
            if !ok {
                assert_eq!(r, Err(WebhookError::Stale));
            }
        }
    }

    #[test]
    fn only_the_envelope_refuses_a_webhook() {
        let v = verifier(None);
        for b in [
            &b"[1,2]"[..],
            b"null",
            b"not json",
            b"\xff{}",
            br#"{"events":[]}"#,
            br#"{"time_ms":null,"events":[]}"#,
            br#"{"time_ms":"1700000000000","events":[]}"#,
            br#"{"time_ms":1700000000000,"events":{}}"#,
            br#"{"time_ms":1700000000000,"events":null}"#,
            br#"{"time_ms":1700000000000,"events":[],"time_ms":1700000000000}"#,
            br#"{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"a"}"#,
        ] {
            assert_eq!(
                check(&v, b),
                Err(WebhookError::MalformedBody),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        // Whatever the elements of `events` hold, each is kept as one event.
        let b = br#"{"time_ms":1700000000000,"events":[{"no_name":1},7,{"name":"member_added","channel":"x"},{"name":"x","n":1e400}]}"#;
        let w = check(&v, b).unwrap();
        assert_eq!(w.events.len(), 4);
        assert_eq!(
            w.events[0],
            WebhookEvent::Malformed {
                raw: r#"{"no_name":1}"#.into()
            }
        );
        assert!(matches!(w.events[2], WebhookEvent::Unknown(_)));
        assert!(matches!(&w.events[3], WebhookEvent::Malformed { raw } if raw.contains("1e400")));
        // No `events` is no events; a float `time_ms` is truncated; other top-level fields are skipped.
        for b in [
            &br#"{"time_ms":1700000000000}"#[..],
            br#"{"time_ms":1700000000000.5,"events":[]}"#,
            br#" {"time_ms":1700000000000,"events":[],"extra":{"deep":[1e400,"\ud800"]}}"#,
        ] {
            let w = check(&v, b).unwrap();
            assert_eq!((w.time_ms, w.events.len()), (NOW, 0));
        }
    }

    #[test]
    fn encrypted_client_events_are_decrypted() {
        let mk = MasterKey::from_bytes(&[3u8; 32]).unwrap();
        let data = mk.encrypt("private-encrypted-a", br#"{"x":1}"#).unwrap();
        let ev = serde_json::json!({"name":"client_event","channel":"private-encrypted-a","event":"client-e","data":data});
        let b = body(NOW, &ev.to_string());
        let w = check(&verifier(Some(&mk)), &b).unwrap();
        let WebhookEvent::ClientEvent {
            data: sent,
            decryption,
            ..
        } = &w.events[0]
        else {
            unreachable!()
        };
        assert_eq!(sent, &data);
        assert_eq!(decryption, &Decryption::Decrypted(r#"{"x":1}"#.into()));
        assert_eq!(w.events[0].client_data(), Some(r#"{"x":1}"#));
        // The payload as an object (as sockudo forwards it) opens the same.
        let ev = format!(
            r#"{{"name":"client_event","channel":"private-encrypted-a","event":"client-e","data":{data}}}"#
        );
        let w = check(&verifier(Some(&mk)), &body(NOW, &ev)).unwrap();
        assert_eq!(w.events[0].client_data(), Some(r#"{"x":1}"#));
        // Another key: that event says so, and the webhook stands.
        let wrong = MasterKey::from_bytes(&[4u8; 32]).unwrap();
        let w = check(&verifier(Some(&wrong)), &b).unwrap();
        assert!(matches!(
            &w.events[0],
            WebhookEvent::ClientEvent {
                decryption: Decryption::Failed(DecryptError::AuthenticationFailed),
                ..
            }
        ));
        assert_eq!(w.events[0].client_data(), None);
        let w = check(&verifier(None), &b).unwrap();
        assert!(matches!(
            &w.events[0],
            WebhookEvent::ClientEvent {
                decryption: Decryption::NoMasterKey,
                ..
            }
        ));
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
            r#"{"name":"channel_occupied","channel":"a","channel":"b","user_id":[]}"#.to_owned(),
            r#"{"name":"member_added","channel":"a","user_id":12}"#.to_owned(),
            r#"{"name":"channel_occupied","channel":"a"},[1]"#.to_owned(),
            r#""x""#.to_owned(),
            String::new(),
        ];
        let mut bodies: Vec<String> = events
            .iter()
            .map(|e| String::from_utf8(body(NOW, e)).unwrap())
            .collect();
        bodies.push(String::from_utf8(body(NOW - 400_000, &events[0])).unwrap());
        bodies.push(r#"{"time_ms":1700000000000.5,"events":[],"time_ms":1}"#.to_owned());
        bodies.push(r#"{"time_ms":-1,"events":[]}"#.to_owned());
        let v = verifier(None);
        let mut one_pass = 0;
        for b in &bodies {
            if let Some(w) = v.parse_usual(b) {
                assert_eq!(Ok(w), v.parse_stepwise(b), "{b}");
                one_pass += 1;
            }
        }
        // The usual webhooks do take the one-pass path.
        assert_eq!(one_pass, 7);
        assert!(v.parse_usual(&bodies[0]).is_some());
    }

    #[test]
    fn too_large() {
        let mut v = verifier(None);
        v.body_limit = 10;
        assert_eq!(check(&v, &body(NOW, "")), Err(WebhookError::TooLarge));
    }
}
