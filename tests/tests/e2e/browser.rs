//! The browser: headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core) opens the axum
//! example; two pages chat (a 50 KB message included, sent chunked and reassembled by the page), see each
//! other in the presence list, and read an encrypted notice. A screenshot
//! is written to `target/e2e/chat-axum.png`.

use std::time::Duration;

use pusher_e2e::{App, Framework, Sockudo, free_port, log_dir, node::node_dir};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_pages_chat_on_the_axum_example() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: apt-get install chromium (scripts/setup does)"
    );
    let port = free_port().unwrap();
    let server = Sockudo::start(Some(&format!("http://127.0.0.1:{port}/pusher/webhooks")))
        .await
        .unwrap();
    let app = App::start(Framework::Axum, port, &server).await.unwrap();
    std::fs::create_dir_all(log_dir()).unwrap();
    let shot = log_dir().join("chat-axum.png");
    let _ = std::fs::remove_file(&shot);
    let run = tokio::process::Command::new("node")
        .arg(node_dir().join("browser.mjs"))
        .arg(app.url("/"))
        .arg(&shot)
        .current_dir(node_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the browser test finished within 90 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from browser.mjs:\n{stdout}\n{}\napp log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                app.log_tail()
            )
        });
    assert_eq!(result["ok"], true, "{result}\napp log:\n{}", app.log_tail());
    let mut members: Vec<&str> = result["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    members.sort();
    assert_eq!(members, ["alice", "bob"], "{result}");
    assert_eq!(result["notice"], "a secret notice from alice", "{result}");
    assert_eq!(result["personal"], "subscribed", "{result}");
    assert!(
        result["alice_messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"] == "bob" && m["text"] == "hello from bob"),
        "{result}"
    );
    // "Send a 50 KB message": chunked by the app, reassembled whole by the page, shown with its size.
    let big = &result["big"];
    assert_eq!(
        big["bytes"],
        50_000 + "a 50 KB message from bob: ".len(),
        "{big}"
    );
    assert_eq!(
        big["start"], "a 50 KB message from bob: lorem ipsum do",
        "{big}"
    );
    assert!(
        big["shown"]
            .as_str()
            .is_some_and(|s| s.starts_with("bob: [48.9 KB] a 50 KB message from bob")),
        "{big}"
    );
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert!(shot.exists(), "screenshot written to {}", shot.display());
}
