//! Proxies: `.proxy(url)` sends plain-HTTP requests to the proxy in absolute form and tunnels HTTPS with
//! `CONNECT`; an invalid proxy URL is a config error that does not echo it; and, without `.proxy`, the
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` environment variables are honoured.
//!
//! The environment tests must not change this process's environment (other tests run in parallel), so each
//! one runs itself again as a child process (`current_exe() <its name> --exact`) with the variables set;
//! the child sends one trigger and prints the outcome, and the parent checks what its listeners saw.

use std::process::Command;

use pusher::{Error, Pusher};
use serde_json::json;

use crate::local::{Proxy, Server, TLS_HANDSHAKE, TestCa, names_the_certificate};

const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Set in a child process: the `PUSHER_URL` to trigger through.
const CHILD_URL: &str = "PUSHER_IT_PROXY_CHILD_URL";
/// Set in a child process: a proxy to give to `.proxy(..)`.
const CHILD_EXPLICIT_PROXY: &str = "PUSHER_IT_PROXY_CHILD_EXPLICIT";

fn trigger_through(pusher: &Pusher) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(pusher.trigger("orders", "created", &json!({"id": 1})))
        .map(|_| ())
}

#[test]
fn explicit_proxy_gets_plain_http_requests_in_absolute_form() {
    let proxy = Proxy::start();
    // The target records any connection made to it directly.
    let target = Server::plain();
    let pusher = Pusher::builder("app-id", "key", "secret")
        .host("127.0.0.1")
        .port(target.port)
        .use_tls(false)
        .proxy(proxy.url())
        .build()
        .unwrap();
    trigger_through(&pusher).unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    let origin = format!("http://127.0.0.1:{}/apps/app-id/events?", target.port);
    assert!(seen[0].target.starts_with(&origin), "{}", seen[0].target);
    assert!(seen[0].target.contains("auth_signature="));
    assert!(
        target.connections().is_empty(),
        "went to the target directly"
    );
}

#[test]
fn explicit_proxy_tunnels_https_with_connect() {
    let proxy = Proxy::start();
    let ca = TestCa::new("pusher-rs proxy CA");
    let target = Server::tls(ca.server_config(&["127.0.0.1"]));
    let pusher = Pusher::builder("app-id", "key", "secret")
        .host("127.0.0.1")
        .port(target.port)
        .proxy(proxy.url())
        .build()
        .unwrap();
    // The tunnel reaches the server, whose certificate the default roots refuse: the TLS session ran end to
    // end through the proxy, which saw only the CONNECT.
    let e = trigger_through(&pusher).unwrap_err();
    assert!(names_the_certificate(&e), "{e:?}");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.clone()),
        ("CONNECT", format!("127.0.0.1:{}", target.port))
    );
    let conns = target.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].first_byte, Some(TLS_HANDSHAKE));
    assert!(target.seen().is_empty());
}

#[test]
fn proxy_credentials_are_sent_and_never_printed() {
    let proxy = Proxy::start();
    let url = format!("http://proxy-user:pr0xy-pa55@127.0.0.1:{}", proxy.port);
    let builder = Pusher::builder("app-id", "key", "secret")
        .host("127.0.0.1")
        .port(9)
        .use_tls(false)
        .proxy(url);
    assert!(!format!("{builder:?}").contains("pr0xy-pa55"));
    let pusher = builder.build().unwrap();
    assert!(!format!("{pusher:?}").contains("pr0xy-pa55"));
    trigger_through(&pusher).unwrap();
    let seen = proxy.seen();
    // base64("proxy-user:pr0xy-pa55")
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some("Basic cHJveHktdXNlcjpwcjB4eS1wYTU1")
    );
}

#[test]
fn invalid_proxy_url_is_a_config_error() {
    for bad in [
        "http://proxy-user:s3cret@[::1",
        "http://exa mple:80",
        "http://",
    ] {
        let e = Pusher::builder("app-id", "key", "secret")
            .proxy(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(e, Error::Config { field: "proxy", .. }),
            "{bad}: {e:?}"
        );
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}

/// A proxy next to a client or backend of the caller's would be silently unused: refused instead.
#[test]
fn proxy_with_a_custom_client_is_a_config_error() {
    let with_client = Pusher::builder("app-id", "key", "secret")
        .proxy("http://127.0.0.1:3128")
        .http_client(reqwest::Client::new())
        .build()
        .unwrap_err();
    let with_backend = Pusher::builder("app-id", "key", "secret")
        .backend(pusher::testing::RecordingBackend::new())
        .proxy("http://127.0.0.1:3128")
        .build()
        .unwrap_err();
    for e in [with_client, with_backend] {
        assert!(matches!(e, Error::Config { field: "proxy", .. }), "{e:?}");
    }
}

/// Runs the current test again in a child process with `vars` set (and every other proxy variable
/// removed), returning the child's outcome line (`ok` or the error).
fn run_child(test: &str, url: &str, vars: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, url)
        .env_remove(CHILD_EXPLICIT_PROXY)
        .env_remove("REQUEST_METHOD");
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("child outcome: ").map(|(_, outcome)| outcome))
        .unwrap_or_else(|| panic!("no outcome in the child's output: {stdout}"))
        .to_owned()
}

/// In a child process (see the module docs): triggers once through `PUSHER_URL`-style `CHILD_URL`, prints
/// the outcome, and returns true. In the parent, returns false.
fn child() -> bool {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return false;
    };
    let mut builder = pusher::PusherUrl::parse(&url).unwrap().into_builder();
    if let Ok(p) = std::env::var(CHILD_EXPLICIT_PROXY) {
        builder = builder.proxy(p);
    }
    let outcome = match trigger_through(&builder.build().unwrap()) {
        Ok(()) => "ok".to_owned(),
        // The error and its sources: a transport error's reason is in its source chain.
        Err(e) => crate::local::error_chain(&e),
    };
    println!("\nchild outcome: {outcome}");
    true
}

#[test]
fn environment_https_proxy_is_used_for_https() {
    if child() {
        return;
    }
    let proxy = Proxy::start();
    let ca = TestCa::new("pusher-rs proxy CA");
    let target = Server::tls(ca.server_config(&["127.0.0.1"]));
    let url = format!("https://key:secret@127.0.0.1:{}/apps/app-id", target.port);
    let outcome = run_child(
        "proxy::environment_https_proxy_is_used_for_https",
        &url,
        &[("HTTPS_PROXY", &proxy.url())],
    );
    assert!(outcome.contains("certificate"), "{outcome}");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.clone()),
        ("CONNECT", format!("127.0.0.1:{}", target.port))
    );
}

#[test]
fn environment_no_proxy_bypasses_the_proxy() {
    if child() {
        return;
    }
    let proxy = Proxy::start();
    let target = Server::plain();
    let url = format!("http://key:secret@127.0.0.1:{}/apps/app-id", target.port);
    let outcome = run_child(
        "proxy::environment_no_proxy_bypasses_the_proxy",
        &url,
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert_eq!(outcome, "ok");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    let seen = target.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path(), "/apps/app-id/events");
    assert!(
        seen[0].target.starts_with('/'),
        "origin form: {}",
        seen[0].target
    );
}

#[test]
fn environment_http_proxy_is_used_for_plain_http() {
    if child() {
        return;
    }
    let proxy = Proxy::start();
    let target = Server::plain();
    let url = format!("http://key:secret@127.0.0.1:{}/apps/app-id", target.port);
    let outcome = run_child(
        "proxy::environment_http_proxy_is_used_for_plain_http",
        &url,
        &[("http_proxy", &proxy.url())],
    );
    assert_eq!(outcome, "ok");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let origin = format!("http://127.0.0.1:{}/apps/app-id/events?", target.port);
    assert!(seen[0].target.starts_with(&origin), "{}", seen[0].target);
    assert!(target.connections().is_empty());
}

#[test]
fn explicit_proxy_overrides_the_environment() {
    if child() {
        return;
    }
    let from_env = Proxy::start();
    let explicit = Proxy::start();
    let target = Server::plain();
    let url = format!("http://key:secret@127.0.0.1:{}/apps/app-id", target.port);
    let outcome = run_child(
        "proxy::explicit_proxy_overrides_the_environment",
        &url,
        &[
            ("HTTP_PROXY", &from_env.url()),
            (CHILD_EXPLICIT_PROXY, &explicit.url()),
        ],
    );
    assert_eq!(outcome, "ok");
    assert!(from_env.seen().is_empty());
    assert_eq!(explicit.seen().len(), 1);
    assert!(target.connections().is_empty());
}
