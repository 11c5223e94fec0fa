//! [`VerifiedWebhook`]: the data guard for Pusher's webhook requests, and its rejection.

use pusher::Pusher;
use pusher::integration::__private::{
    KEY_HEADER, SIGNATURE_HEADER, check_webhook_headers, header_value, missing_pusher,
    verify_webhook,
};
use rocket::data::{self, Data, FromData};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{Ignite, Rocket, Sentinel};

use crate::{Reply, VerifiedWebhook, WebhookRejection, pusher_missing, read_limited};

/// The named limit (`[default.limits] pusher-webhook = "2 MiB"`) that overrides
/// [`Pusher::webhook_body_limit`], lower or higher.
const WEBHOOK_LIMIT: &str = "pusher-webhook";

#[rocket::async_trait]
impl<'r> FromData<'r> for VerifiedWebhook {
    type Error = WebhookRejection;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let Some(pusher) = req.rocket().state::<Pusher>() else {
            missing_pusher("PusherFairing");
            return reject(WebhookRejection::MissingPusher);
        };
        let header = |name| header_value(req.headers().get(name).map(str::as_bytes));
        let (key, signature) = (header(KEY_HEADER), header(SIGNATURE_HEADER));
        // The cheap checks first: a request without a known key and a well-formed signature is refused
        // before its body is read.
        if let Err(e) = check_webhook_headers(pusher, key, signature) {
            return reject(WebhookRejection::Invalid(e));
        }
        let limit = pusher.webhook_body_limit_bytes();
        let verified = match read_limited(req, data, Some(WEBHOOK_LIMIT), limit).await {
            // Read with the named limit when set, which may be larger than the client's: not checked again.
            Ok(body) => verify_webhook(pusher, key, signature, &body),
            Err(e) => Err(e.into()),
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

impl<'r> Responder<'r, 'static> for WebhookRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(self.response()).respond_to(req)
    }
}
