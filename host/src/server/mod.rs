//! The servers: the public one (accept loop, admission, ingress), the admin
//! one and the readiness it reports, and graceful shutdown.

pub mod admin;
pub mod front;
pub mod listener;
pub mod readiness;
pub mod shutdown;
