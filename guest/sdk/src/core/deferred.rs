//! Book-keeping for deferred tasks (`FetchEvent::wait_until` and `after`).
//!
//! Host-independent: the WASI layer hands the [`Tracked`] future to the
//! runtime (or drives a `Queue` of them itself) and the outcome to the
//! host.

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

/// What the future of a deferred task may resolve to: `()` (fulfilled), or
/// a `Result<(), E>` whose `Err` rejects the task with `E`'s message, for
/// any `E: Display` (`edgeware::Error`, `String`, `anyhow::Error`, ...), so
/// `?` works inside the task as in its handler.
pub trait IntoTaskResult {
    /// The outcome reported to the host: `Ok` fulfils, `Err(message)`
    /// rejects.
    fn into_task_result(self) -> Result<(), String>;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> IntoTaskResult for Result<(), E> {
    /// The message is `E`'s alternate form (`{:#}`), which for
    /// `anyhow::Error` includes its causes.
    fn into_task_result(self) -> Result<(), String> {
        self.map_err(|error| format!("{error:#}"))
    }
}

/// The outcome of a task's future, as the host sees it.
pub(crate) async fn outcome_of<F>(task: F) -> Outcome
where
    F: Future,
    F::Output: IntoTaskResult,
{
    task.await.into_task_result()
}

/// What `FetchEvent::after` runs once the response has been sent, as
/// Next.js's `after()` takes a function or a promise: a closure (`|| ...`),
/// a closure returning a future (`async || ...`, `|| async { ... }`), or a
/// future. Each may end in anything [`IntoTaskResult`] accepts. `M` tells
/// the three kinds apart and is inferred.
pub trait AfterTask<M>: 'static {
    /// The deferred work, to be started once the response has been sent.
    fn into_outcome(self) -> impl Future<Output = Outcome> + 'static;
}

/// [`AfterTask`] marker: a closure that returns its result.
#[derive(Debug)]
pub enum Closure {}

/// [`AfterTask`] marker: a closure that returns a future (an async closure).
#[derive(Debug)]
pub enum AsyncClosure {}

/// [`AfterTask`] marker: a future.
#[derive(Debug)]
pub enum Task {}

impl<F, R> AfterTask<Closure> for F
where
    F: FnOnce() -> R + 'static,
    R: IntoTaskResult + 'static,
{
    async fn into_outcome(self) -> Outcome {
        self().into_task_result()
    }
}

impl<F, T> AfterTask<AsyncClosure> for F
where
    F: FnOnce() -> T + 'static,
    T: Future + 'static,
    T::Output: IntoTaskResult,
{
    async fn into_outcome(self) -> Outcome {
        outcome_of(self()).await
    }
}

impl<T> AfterTask<Task> for T
where
    T: Future + 'static,
    T::Output: IntoTaskResult,
{
    fn into_outcome(self) -> impl Future<Output = Outcome> + 'static {
        outcome_of(self)
    }
}

/// The deferred task behind `FetchEvent::after`: once `sent` (the response
/// has been sent) resolves, starts `task` (an [`AfterTask::into_outcome`]).
#[cfg(any(all(target_arch = "wasm32", not(feature = "p2")), test))]
pub(crate) async fn run_after(
    sent: impl Future<Output = ()>,
    task: impl Future<Output = Outcome>,
) -> Outcome {
    sent.await;
    task.await
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
        let task = tracker.track(run_after(
            std::future::ready(()),
            (move || flag.set(true)).into_outcome(),
        ));
        assert!(
            !ran.get(),
            "the closure must not run before the task is driven"
        );
        assert_eq!(block_on(task), Ok(()));
        assert!(ran.get());

        let hook = || -> Result<(), String> { panic!("after hook failed") };
        let task = tracker.track(run_after(std::future::ready(()), hook.into_outcome()));
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
        let mut task = tracker.track(run_after(
            sent.opened(),
            (move || flag.set(true)).into_outcome(),
        ));
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

    #[test]
    fn task_results_convert_from_unit_and_any_displayable_error() {
        assert_eq!(().into_task_result(), Ok(()));
        assert_eq!(Ok::<(), String>(()).into_task_result(), Ok(()));
        assert_eq!(
            Err::<(), _>(crate::Error::msg("sync failed")).into_task_result(),
            Err("sync failed".to_string())
        );
        let io = std::io::Error::other("socket closed");
        assert_eq!(
            Err::<(), _>(io).into_task_result(),
            Err("socket closed".to_string())
        );
        let chained = anyhow::anyhow!("root cause").context("posting telemetry");
        assert_eq!(
            Err::<(), _>(chained).into_task_result(),
            Err("posting telemetry: root cause".to_string())
        );
    }

    #[test]
    fn after_takes_closures_async_closures_and_futures() {
        let tracker = TaskTracker::default();
        fn after<M>(tracker: &TaskTracker, task: impl AfterTask<M>) -> Tracked {
            tracker.track(run_after(std::future::ready(()), task.into_outcome()))
        }
        let plain = after(&tracker, || ());
        let failing = after(&tracker, || Err::<(), _>("no"));
        let ran = Rc::new(Cell::new(0));
        let flag = Rc::clone(&ran);
        let async_closure = after(&tracker, async move || {
            flag.set(flag.get() + 1);
            Ok::<(), crate::Error>(())
        });
        let flag = Rc::clone(&ran);
        let returning_future = after(&tracker, move || async move {
            flag.set(flag.get() + 1);
        });
        let future = after(&tracker, async { Err::<(), _>(anyhow::anyhow!("late")) });
        assert_eq!(block_on(plain), Ok(()));
        assert_eq!(block_on(failing), Err("no".to_string()));
        assert_eq!(block_on(async_closure), Ok(()));
        assert_eq!(block_on(returning_future), Ok(()));
        assert_eq!(ran.get(), 2);
        assert_eq!(block_on(future), Err("late".to_string()));
        assert_eq!(tracker.pending(), 0);
    }
}
