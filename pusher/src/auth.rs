//! Channel authorization (private, presence, encrypted) and user authentication (`pusher:signin`): the
//! signed responses an app's auth endpoints return to pusher-js.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::{
    ChannelKind, excerpt, validate_socket_id, validate_subscribable_channel, validate_user_id,
};
use crate::encryption::MasterKey;
use crate::error::{Error, Result};
use crate::signing::{HmacSha256, push_auth};

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
    mac: &HmacSha256,
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
        let a =
            authorize_channel(KEY, &secret(), None, "private-foobar", "1234.1234", None).unwrap();
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
        let a = authorize_channel(
            KEY,
            &secret(),
            None,
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
        let u = authenticate_user(KEY, &secret(), "1234.1234", &UserData::new("12345")).unwrap();
        assert_eq!(u.user_data, r#"{"id":"12345"}"#);
        assert_eq!(
            u.auth,
            "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn refusals() {
        let m = PresenceData::new("a");
        assert!(authorize_channel(KEY, &secret(), None, "public", "1.1", None).is_err());
        assert!(authorize_channel(KEY, &secret(), None, "presence-a", "1.1", None).is_err());
        assert!(authorize_channel(KEY, &secret(), None, "private-a", "1.1", Some(&m)).is_err());
        assert!(authorize_channel(KEY, &secret(), None, "#server-to-user-1", "1.1", None).is_err());
        assert!(matches!(
            authorize_channel(KEY, &secret(), None, "private-encrypted-a", "1.1", None),
            Err(Error::MissingMasterKey)
        ));
        assert!(authenticate_user(KEY, &secret(), "1.1", &UserData::new("")).is_err());
        assert!(authenticate_user(KEY, &secret(), "1.1", &UserData::new("a b")).is_err());
    }
}
