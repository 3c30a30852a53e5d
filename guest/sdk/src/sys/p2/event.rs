//! [`FetchEvent`] and [`sleep`] on WASI 0.2: the SDK keeps the deferred
//! tasks itself and runs them after the response (see the module docs of
//! [`super`]).

use std::future::Future;
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::bindings::wasi::clocks::monotonic_clock;
use super::bindings::wasi::random::random;
use super::runtime::WaitFor;
use crate::core::deferred::{AfterTask, IntoTaskResult, outcome_of};
use crate::core::geo::Geo;
use crate::core::task_queue::Queue;

/// Environment variable: the deferred deadline in milliseconds (the name the
/// `edge:fetch` adapter reads too).
const DEFERRED_TIMEOUT_VAR: &str = "EDGE_FETCH_DEFERRED_TIMEOUT_MS";
/// Environment variable: the host's request timeout in milliseconds.
const REQUEST_TIMEOUT_VAR: &str = "EDGE_FETCH_REQUEST_TIMEOUT_MS";
/// The deferred deadline when the variable is unset, as `edge-host`'s.
const DEFAULT_DEFERRED_TIMEOUT: Duration = Duration::from_secs(30);

/// The event of the request being handled, like Next.js's `NextFetchEvent`.
///
/// A cheap handle: [`wait_until`](Self::wait_until) takes `&self`, and a
/// clone moved into a deferred task can register more work from there
/// ("late registrations").
#[derive(Clone)]
pub struct FetchEvent {
    inner: Rc<Inner>,
}

struct Inner {
    tasks: Queue,
    request_id: String,
}

impl std::fmt::Debug for FetchEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchEvent")
            .field("request_id", &self.inner.request_id)
            .field("tasks", &self.inner.tasks)
            .finish()
    }
}

impl FetchEvent {
    pub(super) fn new() -> Self {
        let id: String = random::get_random_bytes(16)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            inner: Rc::new(Inner {
                tasks: Queue::default(),
                request_id: id,
            }),
        }
    }

    /// Registers `task` as deferred work of this request
    /// (`NextFetchEvent.waitUntil`). On WASI 0.2 it runs after the response
    /// body has been finished, before the handler call returns to the host.
    /// It may resolve to `()` or to a `Result<(), E>` for any `E: Display`
    /// ([`IntoTaskResult`]): `Ok` fulfils, `Err` rejects with its message;
    /// the outcome is written to stderr.
    pub fn wait_until<F>(&self, task: F)
    where
        F: Future + 'static,
        F::Output: IntoTaskResult,
    {
        self.inner.tasks.push(outcome_of(task));
    }

    /// Runs `task` after the response has been sent, as a deferred task
    /// (Next.js's `after`): a closure, an async closure or a future
    /// ([`AfterTask`]). On WASI 0.2 every deferred task waits for the
    /// response body to be finished.
    pub fn after<M>(&self, task: impl AfterTask<M>) {
        self.inner.tasks.push(task.into_outcome());
    }

    /// Always `None`: `wasi:http@0.2` does not tell the client's address.
    pub fn client_address(&self) -> Option<String> {
        None
    }

    /// Always `None`: `wasi:http@0.2` hosts do not tell the client's
    /// location, and request headers alone cannot be trusted with it.
    pub fn geo(&self) -> Option<Geo> {
        None
    }

    /// A random id for this request (128 bits, hex), also in the deferred
    /// task reports on stderr.
    pub fn request_id(&self) -> String {
        self.inner.request_id.clone()
    }

    /// How long deferred tasks may run after the response has been sent:
    /// `EDGE_FETCH_DEFERRED_TIMEOUT_MS`, default 30 s.
    pub fn deferred_deadline(&self) -> Duration {
        env_ms(DEFERRED_TIMEOUT_VAR).unwrap_or(DEFAULT_DEFERRED_TIMEOUT)
    }

    /// The host's request timeout, if configured as
    /// `EDGE_FETCH_REQUEST_TIMEOUT_MS` (the configured limit, not the time
    /// left).
    pub fn request_deadline(&self) -> Option<Duration> {
        env_ms(REQUEST_TIMEOUT_VAR)
    }

    /// Has no effect on WASI 0.2: the host answers a failing handler itself.
    pub fn pass_through_on_exception(&self) {}

    /// How many deferred tasks were registered for the request so far.
    pub fn registered_tasks(&self) -> usize {
        self.inner.tasks.tracker().registered()
    }

    /// How many of the registered deferred tasks have not settled yet.
    pub fn pending_tasks(&self) -> usize {
        self.inner.tasks.tracker().pending()
    }

    /// Runs every registered task, late registrations included, until all
    /// have settled or the deferred deadline has passed; reports each on
    /// stderr.
    pub(super) async fn run_deferred(&self) {
        if self.inner.tasks.tracker().pending() == 0 {
            return;
        }
        let deadline = self.deferred_deadline();
        let started = Instant::now();
        let nanos = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
        let timer = WaitFor::new(monotonic_clock::subscribe_duration(nanos));
        let timed_out = self
            .inner
            .tasks
            .drive(timer, |index, outcome| {
                let verdict = match outcome {
                    Ok(()) => "FULFILLED".to_owned(),
                    Err(message) => format!("REJECTED error={message:?}"),
                };
                self.report(index, &verdict, started);
            })
            .await;
        for index in timed_out {
            self.report(index, "TIMED OUT", started);
        }
    }

    fn report(&self, task: usize, verdict: &str, started: Instant) {
        let _ = writeln!(
            std::io::stderr(),
            "edgeware: deferred task {verdict} request_id={} task={task} after_response_end_ms={}",
            self.inner.request_id,
            started.elapsed().as_millis()
        );
    }
}

fn env_ms(name: &str) -> Option<Duration> {
    crate::env(name)
        .and_then(|value| value.trim().parse().ok())
        .map(Duration::from_millis)
}

/// Waits for `duration` (`wasi:clocks/monotonic-clock.subscribe-duration`).
pub async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    WaitFor::new(monotonic_clock::subscribe_duration(nanos)).await;
}
