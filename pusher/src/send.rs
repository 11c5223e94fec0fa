//! Sending one signed request through the [`HttpBackend`] seam with the [`RetryPolicy`], and decoding its
//! JSON response.
//!
//! Logging: every attempt, retry and failure is a DEBUG event inside a DEBUG `pusher.request` span; the
//! outcome itself is the caller's `Result`, so nothing is logged at INFO or WARN.

use std::time::Instant;

use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::http::{HttpBackend, HttpRequest, HttpResponse, Method};
use crate::retry::{Replay, RetryPolicy};

/// The replay class of a request by its method: a GET is safe to repeat, a POST without an idempotency key
/// is not.
pub(crate) fn replay_of(method: Method) -> Replay {
    match method {
        Method::Get => Replay::Safe,
        Method::Post => Replay::Unkeyed,
    }
}

/// The replay class of a POST: keyed or not.
pub(crate) fn post_replay(keyed: bool) -> Replay {
    if keyed {
        Replay::Keyed
    } else {
        Replay::Unkeyed
    }
}

/// Sends a signed request with the retry policy and decodes its JSON response (an empty body is
/// `T::default()`). Every attempt sends the same bytes (the same idempotency key, if any); `replay` says
/// which failures may be retried ([`crate::retry`]). `sub_path` is for the span only.
pub(crate) async fn execute<T: DeserializeOwned + Default>(
    backend: &dyn HttpBackend,
    retry: &RetryPolicy,
    request: HttpRequest,
    sub_path: &str,
    replay: Replay,
) -> Result<T> {
    let method = request.method;
    let span = tracing::debug_span!(
        "pusher.request",
        method = method.as_str(),
        path = %sub_path,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    async move {
        let response = send_with_retries(backend, retry, request, replay).await?;
        decode(&response)
    }
    .instrument(span)
    .await
}

/// The attempts of one request: the first 2xx response, or the last error.
async fn send_with_retries(
    backend: &dyn HttpBackend,
    retry: &RetryPolicy,
    request: HttpRequest,
    replay: Replay,
) -> Result<HttpResponse> {
    let started = Instant::now();
    let span = tracing::Span::current();
    let mut attempt = 0u32;
    loop {
        let result = match backend.send(request.clone()).await {
            Ok(r) if (200..300).contains(&r.status) => Ok(r),
            Ok(r) => Err(Error::from_status(r.status, &r.body, r.retry_after)),
            Err(e) => Err(e),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        span.record("latency_ms", latency_ms);
        let error = match result {
            Ok(r) => {
                span.record("status", r.status);
                tracing::debug!(
                    status = r.status,
                    latency_ms,
                    attempt,
                    "pusher request done"
                );
                return Ok(r);
            }
            Err(e) => e,
        };
        if let Some(s) = error.status() {
            span.record("status", s);
        }
        attempt += 1;
        let Some(delay) = retry.delay_for(replay, attempt, &error) else {
            tracing::debug!(error = %error, latency_ms, attempt, "pusher request failed");
            return Err(error);
        };
        tracing::debug!(error = %error, attempt, delay_ms = delay.as_millis() as u64, "pusher request retried");
        // The backend's timer: no tokio runtime is assumed here.
        if let Err(why) = backend.sleep(delay).await {
            tracing::debug!(error = %error, reason = %why, latency_ms, "pusher request failed, not retried");
            return Err(error);
        }
    }
}

/// The JSON of a 2xx response; an empty (or blank) body is `T::default()`, a body that does not decode is
/// [`Error::InvalidResponse`] with the start of the body.
pub(crate) fn decode<T: DeserializeOwned + Default>(response: &HttpResponse) -> Result<T> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| Error::invalid_response(response.status, &response.body, e))
}
