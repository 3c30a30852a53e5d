//! What spans requests: the concurrency gate in front of them, and the drain
//! that shutdown waits on, which knows every store still alive and its
//! deferred tasks.

use crate::deferred::{DeferredTasks, Outcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

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

/// Every store still alive (serving, streaming, or in its deferred phase).
#[derive(Default)]
pub struct Drain {
    live: Mutex<HashMap<u64, DeferredTasks>>,
    next: AtomicU64,
    idle: Notify,
}

/// Keeps a store on the drain's list until dropped.
pub struct Live {
    drain: Arc<Drain>,
    key: u64,
}

impl Drain {
    /// Lists a store, with its deferred tasks, until the guard is dropped.
    pub fn enter(self: &Arc<Self>, tasks: DeferredTasks) -> Live {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, tasks);
        Live {
            drain: self.clone(),
            key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, DeferredTasks>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many stores are alive.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Waits until no store is alive, at most `grace`; then reports every
    /// deferred task still pending as TIMED OUT. Returns how many stores were
    /// abandoned.
    pub async fn wait(&self, grace: Duration) -> usize {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if self.lock().is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, idle).await.is_ok() {
            return 0;
        }
        self.abandon()
    }

    /// Reports every pending deferred task of every live store as TIMED OUT
    /// (the process is about to exit). Returns how many stores were live.
    pub fn abandon(&self) -> usize {
        let live: Vec<DeferredTasks> = self.lock().values().cloned().collect();
        for tasks in &live {
            let (_, pending) = tasks.counts();
            if pending > 0 {
                tracing::warn!(
                    pending,
                    "shutting down: reporting pending deferred tasks TIMED OUT"
                );
            }
            tasks.settle_pending(Outcome::TimedOut);
        }
        live.len()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut live = self.drain.lock();
        live.remove(&self.key);
        if live.is_empty() {
            self.drain.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn gate_admits_up_to_its_limit() {
        let gate = Gate::new(2);
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        assert!(gate.admit().is_none());
        drop(a);
        assert!(gate.admit().is_some());
    }

    #[tokio::test]
    async fn drain_times_out_pending_tasks_after_the_grace() {
        let drain = Arc::new(Drain::default());
        let metrics = Arc::new(Metrics::default());
        let tasks = DeferredTasks::new("r".into(), metrics.clone(), 10);
        let live = drain.enter(tasks.clone());
        assert_eq!(drain.len(), 1);
        let abandoned = drain.wait(Duration::from_millis(20)).await;
        assert_eq!(abandoned, 1);
        drop(live);
        assert_eq!(drain.wait(Duration::from_millis(20)).await, 0);
    }
}
