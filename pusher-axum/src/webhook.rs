//! [`VerifiedWebhook`] as an axum extractor, and [`WebhookRejection`] as a response. The client comes from
//! the state through [`FromRef`]; the body is read up to [`Pusher::webhook_body_limit`]. As it reads the
//! body, `VerifiedWebhook` must be the handler's last argument.

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use pusher::Pusher;
use pusher::integration::{KEY_HEADER, SIGNATURE_HEADER, verify_webhook};

use crate::{VerifiedWebhook, WebhookRejection, into_response, read_limited};

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    Pusher: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebhookRejection> {
        let pusher = Pusher::from_ref(state);
        let (parts, body) = req.into_parts();
        let body = read_limited(&parts.headers, body, pusher.webhook_body_limit())
            .await
            .map_err(|e| WebhookRejection::Invalid(e.into()))?;
        let header = |name| parts.headers.get(name).map(|v| v.as_bytes());
        verify_webhook(&pusher, header(KEY_HEADER), header(SIGNATURE_HEADER), &body)
            .map(VerifiedWebhook)
            .map_err(WebhookRejection::Invalid)
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        into_response(self.response())
    }
}
