//! Pusher Channels integration for actix (work in progress).
