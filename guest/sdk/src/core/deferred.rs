//! Book-keeping for deferred tasks (`FetchEvent::wait_until`).
//!
//! Host-independent: the WASI layer hands the [`Tracked`] future to the
//! runtime and the outcome to the host.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// What a deferred task settles to: `Ok` (fulfilled) or a rejection message.
pub(crate) type Outcome = Result<(), String>;

/// Counts the deferred tasks of one request. Clones share the counts.
#[derive(Clone, Default)]
pub(crate) struct TaskTracker {
    counts: Rc<Counts>,
}

#[derive(Default)]
struct Counts {
    registered: Cell<usize>,
    settled: Cell<usize>,
}

impl TaskTracker {
    /// Registers `task` and returns it wrapped: the wrapper counts the task as
    /// settled when it finishes or is dropped, and turns a panic inside the
    /// task into a rejection (`"panicked: ..."`) where panics unwind.
    pub(crate) fn track(&self, task: impl Future<Output = Outcome> + 'static) -> Tracked {
        let registered = &self.counts.registered;
        registered.set(registered.get() + 1);
        Tracked {
            task: Some(Box::pin(task)),
            counts: Rc::clone(&self.counts),
        }
    }

    /// How many tasks were registered so far.
    pub(crate) fn registered(&self) -> usize {
        self.counts.registered.get()
    }

    /// How many registered tasks have neither finished nor been dropped.
    pub(crate) fn pending(&self) -> usize {
        self.counts.registered.get() - self.counts.settled.get()
    }
}

impl fmt::Debug for TaskTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskTracker")
            .field("registered", &self.registered())
            .field("pending", &self.pending())
            .finish()
    }
}

/// A registered deferred task; see [`TaskTracker::track`].
pub(crate) struct Tracked {
    task: Option<Pin<Box<dyn Future<Output = Outcome>>>>,
    counts: Rc<Counts>,
}

impl Tracked {
    fn settle(&mut self) {
        if self.task.take().is_some() {
            let settled = &self.counts.settled;
            settled.set(settled.get() + 1);
        }
    }
}

impl Future for Tracked {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err("deferred task polled after it settled".into()));
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => outcome,
            Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        };
        self.settle();
        Poll::Ready(outcome)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.settle();
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(no message)"
    }
}

/// The deferred task behind `FetchEvent::after`: once `sent` (the response
/// has been sent) resolves, runs `f` and fulfils.
pub(crate) async fn run_after(sent: impl Future<Output = ()>, f: impl FnOnce()) -> Outcome {
    sent.await;
    f();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::latch::Latch;
    use crate::core::test_util::block_on;

    #[test]
    fn counts_registered_and_pending_tasks() {
        let tracker = TaskTracker::default();
        let ok = tracker.track(async { Ok(()) });
        let rejected = tracker.clone().track(async { Err("nope".to_string()) });
        assert_eq!((tracker.registered(), tracker.pending()), (2, 2));

        assert_eq!(block_on(ok), Ok(()));
        assert_eq!((tracker.registered(), tracker.pending()), (2, 1));
        assert_eq!(block_on(rejected), Err("nope".to_string()));
        assert_eq!((tracker.registered(), tracker.pending()), (2, 0));
    }

    #[test]
    fn dropping_an_unfinished_task_settles_it() {
        let tracker = TaskTracker::default();
        let never = tracker.track(std::future::pending());
        assert_eq!(tracker.pending(), 1);
        drop(never);
        assert_eq!((tracker.registered(), tracker.pending()), (1, 0));
    }

    #[test]
    fn panics_become_rejections() {
        let tracker = TaskTracker::default();
        let task = tracker.track(async { panic!("bad state {}", 42) });
        assert_eq!(block_on(task), Err("panicked: bad state 42".to_string()));

        let task = tracker.track(async { std::panic::panic_any(7_u32) });
        assert_eq!(block_on(task), Err("panicked: (no message)".to_string()));
        assert_eq!(tracker.pending(), 0);
    }

    #[test]
    fn polling_after_settling_is_an_error_not_a_panic() {
        let tracker = TaskTracker::default();
        let mut task = tracker.track(async { Ok(()) });
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Ready(Ok(())));
        assert!(matches!(
            Pin::new(&mut task).poll(&mut cx),
            Poll::Ready(Err(_))
        ));
        assert_eq!(tracker.pending(), 0);
    }

    #[test]
    fn after_runs_the_closure_once_settled() {
        let tracker = TaskTracker::default();
        let ran = Rc::new(Cell::new(false));
        let flag = Rc::clone(&ran);
        let task = tracker.track(run_after(std::future::ready(()), move || flag.set(true)));
        assert!(
            !ran.get(),
            "the closure must not run before the task is driven"
        );
        assert_eq!(block_on(task), Ok(()));
        assert!(ran.get());

        let task = tracker.track(run_after(std::future::ready(()), || {
            panic!("after hook failed")
        }));
        assert_eq!(
            block_on(task),
            Err("panicked: after hook failed".to_string())
        );
    }

    #[test]
    fn after_waits_until_the_response_is_sent() {
        let tracker = TaskTracker::default();
        let sent = Latch::default();
        let ran = Rc::new(Cell::new(false));
        let flag = Rc::clone(&ran);
        let mut task = tracker.track(run_after(sent.opened(), move || flag.set(true)));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..3 {
            assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Pending);
        }
        assert!(!ran.get(), "the closure waits for the response");
        assert_eq!(tracker.pending(), 1);
        sent.open();
        assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Ready(Ok(())));
        assert!(ran.get());
        assert_eq!(tracker.pending(), 0);
    }
}
