//! [`VerifiedWebhook`]: the data guard for Pusher's webhook requests, and its rejection.

use std::fmt;
use std::ops::Deref;

use pusher::integration::{self, AuthError, AuthResponse};
use pusher::{Pusher, Webhook, WebhookError};
use rocket::data::{self, Data, FromData};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{Ignite, Rocket, Sentinel};

use crate::{ReadError, Reply, pusher_missing, read_limited};

/// The named limit (`[default.limits] pusher-webhook = "2 MiB"`) that overrides
/// [`Pusher::webhook_body_limit`].
const WEBHOOK_LIMIT: &str = "pusher-webhook";

/// A webhook from Pusher, verified: the body is within the limit, its `X-Pusher-Signature` is the
/// HMAC-SHA256 of the raw body under the secret of the `X-Pusher-Key` app key (compared in constant time),
/// its `time_ms` is within the accepted window, and events on `private-encrypted-` channels are decrypted
/// when the client has a master key.
///
/// The body limit is Rocket's named limit `pusher-webhook` when configured, else
/// [`Pusher::webhook_body_limit`] (1 MiB by default). The client is the managed [`Pusher`]
/// ([`PusherFairing`](crate::PusherFairing)); `VerifiedWebhook` is a [`Sentinel`], so launch aborts when
/// none is managed.
///
/// As with Rocket's own data guards, a refused request goes to Rocket's catcher for its status (400, 401 or
/// 413). Take `Result<VerifiedWebhook, WebhookRejection>` and return the rejection to answer the short
/// reason as well, as pusher-axum and pusher-actix do:
///
/// ```
/// use pusher::WebhookEvent;
/// use pusher_rocket::{VerifiedWebhook, WebhookRejection};
///
/// #[rocket::post("/pusher/webhooks", data = "<hook>")]
/// fn webhooks(hook: Result<VerifiedWebhook, WebhookRejection>) -> Result<(), WebhookRejection> {
///     for event in &hook?.events {
///         if let WebhookEvent::ChannelOccupied { channel } = event {
///             println!("{channel} is occupied");
///         }
///     }
///     Ok(())
/// }
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

#[rocket::async_trait]
impl<'r> FromData<'r> for VerifiedWebhook {
    type Error = WebhookRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            integration::missing_pusher("PusherFairing");
            return reject(WebhookRejection::MissingPusher);
        };
        let limit = pusher.webhook_body_limit();
        let verified = match read_limited(req, data, Some(WEBHOOK_LIMIT), limit).await {
            Ok(body) => {
                let headers = req.headers();
                pusher.validate_webhook(
                    headers.get_one("X-Pusher-Key"),
                    headers.get_one("X-Pusher-Signature"),
                    &body,
                )
            }
            Err(ReadError::TooLarge) => Err(WebhookError::TooLarge),
            Err(ReadError::Failed) => Err(WebhookError::MalformedBody),
        };
        match verified {
            Ok(hook) => Outcome::Success(VerifiedWebhook(hook)),
            Err(e) => reject(WebhookRejection::Invalid(e)),
        }
    }
}

fn reject<'r>(rejection: WebhookRejection) -> data::Outcome<'r, VerifiedWebhook> {
    Outcome::Error((Status::new(rejection.status()), rejection))
}

impl Sentinel for VerifiedWebhook {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        pusher_missing(rocket, "VerifiedWebhook")
    }
}

/// Why [`VerifiedWebhook`] refused a request. As a [`Responder`] it answers its [`status`](Self::status)
/// with the short [`reason`](Self::reason) as `text/plain`; the reason never contains the secret, the
/// expected signature or any part of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request did not verify (400, 401 or 413; see [`WebhookError::status`]).
    Invalid(WebhookError),
    /// No `Pusher` is managed (500 `server misconfigured`; the fix is logged). The [`Sentinel`] prevents
    /// this at launch.
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

impl<'r> Responder<'r, 'static> for WebhookRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(match self {
            WebhookRejection::Invalid(e) => integration::webhook_rejection(e),
            WebhookRejection::MissingPusher => AuthResponse::from(AuthError::Misconfigured),
        })
        .respond_to(req)
    }
}
