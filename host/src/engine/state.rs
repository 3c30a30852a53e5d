//! What a store holds while it serves its requests: one request by default,
//! several (one after another or at once) in reuse mode.

use crate::deferred::tasks::DeferredTasks;
use crate::engine::fetch_event::EventInfo;
use crate::engine::next_hop::NextHop;
use crate::http::outbound::OutboundPolicy;
use crate::ops::metrics::InstanceGuard;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::{GuestTaskId, HasData, ResourceTable};
use wasmtime::{AsContextMut, StoreLimits};
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
    /// Counts this instance alive in the metrics while the store exists.
    _alive: InstanceGuard,
    /// Where the middleware's imported `wasi:http/handler` leads.
    pub next: NextHop,
    /// The requests this store serves, by the guest task that handles each.
    requests: HashMap<GuestTaskId, Arc<RequestContext>>,
}

/// What the host knows about one request a store serves: the answers of
/// `edge:fetch/fetch-event` and the tasks registered through `wait-until`.
pub struct RequestContext {
    /// Facts about the request.
    pub event: EventInfo,
    /// Its deferred tasks.
    pub deferred: DeferredTasks,
}

impl StoreState {
    /// Builds the state of a new store.
    pub fn new(
        wasi: WasiCtx,
        hooks: OutboundPolicy,
        limits: StoreLimits,
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
            next,
            requests: HashMap::new(),
        }
    }

    /// Records that guest task `task` handles the request `context`.
    pub fn start_request(&mut self, task: GuestTaskId, context: Arc<RequestContext>) {
        self.requests.insert(task, context);
    }

    /// Forgets `request` (its deferred phase is over), with every task
    /// that was recorded as handling it.
    pub fn end_request(&mut self, request: &Arc<RequestContext>) {
        self.requests
            .retain(|_, handled| !Arc::ptr_eq(handled, request));
    }

    /// The request on whose behalf the guest is calling the host right now:
    /// the one whose handler task is the nearest on the component model's
    /// async call stack. Deferred tasks a guest spawns run on the task of
    /// the export call that spawned them, so they are attributed to their
    /// request too. When the stack names no known task (the origin called
    /// through the host's next hop), a store that serves a single request
    /// attributes the call to it.
    pub fn current_request(
        mut store: impl AsContextMut<Data = Self>,
    ) -> Option<Arc<RequestContext>> {
        let mut store = store.as_context_mut();
        let stack: Vec<GuestTaskId> = match store.async_call_stack() {
            Ok(stack) => stack.collect(),
            Err(_) => Vec::new(),
        };
        let requests = &store.data().requests;
        stack
            .iter()
            .find_map(|task| requests.get(task))
            .or_else(|| {
                let mut only = requests.values();
                only.next().filter(|_| only.next().is_none())
            })
            .cloned()
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

/// Marker through which our own `edge:fetch` and `wasi:http/handler` imports
/// reach [`StoreState`].
pub struct Edge;

impl HasData for Edge {
    type Data<'a> = &'a mut StoreState;
}
