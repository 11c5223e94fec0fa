//! Pusher Channels integration for axum (work in progress).
