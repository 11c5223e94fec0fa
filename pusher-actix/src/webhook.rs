//! [`VerifiedWebhook`]: the extractor for Pusher's webhook requests, and its rejection.

use std::fmt;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use pusher::integration::{AuthError, AuthResponse, missing_pusher, webhook_rejection};
use pusher::{Webhook, WebhookError};

use crate::{BodyError, MISSING_PUSHER_HINT, into_response, pusher_of, read_body};

/// A webhook from Pusher, verified: the body is at most [`Pusher::webhook_body_limit`] bytes, its
/// `X-Pusher-Signature` is the HMAC-SHA256 of the raw body under the secret of the `X-Pusher-Key` app key
/// (compared in constant time), its `time_ms` is within the accepted window, and events on
/// `private-encrypted-` channels are decrypted.
///
/// The client is taken from `web::Data<Pusher>` in the app data. When the request does not verify, the
/// handler does not run and [`WebhookRejection`] answers with its status and a short plain-text reason.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use pusher::WebhookEvent;
/// use pusher_actix::VerifiedWebhook;
///
/// async fn webhook(hook: VerifiedWebhook) -> HttpResponse {
///     for event in &hook.events {
///         if let WebhookEvent::ChannelOccupied { channel } = event {
///             println!("{channel} is occupied");
///         }
///     }
///     HttpResponse::Ok().finish()
/// }
///
/// let app = App::new().route("/pusher/webhooks", web::post().to(webhook));
/// # let _ = app;
/// ```
///
/// [`Pusher::webhook_body_limit`]: pusher::Pusher::webhook_body_limit
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

impl FromRequest for VerifiedWebhook {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookRejection>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let Some(pusher) = pusher_of(&req) else {
                // Logs how to add the client; the response is built by `WebhookRejection`.
                let _ = missing_pusher(MISSING_PUSHER_HINT);
                return Err(WebhookRejection::MissingPusher);
            };
            let body = read_body(&req, payload, pusher.webhook_body_limit())
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => WebhookError::TooLarge,
                    BodyError::Payload => WebhookError::MalformedBody,
                })?;
            let headers = req.headers();
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|v| std::str::from_utf8(v.as_bytes()).ok())
            };
            // A key that is not UTF-8 counts as missing; a signature that is not UTF-8 as malformed.
            let key = header("x-pusher-key").flatten();
            let signature = header("x-pusher-signature").map(|s| s.unwrap_or(""));
            let hook = pusher.validate_webhook(key, signature, &body)?;
            Ok(VerifiedWebhook(hook))
        })
    }
}

/// Why [`VerifiedWebhook`] refused a request. As an actix [`ResponseError`] it answers its
/// [`status`](Self::status) with the short [`reason`](Self::reason) as `text/plain`; the reason never
/// contains the secret, the expected signature or any part of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request did not verify (400, 401 or 413; see [`WebhookError::status`]).
    Invalid(WebhookError),
    /// No `web::Data<Pusher>` in the app data (500 `server misconfigured`; the fix is logged).
    MissingPusher,
}

impl WebhookRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WebhookRejection::Invalid(e) => e.status(),
            WebhookRejection::MissingPusher => AuthError::Misconfigured.status(),
        }
    }

    /// The short reason answered in the body.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookRejection::Invalid(e) => e.reason(),
            WebhookRejection::MissingPusher => AuthError::Misconfigured.reason(),
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
            WebhookRejection::MissingPusher => None,
        }
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(match self {
            WebhookRejection::Invalid(e) => webhook_rejection(*e),
            WebhookRejection::MissingPusher => AuthResponse::from(AuthError::Misconfigured),
        })
    }
}
