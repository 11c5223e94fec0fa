//! Parsing auth request bodies: the content type, form or JSON pairs (repeated keys kept, so they can be
//! refused), and the three request types. Every step is linear in the body's size.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AuthError;
use crate::channel::{ChannelKind, check_channel_charset, validate_socket_id};

/// A parsed channel authorization request (`socket_id`, `channel_name`, and any other parameter pusher-js
/// was told to send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelAuthRequest {
    /// The connection asking.
    pub socket_id: String,
    /// The channel it wants to subscribe to.
    pub channel_name: String,
    /// Other parameters (pusher-js `channelAuthorization.params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A parsed batch channel authorization request (pusher-js-auth: `socket_id` and `channel_name[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchAuthRequest {
    /// The connection asking.
    pub socket_id: String,
    /// The channels, in request order, without duplicates (at most [`MAX_BATCH_AUTH_CHANNELS`]).
    pub channel_names: Vec<String>,
    /// Other parameters (pusher-js-auth's `params`), given to every channel's rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A parsed user authentication request (`socket_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserAuthRequest {
    /// The connection signing in.
    pub socket_id: String,
    /// Other parameters (pusher-js `userAuthentication.params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// The most distinct channels one batch auth request may name; the 101st is refused (400).
pub const MAX_BATCH_AUTH_CHANNELS: usize = 100;

/// What an auth body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
}

/// The body kind named by `content_type`: exactly `application/x-www-form-urlencoded` or
/// `application/json` (case-insensitive, parameters allowed). Anything else, including no content type
/// (or one that is not UTF-8, which Rocket drops before the crate sees it), is malformed, so the three
/// frameworks answer alike.
fn body_kind(content_type: Option<&str>) -> Result<BodyKind, AuthError> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .ok_or(AuthError::MalformedBody)?;
    if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(BodyKind::Form)
    } else if media_type.eq_ignore_ascii_case("application/json") {
        Ok(BodyKind::Json)
    } else {
        Err(AuthError::MalformedBody)
    }
}

/// Key/value pairs of an auth body in order, repeated keys kept, borrowed where no decoding was needed.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A JSON object's members in order, repeated keys kept (a `serde_json::Map` keeps only the last).
struct JsonMembers(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for JsonMembers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = JsonMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonMembers, A::Error> {
                // A repeated member is refused whatever its value (a `null` or `[]` would otherwise
                // leave no pair behind to show the repeat).
                let mut out: Vec<(String, Value)> = Vec::new();
                let mut names: HashSet<String> = HashSet::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if !names.insert(name.clone()) {
                        return Err(serde::de::Error::custom("repeated member"));
                    }
                    out.push((name, value));
                }
                Ok(JsonMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Parses a form or JSON body (by [`body_kind`]) into key/value pairs, keeping repeated keys in order. A
/// JSON array of strings under `k` gives pairs `k[]`, as a form would.
fn parse_pairs<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<Pairs<'a>, AuthError> {
    match body_kind(content_type)? {
        BodyKind::Json => {
            let JsonMembers(members) =
                serde_json::from_slice(body).map_err(|_| AuthError::MalformedBody)?;
            let mut out: Pairs<'a> = Vec::with_capacity(members.len());
            for (k, v) in members {
                match v {
                    Value::String(s) => out.push((k.into(), s.into())),
                    Value::Array(items) => {
                        for item in items {
                            match item {
                                Value::String(s) => out.push((format!("{k}[]").into(), s.into())),
                                _ => return Err(AuthError::MalformedBody),
                            }
                        }
                    }
                    Value::Number(n) => out.push((k.into(), n.to_string().into())),
                    Value::Bool(b) => out.push((k.into(), b.to_string().into())),
                    Value::Null => {}
                    Value::Object(_) => return Err(AuthError::MalformedBody),
                }
            }
            Ok(out)
        }
        BodyKind::Form => {
            if std::str::from_utf8(body).is_err() {
                return Err(AuthError::MalformedBody);
            }
            Ok(form_urlencoded::parse(body).collect())
        }
    }
}

/// The value of `key` when it appears exactly once.
fn take_single(pairs: &Pairs<'_>, key: &str) -> Option<String> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Some(v.as_ref().to_owned()),
        _ => None,
    }
}

fn socket_id_of(pairs: &Pairs<'_>) -> Result<String, AuthError> {
    let s = take_single(pairs, "socket_id").ok_or(AuthError::InvalidSocketId)?;
    validate_socket_id(&s).map_err(|_| AuthError::InvalidSocketId)?;
    Ok(s)
}

/// The parameters other than `known`; a repeated one is malformed (never last-wins).
fn other_params(pairs: Pairs<'_>, known: &[&str]) -> Result<BTreeMap<String, String>, AuthError> {
    let mut params = BTreeMap::new();
    for (k, v) in pairs {
        if known.contains(&k.as_ref()) {
            continue;
        }
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(AuthError::MalformedBody);
        }
    }
    Ok(params)
}

impl ChannelAuthRequest {
    /// Parses a pusher-js channel authorization body (by its content type: form or JSON) and checks
    /// `socket_id` and `channel_name`. A repeated key is refused.
    ///
    /// ```
    /// use pusher::integration::ChannelAuthRequest;
    /// let r = ChannelAuthRequest::parse(Some("application/x-www-form-urlencoded"),
    ///     b"socket_id=1234.5678&channel_name=private-orders%2E42").unwrap();
    /// assert_eq!(r.channel_name, "private-orders.42");
    /// ```
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        let channel_name = take_single(&pairs, "channel_name").ok_or(AuthError::InvalidChannel)?;
        // Characters only: the length is checked against the client's limits in `authorize_channel`.
        check_channel_charset(&channel_name).map_err(|_| AuthError::InvalidChannel)?;
        Ok(ChannelAuthRequest {
            socket_id,
            channel_name,
            params: other_params(pairs, &["socket_id", "channel_name"])?,
        })
    }

    /// Refuses, before any user lookup, a channel that needs no authorization (400).
    pub(crate) fn check_needs_auth(&self) -> Result<(), AuthError> {
        let kind = ChannelKind::of(&self.channel_name);
        if kind.requires_auth() {
            Ok(())
        } else if kind == ChannelKind::Public {
            Err(AuthError::PublicChannel)
        } else {
            Err(AuthError::InvalidChannel)
        }
    }
}

fn is_channel_key(k: &str) -> bool {
    k == "channel_name[]"
        || k.strip_prefix("channel_name[")
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// The distinct channel names of a batch, in order, from `pairs`: stops at the
/// [`MAX_BATCH_AUTH_CHANNELS`]` + 1`th distinct name (refused), so a huge body costs one pass with a hash
/// set, never a comparison of every name with every other.
fn batch_channels<'a, I>(pairs: I) -> Result<Vec<String>, AuthError>
where
    I: IntoIterator<Item = &'a (Cow<'a, str>, Cow<'a, str>)>,
{
    let mut seen: HashSet<&str> = HashSet::new();
    let mut names = Vec::new();
    for (k, v) in pairs {
        if is_channel_key(k) && seen.insert(v.as_ref()) {
            if names.len() == MAX_BATCH_AUTH_CHANNELS {
                return Err(AuthError::InvalidChannel);
            }
            names.push(v.as_ref().to_owned());
        }
    }
    if names.is_empty() {
        return Err(AuthError::InvalidChannel);
    }
    Ok(names)
}

impl BatchAuthRequest {
    /// Parses a batch body: `socket_id` and `channel_name[]` (or `channel_name[0]`, `channel_name[1]`, …),
    /// duplicates counted once, at most [`MAX_BATCH_AUTH_CHANNELS`] distinct names.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        // Only `channel_name[]` may repeat (it is the list); any other repeated key is malformed.
        let mut keys: HashSet<&str> = HashSet::new();
        for (k, _) in &pairs {
            if k != "channel_name[]" && !keys.insert(k.as_ref()) {
                return Err(AuthError::MalformedBody);
            }
        }
        let channel_names = batch_channels(&pairs)?;
        let params = pairs
            .into_iter()
            .filter(|(k, _)| k != "socket_id" && !is_channel_key(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(BatchAuthRequest {
            socket_id,
            channel_names,
            params,
        })
    }
}

impl UserAuthRequest {
    /// Parses a pusher-js user authentication body and checks `socket_id`. A repeated key is refused.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, AuthError> {
        let pairs = parse_pairs(content_type, body)?;
        let socket_id = socket_id_of(&pairs)?;
        Ok(UserAuthRequest {
            socket_id,
            params: other_params(pairs, &["socket_id"])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");
    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn parsing() {
        let r =
            ChannelAuthRequest::parse(FORM, b"socket_id=1.2&channel_name=private-a&x=1").unwrap();
        assert_eq!(r.params.get("x").map(String::as_str), Some("1"));
        let r =
            ChannelAuthRequest::parse(JSON, br#"{"socket_id":"1.2","channel_name":"private-a"}"#)
                .unwrap();
        assert_eq!(r.channel_name, "private-a");
        for (ct, body, err) in [
            (
                FORM,
                &b"channel_name=private-a"[..],
                AuthError::InvalidSocketId,
            ),
            (
                FORM,
                b"socket_id=abc&channel_name=private-a",
                AuthError::InvalidSocketId,
            ),
            (FORM, b"socket_id=1.2", AuthError::InvalidChannel),
            (
                FORM,
                b"socket_id=1.2&channel_name=bad%20name",
                AuthError::InvalidChannel,
            ),
            (
                FORM,
                b"socket_id=1.2&channel_name=a&channel_name=b",
                AuthError::InvalidChannel,
            ),
            (JSON, b"{nope", AuthError::MalformedBody),
            (Some("text/xml"), b"<a/>", AuthError::MalformedBody),
            (FORM, b"\xff\xfe", AuthError::MalformedBody),
        ] {
            assert_eq!(
                ChannelAuthRequest::parse(ct, body),
                Err(err),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let b = BatchAuthRequest::parse(FORM, b"socket_id=1.2&channel_name%5B%5D=private-a&channel_name[1]=private-b&channel_name[]=private-a").unwrap();
        assert_eq!(b.channel_names, ["private-a", "private-b"]);
        assert!(UserAuthRequest::parse(FORM, b"socket_id=1.2").is_ok());
    }

    #[test]
    fn a_missing_content_type_is_malformed() {
        for ct in [None, Some(""), Some("  ; charset=utf-8")] {
            assert_eq!(
                UserAuthRequest::parse(ct, b"socket_id=1.2"),
                Err(AuthError::MalformedBody),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn only_application_json_is_json() {
        let body = br#"{"socket_id":"1.2"}"#;
        assert!(UserAuthRequest::parse(Some("Application/JSON; charset=utf-8"), body).is_ok());
        for ct in [
            "application/vnd.evil+json",
            "application/ld+json",
            "text/json",
            "application/jsonx",
        ] {
            assert_eq!(
                UserAuthRequest::parse(Some(ct), body),
                Err(AuthError::MalformedBody),
                "{ct}"
            );
        }
    }

    #[test]
    fn repeated_json_keys_are_refused_like_repeated_form_keys() {
        // A repeated member makes the object malformed, whatever the member and its value.
        for body in [
            r#"{"socket_id":"1.2","socket_id":"3.4","channel_name":"private-a"}"#,
            r#"{"socket_id":"1.2","channel_name":"private-a","channel_name":"private-b"}"#,
            r#"{"socket_id":"1.2","channel_name":"private-a","x":"1","x":"2"}"#,
            r#"{"socket_id":"1.2","channel_name":null,"channel_name":"private-a"}"#,
            r#"{"socket_id":"1.2","channel_name":"private-a","x":[],"x":"1"}"#,
        ] {
            let err = AuthError::MalformedBody;
            assert_eq!(
                ChannelAuthRequest::parse(JSON, body.as_bytes()),
                Err(err),
                "{body}"
            );
        }
        assert_eq!(
            ChannelAuthRequest::parse(FORM, b"socket_id=1.2&channel_name=private-a&x=1&x=2"),
            Err(AuthError::MalformedBody)
        );
    }

    /// An iterator that counts the items pulled from it.
    struct Counting<I> {
        inner: I,
        pulled: std::rc::Rc<std::cell::Cell<usize>>,
    }

    impl<I: Iterator> Iterator for Counting<I> {
        type Item = I::Item;
        fn next(&mut self) -> Option<I::Item> {
            self.pulled.set(self.pulled.get() + 1);
            self.inner.next()
        }
    }

    fn channel_pairs(names: impl Iterator<Item = String>) -> Pairs<'static> {
        names
            .map(|n| (Cow::Borrowed("channel_name[]"), Cow::Owned(n)))
            .collect()
    }

    #[test]
    fn batch_stops_at_the_101st_distinct_channel() {
        let pairs = channel_pairs((0..100_000).map(|i| format!("private-{i}")));
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let it = Counting {
            inner: pairs.iter(),
            pulled: pulled.clone(),
        };
        assert_eq!(batch_channels(it), Err(AuthError::InvalidChannel));
        assert_eq!(pulled.get(), MAX_BATCH_AUTH_CHANNELS + 1);
    }

    #[test]
    fn batch_counts_duplicates_once_in_one_pass() {
        // 100 distinct names, each repeated 1000 times: accepted, every pair looked at once.
        let pairs = channel_pairs((0..100_000).map(|i| format!("private-{}", i % 100)));
        let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
        let it = Counting {
            inner: pairs.iter(),
            pulled: pulled.clone(),
        };
        let names = batch_channels(it).unwrap();
        assert_eq!(names.len(), 100);
        assert_eq!(names[0], "private-0");
        assert_eq!(pulled.get(), 100_001, "one step per pair, plus the end");
    }
}
