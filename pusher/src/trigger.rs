//! Publishing events: the channel list argument, trigger options, batch events, their wire bodies and the
//! typed responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

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

/// Encodes event data into the string that is sent: a string value is sent as is (so already-encoded JSON
/// is not encoded twice), any other value is encoded as compact JSON.
///
/// ```
/// use pusher::trigger::encode_data;
/// assert_eq!(encode_data("already {\"json\"}").unwrap(), "already {\"json\"}");
/// assert_eq!(encode_data(&serde_json::json!({"a": 1})).unwrap(), r#"{"a":1}"#);
/// assert_eq!(encode_data(&1.5).unwrap(), "1.5");
/// ```
pub fn encode_data<D: Serialize + ?Sized>(data: &D) -> Result<String> {
    let json = serde_json::to_string(data)?;
    if json.starts_with('"') {
        // A JSON string: send its contents, not its quoted form.
        Ok(serde_json::from_str::<String>(&json)?)
    } else {
        Ok(json)
    }
}

/// Optional parts of a trigger.
///
/// ```
/// let opts = pusher::TriggerOptions::new()
///     .socket_id("1234.5678")
///     .info(["subscription_count"]);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TriggerOptions {
    /// Exclude this connection from receiving the event.
    pub socket_id: Option<String>,
    /// Ask for these attributes of each channel in the response (`user_count`, `subscription_count`).
    pub info: Vec<String>,
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
}

/// One event of a batch ([`Pusher::trigger_batch`](crate::Pusher::trigger_batch)).
///
/// ```
/// let e = pusher::BatchEvent::new("orders", "created", &serde_json::json!({"id": 1}))
///     .unwrap()
///     .socket_id("1234.5678");
/// assert_eq!(e.data, r#"{"id":1}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEvent {
    /// The channel.
    pub channel: String,
    /// The event name.
    pub name: String,
    /// The data as sent (see [`encode_data`]); encrypted when sent on a `private-encrypted-` channel.
    pub data: String,
    /// Exclude this connection.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub socket_id: Option<String>,
    /// Channel attributes to return for this event, comma-separated on the wire.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub info: Option<String>,
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
            info: None,
        })
    }

    /// Excludes the connection with this socket id.
    #[must_use]
    pub fn socket_id(mut self, socket_id: impl Into<String>) -> Self {
        self.socket_id = Some(socket_id.into());
        self
    }

    /// Asks for these channel attributes in the response.
    #[must_use]
    pub fn info<I, S>(mut self, attributes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = attributes
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        self.info = (!joined.is_empty()).then_some(joined);
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
pub struct TriggerResponse {
    /// Attributes per channel.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelAttributes>,
}

/// The response to a batch: one entry per event, in order, when any event asked for `info` (empty
/// otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// Attributes per event.
    #[serde(default)]
    pub batch: Vec<ChannelAttributes>,
}

pub(crate) fn check_data_size(data: &str, max: usize) -> Result<()> {
    if data.len() > max {
        return Err(Error::validation(
            "data",
            format!("is {} bytes, the limit is {max}", data.len()),
        ));
    }
    Ok(())
}

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
        let raw = serde_json::value::RawValue::from_string("{\"a\": 1}".into()).unwrap();
        assert_eq!(encode_data(&raw).unwrap(), "{\"a\": 1}");
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
