//! HTTP pieces that know nothing of guests: bodies whose end the host
//! observes, the replayable request, the one response of an exchange, and the
//! outbound allowlist.

pub mod body;
pub mod exchange;
pub mod outbound;
pub mod replay;
