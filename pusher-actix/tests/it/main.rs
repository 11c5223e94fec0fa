//! pusher-actix tests: the core's conformance suite and actix-specific behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, error, test, web};
use async_trait::async_trait;
use pusher::Pusher;
use pusher::integration::AuthError;
use pusher::integration::conformance::{self, Harness, SuiteUser, TestRequest, TestResponse};
use pusher_actix::{
    AuthConfig, AuthRejection, ChannelAuthBody, SenderSocketId, VerifiedWebhook, routes,
};
use tokio::sync::{mpsc, oneshot};

/// The suite's user, from its header: a local extractor around the core's type.
#[derive(Clone)]
struct User(SuiteUser);

impl FromRequest for User {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req
            .headers()
            .get(conformance::USER_HEADER)
            .and_then(|v| v.to_str().ok());
        if value == Some(conformance::OUTAGE_USER) {
            // The session store is down.
            return ready(Err(error::ErrorInternalServerError("session store down")));
        }
        ready(
            SuiteUser::from_header(value)
                .map(User)
                .ok_or_else(|| error::ErrorUnauthorized("not signed in")),
        )
    }
}

async fn sender(sender: SenderSocketId) -> String {
    sender
        .0
        .unwrap_or_else(|| conformance::NO_SENDER.to_owned())
}

async fn webhook(hook: VerifiedWebhook) -> HttpResponse {
    HttpResponse::Ok().json(&hook.0)
}

type Job = (TestRequest, oneshot::Sender<TestResponse>);

/// actix's test service is not `Send`: it lives on its own thread with its own actix system, and the
/// harness (which must be `Send + Sync`) sends it requests over a channel.
struct ActixHarness {
    jobs: mpsc::UnboundedSender<Job>,
}

impl ActixHarness {
    fn start() -> Self {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = test::init_service(
                    App::new()
                        .app_data(web::Data::new(conformance::pusher()))
                        .service(routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap())
                        .route(conformance::WEBHOOK_PATH, web::post().to(webhook))
                        .route(conformance::SENDER_PATH, web::post().to(sender)),
                )
                .await;
                while let Some((request, reply)) = rx.recv().await {
                    let mut req = test::TestRequest::post().uri(&request.path);
                    for (k, v) in request.headers {
                        req = req.insert_header((k, v));
                    }
                    let resp =
                        test::call_service(&app, req.set_payload(request.body).to_request()).await;
                    let status = resp.status().as_u16();
                    let content_type = resp
                        .headers()
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let headers = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let body = test::read_body(resp).await.to_vec();
                    let _ = reply.send(TestResponse {
                        status,
                        content_type,
                        headers,
                        body,
                    });
                }
            });
        });
        ActixHarness { jobs }
    }
}

#[async_trait]
impl Harness for ActixHarness {
    async fn call(&self, request: TestRequest) -> TestResponse {
        let (reply, response) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .expect("the actix thread is running");
        response.await.expect("the actix thread answered")
    }
}

#[actix_web::test]
async fn conformance_suite() {
    let harness = ActixHarness::start();
    let checked = conformance::run(&harness).await;
    eprintln!("conformance suite: {checked} requests checked");
    assert!(checked > 30, "only {checked} checks ran");
}

/// Serves the suite app with a real `HttpServer` on a free port of 127.0.0.1, on its own thread.
fn serve() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(|| {
                App::new()
                    .app_data(web::Data::new(conformance::pusher()))
                    .service(routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap())
                    .route(conformance::WEBHOOK_PATH, web::post().to(webhook))
                    .route(conformance::SENDER_PATH, web::post().to(sender))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[tokio::test]
async fn conformance_suite_over_a_socket() {
    let addr = serve();
    let checked = conformance::run_socket(addr).await;
    assert!(checked > 60, "only {checked} checks ran");
}

/// A user extractor that counts its calls.
#[derive(Clone)]
struct Counted;

static COUNTED_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl FromRequest for Counted {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        COUNTED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ready(Ok(Counted))
    }
}

#[actix_web::test]
async fn the_user_extractor_runs_after_the_body_is_read_and_parsed() {
    let rules = pusher_actix::Authorizer::new()
        .channel("private-{x}", |_: Counted, _| async {
            Ok(pusher_actix::Decision::Allow)
        })
        .body_limit(64);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(conformance::pusher()))
            .service(routes(rules).unwrap()),
    )
    .await;
    let send = |body: String| {
        test::TestRequest::post()
            .uri("/pusher/auth")
            .insert_header(header::ContentType::form_url_encoded())
            .set_payload(body)
            .to_request()
    };
    let calls = || COUNTED_CALLS.load(std::sync::atomic::Ordering::SeqCst);
    let before = calls();
    let resp = test::call_service(&app, send("x".repeat(65))).await;
    assert_eq!(resp.status(), 413);
    let resp = test::call_service(&app, send("socket_id=nope".into())).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(calls(), before, "no user lookup for a refused body");
    let resp = test::call_service(&app, send("socket_id=1.2&channel_name=private-a".into())).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(calls(), before + 1);
}

#[actix_web::test]
async fn invalid_or_duplicate_paths_are_an_error_at_setup() {
    for rules in [
        conformance::authorizer().auth_path("/pusher/{x}"),
        conformance::authorizer().user_auth_path("/pusher/batch-auth"),
        conformance::authorizer().batch_auth_path("/pusher/auth"),
    ] {
        assert!(routes(rules.map_user(|u: User| u.0)).is_err());
    }
}

struct AppState {
    pusher: Pusher,
}

impl pusher_actix::PusherState for AppState {
    fn pusher(&self) -> &Pusher {
        &self.pusher
    }
}

#[actix_web::test]
async fn the_client_inside_an_app_state_struct() {
    let state = web::Data::new(AppState {
        pusher: conformance::pusher(),
    });
    let app = test::init_service(
        App::new()
            .app_data(state)
            .app_data(pusher_actix::PusherFrom::state::<AppState>())
            .service(routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap())
            .route(conformance::WEBHOOK_PATH, web::post().to(webhook)),
    )
    .await;
    let (body, sig) = signed_webhook();
    let req = test::TestRequest::post()
        .uri(conformance::WEBHOOK_PATH)
        .insert_header(("x-pusher-key", conformance::KEY))
        .insert_header(("x-pusher-signature", sig))
        .set_payload(body)
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 200);
    let req = test::TestRequest::post()
        .uri("/pusher/auth")
        .insert_header((conformance::USER_HEADER, "ann"))
        .insert_header(header::ContentType::form_url_encoded())
        .set_payload("socket_id=1.2&channel_name=private-allowed-1")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = test::read_body_json(resp).await;
    let expected = conformance::pusher()
        .authorize_channel("private-allowed-1", "1.2", None)
        .unwrap();
    assert_eq!(v["auth"], expected.auth.as_str());
}

fn signed_webhook() -> (Vec<u8>, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body = format!(r#"{{"time_ms":{now},"events":[]}}"#).into_bytes();
    let sig = pusher::sign_webhook(conformance::SECRET, &body);
    (body, sig)
}

async fn body_text(resp: actix_web::dev::ServiceResponse) -> String {
    String::from_utf8(test::read_body(resp).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn missing_pusher_is_a_500_with_a_short_body() {
    let app = test::init_service(
        App::new()
            .service(routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap())
            .route(conformance::WEBHOOK_PATH, web::post().to(webhook)),
    )
    .await;
    let (body, sig) = signed_webhook();
    let req = test::TestRequest::post()
        .uri(conformance::WEBHOOK_PATH)
        .insert_header(("x-pusher-key", conformance::KEY))
        .insert_header(("x-pusher-signature", sig))
        .set_payload(body)
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(body_text(resp).await, "server misconfigured");

    let req = test::TestRequest::post()
        .uri("/pusher/auth")
        .insert_header((conformance::USER_HEADER, "ann"))
        .insert_header(header::ContentType::form_url_encoded())
        .set_payload("socket_id=1.2&channel_name=private-allowed-1")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(body_text(resp).await, "server misconfigured");
}

#[actix_web::test]
async fn webhook_over_the_limit_is_refused_early_or_while_reading() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(conformance::pusher()))
            .route(conformance::WEBHOOK_PATH, web::post().to(webhook)),
    )
    .await;
    let mut req = test::TestRequest::post()
        .uri(conformance::WEBHOOK_PATH)
        .insert_header(("x-pusher-key", conformance::KEY))
        .insert_header(("x-pusher-signature", "0".repeat(64)))
        .set_payload(vec![b' '; conformance::WEBHOOK_LIMIT + 1])
        .to_request();
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(body_text(resp).await, "webhook body too large");

    // A declared length over the limit is refused before reading (once the headers pass).
    let mut req = test::TestRequest::post()
        .uri(conformance::WEBHOOK_PATH)
        .insert_header(("x-pusher-key", conformance::KEY))
        .insert_header(("x-pusher-signature", "0".repeat(64)))
        .set_payload("{}")
        .to_request();
    req.headers_mut().insert(
        header::CONTENT_LENGTH,
        (conformance::WEBHOOK_LIMIT + 1).into(),
    );
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 413);
}

#[actix_web::test]
async fn non_utf8_webhook_headers_are_missing() {
    let pusher = conformance::pusher();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(pusher.clone()))
            .route(conformance::WEBHOOK_PATH, web::post().to(webhook)),
    )
    .await;
    let (body, sig) = signed_webhook();
    let latin1 = header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    for (key, signature, reason) in [
        (
            latin1.clone(),
            sig.as_str().try_into().unwrap(),
            "missing X-Pusher-Key header",
        ),
        (
            conformance::KEY.try_into().unwrap(),
            latin1.clone(),
            "missing X-Pusher-Signature header",
        ),
    ] {
        let req = test::TestRequest::post()
            .uri(conformance::WEBHOOK_PATH)
            .insert_header(("x-pusher-key", key))
            .insert_header(("x-pusher-signature", signature))
            .set_payload(body.clone())
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(body_text(resp).await, reason);
    }
}

async fn custom_auth(
    pusher: web::Data<Pusher>,
    req: ChannelAuthBody,
) -> Result<HttpResponse, AuthRejection> {
    if req.channel_name != "private-custom" {
        return Err(AuthError::Forbidden.into());
    }
    let auth = pusher
        .authorize_channel(&req.channel_name, &req.socket_id, None)
        .map_err(|_| AuthError::Misconfigured)?;
    Ok(HttpResponse::Ok().json(auth))
}

#[actix_web::test]
async fn custom_handler_with_channel_auth_request() {
    let pusher = conformance::pusher();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(pusher.clone()))
            .app_data(AuthConfig::default().body_limit(100))
            .route("/custom-auth", web::post().to(custom_auth)),
    )
    .await;
    let send = |ct: &'static str, body: String| {
        test::TestRequest::post()
            .uri("/custom-auth")
            .insert_header((header::CONTENT_TYPE, ct))
            .set_payload(body)
            .to_request()
    };
    let form = "application/x-www-form-urlencoded";

    let resp = test::call_service(
        &app,
        send(form, "socket_id=1.2&channel_name=private-custom".into()),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = test::read_body_json(resp).await;
    let expected = pusher
        .authorize_channel("private-custom", "1.2", None)
        .unwrap();
    assert_eq!(v["auth"], expected.auth.as_str());

    let resp = test::call_service(
        &app,
        send(
            "application/json",
            r#"{"socket_id":"1.2","channel_name":"private-custom"}"#.into(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200, "JSON body");

    for (body, status, reason) in [
        (
            "socket_id=1.2&channel_name=private-other".to_owned(),
            403,
            "forbidden",
        ),
        (
            "socket_id=x&channel_name=private-custom".to_owned(),
            400,
            "missing or invalid socket_id",
        ),
        (
            format!(
                "socket_id=1.2&channel_name=private-custom&pad={}",
                "x".repeat(100)
            ),
            413,
            "request body too large",
        ),
    ] {
        let resp = test::call_service(&app, send(form, body)).await;
        assert_eq!(resp.status(), status);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(body_text(resp).await, reason);
    }

    let resp = test::call_service(&app, send("text/plain", "socket_id=1.2".into())).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_text(resp).await, "malformed request body");
}

#[actix_web::test]
async fn auth_routes_answer_only_post_at_their_paths() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(conformance::pusher()))
            .service(
                routes(
                    conformance::authorizer()
                        .map_user(|u: User| u.0)
                        .auth_path("/custom/auth"),
                )
                .unwrap(),
            ),
    )
    .await;
    let req = test::TestRequest::post()
        .uri("/custom/auth")
        .insert_header((conformance::USER_HEADER, "ann"))
        .set_payload("socket_id=1.2&channel_name=private-allowed-1")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(
        resp.status(),
        400,
        "a body without a content type is malformed"
    );
    let req = test::TestRequest::post()
        .uri("/custom/auth")
        .insert_header((conformance::USER_HEADER, "ann"))
        .insert_header(header::ContentType::form_url_encoded())
        .set_payload("socket_id=1.2&channel_name=private-allowed-1")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    let req = test::TestRequest::get().uri("/custom/auth").to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 405);
    let req = test::TestRequest::post().uri("/pusher/auth").to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 404);
}
