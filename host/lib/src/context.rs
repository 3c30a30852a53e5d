//! What a store knows about the requests it serves, and how an `edge:fetch`
//! call finds the request it is made for.

use crate::bindings::edge::fetch::fetch_event::Geolocation;
use crate::deferred::DeferredTasks;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::AsContextMut;
use wasmtime::component::{HasData, TaskGroupHook, TaskGroupId};

/// Store data that serves `edge:fetch`: it holds an [`EdgeFetchCtx`].
pub trait EdgeFetchView {
    /// The store's `edge:fetch` context.
    fn edge_fetch(&mut self) -> &mut EdgeFetchCtx;
}

/// The requests one store serves (one, or several in turn or at once), by
/// the task group (a host-to-guest call and the subtasks it creates) that
/// handles each.
#[derive(Default)]
pub struct EdgeFetchCtx {
    groups: Arc<Mutex<Groups>>,
}

/// What the store's [`TaskGroupHook`] and its [`EdgeFetchCtx`] share.
#[derive(Default)]
struct Groups {
    /// The group whose thread runs now, if any.
    current: Option<TaskGroupId>,
    requests: HashMap<TaskGroupId, Arc<RequestContext>>,
}

/// Follows which task group runs, and forgets the groups that finish (the
/// runtime reuses their ids).
struct GroupHook(Arc<Mutex<Groups>>);

impl Groups {
    fn lock(shared: &Mutex<Groups>) -> MutexGuard<'_, Groups> {
        shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TaskGroupHook for GroupHook {
    fn handle_start(&mut self, _: TaskGroupId) -> wasmtime::Result<()> {
        Ok(())
    }

    fn handle_enter(&mut self, id: TaskGroupId) -> wasmtime::Result<()> {
        Groups::lock(&self.0).current = Some(id);
        Ok(())
    }

    fn handle_exit(&mut self, _: TaskGroupId) -> wasmtime::Result<()> {
        Groups::lock(&self.0).current = None;
        Ok(())
    }

    fn handle_finish(&mut self, id: TaskGroupId) -> wasmtime::Result<()> {
        Groups::lock(&self.0).requests.remove(&id);
        Ok(())
    }
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

    /// Sets the [`TaskGroupHook`] through which `store` tells its
    /// [`EdgeFetchCtx`] which task group calls the host; without it no
    /// call is attributed by group. Call it once, before the first call.
    pub fn track_task_groups<T: EdgeFetchView + 'static>(mut store: impl AsContextMut<Data = T>) {
        let mut store = store.as_context_mut();
        let groups = store.data_mut().edge_fetch().groups.clone();
        store.task_group_hook(GroupHook(groups));
    }

    /// Records that task group `group` (of a `wasi:http/handler` call, from
    /// `start_call_concurrent`) handles the request `context`. Calls from
    /// the subtasks and spawned tasks of that call are attributed to the
    /// request too.
    pub fn start_request(&mut self, group: TaskGroupId, context: Arc<RequestContext>) {
        Groups::lock(&self.groups).requests.insert(group, context);
    }

    /// Forgets `request` (its deferred phase is over), with every group
    /// that was recorded as handling it.
    pub fn end_request(&mut self, request: &Arc<RequestContext>) {
        Groups::lock(&self.groups)
            .requests
            .retain(|_, handled| !Arc::ptr_eq(handled, request));
    }

    /// The request on whose behalf the guest is calling the host right now:
    /// the one whose task group makes the call. Deferred tasks a guest
    /// spawns run in the group of the export call that spawned them, so
    /// they are attributed to their request too. When the group is not
    /// known (an origin component called by the host on the middleware's
    /// behalf), a store that serves a single request attributes the call to
    /// it.
    pub fn current_request<T: EdgeFetchView + 'static>(
        mut store: impl AsContextMut<Data = T>,
    ) -> Option<Arc<RequestContext>> {
        let mut store = store.as_context_mut();
        let groups = Groups::lock(&store.data_mut().edge_fetch().groups);
        groups
            .current
            .and_then(|group| groups.requests.get(&group))
            .or_else(|| {
                let mut only = groups.requests.values();
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
