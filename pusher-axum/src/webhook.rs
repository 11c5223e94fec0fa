//! [`VerifiedWebhook`]: the extractor for Pusher's webhook requests, and its rejection.

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use pusher::integration::webhook_rejection;
use pusher::{Pusher, Webhook, WebhookError};

use crate::{ReadError, into_response, read_limited};

/// A webhook from Pusher, verified: the body is at most [`Pusher::webhook_body_limit`] bytes, its
/// `X-Pusher-Signature` is the HMAC-SHA256 of the raw body under the secret of the `X-Pusher-Key` app key
/// (compared in constant time), its `time_ms` is within the accepted window, and events on
/// `private-encrypted-` channels are decrypted when the client has a master key.
///
/// The client comes from the state through [`FromRef`]. When the request does not verify, the handler does
/// not run and [`WebhookRejection`] answers with its status and a short plain-text reason. As it reads the
/// body, `VerifiedWebhook` must be the handler's last argument.
///
/// ```
/// use axum::{Router, routing::post};
/// use pusher::WebhookEvent;
/// use pusher_axum::VerifiedWebhook;
///
/// async fn webhooks(hook: VerifiedWebhook) {
///     for event in &hook.events {
///         if let WebhookEvent::ChannelOccupied { channel } = event {
///             println!("{channel} is occupied");
///         }
///     }
/// }
///
/// let pusher = pusher::Pusher::builder("1", "key", "secret").build()?;
/// let app: Router = Router::new().route("/pusher/webhooks", post(webhooks)).with_state(pusher);
/// # Ok::<(), pusher::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedWebhook(pub Webhook);

impl VerifiedWebhook {
    /// The verified webhook.
    pub fn into_inner(self) -> Webhook {
        self.0
    }
}

impl Deref for VerifiedWebhook {
    type Target = Webhook;

    fn deref(&self) -> &Webhook {
        &self.0
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebhookRejection> {
        let pusher = Pusher::from_ref(state);
        let (parts, body) = req.into_parts();
        let verified = match read_limited(&parts.headers, body, pusher.webhook_body_limit()).await {
            Ok(body) => {
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .map(|v| std::str::from_utf8(v.as_bytes()).ok())
                };
                // A key that is not UTF-8 counts as missing; a signature that is not UTF-8 as malformed.
                let key = header("x-pusher-key").flatten();
                let signature = header("x-pusher-signature").map(|s| s.unwrap_or(""));
                pusher.validate_webhook(key, signature, &body)
            }
            Err(ReadError::TooLarge) => Err(WebhookError::TooLarge),
            Err(ReadError::Failed) => Err(WebhookError::MalformedBody),
        };
        verified.map(VerifiedWebhook).map_err(|e| {
            tracing::debug!(
                status = e.status(),
                reason = e.reason(),
                "pusher webhook refused"
            );
            WebhookRejection::Invalid(e)
        })
    }
}

/// Why [`VerifiedWebhook`] refused a request: 400 for a missing or malformed header or body, 401 for an
/// unknown key, a bad signature or a stale `time_ms`, 413 for a body over the limit (see
/// [`WebhookError::status`]). As a response it answers its [`status`](Self::status) with the short
/// [`reason`](Self::reason) as `text/plain`; the reason never contains the secret, the expected signature or
/// any part of the request.
///
/// With axum the client is found at compile time ([`FromRef`]), so the contract's 500 for a missing client
/// cannot happen here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request did not verify.
    Invalid(WebhookError),
}

impl WebhookRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WebhookRejection::Invalid(e) => e.status(),
        }
    }

    /// The short reason answered in the body.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookRejection::Invalid(e) => e.reason(),
        }
    }
}

impl From<WebhookError> for WebhookRejection {
    fn from(e: WebhookError) -> Self {
        WebhookRejection::Invalid(e)
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookRejection::Invalid(e) => Some(e),
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        match self {
            WebhookRejection::Invalid(e) => into_response(webhook_rejection(e)),
        }
    }
}
