//! Typed responses of the application-state queries (`/channels`, `/channels/{name}`,
//! `/channels/{name}/users`).
//!
//! The response types are `#[non_exhaustive]`: read their fields; to build one (in a test), start from
//! `Default` and set the fields, or deserialize the server's JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::trigger::ChannelAttributes;

/// `GET /apps/{id}/channels`: the occupied channels and the attributes asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelsInfo {
    /// Attributes per occupied channel.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelAttributes>,
}

/// `GET /apps/{id}/channels/{name}`: the state of one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelInfo {
    /// Whether anyone is subscribed.
    #[serde(default)]
    pub occupied: bool,
    /// Distinct users (presence channels, with `info=user_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_count: Option<u64>,
    /// Connections subscribed (with `info=subscription_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<u64>,
    /// The cached event of a cache channel (with `info=cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Value>,
    /// Any other field the server sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `GET /apps/{id}/channels/{name}/users`: the users of a presence channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsersInfo {
    /// One entry per distinct user.
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

/// One user of a presence channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserEntry {
    /// The user id given when the member was authorized. A server that reports a numeric id (an app whose
    /// authorizer signed `"user_id": 42`) gives its JSON text, `"42"`, as webhooks do.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
}

impl UserEntry {
    /// An entry for the user `id` (to build an expected [`UsersInfo`] in a test).
    ///
    /// ```
    /// let mut users = pusher::UsersInfo::default();
    /// users.users.push(pusher::UserEntry::new("alice"));
    /// assert_eq!(users.users[0].id, "alice");
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        UserEntry { id: id.into() }
    }
}

/// A JSON string, or a JSON number kept as its exact text.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    let raw = <Box<serde_json::value::RawValue>>::deserialize(d)?;
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str(text).map_err(D::Error::custom),
        Some(b'-' | b'0'..=b'9') => Ok(text.to_owned()),
        _ => Err(D::Error::custom("a user id must be a string or a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sockudo_shapes() {
        let c: ChannelInfo =
            serde_json::from_str(r#"{"occupied":true,"subscription_count":3,"user_count":2}"#)
                .unwrap();
        assert!(c.occupied);
        assert_eq!((c.user_count, c.subscription_count), (Some(2), Some(3)));
        let l: ChannelsInfo =
            serde_json::from_str(r#"{"channels":{"presence-d":{"user_count":2},"x":{}}}"#).unwrap();
        assert_eq!(l.channels["presence-d"].user_count, Some(2));
        let u: UsersInfo = serde_json::from_str(r#"{"users":[{"id":"u1"},{"id":"u2"}]}"#).unwrap();
        assert_eq!(u.users.len(), 2);
    }

    #[test]
    fn numeric_user_ids_keep_their_json_text() {
        let u: UsersInfo =
            serde_json::from_str(r#"{"users":[{"id":"a"},{"id":42},{"id":1.50},{"id":"\u00e9"}]}"#)
                .unwrap();
        let ids: Vec<&str> = u.users.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "42", "1.50", "é"]);
        for bad in [
            r#"{"id":null}"#,
            r#"{"id":true}"#,
            r#"{"id":{}}"#,
            r#"{"id":[1]}"#,
        ] {
            assert!(serde_json::from_str::<UserEntry>(bad).is_err(), "{bad}");
        }
    }
}
