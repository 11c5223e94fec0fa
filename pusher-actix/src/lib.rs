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

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use pusher::Pusher;
use pusher::integration::__private::BodyError;
use pusher::integration::AuthResponse;

/// How to put the client where the extractors and routes look for it (logged when it is missing).
const MISSING_PUSHER_HINT: &str = "App::app_data(web::Data::new(pusher)), or, with the client inside \
     your own state struct, App::app_data(PusherFrom::state::<YourState>())";

/// An app state struct that holds the [`Pusher`] client: the actix counterpart of axum's `FromRef`.
/// Implement it on your state, register the state as `web::Data<YourState>` and
/// [`PusherFrom::state::<YourState>()`](PusherFrom::state) in the app data, and the routes and
/// [`VerifiedWebhook`] find the client there.
///
/// ```
/// use actix_web::{App, web};
/// use pusher::Pusher;
/// use pusher_actix::{PusherFrom, PusherState};
///
/// struct AppState {
///     pusher: Pusher,
///     // … your own fields
/// }
///
/// impl PusherState for AppState {
///     fn pusher(&self) -> &Pusher {
///         &self.pusher
///     }
/// }
///
/// let state = web::Data::new(AppState { pusher: Pusher::builder("1", "key", "secret").build()? });
/// let app = App::new().app_data(state).app_data(PusherFrom::state::<AppState>());
/// # let _ = app;
/// # Ok::<(), pusher::Error>(())
/// ```
pub trait PusherState: Send + Sync + 'static {
    /// The client.
    fn pusher(&self) -> &Pusher;
}

/// Where the routes and [`VerifiedWebhook`] find the client when it is not a `web::Data<Pusher>` of its
/// own: put `PusherFrom::state::<YourState>()` in the app data (see [`PusherState`]).
#[derive(Clone, Copy)]
pub struct PusherFrom(fn(&HttpRequest) -> Option<Pusher>);

impl PusherFrom {
    /// The client inside the app's `web::Data<S>`.
    pub fn state<S: PusherState>() -> Self {
        PusherFrom(|req| req.app_data::<web::Data<S>>().map(|s| s.pusher().clone()))
    }
}

impl std::fmt::Debug for PusherFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PusherFrom")
    }
}

/// The client from `app_data`: `web::Data<Pusher>`, else through [`PusherFrom`].
fn pusher_of(req: &HttpRequest) -> Option<Pusher> {
    if let Some(pusher) = req.app_data::<web::Data<Pusher>>() {
        return Some(Pusher::clone(pusher));
    }
    req.app_data::<PusherFrom>().and_then(|from| (from.0)(req))
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
    // actix ends the payload when the peer closes its side: a body shorter than its declared length was cut
    // off, and is unreadable (as axum and Rocket report it), never taken as complete.
    if declared.is_some_and(|n| n != body.len() as u64) {
        return Err(BodyError::Unreadable);
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
