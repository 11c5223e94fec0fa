//! The `VerifiedWebhook` extractor.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use pusher::{Pusher, Webhook, WebhookError};

use crate::{ReadError, header_str, into_response, read_limited};

/// A webhook whose `X-Pusher-Key` and `X-Pusher-Signature` were checked against the raw body, with a fresh
/// `time_ms`, parsed into typed events (encrypted events decrypted when the client has a master key).
///
/// The body is read up to [`Pusher::webhook_body_limit`]; the `Pusher` comes from the state through
/// `FromRef`. On failure the handler does not run and the client gets a [`WebhookRejection`].
///
/// ```
/// use pusher_axum::VerifiedWebhook;
/// async fn webhooks(hook: VerifiedWebhook) {
///     for event in &hook.events {
///         println!("{} {:?}", event.name(), event.channel());
///     }
/// }
/// let app: axum::Router = axum::Router::new()
///     .route("/pusher/webhooks", axum::routing::post(webhooks))
///     .with_state(pusher::Pusher::builder("1", "key", "secret").build().unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedWebhook(pub Webhook);

impl Deref for VerifiedWebhook {
    type Target = Webhook;
    fn deref(&self) -> &Webhook {
        &self.0
    }
}

/// Why a webhook was refused: 400 for a missing or malformed header or body, 401 for an unknown key, a bad
/// signature or a stale `time_ms`, 413 for a body over the limit. The body is a short fixed reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The verification failed.
    Invalid(WebhookError),
    /// The body could not be read.
    Unreadable,
}

impl WebhookRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WebhookRejection::Invalid(e) => e.status(),
            WebhookRejection::Unreadable => 400,
        }
    }

    /// The short reason sent in the body.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookRejection::Invalid(e) => e.reason(),
            WebhookRejection::Unreadable => "could not read the request body",
        }
    }
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WebhookRejection {}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        into_response(pusher::integration::AuthResponse {
            status: self.status(),
            content_type: "text/plain; charset=utf-8",
            body: self.reason().to_owned(),
        })
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let pusher = Pusher::from_ref(state);
        let (parts, body) = req.into_parts();
        let body = read_limited(&parts.headers, body, pusher.webhook_body_limit())
            .await
            .map_err(|e| match e {
                ReadError::TooLarge => WebhookRejection::Invalid(WebhookError::TooLarge),
                ReadError::Failed => WebhookRejection::Unreadable,
            })?;
        // A key that is not text counts as missing; a signature that is not text is malformed.
        let key = header_str(&parts.headers, "x-pusher-key");
        let signature = match parts.headers.get("x-pusher-signature") {
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| WebhookRejection::Invalid(WebhookError::MalformedSignature))?,
            ),
            None => None,
        };
        pusher
            .validate_webhook(key, signature, &body)
            .map(VerifiedWebhook)
            .map_err(WebhookRejection::Invalid)
    }
}
