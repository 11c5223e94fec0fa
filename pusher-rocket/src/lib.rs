#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod fairing;
mod webhook;

pub use auth::{AuthRejection, ChannelAuthRequest, UserAuthRequest, routes};
pub use fairing::PusherFairing;
pub use pusher::integration::{Authorizer, ChannelParams, Decision};
pub use webhook::{VerifiedWebhook, WebhookRejection};

use std::io::Cursor;

use pusher::integration::AuthResponse;
use rocket::data::{ByteUnit, Data};
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

/// The core's framework-neutral response as a Rocket responder.
pub(crate) struct Reply(pub AuthResponse);

impl<'r> Responder<'r, 'static> for Reply {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let ct = ContentType::parse_flexible(self.0.content_type).unwrap_or(ContentType::Plain);
        Response::build()
            .status(Status::new(self.0.status))
            .header(ct)
            .sized_body(self.0.body.len(), Cursor::new(self.0.body))
            .ok()
    }
}

/// Why a body could not be read.
pub(crate) enum ReadError {
    TooLarge,
    Failed,
}

/// Reads the body up to the named limit `name` (from Rocket's `limits` config) or `default`.
pub(crate) async fn read_limited(
    req: &Request<'_>,
    data: Data<'_>,
    name: &str,
    default: usize,
) -> Result<Vec<u8>, ReadError> {
    let limit = req
        .limits()
        .get(name)
        .unwrap_or_else(|| ByteUnit::from(default));
    let declared = req
        .headers()
        .get_one("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| limit < n) {
        return Err(ReadError::TooLarge);
    }
    match data.open(limit).into_bytes().await {
        Ok(b) if b.is_complete() => Ok(b.into_inner()),
        Ok(_) => Err(ReadError::TooLarge),
        Err(_) => Err(ReadError::Failed),
    }
}
