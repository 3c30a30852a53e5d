//! Host-wide bookkeeping of deferred tasks: what the parked-task limit
//! compares with, and where a host keeps its counts (or its metrics).

use crate::outcome::Outcome;
use std::sync::Mutex;
use std::time::Duration;

/// Where every request's deferred tasks are counted, host-wide. The
/// [`DeferredTasks`](crate::deferred::DeferredTasks) of each request report
/// here; [`TaskCounts`] is a ready-made ledger, and a host with metrics of
/// its own can implement this on them.
pub trait TaskLedger: Send + Sync {
    /// Tasks registered and not settled yet, across every request: while it
    /// is at a request's parked-task limit, new registrations are refused.
    fn in_flight(&self) -> u64;
    /// A task was registered.
    fn registered(&self);
    /// A registration was refused at the parked-task limit: the task counts
    /// as registered and REJECTED at once, and [`TaskLedger::settled`] is not
    /// called for it.
    fn refused(&self);
    /// A registered task settled; `after_response` is how long after the
    /// response end (zero if it settled before).
    fn settled(&self, outcome: &Outcome, after_response: Duration);
}

/// Deferred-task counts, updated together.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredCounts {
    /// Tasks the guests registered.
    pub registered: u64,
    /// Tasks that resolved `ok`.
    pub fulfilled: u64,
    /// Tasks that resolved `err`, were dropped, or died with their instance.
    pub rejected: u64,
    /// Tasks still pending at the deferred deadline (or at shutdown).
    pub timed_out: u64,
    /// Registered and not yet settled.
    pub in_flight: u64,
    /// Registrations refused at the parked-task limit (these are also
    /// counted as registered and rejected).
    pub refused: u64,
}

/// A [`TaskLedger`] that keeps [`DeferredCounts`] under one lock, so every
/// snapshot satisfies `registered = fulfilled + rejected + timed_out +
/// in_flight`; `in_flight` is kept by its own increments and decrements, so
/// the sum is a real check on the bookkeeping, not a definition.
#[derive(Default, Debug)]
pub struct TaskCounts {
    counts: Mutex<DeferredCounts>,
}

impl TaskCounts {
    /// A consistent snapshot of the counts.
    pub fn snapshot(&self) -> DeferredCounts {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DeferredCounts> {
        // Every update is a few additions on plain integers: a poisoned lock
        // holds consistent counts.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TaskLedger for TaskCounts {
    fn in_flight(&self) -> u64 {
        self.lock().in_flight
    }

    fn registered(&self) {
        let mut counts = self.lock();
        counts.registered += 1;
        counts.in_flight += 1;
    }

    fn refused(&self) {
        let mut counts = self.lock();
        counts.registered += 1;
        counts.rejected += 1;
        counts.refused += 1;
    }

    fn settled(&self, outcome: &Outcome, _after_response: Duration) {
        let mut counts = self.lock();
        match outcome {
            Outcome::Fulfilled => counts.fulfilled += 1,
            Outcome::Rejected(_) => counts.rejected += 1,
            Outcome::TimedOut => counts.timed_out += 1,
        }
        counts.in_flight = counts.in_flight.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let counts = TaskCounts::default();
        for _ in 0..4 {
            counts.registered();
        }
        counts.refused();
        counts.settled(&Outcome::Fulfilled, Duration::from_millis(3));
        counts.settled(&Outcome::Rejected("x".into()), Duration::ZERO);
        counts.settled(&Outcome::TimedOut, Duration::from_secs(1));
        let c = counts.snapshot();
        assert_eq!(
            c.registered,
            c.fulfilled + c.rejected + c.timed_out + c.in_flight
        );
        assert_eq!((c.registered, c.in_flight, c.refused), (5, 1, 1));
        assert_eq!(counts.in_flight(), 1);
    }
}
