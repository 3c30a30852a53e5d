//! What the operator sets and sees: settings (flags and `--config`), the
//! trusted geo headers, and the Prometheus metrics.

pub mod config;
pub mod geo;
pub mod metrics;
