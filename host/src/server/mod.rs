//! The servers: the public one (accept loop, admission, ingress), the admin
//! one, and graceful shutdown.

pub mod admin;
pub mod front;
pub mod listener;
pub mod shutdown;
