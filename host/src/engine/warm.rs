//! Instances made ahead of requests: a new worker takes a ready store and
//! instance of the served component instead of waiting while one is made,
//! and a replacement is made in a task of its own, off the request's path.
//!
//! A ready instance has run only its start-up code: no request has been in
//! it, so taking one keeps the one-store-per-request isolation. Its slot of
//! the pooling allocator is taken while it waits, so the stash is kept small
//! (see [`depth`]).

use crate::engine::bindings::Middleware;
use crate::engine::state::StoreState;
use crate::ops::metrics::Metrics;
use std::pin::pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;
use wasmtime::Store;

/// A store with the served component instantiated in it.
pub struct Instance {
    /// The store.
    pub store: Store<StoreState>,
    /// The served component's instance.
    pub guest: Middleware,
    /// Set each time a guest of the store that computes without pause is
    /// made to yield (the store's epoch callback sets it).
    pub preempted: Arc<AtomicBool>,
}

/// How many instances to keep ready: `wanted`, but at most an eighth of the
/// pooling allocator's slots (`pool_slots`), so that ready instances never
/// take the slots that requests need (a pool of fewer than 8 slots keeps
/// none ready).
pub fn depth(wanted: u32, pool_slots: Option<u32>) -> usize {
    let cap = pool_slots.map_or(u32::MAX, |slots| slots / 8);
    wanted.min(cap) as usize
}

/// Ready instances, and how many are being made.
pub struct Stash {
    state: Mutex<State>,
    /// Woken each time an instance being made is ready or failed.
    made_one: Notify,
    depth: usize,
    metrics: Arc<Metrics>,
}

/// What a [`Stash`] holds, under one lock.
struct State {
    ready: Vec<Instance>,
    making: usize,
}

impl Stash {
    /// A stash that keeps up to `depth` instances ready (none if 0),
    /// counted in `metrics`' `edge_instances_ready`.
    pub fn new(depth: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            state: Mutex::new(State {
                ready: Vec::with_capacity(depth),
                making: 0,
            }),
            made_one: Notify::new(),
            depth,
            metrics,
        }
    }

    /// Whether this stash keeps instances ready at all.
    pub fn is_enabled(&self) -> bool {
        self.depth > 0
    }

    /// The instance made longest ago, if one is ready.
    pub fn take(&self) -> Option<Instance> {
        let mut state = self.lock();
        let instance = (!state.ready.is_empty()).then(|| state.ready.remove(0))?;
        self.metrics.instances_ready(-1);
        Some(instance)
    }

    /// A ready instance, once one of those being made is ready; `None` if
    /// none is being made or every one being made failed. For a worker
    /// that found the pool full: the slot it lacks may be held by an
    /// instance being made for the stash.
    pub async fn wait_for_one(&self) -> Option<Instance> {
        loop {
            let mut made = pin!(self.made_one.notified());
            made.as_mut().enable();
            if let Some(instance) = self.take() {
                return Some(instance);
            }
            if self.lock().making == 0 {
                return None;
            }
            made.await;
        }
    }

    /// Claims the making of one more instance, if ready and being-made ones
    /// are fewer than the depth; the claim ends with [`Stash::made`].
    pub fn start_making(&self) -> bool {
        let mut state = self.lock();
        if state.ready.len() + state.making >= self.depth {
            return false;
        }
        state.making += 1;
        true
    }

    /// Ends a claim of [`Stash::start_making`]: keeps `instance`, if it
    /// could be made.
    pub fn made(&self, instance: Option<Instance>) {
        let mut state = self.lock();
        state.making -= 1;
        if let Some(instance) = instance {
            self.metrics.instances_ready(1);
            state.ready.push(instance);
        }
        drop(state);
        self.made_one.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Stash {
    /// The instances still ready when their component version is replaced
    /// (or the host stops) go with it.
    fn drop(&mut self) {
        let left = self.lock().ready.len();
        self.metrics.instances_ready(-(left as i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_leaves_the_pool_to_requests() {
        assert_eq!(depth(2, None), 2);
        assert_eq!(depth(2, Some(1000)), 2);
        assert_eq!(depth(2, Some(16)), 2);
        assert_eq!(depth(2, Some(8)), 1);
        assert_eq!(depth(2, Some(7)), 0);
        assert_eq!(depth(0, Some(1000)), 0);
    }

    #[test]
    fn claims_stop_at_the_depth_and_end_with_made() {
        let stash = Stash::new(2, Arc::default());
        assert!(stash.start_making());
        assert!(stash.start_making());
        assert!(!stash.start_making(), "two being made fill a depth of 2");
        stash.made(None);
        assert!(stash.start_making(), "a failed one frees its claim");
        assert!(stash.take().is_none());
        let off = Stash::new(0, Arc::default());
        assert!(!off.start_making());
        assert!(!off.is_enabled());
    }
}
