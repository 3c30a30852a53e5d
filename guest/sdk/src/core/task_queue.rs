//! [`Queue`]: the deferred tasks of a request on a backend that runs them
//! itself instead of handing them to the host (WASI 0.2, native).

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;

use super::deferred::{Outcome, TaskTracker, Tracked};

/// The deferred tasks of one request on a backend that runs them itself
/// (WASI 0.2, native): registered now, driven by [`Queue::drive`] once the
/// response has been sent. Clones share the tasks.
#[derive(Clone, Default)]
pub(crate) struct Queue {
    tracker: TaskTracker,
    waiting: Rc<RefCell<Vec<Tracked>>>,
}

impl Queue {
    /// Registers `task`; it starts at the next [`drive`](Self::drive).
    pub(crate) fn push(&self, task: impl Future<Output = Outcome> + 'static) {
        let task = self.tracker.track(task);
        self.waiting.borrow_mut().push(task);
    }

    /// The counts of the registered tasks.
    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Runs every registered task, late registrations (tasks pushed by
    /// running ones) included, until all have settled or `give_up`
    /// resolves. Calls `settled` with each task's index (in registration
    /// order) and outcome; returns the indices of the tasks still pending
    /// when it gave up, which are dropped.
    pub(crate) async fn drive(
        &self,
        give_up: impl Future<Output = ()>,
        mut settled: impl FnMut(usize, Outcome),
    ) -> Vec<usize> {
        let mut give_up = pin!(give_up);
        let mut active: Vec<(usize, Tracked)> = Vec::new();
        let mut next_index = 0;
        poll_fn(|cx| {
            loop {
                let added: Vec<Tracked> = self.waiting.borrow_mut().drain(..).collect();
                for task in added {
                    active.push((next_index, task));
                    next_index += 1;
                }
                active.retain_mut(|(index, task)| match Pin::new(task).poll(cx) {
                    Poll::Pending => true,
                    Poll::Ready(outcome) => {
                        settled(*index, outcome);
                        false
                    }
                });
                // Tasks that settled may have registered more: poll those too.
                if self.waiting.borrow().is_empty() {
                    break;
                }
            }
            if active.is_empty() {
                return Poll::Ready(Vec::new());
            }
            if give_up.as_mut().poll(cx).is_ready() {
                return Poll::Ready(active.drain(..).map(|(index, _)| index).collect());
            }
            Poll::Pending
        })
        .await
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.tracker.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::latch::Latch;
    use crate::core::test_util::block_on;

    #[test]
    fn a_queue_runs_late_registrations_and_gives_up_on_the_rest() {
        let queue = Queue::default();
        let late = queue.clone();
        queue.push(async move {
            late.push(async { Err("late one".to_string()) });
            Ok(())
        });
        queue.push(std::future::pending());
        let sent = Latch::default();
        sent.open();
        let mut settled = Vec::new();
        let pending = block_on(queue.drive(sent.opened(), |index, outcome| {
            settled.push((index, outcome))
        }));
        assert_eq!(settled, [(0, Ok(())), (2, Err("late one".to_string()))]);
        assert_eq!(pending, [1]);
        assert_eq!(queue.tracker().registered(), 3);
        assert_eq!(queue.tracker().pending(), 0, "given-up tasks are dropped");
    }
}
