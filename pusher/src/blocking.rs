//! A blocking client (feature `blocking`) for CLI tools and services without an async runtime: the sending
//! methods of [`crate::Pusher`] under the same names and types, sharing all of its logic — only the sending
//! differs (each call runs on a small private runtime owned by the client). Everything that sends nothing
//! (the `*_request` builders, accessors, encryption) is on the async client, reached with
//! [`Pusher::as_async`].
//!
//! ```no_run
//! let pusher = pusher::Pusher::builder("APP_ID", "KEY", "SECRET").cluster("eu").build_blocking()?;
//! pusher.trigger("orders", "created", &serde_json::json!({"id": 42}))?;
//! # Ok::<(), pusher::Error>(())
//! ```
//!
//! Do not call it from inside an async runtime: use [`crate::Pusher`] there ([`Pusher::as_async`]). Inside a
//! Tokio runtime context (an async task, the body of `block_on` or `#[tokio::main]`, and also
//! `tokio::task::spawn_blocking`, which Tokio does not tell apart) the methods that send a request return
//! [`Error::BlockingInAsync`] without sending anything, rather than panicking or blocking the runtime's
//! thread. In `spawn_blocking`, use `tokio::runtime::Handle::current().block_on(client.as_async().trigger(..))`.
//! Creating, cloning and dropping the client is allowed anywhere, and so are the methods that send nothing
//! (`authorize_channel`, `authenticate_user`, `validate_webhook`).
//!
//! Build one with [`PusherBuilder::build_blocking`](crate::PusherBuilder::build_blocking) (every option of
//! the async client's builder), [`Pusher::from_url`], [`Pusher::from_env`], or around an async client with
//! [`Pusher::new`].

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{ChannelAuth, PresenceData, UserAuth, UserData};
use crate::error::{Error, Result, WebhookError};
use crate::query::{ChannelInfo, ChannelsInfo, UsersInfo};
use crate::trigger::{
    BatchEvent, BatchOptions, BatchResponse, ChannelList, TriggerOptions, TriggerResponse,
};
use crate::webhook::Webhook;

/// The blocking client. Cheap to clone.
///
/// Every method that sends a request returns [`Error::BlockingInAsync`] when called inside a Tokio runtime
/// context (see the [module docs](self)).
#[derive(Clone)]
pub struct Pusher {
    inner: crate::Pusher,
    rt: Arc<PrivateRuntime>,
}

/// The client's runtime, shut down in the background when the last clone is dropped: dropping a Tokio
/// runtime the ordinary way waits for its threads, which panics inside an async context.
struct PrivateRuntime(Option<tokio::runtime::Runtime>);

impl PrivateRuntime {
    /// Runs `fut` to completion on the private runtime, or refuses inside a runtime context (where
    /// `block_on` panics, and blocking the thread could deadlock a connection driven by that runtime).
    fn block_on<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsync);
        }
        match &self.0 {
            Some(rt) => rt.block_on(fut),
            None => Err(Error::config("runtime", "has been shut down")),
        }
    }
}

impl Drop for PrivateRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("blocking::Pusher")
            .field(&self.inner)
            .finish()
    }
}

impl Pusher {
    /// A blocking client from a `PUSHER_URL`-style URL.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::new(crate::Pusher::from_url(url)?)
    }

    /// A blocking client from the `PUSHER_URL` environment variable.
    pub fn from_env() -> Result<Self> {
        Self::new(crate::Pusher::from_env()?)
    }

    /// A blocking client from a URL in the environment variable `name`.
    pub fn from_env_var(name: &str) -> Result<Self> {
        Self::new(crate::Pusher::from_env_var(name)?)
    }

    /// Wraps an async client. The blocking client shares its configuration and connection pool.
    pub fn new(inner: crate::Pusher) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pusher-blocking")
            .enable_all()
            .build()
            .map_err(|e| Error::config("runtime", format!("could not start: {e}")))?;
        Ok(Pusher {
            inner,
            rt: Arc::new(PrivateRuntime(Some(rt))),
        })
    }

    /// The async client this one drives.
    pub fn as_async(&self) -> &crate::Pusher {
        &self.inner
    }

    /// See [`crate::Pusher::trigger`].
    pub fn trigger<C, D>(&self, channels: &C, event: &str, data: &D) -> Result<TriggerResponse>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        self.rt.block_on(self.inner.trigger(channels, event, data))
    }

    /// See [`crate::Pusher::trigger_with`].
    pub fn trigger_with<C, D>(
        &self,
        channels: &C,
        event: &str,
        data: &D,
        options: &TriggerOptions,
    ) -> Result<TriggerResponse>
    where
        C: ChannelList + ?Sized,
        D: Serialize + ?Sized,
    {
        self.rt
            .block_on(self.inner.trigger_with(channels, event, data, options))
    }

    /// See [`crate::Pusher::trigger_batch`].
    pub fn trigger_batch(&self, batch: &[BatchEvent]) -> Result<BatchResponse> {
        self.rt.block_on(self.inner.trigger_batch(batch))
    }

    /// See [`crate::Pusher::trigger_batch_with`].
    pub fn trigger_batch_with(
        &self,
        batch: &[BatchEvent],
        options: &BatchOptions,
    ) -> Result<BatchResponse> {
        self.rt
            .block_on(self.inner.trigger_batch_with(batch, options))
    }

    /// See [`crate::Pusher::send_to_user`].
    pub fn send_to_user<D: Serialize + ?Sized>(
        &self,
        user_id: &str,
        event: &str,
        data: &D,
    ) -> Result<TriggerResponse> {
        self.rt
            .block_on(self.inner.send_to_user(user_id, event, data))
    }

    /// See [`crate::Pusher::terminate_user_connections`].
    pub fn terminate_user_connections(&self, user_id: &str) -> Result<()> {
        self.rt
            .block_on(self.inner.terminate_user_connections(user_id))
    }

    /// See [`crate::Pusher::channels_info`].
    pub fn channels_info(&self, prefix: Option<&str>, attributes: &[&str]) -> Result<ChannelsInfo> {
        self.rt
            .block_on(self.inner.channels_info(prefix, attributes))
    }

    /// See [`crate::Pusher::channel_info`].
    pub fn channel_info(&self, channel: &str, attributes: &[&str]) -> Result<ChannelInfo> {
        self.rt
            .block_on(self.inner.channel_info(channel, attributes))
    }

    /// See [`crate::Pusher::users_info`].
    pub fn users_info(&self, channel: &str) -> Result<UsersInfo> {
        self.rt.block_on(self.inner.users_info(channel))
    }

    /// See [`crate::Pusher::get`].
    pub fn get<T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        params: &[(&str, &str)],
    ) -> Result<T> {
        self.rt.block_on(self.inner.get(sub_path, params))
    }

    /// See [`crate::Pusher::post`].
    pub fn post<B: Serialize + ?Sized, T: DeserializeOwned + Default>(
        &self,
        sub_path: &str,
        body: &B,
    ) -> Result<T> {
        self.rt.block_on(self.inner.post(sub_path, body))
    }

    /// See [`crate::Pusher::authorize_channel`].
    pub fn authorize_channel(
        &self,
        channel: &str,
        socket_id: &str,
        presence: Option<&PresenceData>,
    ) -> Result<ChannelAuth> {
        self.inner.authorize_channel(channel, socket_id, presence)
    }

    /// See [`crate::Pusher::authenticate_user`].
    pub fn authenticate_user(&self, socket_id: &str, user: &UserData) -> Result<UserAuth> {
        self.inner.authenticate_user(socket_id, user)
    }

    /// See [`crate::Pusher::validate_webhook`].
    pub fn validate_webhook(
        &self,
        key: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Webhook, WebhookError> {
        self.inner.validate_webhook(key, signature, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RecordingBackend;

    /// Every option of the one builder reaches the blocking client (here the clock and the path prefix).
    #[test]
    fn build_blocking_keeps_every_builder_option() {
        use std::time::{Duration, UNIX_EPOCH};
        let rec = RecordingBackend::new();
        let p = crate::Pusher::builder("1", "key", "secret")
            .backend(rec.clone())
            .path_prefix("/pusher")
            .clock(|| UNIX_EPOCH + Duration::from_secs(1_000_000))
            .build_blocking()
            .unwrap();
        p.trigger("orders", "created", "{}").unwrap();
        let sent = rec.last().unwrap();
        assert_eq!(sent.path(), "/pusher/apps/1/events");
        assert!(
            sent.query()
                .contains(&("auth_timestamp".into(), "1000000".into()))
        );
    }

    #[test]
    fn same_logic_as_async() {
        let rec = RecordingBackend::new();
        let p = crate::Pusher::builder("1", "key", "secret")
            .backend(rec.clone())
            .build_blocking()
            .unwrap();
        p.trigger("orders", "created", &serde_json::json!({"id": 1}))
            .unwrap();
        assert!(rec.was_triggered("orders", "created", &serde_json::json!({"id": 1})));
        assert!(p.trigger("bad channel", "e", "x").is_err());
        rec.respond(401, "nope");
        assert!(matches!(
            p.channels_info(None, &[]),
            Err(Error::Unauthorized { .. })
        ));
        assert!(p.authorize_channel("private-a", "1.1", None).is_ok());
    }
}
