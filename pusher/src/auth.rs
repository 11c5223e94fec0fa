//! Channel authorization (private, presence, encrypted) and user authentication (`pusher:signin`): the
//! signed responses an app's auth endpoints return to pusher-js.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::{
    ChannelKind, excerpt, validate_socket_id, validate_subscribable_channel, validate_user_id,
};
use crate::encryption::MasterKey;
use crate::error::{Error, Result};
use crate::signing::hmac_sha256_hex;

/// The member data of a presence subscription: `user_id` and optional `user_info`, signed into
/// `channel_data`.
///
/// ```
/// let member = pusher::PresenceData::new("alice").user_info(serde_json::json!({"name": "Alice"}));
/// # let _ = member;
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceData {
    /// The member's id; connections with the same id count as one member.
    pub user_id: String,
    /// Anything the other members may see about this member.
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

    /// Adds `user_info`.
    #[must_use]
    pub fn user_info(mut self, info: Value) -> Self {
        self.user_info = Some(info);
        self
    }
}

/// The response to a channel authorization request, serialized as pusher-js expects:
/// `{"auth": …}`, plus `channel_data` (presence) or `shared_secret` (encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The signed-in user's data for `pusher:signin`: `id` is required; `user_info` and `watchlist` are
/// optional.
///
/// ```
/// let user = pusher::UserData::new("alice").watchlist(["bob"]);
/// # let _ = user;
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    /// The user's id (1-200 characters of `[-a-zA-Z0-9_=@,.;]`).
    pub id: String,
    /// Anything other users may see about this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<Value>,
    /// Ids of users whose online status this user follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchlist: Option<Vec<String>>,
}

impl UserData {
    /// A user with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        UserData {
            id: id.into(),
            user_info: None,
            watchlist: None,
        }
    }

    /// Adds `user_info`.
    #[must_use]
    pub fn user_info(mut self, info: Value) -> Self {
        self.user_info = Some(info);
        self
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
pub struct UserAuth {
    /// `"<key>:<hex signature>"`.
    pub auth: String,
    /// The JSON text of the user data that was signed.
    pub user_data: String,
}

/// Signs a channel subscription. Pure: the key, secret and optional master key come from the caller.
pub(crate) fn authorize_channel(
    key: &str,
    secret: &[u8],
    master_key: Option<&MasterKey>,
    channel: &str,
    socket_id: &str,
    presence: Option<&PresenceData>,
) -> Result<ChannelAuth> {
    validate_subscribable_channel(channel)?;
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
            if member.user_id.is_empty() {
                return Err(Error::validation("user_id", "must not be empty"));
            }
            Some(serde_json::to_string(member)?)
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
    let mut to_sign = String::with_capacity(
        socket_id.len() + channel.len() + 2 + channel_data.as_ref().map_or(0, String::len),
    );
    to_sign.push_str(socket_id);
    to_sign.push(':');
    to_sign.push_str(channel);
    if let Some(cd) = &channel_data {
        to_sign.push(':');
        to_sign.push_str(cd);
    }
    Ok(ChannelAuth {
        auth: auth_string(key, secret, &to_sign),
        channel_data,
        shared_secret,
    })
}

/// Signs a user for `pusher:signin`. Pure.
pub(crate) fn authenticate_user(
    key: &str,
    secret: &[u8],
    socket_id: &str,
    user: &UserData,
) -> Result<UserAuth> {
    validate_user_id(&user.id)?;
    validate_socket_id(socket_id)?;
    if let Some(w) = &user.watchlist {
        for id in w {
            validate_user_id(id)?;
        }
    }
    let user_data = serde_json::to_string(user)?;
    let to_sign = format!("{socket_id}::user::{user_data}");
    Ok(UserAuth {
        auth: auth_string(key, secret, &to_sign),
        user_data,
    })
}

fn auth_string(key: &str, secret: &[u8], to_sign: &str) -> String {
    let sig = hmac_sha256_hex(secret, to_sign.as_bytes());
    let mut s = String::with_capacity(key.len() + 1 + sig.len());
    s.push_str(key);
    s.push(':');
    s.push_str(&sig);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &[u8] = b"7ad3773142a6692b25b8";

    #[test]
    fn docs_private_vector() {
        let a = authorize_channel(KEY, SECRET, None, "private-foobar", "1234.1234", None).unwrap();
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
        let m = PresenceData::new("10").user_info(serde_json::json!({"name": "Mr. Pusher"}));
        let a =
            authorize_channel(KEY, SECRET, None, "presence-foobar", "1234.1234", Some(&m)).unwrap();
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
        let u = authenticate_user(KEY, SECRET, "1234.1234", &UserData::new("12345")).unwrap();
        assert_eq!(u.user_data, r#"{"id":"12345"}"#);
        assert_eq!(
            u.auth,
            "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn refusals() {
        let m = PresenceData::new("a");
        assert!(authorize_channel(KEY, SECRET, None, "public", "1.1", None).is_err());
        assert!(authorize_channel(KEY, SECRET, None, "presence-a", "1.1", None).is_err());
        assert!(authorize_channel(KEY, SECRET, None, "private-a", "1.1", Some(&m)).is_err());
        assert!(authorize_channel(KEY, SECRET, None, "#server-to-user-1", "1.1", None).is_err());
        assert!(matches!(
            authorize_channel(KEY, SECRET, None, "private-encrypted-a", "1.1", None),
            Err(Error::MissingMasterKey)
        ));
        assert!(authenticate_user(KEY, SECRET, "1.1", &UserData::new("")).is_err());
        assert!(authenticate_user(KEY, SECRET, "1.1", &UserData::new("a b")).is_err());
    }
}
