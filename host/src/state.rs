//! What a store holds while it serves one request.

use crate::deferred::DeferredTasks;
use crate::fetch_event::EventInfo;
use crate::metrics::InstanceGuard;
use crate::next_hop::NextHop;
use crate::outbound::OutboundPolicy;
use wasmtime::StoreLimits;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of a store that serves exactly one request (one store per request).
pub struct RequestState {
    /// Resources (requests, responses, streams) the guest holds handles to.
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    /// Memory, table and instance caps of this store.
    pub limits: StoreLimits,
    /// Counts this instance alive in the metrics while the store exists.
    _alive: InstanceGuard,
    /// Facts about the request, answered through `edge:fetch/fetch-event`.
    pub event: EventInfo,
    /// The deferred tasks registered through `edge:fetch/wait-until`.
    pub deferred: DeferredTasks,
    /// Where the middleware's imported `wasi:http/handler` leads.
    pub next: NextHop,
}

impl RequestState {
    /// Builds the state for one request.
    pub fn new(
        wasi: WasiCtx,
        hooks: OutboundPolicy,
        limits: StoreLimits,
        event: EventInfo,
        deferred: DeferredTasks,
        next: NextHop,
        alive: InstanceGuard,
    ) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
            limits,
            _alive: alive,
            event,
            deferred,
            next,
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Marker through which our own `edge:fetch` and `wasi:http/handler` imports
/// reach [`RequestState`].
pub struct Edge;

impl HasData for Edge {
    type Data<'a> = &'a mut RequestState;
}
