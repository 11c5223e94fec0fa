//! HTTPS through each TLS backend compiled in, against a rustls server on 127.0.0.1 whose certificate comes
//! from a throwaway CA: a client trusting that CA succeeds; an unknown CA or a wrong host name fails with a
//! transport error that names the certificate, before any request is sent; and `use_tls(true)` never falls
//! back to plain HTTP. (The end-to-end crate does the same against sockudo with TLS.)

use pusher::{Error, Pusher};
use serde_json::json;

use crate::local::{Server, TLS_HANDSHAKE, TestCa, clients_trusting, names_the_certificate};

fn builder(port: u16) -> pusher::PusherBuilder {
    Pusher::builder("app-id", "key", "secret")
        .host("127.0.0.1")
        .port(port)
}

#[tokio::test]
async fn https_round_trip_through_a_client_trusting_the_test_ca() {
    let ca = TestCa::new("pusher-rs it CA");
    let server = Server::tls(ca.server_config(&["127.0.0.1", "localhost"]));
    for (backend, client) in clients_trusting(&ca, |b| b) {
        let before = server.seen().len();
        let pusher = builder(server.port).http_client(client).build().unwrap();
        assert!(pusher.base_url().starts_with("https://"), "{backend}");
        pusher
            .trigger("orders", "created", &json!({"id": 1}))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        pusher
            .channel_info("orders", &[])
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let seen = server.seen();
        let ours = &seen[before..];
        let calls: Vec<(&str, &str)> = ours.iter().map(|s| (s.method.as_str(), s.path())).collect();
        assert_eq!(
            calls,
            [
                ("POST", "/apps/app-id/events"),
                ("GET", "/apps/app-id/channels/orders")
            ],
            "{backend}"
        );
        assert!(
            String::from_utf8_lossy(&ours[0].body).contains(r#""channels":["orders"]"#),
            "{backend}"
        );
    }
    // Every connection was TLS, and every handshake succeeded.
    for c in server.connections() {
        assert_eq!(c.first_byte, Some(TLS_HANDSHAKE));
        assert_eq!(c.tls_error, None);
    }
}

#[tokio::test]
async fn unknown_ca_is_a_transport_error_naming_the_certificate() {
    let ca = TestCa::new("pusher-rs it CA");
    let other = TestCa::new("pusher-rs it other CA");
    let server = Server::tls(ca.server_config(&["127.0.0.1"]));
    for (backend, client) in clients_trusting(&other, |b| b) {
        let pusher = builder(server.port).http_client(client).build().unwrap();
        let e = pusher
            .trigger("orders", "created", &json!({"id": 1}))
            .await
            .unwrap_err();
        assert!(names_the_certificate(&e), "{backend}: {e:?}");
        assert!(e.to_string().starts_with("transport: "), "{backend}: {e}");
    }
    assert!(server.seen().is_empty(), "a request was sent");
    assert!(!server.connections().is_empty());
}

#[tokio::test]
async fn wrong_host_name_is_a_transport_error_naming_the_certificate() {
    let ca = TestCa::new("pusher-rs it CA");
    let server = Server::tls(ca.server_config(&["127.0.0.1", "localhost"]));
    // `wrong.example` resolves to the server, whose certificate does not name it.
    for (backend, client) in clients_trusting(&ca, |b| b.resolve("wrong.example", server.addr())) {
        let pusher = Pusher::builder("app-id", "key", "secret")
            .host("wrong.example")
            .port(server.port)
            .http_client(client)
            .build()
            .unwrap();
        let e = pusher
            .trigger("orders", "created", &json!({"id": 1}))
            .await
            .unwrap_err();
        assert!(names_the_certificate(&e), "{backend}: {e:?}");
    }
    assert!(server.seen().is_empty(), "a request was sent");
    assert!(!server.connections().is_empty(), "never reached the server");
}

/// The default backend (the `reqwest::Client` the crate builds itself) speaks TLS and checks the
/// certificate against its built-in roots, which do not hold the test CA. With both TLS features on, this
/// is native-tls (reqwest's default); `scripts/check-features` runs it with `rustls` alone too.
#[tokio::test]
async fn default_backend_speaks_tls_and_refuses_an_unknown_issuer() {
    let ca = TestCa::new("pusher-rs it CA");
    let server = Server::tls(ca.server_config(&["127.0.0.1"]));
    let pusher = builder(server.port).build().unwrap();
    let e = pusher
        .trigger("orders", "created", &json!({"id": 1}))
        .await
        .unwrap_err();
    assert!(names_the_certificate(&e), "{e:?}");
    assert!(server.seen().is_empty());
    let conns = server.connections();
    assert!(!conns.is_empty());
    assert!(
        conns.iter().all(|c| c.first_byte == Some(TLS_HANDSHAKE)),
        "{conns:?}"
    );
}

/// `use_tls(true)` against a plain-HTTP server: the client sends a ClientHello, the request fails with a
/// transport error, and no plain-HTTP request is ever sent (no downgrade).
#[tokio::test]
async fn tls_against_a_plain_server_fails_without_falling_back_to_http() {
    let server = Server::plain();
    let pusher = builder(server.port).build().unwrap();
    let e = pusher
        .trigger("orders", "created", &json!({"id": 1}))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(server.seen().is_empty(), "a plain-HTTP request was sent");
    let conns = server.connections();
    assert!(!conns.is_empty());
    assert!(
        conns.iter().all(|c| c.first_byte == Some(TLS_HANDSHAKE)),
        "{conns:?}"
    );
}
