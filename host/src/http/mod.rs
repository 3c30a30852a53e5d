//! HTTP pieces that know nothing of guests: the concurrency gate, request
//! ingress and the replayable request, bodies whose end the host observes,
//! the one response of an exchange, the upstream reverse proxy, and the
//! outbound allowlist.

pub mod admission;
pub mod body;
pub mod exchange;
pub mod ingress;
pub mod outbound;
pub mod replay;
pub mod upstream;
