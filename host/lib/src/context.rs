//! What a store knows about the requests it serves, and how an `edge:fetch`
//! call finds the request it is made for.

use crate::bindings::edge::fetch::fetch_event::Geolocation;
use crate::deferred::DeferredTasks;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::AsContextMut;
use wasmtime::component::{GuestTaskId, HasData};

/// Store data that serves `edge:fetch`: it holds an [`EdgeFetchCtx`].
pub trait EdgeFetchView {
    /// The store's `edge:fetch` context.
    fn edge_fetch(&mut self) -> &mut EdgeFetchCtx;
}

/// The requests one store serves (one, or several in turn or at once), by
/// the guest task that handles each.
#[derive(Default)]
pub struct EdgeFetchCtx {
    requests: HashMap<GuestTaskId, Arc<RequestContext>>,
}

/// What the host knows about one request: the answers of
/// `edge:fetch/fetch-event` and the tasks registered through `wait-until`.
pub struct RequestContext {
    /// Facts about the request.
    pub event: FetchEvent,
    /// Its deferred tasks.
    pub deferred: DeferredTasks,
}

/// The facts `edge:fetch/fetch-event` answers about one request.
pub struct FetchEvent {
    /// Unique id of the request within this host process.
    pub request_id: Arc<str>,
    /// The peer address of the client connection.
    pub client_address: Option<SocketAddr>,
    /// The client's location, from sources the operator trusts.
    pub geo: Option<Geolocation>,
    /// How long deferred tasks may run after the response end.
    pub deferred_deadline: Duration,
    /// When the host stops waiting for the handler's response.
    pub request_deadline: Instant,
    /// Set by the guest through `pass-through-on-exception`.
    pub pass_through_on_exception: AtomicBool,
}

impl FetchEvent {
    /// Whether the guest asked for `pass-through-on-exception`.
    pub fn passes_through_on_exception(&self) -> bool {
        self.pass_through_on_exception.load(Ordering::Relaxed)
    }
}

impl EdgeFetchCtx {
    /// A context that serves no request yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that guest task `task` (the task of a `wasi:http/handler`
    /// call, from `start_call_concurrent`) handles the request `context`.
    /// Calls from tasks it spawns are attributed to the request too.
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
    /// request too. When the stack names no known task (an origin component
    /// called by the host on the middleware's behalf), a store that serves a
    /// single request attributes the call to it.
    pub fn current_request<T: EdgeFetchView + 'static>(
        mut store: impl AsContextMut<Data = T>,
    ) -> Option<Arc<RequestContext>> {
        let mut store = store.as_context_mut();
        let stack: Vec<GuestTaskId> = match store.async_call_stack() {
            Ok(stack) => stack.collect(),
            Err(_) => Vec::new(),
        };
        let requests = &store.data_mut().edge_fetch().requests;
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

/// Marker through which the `edge:fetch` imports reach an [`EdgeFetchCtx`].
pub(crate) struct EdgeFetch;

impl HasData for EdgeFetch {
    type Data<'a> = &'a mut EdgeFetchCtx;
}
