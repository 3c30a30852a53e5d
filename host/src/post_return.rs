//! Components that do not import `edge:fetch/wait-until` (for example an app
//! composed with the `edge:fetch` adapter for `wasmtime serve` and Spin) keep
//! their deferred work on their own tasks, which run on after the handler has
//! returned. For them the host behaves like `wasmtime serve`: the store lives
//! on after the response until the guest has no task left, at most the
//! deferred deadline after the response end. So the very same bytes run with
//! their deferred work on every WASI 0.3 host.

use crate::body::{self, BodyEnd};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use wasmtime::component::Accessor;

/// Inside `run_concurrent`, once the response has been handed over: waits
/// for the end of the response body, then until the guest has no tasks left,
/// and tells `idle` so.
pub async fn wait_for_idle_guest<T: Send>(
    accessor: &Accessor<T>,
    response_end: watch::Receiver<Option<BodyEnd>>,
    idle: oneshot::Sender<()>,
) {
    body::body_end(response_end).await;
    std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
    let _ = idle.send(());
}

/// The deferred phase of such a component: the end of the response, then the
/// guest going idle, at most `deadline` after that end. Logs one line.
pub async fn settle_after_response(
    response_end: watch::Receiver<Option<BodyEnd>>,
    idle: oneshot::Receiver<()>,
    deadline: Duration,
) {
    body::body_end(response_end).await;
    let ended = Instant::now();
    let after_ms = || ended.elapsed().as_millis() as u64;
    match tokio::time::timeout(deadline, idle).await {
        Ok(Ok(())) => tracing::info!(
            after_response_end_ms = after_ms(),
            "guest tasks FINISHED (component without edge:fetch/wait-until)"
        ),
        // The guest failed; `drive` reports that.
        Ok(Err(_)) => {}
        Err(_) => tracing::warn!(
            after_response_end_ms = after_ms(),
            "guest tasks TIMED OUT (component without edge:fetch/wait-until); instance dropped"
        ),
    }
}

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
