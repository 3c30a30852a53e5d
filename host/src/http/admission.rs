//! The concurrency gate in front of the guests: a request holds its place
//! until its response has been sent (or abandoned).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Admits at most `max` requests at once; a request counts until its
/// response has been sent (or abandoned).
pub struct Gate {
    active: Arc<AtomicUsize>,
    max: usize,
}

/// One admitted request; dropping it frees its place.
pub struct Admitted(Arc<AtomicUsize>);

impl Gate {
    /// A gate for `max` concurrent requests.
    pub fn new(max: usize) -> Gate {
        Gate {
            active: Arc::default(),
            max,
        }
    }

    /// Admits a request, or `None` when `max` are in flight.
    pub fn admit(&self) -> Option<Admitted> {
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Admitted(self.active.clone()))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_admits_up_to_its_limit() {
        let gate = Gate::new(2);
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        assert!(gate.admit().is_none());
        drop(a);
        assert!(gate.admit().is_some());
    }
}
