//! The retry loop on another executor than tokio (it waits with the backend's `sleep`, never panics), the
//! exponential backoff, and both forms of `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use pusher::http::{MAX_RETRY_AFTER, parse_retry_after};
use pusher::{Error, HttpBackend, HttpRequest, HttpResponse, Method, Pusher, RetryPolicy};

/// A backend answering 503 to the first `failures` requests and 200 after, recording the waits it is
/// asked for. It never touches tokio.
#[derive(Clone, Default)]
struct Flaky {
    failures: usize,
    seen: Arc<Mutex<usize>>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

fn answer(n: usize, failures: usize) -> HttpResponse {
    let (status, body) = if n < failures {
        (503, "busy")
    } else {
        (200, r#"{"occupied":true}"#)
    };
    HttpResponse::new(status, Bytes::from_static(body.as_bytes()))
}

#[async_trait]
impl HttpBackend for Flaky {
    async fn send(&self, _: HttpRequest) -> pusher::Result<HttpResponse> {
        let mut seen = self.seen.lock().unwrap();
        *seen += 1;
        Ok(answer(*seen - 1, self.failures))
    }

    async fn sleep(&self, delay: Duration) -> pusher::Result<()> {
        // A real backend would wait on its own executor's timer; recording is enough here.
        self.sleeps.lock().unwrap().push(delay);
        Ok(())
    }
}

/// The same, but with the default `sleep`.
#[derive(Clone, Default)]
struct FlakyDefaultSleep(Arc<Mutex<usize>>);

#[async_trait]
impl HttpBackend for FlakyDefaultSleep {
    async fn send(&self, _: HttpRequest) -> pusher::Result<HttpResponse> {
        let mut seen = self.0.lock().unwrap();
        *seen += 1;
        Ok(answer(*seen - 1, 1))
    }
}

fn client(backend: impl HttpBackend, retry: RetryPolicy) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(backend)
        .retry(retry)
        .build()
        .unwrap()
}

#[test]
fn a_retry_outside_tokio_waits_with_the_backends_sleep() {
    let backend = Flaky {
        failures: 1,
        ..Flaky::default()
    };
    let p = client(backend.clone(), RetryPolicy::default());
    // No tokio runtime anywhere: the futures crate's executor drives the client.
    let info = futures_executor::block_on(p.channel_info("a", &[])).unwrap();
    assert!(info.occupied);
    assert_eq!(*backend.seen.lock().unwrap(), 2, "retried once");
    assert_eq!(backend.sleeps.lock().unwrap().len(), 1, "waited once");
}

#[test]
fn a_retry_outside_tokio_with_the_default_sleep_returns_the_error_without_panicking() {
    let backend = FlakyDefaultSleep::default();
    let p = client(backend.clone(), RetryPolicy::default());
    let e = futures_executor::block_on(p.channel_info("a", &[])).unwrap_err();
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(*backend.0.lock().unwrap(), 1, "not retried: no timer");
    // The default sleep says why, and inside tokio it waits.
    assert!(matches!(
        futures_executor::block_on(backend.sleep(Duration::from_millis(1))),
        Err(Error::NoTimer)
    ));
}

/// A tokio runtime built without its time driver: tokio's timer would panic; the default sleep gives the
/// typed error instead, and the request's own error comes back after one attempt.
#[test]
fn a_retry_in_a_tokio_runtime_without_timers_returns_the_error_without_panicking() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let backend = FlakyDefaultSleep::default();
    let p = client(backend.clone(), RetryPolicy::default());
    let e = runtime.block_on(p.channel_info("a", &[])).unwrap_err();
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(*backend.0.lock().unwrap(), 1, "not retried: no timer");
}

#[tokio::test]
async fn the_default_sleep_uses_tokio_inside_a_runtime() {
    let backend = FlakyDefaultSleep::default();
    let p = client(
        backend.clone(),
        RetryPolicy::default().delays(Duration::from_millis(1), Duration::from_millis(5)),
    );
    assert!(p.channel_info("a", &[]).await.unwrap().occupied);
    assert_eq!(*backend.0.lock().unwrap(), 2);
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let p = RetryPolicy::default().delays(Duration::from_millis(100), Duration::from_secs(3));
    let ms: Vec<u128> = (1..=7).map(|a| p.backoff(a).as_millis()).collect();
    assert_eq!(ms, [100, 200, 400, 800, 1600, 3000, 3000]);
    // No overflow far out.
    assert_eq!(p.backoff(u32::MAX), Duration::from_secs(3));
}

/// The waits the client asks the backend for grow: retry k waits within [backoff(k)/2, backoff(k)], so
/// each wait is at least as long as every earlier one could be.
#[test]
fn recorded_waits_grow_exponentially() {
    let backend = Flaky {
        failures: 6,
        ..Flaky::default()
    };
    let policy = RetryPolicy::default()
        .max_retries(6)
        .delays(Duration::from_millis(10), Duration::from_secs(10));
    let p = client(backend.clone(), policy.clone());
    assert!(futures_executor::block_on(p.channel_info("a", &[])).is_ok());
    let sleeps = backend.sleeps.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 6);
    for (k, d) in sleeps.iter().enumerate() {
        let cap = Duration::from_millis(10 << k);
        assert!(*d <= cap && *d >= cap / 2, "retry {}: {d:?}", k + 1);
    }
    assert!(sleeps.windows(2).all(|w| w[1] >= w[0]), "{sleeps:?}");
    assert!(sleeps[5] >= Duration::from_millis(160), "{sleeps:?}");
    // The same bounds from the pure function.
    let e = Error::transport("reset", None);
    for a in 1..=6 {
        let d = policy.delay(Method::Get, a, &e).unwrap();
        assert!(d >= policy.backoff(a) / 2 && d <= policy.backoff(a));
    }
}

#[test]
fn retry_after_in_both_forms() {
    // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 30);
    let secs = |s: u64| Some(Duration::from_secs(s));
    assert_eq!(parse_retry_after("120", now), secs(120));
    assert_eq!(parse_retry_after(" 0 ", now), secs(0));
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
        secs(30)
    );
    // The obsolete forms HTTP still requires recipients to accept.
    assert_eq!(
        parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
        secs(30)
    );
    assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), secs(30));
    // A date in the past: retry now.
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:48:37 GMT", now),
        secs(0)
    );
    // Capped; garbage is no delay at all.
    assert_eq!(
        parse_retry_after("99999999999999999999999", now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
        Some(MAX_RETRY_AFTER)
    );
    for bad in [
        "",
        "-1",
        "1.5",
        "soon",
        "Sun, 06 Nov 1994",
        "Sun, 32 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
    assert_eq!(
        parse_retry_after(&"9".repeat(100_000), now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(parse_retry_after(&"x".repeat(100_000), now), None);
    // A real clock.
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(100));
    let d = parse_retry_after(&later, SystemTime::now()).unwrap();
    assert!(
        d > Duration::from_secs(90) && d <= Duration::from_secs(100),
        "{d:?}"
    );
}
