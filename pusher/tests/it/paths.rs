//! The path that is signed is the path that is sent. The URL layer rewrites some paths after signing
//! (dot segments removed, `\` turned into `/`, `{`, `}`, spaces and others percent-encoded), and the
//! server then answers 401; such paths are refused before anything is signed.

use serde_json::Value;

use pusher::testing::RecordingBackend;
use pusher::{Error, Pusher};

use crate::check_signed;

fn client(rec: &RecordingBackend) -> Pusher {
    Pusher::builder("1", "key", "secret")
        .backend(rec.clone())
        .build()
        .unwrap()
}

#[track_caller]
fn assert_path_refused<T: std::fmt::Debug>(what: &str, r: Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::Validation { field: "path", .. })),
        "{what:?}: {r:?}"
    );
}

#[tokio::test]
async fn paths_the_url_layer_would_rewrite_are_refused_before_sending() {
    let rec = RecordingBackend::new();
    let p = client(&rec);
    for path in [
        "/channels/./x",
        "/channels/../x",
        "/channels/x/.",
        "/channels/x/..",
        "/./channels",
        "/.",
        "/..",
        "/a\\b",
        "/{x}",
        "/a}",
        "/a b",
        "/%2e/x",
        "/a%20b",
        "/a|b",
        "/a^b",
        "/a`b",
        "/a\"b",
        "/a<b>",
        "/a[b]",
        "/é",
        "/a\tb",
        "/a?b=c",
        "/a#b",
        "channels",
        "",
    ] {
        assert_path_refused(path, p.get::<Value>(path, &[]).await);
        assert_path_refused(path, p.post::<_, Value>(path, &Value::Null).await);
        assert_path_refused(path, p.get_request(path, &[]));
    }
    // Channel names may hold dots: "." and ".." would be dot segments of the query path.
    assert_path_refused(".", p.channel_info(".", &[]).await);
    assert_path_refused("..", p.channel_info("..", &[]).await);
    assert!(rec.requests().is_empty(), "nothing was sent");
    // An app id of "." or ".." would be a dot segment too.
    for id in [".", ".."] {
        assert!(matches!(
            Pusher::builder(id, "key", "secret").build(),
            Err(Error::Config {
                field: "app_id",
                ..
            })
        ));
    }
}

/// Every path the client accepts is sent byte for byte as signed: checked against the URL parser the
/// HTTP stack uses, over every path of up to two characters from all of ASCII and every path of up to
/// four characters from the characters that matter (dots, slashes, escapes).
#[test]
fn every_accepted_path_is_sent_exactly_as_signed() {
    let p = client(&RecordingBackend::new());
    let mut candidates: Vec<String> = Vec::new();
    let ascii: Vec<char> = (0u8..0x80).map(char::from).collect();
    for &a in &ascii {
        candidates.push(format!("/{a}"));
        for &b in &ascii {
            candidates.push(format!("/{a}{b}"));
        }
    }
    let tricky = ['.', '/', '\\', '%', '2', 'e', 'a', ':', '~'];
    let mut grow: Vec<String> = vec![String::new()];
    for _ in 0..4 {
        grow = grow
            .iter()
            .flat_map(|s| tricky.iter().map(move |c| format!("{s}{c}")))
            .collect();
        candidates.extend(grow.iter().map(|s| format!("/x/{s}")));
    }
    let (mut accepted, mut refused) = (0, 0);
    for path in &candidates {
        match p.get_request(path, &[("info", "user_count")]) {
            Ok(req) => {
                accepted += 1;
                let url = url::Url::parse(&req.url).unwrap();
                let full = format!("/apps/1{path}");
                assert_eq!(url.path(), full, "{path:?} is rewritten by the URL layer");
                let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
                check_signed(path, "GET", url.path(), &query, None, "key", "secret");
            }
            Err(Error::Validation { field: "path", .. }) => refused += 1,
            Err(e) => panic!("{path:?}: {e:?}"),
        }
    }
    // Both outcomes are well exercised (and the usual paths are accepted).
    assert!(accepted > 5_000 && refused > 5_000, "{accepted} {refused}");
    for ok in [
        "/channels/a.b",
        "/x/...",
        "/users/a:b@c!$&'()*+,;=~/x",
        "/a/",
    ] {
        assert!(p.get_request(ok, &[]).is_ok(), "{ok}");
    }
}

/// The check is one pass over the path: million-byte paths of the worst shapes (all dot segments, a bad
/// segment at the very end) are decided at once (a quadratic check would not finish).
#[test]
fn the_path_check_is_linear() {
    let p = client(&RecordingBackend::new());
    let long = format!("/{}", "a.".repeat(500_000));
    let req = p.get_request(&long, &[]).unwrap();
    assert!(req.url.len() < long.len() + 300);
    let dots = format!("/x/{}", ".".repeat(1_000_000));
    assert!(
        p.get_request(&dots, &[]).is_ok(),
        "a segment of many dots is a name"
    );
    let bad = format!("{}/./", "/a".repeat(500_000));
    assert_path_refused("long", p.get_request(&bad, &[]));
}
