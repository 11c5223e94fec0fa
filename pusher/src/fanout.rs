//! Fan-out: one event to any number of channels, or any number of events, split into requests within the
//! API's limits (100 channels per trigger, [`max_batch_events`](crate::PusherBuilder::max_batch_events) per
//! batch) and sent with bounded concurrency.
//!
//! Everything is validated before anything is sent: one bad channel name or event refuses the whole
//! fan-out with a typed error naming its position, and no request is made. Once sending starts, each
//! request (chunk) succeeds or fails on its own; the [`FanOutReport`] lists the failed chunks with the
//! exact channels (and input positions) that did not get the event, and the other chunks are still sent.
//!
//! The futures are `Send` (they can be `tokio::spawn`ed or awaited in an axum handler): each request's
//! future owns what it sends (a clone of the client and its body), so no future borrows a chunk.

use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream;
use serde::Serialize;
use serde::de::IgnoredAny;
use tracing::Instrument;

use crate::channel::{MAX_TRIGGER_CHANNELS, PRIVATE_ENCRYPTED_PREFIX, validate_event_name};
use crate::client::Pusher;
use crate::error::{Error, Result};
use crate::idempotency::derive_key;
use crate::trigger::{
    BatchBody, BatchEvent, TriggerBody, TriggerOptions, check_data_size, check_options, encode_data,
};

/// One chunk (request) that failed: its index, what it held, and the typed error.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChunkFailure {
    /// The chunk's position (0-based) in sending order.
    pub index: usize,
    /// The positions in the input slice that this chunk carried: channels of `trigger_fanout`, events of
    /// `trigger_batch_fanout`.
    pub items: Range<usize>,
    /// The channels that did not get the event: the channels of a trigger chunk, or the channel of each
    /// event of a batch chunk (in input order).
    pub channels: Vec<String>,
    /// Why it failed (a transport error, a timeout, or the server's status).
    pub error: Error,
}

/// The outcome of a fan-out that was sent: how many requests succeeded, and exactly which failed.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FanOutReport {
    /// Requests made.
    pub chunks: usize,
    /// Requests that succeeded.
    pub succeeded: usize,
    /// Requests that failed, in chunk order.
    pub failures: Vec<ChunkFailure>,
}

impl FanOutReport {
    /// Whether every chunk succeeded.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// Every channel of a failed chunk, in chunk order: where the event (or events) may not have arrived.
    pub fn failed_channels(&self) -> impl Iterator<Item = &str> {
        self.failures
            .iter()
            .flat_map(|f| f.channels.iter().map(String::as_str))
    }
}

/// Adds the input position to a validation error (`channel 3: ...`), so the caller can find it.
fn at(what: &str, position: usize, error: Error) -> Error {
    match error {
        Error::Validation { field, reason } => Error::Validation {
            field,
            reason: format!("{what} {position}: {reason}"),
        },
        other => other,
    }
}

/// A chunk ready to send: where it came from, its body, and whether it carries idempotency keys (for
/// every event it publishes).
struct Chunk {
    items: Range<usize>,
    body: Bytes,
    keyed: bool,
}

impl Pusher {
    /// Triggers `event` on every channel of `channels`, 100 channels per request, at most `concurrency`
    /// requests in flight (at least 1).
    ///
    /// Every channel name, the event name, the options and the data (encoded once, by the rule of
    /// [`trigger`](Self::trigger)) are validated first; any error is returned before a request is made,
    /// naming the position of the bad channel. Encrypted channels cannot be fanned out (each takes its own
    /// trigger) and an empty list is refused. Then each request succeeds or fails on its own: the report
    /// lists the channels of each failed request.
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let channels: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    /// let report = pusher.trigger_fanout(&channels, "notice", &serde_json::json!({"v": 1}), &Default::default(), 8).await?;
    /// for f in &report.failures { eprintln!("channels {:?} failed: {}", f.items, f.error); }
    /// # Ok(()) }
    /// ```
    pub async fn trigger_fanout<S, D>(
        &self,
        channels: &[S],
        event: &str,
        data: &D,
        options: &TriggerOptions,
        concurrency: usize,
    ) -> Result<FanOutReport>
    where
        S: AsRef<str> + Sync,
        D: Serialize + ?Sized,
    {
        let chunks = self.fanout_chunks(channels, event, data, options)?;
        let span = tracing::debug_span!("pusher.trigger_fanout", chunks = chunks.len(), event);
        let channel_of = |i: usize| channels[i].as_ref().to_owned();
        self.send_chunks("/events", chunks, concurrency, channel_of)
            .instrument(span)
            .await
    }

    /// Validates a fan-out and builds the body of each request.
    fn fanout_chunks<S, D>(
        &self,
        channels: &[S],
        event: &str,
        data: &D,
        options: &TriggerOptions,
    ) -> Result<Vec<Chunk>>
    where
        S: AsRef<str>,
        D: Serialize + ?Sized,
    {
        if channels.is_empty() {
            return Err(Error::validation(
                "channels",
                "at least one channel is needed",
            ));
        }
        validate_event_name(event)?;
        for (i, c) in channels.iter().enumerate() {
            let c = c.as_ref();
            self.limits()
                .check_channel(c)
                .map_err(|e| at("channel", i, e))?;
            if c.starts_with(PRIVATE_ENCRYPTED_PREFIX) {
                return Err(at(
                    "channel",
                    i,
                    Error::validation(
                        "channels",
                        "encrypted channels cannot be fanned out: trigger each one on its own",
                    ),
                ));
            }
        }
        let (socket_id, info) = check_options(options)?;
        // One key per call (the caller's, or generated when POSTs are retried); chunk k sends `KEY:k`.
        let key = self.call_key(options.idempotency_key.as_deref())?;
        // Encoded once: every chunk sends the same string.
        let data = encode_data(data)?;
        check_data_size(&data, self.max_data_bytes())?;
        let mut names: Vec<&str> = Vec::with_capacity(MAX_TRIGGER_CHANNELS.min(channels.len()));
        let mut chunks = Vec::with_capacity(channels.len().div_ceil(MAX_TRIGGER_CHANNELS));
        for (k, chunk) in channels.chunks(MAX_TRIGGER_CHANNELS).enumerate() {
            names.clear();
            names.extend(chunk.iter().map(AsRef::as_ref));
            let chunk_key = key.as_deref().map(|base| derive_key(base, k)).transpose()?;
            let body = TriggerBody {
                name: event,
                channels: &names,
                data: &data,
                socket_id,
                info: info.as_deref(),
                idempotency_key: chunk_key.as_deref(),
            }
            .to_json();
            let start = k * MAX_TRIGGER_CHANNELS;
            chunks.push(Chunk {
                items: start..start + chunk.len(),
                body: Bytes::from(body),
                keyed: chunk_key.is_some(),
            });
        }
        Ok(chunks)
    }

    /// Sends any number of events as batches of at most [`PusherBuilder::max_batch_events`]
    /// (10 by default), at most `concurrency` requests in flight (at least 1).
    ///
    /// Every event is validated (and encrypted where needed) first; any error is returned before a
    /// request is made, naming the position of the bad event. An empty list is refused. Then each batch
    /// succeeds or fails on its own: the report lists the events (positions and channels) of each failed
    /// batch.
    ///
    /// [`PusherBuilder::max_batch_events`]: crate::PusherBuilder::max_batch_events
    pub async fn trigger_batch_fanout(
        &self,
        events: &[BatchEvent],
        concurrency: usize,
    ) -> Result<FanOutReport> {
        if events.is_empty() {
            return Err(Error::validation("batch", "at least one event is needed"));
        }
        let prepared = events
            .iter()
            .enumerate()
            .map(|(i, ev)| self.prepare_batch_event(ev).map_err(|e| at("event", i, e)))
            .collect::<Result<Vec<_>>>()?;
        let size = self.max_batch_events();
        let mut prepared = prepared;
        // Events without a key of their own get one per call when POSTs are retried: `KEY:position`.
        if let Some(base) = self.call_key(None)? {
            for (i, ev) in prepared.iter_mut().enumerate() {
                if ev.idempotency_key.is_none() {
                    ev.idempotency_key = Some(derive_key(&base, i)?);
                }
            }
        }
        let mut chunks = Vec::with_capacity(events.len().div_ceil(size));
        for (k, chunk) in prepared.chunks(size).enumerate() {
            let body = serde_json::to_vec(&BatchBody { batch: chunk })?;
            let start = k * size;
            chunks.push(Chunk {
                items: start..start + chunk.len(),
                body: Bytes::from(body),
                keyed: chunk.iter().all(|ev| ev.idempotency_key.is_some()),
            });
        }
        drop(prepared);
        let span = tracing::debug_span!("pusher.trigger_batch_fanout", chunks = chunks.len());
        let channel_of = |i: usize| events[i].channel.clone();
        self.send_chunks("/batch_events", chunks, concurrency, channel_of)
            .instrument(span)
            .await
    }

    /// Sends the chunks, at most `concurrency` at a time, and reports the failed ones. Each request's
    /// future owns its client clone and body, so the whole future is `Send` without borrowing a chunk.
    async fn send_chunks(
        &self,
        path: &'static str,
        chunks: Vec<Chunk>,
        concurrency: usize,
        channel_of: impl Fn(usize) -> String,
    ) -> Result<FanOutReport> {
        let total = chunks.len();
        let sends = chunks.into_iter().enumerate().map(|(index, chunk)| {
            let client = self.clone();
            async move {
                let result = client
                    .send_post::<IgnoredAny>(path, chunk.body, chunk.keyed)
                    .await;
                (index, chunk.items, result)
            }
        });
        let mut results = stream::iter(sends).buffer_unordered(concurrency.max(1));
        let mut report = FanOutReport {
            chunks: total,
            ..FanOutReport::default()
        };
        while let Some((index, items, result)) = results.next().await {
            match result {
                Ok(_) => report.succeeded += 1,
                Err(error) => report.failures.push(ChunkFailure {
                    index,
                    channels: items.clone().map(&channel_of).collect(),
                    items,
                    error,
                }),
            }
        }
        report.failures.sort_by_key(|f| f.index);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RecordingBackend;

    #[tokio::test]
    async fn chunks_within_limits_and_reports_failures() {
        let rec = RecordingBackend::new();
        let p = Pusher::builder("1", "k", "s")
            .backend(rec.clone())
            .build()
            .unwrap();
        let channels: Vec<String> = (0..250).map(|i| format!("c-{i}")).collect();
        let r = p
            .trigger_fanout(
                &channels,
                "e",
                &serde_json::json!({"x": 1}),
                &TriggerOptions::new(),
                4,
            )
            .await
            .unwrap();
        assert_eq!((r.chunks, r.succeeded), (3, 3));
        let sent: usize = rec
            .requests()
            .iter()
            .map(|q| q.json()["channels"].as_array().unwrap().len())
            .sum();
        assert_eq!(sent, 250);
        assert!(
            rec.requests()
                .iter()
                .all(|q| q.json()["channels"].as_array().unwrap().len() <= 100)
        );

        let rec = RecordingBackend::new();
        rec.respond(200, "{}");
        rec.respond(500, "boom");
        let p = Pusher::builder("1", "k", "s")
            .backend(rec.clone())
            .retry(crate::RetryPolicy::none())
            .build()
            .unwrap();
        let events: Vec<BatchEvent> = (0..25)
            .map(|i| BatchEvent::new(format!("c-{i}"), "e", "x").unwrap())
            .collect();
        let r = p.trigger_batch_fanout(&events, 1).await.unwrap();
        assert_eq!((r.chunks, r.succeeded, r.failures.len()), (3, 2, 1));
        assert_eq!(r.failures[0].index, 1);
        assert_eq!(r.failures[0].channels.len(), 10);
        assert_eq!(r.failures[0].error.status(), Some(500));
        assert!(!r.is_complete());
    }
}
