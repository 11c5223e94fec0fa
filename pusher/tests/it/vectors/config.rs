//! Configuration, `PUSHER_URL` parsing, HTTP status handling and validation vectors.

use serde_json::{Value, json};

use pusher::channel::{
    validate_channel, validate_event_name, validate_socket_id, validate_user_id,
};
use pusher::testing::RecordingBackend;
use pusher::{BatchEvent, Error, Pusher, PusherUrl, TriggerOptions};

use super::{
    Choices, Plan, Side, Tally, Vector, assert_json_eq, builder, check_choices, of_op, runtime,
};
use crate::hmac_hex;

const CONFIG_CHOICES: Choices = &[
    // Default host api-mt1.pusher.com (the mt1 cluster) over HTTPS: neither library's api.pusherapp.com.
    ("config/defaults", Plan::Own),
    // HTTPS by default (Python).
    ("config/cluster-eu", Plan::Follow(Side::Python)),
    ("config/host-and-cluster", Plan::Follow(Side::Python)),
    // An app id is any 1-128 characters of [A-Za-z0-9-_.~] (self-hosted servers use ids like "app-id").
    ("config/app-id-non-numeric", Plan::Own),
    // A number as app id or a string as port does not type-check (the app id is &str, the port u16).
    ("config/app-id-int", Plan::Refuse),
    ("config/port-string", Plan::Refuse),
];

fn default_port(scheme: &str) -> u64 {
    if scheme == "https" { 443 } else { 80 }
}

/// A library's config or URL result with its port made explicit.
fn lib_view(result: &Value) -> Value {
    let mut r = result.clone();
    if r["port"].is_null() {
        r["port"] = json!(default_port(r["scheme"].as_str().unwrap()));
    }
    r
}

/// Our client's view; the secret is checked by signing with it (it is never exposed).
fn client_view(p: &Pusher, secret: &str) -> Value {
    let (scheme, rest) = p.base_url().split_once("://").unwrap();
    let port = match rest.rsplit_once(':') {
        Some((_, port)) => port.parse::<u64>().unwrap(),
        None => default_port(scheme),
    };
    let auth = p.authorize_channel("private-x", "1.1", None).unwrap().auth;
    let signs_with_secret = auth.ends_with(&hmac_hex(secret.as_bytes(), b"1.1:private-x"));
    json!({
        "app_id": p.app_id(), "key": p.key(), "secret": if signs_with_secret { secret } else { "(another)" },
        "host": p.host(), "port": port, "scheme": scheme,
    })
}

#[test]
fn config() {
    let mut tally = Tally::default();
    for v in of_op("config") {
        let Some(b) = builder(&v.input["creds"]) else {
            assert!(
                v.refused_by_us(CONFIG_CHOICES),
                "{}: creds we cannot express",
                v.id
            );
            tally.type_refused.push(v.id.clone());
            continue;
        };
        let plan = v.plan(CONFIG_CHOICES);
        let p = b
            .build()
            .unwrap_or_else(|e| panic!("{}: refused: {e}", v.id));
        let ours = client_view(&p, v.input["creds"]["secret"].as_str().unwrap());
        let expected = match (plan, v.id.as_str()) {
            (Plan::Exact, _) => v.result(Side::Python).clone(),
            (Plan::Semantic, _) => v.semantic_view(),
            (Plan::Follow(side), _) => lib_view(v.result(side)),
            (Plan::Own, "config/defaults") => {
                json!({"app_id": "1", "key": "k", "secret": "s", "host": "api-mt1.pusher.com", "port": 443, "scheme": "https"})
            }
            (Plan::Own, "config/app-id-non-numeric") => {
                json!({"app_id": "abc", "key": "k", "secret": "s", "host": "api-mt1.pusher.com", "port": 443, "scheme": "https"})
            }
            other => panic!("{}: unexpected plan {other:?}", v.id),
        };
        assert_json_eq(&v.id, &format!("config ({plan:?})"), &ours, &expected);
        tally.count(plan);
    }
    tally.finish(
        &["config"],
        &[],
        &["config/app-id-int", "config/port-string"],
    );
    check_choices(CONFIG_CHOICES);
}

const URL_CHOICES: Choices = &[
    // The port is honoured (Node); Python keeps it inside the host.
    ("from_url/with-port", Plan::Follow(Side::Node)),
    ("from_url/ipv4-port-https", Plan::Follow(Side::Node)),
    // Credentials are percent-decoded (Node).
    ("from_url/percent-encoded-secret", Plan::Follow(Side::Node)),
    // The scheme is http or https, in any case (Node); anything else is refused (Python).
    ("from_url/uppercase-scheme", Plan::Follow(Side::Node)),
    ("from_url/ftp-scheme", Plan::Refuse),
    // The app id is kept as text (Python): "007" stays "007".
    ("from_url/leading-zero-app", Plan::Follow(Side::Python)),
    // ... and may be any [A-Za-z0-9-_.~] string: "abc" (Python refuses, Node makes it NaN).
    ("from_url/non-numeric-app", Plan::Own),
    // Credentials split at the first ':' (key "key", secret "sec:ret"): neither library's result.
    ("from_url/colon-in-secret", Plan::Own),
    // A path before /apps/APP_ID is a path prefix (a server mounted under a path): sent, not signed.
    // Python makes it part of the host, Node drops it; neither reaches such a server.
    ("from_url/path-prefix", Plan::Own),
    // A missing secret, a trailing slash and a query string are refused: the path must be
    // [/PREFIX]/apps/APP_ID.
    ("from_url/missing-secret", Plan::Refuse),
    // An empty secret (`KEY:@HOST`), which both libraries accept, is refused: anyone could then forge
    // webhooks and auth signatures.
    ("from_url/empty-secret", Plan::Refuse),
    ("from_url/trailing-slash", Plan::Refuse),
    ("from_url/query-string", Plan::Refuse),
];

fn url_view(u: &PusherUrl) -> Value {
    let scheme = if u.use_tls { "https" } else { "http" };
    json!({
        "app_id": u.app_id, "key": u.key, "secret": u.secret.expose(), "host": u.host,
        "port": u.port.map_or_else(|| default_port(scheme), u64::from), "scheme": scheme,
    })
}

#[test]
fn from_url() {
    let mut tally = Tally::default();
    for v in of_op("from_url") {
        let plan = v.plan(URL_CHOICES);
        let url = v.str("url");
        let (parsed, client) = (PusherUrl::parse(url), Pusher::from_url(url));
        if plan == Plan::Refuse {
            for e in [parsed.err(), client.err()] {
                let e = e.unwrap_or_else(|| panic!("{}: accepted, should be refused", v.id));
                assert!(
                    matches!(
                        e,
                        Error::Config {
                            field: "url" | "app_id",
                            ..
                        }
                    ),
                    "{}: {e:?}",
                    v.id
                );
                let shown = format!("{e} {e:?}");
                assert!(
                    !shown.contains(url) && !shown.contains(":secret@"),
                    "{}: error quotes the URL",
                    v.id
                );
            }
            tally.count(plan);
            continue;
        }
        let u = parsed.unwrap_or_else(|e| panic!("{}: refused: {e}", v.id));
        let ours = url_view(&u);
        let expected = match (plan, v.id.as_str()) {
            (Plan::Semantic, _) => v.semantic_view(),
            (Plan::Follow(side), _) => lib_view(v.result(side)),
            (Plan::Own, "from_url/non-numeric-app") => {
                json!({"app_id": "abc", "key": "key", "secret": "secret", "host": "api.pusherapp.com", "port": 80, "scheme": "http"})
            }
            (Plan::Own, "from_url/path-prefix") => {
                assert_eq!(u.path_prefix.as_deref(), Some("/v1"), "{}", v.id);
                json!({"app_id": "1", "key": "key", "secret": "secret", "host": "api.pusherapp.com", "port": 80, "scheme": "http"})
            }
            (Plan::Own, "from_url/colon-in-secret") => {
                json!({"app_id": "1", "key": "key", "secret": "sec:ret", "host": "api.pusherapp.com", "port": 80, "scheme": "http"})
            }
            other => panic!("{}: unexpected plan {other:?}", v.id),
        };
        assert_json_eq(&v.id, &format!("parsed URL ({plan:?})"), &ours, &expected);
        // The client built from the URL has the same view.
        let p = client.unwrap_or_else(|e| panic!("{}: from_url refused: {e}", v.id));
        let mut client_expected = expected.clone();
        client_expected["host"] = json!(u.host);
        assert_json_eq(
            &v.id,
            "client from URL",
            &client_view(&p, u.secret.expose()),
            &client_expected,
        );
        tally.count(plan);
    }
    tally.finish(&["from_url"], &[], &[]);
    check_choices(URL_CHOICES);
}

const RESPONSE_CHOICES: Choices = &[
    // Any 2xx is success; an empty body is the empty response (Node resolves any status < 400).
    ("response/201", Plan::Follow(Side::Node)),
    ("response/204", Plan::Follow(Side::Node)),
    // A 3xx is an error (Python), and so is a 2xx whose body is not JSON.
    ("response/304", Plan::Refuse),
    ("response/200-nonjson", Plan::Refuse),
];

#[test]
fn responses() {
    let rt = runtime();
    let mut tally = Tally::default();
    for v in of_op("response") {
        let plan = v.plan(RESPONSE_CHOICES);
        let status = u16::try_from(v.input["status"].as_u64().unwrap()).unwrap();
        let body = v.str("body");
        let rec = RecordingBackend::new();
        rec.respond(status, body);
        let p = Pusher::builder("1", "k", "s").backend(rec).build().unwrap();
        let result = rt.block_on(p.trigger("c", "e", "x"));
        match plan {
            Plan::Refuse => {
                let e = result
                    .err()
                    .unwrap_or_else(|| panic!("{}: {status} accepted", v.id));
                match status {
                    200..=299 => assert!(
                        matches!(e, Error::InvalidResponse { .. }),
                        "{}: {e:?}",
                        v.id
                    ),
                    _ => {
                        assert_eq!(e.status(), Some(status), "{}: {e:?}", v.id);
                        let shown = e.to_string();
                        assert!(
                            shown.contains(body),
                            "{}: the server's body in {shown:?}",
                            v.id
                        );
                        let variant_ok = match status {
                            400 => matches!(e, Error::BadRequest { .. }),
                            401 => matches!(e, Error::Unauthorized { .. }),
                            403 => matches!(e, Error::Forbidden { .. }),
                            413 => matches!(e, Error::PayloadTooLarge { .. }),
                            _ => matches!(e, Error::Status { .. }),
                        };
                        assert!(variant_ok, "{}: variant for {status}: {e:?}", v.id);
                    }
                }
            }
            Plan::Exact | Plan::Follow(_) => {
                let r = result.unwrap_or_else(|e| panic!("{}: {status} refused: {e}", v.id));
                assert!(r.channels.is_empty(), "{}: {r:?}", v.id);
            }
            other => panic!("{}: no response vector is checked as {other:?}", v.id),
        }
        tally.count(plan);
    }
    tally.finish(&["response"], &[], &[]);
    check_choices(RESPONSE_CHOICES);
}

const VALIDATE_CHOICES: Choices = &[
    (
        "validate/channel/server-to-user",
        Plan::Follow(Side::Python),
    ),
    ("validate/event/emoji-101", Plan::Follow(Side::Python)),
    ("validate/socket_id/arabic-digits", Plan::Refuse),
    ("validate/socket_id/fullwidth-digits", Plan::Refuse),
    ("validate/user_id/space", Plan::Refuse),
    ("validate/user_id/len-201", Plan::Refuse),
    ("validate/user_id/unicode", Plan::Refuse),
    // Data: at most 10240 UTF-8 bytes of the string sent, in a trigger and in a batch alike (the server's
    // 413 limit), whatever Python's `sys.getsizeof` says and although Node never checks.
    ("validate/data/ascii-30672", Plan::Refuse),
    ("validate/data/latin1-30648", Plan::Refuse),
    ("validate/data/bmp-15324", Plan::Refuse),
    ("validate/data/emoji-7662", Plan::Refuse),
    ("validate/data/ascii-10241", Plan::Refuse),
    ("validate/data/batch-ascii-10192", Plan::Follow(Side::Node)),
    ("validate/data/batch-ascii-10240", Plan::Follow(Side::Node)),
    ("validate/data/batch-emoji-2542", Plan::Follow(Side::Node)),
    (
        "validate/data/batch-ascii-plus-emoji-2542",
        Plan::Follow(Side::Node),
    ),
    ("validate/data/batch-latin1-10167", Plan::Refuse),
    ("validate/data/batch-latin1-10168", Plan::Refuse),
    ("validate/data/batch-bmp-5083", Plan::Refuse),
    ("validate/data/batch-bmp-5084", Plan::Refuse),
];

fn validate_one(v: &Vector, p: &Pusher) -> Result<(), Error> {
    let value = &v.input["value"];
    let text = || value.as_str().unwrap();
    match v.str("kind") {
        "channel" => validate_channel(text()),
        "socket_id" => validate_socket_id(text()),
        "event" => validate_event_name(text()),
        "user_id" => validate_user_id(text()),
        "data" if v.input["context"] == "batch" => {
            p.batch_body(&[BatchEvent::new("a", "e", value)?]).map(drop)
        }
        "data" => p
            .trigger_body("c", "e", value, &TriggerOptions::new())
            .map(drop),
        kind => panic!("{}: unknown kind {kind}", v.id),
    }
}

#[test]
fn validation() {
    let p = Pusher::builder("1", "k", "s")
        .backend(RecordingBackend::new())
        .build()
        .unwrap();
    let mut tally = Tally::default();
    for v in of_op("validate") {
        let kind = v.str("kind");
        if kind != "data" && !v.input["value"].is_string() {
            assert!(
                v.refused_by_us(VALIDATE_CHOICES),
                "{}: a non-string {kind}",
                v.id
            );
            tally.type_refused.push(v.id.clone());
            continue;
        }
        let plan = v.plan(VALIDATE_CHOICES);
        let valid = match plan {
            Plan::Refuse => false,
            Plan::Exact => v.result(Side::Python)["valid"] == true,
            Plan::Follow(side) => v.result(side)["valid"] == true,
            other => panic!("{}: no validate vector is checked as {other:?}", v.id),
        };
        match validate_one(v, &p) {
            Ok(()) => assert!(valid, "{}: accepted, should be refused ({plan:?})", v.id),
            Err(Error::Validation { field, .. }) => {
                assert!(
                    !valid,
                    "{}: refused ({field}), should be accepted ({plan:?})",
                    v.id
                );
                assert_eq!(field, kind, "{}: the field named", v.id);
            }
            Err(e) => panic!("{}: {e:?} is not a validation error", v.id),
        }
        tally.count(plan);
    }
    tally.finish(
        &["validate"],
        &[],
        &["validate/channel/number", "validate/socket_id/number"],
    );
    check_choices(VALIDATE_CHOICES);
}
