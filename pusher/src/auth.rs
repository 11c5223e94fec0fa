//! Channel authorization (private, presence, encrypted) and user authentication (`pusher:signin`): the
//! signed responses an app's auth endpoints return to pusher-js.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channel::{ChannelKind, Limits, excerpt, validate_socket_id};
use crate::encryption::MasterKey;
use crate::error::{Error, Result};
use crate::signing::{HmacSha256, push_auth};

/// The member data of a presence subscription: `user_id` and optional `user_info`, signed into
/// `channel_data`.
///
/// ```
/// let member = pusher::PresenceData::new("alice").user_info(serde_json::json!({"name": "Alice"}))?;
/// # let _ = member;
/// # Ok::<(), pusher::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PresenceData {
    /// The member's id; connections with the same id count as one member. A user id: 1–128 characters of
    /// `[-a-zA-Z0-9_=@,.;]` by default ([`Limits`]).
    pub user_id: String,
    /// Anything the other members may see about this member: at most 1 KB of JSON by default ([`Limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<Value>,
}

impl PresenceData {
    /// A member without `user_info`.
    pub fn new(user_id: impl Into<String>) -> Self {
        PresenceData {
            user_id: user_id.into(),
            user_info: None,
        }
    }

    /// Adds `user_info`: any serializable value (a struct of the app's own, a `serde_json::Value`…),
    /// turned into JSON here. Fails ([`Error::Json`]) when it cannot be (a map with non-string keys, a
    /// failing `Serialize`); never panics.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Info { name: &'static str }
    /// let member = pusher::PresenceData::new("alice").user_info(Info { name: "Alice" })?;
    /// assert_eq!(member.user_info, Some(serde_json::json!({"name": "Alice"})));
    /// let member = pusher::PresenceData::new("bob").user_info(serde_json::json!({"name": "Bob"}))?;
    /// # let _ = member;
    /// # Ok::<(), pusher::Error>(())
    /// ```
    pub fn user_info(mut self, info: impl Serialize) -> Result<Self> {
        self.user_info = Some(serde_json::to_value(info)?);
        Ok(self)
    }
}

/// The response to a channel authorization request, serialized as pusher-js expects:
/// `{"auth": …}`, plus `channel_data` (presence) or `shared_secret` (encrypted).
///
/// Its `Debug` does not show `shared_secret` (the channel's encryption key).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelAuth {
    /// `"<key>:<hex signature>"`.
    pub auth: String,
    /// The JSON text of the presence member data that was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<String>,
    /// Base64 of the channel's encryption key (`private-encrypted-` channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<String>,
}

impl fmt::Debug for ChannelAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelAuth")
            .field("auth", &self.auth)
            .field("channel_data", &self.channel_data)
            .field(
                "shared_secret",
                &self.shared_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The signed-in user's data for `pusher:signin`: `id` is required; `user_info` and `watchlist` are
/// optional, and any other top-level field is kept in `extra` and signed with the rest (as both official
/// libraries sign the whole object they are given).
///
/// ```
/// let user = pusher::UserData::new("alice").watchlist(["bob"]);
/// # let _ = user;
/// let user: pusher::UserData = serde_json::from_str(r#"{"id":"alice","name":"Alice"}"#).unwrap();
/// assert_eq!(user.extra["name"], "Alice");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserData {
    /// The user's id: 1–128 characters of `[-a-zA-Z0-9_=@,.;]` by default ([`Limits`]).
    pub id: String,
    /// Anything other users may see about this user: at most 1 KB of JSON by default ([`Limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<Value>,
    /// Ids of users whose online status this user follows: at most 100 by default ([`Limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchlist: Option<Vec<String>>,
    /// Every other top-level field, signed after the ones above (in key order). Signing refuses a key
    /// that repeats `id`, `user_info` or `watchlist`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserData {
    /// A user with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        UserData {
            id: id.into(),
            user_info: None,
            watchlist: None,
            extra: Map::new(),
        }
    }

    /// Adds `user_info`: any serializable value, turned into JSON here; fails ([`Error::Json`]) when it
    /// cannot be (see [`PresenceData::user_info`]).
    pub fn user_info(mut self, info: impl Serialize) -> Result<Self> {
        self.user_info = Some(serde_json::to_value(info)?);
        Ok(self)
    }

    /// Adds a watchlist.
    #[must_use]
    pub fn watchlist<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.watchlist = Some(ids.into_iter().map(Into::into).collect());
        self
    }
}

/// The response to a user authentication request: `{"auth": …, "user_data": "<json>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserAuth {
    /// `"<key>:<hex signature>"`.
    pub auth: String,
    /// The JSON text of the user data that was signed.
    pub user_data: String,
}

/// Counts the bytes a value serializes to, without keeping them.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuses a `user_info` whose compact JSON is over the limit. `signed` is the JSON text that holds it:
/// when that is within the limit, so is `user_info`, and it is not serialized again.
fn check_user_info(limits: &Limits, info: Option<&Value>, signed: &str) -> Result<()> {
    let Some(info) = info else {
        return Ok(());
    };
    if signed.len() <= limits.max_user_info_bytes {
        return Ok(());
    }
    let mut count = ByteCount(0);
    serde_json::to_writer(&mut count, info)?;
    if count.0 > limits.max_user_info_bytes {
        return Err(Error::validation(
            "user_info",
            format!(
                "is {} bytes of JSON, the maximum is {}",
                count.0, limits.max_user_info_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks user data against the limits, but for `user_info` (checked once serialized): the id, the
/// watchlist (its length and each id), and that no extra field repeats a named one.
fn check_user(limits: &Limits, user: &UserData) -> Result<()> {
    limits.check_user_id(&user.id)?;
    if let Some(w) = &user.watchlist {
        if w.len() > limits.max_watchlist {
            return Err(Error::validation(
                "watchlist",
                format!(
                    "has {} user ids, the maximum is {}",
                    w.len(),
                    limits.max_watchlist
                ),
            ));
        }
        for id in w {
            limits.check_user_id(id).map_err(|e| match e {
                Error::Validation { reason, .. } => {
                    Error::validation("watchlist", format!("user id {reason}"))
                }
                other => other,
            })?;
        }
    }
    if let Some(k) = ["id", "user_info", "watchlist"]
        .into_iter()
        .find(|k| user.extra.contains_key(*k))
    {
        return Err(Error::validation(
            "user_data",
            format!("extra field {k:?} repeats a named field"),
        ));
    }
    Ok(())
}

/// Signs a channel subscription. Pure: the key, secret, optional master key and limits come from the
/// caller.
pub(crate) fn authorize_channel(
    key: &str,
    mac: &HmacSha256,
    master_key: Option<&MasterKey>,
    limits: &Limits,
    channel: &str,
    socket_id: &str,
    presence: Option<&PresenceData>,
) -> Result<ChannelAuth> {
    limits.check_subscribable_channel(channel)?;
    validate_socket_id(socket_id)?;
    let kind = ChannelKind::of(channel);
    if !kind.requires_auth() {
        return Err(Error::validation(
            "channel",
            format!("{} is public and needs no authorization", excerpt(channel)),
        ));
    }
    let channel_data = match (kind, presence) {
        (ChannelKind::Presence, Some(member)) => {
            limits.check_member_id(&member.user_id)?;
            let json = serde_json::to_string(member)?;
            check_user_info(limits, member.user_info.as_ref(), &json)?;
            Some(json)
        }
        (ChannelKind::Presence, None) => {
            return Err(Error::validation(
                "presence_data",
                "presence channels need the member's user_id",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::validation(
                "presence_data",
                "member data is only for presence- channels",
            ));
        }
        (_, None) => None,
    };
    let shared_secret = if kind == ChannelKind::PrivateEncrypted {
        Some(
            master_key
                .ok_or(Error::MissingMasterKey)?
                .shared_secret(channel),
        )
    } else {
        None
    };
    // The signed string is `socket_id:channel[:channel_data]`, fed to the HMAC in parts.
    let cd = channel_data.as_deref().unwrap_or_default();
    let mut auth = String::new();
    let parts: [&[u8]; 5] = [
        socket_id.as_bytes(),
        b":",
        channel.as_bytes(),
        if channel_data.is_some() { b":" } else { b"" },
        cd.as_bytes(),
    ];
    push_auth(&mut auth, mac, key, &parts);
    Ok(ChannelAuth {
        auth,
        channel_data,
        shared_secret,
    })
}

/// Signs a user for `pusher:signin`. Pure.
pub(crate) fn authenticate_user(
    key: &str,
    mac: &HmacSha256,
    limits: &Limits,
    socket_id: &str,
    user: &UserData,
) -> Result<UserAuth> {
    check_user(limits, user)?;
    validate_socket_id(socket_id)?;
    let user_data = serde_json::to_string(user)?;
    check_user_info(limits, user.user_info.as_ref(), &user_data)?;
    // The signed string is `socket_id::user::user_data`, fed to the HMAC in parts.
    let mut auth = String::new();
    let parts: [&[u8]; 3] = [socket_id.as_bytes(), b"::user::", user_data.as_bytes()];
    push_auth(&mut auth, mac, key, &parts);
    Ok(UserAuth { auth, user_data })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";

    fn secret() -> HmacSha256 {
        crate::signing::keyed_mac(b"7ad3773142a6692b25b8")
    }

    #[test]
    fn docs_private_vector() {
        let a = authorize_channel(
            KEY,
            &secret(),
            None,
            &Limits::DOCUMENTED,
            "private-foobar",
            "1234.1234",
            None,
        )
        .unwrap();
        assert_eq!(
            a.auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!("{{\"auth\":\"{}\"}}", a.auth)
        );
    }

    #[test]
    fn presence_vector() {
        let m = PresenceData::new("10")
            .user_info(serde_json::json!({"name": "Mr. Pusher"}))
            .unwrap();
        let a = authorize_channel(
            KEY,
            &secret(),
            None,
            &Limits::DOCUMENTED,
            "presence-foobar",
            "1234.1234",
            Some(&m),
        )
        .unwrap();
        assert_eq!(
            a.channel_data.as_deref(),
            Some(r#"{"user_id":"10","user_info":{"name":"Mr. Pusher"}}"#)
        );
        assert_eq!(
            a.auth,
            "278d425bdf160c739803:48dac51d2d7569e1e9c0f48c227d4b26f238fa68e5c0bb04222c966909c4f7c4"
        );
    }

    #[test]
    fn user_vector() {
        let u = authenticate_user(
            KEY,
            &secret(),
            &Limits::DOCUMENTED,
            "1234.1234",
            &UserData::new("12345"),
        )
        .unwrap();
        assert_eq!(u.user_data, r#"{"id":"12345"}"#);
        assert_eq!(
            u.auth,
            "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    /// `user_info` takes any `Serialize` (an app struct, a map), and one that cannot become JSON is an
    /// `Err`, never a panic or a silent drop.
    #[test]
    fn user_info_takes_any_serialize_and_refuses_what_is_not_json() {
        #[derive(Serialize)]
        struct Info {
            name: &'static str,
        }
        let m = PresenceData::new("a")
            .user_info(Info { name: "A" })
            .unwrap();
        assert_eq!(m.user_info, Some(serde_json::json!({"name": "A"})));
        let u = UserData::new("a").user_info(&Info { name: "A" }).unwrap();
        assert_eq!(u.user_info, Some(serde_json::json!({"name": "A"})));
        let not_json: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            PresenceData::new("a").user_info(&not_json),
            Err(Error::Json(_))
        ));
        assert!(matches!(
            UserData::new("a").user_info(not_json),
            Err(Error::Json(_))
        ));
    }

    #[test]
    fn refusals() {
        let m = PresenceData::new("a");
        assert!(
            authorize_channel(
                KEY,
                &secret(),
                None,
                &Limits::DOCUMENTED,
                "public",
                "1.1",
                None
            )
            .is_err()
        );
        assert!(
            authorize_channel(
                KEY,
                &secret(),
                None,
                &Limits::DOCUMENTED,
                "presence-a",
                "1.1",
                None
            )
            .is_err()
        );
        assert!(
            authorize_channel(
                KEY,
                &secret(),
                None,
                &Limits::DOCUMENTED,
                "private-a",
                "1.1",
                Some(&m)
            )
            .is_err()
        );
        assert!(
            authorize_channel(
                KEY,
                &secret(),
                None,
                &Limits::DOCUMENTED,
                "#server-to-user-1",
                "1.1",
                None
            )
            .is_err()
        );
        assert!(matches!(
            authorize_channel(
                KEY,
                &secret(),
                None,
                &Limits::DOCUMENTED,
                "private-encrypted-a",
                "1.1",
                None
            ),
            Err(Error::MissingMasterKey)
        ));
        assert!(
            authenticate_user(
                KEY,
                &secret(),
                &Limits::DOCUMENTED,
                "1.1",
                &UserData::new("")
            )
            .is_err()
        );
        assert!(
            authenticate_user(
                KEY,
                &secret(),
                &Limits::DOCUMENTED,
                "1.1",
                &UserData::new("a b")
            )
            .is_err()
        );
    }
}
