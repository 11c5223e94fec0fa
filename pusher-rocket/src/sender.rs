//! [`SenderSocketId`] as a Rocket request guard, and [`SenderSocketIdRejection`] as a responder.

use pusher::integration::{SOCKET_ID_HEADER, sender_socket_id};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder};

use crate::{Reply, SenderSocketId, SenderSocketIdRejection};

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SenderSocketId {
    type Error = SenderSocketIdRejection;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let values = req.headers().get(SOCKET_ID_HEADER).map(str::as_bytes);
        match sender_socket_id(values) {
            Ok(id) => Outcome::Success(SenderSocketId(id)),
            Err(e) => Outcome::Error((Status::new(e.status()), SenderSocketIdRejection(e))),
        }
    }
}

impl<'r> Responder<'r, 'static> for SenderSocketIdRejection {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Reply(self.0.response()).respond_to(req)
    }
}
