//! Fan-out: one event to any number of channels, or any number of events, split into requests within the
//! API's limits (100 channels per trigger, 10 events per batch) and sent with bounded concurrency. Failures
//! are reported per chunk; the other chunks are still sent.

use futures_util::StreamExt;
use futures_util::stream;
use serde::Serialize;

use crate::channel::MAX_TRIGGER_CHANNELS;
use crate::client::Pusher;
use crate::error::{Error, Result};
use crate::trigger::{BatchEvent, TriggerOptions, encode_data};

/// One chunk that failed: its index, what it held, and the typed error.
#[derive(Debug)]
pub struct ChunkFailure {
    /// The chunk's position (0-based) in sending order.
    pub index: usize,
    /// The channels of a trigger chunk, or the channels of the batch chunk's events.
    pub channels: Vec<String>,
    /// Why it failed.
    pub error: Error,
}

/// The outcome of a fan-out.
#[derive(Debug, Default)]
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
}

impl Pusher {
    /// Triggers `event` on every channel of `channels`, 100 channels per request, at most `concurrency`
    /// requests in flight. The data is encoded once; each chunk is validated like
    /// [`trigger_with`](Self::trigger_with) (encrypted channels cannot be fanned out: they take one
    /// channel per trigger).
    ///
    /// ```no_run
    /// # async fn run(pusher: pusher::Pusher) -> Result<(), pusher::Error> {
    /// let channels: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    /// let report = pusher.trigger_fanout(&channels, "notice", &serde_json::json!({"v": 1}), &Default::default(), 8).await?;
    /// for f in &report.failures { eprintln!("chunk {} failed: {}", f.index, f.error); }
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
        // Encode once: every chunk sends the same string.
        let data = encode_data(data)?;
        let chunks: Vec<Vec<&str>> = channels
            .chunks(MAX_TRIGGER_CHANNELS)
            .map(|c| c.iter().map(AsRef::as_ref).collect())
            .collect();
        let sends = chunks.iter().enumerate().map(|(index, chunk)| {
            let data = data.as_str();
            async move {
                let r = self
                    .trigger_with(chunk.as_slice(), event, data, options)
                    .await;
                (index, r.map(drop))
            }
        });
        let results: Vec<(usize, Result<()>)> = stream::iter(sends)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        Ok(report(results, |i| {
            chunks[i].iter().map(|c| (*c).to_owned()).collect()
        }))
    }

    /// Sends any number of events as batches of at most [`PusherBuilder::max_batch_events`]
    /// (10 by default), at most `concurrency` requests in flight.
    ///
    /// [`PusherBuilder::max_batch_events`]: crate::PusherBuilder::max_batch_events
    pub async fn trigger_batch_fanout(
        &self,
        events: &[BatchEvent],
        concurrency: usize,
    ) -> Result<FanOutReport> {
        let size = self.max_batch_events();
        let chunks: Vec<&[BatchEvent]> = events.chunks(size).collect();
        let sends = chunks.iter().enumerate().map(|(index, chunk)| async move {
            (index, self.trigger_batch(chunk).await.map(drop))
        });
        let results: Vec<(usize, Result<()>)> = stream::iter(sends)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        Ok(report(results, |i| {
            chunks[i].iter().map(|e| e.channel.clone()).collect()
        }))
    }
}

fn report(
    results: Vec<(usize, Result<()>)>,
    channels_of: impl Fn(usize) -> Vec<String>,
) -> FanOutReport {
    let mut r = FanOutReport {
        chunks: results.len(),
        ..FanOutReport::default()
    };
    for (index, result) in results {
        match result {
            Ok(()) => r.succeeded += 1,
            Err(error) => r.failures.push(ChunkFailure {
                index,
                channels: channels_of(index),
                error,
            }),
        }
    }
    r.failures.sort_by_key(|f| f.index);
    r
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
