//! Deferred work across stores.

pub mod drain;
pub mod tasks;
