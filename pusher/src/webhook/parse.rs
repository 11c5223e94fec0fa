//! One element of a webhook's `events` into a [`WebhookEvent`]: total (every element gives an event, never
//! an error) and linear in the element's size.
//!
//! The fields a known event uses are first taken as raw JSON text ([`KnownFields`], one pass, other fields
//! skipped without being built), then read by [`known_event`]; an element that is not a well-formed known
//! event is parsed again as a `serde_json::Value` ([`WebhookEvent::Unknown`]) or kept as its text
//! ([`WebhookEvent::Malformed`]). A key given twice counts with its last value, as in `serde_json::Value`
//! (and Python and JavaScript), so an `Unknown` event never holds a well-formed known event.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Decryption, WebhookEvent};
use crate::channel::ChannelKind;
use crate::encryption::{DecryptError, MasterKey};

/// The element of `events` whose JSON text is `raw`, as a [`WebhookEvent`] (see the module docs).
pub(super) fn parse_event(raw: &str) -> WebhookEvent {
    if let Some(event) = serde_json::from_str::<KnownFields<'_>>(raw)
        .ok()
        .and_then(known_event)
    {
        return event;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value) if value.get("name").is_some_and(Value::is_string) => {
            WebhookEvent::Unknown(value)
        }
        _ => WebhookEvent::Malformed {
            raw: raw.to_owned(),
        },
    }
}

/// The raw JSON text of each field a known event uses; the last value when a key repeats. Deserializing
/// fails only when the element is not a JSON object (or not JSON).
#[derive(Default)]
pub(super) struct KnownFields<'a> {
    name: Option<&'a RawValue>,
    channel: Option<&'a RawValue>,
    user_id: Option<&'a RawValue>,
    event: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    socket_id: Option<&'a RawValue>,
    subscription_count: Option<&'a RawValue>,
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
                let mut f = KnownFields::default();
                while let Some(key) = map.next_key::<BorrowedStr<'de>>()? {
                    let slot = match key.0.as_ref() {
                        "name" => &mut f.name,
                        "channel" => &mut f.channel,
                        "user_id" => &mut f.user_id,
                        "event" => &mut f.event,
                        "data" => &mut f.data,
                        "socket_id" => &mut f.socket_id,
                        "subscription_count" => &mut f.subscription_count,
                        _ => {
                            // Skipped by the grammar alone: no depth limit, no number range, no allocation.
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(f)
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

/// The event of `f` when it is a well-formed known event: a known `name`, and each field the kind needs
/// present with the right type. `None` otherwise.
pub(super) fn known_event(f: KnownFields<'_>) -> Option<WebhookEvent> {
    let name = name_of(f.name?)?;
    let channel = || string_of(f.channel?);
    Some(match name.as_ref() {
        "channel_occupied" => WebhookEvent::ChannelOccupied {
            channel: channel()?,
        },
        "channel_vacated" => WebhookEvent::ChannelVacated {
            channel: channel()?,
        },
        "member_added" => WebhookEvent::MemberAdded {
            channel: channel()?,
            user_id: user_id_of(f.user_id?)??,
        },
        "member_removed" => WebhookEvent::MemberRemoved {
            channel: channel()?,
            user_id: user_id_of(f.user_id?)??,
        },
        "client_event" => WebhookEvent::ClientEvent {
            channel: channel()?,
            event: string_of(f.event?)?,
            data: data_of(f.data?)?,
            socket_id: match f.socket_id {
                None => None,
                Some(raw) if raw.get() == "null" => None,
                Some(raw) => Some(string_of(raw)?),
            },
            user_id: match f.user_id {
                None => None,
                Some(raw) => user_id_of(raw)?,
            },
            // Worked out by the verifier, which has the master key.
            decryption: Decryption::NotEncrypted,
        },
        "subscription_count" => WebhookEvent::SubscriptionCount {
            channel: channel()?,
            subscription_count: serde_json::from_str(f.subscription_count?.get()).ok()?,
        },
        "cache_miss" => WebhookEvent::CacheMiss {
            channel: channel()?,
        },
        _ => return None,
    })
}

/// A map key, borrowed from the input when it has no escapes (serde's `Cow<str>` always copies).
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

/// A JSON string's value, borrowed when it has no escapes; `None` for anything else (or a string with a
/// lone surrogate escape). The text is a JSON value the parser already checked, so a string without a
/// backslash is its own value between the quotes.
fn str_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let inner = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str(raw.get()).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

fn name_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    str_of(raw)
}

fn string_of(raw: &RawValue) -> Option<String> {
    str_of(raw).map(Cow::into_owned)
}

/// A user id: `Some(None)` for `null`, a string's value, or a number's JSON text exactly as written
/// (`42`, `-7`, `1.5`); `None` for anything else.
fn user_id_of(raw: &RawValue) -> Option<Option<String>> {
    let text = raw.get();
    match text.as_bytes().first()? {
        b'n' => Some(None),
        b'"' => string_of(raw).map(Some),
        // The parser already checked it is a JSON number (the only values starting so).
        b'-' | b'0'..=b'9' => Some(Some(text.to_owned())),
        _ => None,
    }
}

/// A client event's `data` as [`WebhookEvent::ClientEvent`] keeps it: a string's value, or the JSON text of
/// any other value exactly as written.
fn data_of(raw: &RawValue) -> Option<String> {
    if raw.get().starts_with('"') {
        string_of(raw)
    } else {
        Some(raw.get().to_owned())
    }
}

/// What decrypting `data` on `channel` gives. Never fails and never panics; linear in the size of `data`.
pub(super) fn decryption_of(
    master_key: Option<&MasterKey>,
    channel: &str,
    data: &str,
) -> Decryption {
    if ChannelKind::of(channel) != ChannelKind::PrivateEncrypted {
        return Decryption::NotEncrypted;
    }
    let Some(key) = master_key else {
        return Decryption::NoMasterKey;
    };
    match key.open(channel, data) {
        Ok(plain) => match String::from_utf8(plain) {
            Ok(text) => Decryption::Decrypted(text),
            Err(_) => Decryption::Failed(DecryptError::NotUtf8),
        },
        Err(e) => Decryption::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(raw: &str) -> WebhookEvent {
        parse_event(raw)
    }

    #[test]
    fn known_events() {
        assert_eq!(
            ev(r#"{"name":"channel_occupied","channel":"a"}"#),
            WebhookEvent::ChannelOccupied {
                channel: "a".into()
            }
        );
        assert_eq!(
            ev(
                r#"{"n\u0061me":"channel\u005fvacated","ch\u0061nnel":"\u0061","x":[1e400,"\ud800"]}"#
            ),
            WebhookEvent::ChannelVacated {
                channel: "a".into()
            }
        );
        assert_eq!(
            ev(
                r#"{"name":"subscription_count","channel":"a","subscription_count":18446744073709551615}"#
            ),
            WebhookEvent::SubscriptionCount {
                channel: "a".into(),
                subscription_count: u64::MAX
            }
        );
        assert_eq!(
            ev(
                r#"{"name":"client_event","channel":"c","event":"client-e","data":{ "x" : [1, 2.50] },"socket_id":null,"user_id":null}"#
            ),
            WebhookEvent::ClientEvent {
                channel: "c".into(),
                event: "client-e".into(),
                data: r#"{ "x" : [1, 2.50] }"#.into(),
                socket_id: None,
                user_id: None,
                decryption: Decryption::NotEncrypted,
            }
        );
        // The last value of a repeated key counts, as in `serde_json::Value`.
        assert_eq!(
            ev(r#"{"name":"channel_occupied","channel":"a","channel":"b"}"#),
            WebhookEvent::ChannelOccupied {
                channel: "b".into()
            }
        );
    }

    #[test]
    fn numeric_user_ids_keep_their_json_text() {
        for (user_id, text) in [
            ("42", "42"),
            ("-7", "-7"),
            ("1.50", "1.50"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            (r#""u""#, "u"),
        ] {
            for name in ["member_added", "member_removed"] {
                let e = ev(&format!(
                    r#"{{"name":"{name}","channel":"presence-a","user_id":{user_id}}}"#
                ));
                let (WebhookEvent::MemberAdded { user_id, .. }
                | WebhookEvent::MemberRemoved { user_id, .. }) = &e
                else {
                    panic!("{e:?}")
                };
                assert_eq!(user_id, text);
            }
        }
        for odd in ["null", "true", "[1]", r#"{"id":1}"#] {
            let e = ev(&format!(
                r#"{{"name":"member_added","channel":"presence-a","user_id":{odd}}}"#
            ));
            assert!(matches!(e, WebhookEvent::Unknown(_)), "{odd}: {e:?}");
        }
    }

    #[test]
    fn what_is_not_a_known_event() {
        for raw in [
            r#"{"name":"member_added","channel":"x"}"#,
            r#"{"name":"future_thing","channel":"z","n":1}"#,
            r#"{"name":"Channel_Occupied","channel":"a"}"#,
            r#"{"name":"channel_occupied","channel":null}"#,
            r#"{"name":"channel_occupied","channel":1}"#,
            r#"{"name":"client_event","channel":"c","event":"e"}"#,
            r#"{"name":"client_event","channel":"c","event":"e","data":1,"socket_id":5}"#,
            r#"{"name":"subscription_count","channel":"a","subscription_count":-1}"#,
            r#"{"name":"subscription_count","channel":"a","subscription_count":2.0}"#,
            r#"{"name":"subscription_count","channel":"a","subscription_count":"2"}"#,
        ] {
            let e = ev(raw);
            assert_eq!(
                e,
                WebhookEvent::Unknown(serde_json::from_str(raw).unwrap()),
                "{raw}"
            );
        }
        let deep = format!(
            r#"{{"name":"future","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for raw in [
            "7",
            r#""channel_occupied""#,
            r#"["channel_occupied","a"]"#,
            r#"{"channel":"a"}"#,
            r#"{"name":1,"channel":"a"}"#,
            r#"{"name":"channel_occupied","channel":"a","name":null}"#,
            r#"{"name":"future","x":1e400}"#,
            r#"{"name":"channel_occupied","channel":"\ud800"}"#,
            r#"{"name":"client_event","channel":"c","event":"e","data":"\udc00"}"#,
            deep.as_str(),
        ] {
            assert_eq!(
                ev(raw),
                WebhookEvent::Malformed { raw: raw.into() },
                "{raw}"
            );
        }
        // A known event ignores the fields it does not use, however odd.
        let data = format!(r#"{}1{}"#, "[".repeat(200), "]".repeat(200));
        let raw = format!(
            r#"{{"name":"client_event","channel":"c","event":"e","data":{data},"n":1e400}}"#
        );
        let WebhookEvent::ClientEvent { data: got, .. } = ev(&raw) else {
            panic!("{raw}")
        };
        assert_eq!(got, data);
    }
}
