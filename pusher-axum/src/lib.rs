#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod sender;
mod webhook;

pub use auth::routes;
pub use pusher::UserData;
pub use pusher::integration::{
    Authorizer, ChannelContext, ChannelParams, Decision, RouteError, RuleError, UserContext,
};

pusher::integration_types!();
pusher::integration_types!(@auth_config);

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pusher::integration::__private::BodyError;
use pusher::integration::AuthResponse;

/// Reads a body with a limit, refusing an over-limit `Content-Length` before reading anything and stopping
/// as soon as the bytes read pass the limit.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// Converts the core's framework-neutral response, with exactly its headers.
pub(crate) fn into_response(r: AuthResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let names = r.headers();
    // The body is moved, not copied.
    let mut response = (status, r.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in names {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
