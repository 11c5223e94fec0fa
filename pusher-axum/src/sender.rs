//! [`SenderSocketId`] as an axum extractor (from the request head only, so it may come before any body
//! extractor), and [`SenderSocketIdRejection`] as a response.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use pusher::integration::{SOCKET_ID_HEADER, sender_socket_id};

use crate::{SenderSocketId, SenderSocketIdRejection, into_response};

impl<S: Send + Sync> FromRequestParts<S> for SenderSocketId {
    type Rejection = SenderSocketIdRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let values = parts
            .headers
            .get_all(SOCKET_ID_HEADER)
            .iter()
            .map(|v| v.as_bytes());
        Ok(SenderSocketId(sender_socket_id(values)?))
    }
}

impl IntoResponse for SenderSocketIdRejection {
    fn into_response(self) -> Response {
        into_response(self.0.response())
    }
}
