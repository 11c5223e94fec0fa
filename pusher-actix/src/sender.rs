//! [`SenderSocketId`] as an actix extractor (from the request head only), and [`SenderSocketIdRejection`]
//! as a `ResponseError`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use pusher::integration::{SOCKET_ID_HEADER, sender_socket_id};

use crate::{SenderSocketId, SenderSocketIdRejection, into_response};

impl FromRequest for SenderSocketId {
    type Error = SenderSocketIdRejection;
    type Future = Ready<Result<Self, SenderSocketIdRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let values = req
            .headers()
            .get_all(SOCKET_ID_HEADER)
            .map(|v| v.as_bytes());
        ready(
            sender_socket_id(values)
                .map(SenderSocketId)
                .map_err(SenderSocketIdRejection),
        )
    }
}

impl ResponseError for SenderSocketIdRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.0.response())
    }
}
