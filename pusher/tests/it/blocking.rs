//! The blocking client (feature `blocking`) over real HTTP and HTTPS on loopback, and its rule about async
//! runtimes: inside one, sending is refused with `Error::BlockingInAsync` (no panic, no deadlock, nothing
//! sent), while creating, moving out and dropping the client work anywhere.

use pusher::blocking::Pusher;
use pusher::{BatchEvent, Error};
use serde_json::json;

use crate::local::{Server, TestCa, clients_trusting, names_the_certificate};

fn plain_client(server: &Server) -> Pusher {
    pusher::Pusher::builder("app-id", "key", "secret")
        .host("127.0.0.1")
        .port(server.port)
        .use_tls(false)
        .build_blocking()
        .unwrap()
}

/// Real sockets and timers on the client's private runtime: this fails (a panic inside reqwest) if the
/// runtime is built without its I/O or time driver.
#[test]
fn blocking_trigger_over_real_http() {
    let server = Server::plain();
    let pusher = plain_client(&server);
    pusher
        .trigger("orders", "created", &json!({"id": 1}))
        .unwrap();
    pusher
        .trigger_batch(&[BatchEvent::new("orders", "updated", &json!({"id": 2})).unwrap()])
        .unwrap();
    pusher
        .trigger_batch_with(
            &[BatchEvent::new("orders", "keyed", &json!({"id": 3})).unwrap()],
            &pusher::BatchOptions::new().idempotency_key("batch-key"),
        )
        .unwrap();
    pusher.channels_info(Some("ord"), &[]).unwrap();
    let seen = server.seen();
    let calls: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.path())).collect();
    assert_eq!(
        calls,
        [
            ("POST", "/apps/app-id/events"),
            ("POST", "/apps/app-id/batch_events"),
            ("POST", "/apps/app-id/batch_events"),
            ("GET", "/apps/app-id/channels"),
        ]
    );
    assert!(String::from_utf8_lossy(&seen[0].body).contains(r#""name":"created""#));
    assert!(String::from_utf8_lossy(&seen[2].body).contains(r#""idempotency_key":"batch-key:0""#));
    // Every connection spoke plain HTTP. (How many the pool opened is not asserted: under load hyper may
    // open a second one while the first is being returned to the pool.)
    let conns = server.connections();
    assert!(
        !conns.is_empty()
            && conns
                .iter()
                .all(|c| c.first_byte.is_some_and(|b| b.is_ascii_uppercase()))
    );
}

#[test]
fn blocking_trigger_over_https_checks_the_certificate() {
    let ca = TestCa::new("pusher-rs blocking CA");
    let other = TestCa::new("pusher-rs blocking other CA");
    let server = Server::tls(ca.server_config(&["127.0.0.1"]));
    for (backend, client) in clients_trusting(&ca, |b| b) {
        let pusher = pusher::Pusher::builder("app-id", "key", "secret")
            .host("127.0.0.1")
            .port(server.port)
            .http_client(client)
            .build_blocking()
            .unwrap();
        pusher
            .trigger("orders", "created", &json!({"id": 1}))
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
    let sent = server.seen().len();
    assert!(sent >= 1);
    for (backend, client) in clients_trusting(&other, |b| b) {
        let pusher = pusher::Pusher::builder("app-id", "key", "secret")
            .host("127.0.0.1")
            .port(server.port)
            .http_client(client)
            .build_blocking()
            .unwrap();
        let e = pusher
            .trigger("orders", "created", &json!({"id": 1}))
            .unwrap_err();
        assert!(names_the_certificate(&e), "{backend}: {e:?}");
    }
    assert_eq!(
        server.seen().len(),
        sent,
        "a request was sent to an untrusted server"
    );
}

/// Inside an async context every sending method is refused with a typed error and sends nothing; the
/// methods that send nothing still work; dropping the client there does not panic.
fn refuses_inside_a_runtime(server: &Server) {
    let pusher = plain_client(server);
    let refused = |r: Result<(), Error>| assert!(matches!(r, Err(Error::BlockingInAsync)), "{r:?}");
    refused(pusher.trigger("orders", "created", &json!({})).map(|_| ()));
    refused(pusher.channels_info(None, &[]).map(|_| ()));
    refused(pusher.channel_info("orders", &[]).map(|_| ()));
    refused(pusher.users_info("presence-room").map(|_| ()));
    refused(pusher.terminate_user_connections("u1"));
    refused(
        pusher
            .get::<serde_json::Value>("/channels", &[])
            .map(|_| ()),
    );
    let e = pusher.trigger("orders", "created", &json!({})).unwrap_err();
    assert!(e.to_string().contains("async"), "{e}");
    assert!(pusher.authorize_channel("private-a", "1.1", None).is_ok());
    drop(pusher);
    assert!(server.seen().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_call_inside_current_thread_runtime_is_a_typed_error() {
    let server = Server::plain();
    refuses_inside_a_runtime(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_call_inside_multi_thread_runtime_is_a_typed_error() {
    let server = Server::plain();
    refuses_inside_a_runtime(&server);
    // `spawn_blocking` is a runtime context as well (Tokio does not tell it apart from a task); the
    // documented way out there works.
    tokio::task::spawn_blocking(move || {
        refuses_inside_a_runtime(&server);
        let pusher = plain_client(&server);
        tokio::runtime::Handle::current()
            .block_on(pusher.as_async().trigger("orders", "created", &json!({})))
            .unwrap();
        assert_eq!(server.seen().len(), 1);
    })
    .await
    .unwrap();
}

/// A client created in async code and handed to a plain thread works there, and the last clone can be
/// dropped back in async code.
#[tokio::test(flavor = "current_thread")]
async fn blocking_client_made_in_async_works_on_a_plain_thread() {
    let server = Server::plain();
    let pusher = plain_client(&server);
    let on_thread = pusher.clone();
    std::thread::spawn(move || {
        on_thread
            .trigger("orders", "created", &json!({"id": 1}))
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(server.seen().len(), 1);
    drop(pusher);
}
