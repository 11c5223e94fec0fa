//! [`VerifiedWebhook`] as an axum extractor, and [`WebhookRejection`] as a response. The client comes from
//! the state through [`FromRef`]; the headers are checked first, then the body is read up to
//! [`Pusher::webhook_body_limit`]. As it reads the body, `VerifiedWebhook` must be the handler's last
//! argument.

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use pusher::Pusher;
use pusher::integration::__private::{
    KEY_HEADER, SIGNATURE_HEADER, check_webhook_headers, header_value, verify_webhook,
};

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
        let header = |name| header_value(parts.headers.get_all(name).iter().map(|v| v.as_bytes()));
        let (key, signature) = (header(KEY_HEADER), header(SIGNATURE_HEADER));
        // The cheap checks first: a request without a known key and a well-formed signature is refused
        // before its body is read.
        check_webhook_headers(&pusher, key, signature)?;
        let body = read_limited(&parts.headers, body, pusher.webhook_body_limit_bytes())
            .await
            .map_err(|e| WebhookRejection::Invalid(e.into()))?;
        verify_webhook(&pusher, key, signature, &body)
            .map(VerifiedWebhook)
            .map_err(WebhookRejection::Invalid)
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        into_response(self.response())
    }
}
