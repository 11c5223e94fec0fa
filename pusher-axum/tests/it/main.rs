//! pusher-axum against the core's conformance suite (driven with `oneshot`), plus axum specifics.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use http_body_util::BodyExt;
use pusher::Pusher;
use pusher::integration::AuthError;
use pusher::integration::conformance::{self, Harness, SuiteUser, TestRequest, TestResponse};
use pusher_axum::{
    AuthConfig, AuthRejection, ChannelAuthBody, SenderSocketId, UserAuthBody, VerifiedWebhook,
};
use tower::ServiceExt;

/// The suite's user, extracted from the `x-suite-user` header (`SuiteUser` is foreign, hence the newtype).
#[derive(Clone)]
struct User(SuiteUser);

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let v = parts
            .headers
            .get(conformance::USER_HEADER)
            .and_then(|v| v.to_str().ok());
        if v == Some(conformance::OUTAGE_USER) {
            return Err(StatusCode::INTERNAL_SERVER_ERROR); // the session store is down
        }
        SuiteUser::from_header(v)
            .map(User)
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

async fn sender(sender: SenderSocketId) -> String {
    sender
        .0
        .unwrap_or_else(|| conformance::NO_SENDER.to_owned())
}

async fn webhook(hook: VerifiedWebhook) -> Json<pusher::Webhook> {
    Json(hook.0)
}

/// The suite app: any state `S` that gives the suite's client.
fn suite_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Pusher: FromRef<S>,
{
    Router::new()
        .merge(pusher_axum::routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap())
        .route(conformance::WEBHOOK_PATH, post(webhook))
        .route(conformance::SENDER_PATH, post(sender))
}

struct Oneshot(Router);

impl Oneshot {
    async fn send(&self, req: Request<Body>) -> TestResponse {
        let resp = self.0.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            content_type,
            headers,
            body,
        }
    }
}

#[async_trait]
impl Harness for Oneshot {
    async fn call(&self, request: TestRequest) -> TestResponse {
        let mut b = Request::builder().method(request.method).uri(&request.path);
        for (k, v) in &request.headers {
            b = b.header(k, v);
        }
        self.send(b.body(Body::from(request.body)).unwrap()).await
    }
}

/// A form `POST`; `headers` are added or replace the form content type.
fn post_form(path: &str, headers: &[(&'static str, &str)], body: &str) -> Request<Body> {
    let mut req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .insert(*k, HeaderValue::from_str(v).unwrap());
    }
    req
}

fn text(r: &TestResponse) -> &str {
    std::str::from_utf8(&r.body).unwrap()
}

#[tokio::test]
async fn conformance_suite() {
    let app = suite_routes().with_state(conformance::pusher());
    let checked = conformance::run(&Oneshot(app)).await;
    assert!(checked > 30, "{checked} requests checked");
}

/// Serves `app` on a free port of 127.0.0.1.
async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn conformance_suite_over_a_socket() {
    let addr = serve(suite_routes().with_state(conformance::pusher())).await;
    let checked = conformance::run_socket(addr).await;
    assert!(checked > 60, "{checked} requests checked");
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

#[tokio::test]
async fn conformance_suite_with_an_app_state_struct() {
    let state = AppState {
        pusher: conformance::pusher(),
        name: "app",
    };
    let app = suite_routes().with_state(state);
    let checked = conformance::run(&Oneshot(app)).await;
    assert!(checked > 30, "{checked} requests checked");
}

async fn custom_auth(
    State(state): State<AppState>,
    req: ChannelAuthBody,
) -> Result<Json<pusher::ChannelAuth>, AuthRejection> {
    assert_eq!(state.name, "app");
    if req.channel_name == "private-nope" {
        return Err(AuthError::Forbidden.into());
    }
    let auth = state
        .pusher
        .authorize_channel(&req.channel_name, &req.socket_id, None)
        .map_err(|_| AuthError::Misconfigured)?;
    Ok(Json(auth))
}

async fn custom_user_auth(
    State(pusher): State<Pusher>,
    req: UserAuthBody,
) -> Result<Json<pusher::UserAuth>, AuthRejection> {
    let user = pusher::UserData::new("ann");
    let auth = pusher
        .authenticate_user(&req.socket_id, &user)
        .map_err(|_| AuthError::Misconfigured)?;
    Ok(Json(auth))
}

#[tokio::test]
async fn custom_handlers_with_the_auth_extractors() {
    let state = AppState {
        pusher: conformance::pusher(),
        name: "app",
    };
    let app = Oneshot(
        Router::new()
            .route("/custom-auth", post(custom_auth))
            .with_state(state),
    );
    let r = app
        .send(post_form(
            "/custom-auth",
            &[],
            "socket_id=1.2&channel_name=private-x",
        ))
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let expected = pusher::sign_webhook(conformance::SECRET, b"1.2:private-x");
    assert_eq!(v["auth"], format!("{}:{expected}", conformance::KEY));
    for (body, status, reason) in [
        (
            "socket_id=nope&channel_name=private-x",
            400,
            "missing or invalid socket_id",
        ),
        ("socket_id=1.2&channel_name=private-nope", 403, "forbidden"),
    ] {
        let r = app.send(post_form("/custom-auth", &[], body)).await;
        assert_eq!((r.status, text(&r)), (status, reason));
        assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    }
    let r = app
        .send(post_form(
            "/custom-auth",
            &[("content-type", "text/xml")],
            "<a/>",
        ))
        .await;
    assert_eq!((r.status, text(&r)), (400, "malformed request body"));

    // The extractors' limit comes from an `AuthConfig` extension (default 64 KiB).
    let app = Oneshot(
        Router::new()
            .route("/user-auth", post(custom_user_auth))
            .with_state(conformance::pusher()),
    );
    let small = Oneshot(
        Router::new()
            .route("/user-auth", post(custom_user_auth))
            .layer(Extension(AuthConfig::default().body_limit(16)))
            .with_state(conformance::pusher()),
    );
    let body = "socket_id=1234.5678&pad=xx";
    let r = app.send(post_form("/user-auth", &[], body)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = small.send(post_form("/user-auth", &[], body)).await;
    assert_eq!((r.status, text(&r)), (413, "request body too large"));
    let big = format!("socket_id=1.2&pad={}", "x".repeat(70_000));
    let r = app.send(post_form("/user-auth", &[], &big)).await;
    assert_eq!(r.status, 413);
}

fn signed_webhook_request(
    key: HeaderValue,
    signature: HeaderValue,
    body: &[u8],
    content_length: Option<usize>,
) -> Request<Body> {
    let mut b = Request::post(conformance::WEBHOOK_PATH)
        .header("content-type", "application/json")
        .header("x-pusher-key", key)
        .header("x-pusher-signature", signature);
    if let Some(n) = content_length {
        b = b.header("content-length", n);
    }
    b.body(Body::from(body.to_vec())).unwrap()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[tokio::test]
async fn webhook_rejections_never_contain_the_secret_or_the_expected_signature() {
    let app = Oneshot(suite_routes().with_state(conformance::pusher()));
    let body = format!(r#"{{"time_ms":{},"events":[]}}"#, now_ms());
    let expected = pusher::sign_webhook(conformance::SECRET, body.as_bytes());
    let key = HeaderValue::from_static(conformance::KEY);

    let r = app
        .send(signed_webhook_request(
            key.clone(),
            HeaderValue::from_str(&expected).unwrap(),
            body.as_bytes(),
            None,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));

    let cases = [
        (
            key.clone(),
            HeaderValue::from_str(&pusher::sign_webhook("other", body.as_bytes())).unwrap(),
            401,
            "invalid signature",
        ),
        (
            HeaderValue::from_static("other"),
            HeaderValue::from_str(&expected).unwrap(),
            401,
            "unknown X-Pusher-Key",
        ),
        // Header values that are not UTF-8 are ignored (Rocket drops them): both count as missing.
        (
            HeaderValue::from_bytes(b"\xffkey").unwrap(),
            HeaderValue::from_str(&expected).unwrap(),
            400,
            "missing X-Pusher-Key header",
        ),
        (
            key.clone(),
            HeaderValue::from_bytes(b"\xff").unwrap(),
            400,
            "missing X-Pusher-Signature header",
        ),
    ];
    for (k, sig, status, reason) in cases {
        let r = app
            .send(signed_webhook_request(k, sig, body.as_bytes(), None))
            .await;
        assert_eq!((r.status, text(&r)), (status, reason));
        assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert!(!text(&r).contains(conformance::SECRET));
        assert!(!text(&r).contains(&expected));
    }

    // The rejection on its own answers the same way.
    for e in [
        pusher::WebhookError::InvalidSignature,
        pusher::WebhookError::Stale,
    ] {
        let resp: Response = pusher_axum::WebhookRejection::from(e).into_response();
        assert_eq!(resp.status().as_u16(), e.status());
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(b, e.reason().as_bytes());
    }
}

#[tokio::test]
async fn an_over_limit_content_length_is_refused_before_reading() {
    let app = Oneshot(suite_routes().with_state(conformance::pusher()));
    let body = format!(r#"{{"time_ms":{},"events":[]}}"#, now_ms());
    let sig = pusher::sign_webhook(conformance::SECRET, body.as_bytes());
    let r = app
        .send(signed_webhook_request(
            HeaderValue::from_static(conformance::KEY),
            HeaderValue::from_str(&sig).unwrap(),
            body.as_bytes(),
            Some(conformance::WEBHOOK_LIMIT + 1),
        ))
        .await;
    assert_eq!((r.status, text(&r)), (413, "webhook body too large"));

    let mut req = post_form(
        "/pusher/auth",
        &[(conformance::USER_HEADER, "ann")],
        "socket_id=1.2&channel_name=private-allowed-1",
    );
    req.headers_mut()
        .insert("content-length", HeaderValue::from(10_000_000));
    let r = app.send(req).await;
    assert_eq!((r.status, text(&r)), (413, "request body too large"));
}

/// A user extractor whose rejection is not `Send`: `routes` does not need it to be.
#[derive(Clone)]
struct LocalUser;

struct LocalRejection(#[allow(dead_code)] std::rc::Rc<()>);

impl IntoResponse for LocalRejection {
    fn into_response(self) -> Response {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for LocalUser {
    type Rejection = LocalRejection;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, LocalRejection> {
        Err(LocalRejection(std::rc::Rc::new(())))
    }
}

#[tokio::test]
async fn a_failing_user_extractor_means_not_signed_in() {
    let rules = pusher_axum::Authorizer::new().channel("private-{x}", |_: LocalUser, _| async {
        Ok(pusher_axum::Decision::Allow)
    });
    let app = Oneshot(
        Router::new()
            .merge(pusher_axum::routes(rules).unwrap())
            .with_state(conformance::pusher()),
    );
    let r = app
        .send(post_form(
            "/pusher/auth",
            &[],
            "socket_id=1.2&channel_name=private-a",
        ))
        .await;
    assert_eq!((r.status, text(&r)), (401, "not signed in"));
}

#[test]
fn invalid_or_duplicate_paths_are_an_error_at_setup() {
    for rules in [
        conformance::authorizer().auth_path("/pusher/{x}"),
        conformance::authorizer().auth_path("pusher/auth"),
        conformance::authorizer().batch_auth_path("/pusher/auth"),
    ] {
        let routes = pusher_axum::routes::<_, _, Pusher>(rules.map_user(|u: User| u.0));
        assert!(routes.is_err(), "{:?}", routes.err());
    }
}

#[test]
fn verified_webhook_first_time_remembers_it_in_the_dedup() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body =
        format!(r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"a"}}]}}"#);
    let pusher = conformance::pusher();
    let signature = pusher::sign_webhook(conformance::SECRET, body.as_bytes());
    let hook = VerifiedWebhook(
        pusher
            .validate_webhook(Some(conformance::KEY), Some(&signature), body.as_bytes())
            .unwrap(),
    );
    let dedup = pusher::dedup::WebhookDedup::default();
    assert!(hook.first_time(&dedup));
    assert!(!hook.first_time(&dedup), "a retry");
    assert!(
        !dedup.first_time(&hook),
        "the same key as WebhookDedup::first_time (Deref)"
    );
    assert_eq!(dedup.len(), 1);
}
