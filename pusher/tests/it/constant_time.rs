//! Signature comparisons are constant-time by construction.
//!
//! A timing leak cannot be observed reliably from a test, so the rule is enforced on the source instead:
//!
//! * [`constant_time_eq`] is the one comparison function, and it is tested here on its own;
//! * every credential check (webhook signature and key, channel/user auth signature and key) calls it;
//! * no library source compares a value named like a signature, MAC, digest, token, tag, hash or secret with
//!   `==`, `!=`, `.eq(`, `.cmp(`, `.starts_with(`, `assert_eq!`, … (all of which stop at the first
//!   difference), and nothing calls the `hmac`/`subtle` comparison methods directly (so there is one place
//!   to review).
//!
//! The scan reads the `.rs` files under `src/` of this crate and of the framework integrations (when built
//! from the workspace), with comments, string literals and `#[cfg(test)]` modules blanked out. It is a
//! lexical check, not a type check: it looks at the identifiers on both sides of each comparison. The
//! exceptions are listed in [`ALLOWED`], each with its reason; an entry that no longer matches anything fails
//! the test, so the list cannot go stale.

use std::path::{Path, PathBuf};

use pusher::signing::constant_time_eq;

#[test]
fn constant_time_eq_compares_every_byte() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"a", b"a"));
    let sig = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert!(constant_time_eq(&sig, &sig.clone()));
    // Any single bit flipped anywhere, including the first and the last byte.
    for i in 0..sig.len() {
        for bit in 0..8 {
            let mut other = sig;
            other[i] ^= 1 << bit;
            assert!(!constant_time_eq(&sig, &other), "byte {i} bit {bit}");
            assert!(!constant_time_eq(&other, &sig), "byte {i} bit {bit}");
        }
    }
    // Different lengths, including a prefix and the empty string: never equal.
    assert!(!constant_time_eq(&sig, &sig[..63]));
    assert!(!constant_time_eq(&sig[..63], &sig));
    assert!(!constant_time_eq(&sig, b""));
    assert!(!constant_time_eq(b"", &sig));
    assert!(!constant_time_eq(b"a", b"aa"));
    // Differences that cancel out under a sum but not under OR.
    assert!(!constant_time_eq(&[1, 2], &[2, 1]));
    assert!(!constant_time_eq(&[0x00, 0xff], &[0xff, 0x00]));
}

/// What may be compared though it looks sensitive: (file name, text of the comparison, reason).
/// The text is the comparison as [`Comparison::shown`] writes it (operator, then both sides, whitespace
/// collapsed).
const ALLOWED: &[(&str, &str, &str)] = &[(
    "conformance.rs",
    "assert_eq!( auth | expected",
    "test-suite assertion on a signature the suite computed itself; the diff is the useful output",
)];

/// Parts of an identifier (split at `_` and lower-to-upper case changes, lowercased) that name a secret or
/// a value derived from one.
const SENSITIVE: &[&str] = &[
    "sig",
    "sigs",
    "signature",
    "signatures",
    "signed",
    "mac",
    "macs",
    "hmac",
    "digest",
    "token",
    "tokens",
    "secret",
    "secrets",
    "tag",
    "hash",
    "auth",
    "password",
    "credential",
    "credentials",
];

/// Calls that compare without the constant-time function: early-exit comparisons, and the `hmac`/`subtle`
/// comparison methods (constant-time, but a second comparison path to keep in sync).
const FORBIDDEN_CALLS: &[&str] = &[
    "verify_slice",
    "verify_truncated_left",
    "verify_truncated_right",
    "ct_eq",
    "ConstantTimeEq",
];

#[test]
fn no_signature_is_compared_with_eq() {
    let files = source_files();
    assert!(
        files.iter().any(|(p, _)| p.ends_with("webhook.rs")),
        "scan found no sources"
    );
    let mut used = vec![false; ALLOWED.len()];
    let mut problems = Vec::new();
    for (path, text) in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let code = library_code(text);
        for c in comparisons(&code) {
            if !is_sensitive(&c.sides) {
                continue;
            }
            let shown = c.shown();
            match ALLOWED
                .iter()
                .position(|(f, t, _)| *f == name && *t == shown)
            {
                Some(i) => used[i] = true,
                None => problems.push(format!("{}:{}: {shown}", path.display(), c.line)),
            }
        }
        for word in words(&code) {
            if FORBIDDEN_CALLS.contains(&word.text) {
                problems.push(format!(
                    "{}:{}: {} (compare with pusher::signing::constant_time_eq)",
                    path.display(),
                    word.line,
                    word.text
                ));
            }
        }
    }
    for (i, (f, t, why)) in ALLOWED.iter().enumerate() {
        assert!(
            used[i],
            "allow-list entry no longer matches anything, remove it: {f}: {t} ({why})"
        );
    }
    assert!(
        problems.is_empty(),
        "signature-like values compared without signing::constant_time_eq:\n{}",
        problems.join("\n")
    );
}

/// The credential checks themselves: each function must call `constant_time_eq` at least this many times,
/// and `fn constant_time_eq` is defined once, in `signing.rs`.
#[test]
fn credential_checks_call_constant_time_eq() {
    let files = source_files();
    let code_of = |name: &str| {
        let (_, text) = files
            .iter()
            .find(|(p, _)| p.ends_with(Path::new("src").join(name)))
            .unwrap_or_else(|| panic!("no src/{name}"));
        library_code(text)
    };
    for (file, function, calls) in [
        // The signature, and the key lookup among the app key and the extra webhook tokens.
        ("webhook/verify.rs", "fn verify(", 2),
        // The key, and the signature (through verify_hmac_sha256).
        ("testing.rs", "fn auth_is_valid(", 1),
        ("signing.rs", "fn verify_hmac_sha256(", 1),
    ] {
        let body = function_body(&code_of(file), function)
            .unwrap_or_else(|| panic!("{file}: {function} not found"));
        let n = body.matches("constant_time_eq(").count();
        assert!(
            n >= calls,
            "{file}: {function} calls constant_time_eq {n} times, expected {calls}"
        );
    }
    assert!(
        function_body(&code_of("testing.rs"), "fn auth_is_valid(")
            .is_some_and(|b| b.contains("verify_hmac_sha256(")),
        "auth_is_valid must check the signature with signing::verify_hmac_sha256"
    );
    // The function itself: its only comparisons are of the lengths and of the OR of all differences.
    let body = function_body(&code_of("signing.rs"), "pub fn constant_time_eq(").unwrap();
    let shown: Vec<String> = comparisons(&body).iter().map(Comparison::shown).collect();
    assert_eq!(
        shown,
        ["!= a.len() | b.len()", "== std::hint::black_box(diff) | 0"],
        "constant_time_eq must compare only the lengths and the OR of the byte differences"
    );
    assert!(body.contains("x ^ y") && body.contains(".fold("), "{body}");
    let definitions: Vec<String> = files
        .iter()
        .filter(|(_, text)| library_code(text).contains("fn constant_time_eq("))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(
        definitions.len(),
        1,
        "one constant_time_eq: {definitions:?}"
    );
    assert!(definitions[0].ends_with("signing.rs"), "{definitions:?}");
}

/// The scan itself finds what it should, and only that.
#[test]
fn scanner_flags_early_exit_comparisons() {
    let flagged = |src: &str| -> Vec<String> {
        comparisons(&library_code(src))
            .into_iter()
            .filter(|c| is_sensitive(&c.sides))
            .map(|c| c.shown())
            .collect()
    };
    for src in [
        "fn f() { if sig == expected { } }",
        "fn f() { if expected != sig { } }",
        "fn f() -> bool { mac.finalize().into_bytes()[..] == sig[..] }",
        "fn f() -> bool { computed.eq(&signature) }",
        "fn f() -> bool { self.signature().ne(x) }",
        "fn f() { let ok = a.as_bytes() == hmac_sha256_hex(s, m).as_bytes(); }",
        "fn f() { assert_eq!(token, given); }",
        "fn f() { x.find(|(k, _)| k.secret == want) }",
        "fn f() { matches!(x, y if y.starts_with(&signature)) }",
        "fn f() -> bool { given\n    ==\n    expectedSignature }",
        "fn f() { match a.cmp(&digest) { _ => {} } }",
        "fn f() -> bool { Some(tag) == t }",
    ] {
        assert_eq!(flagged(src).len(), 1, "not flagged: {src}");
    }
    for src in [
        "fn f() { if constant_time_eq(sig, expected) { } }",
        "fn f() { if key == other_key { } }",
        "fn f() { if sig.len() != 64 { } }",
        "fn f() { // sig == expected\n }",
        "fn f() { /* sig == expected */ }",
        "fn f() { let s = \"sig == expected\"; }",
        "fn f() { let s = r#\"sig == \"expected\"\"#; }",
        "fn f<'a>(x: &'a str) { let c = '='; }",
        "fn f() { if a <= b && c >= d { } }",
        "#[cfg(test)]\nmod tests { fn t() { assert_eq!(sig, expected); } }",
    ] {
        assert_eq!(flagged(src), Vec::<String>::new(), "flagged: {src}");
    }
    // Both sides stop at the enclosing boolean operators and brackets.
    let c = comparisons(&library_code(
        "fn f() { if ready && sig == want || (x, y == z) { } }",
    ));
    let shown: Vec<String> = c.iter().map(Comparison::shown).collect();
    assert_eq!(shown, ["== sig | want", "== y | z"]);
    assert_eq!(
        words(&library_code("fn f() { mac.verify_slice(&s) }"))
            .iter()
            .filter(|w| FORBIDDEN_CALLS.contains(&w.text))
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------------------------
// The scanner.

/// The `.rs` files under `src/` of this crate, and of the framework integrations when this crate is built
/// inside its workspace.
fn source_files() -> Vec<(PathBuf, String)> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![here.join("src")];
    if let Some(workspace) = here.parent() {
        if workspace.join("Cargo.toml").is_file() {
            for krate in ["pusher-axum", "pusher-actix", "pusher-rocket"] {
                let src = workspace.join(krate).join("src");
                if src.is_dir() {
                    roots.push(src);
                }
            }
        }
    }
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                roots.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

/// `src` with comments, string and char literals, and `#[cfg(test)]` modules replaced by spaces (newlines
/// kept, so line numbers stay right).
fn library_code(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut [u8], from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(hashes) = raw_string_start(b, i) {
            // r"…", r#"…"#, br#"…"#: ends at a quote followed by the same number of hashes.
            let open = b[i..].iter().position(|&c| c == b'"').unwrap() + i;
            let mut j = open + 1;
            while j < b.len()
                && !(b[j] == b'"'
                    && b[j + 1..].iter().take_while(|&&c| c == b'#').count() >= hashes)
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime / label ('a), which is left alone.
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p + 1)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 2 + ch)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    // Comments and strings are gone, so braces balance: drop `#[cfg(test)] mod … { … }`.
    let mut code = String::from_utf8(out).unwrap();
    while let Some(at) = code.find("#[cfg(test)]") {
        let after = &code[at..];
        let Some(open) = after.find('{') else { break };
        let head = &after[..open];
        let is_mod = !head.contains(';') && head.split_whitespace().any(|w| w == "mod");
        let end = if is_mod {
            matching_brace(after.as_bytes(), open).map_or(code.len(), |e| at + e + 1)
        } else {
            at + "#[cfg(test)]".len()
        };
        let blanked: String = code[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        code.replace_range(at..end, &blanked);
    }
    code
}

/// At `i`, the start of a raw (byte) string literal: the number of `#`s.
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let j = match b.get(i..i + 2) {
        Some(b"br") => i + 2,
        _ if b[i] == b'r' => i + 1,
        _ => return None,
    };
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    (b.get(j + hashes) == Some(&b'"')).then_some(hashes)
}

/// The index of the bracket closing the one at `open`.
fn matching_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The body (from its first `{` to the matching `}`) of the first function whose text starts with `head`.
fn function_body(code: &str, head: &str) -> Option<String> {
    let at = code.find(head)?;
    let open = at + code[at..].find('{')?;
    let close = matching_brace(code.as_bytes(), open)?;
    Some(code[open..=close].to_owned())
}

struct Word<'a> {
    text: &'a str,
    line: usize,
}

/// The identifiers of `code`, with their line numbers.
fn words(code: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code
        .char_indices()
        .chain(std::iter::once((code.len(), ' ')))
    {
        let ident = c.is_alphanumeric() || c == '_';
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let text = &code[s..i];
                if !text.starts_with(|c: char| c.is_ascii_digit()) {
                    let line = code[..s].matches('\n').count() + 1;
                    out.push(Word { text, line });
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// One comparison: the operator or method, and the text of what it compares.
struct Comparison {
    op: String,
    sides: Vec<String>,
    line: usize,
}

impl Comparison {
    fn shown(&self) -> String {
        let sides: Vec<String> = self
            .sides
            .iter()
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        format!("{} {}", self.op, sides.join(" | "))
    }
}

/// Binary operators compared as `a OP b`.
const OPERATORS: &[&str] = &["==", "!="];
/// Methods compared as `receiver.METHOD(argument)`.
const METHODS: &[&str] = &[
    "eq",
    "ne",
    "cmp",
    "partial_cmp",
    "starts_with",
    "ends_with",
    "strip_prefix",
    "strip_suffix",
    "eq_ignore_ascii_case",
    "contains",
];
/// Macros compared as `MACRO!(a, b, …)`.
const MACROS: &[&str] = &[
    "assert_eq",
    "assert_ne",
    "debug_assert_eq",
    "debug_assert_ne",
];

/// Every comparison in `code` (already through [`library_code`]).
fn comparisons(code: &str) -> Vec<Comparison> {
    let b = code.as_bytes();
    let line_of = |i: usize| code[..i].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let two = &b[i..i + 2];
        if OPERATORS.iter().any(|op| op.as_bytes() == two)
            && b.get(i + 2) != Some(&b'=')
            && (i == 0 || !b"=<>!".contains(&b[i - 1]) || two == b"!=")
        {
            out.push(Comparison {
                op: String::from_utf8_lossy(two).into_owned(),
                sides: vec![
                    code[operand_start(b, i)..i].to_owned(),
                    code[i + 2..operand_end(b, i + 2)].to_owned(),
                ],
                line: line_of(i),
            });
            i += 2;
            continue;
        }
        i += 1;
    }
    for w in words(code) {
        let at = w.text.as_ptr() as usize - code.as_ptr() as usize;
        let after = at + w.text.len();
        if METHODS.contains(&w.text) && at > 0 && b[at - 1] == b'.' && b.get(after) == Some(&b'(') {
            let close = matching_brace(b, after).unwrap_or(b.len() - 1);
            out.push(Comparison {
                op: format!(".{}(", w.text),
                sides: vec![
                    code[operand_start(b, at - 1)..at - 1].to_owned(),
                    code[after + 1..close].to_owned(),
                ],
                line: w.line,
            });
        } else if MACROS.contains(&w.text)
            && b.get(after) == Some(&b'!')
            && b.get(after + 1) == Some(&b'(')
        {
            let close = matching_brace(b, after + 1).unwrap_or(b.len() - 1);
            let args = split_top_level(&code[after + 2..close]);
            out.push(Comparison {
                op: format!("{}!(", w.text),
                sides: args.into_iter().take(2).map(str::to_owned).collect(),
                line: w.line,
            });
        }
    }
    out.sort_by_key(|c| c.line);
    out
}

/// Splits at the commas outside brackets.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

/// Where the left operand ending at `end` starts: walking back over balanced brackets, up to an unmatched
/// opening bracket or a `,`, `;`, `{`, `}`, `&&`, `||`, `=` or `=>` outside brackets, or a keyword.
fn operand_start(b: &[u8], end: usize) -> usize {
    let mut depth = 0i32;
    let mut j = end;
    while j > 0 {
        let c = b[j - 1];
        match c {
            b')' | b']' => depth += 1,
            b'(' | b'[' => {
                if depth == 0 {
                    return j;
                }
                depth -= 1;
            }
            b'{' | b'}' | b';' if depth == 0 => return j,
            b',' | b'|' | b'=' if depth == 0 => {
                // `&&`, `||`, `=`, `=>`, and closure bars `|x|` all end the operand; `==` has been split off.
                return j;
            }
            b'&' if depth == 0 && j >= 2 && b[j - 2] == b'&' => return j,
            _ => {}
        }
        if depth == 0 && ends_with_keyword(&b[..j - 1]) && !is_ident(c) {
            return j;
        }
        j -= 1;
    }
    0
}

/// Where the right operand starting at `start` ends (exclusive).
fn operand_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0i32;
    let mut j = start;
    while j < b.len() {
        let c = b[j];
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => {
                if depth == 0 {
                    return j;
                }
                depth -= 1;
            }
            b'{' | b'}' | b';' | b',' | b'=' | b'?' if depth == 0 => return j,
            b'|' if depth == 0 && b.get(j + 1) == Some(&b'|') => return j,
            b'&' if depth == 0 && b.get(j + 1) == Some(&b'&') => return j,
            _ => {}
        }
        j += 1;
    }
    j
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `b` ends with a keyword that starts an expression (`if`, `return`, …) as a whole word.
fn ends_with_keyword(b: &[u8]) -> bool {
    ["if", "while", "return", "let", "match", "in", "else"]
        .iter()
        .any(|k| {
            b.ends_with(k.as_bytes()) && (b.len() == k.len() || !is_ident(b[b.len() - k.len() - 1]))
        })
}

/// Whether any identifier in the compared text names something secret ([`SENSITIVE`]). Lengths are
/// public, so a comparison with a side ending in `.len()` (`sig.len() != SIG_LEN`) does not count.
fn is_sensitive(sides: &[String]) -> bool {
    if sides.iter().any(|side| side.trim().ends_with(".len()")) {
        return false;
    }
    sides.iter().any(|side| {
        words(side).iter().any(|w| {
            identifier_parts(w.text)
                .iter()
                .any(|p| SENSITIVE.contains(&p.as_str()))
        })
    })
}

/// `expectedSignature` → `expected`, `signature`; `auth_signature` → `auth`, `signature`.
fn identifier_parts(ident: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for piece in ident.split('_').filter(|p| !p.is_empty()) {
        let mut current = String::new();
        let mut prev_lower = false;
        for c in piece.chars() {
            if c.is_uppercase() && prev_lower && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            current.extend(c.to_lowercase());
        }
        parts.push(current);
    }
    parts
}
