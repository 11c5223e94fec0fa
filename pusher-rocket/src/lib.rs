//! Pusher Channels integration for rocket (work in progress).
