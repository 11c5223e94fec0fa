//! Publishing events: the channel list argument, trigger options, batch events, their wire bodies and the
//! typed responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;

mod prepare;

pub(crate) use prepare::{PreparedTrigger, Rules, check_options, info_param, serialize_info};

/// One channel or a list of channels, for [`Pusher::trigger`](crate::Pusher::trigger).
///
/// Implemented for `str`, `String`, and slices, arrays and vectors of anything that is `AsRef<str>`, so
/// `"orders"`, `&["a", "b"]` and `&vec![name]` all work.
pub trait ChannelList {
    /// The channel names.
    fn channel_names(&self) -> Vec<&str>;
}

impl ChannelList for str {
    fn channel_names(&self) -> Vec<&str> {
        vec![self]
    }
}

impl ChannelList for String {
    fn channel_names(&self) -> Vec<&str> {
        vec![self.as_str()]
    }
}

impl<S: AsRef<str>> ChannelList for [S] {
    fn channel_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str>, const N: usize> ChannelList for [S; N] {
    fn channel_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<S: AsRef<str>> ChannelList for Vec<S> {
    fn channel_names(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

/// Encodes event data into the string that is sent.
///
/// The rule: a value that *is* a string — `str`, `String`, `Cow<str>`, `Box<str>`, a
/// `serde_json::Value::String`, or any reference to one (anything whose `Serialize` is a single top-level
/// `serialize_str`) — is sent **as is**, so already-encoded JSON is not encoded twice. Everything else is
/// sent as its compact JSON: numbers, maps, structs, and also newtypes around a string (`OrderId("42")`
/// is sent as `"42"`, quoted), enum variants (`Status::Paid` as `"Paid"`), `char`, `Some("x")`, and a
/// [`RawValue`](serde_json::value::RawValue) (its JSON text, verbatim — the explicit way to send raw JSON).
/// pusher-js parses the data string as JSON when it can, so a string `"42"` sent as is reaches the browser
/// as the number 42: to send a string that looks like JSON as a string, send `serde_json::to_string(&s)?`.
/// A type whose own `Serialize` writes a bare string — a `#[serde(transparent)]` wrapper, an untagged enum,
/// some decimal or id types — counts as a string; send `serde_json::to_string(&value)?` to have it quoted.
///
/// The value is serialized once: the check for a plain string costs one call.
///
/// ```
/// use pusher::trigger::encode_data;
/// assert_eq!(encode_data("already {\"json\"}").unwrap(), "already {\"json\"}");
/// assert_eq!(encode_data(&serde_json::json!({"a": 1})).unwrap(), r#"{"a":1}"#);
/// assert_eq!(encode_data(&1.5).unwrap(), "1.5");
/// #[derive(serde::Serialize)]
/// struct OrderId(&'static str);
/// assert_eq!(encode_data(&OrderId("42")).unwrap(), r#""42""#);
/// ```
pub fn encode_data<D: Serialize + ?Sized>(data: &D) -> Result<String> {
    // A string (the common case: already-encoded JSON) is taken as is, skipping the round trip through
    // escaped JSON; anything else goes through serde_json. The probe refuses at the first call that is
    // not `serialize_str`, before any work.
    match data.serialize(StrProbe) {
        Ok(s) => Ok(s),
        Err(NotAString) => Ok(serde_json::to_string(data)?),
    }
}

/// A serializer that accepts only a string given directly (`serialize_str` as the first and only call)
/// and gives it back; [`encode_data`] sends anything it refuses through serde_json instead. Newtype
/// structs, enum variants, options and chars are refused, so they are JSON-encoded (quoted).
struct StrProbe;

/// Why [`StrProbe`] refused a value: it is not a plain string.
#[derive(Debug)]
struct NotAString;

impl std::fmt::Display for NotAString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string")
    }
}

impl std::error::Error for NotAString {}

impl serde::ser::Error for NotAString {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAString
    }
}

macro_rules! refuse {
    ($($name:ident($($arg:ty),*);)*) => {
        $(fn $name(self, $(_: $arg),*) -> std::result::Result<String, NotAString> {
            Err(NotAString)
        })*
    };
}

impl serde::Serializer for StrProbe {
    type Ok = String;
    type Error = NotAString;
    type SerializeSeq = serde::ser::Impossible<String, NotAString>;
    type SerializeTuple = serde::ser::Impossible<String, NotAString>;
    type SerializeTupleStruct = serde::ser::Impossible<String, NotAString>;
    type SerializeTupleVariant = serde::ser::Impossible<String, NotAString>;
    type SerializeMap = serde::ser::Impossible<String, NotAString>;
    type SerializeStruct = serde::ser::Impossible<String, NotAString>;
    type SerializeStructVariant = serde::ser::Impossible<String, NotAString>;

    fn serialize_str(self, v: &str) -> std::result::Result<String, NotAString> {
        Ok(v.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> std::result::Result<String, NotAString> {
        Err(NotAString)
    }

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(
        self,
        _: &T,
    ) -> std::result::Result<String, NotAString> {
        Err(NotAString)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> std::result::Result<String, NotAString> {
        Err(NotAString)
    }

    fn serialize_seq(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeSeq, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple(self, _: usize) -> std::result::Result<Self::SerializeTuple, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, NotAString> {
        Err(NotAString)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, NotAString> {
        Err(NotAString)
    }

    fn serialize_map(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeMap, NotAString> {
        Err(NotAString)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStruct, NotAString> {
        Err(NotAString)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, NotAString> {
        Err(NotAString)
    }
}

/// Optional parts of a trigger.
///
/// ```
/// let opts = pusher::TriggerOptions::new()
///     .socket_id("1234.5678")
///     .info(["subscription_count"])
///     .idempotency_key("order-42-created");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct TriggerOptions {
    /// Exclude this connection from receiving the event.
    pub socket_id: Option<String>,
    /// Ask for these attributes of each channel in the response (`user_count`, `subscription_count`).
    pub info: Vec<String>,
    /// Publish at most once per key within the server's window ([`crate::idempotency`]).
    pub idempotency_key: Option<String>,
    /// Split data over the size limit into `chunked-<event>` events ([`crate::chunked`]).
    pub chunked: bool,
}

impl TriggerOptions {
    /// No exclusion, no attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Excludes the connection with this socket id.
    pub fn socket_id(mut self, socket_id: impl Into<String>) -> Self {
        self.socket_id = Some(socket_id.into());
        self
    }

    /// Asks for these channel attributes in the response.
    pub fn info<I, S>(mut self, attributes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.info = attributes.into_iter().map(Into::into).collect();
        self
    }

    /// Publishes at most once per `key` on a server that de-duplicates (sockudo: within 120 s), however
    /// often the request is sent; a keyed trigger is also retried after timeouts, resets and 5xx (see
    /// [`crate::retry`]). The key (1 to 128 visible ASCII characters) is checked when the trigger is sent,
    /// with [`Error::Validation`](crate::Error::Validation) (`field` = `"idempotency_key"`).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Whether data over the size limit is sent as `chunked-<event>` events that the client reassembles
    /// ([`crate::chunked`]) instead of being refused (default `false`, or the client's
    /// [`chunked_events`](crate::PusherBuilder::chunked_events)).
    pub fn chunked(mut self, yes: bool) -> Self {
        self.chunked = yes;
        self
    }
}

/// Options of a whole batch ([`Pusher::trigger_batch_with`](crate::Pusher::trigger_batch_with)).
///
/// ```
/// let opts = pusher::trigger::BatchOptions::new().idempotency_key("nightly-digest-2026-11-30");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct BatchOptions {
    /// The batch's idempotency key: each event without a key of its own is sent with `KEY:INDEX`
    /// ([`crate::idempotency`]).
    pub idempotency_key: Option<String>,
}

impl BatchOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes each event of the batch at most once on a server that de-duplicates: events without their
    /// own key are sent with `KEY:INDEX` (`KEY` at most 128 characters with that suffix).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// One event of a batch ([`Pusher::trigger_batch`](crate::Pusher::trigger_batch)).
///
/// ```
/// let e = pusher::BatchEvent::new("orders", "created", &serde_json::json!({"id": 1}))
///     .unwrap()
///     .socket_id("1234.5678")
///     .info(["subscription_count"]);
/// assert_eq!(e.data, r#"{"id":1}"#);
/// assert_eq!(e.info, ["subscription_count"]);
/// ```
///
/// `Serialize` writes the event as the API reads it (`info` joined with commas); `Deserialize` reads that
/// form back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchEvent {
    /// The channel.
    pub channel: String,
    /// The event name.
    pub name: String,
    /// The data as sent (see [`encode_data`] for which values are sent as is); encrypted when sent on a
    /// `private-encrypted-` channel.
    pub data: String,
    /// Exclude this connection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub socket_id: Option<String>,
    /// Channel attributes to return for this event (`user_count`, `subscription_count`), as for
    /// [`TriggerOptions::info`]; comma-separated on the wire.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        default,
        serialize_with = "prepare::serialize_info",
        deserialize_with = "prepare::deserialize_info"
    )]
    pub info: Vec<String>,
    /// This event's idempotency key ([`crate::idempotency`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
}

impl BatchEvent {
    /// An event with data encoded by [`encode_data`].
    pub fn new<D: Serialize + ?Sized>(
        channel: impl Into<String>,
        name: impl Into<String>,
        data: &D,
    ) -> Result<Self> {
        Ok(BatchEvent {
            channel: channel.into(),
            name: name.into(),
            data: encode_data(data)?,
            socket_id: None,
            info: Vec::new(),
            idempotency_key: None,
        })
    }

    /// Publishes this event at most once per `key` on a server that de-duplicates (checked when sent).
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Excludes the connection with this socket id.
    #[must_use]
    pub fn socket_id(mut self, socket_id: impl Into<String>) -> Self {
        self.socket_id = Some(socket_id.into());
        self
    }

    /// Asks for these channel attributes in the response (`user_count`, `subscription_count`), each checked
    /// when the batch is sent (the same rule and the same argument as [`TriggerOptions::info`]).
    #[must_use]
    pub fn info<I>(mut self, attributes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.info = attributes.into_iter().map(Into::into).collect();
        self
    }
}

/// The body of `POST /apps/{id}/events`.
#[derive(Debug, Serialize)]
pub(crate) struct TriggerBody<'a> {
    pub name: &'a str,
    pub channels: &'a [&'a str],
    pub data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<&'a str>,
}

impl TriggerBody<'_> {
    /// The JSON body, byte for byte what `serde_json::to_vec(self)` gives, written directly (the event's
    /// data is most of it, and [`push_json_str`] copies runs that need no escaping eight bytes at a time).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let capacity = 64
            + self.name.len()
            + self.data.len()
            + self.data.len() / 8
            + self.channels.iter().map(|c| c.len() + 3).sum::<usize>()
            + self.socket_id.map_or(0, |s| s.len() + 16)
            + self.info.map_or(0, |i| i.len() + 12)
            + self.idempotency_key.map_or(0, |k| k.len() + 24);
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"{\"name\":");
        push_json_str(&mut out, self.name);
        out.extend_from_slice(b",\"channels\":[");
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(&mut out, c);
        }
        out.extend_from_slice(b"],\"data\":");
        push_json_str(&mut out, self.data);
        if let Some(s) = self.socket_id {
            out.extend_from_slice(b",\"socket_id\":");
            push_json_str(&mut out, s);
        }
        if let Some(i) = self.info {
            out.extend_from_slice(b",\"info\":");
            push_json_str(&mut out, i);
        }
        if let Some(k) = self.idempotency_key {
            out.extend_from_slice(b",\"idempotency_key\":");
            push_json_str(&mut out, k);
        }
        out.push(b'}');
        out
    }
}

/// How serde_json escapes each byte of a string: 0 for none, `u` for `\u00XX`, else the letter after `\`.
pub(crate) const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it (`\"`, `\\`, `\b` `\t` `\n`
/// `\f` `\r`, other control characters as lowercase `\u00XX`, everything else as is).
#[inline]
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Short strings (names, channels) with nothing to escape: one branch-free pass over the table, then
    // one copy, inline.
    if bytes.len() <= 32
        && bytes
            .iter()
            .fold(true, |clean, &b| clean & (ESCAPE[usize::from(b)] == 0))
    {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        push_json_str_escaped(out, s);
    }
}

/// [`push_json_str`] for any string: runs with nothing to escape are found eight bytes at a time and copied
/// whole.
fn push_json_str_escaped(out: &mut Vec<u8>, s: &str) {
    /// Whether any of the eight bytes of `w` is a control character, `"` or `\` (exact as a whole,
    /// though not per byte).
    fn any_escape(w: u64) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let control = w.wrapping_sub(ONES * 0x20) & !w;
        let q = w ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let b = w ^ (ONES * u64::from(b'\\'));
        let backslash = b.wrapping_sub(ONES) & !b;
        (control | quote | backslash) & HIGH != 0
    }
    fn escape(out: &mut Vec<u8>, byte: u8, kind: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        if kind == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', kind]);
        }
    }

    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // `run` is where the bytes not yet copied start; they are copied whole up to each escape.
    let mut run = 0;
    let mut at = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        if any_escape(word) {
            for (j, &byte) in chunk.iter().enumerate() {
                let kind = ESCAPE[usize::from(byte)];
                if kind != 0 {
                    out.extend_from_slice(&bytes[run..at + j]);
                    escape(out, byte, kind);
                    run = at + j + 1;
                }
            }
        }
        at += 8;
    }
    for (j, &byte) in chunks.remainder().iter().enumerate() {
        let kind = ESCAPE[usize::from(byte)];
        if kind != 0 {
            out.extend_from_slice(&bytes[run..at + j]);
            escape(out, byte, kind);
            run = at + j + 1;
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// The body of `POST /apps/{id}/batch_events`.
#[derive(Debug, Serialize)]
pub(crate) struct BatchBody<'a> {
    pub batch: &'a [BatchEvent],
}

/// Attributes of one channel, as returned by a trigger with `info`, a batch, or a channels query.
///
/// Servers add fields of their own (sockudo adds `acknowledgement_id`); they are kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelAttributes {
    /// Distinct users (presence channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_count: Option<u64>,
    /// Connections subscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<u64>,
    /// Any other attribute the server sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// The response to a trigger: the attributes asked for with `info`, per channel (empty otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TriggerResponse {
    /// Attributes per channel.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelAttributes>,
}

/// The response to a batch: one entry per event, in order, when any event asked for `info` (empty
/// otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchResponse {
    /// Attributes per event.
    #[serde(default)]
    pub batch: Vec<ChannelAttributes>,
}

pub(crate) use prepare::check_data_size;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_list_forms() {
        assert_eq!("a".channel_names(), ["a"]);
        assert_eq!(String::from("a").channel_names(), ["a"]);
        assert_eq!(["a", "b"].channel_names(), ["a", "b"]);
        assert_eq!(vec![String::from("a")].channel_names(), ["a"]);
        let s: &[&str] = &["x"];
        assert_eq!(s.channel_names(), ["x"]);
    }

    #[test]
    fn data_encoding() {
        assert_eq!(encode_data("héllo").unwrap(), "héllo");
        assert_eq!(encode_data(&String::from("\"q\"")).unwrap(), "\"q\"");
        assert_eq!(encode_data(&42).unwrap(), "42");
        assert_eq!(encode_data(&serde_json::json!("x")).unwrap(), "x");
        assert_eq!(
            encode_data(&serde_json::json!({"é": "ü"})).unwrap(),
            r#"{"é":"ü"}"#
        );
        assert_eq!(encode_data(&std::borrow::Cow::Borrowed("c")).unwrap(), "c");
        assert_eq!(encode_data(&Box::<str>::from("a")).unwrap(), "a");
        assert_eq!(encode_data(&&&"r").unwrap(), "r");
        // Raw JSON is sent verbatim, a JSON string included (quoted: pusher-js then gets a string).
        let raw = serde_json::value::RawValue::from_string("{\"a\": 1}".into()).unwrap();
        assert_eq!(encode_data(&raw).unwrap(), "{\"a\": 1}");
        let raw = serde_json::value::RawValue::from_string("\"42\"".into()).unwrap();
        assert_eq!(encode_data(&raw).unwrap(), "\"42\"");
        // Values that only serialize to a JSON string are JSON-encoded, not unwrapped.
        #[derive(Serialize)]
        struct Wrapped<'a>(&'a str);
        assert_eq!(encode_data(&Wrapped("42")).unwrap(), "\"42\"");
        #[derive(Serialize)]
        enum E {
            Unit,
        }
        assert_eq!(encode_data(&E::Unit).unwrap(), "\"Unit\"");
        assert_eq!(encode_data(&'c').unwrap(), "\"c\"");
        assert_eq!(encode_data(&Some("s")).unwrap(), "\"s\"");
        assert_eq!(encode_data(&None::<&str>).unwrap(), "null");
        assert_eq!(encode_data(&b"ab"[..]).unwrap(), "[97,98]");
        // Whatever the fast path takes, it gives the string itself.
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "\u{1F600} é",
            "\u{0}",
        ] {
            assert_eq!(encode_data(s).unwrap(), s);
        }
    }

    #[test]
    fn json_strings_match_serde_json() {
        let mut samples: Vec<String> = vec![
            String::new(),
            "plain ascii text that is longer than eight bytes".into(),
            "q\"uote\\back/slash\u{7f}\u{80}é€😀".into(),
            "\"\"\"\"\"\"\"\"\"".into(),
        ];
        // Every ASCII byte at every position of a chunk and of the tail.
        for b in 0u8..0x80 {
            for pos in 0..17 {
                let mut s = "x".repeat(17);
                s.replace_range(pos..=pos, char::from(b).encode_utf8(&mut [0; 4]));
                samples.push(s);
            }
        }
        for s in &samples {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn trigger_body_matches_serde_json() {
        let data = format!("{{\"text\":\"{}\\n\u{1}\"}}", "ü".repeat(300));
        for (channels, socket_id, info, idempotency_key) in [
            (&["orders"][..], None, None, None),
            (
                &["a", "b\"c"][..],
                Some("1.1"),
                Some("user_count,subscription_count"),
                Some("k\\\"~"),
            ),
            (&[][..], None, Some("x"), Some("0123456789abcdef")),
        ] {
            let body = TriggerBody {
                name: "ev\u{0}ent",
                channels,
                data: &data,
                socket_id,
                info,
                idempotency_key,
            };
            assert_eq!(body.to_json(), serde_json::to_vec(&body).unwrap());
        }
    }

    #[test]
    fn responses_are_lenient() {
        let r: TriggerResponse = serde_json::from_str(r#"{"ok":true}"#).unwrap();
        assert!(r.channels.is_empty());
        let r: TriggerResponse = serde_json::from_str(
            r#"{"channels":{"a":{"acknowledgement_id":"x","subscription_count":2}}}"#,
        )
        .unwrap();
        assert_eq!(r.channels["a"].subscription_count, Some(2));
        assert_eq!(r.channels["a"].extra["acknowledgement_id"], "x");
        let b: BatchResponse = serde_json::from_str("{}").unwrap();
        assert!(b.batch.is_empty());
    }
}
