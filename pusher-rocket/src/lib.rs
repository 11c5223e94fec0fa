#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod fairing;
mod sender;
mod webhook;

pub use auth::routes;
pub use fairing::PusherFairing;
pub use pusher::UserData;
pub use pusher::integration::{
    Authorizer, ChannelContext, ChannelParams, Decision, RouteError, RuleError, UserContext,
};

pusher::integration_types!();

use std::io::Cursor;

use pusher::integration::__private::BodyError;
use pusher::integration::AuthResponse;
use rocket::data::{ByteUnit, Data};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{Ignite, Rocket};

/// The core's framework-neutral response as a Rocket responder.
pub(crate) struct Reply(pub(crate) AuthResponse);

impl<'r> Responder<'r, 'static> for Reply {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(Status::new(self.0.status));
        for (name, value) in self.0.headers() {
            response.raw_header(name, value);
        }
        let body = self.0.body;
        response.sized_body(body.len(), Cursor::new(body)).ok()
    }
}

/// Reads the body up to Rocket's named limit `name` when one is configured, else `default` bytes. An
/// over-limit `Content-Length` is refused before anything is read.
pub(crate) async fn read_limited(
    req: &Request<'_>,
    data: Data<'_>,
    name: Option<&str>,
    default: usize,
) -> Result<Vec<u8>, BodyError> {
    let limit = name
        .and_then(|n| req.limits().get(n))
        .unwrap_or_else(|| ByteUnit::from(default));
    let declared = req
        .headers()
        .get_one("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.as_u64()) {
        return Err(BodyError::TooLarge);
    }
    match data.open(limit).into_bytes().await {
        Ok(bytes) if bytes.is_complete() => Ok(bytes.into_inner()),
        Ok(_) => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// The sentinels' check: whether no `Pusher` is managed, logging the fix when so.
pub(crate) fn pusher_missing(rocket: &Rocket<Ignite>, needed_by: &str) -> bool {
    let missing = rocket.state::<pusher::Pusher>().is_none();
    if missing {
        tracing::error!(
            "pusher: {needed_by} needs a managed pusher::Pusher; attach PusherFairing::default() \
             (configuration key `pusher`) or PusherFairing::with(pusher)"
        );
    }
    missing
}
