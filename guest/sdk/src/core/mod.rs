//! The host-independent part of the SDK: plain Rust that builds and is
//! unit-tested on any target. Nothing in here touches generated bindings.

pub(crate) mod body;
pub(crate) mod deferred;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod geo;
#[cfg(any(all(target_arch = "wasm32", not(feature = "p2")), test))]
pub(crate) mod latch;
pub(crate) mod next;
#[cfg(any(not(target_arch = "wasm32"), feature = "p2"))]
pub(crate) mod task_queue;
#[cfg(any(target_arch = "wasm32", test))]
pub(crate) mod wasi_http;

#[cfg(test)]
pub(crate) mod test_util {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Drives a future that never waits on anything external.
    pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }
}
