//! Names and identifiers: channel names, socket ids, user ids, event names, and what kind of channel a name
//! denotes, with the [`Limits`] they are checked against. Every check returns a typed [`Error::Validation`]
//! naming the field; none panics. Lengths are counted in characters (Unicode scalar values) and reported in
//! the same unit; the character set is checked first, so a name of allowed (ASCII) characters has as many
//! bytes as characters.

use crate::error::{Error, Result};

/// The longest event name accepted (the limit both official libraries and the servers enforce).
pub const MAX_NAME_LENGTH: usize = 200;

/// The most channels one trigger may address.
pub const MAX_TRIGGER_CHANNELS: usize = 100;

/// The longest channel name by default: 164 characters, prefix included (Pusher Channels documentation,
/// "What Does The Error 'Invalid channel name' Mean?"). Self-hosted servers often allow 200.
pub const DEFAULT_MAX_CHANNEL_NAME: usize = 164;

/// The longest user id by default: 128 characters (Channels documentation, presence channels).
pub const DEFAULT_MAX_USER_ID: usize = 128;

/// The largest `user_info` by default, in bytes of its compact JSON: 1 KB (Channels documentation,
/// presence channels).
pub const DEFAULT_MAX_USER_INFO_BYTES: usize = 1024;

/// The longest watchlist by default: 100 user ids (Channels documentation, user authentication).
pub const DEFAULT_MAX_WATCHLIST: usize = 100;

/// The longest socket id: 64 characters (Channels documentation). Not configurable: servers issue them.
pub const MAX_SOCKET_ID_LENGTH: usize = 64;

/// The prefix of end-to-end encrypted channels.
pub(crate) const PRIVATE_ENCRYPTED_PREFIX: &str = "private-encrypted-";

/// The prefix of the channel that reaches one signed-in user.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// The limits checked before anything is signed or sent: channel names, user ids (sign-in, presence
/// members, watchlists, `send_to_user`, `terminate_user_connections`), `user_info` and watchlists. The
/// defaults are the Pusher Channels documentation's; raise them for a self-hosted server that allows more
/// ([`PusherBuilder::limits`](crate::PusherBuilder::limits)).
///
/// `build()` refuses limits under which a valid user id would make an invalid `#server-to-user-` channel
/// (`max_user_id` + 16 over `max_channel_name`), so a user who can sign in can always be sent to.
///
/// ```
/// let mut limits = pusher::Limits::default();
/// assert_eq!((limits.max_channel_name, limits.max_user_id), (164, 128));
/// limits.max_channel_name = 200; // a self-hosted server's limit
/// let pusher = pusher::Pusher::builder("1", "key", "secret").limits(limits).build().unwrap();
/// # let _ = pusher;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest channel name, in characters, prefix included (default 164).
    pub max_channel_name: usize,
    /// The longest user id, in characters (default 128).
    pub max_user_id: usize,
    /// The largest `user_info` (presence member or signed-in user), in bytes of its compact JSON
    /// (default 1024).
    pub max_user_info_bytes: usize,
    /// The most user ids in a watchlist (default 100).
    pub max_watchlist: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DOCUMENTED
    }
}

impl Limits {
    /// The Channels documentation's limits (the default).
    pub const DOCUMENTED: Limits = Limits {
        max_channel_name: DEFAULT_MAX_CHANNEL_NAME,
        max_user_id: DEFAULT_MAX_USER_ID,
        max_user_info_bytes: DEFAULT_MAX_USER_INFO_BYTES,
        max_watchlist: DEFAULT_MAX_WATCHLIST,
    };

    /// Checks the limits themselves (by `build()`): names at least 1 character, and every valid user id
    /// fits in a `#server-to-user-` channel name.
    pub(crate) fn check(&self) -> Result<()> {
        if self.max_channel_name == 0 || self.max_user_id == 0 {
            return Err(Error::config(
                "limits",
                "max_channel_name and max_user_id must be at least 1",
            ));
        }
        let longest = self.max_user_id.saturating_add(SERVER_TO_USER_PREFIX.len());
        if longest > self.max_channel_name {
            return Err(Error::config(
                "limits",
                format!(
                    "user ids of {} characters make #server-to-user- channels of {longest}, over \
                     max_channel_name {}: lower max_user_id or raise max_channel_name",
                    self.max_user_id, self.max_channel_name
                ),
            ));
        }
        Ok(())
    }

    /// Checks a channel name for triggering: 1 to `max_channel_name` characters of `[-a-zA-Z0-9_=@,.;]`,
    /// or `#server-to-user-` followed by a valid user id ([`check_user_id`](Self::check_user_id): the same
    /// rule as [`Pusher::send_to_user`](crate::Pusher::send_to_user), whichever way the channel is named).
    pub fn check_channel(&self, name: &str) -> Result<()> {
        match name.strip_prefix(SERVER_TO_USER_PREFIX) {
            // The caller named a channel: the error names it, saying which part is wrong.
            Some(user) => self.check_user_id(user).map_err(|e| match e {
                Error::Validation { reason, .. } => {
                    Error::validation("channel", format!("#server-to-user- user id {reason}"))
                }
                other => other,
            })?,
            None => check_charset("channel", name)?,
        }
        check_length("channel", name, self.max_channel_name)
    }

    /// Checks a channel name that may be subscribed to or queried: like
    /// [`check_channel`](Self::check_channel) but without the `#server-to-user-` form.
    pub fn check_subscribable_channel(&self, name: &str) -> Result<()> {
        check_charset("channel", name)?;
        check_length("channel", name, self.max_channel_name)
    }

    /// Checks the id of a signed-in user (sign-in, `send_to_user`, `terminate_user_connections`, the
    /// `#server-to-user-` channel): 1 to `max_user_id` characters of `[-a-zA-Z0-9_=@,.;]` (the Channels
    /// documentation's rule; the id becomes part of a channel name and of a request path), and not `.` or
    /// `..` (path segments the URL layer would remove). Errors name the field `user_id`.
    pub fn check_user_id(&self, user_id: &str) -> Result<()> {
        check_charset("user_id", user_id)?;
        if user_id == "." || user_id == ".." {
            return Err(Error::validation(
                "user_id",
                "must not be `.` or `..` (it becomes a path segment)",
            ));
        }
        check_length("user_id", user_id, self.max_user_id)
    }

    /// Checks the `user_id` of a presence member: 1 to `max_user_id` characters, any characters (it is only
    /// signed into the member data, never put in a name or a path, so the official libraries' leniency is
    /// kept: `"a+b@example.com"`, `"Jane Doe"`). Errors name the field `user_id`.
    pub fn check_member_id(&self, user_id: &str) -> Result<()> {
        if user_id.is_empty() {
            return Err(Error::validation("user_id", "must not be empty"));
        }
        check_length("user_id", user_id, self.max_user_id)
    }
}

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

/// Checks a channel name's characters only (`[-a-zA-Z0-9_=@,.;]`, not empty), for parsers that do not know
/// the client's [`Limits`] yet; the length is checked against them where the client is known.
pub(crate) fn check_channel_charset(name: &str) -> Result<()> {
    check_charset("channel", name)
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

/// Refuses `value` when it has more than `max` characters. Called after [`check_charset`], so on ASCII,
/// but counting characters all the same: the unit counted is the unit reported.
fn check_length(field: &'static str, value: &str, max: usize) -> Result<()> {
    let count = value.chars().count();
    if count > max {
        return Err(Error::validation(
            field,
            format!("is {count} characters long, the maximum is {max}"),
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

/// Checks a channel name for triggering against the documented limits ([`Limits::default`]): 1–164
/// characters of `[-a-zA-Z0-9_=@,.;]`, or `#server-to-user-` followed by a valid user id. A client checks its
/// own [`Limits`].
///
/// ```
/// assert!(pusher::channel::validate_channel("private-orders.42").is_ok());
/// assert!(pusher::channel::validate_channel("#server-to-user-alice").is_ok());
/// assert!(pusher::channel::validate_channel("bad channel").is_err());
/// ```
pub fn validate_channel(name: &str) -> Result<()> {
    Limits::DOCUMENTED.check_channel(name)
}

/// Checks a channel name that may be subscribed to or queried against the documented limits: like
/// [`validate_channel`] but without the `#server-to-user-` form.
pub fn validate_subscribable_channel(name: &str) -> Result<()> {
    Limits::DOCUMENTED.check_subscribable_channel(name)
}

/// Checks a socket id: ASCII digits, a dot, ASCII digits (`1234.5678`), at most 64 characters
/// ([`MAX_SOCKET_ID_LENGTH`]).
///
/// ```
/// assert!(pusher::channel::validate_socket_id("1234.5678").is_ok());
/// assert!(pusher::channel::validate_socket_id("1234.5678\n").is_err());
/// assert!(pusher::channel::validate_socket_id(&format!("1.{}", "1".repeat(63))).is_err());
/// ```
pub fn validate_socket_id(socket_id: &str) -> Result<()> {
    let well_formed = match socket_id.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    };
    if !well_formed {
        return Err(Error::validation(
            "socket_id",
            format!("{} is not of the form 1234.5678", excerpt(socket_id)),
        ));
    }
    // ASCII from here: bytes are characters.
    if socket_id.len() > MAX_SOCKET_ID_LENGTH {
        return Err(Error::validation(
            "socket_id",
            format!(
                "is {} characters long, the maximum is {MAX_SOCKET_ID_LENGTH}",
                socket_id.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a user id against the documented limits ([`Limits::default`]): 1–128 characters of
/// `[-a-zA-Z0-9_=@,.;]` (the Channels documentation's rule). A client checks its own [`Limits`].
pub fn validate_user_id(user_id: &str) -> Result<()> {
    Limits::DOCUMENTED.check_user_id(user_id)
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
        assert!(validate_channel(&"a".repeat(164)).is_ok());
        assert!(validate_channel(&"a".repeat(165)).is_err());
        let wide = Limits {
            max_channel_name: 200,
            ..Limits::default()
        };
        assert!(wide.check_channel(&"a".repeat(200)).is_ok());
        assert!(wide.check_channel(&"a".repeat(201)).is_err());
        assert!(wide.check_subscribable_channel(&"a".repeat(200)).is_ok());
        assert!(validate_channel("").is_err());
        assert!(validate_channel("a:b").is_err());
        assert!(validate_channel("é").is_err());
        assert!(validate_channel("a\n").is_err());
        assert!(validate_channel("#server-to-user-").is_err());
        assert!(validate_channel("#server-to-user-a b").is_err());
        assert!(validate_subscribable_channel("#server-to-user-a").is_err());
    }

    fn reason(r: Result<()>) -> (&'static str, String) {
        match r {
            Err(Error::Validation { field, reason }) => (field, reason),
            other => panic!("{other:?}"),
        }
    }

    /// `"é"×150` was reported as "is 150 characters long, the maximum is 200": 300 bytes were compared
    /// with a limit in characters. Now the character set is checked first, and lengths are counted and
    /// reported in characters.
    #[test]
    fn length_errors_count_and_report_characters() {
        let (field, r) = reason(validate_channel(&"é".repeat(150)));
        assert_eq!(field, "channel");
        assert!(r.contains("characters outside"), "{r}");
        let (_, r) = reason(validate_subscribable_channel(&"é".repeat(100)));
        assert!(r.contains("characters outside"), "{r}");
        let (_, r) = reason(validate_user_id(&"é".repeat(100)));
        assert!(r.contains("characters outside"), "{r}");
        let (_, r) = reason(validate_channel(&"a".repeat(165)));
        assert_eq!(r, "is 165 characters long, the maximum is 164");
        let (field, r) = reason(validate_user_id(&"u".repeat(129)));
        assert_eq!(
            (field, r.as_str()),
            ("user_id", "is 129 characters long, the maximum is 128")
        );
        let (_, r) = reason(validate_socket_id(&format!("1.{}", "2".repeat(63))));
        assert_eq!(r, "is 65 characters long, the maximum is 64");
        // Events allow any character: 150 two-byte characters are 150, within 200.
        assert!(validate_event_name(&"é".repeat(150)).is_ok());
    }

    /// Socket ids are at most 64 characters (the Channels documentation).
    #[test]
    fn socket_ids_are_capped_at_64_characters() {
        let id = |len: usize| format!("1234.{}", "5".repeat(len - 5));
        assert!(validate_socket_id(&id(64)).is_ok());
        let (field, _) = reason(validate_socket_id(&id(65)));
        assert_eq!(field, "socket_id");
        assert!(validate_socket_id(&id(10_000)).is_err());
    }

    #[test]
    fn user_ids_are_one_to_128_characters_everywhere() {
        assert!(validate_user_id(&"u".repeat(128)).is_ok());
        assert!(validate_user_id(&"u".repeat(129)).is_err());
        assert!(validate_user_id("").is_err());
        // Every valid user id makes a valid #server-to-user- channel under the same limits.
        let channel = format!("{SERVER_TO_USER_PREFIX}{}", "u".repeat(128));
        assert!(validate_channel(&channel).is_ok());
    }

    #[test]
    fn limits_must_fit_server_to_user_channels() {
        assert!(Limits::default().check().is_ok());
        let mut l = Limits {
            max_user_id: 149, // 149 + 16 = 165 > 164
            ..Limits::default()
        };
        assert!(matches!(
            l.check(),
            Err(Error::Config {
                field: "limits",
                ..
            })
        ));
        l.max_user_id = 148;
        assert!(l.check().is_ok());
        l.max_channel_name = 0;
        assert!(l.check().is_err());
        let mut l = Limits {
            max_user_id: 0,
            ..Limits::default()
        };
        assert!(l.check().is_err());
        // "No limit" on both is consistent (no overflow).
        l.max_user_id = usize::MAX;
        l.max_channel_name = usize::MAX;
        assert!(l.check().is_ok());
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
