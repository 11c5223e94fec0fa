//! Incoming webhooks: verification (key, constant-time HMAC over the raw body, freshness) and the typed
//! [`Webhook`] with its [`WebhookEvent`]s. Inputs are framework-neutral: `Option<&str>` headers and the raw
//! `&[u8]` body.
//!
//! # What refuses a webhook, and what does not
//!
//! A webhook is refused ([`WebhookError`](crate::WebhookError)) only for what concerns the request as a
//! whole: the headers, the signature, the body limit, the freshness of `time_ms`, and the envelope (the body
//! must be UTF-8 JSON, an object, with a numeric `time_ms` and, when present, an `events` array; a missing
//! `events` is an empty list).
//!
//! Once the signature verifies, the content of one event never refuses the webhook: servers batch up to 100
//! events per request, and refusing the request would make the server retry, then drop, every one of them.
//! Each element of `events` becomes exactly one [`WebhookEvent`], in order:
//!
//! * a well-formed known event: its variant (a numeric `user_id` is kept as its JSON text, `"42"`);
//! * an object with a string `name` that is unknown, or whose fields do not fit its kind:
//!   [`WebhookEvent::Unknown`], the whole object;
//! * anything else (not an object, no string `name`, or content `serde_json` cannot hold: a number beyond
//!   `f64`, a lone surrogate escape, nesting deeper than 128 levels): [`WebhookEvent::Malformed`], its JSON
//!   text exactly as in the body.
//!
//! A client event keeps its `data` as sent and says what decryption gave in its own [`Decryption`]: an
//! encrypted payload that cannot be opened (another key, a forged or truncated payload, data that is not a
//! payload at all) is [`Decryption::Failed`] on that one event.

mod parse;
mod verify;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encryption::DecryptError;
use crate::signing::hmac_sha256_hex;

pub(crate) use verify::Verifier;

/// A verified webhook: when it was created and its events.
///
/// `Serialize` and `Deserialize` write and read this type's own form (to store or queue verified webhooks
/// and read them back unchanged); webhook bodies from a server are read by
/// [`Pusher::validate_webhook`](crate::Pusher::validate_webhook), never by `Deserialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Webhook {
    /// Milliseconds since the Unix epoch when the server created the webhook (kept across the server's
    /// retries).
    pub time_ms: u64,
    /// The events, in the order sent: one per element of the body's `events`, none left out.
    pub events: Vec<WebhookEvent>,
}

/// One webhook event. See the [module documentation](self) for how each element of `events` maps to a
/// variant.
///
/// The enum and its struct variants are `#[non_exhaustive]` (fields may be added): match them with `..`
/// (`WebhookEvent::MemberAdded { channel, user_id, .. }`). To build events in a test, sign a body with
/// `pusher::testing::webhook_request` (feature `testing`) and verify it, or deserialize this type's own
/// form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookEvent {
    /// A channel got its first subscriber.
    #[non_exhaustive]
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber.
    #[non_exhaustive]
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user joined a presence channel.
    #[non_exhaustive]
    MemberAdded {
        /// The presence channel.
        channel: String,
        /// The member's user id: a string as sent, or the JSON text of a number (`42`, as PHP authorisers
        /// often send it, becomes `"42"`).
        user_id: String,
    },
    /// A user left a presence channel.
    #[non_exhaustive]
    MemberRemoved {
        /// The presence channel.
        channel: String,
        /// The member's user id, as in [`WebhookEvent::MemberAdded`].
        user_id: String,
    },
    /// A client sent a `client-` event.
    #[non_exhaustive]
    ClientEvent {
        /// The channel.
        channel: String,
        /// The event name (`client-…`).
        event: String,
        /// The data exactly as sent, never decrypted: the string itself when the server sent a string (Pusher
        /// does, a JSON text), otherwise the JSON text of the value as it stands in the body (sockudo sends
        /// the object). On a `private-encrypted-` channel this is the encrypted payload; the plaintext is in
        /// [`decryption`](WebhookEvent::ClientEvent::decryption). [`WebhookEvent::client_data`] gives
        /// whichever is readable.
        data: String,
        /// The sending connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        socket_id: Option<String>,
        /// The sender's user id (presence channels), a string or the JSON text of a number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// What decrypting `data` gave: [`Decryption::NotEncrypted`] off `private-encrypted-` channels.
        decryption: Decryption,
    },
    /// The number of subscriptions of a channel changed.
    #[non_exhaustive]
    SubscriptionCount {
        /// The channel.
        channel: String,
        /// The new count.
        subscription_count: u64,
    },
    /// A client subscribed to a cache channel that had no cached event.
    #[non_exhaustive]
    CacheMiss {
        /// The channel.
        channel: String,
    },
    /// An element of `events` that is not a readable event: not a JSON object, no string `name`, or content
    /// `serde_json` cannot represent (a number beyond `f64`, a lone surrogate escape, nesting deeper than 128
    /// levels). Kept as its JSON text, exactly as in the body, so that it costs no other event. Its
    /// serialized tag is `$malformed`, a name no server sends, so that an `Unknown` event named
    /// `malformed` reads back as itself.
    #[serde(rename = "$malformed")]
    #[non_exhaustive]
    Malformed {
        /// The element's JSON text.
        raw: String,
    },
    /// An event this version does not know, or a known kind whose fields do not fit (a `member_added`
    /// without `user_id`…), kept whole: an object with a string `name`.
    #[serde(untagged)]
    Unknown(Value),
}

impl Webhook {
    /// A webhook created at `time_ms` with these events (to hand a handler a [`Webhook`] in a test).
    ///
    /// ```
    /// let event: pusher::WebhookEvent =
    ///     serde_json::from_str(r#"{"name":"channel_occupied","channel":"orders"}"#).unwrap();
    /// let hook = pusher::Webhook::new(1_700_000_000_000, vec![event]);
    /// assert_eq!(hook.events[0].channel(), Some("orders"));
    /// ```
    pub fn new(time_ms: u64, events: Vec<WebhookEvent>) -> Self {
        Webhook { time_ms, events }
    }
}

/// What decrypting the data of a [`WebhookEvent::ClientEvent`] gave. The verifier works it out for every
/// client event; it never refuses the webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decryption {
    /// The channel is not a `private-encrypted-` channel: `data` is the plaintext.
    NotEncrypted,
    /// The channel is a `private-encrypted-` channel and no master key is configured
    /// ([`PusherBuilder::encryption_master_key_base64`](crate::PusherBuilder::encryption_master_key_base64)):
    /// `data` is the payload as sent, unopened.
    NoMasterKey,
    /// Opened with the master key: the plaintext, the text the sender encrypted (usually JSON).
    Decrypted(String),
    /// The payload could not be opened, for this reason; `data` is what was sent. Clients can send any data
    /// on an encrypted channel (pusher-js sends none), so this is the sender's problem, not the webhook's.
    Failed(DecryptError),
}

impl WebhookEvent {
    /// The channel the event concerns, when it has one.
    pub fn channel(&self) -> Option<&str> {
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::MemberAdded { channel, .. }
            | WebhookEvent::MemberRemoved { channel, .. }
            | WebhookEvent::ClientEvent { channel, .. }
            | WebhookEvent::SubscriptionCount { channel, .. }
            | WebhookEvent::CacheMiss { channel } => Some(channel),
            WebhookEvent::Malformed { .. } => None,
            WebhookEvent::Unknown(raw) => raw.get("channel").and_then(Value::as_str),
        }
    }

    /// The event's `name` on the wire (`channel_occupied`, …); empty for [`WebhookEvent::Malformed`].
    pub fn name(&self) -> &str {
        match self {
            WebhookEvent::ChannelOccupied { .. } => "channel_occupied",
            WebhookEvent::ChannelVacated { .. } => "channel_vacated",
            WebhookEvent::MemberAdded { .. } => "member_added",
            WebhookEvent::MemberRemoved { .. } => "member_removed",
            WebhookEvent::ClientEvent { .. } => "client_event",
            WebhookEvent::SubscriptionCount { .. } => "subscription_count",
            WebhookEvent::CacheMiss { .. } => "cache_miss",
            WebhookEvent::Malformed { .. } => "",
            WebhookEvent::Unknown(raw) => {
                raw.get("name").and_then(Value::as_str).unwrap_or_default()
            }
        }
    }

    /// The readable data of a client event: `data` off encrypted channels, the plaintext on them. `None`
    /// for other events, and for an encrypted payload that was not opened (no master key, or
    /// [`Decryption::Failed`]).
    ///
    /// ```
    /// # use pusher::WebhookEvent;
    /// # fn show(event: &WebhookEvent) {
    /// if let Some(text) = event.client_data() {
    ///     let value: serde_json::Value = serde_json::from_str(text).unwrap_or(text.into());
    ///     println!("{} sent {value}", event.name());
    /// }
    /// # }
    /// ```
    pub fn client_data(&self) -> Option<&str> {
        match self {
            WebhookEvent::ClientEvent {
                data, decryption, ..
            } => match decryption {
                Decryption::NotEncrypted => Some(data),
                Decryption::Decrypted(plain) => Some(plain),
                Decryption::NoMasterKey | Decryption::Failed(_) => None,
            },
            _ => None,
        }
    }
}

/// Signs a webhook body as the server does: lowercase hex HMAC-SHA256 of the raw body under the secret.
/// Use it to build valid webhook requests in tests.
///
/// ```
/// let sig = pusher::sign_webhook("secret", br#"{"time_ms":1327078148132,"events":[{"name":"event_name","some":"data"}]}"#);
/// assert_eq!(sig, "05a115b7898e4956cf46df2dd2822b3b913a4255343acd82d31609f222765c6a");
/// ```
pub fn sign_webhook(secret: &str, body: &[u8]) -> String {
    hmac_sha256_hex(secret.as_bytes(), body)
}
