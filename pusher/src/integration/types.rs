//! The types every framework integration exposes under the same names, defined once here and stamped into
//! each integration crate by [`integration_types!`](crate::integration_types) (a framework's traits can
//! only be implemented for a type of the integration's own crate, so each needs its own copy). The
//! integration then implements only its framework's extractor and response traits for them.

/// The header carrying the app key of a webhook.
pub const KEY_HEADER: &str = "x-pusher-key";
/// The header carrying the signature of a webhook.
pub const SIGNATURE_HEADER: &str = "x-pusher-signature";

/// A request header's value as every integration reads it: the first of its values that is UTF-8 (a value
/// that is not is ignored, as Rocket drops it before an integration can see it), without the spaces and
/// tabs around it (HTTP's optional whitespace, which servers strip anyway).
///
/// ```
/// use pusher::integration::__private::header_value;
/// assert_eq!(header_value([&b"\xffx"[..], b" key\t"]), Some("key"));
/// assert_eq!(header_value([&b"\xff"[..]]), None);
/// ```
pub fn header_value<'a, I>(values: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    values
        .into_iter()
        .find_map(|v| std::str::from_utf8(v).ok())
        .map(|v| v.trim_matches([' ', '\t']))
}

/// Whether `signature` is 64 lowercase hex characters.
fn is_well_formed_signature(signature: &str) -> bool {
    signature.len() == 64
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The webhook checks that need no body, run before an integration reads it: `X-Pusher-Key` present,
/// `X-Pusher-Signature` present and 64 lowercase hex characters, and the key known (the app key or an
/// extra webhook token). Header values as read by [`header_value`].
pub fn check_webhook_headers(
    pusher: &crate::Pusher,
    key: Option<&str>,
    signature: Option<&str>,
) -> Result<(), crate::WebhookError> {
    let checked = (|| {
        let key = key.ok_or(crate::WebhookError::MissingKey)?;
        let signature = signature.ok_or(crate::WebhookError::MissingSignature)?;
        if !is_well_formed_signature(signature) {
            return Err(crate::WebhookError::MalformedSignature);
        }
        if !pusher.knows_webhook_key(key) {
            return Err(crate::WebhookError::UnknownKey);
        }
        Ok(())
    })();
    if let Err(e) = &checked {
        tracing::debug!(
            status = e.status(),
            reason = e.reason(),
            "pusher webhook refused before reading the body"
        );
    }
    checked
}

/// Verifies a webhook body an integration read with its own limit (which the core does not check again, so
/// a framework's configured limit may be larger than [`Pusher::webhook_body_limit`](crate::Pusher)):
/// the headers as [`check_webhook_headers`], the signature in constant time, `time_ms`, the events.
pub fn verify_webhook(
    pusher: &crate::Pusher,
    key: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<crate::Webhook, crate::WebhookError> {
    pusher.validate_webhook_read(key, signature, body)
}

/// Why a body could not be read by an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Over the limit (by `Content-Length`, or while reading).
    TooLarge,
    /// The stream failed (a broken connection, bad chunking…).
    Unreadable,
}

impl From<BodyError> for super::AuthError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => super::AuthError::TooLarge,
            BodyError::Unreadable => super::AuthError::MalformedBody,
        }
    }
}

impl From<BodyError> for crate::WebhookError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => crate::WebhookError::TooLarge,
            BodyError::Unreadable => crate::WebhookError::MalformedBody,
        }
    }
}

/// Parses an auth request body, logging a refusal.
pub fn parse_auth<T>(
    parse: fn(Option<&str>, &[u8]) -> Result<T, super::AuthError>,
    content_type: Option<&str>,
    body: Result<&[u8], BodyError>,
) -> Result<T, super::AuthError> {
    let parsed = body
        .map_err(super::AuthError::from)
        .and_then(|b| parse(content_type, b));
    if let Err(e) = &parsed {
        tracing::debug!(
            status = e.status(),
            reason = e.reason(),
            "pusher auth request refused"
        );
    }
    parsed
}

/// Defines, in an integration crate, the types of the integration contract: `VerifiedWebhook`,
/// `WebhookRejection`, `ChannelAuthBody`, `UserAuthBody`, `AuthRejection`, `SenderSocketId` and
/// `SenderSocketIdRejection`, with their framework-neutral methods. Not for applications.
#[doc(hidden)]
#[macro_export]
macro_rules! integration_types {
    () => {
        /// A webhook whose `X-Pusher-Key` and `X-Pusher-Signature` were checked against the raw body (in
        /// constant time) with a fresh `time_ms`, parsed into typed events (events on encrypted channels
        /// decrypted when the client has a master key). On failure the handler does not run and the client
        /// gets a [`WebhookRejection`].
        #[derive(Debug, Clone, PartialEq)]
        pub struct VerifiedWebhook(pub $crate::Webhook);

        impl VerifiedWebhook {
            /// The verified webhook.
            pub fn into_inner(self) -> $crate::Webhook {
                self.0
            }

            /// Whether this webhook is seen for the first time by `dedup` (and remembers it): delivery is
            /// at least once, so a handler skips a retry in one line,
            /// `if !hook.first_time(&state.dedup) { return 200 }`. Same as
            /// `WebhookDedup::first_time(&hook)`; see `pusher::dedup` for the key, window and memory bound.
            pub fn first_time(&self, dedup: &$crate::dedup::WebhookDedup) -> bool {
                dedup.first_time(&self.0)
            }
        }

        impl ::std::ops::Deref for VerifiedWebhook {
            type Target = $crate::Webhook;
            fn deref(&self) -> &$crate::Webhook {
                &self.0
            }
        }

        /// Why [`VerifiedWebhook`] refused a request: 400 for a missing or malformed header or body, 401 for an
        /// unknown key, a bad signature or a stale `time_ms`, 413 for a body over the limit, 500 when no
        /// `Pusher` client is in the app state. As a response it answers its status with the short reason as
        /// `text/plain`, which never contains the secret, the expected signature or any part of the request.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum WebhookRejection {
            /// The request did not verify.
            Invalid($crate::WebhookError),
            /// No `Pusher` client in the app state (the fix is logged).
            MissingPusher,
        }

        impl WebhookRejection {
            /// The HTTP status.
            pub fn status(&self) -> u16 {
                self.response().status
            }

            /// The short reason answered in the body.
            pub fn reason(&self) -> &'static str {
                match self {
                    WebhookRejection::Invalid(e) => e.reason(),
                    WebhookRejection::MissingPusher => {
                        $crate::integration::AuthError::Misconfigured.reason()
                    }
                }
            }

            /// The framework-neutral response (integration glue).
            #[doc(hidden)]
            pub fn response(&self) -> $crate::integration::AuthResponse {
                match self {
                    WebhookRejection::Invalid(e) => {
                        $crate::integration::__private::webhook_rejection(*e)
                    }
                    WebhookRejection::MissingPusher => {
                        $crate::integration::AuthError::Misconfigured.into()
                    }
                }
            }
        }

        impl From<$crate::WebhookError> for WebhookRejection {
            fn from(e: $crate::WebhookError) -> Self {
                WebhookRejection::Invalid(e)
            }
        }

        impl ::std::fmt::Display for WebhookRejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.reason())
            }
        }

        impl ::std::error::Error for WebhookRejection {}

        /// The body of pusher-js's channel authorization request, parsed (form, or JSON by content type)
        /// and checked (`socket_id`, `channel_name`; other fields in `params`): the extractor for a custom
        /// auth handler, which signs with `pusher::Pusher`'s channel authorization. Derefs to
        /// `pusher::integration::ChannelAuthRequest`. Body limit: [`AuthConfig`]. A refusal answers
        /// [`AuthRejection`].
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct ChannelAuthBody(pub $crate::integration::ChannelAuthRequest);

        /// The body of pusher-js's user authentication request, parsed with its `socket_id` checked: the
        /// extractor for a custom user-auth handler, which signs with `pusher::Pusher`'s user
        /// authentication. Derefs to `pusher::integration::UserAuthRequest`. Body limit: [`AuthConfig`].
        /// A refusal answers [`AuthRejection`].
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct UserAuthBody(pub $crate::integration::UserAuthRequest);

        $crate::integration_types!(@request ChannelAuthBody => ChannelAuthRequest);
        $crate::integration_types!(@request UserAuthBody => UserAuthRequest);

        /// Why an auth request was refused: wraps `AuthError`; as a response it answers its status with the
        /// short reason as `text/plain` (see the integration contract).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct AuthRejection(pub $crate::integration::AuthError);

        impl AuthRejection {
            /// The HTTP status.
            pub fn status(&self) -> u16 {
                self.0.status()
            }

            /// The short reason answered in the body.
            pub fn reason(&self) -> &'static str {
                self.0.reason()
            }
        }

        impl From<$crate::integration::AuthError> for AuthRejection {
            fn from(e: $crate::integration::AuthError) -> Self {
                AuthRejection(e)
            }
        }

        impl ::std::fmt::Display for AuthRejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.reason())
            }
        }

        impl ::std::error::Error for AuthRejection {}

        /// The sender's socket id from the request's `X-Socket-ID` header (sent by Laravel Echo or a
        /// pusher-js interceptor), to exclude the sender from the event its own request triggers:
        /// `None` when the header is absent or empty; a value that is not a valid socket id refuses the
        /// request with a [`SenderSocketIdRejection`] (400 `invalid X-Socket-ID header`). The rules are
        /// `pusher::integration::sender_socket_id`'s, the same in every framework.
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct SenderSocketId(pub ::std::option::Option<::std::string::String>);

        impl SenderSocketId {
            /// The socket id, if the header carried one.
            pub fn as_deref(&self) -> ::std::option::Option<&str> {
                self.0.as_deref()
            }

            /// The socket id, if the header carried one.
            pub fn into_inner(self) -> ::std::option::Option<::std::string::String> {
                self.0
            }
        }

        /// Why [`SenderSocketId`] refused a request: the `X-Socket-ID` header is not a valid socket id. As
        /// a response: 400 with the short reason as `text/plain` (never the value).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct SenderSocketIdRejection(pub $crate::integration::InvalidSenderSocketId);

        impl SenderSocketIdRejection {
            /// The HTTP status (400).
            pub fn status(&self) -> u16 {
                self.0.status()
            }

            /// The short reason answered in the body.
            pub fn reason(&self) -> &'static str {
                self.0.reason()
            }
        }

        impl From<$crate::integration::InvalidSenderSocketId> for SenderSocketIdRejection {
            fn from(e: $crate::integration::InvalidSenderSocketId) -> Self {
                SenderSocketIdRejection(e)
            }
        }

        impl ::std::fmt::Display for SenderSocketIdRejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.reason())
            }
        }

        impl ::std::error::Error for SenderSocketIdRejection {}
    };
    (@auth_config) => {
        /// The body limit of the [`ChannelAuthBody`] and [`UserAuthBody`] extractors (default 64 KiB,
        /// `pusher::integration::DEFAULT_AUTH_BODY_LIMIT`). The ready-made routes use their `Authorizer`'s
        /// limit instead.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct AuthConfig {
            body_limit: usize,
        }

        impl AuthConfig {
            /// The default configuration.
            pub const DEFAULT: AuthConfig = AuthConfig {
                body_limit: $crate::integration::DEFAULT_AUTH_BODY_LIMIT,
            };

            /// Sets the largest body read, in bytes; larger is refused with 413.
            #[must_use]
            pub fn body_limit(mut self, bytes: usize) -> Self {
                self.body_limit = bytes;
                self
            }

            /// The largest body read, in bytes.
            pub fn body_limit_bytes(&self) -> usize {
                self.body_limit
            }
        }

        impl Default for AuthConfig {
            fn default() -> Self {
                AuthConfig::DEFAULT
            }
        }
    };
    (@request $name:ident => $core:ident) => {
        impl $name {
            /// The parsed request.
            pub fn into_inner(self) -> $crate::integration::$core {
                self.0
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::integration::$core;
            fn deref(&self) -> &$crate::integration::$core {
                &self.0
            }
        }
    };
}
