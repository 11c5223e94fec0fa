//! (f) Error paths against the real server: a wrong secret, data refused before sending, sockudo's own 413.

use pusher::Error;
use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_unauthorized() {
    let server = Sockudo::start(None).await.unwrap();
    let wrong = server.builder_with_secret("wrong-secret").build().unwrap();
    let err = wrong.trigger("a", "e", &json!({})).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
    let err = wrong.channels_info(None, &[]).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let err = wrong.terminate_user_connections("alice").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    // The right secret works on the same server (GET without body_md5, POST with it).
    server.pusher().channels_info(None, &[]).await.unwrap();
    server.pusher().trigger("a", "e", &json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_data_is_refused_before_sending() {
    let server = Sockudo::start(None).await.unwrap();
    let pusher = server.pusher();
    // 10 KB is allowed and delivered.
    pusher
        .trigger("a", "e", &"x".repeat(10 * 1024))
        .await
        .unwrap();
    let err = pusher
        .trigger("a", "e", &"x".repeat(10 * 1024 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { field: "data", .. }),
        "{err:?}"
    );
    let big = pusher::BatchEvent::new("a", "e", &"x".repeat(11 * 1024)).unwrap();
    let err = pusher.trigger_batch(&[big]).await.unwrap_err();
    assert!(
        matches!(err, Error::Validation { field: "data", .. }),
        "{err:?}"
    );
    // Refused before sending: the same call to a port where nothing listens is still a validation error.
    let port = server.port();
    drop(server);
    let err = pusher
        .trigger("a", "e", &"x".repeat(10 * 1024 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { field: "data", .. }),
        "{err:?}"
    );
    let err = pusher.trigger("a", "e", "small").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { .. }),
        "nothing listens on {port}: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_limits_come_back_typed() {
    let server = Sockudo::start(None).await.unwrap();
    let lax = server
        .pusher_builder()
        .max_data_bytes(20_000)
        .max_batch_events(20)
        .build()
        .unwrap();
    // sockudo's own 10 KB limit: 413.
    let err = lax
        .trigger("a", "e", &"x".repeat(11 * 1024))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    let big = pusher::BatchEvent::new("a", "e", &"x".repeat(11 * 1024)).unwrap();
    let err = lax.trigger_batch(&[big]).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
    // sockudo's batch limit (10): 400.
    let batch: Vec<_> = (0..11)
        .map(|i| pusher::BatchEvent::new("a", format!("e{i}"), "x").unwrap())
        .collect();
    let err = lax.trigger_batch(&batch).await.unwrap_err();
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
    // The default client refuses the same batch before sending.
    let err = server.pusher().trigger_batch(&batch).await.unwrap_err();
    assert!(
        matches!(err, Error::Validation { field: "batch", .. }),
        "{err:?}"
    );
    // 100 channels pass, 101 are refused before sending.
    let channels: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    server
        .pusher()
        .trigger(&channels[..100], "e", "x")
        .await
        .unwrap();
    let err = server
        .pusher()
        .trigger(&channels, "e", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Validation {
                field: "channels",
                ..
            }
        ),
        "{err:?}"
    );
}
