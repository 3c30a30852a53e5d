//! What the operator sets and sees: settings (flags and `--config`), the
//! trusted geo headers, the Prometheus metrics, and the components it names
//! in OCI registries.

pub mod config;
pub mod geo;
pub mod metrics;
pub mod oci;
