//! `edge:fetch` for any wasmtime 50 embedder: the `wait-until` and
//! `fetch-event` imports of `wit/edge-fetch.wit`, the way wasmtime-wasi-http
//! offers `wasi:http`.
//!
//! - [`add_to_linker`] adds both interfaces to a [`Linker<T>`] whose store
//!   data `T` implements [`EdgeFetchView`] (it holds an [`EdgeFetchCtx`]).
//! - Per request, the host builds a [`RequestContext`]: the [`FetchEvent`]
//!   facts the guest may ask for, and a [`DeferredTasks`] handle that
//!   collects every future the guest hands to `wait-until`. It records the
//!   task group of the handler call with [`EdgeFetchCtx::start_request`], so
//!   calls from that task and the tasks it spawns are attributed to it (the
//!   store reports its groups once [`EdgeFetchCtx::track_task_groups`] has
//!   set its hook).
//! - After the response, [`settle_after_response`] waits for the end of the
//!   response body ([`response_end`] observes it) and then for every task, at
//!   most the deferred deadline, and resolves to one [`TaskSettlement`] per
//!   task: FULFILLED, REJECTED or TIMED OUT, with its timing. Each settlement
//!   is also logged (`tracing`, one line per task) and counted in a
//!   [`TaskLedger`] ([`TaskCounts`], or the host's own metrics).
//!
//! A task is settled once, whatever happens: the guest writes its future,
//! drops it, traps (the host calls [`DeferredTasks::settle_pending`]), or the
//! deadline passes. `examples/embed.rs` is a complete hyper server.

pub mod bindings;
mod context;
mod deferred;
mod error;
mod fetch_event;
mod ledger;
mod outcome;
mod response_end;
mod wait_until;

pub use bindings::edge::fetch::fetch_event::Geolocation;
pub use context::{EdgeFetchCtx, EdgeFetchView, FetchEvent, RequestContext};
pub use deferred::{DeferredTasks, Settlement, TaskSettlement, settle_after_response};
pub use error::Error;
pub use ledger::{DeferredCounts, TaskCounts, TaskLedger};
pub use outcome::Outcome;
pub use response_end::{BodyEnd, EndSignal, ObservedBody, ResponseEnd, response_end};

use wasmtime::component::Linker;

/// Adds `edge:fetch/wait-until` and `edge:fetch/fetch-event` to `linker`.
/// Each call is answered for the request the calling guest task handles
/// (see [`EdgeFetchCtx::current_request`]); `fetch-event` calls outside of
/// any request trap, `wait-until` drops the task with a warning.
pub fn add_to_linker<T: EdgeFetchView + 'static>(linker: &mut Linker<T>) -> Result<(), Error> {
    use bindings::edge::fetch::{fetch_event, wait_until};
    use context::EdgeFetch;
    wait_until::add_to_linker::<T, EdgeFetch>(linker, T::edge_fetch).map_err(Error::Link)?;
    fetch_event::add_to_linker::<T, EdgeFetch>(linker, T::edge_fetch).map_err(Error::Link)?;
    Ok(())
}
