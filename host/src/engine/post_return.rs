//! Components that do not import `edge:fetch/wait-until` (for example an app
//! composed with the `edge:fetch` adapter for `wasmtime serve` and Spin) keep
//! their deferred work on their own tasks, which run on after the handler has
//! returned. For them the host behaves like `wasmtime serve`: a worker's
//! store lives on after its last response until the guest has no task left,
//! at most the deferred deadline (see `crate::engine::worker`). So the very same
//! bytes run with their deferred work on every WASI 0.3 host.

/// The import that marks a component as tracking its deferred work with the
/// host.
const WAIT_UNTIL_IMPORT: &str = "edge:fetch/wait-until@0.1.0";

/// Whether `component` registers its deferred work with the host
/// (`edge:fetch/wait-until`); if not, the host waits for its tasks instead.
pub fn imports_wait_until(component: &wasmtime::component::Component) -> bool {
    component
        .component_type()
        .imports(component.engine())
        .any(|(name, _)| name == WAIT_UNTIL_IMPORT)
}
