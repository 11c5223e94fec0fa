#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod webhook;

pub use auth::{AuthConfig, AuthRejection, ChannelAuthRequest, UserAuthRequest, routes};
pub use pusher::integration::{Authorizer, ChannelParams, Decision};
pub use webhook::{VerifiedWebhook, WebhookRejection};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pusher::integration::AuthResponse;

/// Why a body could not be read.
pub(crate) enum ReadError {
    /// Over the limit (declared by `Content-Length` or seen while reading).
    TooLarge,
    /// The body stream failed (broken connection, bad chunked encoding…).
    Failed,
}

/// Reads a body with a limit, refusing an over-limit `Content-Length` before reading anything and stopping
/// as soon as the bytes read pass the limit.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ReadError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Err(_) => Err(ReadError::Failed),
    }
}

/// Converts the core's framework-neutral response.
pub(crate) fn into_response(r: AuthResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
}
