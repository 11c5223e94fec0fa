//! The sender's socket id from the `X-Socket-ID` request header, for excluding the sender from the
//! broadcast its own API call causes.
//!
//! Laravel Echo (and a pusher-js request interceptor written the same way) sends the connection's socket id
//! as `X-Socket-ID` on the app's own API calls. Every integration reads it through
//! [`sender_socket_id`], so the three frameworks answer alike:
//!
//! * no header, or an empty one: `Ok(None)` (the sender gets the event too);
//! * the header's first UTF-8 value, trimmed of spaces and tabs ([`header_value`](super::types::header_value)):
//!   `Ok(Some(id))` when it is a valid socket id ([`validate_socket_id`](crate::channel::validate_socket_id));
//! * a value that is not UTF-8 is ignored, as for every other header (Rocket drops it before an app sees it);
//! * anything else: [`InvalidSenderSocketId`], answered 400 `invalid X-Socket-ID header`.

use super::{AuthResponse, TEXT};

/// The request header Laravel Echo sends the sender's socket id in (lowercase, as HTTP/2 sends it; header
/// names are case-insensitive).
pub const SOCKET_ID_HEADER: &str = "x-socket-id";

/// The `X-Socket-ID` header is present but not a valid socket id (`1234.5678`): 400, with a short fixed
/// reason that never echoes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid X-Socket-ID header")]
#[non_exhaustive]
pub struct InvalidSenderSocketId;

impl InvalidSenderSocketId {
    /// The HTTP status to answer with (400).
    pub fn status(&self) -> u16 {
        400
    }

    /// The short reason for the response body.
    pub fn reason(&self) -> &'static str {
        "invalid X-Socket-ID header"
    }

    /// The framework-neutral response: 400, the reason as `text/plain`, `Cache-Control: no-store`
    /// (integration glue).
    #[doc(hidden)]
    pub fn response(&self) -> AuthResponse {
        AuthResponse {
            status: self.status(),
            content_type: TEXT,
            body: self.reason().to_owned(),
        }
    }
}

/// The sender's socket id from the raw values of the `X-Socket-ID` header (all of them, in order, as a
/// framework gives them), the rule every integration's `SenderSocketId` follows:
///
/// * no value, or an empty one (after trimming spaces and tabs): `Ok(None)`;
/// * the first UTF-8 value, trimmed ([`header_value`](super::types::header_value)), when it is a valid socket id
///   ([`validate_socket_id`](crate::channel::validate_socket_id)): `Ok(Some(id))`;
/// * values that are not UTF-8 are ignored, as for every other header (Rocket drops them);
/// * anything else: [`InvalidSenderSocketId`] (400 `invalid X-Socket-ID header`).
///
/// Linear in the size of the values.
///
/// ```
/// use pusher::integration::sender_socket_id;
/// assert_eq!(sender_socket_id([&b" 123.456 "[..]]), Ok(Some("123.456".to_owned())));
/// assert_eq!(sender_socket_id(std::iter::empty::<&[u8]>()), Ok(None));
/// assert!(sender_socket_id([&b"nope"[..]]).is_err());
/// ```
pub fn sender_socket_id<'a, I>(values: I) -> Result<Option<String>, InvalidSenderSocketId>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let Some(value) = super::types::header_value(values) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    match crate::channel::validate_socket_id(value) {
        Ok(()) => Ok(Some(value.to_owned())),
        Err(_) => {
            tracing::debug!("pusher: refused an invalid X-Socket-ID header");
            Err(InvalidSenderSocketId)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&[u8]]) -> Result<Option<String>, InvalidSenderSocketId> {
        sender_socket_id(values.iter().copied())
    }

    #[test]
    fn an_absent_or_empty_header_is_no_sender() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&[b""]), Ok(None));
        assert_eq!(parse(&[b" \t "]), Ok(None));
    }

    #[test]
    fn a_valid_header_is_the_sender_trimmed() {
        assert_eq!(parse(&[b"123.456"]), Ok(Some("123.456".into())));
        assert_eq!(parse(&[b"\t123.456 "]), Ok(Some("123.456".into())));
    }

    #[test]
    fn an_invalid_header_is_refused_with_400_without_echoing_it() {
        for bad in [
            &b"123"[..],
            b"123.",
            b".456",
            b"1.2.3",
            b"12a.3",
            b"1 .2",
            b"private-x",
        ] {
            let e = parse(&[bad]).unwrap_err();
            assert_eq!(e.status(), 400);
            let r = e.response();
            assert_eq!(
                (r.status, r.body.as_str()),
                (400, "invalid X-Socket-ID header")
            );
            assert_eq!(r.content_type, TEXT);
        }
    }

    #[test]
    fn non_utf8_values_are_ignored_like_every_header() {
        assert_eq!(parse(&[b"\xff1.2"]), Ok(None));
        assert_eq!(parse(&[b"\xff", b"1.2"]), Ok(Some("1.2".into())));
        assert!(parse(&[b"\xff", b"x"]).is_err());
    }

    #[test]
    fn the_first_utf8_value_counts() {
        assert_eq!(parse(&[b"1.2", b"bad"]), Ok(Some("1.2".into())));
        assert!(parse(&[b"bad", b"1.2"]).is_err());
    }

    #[test]
    fn a_huge_value_is_refused_in_linear_time() {
        let big = "1".repeat(1 << 20) + ".";
        assert!(parse(&[big.as_bytes()]).is_err());
    }
}
