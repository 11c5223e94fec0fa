//! Names and identifiers: channel names, socket ids, user ids, event names, and what kind of channel a name
//! denotes. Every check returns a typed [`Error::Validation`] naming the field; none panics.

use crate::error::{Error, Result};

/// The longest channel name, event name and user id accepted (the limit both official libraries and the
/// servers enforce).
pub const MAX_NAME_LENGTH: usize = 200;

/// The most channels one trigger may address.
pub const MAX_TRIGGER_CHANNELS: usize = 100;

/// The prefix of end-to-end encrypted channels.
pub(crate) const PRIVATE_ENCRYPTED_PREFIX: &str = "private-encrypted-";

/// The prefix of the channel that reaches one signed-in user.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// The kinds of channel, as told by the name's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelKind {
    /// Anyone may subscribe; no authorization.
    Public,
    /// `private-`: needs a signature from the app's auth endpoint.
    Private,
    /// `private-encrypted-`: private, and the payloads are end-to-end encrypted.
    PrivateEncrypted,
    /// `presence-`: private, with a member list.
    Presence,
    /// `#server-to-user-`: the channel of one signed-in user.
    ServerToUser,
}

impl ChannelKind {
    /// The kind of the channel named `name` (the name is not validated here).
    pub fn of(name: &str) -> Self {
        if name.starts_with(PRIVATE_ENCRYPTED_PREFIX) {
            ChannelKind::PrivateEncrypted
        } else if name.starts_with("private-") {
            ChannelKind::Private
        } else if name.starts_with("presence-") {
            ChannelKind::Presence
        } else if name.starts_with(SERVER_TO_USER_PREFIX) {
            ChannelKind::ServerToUser
        } else {
            ChannelKind::Public
        }
    }

    /// Whether subscribing needs a signature from the app.
    pub fn requires_auth(self) -> bool {
        matches!(
            self,
            ChannelKind::Private | ChannelKind::PrivateEncrypted | ChannelKind::Presence
        )
    }
}

/// Which bytes may appear in a channel name or user id, as a table (one lookup per byte).
const NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'=' | b'@' | b',' | b'.' | b';');
        i += 1;
    }
    table
};

/// Whether `b` may appear in a channel name or user id: `[-a-zA-Z0-9_=@,.;]`.
#[inline]
pub fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)]
}

fn check_charset(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    // Branch-free over the bytes (names are short and almost always valid).
    if !value.bytes().fold(true, |ok, b| ok & is_name_byte(b)) {
        return Err(Error::validation(
            field,
            format!(
                "{} contains characters outside [-a-zA-Z0-9_=@,.;]",
                excerpt(value)
            ),
        ));
    }
    Ok(())
}

fn check_length(field: &'static str, value: &str) -> Result<()> {
    if value.len() > MAX_NAME_LENGTH {
        return Err(Error::validation(
            field,
            format!(
                "is {} characters long, the maximum is {MAX_NAME_LENGTH}",
                value.chars().count()
            ),
        ));
    }
    Ok(())
}

/// Quotes at most 40 characters of a refused value, so an error stays short.
pub(crate) fn excerpt(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Checks a channel name for triggering: 1–200 characters of `[-a-zA-Z0-9_=@,.;]`, or
/// `#server-to-user-` followed by a valid user id.
///
/// ```
/// assert!(pusher::channel::validate_channel("private-orders.42").is_ok());
/// assert!(pusher::channel::validate_channel("#server-to-user-alice").is_ok());
/// assert!(pusher::channel::validate_channel("bad channel").is_err());
/// ```
pub fn validate_channel(name: &str) -> Result<()> {
    check_length("channel", name)?;
    match name.strip_prefix(SERVER_TO_USER_PREFIX) {
        Some(user) => check_charset("channel", user),
        None => check_charset("channel", name),
    }
}

/// Checks a channel name that may be subscribed to or queried: like [`validate_channel`] but without the
/// `#server-to-user-` form.
pub fn validate_subscribable_channel(name: &str) -> Result<()> {
    check_length("channel", name)?;
    check_charset("channel", name)
}

/// Checks a socket id: ASCII digits, a dot, ASCII digits (`1234.5678`), at most 64 characters.
///
/// ```
/// assert!(pusher::channel::validate_socket_id("1234.5678").is_ok());
/// assert!(pusher::channel::validate_socket_id("1234.5678\n").is_err());
/// ```
pub fn validate_socket_id(socket_id: &str) -> Result<()> {
    let ok = socket_id.len() <= 64
        && match socket_id.split_once('.') {
            Some((a, b)) => {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "socket_id",
            format!("{} is not of the form 1234.5678", excerpt(socket_id)),
        ))
    }
}

/// Checks a user id: 1–200 characters of `[-a-zA-Z0-9_=@,.;]` (the Channels documentation's rule).
pub fn validate_user_id(user_id: &str) -> Result<()> {
    if user_id.is_empty() {
        return Err(Error::validation("user_id", "must not be empty"));
    }
    check_length("user_id", user_id)?;
    check_charset("user_id", user_id)
}

/// Checks an event name: 1–200 characters (Unicode scalar values; any characters).
pub fn validate_event_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation("event", "must not be empty"));
    }
    let count = name.chars().count();
    if count > MAX_NAME_LENGTH {
        return Err(Error::validation(
            "event",
            format!("is {count} characters long, the maximum is {MAX_NAME_LENGTH}"),
        ));
    }
    Ok(())
}

/// Checks an `info` attribute name (`user_count`, `subscription_count`, …): 1–64 characters of `[a-z_]`.
pub fn validate_attribute(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(Error::validation(
            "info",
            format!("{} is not an attribute name", excerpt(name)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        assert!(validate_channel("a-b_c=d@e,f.g;h").is_ok());
        assert!(validate_channel(&"a".repeat(200)).is_ok());
        assert!(validate_channel(&"a".repeat(201)).is_err());
        assert!(validate_channel("").is_err());
        assert!(validate_channel("a:b").is_err());
        assert!(validate_channel("é").is_err());
        assert!(validate_channel("a\n").is_err());
        assert!(validate_channel("#server-to-user-").is_err());
        assert!(validate_channel("#server-to-user-a b").is_err());
        assert!(validate_subscribable_channel("#server-to-user-a").is_err());
    }

    #[test]
    fn name_byte_table() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'=' | b'@' | b',' | b'.' | b';');
            assert_eq!(is_name_byte(b), expected, "{b}");
        }
    }

    #[test]
    fn socket_ids() {
        for ok in ["1.1", "1234.5678"] {
            assert!(validate_socket_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            ".1",
            "1.",
            "abc",
            "1.1\n",
            "\n1.1",
            "1 .1",
            "123.456:evil",
            "١٢٣.٤٥٦",
            "１.１",
        ] {
            assert!(validate_socket_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_names_count_characters() {
        assert!(validate_event_name(&"é".repeat(200)).is_ok());
        assert!(validate_event_name(&"é".repeat(201)).is_err());
        assert!(validate_event_name("").is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(
            ChannelKind::of("private-encrypted-x"),
            ChannelKind::PrivateEncrypted
        );
        assert_eq!(ChannelKind::of("private-x"), ChannelKind::Private);
        assert_eq!(ChannelKind::of("presence-x"), ChannelKind::Presence);
        assert_eq!(
            ChannelKind::of("#server-to-user-x"),
            ChannelKind::ServerToUser
        );
        assert_eq!(ChannelKind::of("x"), ChannelKind::Public);
        assert!(!ChannelKind::Public.requires_auth());
    }

    #[test]
    fn errors_name_the_field_and_stay_short() {
        let long = "x ".repeat(500);
        let Error::Validation { field, reason } = validate_channel(&long[..199]).unwrap_err()
        else {
            unreachable!()
        };
        assert_eq!(field, "channel");
        assert!(reason.len() < 120);
    }
}
