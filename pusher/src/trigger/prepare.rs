//! Trigger and batch validation and their request bodies: pure functions of the client's limits and
//! master key (no I/O, no clock), as [`crate::auth`] is for signatures. The client's facade calls them,
//! then signs and sends what they give.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{BatchBody, BatchEvent, TriggerBody, TriggerOptions, encode_data};
use crate::channel::{
    ChannelKind, Limits, MAX_TRIGGER_CHANNELS, PRIVATE_ENCRYPTED_PREFIX, validate_attribute,
    validate_event_name, validate_socket_id,
};
use crate::encryption::MasterKey;
use crate::error::{Error, Result};
use crate::idempotency::{derive_key, validate_key};

/// What a trigger or batch is checked against: the client's limits and master key.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// Channel-name limits.
    pub limits: &'a Limits,
    /// The master key of encrypted channels, if configured.
    pub master_key: Option<&'a MasterKey>,
    /// The largest event data sent, in bytes.
    pub max_data_bytes: usize,
    /// The most events per batch.
    pub max_batch_events: usize,
}

/// A trigger validated and its data encoded, before encryption.
pub(crate) struct PreparedTrigger<'a> {
    pub channels: &'a [&'a str],
    pub encrypted: bool,
    pub socket_id: Option<&'a str>,
    pub info: Option<String>,
    pub data: String,
}

impl PreparedTrigger<'_> {
    /// Whether the data, as sent (encrypted on an encrypted channel), is within `max` bytes.
    pub fn fits(&self, max: usize) -> bool {
        let sent = if self.encrypted {
            crate::chunked::encrypted_len(self.data.len())
        } else {
            self.data.len()
        };
        sent <= max
    }
}

impl Rules<'_> {
    /// Validates a trigger's channels, event name and options, and encodes its data (not yet encrypted).
    pub fn prepare_trigger<'a, D: Serialize + ?Sized>(
        &self,
        channels: &'a [&'a str],
        event: &str,
        data: &D,
        options: &'a TriggerOptions,
    ) -> Result<PreparedTrigger<'a>> {
        if channels.is_empty() {
            return Err(Error::validation(
                "channels",
                "at least one channel is needed",
            ));
        }
        if channels.len() > MAX_TRIGGER_CHANNELS {
            return Err(Error::validation(
                "channels",
                format!(
                    "{} channels, the maximum per trigger is {MAX_TRIGGER_CHANNELS}",
                    channels.len()
                ),
            ));
        }
        validate_event_name(event)?;
        for c in channels {
            self.limits.check_channel(c)?;
        }
        // `ChannelKind::of(c) == ChannelKind::PrivateEncrypted`, without testing the other prefixes.
        let encrypted = channels
            .iter()
            .any(|c| c.starts_with(PRIVATE_ENCRYPTED_PREFIX));
        if encrypted && channels.len() > 1 {
            return Err(Error::validation(
                "channels",
                "you cannot trigger to multiple channels when using encrypted channels",
            ));
        }
        if encrypted && self.master_key.is_none() {
            return Err(Error::MissingMasterKey);
        }
        let (socket_id, info) = check_options(options)?;
        Ok(PreparedTrigger {
            channels,
            encrypted,
            socket_id,
            info,
            data: encode_data(data)?,
        })
    }

    /// The body of one trigger request carrying `data` (encrypted here on an encrypted channel).
    pub fn trigger_body(
        &self,
        p: &PreparedTrigger<'_>,
        event: &str,
        data: &str,
        key: Option<&str>,
    ) -> Result<Bytes> {
        let encrypted;
        let data = if p.encrypted {
            encrypted = self.encrypt(p.channels[0], data)?;
            encrypted.as_str()
        } else {
            data
        };
        check_data_size(data, self.max_data_bytes)?;
        let body = TriggerBody {
            name: event,
            channels: p.channels,
            data,
            socket_id: p.socket_id,
            info: p.info.as_deref(),
            idempotency_key: key,
        }
        .to_json();
        Ok(Bytes::from(body))
    }

    /// Checks what chunking a trigger would need, whatever its data's size (so that a call working with
    /// small data does not start failing once the data grows): the `chunked-` event name and room for a
    /// `KEY:INDEX` key per piece.
    pub fn check_chunkable(event: &str, key: Option<&str>) -> Result<()> {
        validate_event_name(&format!("{}{event}", crate::chunked::CHUNKED_EVENT_PREFIX))?;
        if let Some(k) = key {
            derive_key(k, 9999)?;
        }
        Ok(())
    }

    /// Validates one batch event and gives it as sent (its data encrypted on an encrypted channel).
    pub fn prepare_batch_event(&self, ev: &BatchEvent) -> Result<BatchEvent> {
        self.limits.check_channel(&ev.channel)?;
        validate_event_name(&ev.name)?;
        if let Some(s) = &ev.socket_id {
            validate_socket_id(s)?;
        }
        check_info(&ev.info)?;
        if let Some(k) = &ev.idempotency_key {
            validate_key(k)?;
        }
        let mut ev = ev.clone();
        if ChannelKind::of(&ev.channel) == ChannelKind::PrivateEncrypted {
            ev.data = self.encrypt(&ev.channel, &ev.data)?;
        }
        check_data_size(&ev.data, self.max_data_bytes)?;
        Ok(ev)
    }

    /// The body of a batch whose events without a key get `KEY:INDEX` from `key`; whether every event
    /// carries a key (then the request is safe to retry).
    pub fn batch_body(&self, batch: &[BatchEvent], key: Option<&str>) -> Result<(Bytes, bool)> {
        if batch.is_empty() {
            return Err(Error::validation("batch", "at least one event is needed"));
        }
        if batch.len() > self.max_batch_events {
            return Err(Error::validation(
                "batch",
                format!(
                    "{} events, the maximum per batch is {}",
                    batch.len(),
                    self.max_batch_events
                ),
            ));
        }
        let mut prepared = batch
            .iter()
            .map(|ev| self.prepare_batch_event(ev))
            .collect::<Result<Vec<_>>>()?;
        if let Some(k) = key {
            for (index, ev) in prepared.iter_mut().enumerate() {
                if ev.idempotency_key.is_none() {
                    ev.idempotency_key = Some(derive_key(k, index)?);
                }
            }
        }
        let keyed = prepared.iter().all(|ev| ev.idempotency_key.is_some());
        let body = serde_json::to_vec(&BatchBody { batch: &prepared })?;
        Ok((Bytes::from(body), keyed))
    }

    fn encrypt(&self, channel: &str, data: &str) -> Result<String> {
        self.master_key
            .ok_or(Error::MissingMasterKey)?
            .encrypt(channel, data.as_bytes())
    }
}

/// Validates trigger options: the socket id to exclude and the `info` attributes, joined.
pub(crate) fn check_options(options: &TriggerOptions) -> Result<(Option<&str>, Option<String>)> {
    let socket_id = options.socket_id.as_deref();
    if let Some(s) = socket_id {
        validate_socket_id(s)?;
    }
    Ok((socket_id, info_param(&options.info)?))
}

/// Checks `info` attributes (of a trigger, a batch event or a query), each with
/// [`validate_attribute`]: the one rule for every way of asking for them.
pub(crate) fn check_info<S: AsRef<str>>(attributes: &[S]) -> Result<()> {
    attributes
        .iter()
        .try_for_each(|a| validate_attribute(a.as_ref()))
}

/// The `info` parameter of `attributes` as sent (comma-separated), checked; `None` for none.
pub(crate) fn info_param<S: AsRef<str>>(attributes: &[S]) -> Result<Option<String>> {
    check_info(attributes)?;
    Ok(join_info(attributes))
}

/// `attributes` joined with commas as on the wire; `None` for none.
fn join_info<S: AsRef<str>>(attributes: &[S]) -> Option<String> {
    let mut out = String::new();
    for (i, a) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(a.as_ref());
    }
    (!attributes.is_empty()).then_some(out)
}

/// [`BatchEvent::info`] as the API reads it: one comma-separated string.
pub(crate) fn serialize_info<S: serde::Serializer>(
    info: &[String],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    join_info(info).unwrap_or_default().serialize(serializer)
}

/// Reads [`BatchEvent::info`] back from its comma-separated form.
pub(super) fn deserialize_info<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    let joined = String::deserialize(deserializer)?;
    Ok(if joined.is_empty() {
        Vec::new()
    } else {
        joined.split(',').map(str::to_owned).collect()
    })
}

/// Refuses data over `max` bytes.
pub(crate) fn check_data_size(data: &str, max: usize) -> Result<()> {
    if data.len() > max {
        return Err(Error::validation(
            "data",
            format!("is {} bytes, the limit is {max}", data.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trigger's options and a batch event ask for `info` the same way, and are checked and joined alike.
    #[test]
    fn info_is_one_list_checked_and_joined_in_one_place() {
        let opts = TriggerOptions::new().info(["user_count", "subscription_count"]);
        let ev = BatchEvent::new("a", "e", "x").unwrap().info(vec![
            String::from("user_count"),
            "subscription_count".into(),
        ]);
        assert_eq!(opts.info, ev.info);
        assert_eq!(
            check_options(&opts).unwrap().1.as_deref(),
            Some("user_count,subscription_count")
        );
        let wire = serde_json::to_value(&ev).unwrap();
        assert_eq!(wire["info"], "user_count,subscription_count");
        let back: BatchEvent = serde_json::from_value(wire).unwrap();
        assert_eq!(back, ev);
        // No attributes: no `info` on the wire.
        let plain = BatchEvent::new("a", "e", "x").unwrap();
        assert!(serde_json::to_value(&plain).unwrap().get("info").is_none());
        // A bad attribute is refused the same way for both, before anything is joined.
        let limits = Limits::DOCUMENTED;
        let rules = Rules {
            limits: &limits,
            master_key: None,
            max_data_bytes: 10_240,
            max_batch_events: 10,
        };
        let bad_opts = TriggerOptions::new().info(["user_count,x"]);
        let bad_ev = BatchEvent::new("a", "e", "x")
            .unwrap()
            .info(["user_count,x"]);
        let e1 = check_options(&bad_opts).unwrap_err();
        let e2 = rules.prepare_batch_event(&bad_ev).unwrap_err();
        assert_eq!(e1.to_string(), e2.to_string());
        assert!(
            matches!(e1, Error::Validation { field: "info", .. }),
            "{e1:?}"
        );
    }
}
