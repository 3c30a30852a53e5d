//! `edge:fetch/wait-until`: each future a guest hands over becomes a
//! deferred task of its request, settled when the guest writes the future
//! (or drops it).

use crate::bindings::edge::fetch::wait_until;
use crate::context::{EdgeFetch, EdgeFetchCtx, EdgeFetchView};
use crate::deferred::DeferredTasks;
use crate::outcome::Outcome;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime::StoreContextMut;
use wasmtime::component::{Access, FutureConsumer, FutureReader, Source};

/// Reads the value of one registered task's future and settles the task.
struct SettleOnValue {
    tasks: DeferredTasks,
    index: usize,
}

impl<D: 'static> FutureConsumer<D> for SettleOnValue {
    type Item = Result<(), String>;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<'_, D>,
        mut source: Source<'_, Self::Item>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<()>> {
        let mut value = None;
        source.read(&mut store, &mut value)?;
        let outcome = match value {
            Some(Ok(())) => Outcome::Fulfilled,
            Some(Err(message)) => Outcome::Rejected(message),
            None => Outcome::Rejected("the task's future was closed without a value".into()),
        };
        self.tasks.settle(self.index, outcome);
        Poll::Ready(Ok(()))
    }
}

impl Drop for SettleOnValue {
    /// The store drops the consumer without a value when the writer goes away
    /// unwritten; a task settled earlier keeps its outcome.
    fn drop(&mut self) {
        self.tasks.settle(
            self.index,
            Outcome::Rejected("the task's future was dropped without a value".into()),
        );
    }
}

impl<T: EdgeFetchView + 'static> wait_until::HostWithStore<T> for EdgeFetch {
    fn wait_until(
        mut host: Access<'_, T, Self>,
        task: FutureReader<Result<(), String>>,
    ) -> wasmtime::Result<()> {
        let Some(request) = EdgeFetchCtx::current_request(&mut host) else {
            tracing::warn!("wait-until called outside of any request; the task is dropped");
            let mut task = task;
            return task.close(&mut host);
        };
        let tasks = request.deferred.clone();
        match tasks.register() {
            Some(index) => task.pipe(&mut host, SettleOnValue { tasks, index }),
            // Refused at the parked-task limit (and reported).
            None => {
                let mut task = task;
                task.close(&mut host)
            }
        }
    }
}

impl wait_until::Host for EdgeFetchCtx {}
