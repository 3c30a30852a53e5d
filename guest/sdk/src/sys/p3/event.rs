//! [`FetchEvent`] (`edge:fetch`) and [`sleep`] (`wasi:clocks`).

use std::future::Future;
use std::time::Duration;

use wit_bindgen::spawn_local;

use super::bindings::edge::fetch::{fetch_event, wait_until};
use super::bindings::wasi::clocks::monotonic_clock;
use super::bindings::wit_future;
use crate::core::deferred::{AfterTask, IntoTaskResult, TaskTracker, outcome_of, run_after};
use crate::core::geo::Geo;
use crate::core::latch::Latch;

/// The rejection the host sees for a deferred task that was dropped (for
/// example because the instance is shutting down) before it settled.
const DROPPED: &str = "deferred task dropped before it settled";

/// The event of the request being handled, like Next.js's `NextFetchEvent`.
///
/// A cheap handle: [`wait_until`](Self::wait_until) takes `&self`, and a
/// clone moved into a deferred task can register more work from there
/// ("late registrations"). Every method talks
/// to the host only when called, so a component that never calls one does
/// not import `edge:fetch` at all.
#[derive(Clone, Debug)]
pub struct FetchEvent {
    tasks: TaskTracker,
    /// Opened once the response has been sent (see [`Self::after`]).
    sent: Latch,
}

impl FetchEvent {
    pub(super) fn new() -> Self {
        Self {
            tasks: TaskTracker::default(),
            sent: Latch::default(),
        }
    }

    /// Marks the response as sent: `after` closures may run from now on.
    pub(super) fn response_sent(&self) {
        self.sent.open();
    }

    /// Registers `task` as deferred work of this request
    /// (`NextFetchEvent.waitUntil`).
    ///
    /// The response is sent without waiting for `task`; the host keeps the
    /// instance alive until the task settles or the deferred deadline
    /// passes, and reports its outcome. `task` may resolve to `()` or to a
    /// `Result<(), E>` for any `E: Display` ([`IntoTaskResult`]: an
    /// `edgeware::Result`, `anyhow::Result`, ...): `Ok` fulfils, `Err`
    /// rejects with its message, so `?` works inside the task. Where panics
    /// unwind, a panic rejects the task with `"panicked: ..."`; inside a
    /// component a panic traps the instance, which the host reports as a
    /// rejection too.
    pub fn wait_until<F>(&self, task: F)
    where
        F: Future + 'static,
        F::Output: IntoTaskResult,
    {
        let task = self.tasks.track(outcome_of(task));
        let (outcome_tx, outcome_rx) = wit_future::new(|| Err(DROPPED.to_owned()));
        wait_until::wait_until(outcome_rx);
        spawn_local(async move {
            let outcome = task.await;
            // The host stops listening once the deadline has passed; then
            // there is nobody left to tell.
            let _ = outcome_tx.write(outcome).await;
        });
    }

    /// Runs `task` after the response has been sent, as a deferred task
    /// (Next.js's `after`, which takes a function or a promise): a closure,
    /// an async closure or a future ([`AfterTask`]), resolving to what
    /// [`wait_until`](Self::wait_until) accepts. Unlike a `wait_until`
    /// future, which starts at once, `task` starts only then.
    ///
    /// "Sent" means: the body the SDK writes has been written to its end and
    /// the host has reported the response's transmission (`edge-host` does
    /// when the last body frame has been handed to the connection; other
    /// hosts may report earlier). When the handler fails, the host answers
    /// itself and `task` starts as soon as the handler has returned.
    /// Registered after that (from a deferred task), it starts at once.
    pub fn after<M>(&self, task: impl AfterTask<M>) {
        self.wait_until(run_after(self.sent.opened(), task.into_outcome()));
    }

    /// The client's address (`ip:port`) as the host saw it, if known.
    pub fn client_address(&self) -> Option<String> {
        fetch_event::client_address()
    }

    /// The client's location, if the host knows it from a source its
    /// operator trusts (`edge-host`: the proxy headers named in `[geo]`),
    /// like Next.js's `request.geo`; `None` otherwise, and always on foreign
    /// hosts through the `edge:fetch` adapter.
    pub fn geo(&self) -> Option<Geo> {
        fetch_event::geo().map(|geo| Geo {
            city: geo.city,
            country: geo.country,
            region: geo.region,
            latitude: geo.latitude,
            longitude: geo.longitude,
        })
    }

    /// The host's identifier for this request, also used in its logs.
    pub fn request_id(&self) -> String {
        fetch_event::request_id()
    }

    /// How long deferred tasks may run, counted from the moment the response
    /// body has been fully sent.
    pub fn deferred_deadline(&self) -> Duration {
        Duration::from_millis(fetch_event::deferred_deadline_ms())
    }

    /// Time left before the host gives up on this request's response, if it
    /// sets such a limit.
    pub fn request_deadline(&self) -> Option<Duration> {
        fetch_event::request_deadline_ms().map(Duration::from_millis)
    }

    /// Asks the host to forward the original request to the next handler if
    /// this middleware fails (returns an error or traps) before responding,
    /// like Cloudflare's `passThroughOnException()`.
    pub fn pass_through_on_exception(&self) {
        fetch_event::pass_through_on_exception();
    }

    /// How many deferred tasks this component registered for the request so
    /// far (through this handle or any clone of it).
    pub fn registered_tasks(&self) -> usize {
        self.tasks.registered()
    }

    /// How many of the registered deferred tasks have not settled yet.
    pub fn pending_tasks(&self) -> usize {
        self.tasks.pending()
    }
}

/// Waits for `duration` (`wasi:clocks/monotonic-clock.wait-for`).
pub async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    monotonic_clock::wait_for(nanos).await;
}
