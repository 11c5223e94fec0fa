//! The crate's one error type.
//!
//! Every fallible operation returns [`Error`]. Messages are short, lowercase and never contain the app
//! secret, the encryption master key or an expected signature. Errors carried back from the HTTP API keep
//! the status and at most [`MAX_ERROR_BODY`] bytes of the server's message.

use std::time::Duration;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many bytes of a server's error body an [`Error`] keeps.
pub const MAX_ERROR_BODY: usize = 512;

/// How many bytes of a success body that does not decode [`Error::InvalidResponse`] keeps: 1 KiB.
pub const MAX_DECODE_BODY: usize = 1024;

/// The boxed error [`Error::Transport`] carries as its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (bad app id, key, master key, URL, …). Raised by `build()`,
    /// `from_url` and `from_env`.
    #[error("invalid config: {field}: {reason}")]
    #[non_exhaustive]
    Config {
        /// The option at fault, e.g. `"encryption_master_key"`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A method of the blocking client (`pusher::blocking::Pusher`, feature `blocking`) that sends a request
    /// was called from inside a Tokio runtime context, where blocking would stall the runtime's thread (or
    /// panic, or deadlock on a connection driven by that runtime). Nothing was sent. Use the async client
    /// there (`blocking::Pusher::as_async`).
    #[error(
        "the blocking client was called from inside an async runtime; use the async pusher::Pusher there \
         (blocking::Pusher::as_async)"
    )]
    BlockingInAsync,

    /// An argument was refused before anything was sent (channel name, socket id, event name, data size…).
    #[error("invalid {field}: {reason}")]
    #[non_exhaustive]
    Validation {
        /// The argument at fault, e.g. `"channel"`, `"socket_id"`, `"data"`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// An encrypted channel was used but no encryption master key is configured.
    #[error("no encryption master key is configured; set one with encryption_master_key_base64")]
    MissingMasterKey,

    /// Encrypting or decrypting an end-to-end encrypted payload failed.
    #[error("encryption: {0}")]
    Encryption(&'static str),

    /// The API answered 400 Bad Request.
    #[error("bad request (400): {body}")]
    #[non_exhaustive]
    BadRequest {
        /// The server's message, capped.
        body: String,
    },

    /// The API answered 401: the request signature was refused (wrong key or secret, or a clock more
    /// than 600 s off).
    #[error("unauthorized (401): {body}")]
    #[non_exhaustive]
    Unauthorized {
        /// The server's message, capped.
        body: String,
    },

    /// The API answered 403: the app is disabled or over its message quota.
    #[error("forbidden (403): {body}")]
    #[non_exhaustive]
    Forbidden {
        /// The server's message, capped.
        body: String,
    },

    /// The API answered 413: an event's data is over the server's limit.
    #[error("payload too large (413): {body}")]
    #[non_exhaustive]
    PayloadTooLarge {
        /// The server's message, capped.
        body: String,
    },

    /// The API answered with another non-success status.
    #[error("unexpected status {status}: {body}")]
    #[non_exhaustive]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's message, capped.
        body: String,
        /// The delay the server asked for in `Retry-After`, if any.
        retry_after: Option<Duration>,
    },

    /// The request did not complete within the configured timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),

    /// The request could not be sent or the response could not be read (connection refused, reset, TLS…).
    ///
    /// `message` is a short summary without the URL ([`CONNECT_FAILED`](crate::retry::CONNECT_FAILED) when
    /// the connection could not be opened); the underlying error is the [`source`](std::error::Error::source)
    /// (print the chain, e.g. with `{:#}` in `anyhow`, for the details). Build it with
    /// [`Error::transport`] in a custom [`HttpBackend`](crate::HttpBackend).
    #[error("transport: {message}")]
    #[non_exhaustive]
    Transport {
        /// A short summary (`connect failed`, `request failed`, `reading the response failed`).
        message: String,
        /// The underlying error (for the built-in backend: reqwest's, without the URL).
        #[source]
        source: Option<BoxError>,
    },

    /// The response body was larger than the configured cap.
    #[error("response body larger than {limit} bytes")]
    #[non_exhaustive]
    ResponseTooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },

    /// A value could not be encoded to JSON (event data, a request body); serde_json's error is the
    /// [`source`](std::error::Error::source).
    #[error("could not encode JSON")]
    Json(#[source] serde_json::Error),

    /// A success (2xx) response whose body is not the JSON expected. The request was processed; the body is
    /// kept, capped at [`MAX_DECODE_BODY`] bytes (lossy UTF-8), for diagnosis, and serde_json's error is the
    /// [`source`](std::error::Error::source).
    #[error("invalid response body (status {status})")]
    #[non_exhaustive]
    InvalidResponse {
        /// The HTTP status (2xx).
        status: u16,
        /// The start of the body, capped (an ellipsis marks a cut).
        body: String,
        /// Why it did not decode: serde_json's message (capped) and position.
        #[source]
        source: DecodeError,
    },

    /// [`HttpBackend::sleep`](crate::HttpBackend::sleep) could not wait: its default needs a tokio runtime.
    /// Only ever seen by a backend's own code; the client then returns the failed request's error.
    #[error(
        "no timer to wait before a retry: run inside a tokio runtime or implement HttpBackend::sleep"
    )]
    NoTimer,
}

impl Error {
    pub(crate) fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Validation {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            field,
            reason: reason.into(),
        }
    }

    /// A transport failure with a short summary and, when there is one, the underlying error. A custom
    /// [`HttpBackend`](crate::HttpBackend) that could not open the connection (nothing was sent) starts
    /// `message` with [`CONNECT_FAILED`](crate::retry::CONNECT_FAILED), so that the retry rule knows the
    /// request was not processed.
    ///
    /// ```
    /// use pusher::retry::{CONNECT_FAILED, not_processed};
    /// let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let e = pusher::Error::transport(CONNECT_FAILED, Some(io.into()));
    /// assert!(not_processed(&e));
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn transport(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Transport {
            message: message.into(),
            source,
        }
    }

    /// The error for a 2xx body that did not decode: the body capped at [`MAX_DECODE_BODY`] bytes.
    pub(crate) fn invalid_response(status: u16, body: &[u8], source: serde_json::Error) -> Self {
        Error::InvalidResponse {
            status,
            body: cap(body, MAX_DECODE_BODY),
            source: DecodeError::new(&source),
        }
    }

    /// Builds the error for an HTTP status that is not a success, keeping at most [`MAX_ERROR_BODY`] bytes of
    /// the body.
    pub fn from_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let body = cap_body(body);
        match status {
            400 => Error::BadRequest { body },
            401 => Error::Unauthorized { body },
            403 => Error::Forbidden { body },
            413 => Error::PayloadTooLarge { body },
            _ => Error::Status {
                status,
                body,
                retry_after,
            },
        }
    }

    /// The HTTP status the API answered with, when this error came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::BadRequest { .. } => Some(400),
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::PayloadTooLarge { .. } => Some(413),
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed: timeouts, transport failures, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout(_) | Error::Transport { .. } => true,
            Error::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

fn cap_body(body: &[u8]) -> String {
    cap(body, MAX_ERROR_BODY)
}

/// The first `max` bytes of `body` as lossy UTF-8, with `…` when cut.
/// Why a success body did not decode ([`Error::InvalidResponse`]'s source): serde_json's message, capped at
/// [`MAX_DECODE_BODY`] bytes like the body (serde_json quotes the offending value, which can be the whole
/// body), and where in the body it stopped. serde_json's own error is not kept, so that neither `Display` nor
/// `Debug` of the error chain carries more than the capped text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    message: String,
    line: usize,
    column: usize,
}

impl DecodeError {
    fn new(e: &serde_json::Error) -> Self {
        DecodeError {
            message: cap(e.to_string().as_bytes(), MAX_DECODE_BODY),
            line: e.line(),
            column: e.column(),
        }
    }

    /// serde_json's message, capped.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The line (from 1) where decoding stopped.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column (from 1) where decoding stopped.
    pub fn column(&self) -> usize {
        self.column
    }
}

fn cap(body: &[u8], max: usize) -> String {
    let slice = &body[..body.len().min(max)];
    let mut s = String::from_utf8_lossy(slice).into_owned();
    if body.len() > max {
        s.push('…');
    }
    s
}

/// Why a webhook was rejected. Each reason has a fixed short message that never echoes input, and an HTTP
/// status for the framework integrations ([`WebhookError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The `X-Pusher-Key` header is missing.
    #[error("missing X-Pusher-Key header")]
    MissingKey,
    /// The `X-Pusher-Signature` header is missing.
    #[error("missing X-Pusher-Signature header")]
    MissingSignature,
    /// The signature is not 64 lowercase hex characters.
    #[error("malformed X-Pusher-Signature header")]
    MalformedSignature,
    /// The key is not this app's key (nor one of the extra webhook tokens).
    #[error("unknown X-Pusher-Key")]
    UnknownKey,
    /// The signature does not match the body.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body is not a JSON object with a numeric `time_ms` and an `events` array (or none): the envelope
    /// only, never the content of one event.
    #[error("malformed webhook body")]
    MalformedBody,
    /// `time_ms` is outside the accepted window (too old, or too far in the future).
    #[error("webhook timestamp outside the accepted window")]
    Stale,
    /// The body is larger than the configured limit.
    #[error("webhook body too large")]
    TooLarge,
}

impl WebhookError {
    /// The HTTP status a webhook endpoint answers with: 400 for a missing or malformed header or body, 401
    /// for an unknown key, a bad signature or a stale timestamp, 413 for a body over the limit.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::MissingKey
            | WebhookError::MissingSignature
            | WebhookError::MalformedSignature
            | WebhookError::MalformedBody => 400,
            WebhookError::UnknownKey | WebhookError::InvalidSignature | WebhookError::Stale => 401,
            WebhookError::TooLarge => 413,
        }
    }

    /// A short reason for the response body. Never contains the secret, the expected signature or input.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookError::MissingKey => "missing X-Pusher-Key header",
            WebhookError::MissingSignature => "missing X-Pusher-Signature header",
            WebhookError::MalformedSignature => "malformed X-Pusher-Signature header",
            WebhookError::UnknownKey => "unknown X-Pusher-Key",
            WebhookError::InvalidSignature => "invalid signature",
            WebhookError::MalformedBody => "malformed webhook body",
            WebhookError::Stale => "webhook timestamp outside the accepted window",
            WebhookError::TooLarge => "webhook body too large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_variants() {
        assert!(matches!(
            Error::from_status(400, b"x", None),
            Error::BadRequest { .. }
        ));
        assert!(matches!(
            Error::from_status(401, b"x", None),
            Error::Unauthorized { .. }
        ));
        assert!(matches!(
            Error::from_status(403, b"x", None),
            Error::Forbidden { .. }
        ));
        assert!(matches!(
            Error::from_status(413, b"x", None),
            Error::PayloadTooLarge { .. }
        ));
        assert!(matches!(
            Error::from_status(500, b"x", None),
            Error::Status { status: 500, .. }
        ));
        assert_eq!(Error::from_status(404, b"", None).status(), Some(404));
    }

    #[test]
    fn long_bodies_are_capped() {
        let body = vec![b'a'; 10_000];
        let Error::BadRequest { body } = Error::from_status(400, &body, None) else {
            unreachable!()
        };
        assert!(body.len() <= MAX_ERROR_BODY + 3);
    }

    /// A 2xx body that does not decode keeps its start (1 KiB, lossy UTF-8) and serde_json's error.
    #[test]
    fn invalid_response_keeps_the_capped_body_and_the_cause() {
        let body = [b"{\"channels\": \xff".as_slice(), &[b'x'; 5000]].concat();
        let cause = serde_json::from_slice::<serde_json::Value>(&body).unwrap_err();
        let e = Error::invalid_response(200, &body, cause);
        let Error::InvalidResponse {
            status, body: kept, ..
        } = &e
        else {
            unreachable!()
        };
        assert_eq!(*status, 200);
        assert!(kept.starts_with("{\"channels\": \u{fffd}xx"), "{kept}");
        assert!(kept.ends_with('…'));
        assert!(kept.len() <= MAX_DECODE_BODY + 3 + 3, "{}", kept.len());
        assert!(std::error::Error::source(&e).is_some());
        assert!(!e.to_string().contains("xxx"), "Display stays short: {e}");
    }

    /// serde_json quotes the offending value in its message: a 200 KB string where a list was expected gives
    /// a 200 KB message. The source keeps it capped, so the error's Debug and its chain stay small.
    #[test]
    fn invalid_response_source_and_debug_are_capped() {
        let body = format!("{{\"channels\":\"{}\"}}", "A".repeat(200_000));
        let cause =
            serde_json::from_str::<std::collections::BTreeMap<String, Vec<u8>>>(&body).unwrap_err();
        assert!(
            cause.to_string().len() > 100_000,
            "the premise: serde quotes the value"
        );
        let e = Error::invalid_response(200, body.as_bytes(), cause);
        let source = std::error::Error::source(&e).unwrap();
        assert!(
            source.to_string().len() <= MAX_DECODE_BODY + 3,
            "{}",
            source.to_string().len()
        );
        assert!(
            format!("{e:?}").len() < 3 * MAX_DECODE_BODY,
            "{}",
            format!("{e:?}").len()
        );
        let Error::InvalidResponse { source, .. } = &e else {
            unreachable!()
        };
        assert_eq!((source.line(), source.column() > 0), (1, true));
    }

    #[test]
    fn transport_and_json_keep_their_source() {
        let io = std::io::Error::other("boom");
        let e = Error::transport("request failed", Some(io.into()));
        assert_eq!(e.to_string(), "transport: request failed");
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "boom");
        let json: Error = serde_json::from_str::<u8>("x").unwrap_err().into();
        assert!(matches!(json, Error::Json(_)));
        assert!(std::error::Error::source(&json).is_some());
    }

    #[test]
    fn transient_errors() {
        assert!(Error::from_status(503, b"", None).is_transient());
        assert!(Error::from_status(429, b"", None).is_transient());
        assert!(!Error::from_status(400, b"", None).is_transient());
        assert!(Error::Timeout(Duration::from_secs(1)).is_transient());
    }
}
