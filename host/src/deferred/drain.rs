//! The drain that shutdown waits on: every store still alive, with its
//! deferred tasks, and the places reserved for stores about to be created.

use edge_fetch_host::{DeferredTasks, Outcome};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Every store still alive (serving, streaming, or in its deferred phase),
/// and the places reserved for requests whose store is not created yet.
#[derive(Default)]
pub struct Drain {
    stores: Mutex<Stores>,
    next: AtomicU64,
    idle: Notify,
}

#[derive(Default)]
struct Stores {
    live: HashMap<u64, DeferredTasks>,
    /// Request ids admitted whose store has not entered yet.
    reserved: HashSet<Arc<str>>,
}

/// Keeps a store on the drain's list until dropped.
pub struct Live {
    drain: Arc<Drain>,
    key: u64,
}

/// A place for one request's store, held from admission until the store
/// is listed (its own [`Live`] then counts) or the request is over.
pub struct Reserved {
    drain: Arc<Drain>,
    request_id: Arc<str>,
}

/// What a shutdown left unfinished.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned {
    /// Stores still alive.
    pub stores: usize,
    /// Their deferred tasks still pending, now reported TIMED OUT.
    pub tasks: usize,
}

impl Drain {
    /// Reserves a place for the store of request `request_id`, unless
    /// `max` stores are alive or reserved (the pooling allocator has no
    /// free instance slot for it).
    pub fn reserve(self: &Arc<Self>, request_id: Arc<str>, max: usize) -> Option<Reserved> {
        let mut stores = self.lock();
        if stores.live.len() + stores.reserved.len() >= max {
            return None;
        }
        stores.reserved.insert(request_id.clone());
        Some(Reserved {
            drain: self.clone(),
            request_id,
        })
    }

    /// Lists a store, with its deferred tasks, until the guard is dropped;
    /// it takes over its request's reservation, if any.
    pub fn enter(self: &Arc<Self>, tasks: DeferredTasks) -> Live {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let mut stores = self.lock();
        stores.reserved.remove(tasks.request_id());
        stores.live.insert(key, tasks);
        Live {
            drain: self.clone(),
            key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stores> {
        self.stores.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many stores are alive.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Waits until no store is alive, at most until `deadline`; then
    /// reports every deferred task still pending as TIMED OUT.
    pub async fn wait_until(&self, deadline: tokio::time::Instant) -> Abandoned {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if self.lock().live.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout_at(deadline, idle).await.is_ok() {
            return Abandoned::default();
        }
        self.abandon()
    }

    /// Reports every pending deferred task of every live store as TIMED OUT
    /// (the process is about to exit), with one line per store that had any.
    pub fn abandon(&self) -> Abandoned {
        let live: Vec<DeferredTasks> = self.lock().live.values().cloned().collect();
        let mut tasks = 0;
        for store in &live {
            let (_, pending) = store.counts();
            if pending > 0 {
                tracing::warn!(
                    request_id = store.request_id(),
                    pending,
                    "shutting down: reporting pending deferred tasks TIMED OUT"
                );
            }
            tasks += pending;
            store.settle_pending(Outcome::TimedOut);
        }
        Abandoned {
            stores: live.len(),
            tasks,
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut stores = self.drain.lock();
        stores.live.remove(&self.key);
        if stores.live.is_empty() {
            self.drain.idle.notify_waiters();
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.drain.lock().reserved.remove(&self.request_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_fetch_host::TaskCounts;
    use std::time::Duration;

    #[tokio::test]
    async fn drain_times_out_pending_tasks_at_the_deadline() {
        let drain = Arc::new(Drain::default());
        let counts = Arc::new(TaskCounts::default());
        let tasks = DeferredTasks::new("r".into(), counts.clone(), 10);
        assert!(tasks.register().is_some());
        let live = drain.enter(tasks.clone());
        assert_eq!(drain.len(), 1);
        let soon = || tokio::time::Instant::now() + Duration::from_millis(20);
        let abandoned = drain.wait_until(soon()).await;
        assert_eq!(
            abandoned,
            Abandoned {
                stores: 1,
                tasks: 1
            }
        );
        assert_eq!(counts.snapshot().timed_out, 1);
        drop(live);
        assert_eq!(drain.wait_until(soon()).await, Abandoned::default());
    }

    #[test]
    fn reservations_count_until_their_store_enters_or_they_drop() {
        let drain = Arc::new(Drain::default());
        let counts = Arc::new(TaskCounts::default());
        let a = drain.reserve("a".into(), 2).unwrap();
        let _b = drain.reserve("b".into(), 2).unwrap();
        assert!(drain.reserve("c".into(), 2).is_none(), "two reserved");
        // a's store takes over its reservation: still two places taken.
        let live = drain.enter(DeferredTasks::new("a".into(), counts.clone(), 10));
        assert!(
            drain.reserve("c".into(), 2).is_none(),
            "one live, one reserved"
        );
        drop(a);
        assert!(
            drain.reserve("c".into(), 2).is_none(),
            "the store still counts"
        );
        drop(live);
        assert!(drain.reserve("c".into(), 2).is_some(), "a's place is free");
    }
}
