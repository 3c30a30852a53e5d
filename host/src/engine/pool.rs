//! Requests waiting for a worker of one component version (reuse mode), and
//! how many workers would take one now.

use crate::http::body::HostBody;
use crate::http::exchange::Exchange;
use crate::http::replay::Replay;
use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;

/// One client request on its way to a worker.
pub struct Job {
    /// The request's exchange: its responder and what outlives the store.
    pub exchange: Exchange,
    /// The request as the guest gets it.
    pub request: http::Request<HostBody>,
    /// Lets the host forward the original request if the middleware fails.
    pub replay: Option<Replay>,
    /// The request's span: every log line about it carries its id.
    pub span: tracing::Span,
}

/// Requests waiting for a worker of one component version.
#[derive(Default)]
pub struct Pool {
    queue: Mutex<VecDeque<Job>>,
    pushed: Notify,
    /// Workers that would take a queued request now.
    available: AtomicUsize,
}

impl Pool {
    /// Whether a worker would take a queued request now.
    pub fn has_available(&self) -> bool {
        self.available.load(Ordering::Acquire) > 0
    }

    /// Queues `job` for an available worker. A worker that became
    /// unavailable since [`Pool::has_available`] would leave it queued: then
    /// the job is handed back, for a new worker. (A worker that becomes
    /// unavailable after this check starts one itself; see
    /// [`Pool::worker_unavailable`].)
    pub fn enqueue(&self, job: Job) -> Option<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.push_back(job);
        if self.available.load(Ordering::Acquire) == 0 {
            let job = queue.pop_back();
            drop(queue);
            job
        } else {
            drop(queue);
            self.pushed.notify_one();
            None
        }
    }

    /// Counts a worker that takes queued requests now.
    pub fn worker_available(&self) {
        self.available.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a worker that no longer does. When it was the last, a request
    /// queued just before would wait for nobody: it is handed back, for a
    /// new worker.
    pub fn worker_unavailable(&self) -> Option<Job> {
        if self.available.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.try_pop()
        } else {
            None
        }
    }

    fn try_pop(&self) -> Option<Job> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// Waits for a queued request. Dropping this future while it holds a
    /// wake-up passes the wake-up on to another waiting worker.
    pub async fn next_job(&self) -> Job {
        loop {
            let mut notified = pin!(self.pushed.notified());
            notified.as_mut().enable();
            if let Some(job) = self.try_pop() {
                return job;
            }
            notified.await;
        }
    }
}
