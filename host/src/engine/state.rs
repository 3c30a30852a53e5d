//! What a store holds while it serves its requests: one request by default,
//! several (one after another or at once) in reuse mode.

use crate::engine::bindings::Middleware;
use crate::http::outbound::OutboundPolicy;
use crate::http::upstream::Upstream;
use crate::ops::metrics::InstanceGuard;
use edge_fetch_host::{EdgeFetchCtx, EdgeFetchView};
use std::sync::Arc;
use wasmtime::StoreLimits;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of a store.
pub struct StoreState {
    /// Resources (requests, responses, streams) the guest holds handles to.
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    /// Memory, table and instance caps of this store.
    pub limits: StoreLimits,
    /// Counts this instance alive in the metrics from the moment a worker
    /// takes it (see [`StoreState::count_alive`]) while the store exists.
    _alive: Option<InstanceGuard>,
    /// Where the middleware's imported `wasi:http/handler` leads.
    pub next: NextHop,
    /// The requests this store serves, by the task group that handles each.
    edge_fetch: EdgeFetchCtx,
}

/// Where one store's imported `handler` sends requests.
#[derive(Clone)]
pub enum NextHop {
    /// Forward over HTTP to an upstream server.
    Upstream(Arc<Upstream>),
    /// Call the `handler` export of an origin component in the same store.
    Origin(Arc<Middleware>),
    /// Nothing configured: the component is a complete service.
    Unset,
}

impl StoreState {
    /// Builds the state of a new store.
    pub fn new(wasi: WasiCtx, hooks: OutboundPolicy, limits: StoreLimits, next: NextHop) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
            limits,
            _alive: None,
            next,
            edge_fetch: EdgeFetchCtx::new(),
        }
    }

    /// Counts this store alive in the metrics until it is dropped; an
    /// instance made ahead of requests counts only once a worker takes it.
    pub fn count_alive(&mut self, alive: InstanceGuard) {
        self._alive = Some(alive);
    }
}

impl EdgeFetchView for StoreState {
    fn edge_fetch(&mut self) -> &mut EdgeFetchCtx {
        &mut self.edge_fetch
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Marker through which the next-hop `wasi:http/handler` import reaches
/// [`StoreState`].
pub struct Edge;

impl HasData for Edge {
    type Data<'a> = &'a mut StoreState;
}
