//! Authorization rules, deny by default: channel-name patterns with `{placeholders}` (Laravel style), each
//! with an async closure that decides for the app's own user type, with the request's context
//! ([`ChannelContext`]: the captured values, `socket_id`, pusher-js's extra `params`, the app's state).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

use super::AuthError;
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
    /// Allows a presence subscription as `user_id` with `user_info`: any serializable value (a struct of
    /// the app's own, a `serde_json::Value`…), turned into JSON here. Fails, as a [`RuleError`] answered
    /// 500 `server misconfigured`, when it cannot be turned into JSON (a map with non-string keys, a
    /// failing `Serialize`), so a rule returns it as is:
    ///
    /// ```
    /// use pusher::integration::{Authorizer, Decision};
    /// #[derive(Clone, serde::Serialize)]
    /// struct User { id: String, name: String }
    /// let rules = Authorizer::new().channel("presence-room.{room}", |user: User, _| async move {
    ///     Decision::member(user.id.clone(), &user)
    /// });
    /// # let _ = rules;
    /// ```
    pub fn member(
        user_id: impl Into<String>,
        user_info: impl Serialize,
    ) -> Result<Decision, RuleError> {
        PresenceData::new(user_id)
            .user_info(user_info)
            .map(Decision::Member)
            .map_err(RuleError::misconfigured)
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

/// A rule (or a user lookup) that could not decide: the database is down, a service timed out. The route
/// answers **503** `auth temporarily unavailable` (pusher-js, unlike for a 403, does not take it as the user's
/// final answer), or 500 `server misconfigured` for [`RuleError::misconfigured`]; the cause is logged at
/// WARN (with its `Display`: keep secrets out of your errors' messages), never sent to the client.
///
/// Any error converts into a `RuleError` (answered 503), so a rule uses `?` on its own calls:
///
/// ```
/// use pusher::integration::{Authorizer, Decision};
/// # #[derive(Clone)] struct User { id: u64 }
/// # #[derive(Clone)] struct Db;
/// # impl Db { async fn owns(&self, _: u64, _: &str) -> Result<bool, std::io::Error> { Ok(true) } }
/// let rules = Authorizer::with_state(Db).channel("private-orders.{id}", |user: User, ctx| async move {
///     let order = ctx.get("id").unwrap_or_default();
///     Ok(Decision::from(ctx.state.owns(user.id, order).await?))
/// });
/// # let _ = rules;
/// ```
///
/// `RuleError` is not itself a `std::error::Error` (that is what lets every error convert into it, as
/// with `anyhow::Error`); [`RuleError::cause`] gives the error it holds.
pub struct RuleError {
    status: u16,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl RuleError {
    /// The rule could not decide for now (a database or service outage): 503 `auth temporarily unavailable`.
    /// Takes any error, or a message (`RuleError::unavailable("orders service timed out")`).
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        RuleError {
            status: AuthError::Unavailable.status(),
            cause: Arc::from(cause.into()),
        }
    }

    /// The server is misconfigured, retrying cannot help: 500 `server misconfigured`.
    pub fn misconfigured(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        RuleError {
            status: AuthError::Misconfigured.status(),
            cause: Arc::from(cause.into()),
        }
    }

    /// The HTTP status the route answers (503 or 500).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error the rule failed with.
    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.cause
    }

    /// The route's refusal for this error.
    pub(crate) fn auth_error(&self) -> AuthError {
        match self.status {
            500 => AuthError::Misconfigured,
            _ => AuthError::Unavailable,
        }
    }
}

impl Clone for RuleError {
    fn clone(&self) -> Self {
        RuleError {
            status: self.status,
            cause: Arc::clone(&self.cause),
        }
    }
}

impl<E> From<E> for RuleError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Self {
        RuleError::unavailable(e)
    }
}

impl fmt::Debug for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleError")
            .field("status", &self.status)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.cause, f)
    }
}

/// What a channel rule gets besides the user: the channel, the values its pattern captured, the
/// connection's `socket_id`, the extra parameters pusher-js sent (`channelAuthorization.params`) and the
/// state given to [`Authorizer::with_state`] (`()` for [`Authorizer::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelContext<S = ()> {
    /// The whole channel name.
    pub channel: String,
    /// The values captured by the pattern's `{placeholders}` ([`ChannelContext::get`]).
    pub captures: ChannelParams,
    /// The connection asking (`1234.5678`), already validated.
    pub socket_id: String,
    /// The request's other parameters (pusher-js `channelAuthorization.params`, sent as extra form fields),
    /// as sent: untrusted input, like the channel name.
    pub auth_params: BTreeMap<String, String>,
    /// The app's state (a clone of the one given to [`Authorizer::with_state`]).
    pub state: S,
}

impl<S> ChannelContext<S> {
    /// The value captured for `{name}` (or `{*name}`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.captures.get(name)
    }

    /// The extra parameter `name` pusher-js sent, if any.
    pub fn auth_param(&self, name: &str) -> Option<&str> {
        self.auth_params.get(name).map(String::as_str)
    }
}

/// What the user-authentication rule ([`Authorizer::user`]) gets besides the user: the connection's
/// `socket_id`, the extra parameters pusher-js sent (`userAuthentication.params`) and the app's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserContext<S = ()> {
    /// The connection signing in, already validated.
    pub socket_id: String,
    /// The request's other parameters (pusher-js `userAuthentication.params`), as sent: untrusted input.
    pub auth_params: BTreeMap<String, String>,
    /// The app's state (a clone of the one given to [`Authorizer::with_state`]).
    pub state: S,
}

impl<S> UserContext<S> {
    /// The extra parameter `name` pusher-js sent, if any.
    pub fn auth_param(&self, name: &str) -> Option<&str> {
        self.auth_params.get(name).map(String::as_str)
    }
}

/// The values captured by a pattern's `{placeholders}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
        if !self.ends_match(channel) {
            return None;
        }
        match self.single(channel, steps) {
            Single::NotThisShape => {}
            Single::NoMatch => return None,
            Single::Match(capture) => {
                return Some(ChannelParams {
                    channel: channel.to_owned(),
                    values: capture
                        .map(|(name, value)| BTreeMap::from([(name.clone(), value.to_owned())]))
                        .unwrap_or_default(),
                });
            }
        }
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

/// The match of a pattern with at most one placeholder, read off directly ([`ChannelPattern::single`]).
enum Single<'a> {
    /// The pattern has two placeholders or more: the table decides.
    NotThisShape,
    /// No match.
    NoMatch,
    /// A match, with the placeholder's name and value (none for a literal pattern).
    Match(Option<(&'a String, &'a str)>),
}

impl ChannelPattern {
    /// Whether the leading and trailing literals are there: most rules of an app fail here, before any
    /// table is allocated (the auth route tries the rules in order).
    fn ends_match(&self, channel: &str) -> bool {
        if let Some(Segment::Literal(l)) = self.segments.first()
            && !channel.starts_with(l.as_str())
        {
            return false;
        }
        if let Some(Segment::Literal(l)) = self.segments.last()
            && !channel.ends_with(l.as_str())
        {
            return false;
        }
        true
    }

    /// The match of a pattern with at most one placeholder (`private-user-{*id}`, `presence-room.{room}`, a
    /// literal name), read off directly: such a pattern matches in one way only, the placeholder taking
    /// what lies between the literal prefix and suffix (which [`ends_match`](Self::ends_match) has checked).
    fn single<'a>(&'a self, channel: &'a str, steps: &mut usize) -> Single<'a> {
        let (prefix, placeholder, suffix) = match self.segments.as_slice() {
            [Segment::Literal(l)] => {
                *steps += 1;
                return if channel == l {
                    Single::Match(None)
                } else {
                    Single::NoMatch
                };
            }
            [v] => ("", v, ""),
            [Segment::Literal(p), v] => (p.as_str(), v, ""),
            [v, Segment::Literal(q)] => ("", v, q.as_str()),
            [Segment::Literal(p), v, Segment::Literal(q)] => (p.as_str(), v, q.as_str()),
            _ => return Single::NotThisShape,
        };
        let (name, dots) = match placeholder {
            Segment::Param(name) => (name, false),
            Segment::Rest(name) => (name, true),
            Segment::Literal(_) => return Single::NotThisShape,
        };
        // A value of one character at least, between the prefix and the suffix (which may not overlap).
        if channel.len() <= prefix.len() + suffix.len() {
            return Single::NoMatch;
        }
        let Some(value) = channel.get(prefix.len()..channel.len() - suffix.len()) else {
            return Single::NoMatch;
        };
        *steps += value.len();
        if !dots && value.contains('.') {
            return Single::NoMatch;
        }
        Single::Match(Some((name, value)))
    }

    /// Whether `channel` matches, without building the captured values (the rule lookup's first pass).
    pub(crate) fn is_match(&self, channel: &str) -> bool {
        if !self.ends_match(channel) {
            return false;
        }
        match self.single(channel, &mut 0) {
            Single::Match(_) => true,
            Single::NoMatch => false,
            Single::NotThisShape => Table::fill(&self.segments, channel, &mut 0).is_some(),
        }
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

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type ChannelRule<U, S> = Arc<
    dyn Fn(U, ChannelContext<S>) -> BoxFuture<'static, Result<Decision, RuleError>> + Send + Sync,
>;
type UserRule<U, S> = Arc<
    dyn Fn(U, UserContext<S>) -> BoxFuture<'static, Result<Option<UserData>, RuleError>>
        + Send
        + Sync,
>;

/// The default path of the channel authorization route (pusher-js's default).
pub const DEFAULT_AUTH_PATH: &str = "/pusher/auth";
/// The default path of the user authentication route (pusher-js's default).
pub const DEFAULT_USER_AUTH_PATH: &str = "/pusher/user-auth";
/// The default largest auth request body: 64 KiB.
pub const DEFAULT_AUTH_BODY_LIMIT: usize = 64 * 1024;

/// Why a rule did not allow or deny.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// No rule's pattern matches (403).
    NoRule,
    /// A user lookup ([`Authorizer::lookup_user`]) found no user (401).
    NotSignedIn,
    /// A rule or a lookup failed (503 or 500).
    Failed(RuleError),
}

/// One channel to decide: the name (checked), the connection, the request's other parameters.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    pub(crate) channel: String,
    pub(crate) socket_id: String,
    pub(crate) auth_params: BTreeMap<String, String>,
}

/// The rules of an [`Authorizer`] written for another user type, reached through a user lookup
/// ([`Authorizer::map_user`], [`Authorizer::lookup_user`]).
trait Earlier<V, S>: Send + Sync {
    /// Whether one of its rules matches `channel` (no user needed).
    fn matches(&self, channel: &str) -> bool;
    /// Whether it answers user authentication.
    fn has_user_rule(&self) -> bool;
    /// Looks the user up once, then decides every ask.
    fn decide<'a>(
        &'a self,
        user: V,
        asks: Vec<Ask>,
    ) -> BoxFuture<'a, Vec<Result<Decision, Refusal>>>;
    /// Looks the user up, then answers user authentication.
    fn user_data<'a>(
        &'a self,
        user: V,
        ctx: UserContext<()>,
    ) -> BoxFuture<'a, Result<Option<UserData>, Refusal>>;
}

type Lookup<V, U, S> =
    Arc<dyn Fn(V, S) -> BoxFuture<'static, Result<Option<U>, RuleError>> + Send + Sync>;

struct Mapped<V, U, S> {
    inner: Authorizer<U, S>,
    lookup: Lookup<V, U, S>,
}

impl<V, U, S> Earlier<V, S> for Mapped<V, U, S>
where
    V: Send + 'static,
    U: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    fn matches(&self, channel: &str) -> bool {
        self.inner.has_rule_for(channel)
    }

    fn has_user_rule(&self) -> bool {
        self.inner.has_user_rule()
    }

    fn decide<'a>(
        &'a self,
        user: V,
        asks: Vec<Ask>,
    ) -> BoxFuture<'a, Vec<Result<Decision, Refusal>>> {
        Box::pin(async move {
            let refused = |r: Refusal, n: usize| vec![Err(r); n];
            match (self.lookup)(user, self.inner.state.clone()).await {
                Ok(Some(u)) => self.inner.decide_all(u, asks).await,
                Ok(None) => refused(Refusal::NotSignedIn, asks.len()),
                Err(e) => refused(Refusal::Failed(e), asks.len()),
            }
        })
    }

    fn user_data<'a>(
        &'a self,
        user: V,
        ctx: UserContext<()>,
    ) -> BoxFuture<'a, Result<Option<UserData>, Refusal>> {
        Box::pin(async move {
            match (self.lookup)(user, self.inner.state.clone()).await {
                Ok(Some(u)) => self.inner.user_data(u, ctx).await,
                Ok(None) => Err(Refusal::NotSignedIn),
                Err(e) => Err(Refusal::Failed(e)),
            }
        })
    }
}

/// The ready-made auth routes: paths, limits, and the rules that decide, for the app's user type `U` and
/// the app's state `S` (given to the rules; `()` by default). Each framework crate turns it into its
/// router with `routes(..)`.
///
/// Deny by default: a channel no rule matches is refused (403), public channels are refused (they need no
/// authorization), and a request whose user cannot be extracted is refused (401). A rule returns
/// `Ok(Decision)`, or an error ([`RuleError`], any error through `?`) that answers 503, never 403.
///
/// ```
/// use std::sync::Arc;
/// use pusher::integration::{Authorizer, Decision};
/// use pusher::UserData;
/// use serde_json::json;
///
/// #[derive(Clone)]
/// struct User { id: String }
/// struct Db; // the app's own
/// impl Db { async fn is_member(&self, _: &str, _: &str) -> Result<bool, std::io::Error> { Ok(true) } }
///
/// let auth = Authorizer::<User, _>::with_state(Arc::new(Db))
///     .channel("private-orders.{id}", |user: User, ctx| async move {
///         Ok(Decision::from(ctx.get("id") == Some(user.id.as_str())))
///     })
///     .channel("presence-room.{room}", |user: User, ctx| async move {
///         let room = ctx.get("room").unwrap_or_default();
///         if !ctx.state.is_member(&user.id, room).await? {
///             return Ok(Decision::Deny);
///         }
///         Decision::member(user.id, json!({ "room": room }))
///     })
///     .user(|user: User, _| async move { Ok(Some(UserData::new(user.id))) });
/// # let _ = auth;
/// ```
pub struct Authorizer<U, S = ()> {
    rules: Vec<(ChannelPattern, ChannelRule<U, S>)>,
    user: Option<UserRule<U, S>>,
    /// The rules written before [`Authorizer::lookup_user`], for the user type it looks up: checked first.
    earlier: Option<Arc<dyn Earlier<U, S>>>,
    state: S,
    pub(crate) auth_path: String,
    pub(crate) user_auth_path: String,
    pub(crate) batch_auth_path: Option<String>,
    pub(crate) body_limit: usize,
}

impl<U, S: Clone> Clone for Authorizer<U, S> {
    fn clone(&self) -> Self {
        Authorizer {
            rules: self.rules.clone(),
            user: self.user.clone(),
            earlier: self.earlier.clone(),
            state: self.state.clone(),
            auth_path: self.auth_path.clone(),
            user_auth_path: self.user_auth_path.clone(),
            batch_auth_path: self.batch_auth_path.clone(),
            body_limit: self.body_limit,
        }
    }
}

impl<U, S> fmt::Debug for Authorizer<U, S> {
    /// The patterns, paths and limit; not the state (it may hold secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            .field("looked_up_rules", &self.earlier.is_some())
            .field("auth_path", &self.auth_path)
            .field("user_auth_path", &self.user_auth_path)
            .field("batch_auth_path", &self.batch_auth_path)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl<U> Default for Authorizer<U, ()>
where
    U: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<U> Authorizer<U, ()>
where
    U: Clone + Send + Sync + 'static,
{
    /// No rules (everything refused), default paths (`/pusher/auth`, `/pusher/user-auth`), no batch route,
    /// no state (`()`; see [`Authorizer::with_state`]).
    pub fn new() -> Self {
        Self::with_state(())
    }
}

impl<U, S> Authorizer<U, S>
where
    U: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    /// [`Authorizer::new`] with the app's state, which every rule gets (a clone) as
    /// [`ChannelContext::state`] / [`UserContext::state`]: a database pool, an `Arc` of the app's state
    /// struct. Keep it cheap to clone, as axum's state.
    pub fn with_state(state: S) -> Self {
        Authorizer {
            rules: Vec::new(),
            user: None,
            earlier: None,
            state,
            auth_path: DEFAULT_AUTH_PATH.to_owned(),
            user_auth_path: DEFAULT_USER_AUTH_PATH.to_owned(),
            batch_auth_path: None,
            body_limit: DEFAULT_AUTH_BODY_LIMIT,
        }
    }

    /// Adds a rule for channels matching `pattern` (see [`ChannelPattern`]: `{name}` stops at a `.`,
    /// `{*name}` does not). The first matching rule decides; its answer is `Ok(Decision)` or a
    /// [`RuleError`] (503).
    #[must_use]
    pub fn channel<F, Fut>(mut self, pattern: &str, rule: F) -> Self
    where
        F: Fn(U, ChannelContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Decision, RuleError>> + Send + 'static,
    {
        let rule: ChannelRule<U, S> = Arc::new(move |u, ctx| Box::pin(rule(u, ctx)));
        self.rules.push((ChannelPattern::new(pattern), rule));
        self
    }

    /// Sets how the user-auth route finds the signed-in user's data: `Ok(Some(data))` signs in,
    /// `Ok(None)` refuses (403), an error answers 503. Without it the user-auth route refuses everyone.
    #[must_use]
    pub fn user<F, Fut>(mut self, rule: F) -> Self
    where
        F: Fn(U, UserContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<UserData>, RuleError>> + Send + 'static,
    {
        self.user = Some(Arc::new(move |u, ctx| Box::pin(rule(u, ctx))));
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

    /// Sets the largest auth request body (default 64 KiB); larger is refused with 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The same rules for the framework's user type `V`, converted to `U` by `convert` (e.g. when the app's
    /// extractor wraps the type the rules were written for). For a conversion that is async or can fail (a
    /// token looked up in a database), use [`Authorizer::lookup_user`].
    pub fn map_user<V, F>(self, convert: F) -> Authorizer<V, S>
    where
        V: Clone + Send + Sync + 'static,
        F: Fn(V) -> U + Send + Sync + 'static,
    {
        self.lookup_user(move |v: V, _state: S| std::future::ready(Ok(Some(convert(v)))))
    }

    /// The same rules for the framework's user type `V` (a bearer token, a session id…), looked up as the
    /// `U` the rules were written for, once per request, with the app's state: `Ok(Some(user))` goes on to
    /// the rules, `Ok(None)` is not signed in (401), an error answers 503 (see [`RuleError`]). The lookup
    /// runs only for a request some rule (or the user-auth rule) will answer, after the body was read
    /// and parsed.
    ///
    /// Rules added afterwards (for `V`) come after the ones already written.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use pusher::integration::{Authorizer, Decision};
    ///
    /// #[derive(Clone)] struct Token(String);            // the framework's extractor
    /// #[derive(Clone)] struct User { id: String }       // what the rules are written for
    /// struct Sessions;
    /// impl Sessions {
    ///     async fn find(&self, _token: &str) -> Result<Option<User>, std::io::Error> { Ok(None) }
    /// }
    ///
    /// let rules = Authorizer::<User, _>::with_state(Arc::new(Sessions))
    ///     .channel("private-user-{*id}", |user: User, ctx| async move {
    ///         Ok(Decision::from(ctx.get("id") == Some(user.id.as_str())))
    ///     })
    ///     .lookup_user(|token: Token, sessions: Arc<Sessions>| async move {
    ///         Ok(sessions.find(&token.0).await?)
    ///     });
    /// # let _: Authorizer<Token, Arc<Sessions>> = rules;
    /// ```
    pub fn lookup_user<V, F, Fut>(self, lookup: F) -> Authorizer<V, S>
    where
        V: Clone + Send + Sync + 'static,
        F: Fn(V, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<U>, RuleError>> + Send + 'static,
    {
        let state = self.state.clone();
        let (auth_path, user_auth_path) = (self.auth_path.clone(), self.user_auth_path.clone());
        let (batch_auth_path, body_limit) = (self.batch_auth_path.clone(), self.body_limit);
        let lookup: Lookup<V, U, S> = Arc::new(move |v, s| Box::pin(lookup(v, s)));
        Authorizer {
            rules: Vec::new(),
            user: None,
            earlier: Some(Arc::new(Mapped {
                inner: self,
                lookup,
            })),
            state,
            auth_path,
            user_auth_path,
            batch_auth_path,
            body_limit,
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

    /// The largest auth request body, in bytes ([`Authorizer::body_limit`] sets it).
    pub fn body_limit_bytes(&self) -> usize {
        self.body_limit
    }

    /// Whether some rule's pattern matches `channel`.
    fn has_rule_for(&self, channel: &str) -> bool {
        self.earlier.as_ref().is_some_and(|e| e.matches(channel))
            || self.rules.iter().any(|(p, _)| p.is_match(channel))
    }

    fn has_user_rule(&self) -> bool {
        self.user.is_some() || self.earlier.as_ref().is_some_and(|e| e.has_user_rule())
    }

    /// Decides every ask for `user`, in order: the rules written before a lookup first (the user looked up
    /// once for all of them), then this type's own rules; the first matching rule decides.
    pub(crate) async fn decide_all(
        &self,
        user: U,
        asks: Vec<Ask>,
    ) -> Vec<Result<Decision, Refusal>> {
        // One channel (every request but a batch): the same order of rules, without the bookkeeping.
        if asks.len() == 1
            && let Some(ask) = asks.first()
        {
            let theirs = self
                .earlier
                .as_ref()
                .filter(|earlier| earlier.matches(&ask.channel));
            return match theirs {
                Some(earlier) => earlier.decide(user, asks).await,
                None => {
                    let mut asks = asks;
                    match asks.pop() {
                        Some(ask) => vec![self.decide_own(user, ask).await],
                        None => Vec::new(),
                    }
                }
            };
        }
        let mut out: Vec<Option<Result<Decision, Refusal>>> = vec![None; asks.len()];
        let mut own = Vec::new();
        match &self.earlier {
            Some(earlier) => {
                let (theirs, mine): (Vec<_>, Vec<_>) = asks
                    .into_iter()
                    .enumerate()
                    .partition(|(_, a)| earlier.matches(&a.channel));
                own = mine;
                if !theirs.is_empty() {
                    let (at, theirs): (Vec<usize>, Vec<Ask>) = theirs.into_iter().unzip();
                    let verdicts = earlier.decide(user.clone(), theirs).await;
                    for (i, v) in at.into_iter().zip(verdicts) {
                        out[i] = Some(v);
                    }
                }
            }
            None => own.extend(asks.into_iter().enumerate()),
        }
        for (i, ask) in own {
            out[i] = Some(self.decide_own(user.clone(), ask).await);
        }
        out.into_iter()
            .map(|v| v.unwrap_or(Err(Refusal::NoRule)))
            .collect()
    }

    async fn decide_own(&self, user: U, ask: Ask) -> Result<Decision, Refusal> {
        for (pattern, rule) in &self.rules {
            if let Some(captures) = pattern.matches(&ask.channel) {
                let ctx = ChannelContext {
                    channel: ask.channel,
                    captures,
                    socket_id: ask.socket_id,
                    auth_params: ask.auth_params,
                    state: self.state.clone(),
                };
                return rule(user, ctx).await.map_err(Refusal::Failed);
            }
        }
        Err(Refusal::NoRule)
    }

    /// The signed-in user's data for user authentication: `Ok(None)` when refused or not configured.
    pub(crate) async fn user_data(
        &self,
        user: U,
        ctx: UserContext<()>,
    ) -> Result<Option<UserData>, Refusal> {
        if let Some(rule) = &self.user {
            let ctx = UserContext {
                socket_id: ctx.socket_id,
                auth_params: ctx.auth_params,
                state: self.state.clone(),
            };
            return rule(user, ctx).await.map_err(Refusal::Failed);
        }
        match &self.earlier {
            Some(earlier) if earlier.has_user_rule() => earlier.user_data(user, ctx).await,
            _ => Ok(None),
        }
    }

    /// Decides `channel` for `user` (socket `1.1`, no extra parameters): the first matching rule's answer,
    /// `Ok(None)` when no rule matches, the rule's error as is. For unit tests of an app's rules, without a
    /// request or a framework:
    ///
    /// ```
    /// # use pusher::integration::{Authorizer, Decision};
    /// # tokio_test_block_on(async {
    /// let rules = Authorizer::new()
    ///     .channel("private-user-{id}", |user: String, ctx| async move {
    ///         Ok(Decision::from(ctx.get("id") == Some(user.as_str())))
    ///     });
    /// assert!(matches!(rules.decide("ann".into(), "private-user-ann").await, Ok(Some(Decision::Allow))));
    /// assert!(matches!(rules.decide("bob".into(), "private-user-ann").await, Ok(Some(Decision::Deny))));
    /// assert!(matches!(rules.decide("ann".into(), "private-other").await, Ok(None)));
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn decide(&self, user: U, channel: &str) -> Result<Option<Decision>, RuleError> {
        let ask = Ask {
            channel: channel.to_owned(),
            socket_id: "1.1".to_owned(),
            auth_params: BTreeMap::new(),
        };
        match self.decide_all(user, vec![ask]).await.pop() {
            Some(Ok(d)) => Ok(Some(d)),
            Some(Err(Refusal::Failed(e))) => Err(e),
            _ => Ok(None),
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

    /// Every name of up to `len` characters over `alphabet`, the empty one included.
    fn names_up_to(alphabet: &[char], len: usize) -> Vec<String> {
        let mut names = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..len {
            let mut next = Vec::new();
            for n in &frontier {
                for c in alphabet {
                    next.push(format!("{n}{c}"));
                }
            }
            names.extend(next.iter().cloned());
            frontier = next;
        }
        names
    }

    /// Checks `matches`, `is_match` and the captured values of `pattern` (written `source`) on `name`
    /// against [`backtracking`]; the match, if any.
    fn agrees_with_reference(
        pattern: &ChannelPattern,
        source: &str,
        name: &str,
    ) -> Option<ChannelParams> {
        let mut expected = BTreeMap::new();
        let ok = backtracking(&pattern.segments, name, &mut expected);
        let got = pattern.matches(name);
        assert_eq!(got.is_some(), ok, "{source:?} on {name:?}");
        assert_eq!(
            pattern.is_match(name),
            ok,
            "is_match: {source:?} on {name:?}"
        );
        if let Some(got) = &got {
            assert_eq!(got.values, expected, "{source:?} on {name:?}");
        }
        got
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
            // At most one placeholder: read off directly (`ChannelPattern::single`), not through the table.
            "{a}",
            "p-{a}",
            "p-{*a}",
            "{a}-",
            "{*a}é",
            "x-{a}.",
            "p-{*a}-",
            "p-a",
            "",
        ];
        // Every name up to 6 characters over a small alphabet (plus a prefix), against every pattern.
        let alphabet = ['a', '-', '.', 'é'];
        let names = names_up_to(&alphabet, 6);
        let mut matched = 0;
        for p in patterns {
            let pattern = ChannelPattern::new(p);
            for base in &names {
                for name in [base.clone(), format!("p-{base}"), format!("x-{base}")] {
                    if let Some(got) = agrees_with_reference(&pattern, p, &name) {
                        matched += 1;
                        assert_eq!(got.channel, name);
                    }
                }
            }
        }
        assert!(matched > 1000, "{matched}");
    }

    /// Review: patterns of at most one placeholder (`match_single`) built from literal pieces that overlap,
    /// hold multi-byte characters, dots, or braces `ChannelPattern::new` keeps as text, against every name
    /// up to 5 characters over an alphabet of those characters: the same answer as the reference.
    #[test]
    fn single_placeholder_patterns_agree_with_the_reference() {
        let pieces = [
            "", "a", "é", "a.", ".", "{", "}", "{}", "a{", "éa", "aa", "}{",
        ];
        let holes = ["{x}", "{*x}", "{*}", ""];
        let alphabet = ['a', '.', 'é', '{', '}'];
        let names = names_up_to(&alphabet, 5);
        let mut single = 0;
        for prefix in pieces {
            for hole in holes {
                for suffix in pieces {
                    let source = format!("{prefix}{hole}{suffix}");
                    let pattern = ChannelPattern::new(&source);
                    let holes_in = pattern
                        .segments
                        .iter()
                        .filter(|s| !matches!(s, Segment::Literal(_)))
                        .count();
                    if holes_in <= 1 {
                        single += 1;
                    }
                    for name in &names {
                        agrees_with_reference(&pattern, &source, name);
                    }
                }
            }
        }
        assert!(single > 400, "{single}");
    }

    /// Review: `is_match` (the rule lookup's first pass) against `matches(..).is_some()` and the reference,
    /// for patterns of two placeholders (the table's path) built from the same awkward pieces: dots,
    /// multi-byte characters, braces kept as text, a repeated name.
    #[test]
    fn is_match_agrees_with_matches_on_two_placeholder_patterns() {
        let pieces = ["", "a", "é", ".", "{", "a."];
        let holes = ["{x}", "{*y}", "{*x}"];
        let alphabet = ['a', '.', 'é', '{'];
        let names = names_up_to(&alphabet, 4);
        let mut matched = 0;
        for prefix in pieces {
            for first in holes {
                for middle in pieces {
                    for second in holes {
                        for suffix in pieces {
                            let source = format!("{prefix}{first}{middle}{second}{suffix}");
                            let pattern = ChannelPattern::new(&source);
                            for name in &names {
                                if agrees_with_reference(&pattern, &source, name).is_some() {
                                    matched += 1;
                                }
                            }
                        }
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
                Ok(Decision::from(p.get("x") == Some(u.as_str())))
            })
            .channel("private-bob", |_, _| async { Ok(Decision::Allow) });
        let decide = |a: Authorizer<String>, user: &str, channel: &'static str| {
            let user = user.to_owned();
            async move { a.decide(user, channel).await.unwrap() }
        };
        assert_eq!(
            decide(a.clone(), "al", "private-al").await,
            Some(Decision::Allow)
        );
        assert_eq!(
            decide(a.clone(), "al", "private-bob").await,
            Some(Decision::Deny)
        );
        assert_eq!(decide(a.clone(), "al", "presence-x").await, None);
        let ctx = UserContext {
            socket_id: "1.1".into(),
            auth_params: BTreeMap::new(),
            state: (),
        };
        assert!(matches!(a.user_data("al".into(), ctx).await, Ok(None)));
        let mapped = a.map_user(|n: usize| "x".repeat(n));
        assert_eq!(
            mapped.decide(1, "private-x").await.unwrap(),
            Some(Decision::Allow)
        );
    }

    /// A rule reaches the app's state, the socket id and pusher-js's extra params through its context.
    #[tokio::test]
    async fn a_rule_sees_the_state_the_socket_id_and_the_auth_params() {
        #[derive(Clone)]
        struct Db {
            owner: &'static str,
        }
        let a = Authorizer::<String, _>::with_state(Db { owner: "ann" }).channel(
            "private-doc.{id}",
            |user: String, ctx| async move {
                Ok(Decision::from(
                    ctx.state.owner == user
                        && ctx.get("id") == Some("7")
                        && ctx.socket_id == "12.34"
                        && ctx.auth_param("team") == Some("blue"),
                ))
            },
        );
        let ask = |socket_id: &str, team: &str| Ask {
            channel: "private-doc.7".into(),
            socket_id: socket_id.into(),
            auth_params: [("team".to_owned(), team.to_owned())].into(),
        };
        let v = a.decide_all("ann".into(), vec![ask("12.34", "blue")]).await;
        assert!(matches!(v[..], [Ok(Decision::Allow)]), "{v:?}");
        for (user, socket, team) in [
            ("bob", "12.34", "blue"),
            ("ann", "1.1", "blue"),
            ("ann", "12.34", "red"),
        ] {
            let v = a.decide_all(user.into(), vec![ask(socket, team)]).await;
            assert!(
                matches!(v[..], [Ok(Decision::Deny)]),
                "{user} {socket} {team}: {v:?}"
            );
        }
    }

    /// `lookup_user` runs once per request (a batch of channels included), with the state; `None` is not
    /// signed in, an error is a failure (503), never a refusal; unmatched channels need no lookup.
    #[tokio::test]
    async fn lookup_user_runs_once_per_request_and_its_failure_is_not_a_refusal() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        #[derive(Clone)]
        struct Token(&'static str);
        let lookups = Arc::new(AtomicUsize::new(0));
        let a = Authorizer::<String, _>::with_state(Arc::clone(&lookups))
            .channel("private-{x}", |u, ctx| async move {
                Ok(Decision::from(ctx.get("x") == Some(u.as_str())))
            })
            .lookup_user(|t: Token, lookups: Arc<AtomicUsize>| async move {
                lookups.fetch_add(1, Ordering::SeqCst);
                match t.0 {
                    "down" => Err(RuleError::unavailable("session store down")),
                    "ann-token" => Ok(Some("ann".to_owned())),
                    _ => Ok(None),
                }
            });
        let ask = |channel: &str| Ask {
            channel: channel.into(),
            socket_id: "1.1".into(),
            auth_params: BTreeMap::new(),
        };
        let v = a
            .decide_all(
                Token("ann-token"),
                vec![ask("private-ann"), ask("private-bob"), ask("presence-x")],
            )
            .await;
        assert!(
            matches!(
                v[..],
                [
                    Ok(Decision::Allow),
                    Ok(Decision::Deny),
                    Err(Refusal::NoRule)
                ]
            ),
            "{v:?}"
        );
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            1,
            "one lookup for the batch"
        );
        let v = a
            .decide_all(Token("nobody"), vec![ask("private-ann")])
            .await;
        assert!(matches!(v[..], [Err(Refusal::NotSignedIn)]), "{v:?}");
        let v = a.decide_all(Token("down"), vec![ask("private-ann")]).await;
        match &v[..] {
            [Err(Refusal::Failed(e))] => {
                assert_eq!(e.status(), 503);
                assert_eq!(e.to_string(), "session store down");
            }
            other => panic!("{other:?}"),
        }
        let before = lookups.load(Ordering::SeqCst);
        let v = a.decide_all(Token("down"), vec![ask("presence-x")]).await;
        assert!(matches!(v[..], [Err(Refusal::NoRule)]), "{v:?}");
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            before,
            "no rule matches: no lookup"
        );
    }

    /// Rules written before `lookup_user` come first; rules added after it, for the looked-up-from type,
    /// answer the channels the earlier ones do not match; the earlier user rule answers user auth unless
    /// a later one is set.
    #[tokio::test]
    async fn rules_before_a_lookup_come_first_and_later_rules_follow() {
        let a = Authorizer::<String>::new()
            .channel("private-a-{x}", |_, _| async { Ok(Decision::Allow) })
            .user(|u: String, _| async move { Ok(Some(UserData::new(u))) })
            .map_user(|n: u8| n.to_string())
            .channel("private-{x}", |_, _| async { Ok(Decision::Deny) });
        let ctx = || UserContext {
            socket_id: "1.1".into(),
            auth_params: BTreeMap::new(),
            state: (),
        };
        assert_eq!(
            a.decide(7, "private-a-1").await.unwrap(),
            Some(Decision::Allow)
        );
        assert_eq!(
            a.decide(7, "private-b").await.unwrap(),
            Some(Decision::Deny)
        );
        assert_eq!(a.decide(7, "presence-b").await.unwrap(), None);
        assert!(matches!(a.user_data(7, ctx()).await, Ok(Some(u)) if u.id == "7"));
        let a = a.user(|_, _| async { Ok(None) });
        assert!(matches!(a.user_data(7, ctx()).await, Ok(None)));
    }

    /// Review: `decide_all`'s fast path for one ask gives what the general path gives the same channel
    /// inside a batch (first or second of two), for rules with no lookup, one lookup (`map_user`) and two
    /// lookups in layers, with earlier rules that allow, deny, fail, or whose lookup finds no user or
    /// fails, overlapping the later rules or not, in every order.
    #[tokio::test]
    async fn one_ask_is_decided_as_the_same_channel_inside_a_batch() {
        fn ask(channel: &str) -> Ask {
            Ask {
                channel: channel.into(),
                socket_id: "1.1".into(),
                auth_params: BTreeMap::new(),
            }
        }
        fn show(v: &Result<Decision, Refusal>) -> String {
            match v {
                Ok(d) => format!("{d:?}"),
                Err(Refusal::Failed(e)) => format!("failed {} {e}", e.status()),
                Err(r) => format!("{r:?}"),
            }
        }
        async fn check<U: Clone + Send + Sync + 'static>(
            what: &str,
            a: &Authorizer<U>,
            users: &[U],
            channels: &[&str],
        ) -> usize {
            let mut compared = 0;
            for user in users {
                for c in channels {
                    let one = a.decide_all(user.clone(), vec![ask(c)]).await;
                    assert_eq!(one.len(), 1, "{what} {c}");
                    for other in channels {
                        let first = a.decide_all(user.clone(), vec![ask(c), ask(other)]).await;
                        let second = a.decide_all(user.clone(), vec![ask(other), ask(c)]).await;
                        assert_eq!(
                            show(&one[0]),
                            show(&first[0]),
                            "{what}: {c} vs [{c}, {other}]"
                        );
                        assert_eq!(
                            show(&one[0]),
                            show(&second[1]),
                            "{what}: {c} vs [{other}, {c}]"
                        );
                        compared += 2;
                    }
                }
            }
            compared
        }
        let channels = [
            "private-a-1",
            "private-a-x.y",
            "private-b",
            "private-fail",
            "private-both",
            "presence-p-1",
            "private-c",
            "private-user-ann",
            "private-none",
        ];
        // The rules for the looked-up type `String`: allow, deny, fail, capture checks.
        let base = || {
            Authorizer::<String>::new()
                .channel("private-a-{x}", |u, ctx| async move {
                    Ok(Decision::from(ctx.get("x") == Some("1") && u != "bob"))
                })
                .channel("private-fail", |_, _| async {
                    Err(RuleError::unavailable("db down"))
                })
                .channel("private-both", |_, _| async { Ok(Decision::Deny) })
                .channel("private-user-{id}", |u, ctx| async move {
                    Ok(Decision::from(ctx.get("id") == Some(u.as_str())))
                })
                .channel("presence-p-{n}", |u: String, _| async move {
                    Decision::member(u, ())
                })
        };
        let mut compared = 0;
        // No lookup.
        let plain = base().channel("private-{*rest}", |_, _| async { Ok(Decision::Allow) });
        let users = ["ann".to_owned(), "bob".to_owned()];
        compared += check("no lookup", &plain, &users, &channels).await;
        // One lookup: `0` has no user, `9` fails, others are "ann"/"bob"; later rules overlap earlier ones.
        let looked_up = base()
            .lookup_user(|n: u8, _| async move {
                match n {
                    0 => Ok(None),
                    9 => Err(RuleError::unavailable("sessions down")),
                    1 => Ok(Some("ann".to_owned())),
                    _ => Ok(Some("bob".to_owned())),
                }
            })
            .channel("private-both", |_, _| async { Ok(Decision::Allow) })
            .channel("private-{x}", |n: u8, ctx| async move {
                Ok(Decision::from(n == 1 && ctx.get("x") != Some("none")))
            })
            .channel("private-c", |_, _| async { Ok(Decision::Allow) });
        let users = [0u8, 1, 2, 9];
        compared += check("one lookup", &looked_up, &users, &channels).await;
        // Two lookups in layers, the outer one with its own rules and a user rule.
        let layered = looked_up
            .map_user(|m: u16| if m > 255 { 9 } else { m as u8 })
            .channel("private-none", |_, _| async { Ok(Decision::Allow) })
            .channel("{*any}", |_, _| async { Ok(Decision::Deny) })
            .user(|_, _| async { Ok(None) });
        let users = [0u16, 1, 2, 9, 300];
        compared += check("two lookups", &layered, &users, &channels).await;
        assert!(compared > 500, "{compared}");
    }

    /// Any error converts into a `RuleError` (503) with `?`; `Decision::member` with data that is not JSON
    /// is a 500 `RuleError`, not a panic.
    #[tokio::test]
    async fn rule_errors_convert_with_question_mark_and_member_data_must_be_json() {
        let a = Authorizer::<String>::new().channel("private-io", |_, _| async {
            let io: Result<bool, std::io::Error> = Err(std::io::Error::other("db down"));
            Ok(Decision::from(io?))
        });
        let e = a.decide("u".into(), "private-io").await.unwrap_err();
        assert_eq!((e.status(), e.to_string().as_str()), (503, "db down"));
        assert!(e.cause().is::<std::io::Error>());
        let not_json: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let e = Decision::member("u", &not_json).unwrap_err();
        assert_eq!(e.status(), 500);
        assert_eq!(
            Decision::member("u", serde_json::json!({"a": 1})).unwrap(),
            Decision::Member(
                PresenceData::new("u")
                    .user_info(serde_json::json!({"a": 1}))
                    .unwrap()
            )
        );
    }
}
