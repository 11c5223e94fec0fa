//! [`VerifiedWebhook`] as an actix extractor, and [`WebhookRejection`] as a `ResponseError`. The client is
//! the app's `web::Data<Pusher>` (missing: 500, and a log telling how to add it); the body is read up to
//! [`Pusher::webhook_body_limit`](pusher::Pusher::webhook_body_limit).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use pusher::integration::__private::{
    KEY_HEADER, SIGNATURE_HEADER, check_webhook_headers, header_value, missing_pusher,
    verify_webhook,
};

use crate::{
    MISSING_PUSHER_HINT, VerifiedWebhook, WebhookRejection, into_response, pusher_of, read_body,
};

impl FromRequest for VerifiedWebhook {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookRejection>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let Some(pusher) = pusher_of(&req) else {
                // Logs how to add the client; the response is built by `WebhookRejection`.
                let _ = missing_pusher(MISSING_PUSHER_HINT);
                return Err(WebhookRejection::MissingPusher);
            };
            let header = |name| header_value(req.headers().get_all(name).map(|v| v.as_bytes()));
            let (key, signature) = (header(KEY_HEADER), header(SIGNATURE_HEADER));
            // The cheap checks first: a request without a known key and a well-formed signature is
            // refused before its body is read.
            check_webhook_headers(&pusher, key, signature)?;
            let body = read_body(&req, payload, pusher.webhook_body_limit_bytes())
                .await
                .map_err(|e| WebhookRejection::Invalid(e.into()))?;
            verify_webhook(&pusher, key, signature, &body)
                .map(VerifiedWebhook)
                .map_err(WebhookRejection::Invalid)
        })
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        into_response(self.response())
    }
}
