//! [`Latch`]: a one-way flag that futures can wait for, such as "the
//! response has been sent" for `FetchEvent::after`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Starts closed; once [`open`](Self::open)ed it stays open. Clones share
/// the state.
#[derive(Clone, Default)]
pub(crate) struct Latch(Rc<State>);

#[derive(Default)]
struct State {
    open: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Latch {
    /// Opens the latch and wakes every future waiting for it.
    pub(crate) fn open(&self) {
        if !self.0.open.replace(true) {
            for waker in self.0.waiters.take() {
                waker.wake();
            }
        }
    }

    /// Whether the latch has been opened.
    pub(crate) fn is_open(&self) -> bool {
        self.0.open.get()
    }

    /// A future that resolves once the latch is open.
    pub(crate) fn opened(&self) -> Opened {
        Opened(self.clone())
    }
}

impl std::fmt::Debug for Latch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Latch").field(&self.is_open()).finish()
    }
}

/// See [`Latch::opened`].
pub(crate) struct Opened(Latch);

impl Future for Opened {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = &(self.0).0;
        if state.open.get() {
            return Poll::Ready(());
        }
        let mut waiters = state.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_resolve_once_opened_and_are_woken_once() {
        let latch = Latch::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut first = latch.opened();
        let mut second = latch.clone().opened();
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Pending);
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Pending);
        assert_eq!(Pin::new(&mut second).poll(&mut cx), Poll::Pending);
        assert!(!latch.is_open());

        latch.open();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "one waker, registered once"
        );
        assert_eq!(Pin::new(&mut first).poll(&mut cx), Poll::Ready(()));
        assert_eq!(Pin::new(&mut second).poll(&mut cx), Poll::Ready(()));

        latch.open();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "opening twice is a no-op"
        );
        let mut late = latch.opened();
        assert_eq!(Pin::new(&mut late).poll(&mut cx), Poll::Ready(()));
    }
}
