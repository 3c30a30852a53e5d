//! Readiness, as the admin server's `/readyz` tells it: ready once the
//! public listener accepts, not ready from the first shutdown signal on
//! (while the host drains, `/healthz` still says it is alive).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the host takes new requests; cheap to clone, shared by the
/// listener's owner and the admin server.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// The public listener accepts.
    pub fn accepting(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Shutdown has started: no new requests.
    pub fn draining(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether new requests are taken.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
