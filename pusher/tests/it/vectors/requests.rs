//! Request vectors: what `trigger`, `trigger_batch`, the queries, `send_to_user` and
//! `terminate_user_connections` send, captured with a [`RecordingBackend`] under the vector's frozen clock.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use pusher::encryption::MasterKey;
use pusher::testing::{RecordedRequest, RecordingBackend};
use pusher::trigger::encode_data;
use pusher::{BatchEvent, Error, Pusher, TriggerOptions};

use super::{
    Choices, Plan, Side, Tally, Vector, assert_compact_utf8, assert_json_eq, base64_decode,
    builder, check_choices, of_op, parse_or_string, runtime,
};
use crate::check_signed;

/// Our choices where the libraries disagree, or where we deliberately differ from both.
const CHOICES: Choices = &[
    // An empty channel list is refused (Python fails with IndexError, Node sends `channels: []`).
    ("trigger/empty-channel-list", Plan::Refuse),
    // Event names count Unicode scalar values: 150 emoji are 150, not 300 UTF-16 units.
    ("trigger/event-150-emoji", Plan::Follow(Side::Python)),
    // A socket id is ASCII digits, a dot, ASCII digits: "" (sent by Node, dropped by Python) is refused.
    ("trigger/socket-id-empty", Plan::Refuse),
    ("trigger/socket-id-arabic-digits", Plan::Refuse),
    // `#server-to-user-<id>` may be triggered on (it is how send_to_user works).
    ("trigger/channel-server-to-user", Plan::Follow(Side::Python)),
    // A string is encrypted verbatim, so a JSON string reaches pusher-js as the object it encodes.
    (
        "trigger/encrypted-json-string-data",
        Plan::Follow(Side::Python),
    ),
    // A master key must be canonical base64.
    ("trigger/encrypted-noncanonical-master-key", Plan::Refuse),
    // Over 10240 UTF-8 bytes of data (the server would answer 413).
    ("trigger/data-30672-ascii", Plan::Refuse),
    // `info` is sent in the body.
    ("trigger/info-param", Plan::Follow(Side::Node)),
    // HTTPS by default.
    ("trigger/cluster-only-creds", Plan::Follow(Side::Python)),
    // Every batch event is validated: channel, event name, socket id; at most 10 events, at least one.
    ("batch/invalid-channel", Plan::Refuse),
    ("batch/event-201", Plan::Refuse),
    ("batch/socket-id-invalid", Plan::Refuse),
    ("batch/11-events", Plan::Refuse),
    ("batch/empty", Plan::Refuse),
    // The size limit is 10240 UTF-8 bytes of the data sent, not Python's `sys.getsizeof`.
    ("batch/data-10192-ascii", Plan::Follow(Side::Node)),
    ("batch/data-10240-ascii", Plan::Follow(Side::Node)),
    ("batch/data-emoji-2542", Plan::Follow(Side::Node)),
    ("get/channel-invalid", Plan::Refuse),
    // Channel names are at most 164 characters by default (the Channels docs; both libraries check 200,
    // `Limits` raises it for self-hosted servers).
    ("trigger/channel-165", Plan::Refuse),
    ("trigger/channel-200", Plan::Refuse),
    // User ids are 1-128 characters of [-a-zA-Z0-9_=@,.;].
    ("send_to_user/id-space", Plan::Refuse),
    ("terminate/id-space", Plan::Refuse),
    // The terminate path is below /apps/{id}, as for every other endpoint.
    ("terminate/basic", Plan::Follow(Side::Node)),
];

#[test]
fn trigger_request() {
    run(&["trigger_request", "send_to_user_request"]);
}

#[test]
fn batch_request() {
    run(&["batch_request"]);
}

#[test]
fn query_and_terminate_requests() {
    run(&["get_request", "terminate_request"]);
}

fn run(ops: &[&str]) {
    let rt = runtime();
    let mut tally = Tally::default();
    for op in ops {
        for v in of_op(op) {
            let plan = v.plan(CHOICES);
            let rec = RecordingBackend::new();
            let result = match client(v, &rec) {
                Ok(p) => rt.block_on(send(v, &p)),
                Err(e) => Err(e),
            };
            let sent = rec.requests();
            if plan == Plan::Refuse {
                let e = result.err().unwrap_or_else(|| {
                    panic!(
                        "{}: we refuse this (our documented choice or both libraries), but sent it",
                        v.id
                    )
                });
                assert!(
                    matches!(
                        e,
                        Error::Validation { .. } | Error::Config { .. } | Error::MissingMasterKey
                    ),
                    "{}: refused with {e:?}, not a validation/config error",
                    v.id
                );
                assert!(sent.is_empty(), "{}: refused but a request went out", v.id);
            } else {
                if let Err(e) = result {
                    panic!("{}: expected {plan:?}, but we refused: {e:?}", v.id);
                }
                assert_eq!(sent.len(), 1, "{}: one request", v.id);
                check_request(v, plan, &sent[0]);
            }
            tally.count(plan);
        }
    }
    tally.finish(ops, &[], &[]);
    check_choices(CHOICES);
}

fn master_key(v: &Vector) -> Option<MasterKey> {
    v.input["encryption_master_key_base64"]
        .as_str()
        .map(|k| MasterKey::from_base64(k).unwrap())
}

fn client(v: &Vector, rec: &RecordingBackend) -> Result<Pusher, Error> {
    let mut b = builder(&v.input["creds"])
        .unwrap_or_else(|| panic!("{}: creds", v.id))
        .backend(rec.clone());
    if let Some(k) = v.input["encryption_master_key_base64"].as_str() {
        b = b.encryption_master_key_base64(k);
    }
    let ts = v.input["timestamp"].as_u64().expect("integer timestamp");
    Ok(b.build()?
        .with_clock(move || UNIX_EPOCH + Duration::from_secs(ts)))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_str().expect("a string")).collect())
        .unwrap_or_default()
}

async fn send(v: &Vector, p: &Pusher) -> Result<(), Error> {
    let i = &v.input;
    match v.op.as_str() {
        "trigger_request" => {
            let mut opts = TriggerOptions::new();
            if let Some(s) = i["socket_id"].as_str() {
                opts = opts.socket_id(s);
            }
            if let Some(info) = i["info"].as_str() {
                opts = opts.info(info.split(','));
            }
            let channels = strs(&i["channels"]);
            p.trigger_with(&channels, v.str("event"), &i["data"], &opts)
                .await
                .map(drop)
        }
        "batch_request" => {
            let mut batch = Vec::new();
            for e in i["batch"].as_array().expect("batch") {
                let name = e["name"].as_str().expect("name");
                let mut ev =
                    BatchEvent::new(e["channel"].as_str().expect("channel"), name, &e["data"])?;
                if let Some(s) = e["socket_id"].as_str() {
                    ev = ev.socket_id(s);
                }
                batch.push(ev);
            }
            p.trigger_batch(&batch).await.map(drop)
        }
        "get_request" => {
            let attrs = strs(&i["attributes"]);
            match v.str("kind") {
                "channel" => p.channel_info(v.str("channel"), &attrs).await.map(drop),
                "users" => p.users_info(v.str("channel")).await.map(drop),
                "channels" => p
                    .channels_info(i["prefix"].as_str(), &attrs)
                    .await
                    .map(drop),
                kind => panic!("{}: unknown query kind {kind}", v.id),
            }
        }
        "send_to_user_request" => p
            .send_to_user(v.str("user_id"), v.str("event"), &i["data"])
            .await
            .map(drop),
        "terminate_request" => p.terminate_user_connections(v.str("user_id")).await,
        op => panic!("{}: not a request op: {op}", v.id),
    }
}

fn check_request(v: &Vector, plan: Plan, r: &RecordedRequest) {
    let creds = &v.input["creds"];
    let (key, secret) = (
        creds["key"].as_str().unwrap(),
        creds["secret"].as_str().unwrap(),
    );
    let method = r.request.method.as_str();
    let body = r.request.body.as_deref();
    // body_md5 exactly when there is a body; every POST has one, no GET has one.
    assert_eq!(
        body.is_some(),
        method == "POST",
        "{}: {method} with body {body:?}",
        v.id
    );
    let ts = check_signed(&v.id, method, r.path(), &r.query(), body, key, secret);
    assert_eq!(
        Some(ts),
        v.input["timestamp"].as_u64(),
        "{}: auth_timestamp",
        v.id
    );
    if let Some(b) = body {
        assert_compact_utf8(&v.id, std::str::from_utf8(b).unwrap());
    }
    if v.op == "terminate_request" {
        assert_eq!(body, Some(&b"{}"[..]), "{}: terminate sends {{}}", v.id);
    }

    let mk = master_key(v);
    let ours = our_view(r, mk.as_ref());
    let expected = match plan {
        Plan::Semantic => v.semantic_view(),
        Plan::Follow(side) => lib_view(v.result(side), mk.as_ref()),
        other => panic!("{}: no request vector is checked as {other:?}", v.id),
    };
    assert_json_eq(&v.id, &format!("request ({plan:?})"), &ours, &expected);
    check_data_strings(v, r, mk.as_ref());
    check_fixed_nonce(v, plan, mk.as_ref());
}

/// The normalised view of a request (the generator's `semantic_view`): the URL base without a default port,
/// the query without `auth_signature` and `body_md5` (checked separately), the body parsed, and each event's
/// `data` decoded as pusher-js does (decrypted first on `private-encrypted-` channels).
fn view(
    method: &str,
    url_base: &str,
    path: &str,
    query: Map<String, Value>,
    body: Option<&str>,
    mk: Option<&MasterKey>,
) -> Value {
    let base = match url_base.split_once("://") {
        Some(("https", rest)) => format!("https://{}", rest.strip_suffix(":443").unwrap_or(rest)),
        Some(("http", rest)) => format!("http://{}", rest.strip_suffix(":80").unwrap_or(rest)),
        _ => url_base.to_owned(),
    };
    let query: Map<String, Value> = query
        .into_iter()
        .filter(|(k, _)| k != "auth_signature" && k != "body_md5")
        .collect();
    let body = body.map_or(Value::Null, |b| {
        let mut b: Value = serde_json::from_str(b).expect("a JSON body");
        match b.get_mut("batch").and_then(Value::as_array_mut) {
            Some(events) => events.iter_mut().for_each(|ev| decode_data(ev, mk)),
            None => decode_data(&mut b, mk),
        }
        b
    });
    json!({"method": method, "url_base": base, "path": path, "query": query, "body": body})
}

fn event_channel(ev: &Value) -> String {
    ev["channel"]
        .as_str()
        .or(ev["channels"][0].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn decode_data(ev: &mut Value, mk: Option<&MasterKey>) {
    let channel = event_channel(ev);
    let Some(data) = ev.get("data").and_then(Value::as_str) else {
        return;
    };
    ev["data"] = if channel.starts_with("private-encrypted-") {
        let plain = mk
            .expect("a master key")
            .decrypt(&channel, data)
            .expect("decryptable data");
        json!({"$decrypted": parse_or_string(&String::from_utf8(plain).expect("UTF-8 plaintext"))})
    } else {
        parse_or_string(data)
    };
}

fn our_view(r: &RecordedRequest, mk: Option<&MasterKey>) -> Value {
    let (scheme, rest) = r.request.url.split_once("://").unwrap();
    let base = format!(
        "{scheme}://{}",
        &rest[..rest.find('/').unwrap_or(rest.len())]
    );
    let query = r
        .query()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let body = r
        .request
        .body
        .as_deref()
        .map(|b| std::str::from_utf8(b).unwrap());
    view(r.request.method.as_str(), &base, r.path(), query, body, mk)
}

fn lib_view(result: &Value, mk: Option<&MasterKey>) -> Value {
    let s = |k: &str| result[k].as_str().unwrap_or_else(|| panic!("result.{k}"));
    let query = result["query"].as_object().cloned().unwrap_or_default();
    view(
        s("method"),
        s("url_base"),
        s("path"),
        query,
        result["body"].as_str(),
        mk,
    )
}

/// A string `data` is sent (and encrypted) verbatim; any other value as compact JSON.
fn check_data_strings(v: &Vector, r: &RecordedRequest, mk: Option<&MasterKey>) {
    let expected = |data: &Value| match data {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap(),
    };
    let body: Value = serde_json::from_slice(r.request.body.as_deref().unwrap_or(b"null")).unwrap();
    let pairs: Vec<(&Value, &Value)> = match v.op.as_str() {
        "trigger_request" | "send_to_user_request" => vec![(&body, &v.input["data"])],
        "batch_request" => body["batch"]
            .as_array()
            .unwrap()
            .iter()
            .zip(
                v.input["batch"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["data"]),
            )
            .collect(),
        _ => return,
    };
    for (ev, input) in pairs {
        let channel = event_channel(ev);
        let sent = ev["data"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: data is not a string", v.id));
        let plain = if channel.starts_with("private-encrypted-") {
            String::from_utf8(mk.unwrap().decrypt(&channel, sent).unwrap()).unwrap()
        } else {
            sent.to_owned()
        };
        assert_eq!(plain, expected(input), "{}: the data string sent", v.id);
    }
}

/// Encrypted triggers use a random nonce; with the vector's nonce our ciphertext equals the library's we
/// follow (the plaintext is the data string, verbatim for a string).
fn check_fixed_nonce(v: &Vector, plan: Plan, mk: Option<&MasterKey>) {
    let (Some(nonce), Some(mk)) = (v.input["nonce_b64"].as_str(), mk) else {
        return;
    };
    let side = match plan {
        Plan::Follow(side) => side,
        _ => Side::Python,
    };
    let lib_body: Value = serde_json::from_str(v.result(side)["body"].as_str().unwrap()).unwrap();
    let lib_payload: Value = serde_json::from_str(lib_body["data"].as_str().unwrap()).unwrap();
    let nonce: [u8; 24] = base64_decode(nonce).try_into().unwrap();
    let channel = event_channel(&lib_body);
    let plaintext = encode_data(&v.input["data"]).unwrap();
    let ours = mk
        .encrypt_with_nonce(&channel, plaintext.as_bytes(), &nonce)
        .unwrap();
    let ours: Value = serde_json::from_str(&ours).unwrap();
    assert_eq!(
        ours, lib_payload,
        "{}: ciphertext with the vector's nonce",
        v.id
    );
}
