#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod webhook;

pub use auth::routes;
pub use pusher::integration::{Authorizer, ChannelParams, Decision, RouteError};

pusher::integration_types!();
pusher::integration_types!(@auth_config);

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use pusher::Pusher;
use pusher::integration::{AuthResponse, BodyError};

/// How to put the client where the extractors and routes look for it (logged when it is missing).
const MISSING_PUSHER_HINT: &str = "App::app_data(web::Data::new(pusher))";

/// The client from `app_data` (`web::Data<Pusher>`).
fn pusher_of(req: &HttpRequest) -> Option<web::Data<Pusher>> {
    req.app_data::<web::Data<Pusher>>().cloned()
}

/// Reads the raw payload, refusing early when `Content-Length` is over `limit` and stopping as soon as the
/// bytes read pass it.
async fn read_body(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Converts a core response (status, content type, body) into an actix response.
fn into_response(r: AuthResponse) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for header in r.headers() {
        response.insert_header(header);
    }
    response.body(r.body)
}
