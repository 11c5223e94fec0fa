//! Authorization rules, deny by default: channel-name patterns with `{placeholders}` (Laravel style), each
//! with an async closure that decides for the app's own user type.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::auth::{PresenceData, UserData};

/// What a rule answers for a channel subscription.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// Refuse (403).
    Deny,
    /// Allow a private or encrypted channel.
    Allow,
    /// Allow a presence channel with this member data (on other channels the data is ignored).
    Member(PresenceData),
}

impl Decision {
    /// Allows a presence subscription as `user_id` with `user_info`.
    pub fn member(user_id: impl Into<String>, user_info: Value) -> Self {
        Decision::Member(PresenceData::new(user_id).user_info(user_info))
    }
}

impl From<bool> for Decision {
    fn from(allow: bool) -> Self {
        if allow {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// The values captured by a pattern's `{placeholders}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelParams {
    /// The whole channel name.
    pub channel: String,
    values: BTreeMap<String, String>,
}

impl ChannelParams {
    /// The value captured for `{name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every captured value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: one or more characters other than `.`.
    Param(String),
    /// `{*name}`: one or more characters of any kind, `.` included.
    Rest(String),
}

/// A channel-name pattern: literal text with placeholders.
///
/// * `{name}` matches one or more characters other than `.` (as Laravel's broadcasting routes):
///   `private-orders.{id}` matches `private-orders.42` with `id` = `42`, and not `private-orders.4.2`.
/// * `{*name}` matches one or more characters of any kind, `.` included: `private-user-{*id}` matches
///   `private-user-ann@example.com` with `id` = `ann@example.com` (where `private-user-{id}` matches nothing,
///   the id holding a `.`). It may appear anywhere in the pattern, not only at the end.
///
/// Any string is a valid pattern; an unclosed `{`, or `{}`, is literal text. A name used by two placeholders
/// keeps the first one's value.
///
/// **Which split is captured.** When a name matches in several ways (`presence-{a}-{b}` against
/// `presence-x-y-z`), the placeholders are filled from left to right, each taking the longest value that
/// still lets the rest of the pattern match: `a` = `x-y`, `b` = `z`. This is the answer a backtracking
/// regular expression with greedy `(.+)` groups gives, computed without backtracking.
///
/// **Cost.** Matching is linear in the name's length for each part of the pattern: one pass from the end
/// of the name fills a table of which suffixes each tail of the pattern can match (`O(n × k)` steps for a
/// name of `n` bytes and a pattern of `k` parts, each step comparing at most one literal part), then one pass
/// from the start reads the captured values out of that table. No input makes it backtrack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPattern {
    source: String,
    segments: Vec<Segment>,
}

impl ChannelPattern {
    /// Parses a pattern.
    ///
    /// ```
    /// let p = pusher::integration::ChannelPattern::new("presence-room.{room}");
    /// assert_eq!(p.matches("presence-room.lobby").unwrap().get("room"), Some("lobby"));
    /// assert!(p.matches("presence-room.a.b").is_none());
    ///
    /// let p = pusher::integration::ChannelPattern::new("private-user-{*id}");
    /// assert_eq!(p.matches("private-user-ann@example.com").unwrap().get("id"), Some("ann@example.com"));
    /// ```
    pub fn new(pattern: &str) -> Self {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) if close > 0 && !after[..close].contains('{') => {
                    literal.push_str(&rest[..open]);
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    let inner = &after[..close];
                    segments.push(match inner.strip_prefix('*') {
                        Some(name) => Segment::Rest(name.to_owned()),
                        None => Segment::Param(inner.to_owned()),
                    });
                    rest = &after[close + 1..];
                }
                _ => {
                    literal.push_str(&rest[..=open]);
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        ChannelPattern {
            source: pattern.to_owned(),
            segments,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The captured values when `channel` matches the whole pattern.
    pub fn matches(&self, channel: &str) -> Option<ChannelParams> {
        self.match_counting(channel, &mut 0)
    }

    /// [`matches`](Self::matches), adding to `steps` one for each table cell filled and each candidate end
    /// tried while reading the values out: the measure the worst-case tests bound.
    pub(crate) fn match_counting(&self, channel: &str, steps: &mut usize) -> Option<ChannelParams> {
        let table = Table::fill(&self.segments, channel, steps)?;
        let s = channel.as_bytes();
        let mut values = BTreeMap::new();
        let mut at = 0;
        for (k, seg) in self.segments.iter().enumerate() {
            let (name, stop) = match seg {
                Segment::Literal(l) => {
                    at += l.len();
                    continue;
                }
                Segment::Param(name) => (name, table.next_dot[at]),
                Segment::Rest(name) => (name, s.len()),
            };
            // The longest value that lets the rest of the pattern match; the table says one exists.
            let mut end = stop;
            while end > at && !table.get(k + 1, end) {
                *steps += 1;
                end -= 1;
            }
            if end <= at {
                return None; // unreachable: the table holds a match from `at`
            }
            values
                .entry(name.clone())
                .or_insert_with(|| channel[at..end].to_owned());
            at = end;
        }
        Some(ChannelParams {
            channel: channel.to_owned(),
            values,
        })
    }
}

/// Which suffixes of the name each tail of the pattern matches: bit `(k, i)` is set when
/// `segments[k..]` matches `name[i..]` exactly. Rows are bitsets of `n + 1` bits.
struct Table {
    row_words: usize,
    bits: Vec<u64>,
    /// `next_dot[i]`: the index of the first `.` at or after `i` (or `n`), where a `{name}` value must end.
    next_dot: Vec<usize>,
}

impl Table {
    fn get(&self, k: usize, i: usize) -> bool {
        self.bits[k * self.row_words + i / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, k: usize, i: usize) {
        self.bits[k * self.row_words + i / 64] |= 1 << (i % 64);
    }

    /// Fills the table from the last part of the pattern to the first, each row in one pass from the end of
    /// the name; `None` when the whole pattern cannot match from the start.
    fn fill(segments: &[Segment], name: &str, steps: &mut usize) -> Option<Table> {
        let s = name.as_bytes();
        let n = s.len();
        // Cheap refusals first: the literal parts alone longer than the name.
        let literal_len: usize = segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(l) => l.len(),
                _ => 1,
            })
            .sum();
        if literal_len > n {
            return None;
        }
        let row_words = n / 64 + 1;
        let mut t = Table {
            row_words,
            bits: vec![0; row_words * (segments.len() + 1)],
            next_dot: vec![n; n + 1],
        };
        for i in (0..n).rev() {
            t.next_dot[i] = if s[i] == b'.' { i } else { t.next_dot[i + 1] };
        }
        t.set(segments.len(), n);
        for k in (0..segments.len()).rev() {
            // Whether this tail of the pattern matches any suffix: when not, nothing before it can.
            let mut any = false;
            match &segments[k] {
                Segment::Literal(l) => {
                    let l = l.as_bytes();
                    for i in (0..=n - l.len().min(n)).rev() {
                        *steps += 1;
                        if t.get(k + 1, i + l.len()) && s[i..].starts_with(l) {
                            t.set(k, i);
                            any = true;
                        }
                    }
                }
                Segment::Param(_) | Segment::Rest(_) => {
                    let rest = matches!(segments[k], Segment::Rest(_));
                    // The smallest end > i at which the rest of the pattern matches.
                    let mut next_end = usize::MAX;
                    for i in (0..n).rev() {
                        *steps += 1;
                        if t.get(k + 1, i + 1) && name.is_char_boundary(i + 1) {
                            next_end = i + 1;
                        }
                        let stop = if rest { n } else { t.next_dot[i] };
                        if name.is_char_boundary(i) && next_end <= stop {
                            t.set(k, i);
                            any = true;
                        }
                    }
                }
            }
            if !any {
                return None;
            }
        }
        t.get(0, 0).then_some(t)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type ChannelRule<U> = Arc<dyn Fn(U, ChannelParams) -> BoxFuture<Decision> + Send + Sync>;
type UserRule<U> = Arc<dyn Fn(U) -> BoxFuture<Option<UserData>> + Send + Sync>;

/// The default path of the channel authorization route (pusher-js's default).
pub const DEFAULT_AUTH_PATH: &str = "/pusher/auth";
/// The default path of the user authentication route (pusher-js's default).
pub const DEFAULT_USER_AUTH_PATH: &str = "/pusher/user-auth";
/// The default largest auth request body: 64 KiB.
pub const DEFAULT_AUTH_BODY_LIMIT: usize = 64 * 1024;

/// The ready-made auth routes: paths, limits, and the rules that decide, for the app's user type `U`.
/// Each framework crate turns it into its router with `routes(..)`.
///
/// Deny by default: a channel no rule matches is refused (403), public channels are refused (they need no
/// authorization), and a request whose user cannot be extracted is refused (401).
///
/// ```
/// use pusher::integration::{Authorizer, Decision};
/// use serde_json::json;
///
/// #[derive(Clone)]
/// struct User { id: String }
///
/// let auth = Authorizer::<User>::new()
///     .channel("private-orders.{id}", |user: User, p| async move {
///         Decision::from(p.get("id") == Some(user.id.as_str()))
///     })
///     .channel("presence-room.{room}", |user: User, _| async move {
///         Decision::member(user.id, json!({}))
///     })
///     .user(|user: User| async move { Some(pusher::UserData::new(user.id)) });
/// # let _ = auth;
/// ```
pub struct Authorizer<U> {
    rules: Vec<(ChannelPattern, ChannelRule<U>)>,
    user: Option<UserRule<U>>,
    pub(crate) auth_path: String,
    pub(crate) user_auth_path: String,
    pub(crate) batch_auth_path: Option<String>,
    pub(crate) body_limit: usize,
}

impl<U> Clone for Authorizer<U> {
    fn clone(&self) -> Self {
        Authorizer {
            rules: self.rules.clone(),
            user: self.user.clone(),
            auth_path: self.auth_path.clone(),
            user_auth_path: self.user_auth_path.clone(),
            batch_auth_path: self.batch_auth_path.clone(),
            body_limit: self.body_limit,
        }
    }
}

impl<U> std::fmt::Debug for Authorizer<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("user_auth", &self.user.is_some())
            .field("auth_path", &self.auth_path)
            .field("user_auth_path", &self.user_auth_path)
            .field("batch_auth_path", &self.batch_auth_path)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<U> Default for Authorizer<U>
where
    U: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<U> Authorizer<U>
where
    U: Clone + Send + Sync + 'static,
{
    /// No rules (everything refused), default paths (`/pusher/auth`, `/pusher/user-auth`), no batch route.
    pub fn new() -> Self {
        Authorizer {
            rules: Vec::new(),
            user: None,
            auth_path: DEFAULT_AUTH_PATH.to_owned(),
            user_auth_path: DEFAULT_USER_AUTH_PATH.to_owned(),
            batch_auth_path: None,
            body_limit: DEFAULT_AUTH_BODY_LIMIT,
        }
    }

    /// Adds a rule for channels matching `pattern`. The first matching rule decides.
    #[must_use]
    pub fn channel<F, Fut>(mut self, pattern: &str, rule: F) -> Self
    where
        F: Fn(U, ChannelParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        let rule: ChannelRule<U> = Arc::new(move |u, p| Box::pin(rule(u, p)));
        self.rules.push((ChannelPattern::new(pattern), rule));
        self
    }

    /// Sets how the user-auth route finds the signed-in user's data; `None` refuses (403). Without it the
    /// user-auth route refuses everyone.
    #[must_use]
    pub fn user<F, Fut>(mut self, rule: F) -> Self
    where
        F: Fn(U) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<UserData>> + Send + 'static,
    {
        self.user = Some(Arc::new(move |u| Box::pin(rule(u))));
        self
    }

    /// The channel authorization path (default `/pusher/auth`).
    #[must_use]
    pub fn auth_path(mut self, path: impl Into<String>) -> Self {
        self.auth_path = path.into();
        self
    }

    /// The user authentication path (default `/pusher/user-auth`).
    #[must_use]
    pub fn user_auth_path(mut self, path: impl Into<String>) -> Self {
        self.user_auth_path = path.into();
        self
    }

    /// Also serve batch channel authorization (the pusher-js-auth plugin's format) at `path`.
    #[must_use]
    pub fn batch_auth_path(mut self, path: impl Into<String>) -> Self {
        self.batch_auth_path = Some(path.into());
        self
    }

    /// The largest auth request body (default 64 KiB); larger is refused with 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The same rules for another user type `V`, converted to `U` by `convert` before each rule runs
    /// (e.g. when the app's extractor type wraps the type the rules were written for).
    pub fn map_user<V, F>(self, convert: F) -> Authorizer<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Fn(V) -> U + Send + Sync + 'static,
    {
        let convert = Arc::new(convert);
        let rules = self
            .rules
            .into_iter()
            .map(|(pattern, rule)| {
                let convert = Arc::clone(&convert);
                let mapped: ChannelRule<V> = Arc::new(move |v, p| rule(convert(v), p));
                (pattern, mapped)
            })
            .collect();
        let user = self.user.map(|rule| {
            let convert = Arc::clone(&convert);
            let mapped: UserRule<V> = Arc::new(move |v| rule(convert(v)));
            mapped
        });
        Authorizer {
            rules,
            user,
            auth_path: self.auth_path,
            user_auth_path: self.user_auth_path,
            batch_auth_path: self.batch_auth_path,
            body_limit: self.body_limit,
        }
    }

    /// The configured paths: channel auth, user auth, batch auth.
    pub fn paths(&self) -> (&str, &str, Option<&str>) {
        (
            &self.auth_path,
            &self.user_auth_path,
            self.batch_auth_path.as_deref(),
        )
    }

    /// The largest auth request body.
    pub fn limit(&self) -> usize {
        self.body_limit
    }

    /// Decides for `channel`: the first matching rule's answer, or `None` when no rule matches.
    pub async fn decide(&self, user: U, channel: &str) -> Option<Decision> {
        for (pattern, rule) in &self.rules {
            if let Some(params) = pattern.matches(channel) {
                return Some(rule(user, params).await);
            }
        }
        None
    }

    /// The signed-in user's data for user authentication (`None` when refused or not configured).
    pub async fn user_data(&self, user: U) -> Option<UserData> {
        match &self.user {
            Some(rule) => rule(user).await,
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = ChannelPattern::new("private-orders.{id}");
        assert_eq!(
            p.matches("private-orders.42").unwrap().get("id"),
            Some("42")
        );
        assert!(p.matches("private-orders.").is_none());
        assert!(p.matches("private-orders.4.2").is_none());
        assert!(p.matches("private-orders-42").is_none());
        let p = ChannelPattern::new("private-user-{name}");
        assert_eq!(
            p.matches("private-user-alice").unwrap().get("name"),
            Some("alice")
        );
        let p = ChannelPattern::new("presence-{a}-{b}");
        let m = p.matches("presence-x-y-z").unwrap();
        assert_eq!((m.get("a"), m.get("b")), (Some("x-y"), Some("z")));
        let p = ChannelPattern::new("exact{");
        assert!(p.matches("exact{").is_some());
        let p = ChannelPattern::new("private-a");
        assert!(p.matches("private-a").is_some());
        assert!(p.matches("private-ab").is_none());
    }

    /// The semantics before the linear matcher: try every split, longest first. Kept as the reference the
    /// captures are compared with (on short names only: it is exponential).
    fn backtracking(segs: &[Segment], s: &str, out: &mut BTreeMap<String, String>) -> bool {
        let Some((first, rest)) = segs.split_first() else {
            return s.is_empty();
        };
        let (name, max) = match first {
            Segment::Literal(l) => {
                return s
                    .strip_prefix(l.as_str())
                    .is_some_and(|tail| backtracking(rest, tail, out));
            }
            Segment::Param(name) => (name, s.find('.').unwrap_or(s.len())),
            Segment::Rest(name) => (name, s.len()),
        };
        for end in (1..=max).rev() {
            if s.is_char_boundary(end) && backtracking(rest, &s[end..], out) {
                // Inserted after the tail's values: the first placeholder of a repeated name wins.
                out.insert(name.clone(), s[..end].to_owned());
                return true;
            }
        }
        false
    }

    #[test]
    fn captures_are_the_greedy_left_to_right_split() {
        let patterns = [
            "p-{a}-{b}",
            "p-{a}-{b}-{c}",
            "{a}.{b}",
            "{a}{b}",
            "{*a}-{b}",
            "{a}-{*b}",
            "{*a}.{*b}",
            "p{a}-{a}",
            "{*a}",
            "x-{a}é{b}",
            "{a}--{b}.",
        ];
        // Every name up to 6 characters over a small alphabet (plus a prefix), against every pattern.
        let alphabet = ['a', '-', '.', 'é'];
        let mut names = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for n in &frontier {
                for c in alphabet {
                    next.push(format!("{n}{c}"));
                }
            }
            names.extend(next.iter().cloned());
            frontier = next;
        }
        let mut matched = 0;
        for p in patterns {
            let pattern = ChannelPattern::new(p);
            for base in &names {
                for name in [base.clone(), format!("p-{base}"), format!("x-{base}")] {
                    let mut expected = BTreeMap::new();
                    let ok = backtracking(&pattern.segments, &name, &mut expected);
                    let got = pattern.matches(&name);
                    assert_eq!(got.is_some(), ok, "{p} on {name:?}");
                    if let Some(got) = got {
                        matched += 1;
                        assert_eq!(got.values, expected, "{p} on {name:?}");
                        assert_eq!(got.channel, name);
                    }
                }
            }
        }
        assert!(matched > 1000, "{matched}");
    }

    #[test]
    fn rest_placeholder_matches_dots() {
        let p = ChannelPattern::new("private-user-{*id}");
        let m = p.matches("private-user-ann.lee@example.com").unwrap();
        assert_eq!(m.get("id"), Some("ann.lee@example.com"));
        assert!(p.matches("private-user-").is_none());
        // The `{id}` form still stops at a dot.
        assert!(
            ChannelPattern::new("private-user-{id}")
                .matches("private-user-ann@example.com")
                .is_none()
        );
        // Anywhere in the pattern, next to ordinary placeholders.
        let p = ChannelPattern::new("presence-{*team}.room-{room}");
        let m = p.matches("presence-acme.eu.room-7").unwrap();
        assert_eq!((m.get("team"), m.get("room")), (Some("acme.eu"), Some("7")));
        assert!(p.matches("presence-acme.eu.room-7.x").is_none());
        let m = ChannelPattern::new("{*all}").matches("a.b").unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![("all", "a.b")]);
    }

    /// The denial of service reported against the backtracking matcher: several `-`-separated placeholders
    /// against a near-miss name of dashes cost `C(n, k)` tries (0.33 s for one 200-character name). The
    /// linear matcher's steps are bounded by `2 (k + 1) (n + 1)`, whatever the name.
    #[test]
    fn worst_case_match_is_linear_in_the_name() {
        let p = ChannelPattern::new("presence-{a}-{b}-{c}-{d}");
        let k = p.segments.len();
        for dashes in [187, 1_000, 10_000] {
            for tail in [".123", "", "-", "x"] {
                let name = format!("presence-{}{tail}", "-".repeat(dashes));
                let n = name.len();
                let mut steps = 0;
                let m = p.match_counting(&name, &mut steps);
                // `{d}` cannot hold the `.`; a name of dashes matches (7 suffice).
                assert_eq!(m.is_some(), tail != ".123", "{dashes} {tail:?}");
                assert!(
                    steps <= 2 * (k + 1) * (n + 1),
                    "{steps} steps for {n} bytes and {k} parts"
                );
            }
        }
        // Rest placeholders too: `{*a}` may span dots, so every split is open.
        let p = ChannelPattern::new("{*a}-{*b}-{*c}-{*d}-{*e}!");
        let k = p.segments.len();
        let name = "-.".repeat(5_000);
        let mut steps = 0;
        assert!(p.match_counting(&name, &mut steps).is_none());
        assert!(steps <= 2 * (k + 1) * (name.len() + 1), "{steps}");
    }

    #[tokio::test]
    async fn first_match_decides_and_default_is_none() {
        let a = Authorizer::<String>::new()
            .channel("private-{x}", |u, p| async move {
                Decision::from(p.get("x") == Some(u.as_str()))
            })
            .channel("private-bob", |_, _| async { Decision::Allow });
        assert_eq!(
            a.decide("al".into(), "private-al").await,
            Some(Decision::Allow)
        );
        assert_eq!(
            a.decide("al".into(), "private-bob").await,
            Some(Decision::Deny)
        );
        assert_eq!(a.decide("al".into(), "presence-x").await, None);
        assert_eq!(a.user_data("al".into()).await, None);
        let mapped = a.map_user(|n: usize| "x".repeat(n));
        assert_eq!(mapped.decide(1, "private-x").await, Some(Decision::Allow));
    }
}
