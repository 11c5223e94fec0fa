//! pusher-axum against the core's conformance suite (driven with `oneshot`), plus axum specifics.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use pusher::Pusher;
use pusher::integration::conformance::{self, Harness, SuiteUser, TestRequest, TestResponse};
use pusher_axum::{AuthRejection, ChannelAuthRequest, VerifiedWebhook};
use tower::ServiceExt;

/// The suite's user, extracted from the `x-suite-user` header.
#[derive(Clone)]
struct User(SuiteUser);

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = StatusCode;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let v = parts
            .headers
            .get(conformance::USER_HEADER)
            .and_then(|v| v.to_str().ok());
        SuiteUser::from_header(v)
            .map(User)
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

async fn webhook(hook: VerifiedWebhook) -> Json<pusher::Webhook> {
    Json(hook.0)
}

fn suite_app() -> Router {
    Router::new()
        .merge(pusher_axum::routes(
            conformance::authorizer().map_user(|u: User| u.0),
        ))
        .route(conformance::WEBHOOK_PATH, post(webhook))
        .with_state(conformance::pusher())
}

struct Oneshot(Router);

#[async_trait]
impl Harness for Oneshot {
    async fn call(&self, request: TestRequest) -> TestResponse {
        let mut b = Request::builder().method(request.method).uri(&request.path);
        for (k, v) in &request.headers {
            b = b.header(k, v);
        }
        let resp = self
            .0
            .clone()
            .oneshot(b.body(Body::from(request.body)).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        TestResponse {
            status,
            content_type,
            body,
        }
    }
}

#[tokio::test]
async fn conformance_suite() {
    let checked = conformance::run(&Oneshot(suite_app())).await;
    assert!(checked > 30, "{checked} requests checked");
}

#[derive(Clone)]
struct AppState {
    pusher: Pusher,
    name: &'static str,
}

impl FromRef<AppState> for Pusher {
    fn from_ref(s: &AppState) -> Pusher {
        s.pusher.clone()
    }
}

async fn custom_auth(
    State(state): State<AppState>,
    req: ChannelAuthRequest,
) -> Result<Json<pusher::ChannelAuth>, AuthRejection> {
    assert_eq!(state.name, "app");
    state
        .pusher
        .authenticate(&req.channel_name, &req.socket_id, None)
        .map(Json)
        .map_err(|_| AuthRejection(pusher::integration::AuthError::Forbidden))
}

#[tokio::test]
async fn app_state_struct_and_custom_handler() {
    let state = AppState {
        pusher: conformance::pusher(),
        name: "app",
    };
    let app: Router = Router::new()
        .route("/custom-auth", post(custom_auth))
        .merge(pusher_axum::routes(
            conformance::authorizer().map_user(|u: User| u.0),
        ))
        .route("/hooks", post(webhook))
        .with_state(state);
    let h = Oneshot(app);
    let call = |path: &str, body: &str, user: Option<&str>| {
        let mut headers = vec![(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )];
        if let Some(u) = user {
            headers.push((conformance::USER_HEADER.to_owned(), u.to_owned()));
        }
        TestRequest {
            method: "POST",
            path: path.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    };
    let r = h
        .call(call(
            "/custom-auth",
            "socket_id=1.2&channel_name=private-x",
            None,
        ))
        .await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["auth"].as_str().unwrap().starts_with("suite-key:"));
    let r = h
        .call(call(
            "/custom-auth",
            "socket_id=nope&channel_name=private-x",
            None,
        ))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .call(call(
            "/pusher/auth",
            "socket_id=1.2&channel_name=private-allowed-1",
            Some("ann"),
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = h.call(call("/hooks", "{}", None)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "missing X-Pusher-Key header"
    );
}

#[tokio::test]
async fn rejection_bodies_never_contain_the_secret() {
    for e in [
        pusher::WebhookError::InvalidSignature,
        pusher::WebhookError::UnknownKey,
        pusher::WebhookError::Stale,
    ] {
        let resp = pusher_axum::WebhookRejection::Invalid(e).into_response();
        assert_eq!(resp.status().as_u16(), e.status());
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(text, e.reason());
        assert!(!text.contains(conformance::SECRET));
    }
}
