//! The contract's cases added for the three frameworks to prove alike: header whitespace, 401 versus 403,
//! content types and repeated keys, the order of body and user extraction, `Cache-Control`, the batch cap.

use serde_json::json;

use super::{
    BATCH_AUTH_PATH, FORM, KEY, SECRET, Suite, SuiteUser, USER_HEADER, hmac_hex, now_ms,
    probe_name, webhook_body,
};
use crate::integration::{DEFAULT_AUTH_PATH, DEFAULT_USER_AUTH_PATH, MAX_BATCH_AUTH_CHANNELS};

/// `X-Pusher-Key` and `X-Pusher-Signature` with spaces and tabs around them: HTTP's optional whitespace,
/// trimmed (servers strip it on the wire; a test client may not).
pub(super) async fn webhook_key_whitespace_is_trimmed(s: &mut Suite<'_>) {
    let body = webhook_body(now_ms(), json!([]));
    let sig = hmac_hex(SECRET, &body);
    let key = format!(" \t{KEY}\t ");
    let padded_sig = format!(" {sig}\t");
    let r = s
        .webhook(
            &[
                ("content-type", "application/json"),
                ("x-pusher-key", &key),
                ("x-pusher-signature", &padded_sig),
            ],
            &body,
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "webhook key with whitespace around: {}",
        r.text()
    );
}

/// 401 when the user cannot be extracted, whatever the channel; 403 when signed in and refused, with a
/// rule (`forbidden`) or without one (deny by default: `no rule allows this channel`).
pub(super) async fn not_signed_in_is_401_and_refused_is_403(s: &mut Suite<'_>) {
    for (what, user, channel, status, reason) in [
        (
            "not signed in, allowed channel",
            None,
            "private-allowed-1",
            401,
            "not signed in",
        ),
        (
            "not signed in, denied channel",
            None,
            "private-denied",
            401,
            "not signed in",
        ),
        (
            "not signed in, no rule",
            None,
            "private-nobody-knows",
            401,
            "not signed in",
        ),
        (
            "rule denies",
            Some("ann"),
            "private-denied",
            403,
            "forbidden",
        ),
        (
            "rule answers false",
            Some("bob"),
            "private-user-ann",
            403,
            "forbidden",
        ),
        (
            "no rule matches (deny by default)",
            Some("ann"),
            "private-nobody-knows",
            403,
            "no rule allows this channel",
        ),
        (
            "no rule matches a presence channel",
            Some("ann"),
            "presence-other",
            403,
            "no rule allows this channel",
        ),
    ] {
        let r = s
            .auth(user, &format!("socket_id=1.2&channel_name={channel}"))
            .await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, reason),
            "auth {what}"
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("text/plain; charset=utf-8"),
            "auth {what}"
        );
    }
    let path = DEFAULT_USER_AUTH_PATH;
    let r = s.auth_at(path, None, FORM, "socket_id=1.2").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "not signed in"),
        "user auth, not signed in"
    );
    let r = s.auth_at(path, Some("nobody"), FORM, "socket_id=1.2").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "forbidden"),
        "user auth refused"
    );
}

/// The content type must be exactly form or `application/json` (no `+json`, none at all is malformed),
/// and a repeated key is refused in JSON as in a form.
pub(super) async fn content_types_and_repeated_keys(s: &mut Suite<'_>) {
    let json_body = r#"{"socket_id":"1.2","channel_name":"private-allowed-1"}"#;
    for (what, ct, body, status, reason) in [
        (
            "JSON with parameters",
            Some("application/json; charset=utf-8"),
            json_body,
            200,
            "",
        ),
        (
            "form, mixed case",
            Some("Application/X-WWW-Form-Urlencoded"),
            "socket_id=1.2&channel_name=private-allowed-1",
            200,
            "",
        ),
        (
            "+json",
            Some("application/vnd.evil+json"),
            json_body,
            400,
            "malformed request body",
        ),
        (
            "text/json",
            Some("text/json"),
            json_body,
            400,
            "malformed request body",
        ),
        (
            "no content type",
            None,
            "socket_id=1.2&channel_name=private-allowed-1",
            400,
            "malformed request body",
        ),
        (
            "JSON repeated socket_id",
            Some("application/json"),
            r#"{"socket_id":"1.2","channel_name":"private-allowed-1","socket_id":"3.4"}"#,
            400,
            // A repeated member makes the JSON object itself malformed, whatever its value.
            "malformed request body",
        ),
        (
            "JSON repeated channel_name",
            Some("application/json"),
            r#"{"socket_id":"1.2","channel_name":"private-denied","channel_name":"private-allowed-1"}"#,
            400,
            "malformed request body",
        ),
        (
            "form repeated channel_name",
            Some(FORM),
            "socket_id=1.2&channel_name=private-denied&channel_name=private-allowed-1",
            400,
            "missing or invalid channel_name",
        ),
        (
            "JSON repeated parameter",
            Some("application/json"),
            r#"{"socket_id":"1.2","channel_name":"private-allowed-1","x":"1","x":"2"}"#,
            400,
            "malformed request body",
        ),
        (
            "form repeated parameter",
            Some(FORM),
            "socket_id=1.2&channel_name=private-allowed-1&x=1&x=2",
            400,
            "malformed request body",
        ),
    ] {
        let mut headers = vec![(USER_HEADER, "ann")];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let r = s.send(DEFAULT_AUTH_PATH, &headers, body.as_bytes()).await;
        assert_eq!(r.status, status, "auth {what}: {}", r.text());
        if status != 200 {
            assert_eq!(r.text(), reason, "auth {what}");
        }
    }
}

/// The body is read and parsed before the app's user extractor runs: a 413 or a 400 never costs a session
/// or database lookup, in any framework.
pub(super) async fn a_refused_body_never_runs_the_user_extractor(s: &mut Suite<'_>) {
    let big = format!(
        "socket_id=1.2&channel_name=private-allowed-1&pad={}",
        "x".repeat(70_000)
    );
    // Over the client's channel-name limit (164 characters by default): refused before the user too.
    let long = format!(
        "socket_id=1.2&channel_name=private-allowed-{}",
        "a".repeat(160)
    );
    let cases: [(&str, &str, Option<&str>, &str, u16); 10] = [
        (
            "channel name over the limit",
            DEFAULT_AUTH_PATH,
            Some(FORM),
            &long,
            400,
        ),
        (
            "repeated JSON key with a null value",
            DEFAULT_AUTH_PATH,
            Some("application/json"),
            r#"{"socket_id":"1.2","channel_name":null,"channel_name":"private-allowed-1"}"#,
            400,
        ),
        (
            "repeated JSON key with an empty list",
            DEFAULT_USER_AUTH_PATH,
            Some("application/json"),
            r#"{"socket_id":"1.2","x":[],"x":"1"}"#,
            400,
        ),
        (
            "batch with a repeated parameter",
            BATCH_AUTH_PATH,
            Some(FORM),
            "socket_id=1.2&channel_name[]=private-allowed-1&x=1&x=2",
            400,
        ),
        ("over the limit", DEFAULT_AUTH_PATH, Some(FORM), &big, 413),
        (
            "malformed",
            DEFAULT_AUTH_PATH,
            Some("text/xml"),
            "<a/>",
            400,
        ),
        (
            "bad socket_id",
            DEFAULT_AUTH_PATH,
            Some(FORM),
            "socket_id=x&channel_name=private-allowed-1",
            400,
        ),
        (
            "public channel",
            DEFAULT_AUTH_PATH,
            Some(FORM),
            "socket_id=1.2&channel_name=news",
            400,
        ),
        (
            "user auth over the limit",
            DEFAULT_USER_AUTH_PATH,
            Some(FORM),
            &big,
            413,
        ),
        (
            "batch without channels",
            BATCH_AUTH_PATH,
            Some(FORM),
            "socket_id=1.2",
            400,
        ),
    ];
    for (what, path, ct, body, status) in cases {
        let user = probe_name("refused");
        let mut headers = vec![(USER_HEADER, user.as_str())];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let r = s.send(path, &headers, body.as_bytes()).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(
            !SuiteUser::was_extracted(&user),
            "{what}: the user extractor ran for a request refused by its body"
        );
    }
    // The control: an accepted body does reach the extractor.
    let user = probe_name("accepted");
    let r = s
        .auth(Some(&user), "socket_id=1.2&channel_name=private-allowed-1")
        .await;
    assert_eq!(r.status, 200, "control: {}", r.text());
    assert!(
        SuiteUser::was_extracted(&user),
        "control: the user extractor ran"
    );
}

/// Auth responses, which may carry a `shared_secret`, and refusals are never stored by a cache.
pub(super) async fn auth_responses_are_not_stored(s: &mut Suite<'_>) {
    for (what, path, user, body) in [
        (
            "encrypted channel",
            DEFAULT_AUTH_PATH,
            Some("ann"),
            "socket_id=1.2&channel_name=private-encrypted-secret",
        ),
        (
            "refusal",
            DEFAULT_AUTH_PATH,
            None,
            "socket_id=1.2&channel_name=private-allowed-1",
        ),
        ("malformed", DEFAULT_AUTH_PATH, Some("ann"), "socket_id=1.2"),
        (
            "user auth",
            DEFAULT_USER_AUTH_PATH,
            Some("ann"),
            "socket_id=1.2",
        ),
        (
            "batch",
            BATCH_AUTH_PATH,
            Some("ann"),
            "socket_id=1.2&channel_name[]=private-allowed-1",
        ),
    ] {
        let r = s.auth_at(path, user, FORM, body).await;
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "{what} ({}): Cache-Control",
            r.status
        );
    }
}

/// At most 100 distinct channels in a batch (duplicates count once); the 101st is refused.
pub(super) async fn batch_auth_caps_distinct_channels_at_100(s: &mut Suite<'_>) {
    let names = |n: usize| -> String {
        (0..n)
            .map(|i| format!("&channel_name%5B%5D=private-allowed-{i}"))
            .collect()
    };
    let body = format!("socket_id=1.2{}", names(MAX_BATCH_AUTH_CHANNELS));
    let r = s.auth_at(BATCH_AUTH_PATH, Some("ann"), FORM, &body).await;
    assert_eq!(r.status, 200, "100 channels: {}", r.text());
    let v = r.json();
    assert_eq!(v.as_object().map(|o| o.len()), Some(100), "100 entries");
    assert_eq!(v["private-allowed-99"]["status"], 200);

    let dup = format!("{body}{}", names(MAX_BATCH_AUTH_CHANNELS));
    let r = s.auth_at(BATCH_AUTH_PATH, Some("ann"), FORM, &dup).await;
    assert_eq!(r.status, 200, "100 channels, each twice: {}", r.text());
    assert_eq!(r.json().as_object().map(|o| o.len()), Some(100));

    let over = format!("socket_id=1.2{}", names(MAX_BATCH_AUTH_CHANNELS + 1));
    let r = s.auth_at(BATCH_AUTH_PATH, Some("ann"), FORM, &over).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "missing or invalid channel_name"),
        "101 channels"
    );
}

/// A rule gets the captures, the `socket_id`, pusher-js's extra `params` and the app's state; a rule (or
/// the user-auth rule) that fails answers 503 `auth temporarily unavailable`, never 403, as plain text that
/// does not carry the error; in a batch, that channel's status is 503 and the others are unaffected.
pub(super) async fn rules_see_the_context_and_a_failing_rule_answers_503(s: &mut Suite<'_>) {
    let ok = s
        .auth(
            Some("ann"),
            "socket_id=12.34&channel_name=private-context-a.b&echo=a.b.12.34.suite-state",
        )
        .await;
    assert_eq!(ok.status, 200, "the rule sees its context: {}", ok.text());
    let wrong = s
        .auth(
            Some("ann"),
            "socket_id=12.34&channel_name=private-context-a.b&echo=a.b.99.99.suite-state",
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    let json = s
        .auth_at(
            DEFAULT_AUTH_PATH,
            Some("ann"),
            "application/json",
            r#"{"socket_id":"12.34","channel_name":"private-context-x","echo":"x.12.34.suite-state"}"#,
        )
        .await;
    assert_eq!(
        json.status,
        200,
        "JSON params reach the rule: {}",
        json.text()
    );

    let down = s
        .auth(
            Some("ann"),
            "socket_id=1.2&channel_name=private-unavailable",
        )
        .await;
    assert_eq!(
        (down.status, down.text().as_str()),
        (503, "auth temporarily unavailable"),
        "a failing rule"
    );
    assert_eq!(
        down.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(down.header("cache-control"), Some("no-store"));
    let down = s
        .auth_at(
            DEFAULT_USER_AUTH_PATH,
            Some("broken"),
            FORM,
            "socket_id=1.2",
        )
        .await;
    assert_eq!(
        (down.status, down.text().as_str()),
        (503, "auth temporarily unavailable"),
        "a failing user-auth rule"
    );

    let batch = s
        .auth_at(
            BATCH_AUTH_PATH,
            Some("ann"),
            FORM,
            "socket_id=12.34&channel_name[]=private-unavailable&channel_name[]=private-allowed-1\
             &channel_name[]=private-context-b&echo=b.12.34.suite-state",
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.text());
    let body = batch.json();
    assert_eq!(body["private-unavailable"]["status"], 503, "{body}");
    assert_eq!(body["private-allowed-1"]["status"], 200, "{body}");
    assert_eq!(body["private-context-b"]["status"], 200, "{body}");
}

/// The app's user extractor failing with a server error (a session store that is down) is not "not signed
/// in": every auth route answers 503 `auth temporarily unavailable` (pusher-js retries; the batch route as a
/// whole), where a plain extractor refusal answers 401 (the batch route: 401 for each channel).
pub(super) async fn a_user_extractor_failing_with_a_server_error_answers_503(s: &mut Suite<'_>) {
    use super::OUTAGE_USER;
    // (path, body, whether it is the batch route)
    let cases = [
        (
            DEFAULT_AUTH_PATH,
            "socket_id=1.2&channel_name=private-allowed-1",
            false,
        ),
        (DEFAULT_USER_AUTH_PATH, "socket_id=1.2", false),
        (
            BATCH_AUTH_PATH,
            "socket_id=1.2&channel_name[]=private-allowed-1&channel_name[]=private-allowed-2",
            true,
        ),
    ];
    for (path, body, batch) in cases {
        let down = s.auth_at(path, Some(OUTAGE_USER), FORM, body).await;
        assert_eq!(
            (down.status, down.text().as_str()),
            (503, "auth temporarily unavailable"),
            "{path}: a user extractor failing with 500"
        );
        let anonymous = s.auth_at(path, None, FORM, body).await;
        if batch {
            assert_eq!(
                (
                    anonymous.status,
                    anonymous.text().matches(r#""status":401"#).count()
                ),
                (200, 2),
                "{path}: no user: {}",
                anonymous.text()
            );
        } else {
            assert_eq!(
                anonymous.status,
                401,
                "{path}: no user: {}",
                anonymous.text()
            );
        }
    }
}
