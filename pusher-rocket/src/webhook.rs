//! The `VerifiedWebhook` data guard.

use std::ops::Deref;

use pusher::{Pusher, Webhook, WebhookError};
use rocket::data::{self, Data, FromData};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{Ignite, Rocket, Sentinel};

use crate::{ReadError, Reply, read_limited};

/// A webhook whose `X-Pusher-Key` and `X-Pusher-Signature` were checked against the raw body, with a fresh
/// `time_ms`, parsed into typed events (encrypted events decrypted when the client has a master key).
///
/// The body limit is Rocket's named limit `pusher-webhook` when configured, else
/// [`Pusher::webhook_body_limit`]. The managed [`Pusher`] comes from [`PusherFairing`](crate::PusherFairing);
/// launch aborts when none is managed (a `Sentinel`).
///
/// Take `Result<VerifiedWebhook, WebhookRejection>` to answer a refusal with its status and short reason
/// (a bare `VerifiedWebhook` refusal goes to Rocket's catcher for the status):
///
/// ```
/// # use rocket::post;
/// use pusher_rocket::{VerifiedWebhook, WebhookRejection};
///
/// #[post("/pusher/webhooks", data = "<hook>")]
/// fn webhooks(hook: Result<VerifiedWebhook, WebhookRejection>) -> Result<&'static str, WebhookRejection> {
///     for event in &hook?.events {
///         println!("{} {:?}", event.name(), event.channel());
///     }
///     Ok("ok")
/// }
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
/// signature or a stale `time_ms`, 413 for a body over the limit, 500 when no `Pusher` is managed. Its
/// response body is a short fixed reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The verification failed.
    Invalid(WebhookError),
    /// The body could not be read.
    Unreadable,
    /// No `Pusher` is managed.
    MissingPusher,
}

impl WebhookRejection {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WebhookRejection::Invalid(e) => e.status(),
            WebhookRejection::Unreadable => 400,
            WebhookRejection::MissingPusher => 500,
        }
    }

    /// The short reason sent in the body.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookRejection::Invalid(e) => e.reason(),
            WebhookRejection::Unreadable => "could not read the request body",
            WebhookRejection::MissingPusher => "server misconfigured",
        }
    }
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WebhookRejection {}

impl<'r> Responder<'r, 'static> for WebhookRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(pusher::integration::AuthResponse {
            status: self.status(),
            content_type: "text/plain; charset=utf-8",
            body: self.reason().to_owned(),
        })
        .respond_to(req)
    }
}

fn fail<'r>(e: WebhookRejection) -> data::Outcome<'r, VerifiedWebhook> {
    Outcome::Error((Status::new(e.status()), e))
}

#[rocket::async_trait]
impl<'r> FromData<'r> for VerifiedWebhook {
    type Error = WebhookRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            pusher::integration::missing_pusher("PusherFairing");
            return fail(WebhookRejection::MissingPusher);
        };
        let body =
            match read_limited(req, data, "pusher-webhook", pusher.webhook_body_limit()).await {
                Ok(b) => b,
                Err(ReadError::TooLarge) => {
                    return fail(WebhookRejection::Invalid(WebhookError::TooLarge));
                }
                Err(ReadError::Failed) => return fail(WebhookRejection::Unreadable),
            };
        let headers = req.headers();
        match pusher.validate_webhook(
            headers.get_one("X-Pusher-Key"),
            headers.get_one("X-Pusher-Signature"),
            &body,
        ) {
            Ok(w) => Outcome::Success(VerifiedWebhook(w)),
            Err(e) => fail(WebhookRejection::Invalid(e)),
        }
    }
}

impl Sentinel for VerifiedWebhook {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        let missing = rocket.state::<Pusher>().is_none();
        if missing {
            tracing::error!("pusher: VerifiedWebhook needs a managed Pusher: attach PusherFairing");
        }
        missing
    }
}
