#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// No unsafe code, except the FFI calls of the opt-in `libsodium` feature (`encryption::sodium`).
#![cfg_attr(not(feature = "libsodium"), forbid(unsafe_code))]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod channel;
pub mod chunked;
mod client;
pub mod config;
pub mod dedup;
pub mod encryption;
pub mod error;
pub mod fanout;
pub mod http;
mod http1_pool;
pub mod hyper_backend;
pub mod idempotency;
pub mod integration;
pub mod publisher;
pub mod query;
mod request;
pub mod retry;
mod send;
pub mod signing;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trigger;
pub mod webhook;

pub use auth::{ChannelAuth, PresenceData, UserAuth, UserData};
pub use channel::{ChannelKind, Limits};
pub use client::{Clock, Pusher};
pub use config::{PusherBuilder, PusherUrl, Secret};
pub use error::{Error, Result, WebhookError};
pub use fanout::{ChunkFailure, FanOutReport};
pub use http::{HttpBackend, HttpRequest, HttpResponse, Method};
pub use hyper_backend::HyperBackend;
pub use publisher::{Publisher, PublisherConfig};
pub use query::{ChannelInfo, ChannelsInfo, UserEntry, UsersInfo};
pub use retry::RetryPolicy;
pub use trigger::{
    BatchEvent, BatchOptions, BatchResponse, ChannelAttributes, ChannelList, TriggerOptions,
    TriggerResponse,
};
pub use webhook::{Decryption, Webhook, WebhookEvent, sign_webhook};
