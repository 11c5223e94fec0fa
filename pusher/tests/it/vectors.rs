//! Known-answer tests from `tests/data/vectors.json` (see `tests/data/README.md`): what the official Python (3.3.4) and Node (5.3.4)
//! libraries did with the same input, frozen clock and nonces. For every vector we decide a [`Plan`]:
//!
//! * both libraries gave the same bytes ([`Plan::Exact`]): we give those bytes;
//! * they agree once JSON is parsed and signatures are checked against their own bytes
//!   ([`Plan::Semantic`]): we give the same normalised view, and our signatures verify against what we send
//!   (recomputed in this test, not by the crate);
//! * both refused ([`Plan::Refuse`]): we refuse with a typed [`pusher::Error`];
//! * they disagree, or we deliberately differ from both: each module lists our documented choice by vector id
//!   ([`Choices`]), and an unlisted disagreement fails the test, so a new vector forces a decision.
//!
//! Inputs our typed API cannot express (a presence member without a string `user_id`, user data with extra
//! top-level fields, a number where a string is required) are listed by id: the ones both libraries refuse
//! count as refused by the type system, the others as skipped, and each list must match exactly.

mod auth;
mod config;
mod crypto;
mod requests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// One case of `vectors.json`.
#[derive(Debug)]
pub struct Vector {
    pub id: String,
    pub op: String,
    pub input: Value,
    pub python: Value,
    pub node: Value,
    pub outcome: String,
    pub agree: bool,
    pub agree_semantic: bool,
    pub semantic: Value,
}

fn vectors_path() -> PathBuf {
    match std::env::var_os("PUSHER_VECTORS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/vectors.json"
        )),
    }
}

/// Every vector. Panics, naming the path, when the file is missing or malformed: these tests must never pass
/// by finding nothing.
pub fn all() -> &'static [Vector] {
    static ALL: OnceLock<Vec<Vector>> = OnceLock::new();
    ALL.get_or_init(|| {
        let path = vectors_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "known-answer vectors not found at {}: {e}; set PUSHER_VECTORS to the path of vectors.json",
                path.display()
            )
        });
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
        let list = doc["vectors"]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no `vectors` list", path.display()));
        list.iter()
            .map(|v| Vector {
                id: v["id"].as_str().expect("vector id").to_owned(),
                op: v["op"].as_str().expect("vector op").to_owned(),
                input: v["input"].clone(),
                python: v["python"].clone(),
                node: v["node"].clone(),
                outcome: v["outcome"].as_str().expect("vector outcome").to_owned(),
                agree: v["agree"].as_bool().unwrap_or(false),
                agree_semantic: v["agree_semantic"].as_bool().unwrap_or(false),
                semantic: v["semantic"].clone(),
            })
            .collect()
    })
}

/// The vectors of one op; panics when there are none.
pub fn of_op(op: &str) -> Vec<&'static Vector> {
    let found: Vec<_> = all().iter().filter(|v| v.op == op).collect();
    assert!(
        !found.is_empty(),
        "no `{op}` vectors in {}",
        vectors_path().display()
    );
    found
}

/// One of the two reference libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Python,
    Node,
}

/// What we check for a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Both libraries gave the same bytes: match them exactly.
    Exact,
    /// Both gave the same normalised view: match it, and verify our own signatures.
    Semantic,
    /// Our documented choice is this library's result (normalised view).
    Follow(Side),
    /// We refuse with a typed error: both libraries refused, or it is our documented choice.
    Refuse,
    /// Our documented choice matches neither library; the module checks it case by case.
    Own,
}

/// Our choice for each vector where the libraries disagree or where we deliberately differ from both.
pub type Choices = &'static [(&'static str, Plan)];

impl Vector {
    /// The plan for this vector: our recorded choice if there is one, otherwise what the libraries agree on.
    pub fn plan(&self, choices: Choices) -> Plan {
        if let Some((_, plan)) = choices.iter().find(|(id, _)| *id == self.id) {
            if let Plan::Follow(side) = plan {
                assert_eq!(
                    self.side(*side)["ok"],
                    true,
                    "{}: we follow {side:?}, which refused",
                    self.id
                );
            }
            return *plan;
        }
        match (self.outcome.as_str(), self.agree, self.agree_semantic) {
            ("both_error", _, _) => Plan::Refuse,
            ("both_ok", true, _) => Plan::Exact,
            ("both_ok", false, true) => Plan::Semantic,
            (outcome, _, _) => panic!(
                "{}: the libraries disagree ({outcome}) and no choice of ours is recorded for it",
                self.id
            ),
        }
    }

    /// Whether our plan is to refuse, without requiring a choice (for inputs we cannot express).
    pub fn refused_by_us(&self, choices: Choices) -> bool {
        match choices.iter().find(|(id, _)| *id == self.id) {
            Some((_, plan)) => *plan == Plan::Refuse,
            None => self.outcome == "both_error",
        }
    }

    pub fn side(&self, side: Side) -> &Value {
        match side {
            Side::Python => &self.python,
            Side::Node => &self.node,
        }
    }

    /// The result of a library that succeeded.
    pub fn result(&self, side: Side) -> &Value {
        let r = self.side(side);
        assert_eq!(r["ok"], true, "{}: {side:?} did not succeed", self.id);
        &r["result"]
    }

    /// The libraries' common normalised view, without the fields we cannot reproduce (random nonces) and
    /// the generator's own flags.
    pub fn semantic_view(&self) -> Value {
        assert!(self.agree_semantic, "{}: no common semantic view", self.id);
        let mut v = strip_nonces(self.semantic.clone());
        if let Some(o) = v.as_object_mut() {
            o.remove("self_consistent");
        }
        v
    }

    /// A string input field.
    pub fn str(&self, key: &str) -> &str {
        self.input[key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: input.{key} is not a string", self.id))
    }
}

/// Removes `$nonce` (the frozen nonce of an encrypted payload) everywhere.
pub fn strip_nonces(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("$nonce");
            for x in o.values_mut() {
                *x = strip_nonces(x.take());
            }
        }
        Value::Array(a) => {
            for x in a {
                *x = strip_nonces(x.take());
            }
        }
        _ => {}
    }
    v
}

/// JSON equality where numbers compare by value (`1.0` == `1`, as in JavaScript and pusher-js).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

#[track_caller]
pub fn assert_json_eq(id: &str, what: &str, ours: &Value, expected: &Value) {
    assert!(
        json_eq(ours, expected),
        "{id}: {what} differs\n  ours:     {ours}\n  expected: {expected}"
    );
}

/// A data string as pusher-js decodes it: JSON when it parses, the raw string otherwise.
pub fn parse_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// Our JSON is compact and raw UTF-8 (Node style): no whitespace between tokens, and `\u` escapes only for
/// control characters.
#[track_caller]
pub fn assert_compact_utf8(id: &str, json: &str) {
    let mut chars = json.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '"' => in_string = false,
                '\\' if chars.next() == Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).unwrap();
                    assert!(
                        code < 0x20,
                        "{id}: \\u{hex} escape in {json:?} (we send raw UTF-8)"
                    );
                }
                _ => {}
            }
        } else {
            assert!(
                !c.is_whitespace(),
                "{id}: whitespace between JSON tokens in {json:?}"
            );
            in_string = c == '"';
        }
    }
}

/// A builder from a vector's `creds`, or `None` when they cannot be expressed with our types (a number as
/// app id, a string as port).
pub fn builder(creds: &Value) -> Option<pusher::PusherBuilder> {
    let text = |k: &str| creds[k].as_str();
    let mut b = pusher::Pusher::builder(text("app_id")?, text("key")?, text("secret")?);
    if let Some(h) = text("host") {
        b = b.host(h);
    }
    if let Some(c) = text("cluster") {
        b = b.cluster(c);
    }
    match &creds["port"] {
        Value::Null => {}
        p => b = b.port(u16::try_from(p.as_u64()?).ok()?),
    }
    if let Some(tls) = creds["ssl"].as_bool() {
        b = b.use_tls(tls);
    }
    Some(b)
}

/// Counts what was checked per op, and which ids were skipped or refused by the type system.
#[derive(Default)]
pub struct Tally {
    counts: BTreeMap<String, usize>,
    pub skipped: Vec<String>,
    pub type_refused: Vec<String>,
}

impl Tally {
    pub fn count(&mut self, plan: Plan) {
        let label = match plan {
            Plan::Exact => "exact".to_owned(),
            Plan::Semantic => "semantic".to_owned(),
            Plan::Follow(Side::Python) => "follow-python".to_owned(),
            Plan::Follow(Side::Node) => "follow-node".to_owned(),
            Plan::Refuse => "refused".to_owned(),
            Plan::Own => "own-choice".to_owned(),
        };
        *self.counts.entry(label).or_default() += 1;
    }

    /// Prints the summary (visible with `--nocapture`) and checks that every vector of `ops` was counted and
    /// that the skipped and type-refused ids are exactly the expected ones.
    pub fn finish(mut self, ops: &[&str], skipped: &[&str], type_refused: &[&str]) {
        let vectors: Vec<_> = ops.iter().flat_map(|op| of_op(op)).collect();
        let (mut skipped, mut type_refused) = (skipped.to_vec(), type_refused.to_vec());
        for list in [&mut skipped, &mut type_refused] {
            list.sort_unstable();
        }
        self.skipped.sort();
        self.type_refused.sort();
        assert_eq!(self.skipped, skipped, "skipped vectors of {ops:?}");
        assert_eq!(
            self.type_refused, type_refused,
            "vectors of {ops:?} refused by the type system"
        );
        let checked: usize = self.counts.values().sum();
        assert_eq!(
            checked + self.skipped.len() + self.type_refused.len(),
            vectors.len(),
            "every vector of {ops:?} is checked, skipped or refused by the type system"
        );
        println!(
            "{ops:?}: {} vectors: {:?}, refused by the type system {:?}, skipped {:?}",
            vectors.len(),
            self.counts,
            self.type_refused,
            self.skipped
        );
    }
}

/// Every recorded choice names a vector of the file (a stale id means the table and the file drifted apart).
pub fn check_choices(choices: Choices) {
    for (id, _) in choices {
        assert!(
            all().iter().any(|v| v.id == *id),
            "a choice is recorded for {id}, which is not a vector"
        );
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// A current-thread runtime for the async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
