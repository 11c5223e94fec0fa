//! pusher-rocket against the core's conformance suite (driven with Rocket's local asynchronous client), plus
//! Rocket specifics: the fairing's configuration and the sentinel.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use pusher::integration::conformance::{self, Harness, SuiteUser, TestRequest, TestResponse};
use pusher_rocket::{PusherFairing, VerifiedWebhook, WebhookRejection};
use rocket::figment::providers::Format;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{Build, Rocket, post, routes};

#[derive(Clone)]
struct User(SuiteUser);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for User {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match SuiteUser::from_header(req.headers().get_one(conformance::USER_HEADER)) {
            Some(u) => Outcome::Success(User(u)),
            None => Outcome::Forward(Status::Unauthorized),
        }
    }
}

#[post("/pusher/webhooks", data = "<hook>")]
fn webhook(
    hook: Result<VerifiedWebhook, WebhookRejection>,
) -> Result<Json<pusher::Webhook>, WebhookRejection> {
    Ok(Json(hook?.0))
}

fn suite_app() -> Rocket<Build> {
    rocket::build()
        .attach(PusherFairing::with(conformance::pusher()))
        .mount(
            "/",
            pusher_rocket::routes(conformance::authorizer().map_user(|u: User| u.0)),
        )
        .mount("/", routes![webhook])
}

struct Local(Client);

#[async_trait]
impl Harness for Local {
    async fn call(&self, request: TestRequest) -> TestResponse {
        let mut req = self.0.post(request.path.clone()).body(request.body);
        for (k, v) in request.headers {
            req = req.header(Header::new(k, v));
        }
        let resp = req.dispatch().await;
        let status = resp.status().code;
        let content_type = resp.content_type().map(|c| c.to_string());
        let body = resp.into_bytes().await.unwrap_or_default();
        TestResponse {
            status,
            content_type,
            body,
        }
    }
}

#[tokio::test]
async fn conformance_suite() {
    let client = Client::tracked(suite_app()).await.unwrap();
    let checked = conformance::run(&Local(client)).await;
    assert!(checked > 30, "{checked} requests checked");
}

fn configured(pusher_toml: &str) -> Rocket<Build> {
    let figment = rocket::Config::figment()
        .merge(rocket::figment::providers::Toml::string(pusher_toml).nested());
    rocket::custom(figment)
        .attach(PusherFairing::from_config())
        .mount("/", routes![webhook])
}

#[tokio::test]
async fn fairing_builds_the_client_from_config() {
    let ok = "[default.pusher]\napp_id = \"app-id\"\nkey = \"k\"\nsecret = \"s\"\nhost = \"127.0.0.1\"\nport = 6001\nuse_tls = false\n";
    let rocket = configured(ok).ignite().await.unwrap();
    let p = rocket.state::<pusher::Pusher>().expect("managed");
    assert_eq!(p.base_url(), "http://127.0.0.1:6001");

    let url = "[default.pusher]\nurl = \"https://k:s@api-eu.pusher.com/apps/1\"\n";
    let rocket = configured(url).ignite().await.unwrap();
    assert_eq!(
        rocket.state::<pusher::Pusher>().unwrap().host(),
        "api-eu.pusher.com"
    );
}

#[tokio::test]
async fn bad_config_aborts_launch() {
    for bad in [
        "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\nsecret = \"s\"\nencryption_master_key_base64 = \"short\"\n",
        "[default.pusher]\napp_id = \"1\"\nkey = \"k\"\n",
        "[default]\nother = 1\n",
        "[default.pusher]\nurl = \"ftp://k:TOPSECRET@h/apps/1\"\n",
    ] {
        let err = configured(bad).ignite().await.expect_err(bad);
        assert!(
            matches!(err.kind(), rocket::error::ErrorKind::FailedFairings(_)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn sentinel_aborts_launch_without_a_pusher() {
    let rocket = rocket::build().mount("/", routes![webhook]);
    let err = rocket
        .ignite()
        .await
        .expect_err("launch must abort when no Pusher is managed");
    assert!(matches!(
        err.kind(),
        rocket::error::ErrorKind::SentinelAborts(_)
    ));
}

#[tokio::test]
async fn routes_without_a_pusher_answer_500() {
    let rocket = rocket::build().mount(
        "/",
        pusher_rocket::routes(conformance::authorizer().map_user(|u: User| u.0)),
    );
    let client = Client::tracked(rocket).await.unwrap();
    let resp = client
        .post("/pusher/auth")
        .header(Header::new(conformance::USER_HEADER, "ann"))
        .header(rocket::http::ContentType::Form)
        .body("socket_id=1.2&channel_name=private-allowed-1")
        .dispatch()
        .await;
    assert_eq!(resp.status(), Status::InternalServerError);
    assert_eq!(resp.into_string().await.unwrap(), "server misconfigured");
}
