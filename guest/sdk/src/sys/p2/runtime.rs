//! A single-threaded executor over `wasi:io/poll`: futures wait on
//! pollables, and [`block_on`] blocks in `poll` until one of them is ready.

use std::cell::RefCell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::bindings::wasi::io::poll::{Pollable, poll};

thread_local! {
    /// The pollables the futures polled in this round wait on.
    static WAITING: RefCell<Vec<(Rc<Pollable>, Waker)>> = const { RefCell::new(Vec::new()) };
}

/// A future that is ready when `pollable` is.
pub(super) struct WaitFor(Rc<Pollable>);

impl WaitFor {
    pub(super) fn new(pollable: Pollable) -> Self {
        Self(Rc::new(pollable))
    }
}

impl Future for WaitFor {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.ready() {
            return Poll::Ready(());
        }
        WAITING.with(|waiting| {
            waiting
                .borrow_mut()
                .push((Rc::clone(&self.0), cx.waker().clone()))
        });
        Poll::Pending
    }
}

/// Set when a waker is woken: poll again before blocking.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `future` to completion, blocking in `wasi:io/poll.poll` while it
/// waits. Panics if it waits on nothing that could ever wake it.
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            WAITING.with(|waiting| waiting.borrow_mut().clear());
            return output;
        }
        let waiting = WAITING.with(|waiting| std::mem::take(&mut *waiting.borrow_mut()));
        if flag.0.load(Ordering::SeqCst) {
            continue;
        }
        assert!(
            !waiting.is_empty(),
            "edgeware: a future is pending but waits on no WASI pollable, so it can never finish"
        );
        let pollables: Vec<&Pollable> = waiting.iter().map(|(p, _)| &**p).collect();
        for index in poll(&pollables) {
            waiting[index as usize].1.wake_by_ref();
        }
    }
}
