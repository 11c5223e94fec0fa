//! pusher-rocket against the core's conformance suite (driven with Rocket's local asynchronous client), plus
//! the Rocket specifics: the fairing's configuration, the sentinels, named limits, the data guards.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pusher::integration::conformance::{self, Harness, SuiteUser, TestRequest, TestResponse};
use pusher_rocket::{
    AuthRejection, Authorizer, ChannelAuthBody, PusherFairing, SenderSocketId,
    SenderSocketIdRejection, UserAuthBody, VerifiedWebhook, WebhookRejection,
};
use rocket::error::ErrorKind;
use rocket::figment::providers::{Format, Toml};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{Build, Rocket, post, routes};

/// The suite's user as a request guard: `SuiteUser` is foreign, so it is wrapped, and the suite's
/// authorizer is mapped onto the wrapper with `Authorizer::map_user`.
#[derive(Clone)]
struct User(SuiteUser);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for User {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let value = req.headers().get_one(conformance::USER_HEADER);
        if value == Some(conformance::OUTAGE_USER) {
            return Outcome::Error((Status::InternalServerError, ())); // the session store is down
        }
        match SuiteUser::from_header(value) {
            Some(u) => Outcome::Success(User(u)),
            None => Outcome::Forward(Status::Unauthorized),
        }
    }
}

fn suite_routes() -> Vec<rocket::Route> {
    pusher_rocket::routes(conformance::authorizer().map_user(|u: User| u.0)).unwrap()
}

#[post("/pusher/webhooks", data = "<hook>")]
fn webhook(
    hook: Result<VerifiedWebhook, WebhookRejection>,
) -> Result<Json<pusher::Webhook>, WebhookRejection> {
    Ok(Json(hook?.into_inner()))
}

#[post("/sender")]
fn sender(
    sender: Result<SenderSocketId, SenderSocketIdRejection>,
) -> Result<String, SenderSocketIdRejection> {
    Ok(sender?
        .into_inner()
        .unwrap_or_else(|| conformance::NO_SENDER.to_owned()))
}

/// A bare guard: a refusal goes to Rocket's catcher with the status.
#[post("/bare/webhooks", data = "<hook>")]
fn bare_webhook(hook: VerifiedWebhook) -> String {
    hook.events.len().to_string()
}

#[post("/custom/auth", data = "<req>")]
fn custom_auth(req: Result<ChannelAuthBody, AuthRejection>) -> Result<String, AuthRejection> {
    Ok(req?.channel_name.clone())
}

#[post("/custom/user-auth", data = "<req>")]
fn custom_user_auth(req: Result<UserAuthBody, AuthRejection>) -> Result<String, AuthRejection> {
    Ok(req?.into_inner().socket_id)
}

fn suite_app(rocket: Rocket<Build>) -> Rocket<Build> {
    rocket
        .attach(PusherFairing::with(conformance::pusher()))
        .mount("/", suite_routes())
        .mount(
            "/",
            routes![webhook, bare_webhook, custom_auth, custom_user_auth, sender],
        )
}

struct Local(Client);

#[async_trait]
impl Harness for Local {
    async fn call(&self, request: TestRequest) -> TestResponse {
        assert_eq!(request.method, "POST");
        let mut req = self.0.post(request.path).body(request.body);
        for (k, v) in request.headers {
            req = req.header(Header::new(k, v));
        }
        let resp = req.dispatch().await;
        let status = resp.status().code;
        let content_type = resp.headers().get_one("Content-Type").map(str::to_owned);
        let headers = resp
            .headers()
            .iter()
            .map(|h| (h.name().as_str().to_ascii_lowercase(), h.value().to_owned()))
            .collect();
        let body = resp.into_bytes().await.unwrap_or_default();
        TestResponse {
            status,
            content_type,
            headers,
            body,
        }
    }
}

async fn client(rocket: Rocket<Build>) -> Client {
    Client::tracked(rocket).await.unwrap()
}

#[tokio::test]
async fn conformance_suite() {
    let local = Local(client(suite_app(rocket::build())).await);
    let checked = conformance::run(&local).await;
    assert!(checked > 30, "only {checked} requests checked");
}

/// Launches `rocket` on a free port of 127.0.0.1 and returns its address once it listens.
async fn serve(rocket: Rocket<Build>) -> std::net::SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let figment = rocket
        .figment()
        .clone()
        .merge(("address", "127.0.0.1"))
        .merge(("port", 0))
        .merge(("log_level", "off"));
    let rocket = rocket
        .configure(figment)
        .attach(rocket::fairing::AdHoc::on_liftoff("port", move |r| {
            let port = r.config().port;
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(port);
            }
            Box::pin(async {})
        }));
    tokio::spawn(async move { rocket.launch().await.unwrap() });
    let port = rx.await.unwrap();
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn conformance_suite_over_a_socket() {
    let addr = serve(suite_app(rocket::build())).await;
    let checked = conformance::run_socket(addr).await;
    assert!(checked > 60, "only {checked} requests checked");
}

#[tokio::test]
async fn the_named_webhook_limit_can_raise_the_clients_limit() {
    let raised = 4 * conformance::WEBHOOK_LIMIT;
    let figment = rocket::Config::figment().merge(("limits.pusher-webhook", raised));
    let c = client(suite_app(rocket::custom(figment))).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let pad = "p".repeat(2 * conformance::WEBHOOK_LIMIT);
    let body = format!(
        r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"a","pad":"{pad}"}}]}}"#
    );
    assert!(body.len() > conformance::WEBHOOK_LIMIT && body.len() < raised);
    let sig = pusher::sign_webhook(conformance::SECRET, body.as_bytes());
    let r = c
        .post("/pusher/webhooks")
        .header(Header::new("X-Pusher-Key", conformance::KEY))
        .header(Header::new("X-Pusher-Signature", sig))
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok, "{:?}", r.into_string().await);
}

fn signed_webhook(secret: &str) -> (Vec<u8>, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body =
        format!(r#"{{"time_ms":{now},"events":[{{"name":"channel_occupied","channel":"a"}}]}}"#)
            .into_bytes();
    let sig = pusher::sign_webhook(secret, &body);
    (body, sig)
}

#[tokio::test]
async fn bare_guard_keeps_the_status_and_result_guard_gives_the_reason() {
    let c = client(suite_app(rocket::build())).await;
    let (body, sig) = signed_webhook(conformance::SECRET);
    let ok = c
        .post("/bare/webhooks")
        .header(Header::new("X-Pusher-Key", conformance::KEY))
        .header(Header::new("X-Pusher-Signature", sig.clone()))
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(ok.status(), Status::Ok);
    assert_eq!(ok.into_string().await.unwrap(), "1");

    let bad = c
        .post("/bare/webhooks")
        .header(Header::new("X-Pusher-Key", "other"))
        .header(Header::new("X-Pusher-Signature", sig.clone()))
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(bad.status(), Status::Unauthorized);

    let bad = c
        .post("/pusher/webhooks")
        .header(Header::new("X-Pusher-Key", "other"))
        .header(Header::new("X-Pusher-Signature", sig))
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(bad.status(), Status::Unauthorized);
    assert_eq!(bad.content_type(), Some(ContentType::Plain));
    assert_eq!(bad.into_string().await.unwrap(), "unknown X-Pusher-Key");
}

#[tokio::test]
async fn named_limits() {
    let figment = rocket::Config::figment()
        .merge(("limits.pusher-webhook", 64))
        .merge(("limits.pusher-auth", 40));
    let c = client(suite_app(rocket::custom(figment))).await;

    let (body, sig) = signed_webhook(conformance::SECRET);
    assert!(body.len() > 64);
    let r = c
        .post("/pusher/webhooks")
        .header(Header::new("X-Pusher-Key", conformance::KEY))
        .header(Header::new("X-Pusher-Signature", sig))
        .body(&body)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::PayloadTooLarge);
    assert_eq!(r.into_string().await.unwrap(), "webhook body too large");

    let form = |body: &'static str, path: &'static str| {
        c.post(path).header(ContentType::Form).body(body).dispatch()
    };
    let r = form("socket_id=1.2&channel_name=private-a", "/custom/auth").await;
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(r.into_string().await.unwrap(), "private-a");
    let r = form(
        "socket_id=1.2&channel_name=private-a&pad=xxxxxxxx",
        "/custom/auth",
    )
    .await;
    assert_eq!(r.status(), Status::PayloadTooLarge);
    assert_eq!(r.into_string().await.unwrap(), "request body too large");
    let r = form("socket_id=nope", "/custom/user-auth").await;
    assert_eq!(r.status(), Status::BadRequest);
    assert_eq!(
        r.into_string().await.unwrap(),
        "missing or invalid socket_id"
    );
    let r = form("socket_id=1.2", "/custom/user-auth").await;
    assert_eq!(r.into_string().await.unwrap(), "1.2");

    // The ready-made routes use the authorizer's limit (64 KiB), not the guards' named limit.
    let r = c
        .post("/pusher/auth")
        .header(ContentType::Form)
        .header(Header::new(conformance::USER_HEADER, "ann"))
        .body("socket_id=1.2&channel_name=private-allowed-1&pad=xxxxxxxxxxxxxxxx")
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
}

#[tokio::test]
async fn authorizer_paths_and_limit() {
    let rules = conformance::authorizer()
        .map_user(|u: User| u.0)
        .auth_path("/api/pusher-auth")
        .body_limit(48);
    let rocket = rocket::build()
        .attach(PusherFairing::with(conformance::pusher()))
        .mount("/", pusher_rocket::routes(rules).unwrap());
    let names: Vec<_> = rocket
        .routes()
        .map(|r| (r.uri.to_string(), r.name.as_deref().map(str::to_owned)))
        .collect();
    assert!(names.contains(&(
        "/api/pusher-auth".to_owned(),
        Some("pusher_rocket::channel_auth".to_owned())
    )));
    let c = client(rocket).await;
    let send = |body: &'static str| {
        c.post("/api/pusher-auth")
            .header(ContentType::Form)
            .header(Header::new(conformance::USER_HEADER, "ann"))
            .body(body)
            .dispatch()
    };
    assert_eq!(
        send("socket_id=1.2&channel_name=private-allowed-1")
            .await
            .status(),
        Status::Ok
    );
    let r = send("socket_id=1.2&channel_name=private-allowed-1&pad=xxxxxxx").await;
    assert_eq!(r.status(), Status::PayloadTooLarge);
    let r = c.post("/pusher/auth").body("x").dispatch().await;
    assert_eq!(r.status(), Status::NotFound);
}

fn configured(toml: &str) -> Rocket<Build> {
    let figment = rocket::Config::figment().merge(Toml::string(toml).nested());
    rocket::custom(figment)
        .attach(PusherFairing::default())
        .mount("/", routes![webhook])
}

#[tokio::test]
async fn fairing_builds_the_client_from_config() {
    let toml = r#"
        [default.pusher]
        app_id = "app-id"
        key = "k"
        secret = "s"
        host = "127.0.0.1"
        port = 6001
        use_tls = false
        encryption_master_key_base64 = "U1VJVEUtbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nISE="
        timeout_ms = 2500
        webhook_tolerance_secs = 60
        webhook_body_limit = 2048
    "#;
    let rocket = configured(toml).ignite().await.unwrap();
    let p = rocket.state::<pusher::Pusher>().expect("a managed Pusher");
    assert_eq!(p.base_url(), "http://127.0.0.1:6001");
    assert_eq!(p.app_id(), "app-id");
    assert!(p.has_encryption());
    assert_eq!(p.webhook_body_limit_bytes(), 2048);

    let toml = "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = \"s\"\ncluster = \"eu\"\n";
    let rocket = configured(toml).ignite().await.unwrap();
    assert_eq!(
        rocket.state::<pusher::Pusher>().unwrap().base_url(),
        "https://api-eu.pusher.com"
    );

    let toml = "[default.pusher]\nurl = \"https://k:s@api-eu.pusher.com/apps/1\"\nwebhook_body_limit = 10\n";
    let rocket = configured(toml).ignite().await.unwrap();
    let p = rocket.state::<pusher::Pusher>().unwrap();
    assert_eq!(
        (p.host(), p.webhook_body_limit_bytes()),
        ("api-eu.pusher.com", 10)
    );
}

/// Captures this thread's `tracing` output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[tokio::test]
async fn bad_config_aborts_ignite_without_logging_the_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let secret = "TOP-SECRET-VALUE";
    for (toml, expected) in [
        (
            format!(
                "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = \"{secret}\"\nencryption_master_key_base64 = \"short\"\n"
            ),
            "encryption",
        ),
        (
            "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\n".to_owned(),
            "`secret`",
        ),
        ("[default]\nother = 1\n".to_owned(), "Rocket.toml"),
        (
            format!("[default.pusher]\nurl = \"ftp://k:{secret}@h/apps/1\"\n"),
            "scheme",
        ),
        (
            format!("[default.pusher]\nurl = \"https://k:{secret}@h/apps/1\"\nkey = \"k\"\n"),
            "either `url` or `key`",
        ),
        (
            format!(
                "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = \"{secret}\"\nclustr = \"eu\"\n"
            ),
            "`clustr` is not a setting",
        ),
        (
            "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = 12345\n".to_owned(),
            "pusher.secret",
        ),
        (
            format!(
                "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = \"{secret}\"\ntimeout_ms = 0\n"
            ),
            "timeout",
        ),
    ] {
        let err = configured(&toml).ignite().await.expect_err(&toml);
        assert!(matches!(err.kind(), ErrorKind::FailedFairings(_)), "{toml}");
        let logged = logs.take();
        assert!(logged.contains(expected), "{toml}: {logged}");
        assert!(
            !logged.contains(secret) && !logged.contains("12345"),
            "{logged}"
        );
    }
}

#[tokio::test]
async fn a_second_client_aborts_ignite_instead_of_panicking() {
    for rocket in [
        rocket::build().manage(conformance::pusher()),
        rocket::build().attach(PusherFairing::with(conformance::pusher())),
    ] {
        let err = rocket
            .attach(PusherFairing::with(conformance::pusher()))
            .ignite()
            .await
            .expect_err("two clients");
        assert!(matches!(err.kind(), ErrorKind::FailedFairings(_)));
    }
}

fn sentinel_aborts(err: rocket::Error) -> Vec<String> {
    match err.kind() {
        ErrorKind::SentinelAborts(s) => s.iter().map(|s| s.type_name.to_owned()).collect(),
        other => panic!("expected sentinel aborts, got {other:?}"),
    }
}

#[tokio::test]
async fn sentinels_abort_launch_without_a_pusher() {
    let err = rocket::build()
        .mount("/", routes![webhook])
        .ignite()
        .await
        .expect_err("VerifiedWebhook needs a Pusher");
    assert!(
        sentinel_aborts(err)
            .iter()
            .any(|t| t.contains("VerifiedWebhook"))
    );

    let err = rocket::build()
        .mount("/", suite_routes())
        .ignite()
        .await
        .expect_err("routes(..) need a Pusher");
    assert!(
        sentinel_aborts(err)
            .iter()
            .any(|t| t.contains("NeedsPusher"))
    );

    // Managed by hand instead of the fairing: fine too.
    rocket::build()
        .manage(conformance::pusher())
        .mount("/", suite_routes())
        .mount("/", routes![webhook])
        .ignite()
        .await
        .unwrap();
}

#[test]
fn invalid_or_duplicate_paths_are_an_error_at_setup() {
    for bad in ["pusher/auth", "", "?x=1", "/pusher/<x>", "/pusher/auth/"] {
        let rules = Authorizer::<User>::new().auth_path(bad);
        assert!(pusher_rocket::routes(rules).is_err(), "{bad:?}");
    }
    let rules = Authorizer::<User>::new().batch_auth_path("/pusher/auth");
    let err = pusher_rocket::routes(rules).unwrap_err();
    assert!(err.to_string().contains("batch_auth_path"), "{err}");
}
