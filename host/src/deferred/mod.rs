//! The host's side of deferred work, on top of edge-fetch-host's
//! registration and settlement: each request's deadlines, and the drain that
//! lists every store alive with its tasks for graceful shutdown.

pub mod deadline;
pub mod drain;
