//! The component API outside a WASI host: what a native `cargo check`,
//! `cargo clippy` or `cargo test` of a component crate builds against, so a
//! component needs no `#![cfg(target_arch = "wasm32")]` and its logic can be
//! unit-tested natively.
//!
//! Nothing here talks to a host, and nothing pretends to: the export
//! attributes export nothing (they only check the handler's signature),
//! [`fetch`] and [`NextHop::run`] fail with an error naming the build that
//! has a host, no [`ErrorCode`] can occur, and a [`FetchEvent`] keeps the
//! tasks registered with it until [`FetchEvent::settle`] runs them, as a
//! host would once the response has been sent.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::core::deferred::{AfterTask, IntoTaskResult, outcome_of};
use crate::core::geo::Geo;
use crate::core::next::chain::Hop;
use crate::core::task_queue::Queue;
use crate::{Error, Request, Response, Result};

/// The deferred deadline a native [`FetchEvent`] tells, as `edge-host`'s
/// default.
const DEFAULT_DEFERRED_DEADLINE: Duration = Duration::from_secs(30);

/// The `wasi:http` `error-code` of a failed host call. A native build makes
/// no host calls, so this type has no values; inside a component it is the
/// generated `error-code` of the backend.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for ErrorCode {}

/// The event of a request, like Next.js's `NextFetchEvent`; natively, one a
/// test creates with [`FetchEvent::new`] and hands to a handler.
///
/// A cheap handle: [`wait_until`](Self::wait_until) takes `&self`, and
/// clones share the registered tasks.
#[derive(Clone, Debug)]
pub struct FetchEvent {
    tasks: Queue,
    request_id: String,
}

impl Default for FetchEvent {
    fn default() -> Self {
        Self::new()
    }
}

impl FetchEvent {
    /// An event with no tasks and a request id of its own (`native-<n>`).
    pub fn new() -> Self {
        thread_local! {
            static EVENTS: Cell<u64> = const { Cell::new(0) };
        }
        let n = EVENTS.with(|count| {
            count.set(count.get() + 1);
            count.get()
        });
        Self {
            tasks: Queue::default(),
            request_id: format!("native-{n}"),
        }
    }

    /// Registers `task` as deferred work (`NextFetchEvent.waitUntil`): a
    /// future resolving to `()` or to a `Result<(), E>` for any
    /// `E: Display` ([`IntoTaskResult`]). Natively it starts at
    /// [`settle`](Self::settle).
    pub fn wait_until<F>(&self, task: F)
    where
        F: Future + 'static,
        F::Output: IntoTaskResult,
    {
        self.tasks.push(outcome_of(task));
    }

    /// Registers `task` to run once the response has been sent (Next.js's
    /// `after`): a closure, an async closure or a future ([`AfterTask`]).
    /// Natively it starts at [`settle`](Self::settle).
    pub fn after<M>(&self, task: impl AfterTask<M>) {
        self.tasks.push(task.into_outcome());
    }

    /// Runs every registered task, late registrations included, to its end,
    /// as a host does once the response has been sent; returns each task's
    /// outcome (`Err` with the rejection message) in registration order.
    pub async fn settle(&self) -> Vec<Result<(), String>> {
        let mut outcomes = Vec::new();
        self.tasks
            .drive(std::future::pending(), |index, outcome| {
                outcomes.push((index, outcome))
            })
            .await;
        outcomes.sort_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    /// Always `None`: there is no client.
    pub fn client_address(&self) -> Option<String> {
        None
    }

    /// Always `None`: there is no host to tell the client's location.
    pub fn geo(&self) -> Option<Geo> {
        None
    }

    /// This event's id (`native-<n>`).
    pub fn request_id(&self) -> String {
        self.request_id.clone()
    }

    /// 30 s, `edge-host`'s default deferred deadline.
    pub fn deferred_deadline(&self) -> Duration {
        DEFAULT_DEFERRED_DEADLINE
    }

    /// Always `None`: no host sets a request deadline.
    pub fn request_deadline(&self) -> Option<Duration> {
        None
    }

    /// Has no effect natively: there is no host to pass the request on.
    pub fn pass_through_on_exception(&self) {}

    /// How many deferred tasks were registered so far.
    pub fn registered_tasks(&self) -> usize {
        self.tasks.tracker().registered()
    }

    /// How many of the registered deferred tasks have not settled yet.
    pub fn pending_tasks(&self) -> usize {
        self.tasks.tracker().pending()
    }
}

/// The rest of the chain a middleware forwards requests to. Natively there
/// is none: [`run`](Self::run) fails.
#[derive(Debug)]
pub struct NextHop(());

impl NextHop {
    /// Fails: a native build has no next handler.
    pub async fn run(self, request: Request) -> Result<Response> {
        Err(no_host(&format!("forwarding {}", request.uri())))
    }
}

impl Hop for NextHop {
    async fn next(self, request: Request) -> Result<Response> {
        self.run(request).await
    }

    async fn fetch(self, request: Request) -> Result<Response> {
        fetch(request).await
    }
}

/// Fails: a native build has no `wasi:http/client` to send `request` with.
pub async fn fetch(request: Request) -> Result<Response> {
    Err(no_host(&format!("fetch {}", request.uri())))
}

/// Waits for `duration`, blocking the thread (a native build has no event
/// loop of its own).
pub async fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

fn no_host(what: &str) -> Error {
    Error::msg(format!(
        "{what}: a native build has no WASI host (build the component for wasm32-wasip2: \
         `cargo xtask build`)"
    ))
}

/// What `#[edgeware::middleware]` expands to natively: checks that
/// `handler` has a middleware handler's signature, and exports nothing.
#[doc(hidden)]
pub fn check_middleware<H, F>(handler: H)
where
    H: FnOnce(Request, FetchEvent, NextHop) -> F,
    F: Future<Output = Result<Response>>,
{
    drop(handler);
}

/// What `#[edgeware::service]` expands to natively: checks that `handler`
/// has an origin handler's signature, and exports nothing.
#[doc(hidden)]
pub fn check_service<H, F>(handler: H)
where
    H: FnOnce(Request, FetchEvent) -> F,
    F: Future<Output = Result<Response>>,
{
    drop(handler);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::block_on;
    use std::rc::Rc;

    #[test]
    fn wait_until_takes_any_future_ending_in_unit_or_a_displayable_error() {
        let event = FetchEvent::new();
        event.wait_until(async {});
        event.wait_until(async { Ok::<(), Error>(()) });
        event.wait_until(async { Err::<(), _>(std::io::Error::other("disk full")) });
        event.wait_until(async {
            let _port: u16 = "x".parse()?;
            Ok::<(), anyhow::Error>(())
        });
        event.wait_until(async { Err::<(), String>("plain".into()) });
        assert_eq!((event.registered_tasks(), event.pending_tasks()), (5, 5));
        let outcomes = block_on(event.settle());
        assert_eq!(
            outcomes,
            [
                Ok(()),
                Ok(()),
                Err("disk full".to_string()),
                Err("invalid digit found in string".to_string()),
                Err("plain".to_string()),
            ]
        );
        assert_eq!(event.pending_tasks(), 0);
    }

    #[test]
    fn tasks_borrow_nothing_from_the_event_and_may_register_more() {
        let event = FetchEvent::new();
        let id = event.request_id();
        let late = event.clone();
        event.wait_until(async move {
            late.after(async move || {
                assert!(id.starts_with("native-"));
            });
        });
        let outcomes = block_on(event.settle());
        assert_eq!(outcomes, [Ok(()), Ok(())]);
        assert_eq!(event.registered_tasks(), 2);
    }

    #[test]
    fn after_takes_a_closure_an_async_closure_or_a_future() {
        let event = FetchEvent::new();
        let ran = Rc::new(Cell::new(0));
        let count = Rc::clone(&ran);
        event.after(move || count.set(count.get() + 1));
        let count = Rc::clone(&ran);
        event.after(async move || {
            count.set(count.get() + 1);
            Err::<(), _>(Error::msg("after failed"))
        });
        let count = Rc::clone(&ran);
        event.after(async move {
            count.set(count.get() + 1);
        });
        assert_eq!(ran.get(), 0, "nothing runs before the response is sent");
        let outcomes = block_on(event.settle());
        assert_eq!(outcomes, [Ok(()), Err("after failed".to_string()), Ok(())]);
        assert_eq!(ran.get(), 3);
    }

    #[test]
    fn host_calls_fail_naming_the_build_that_has_a_host() {
        let request = Request::builder()
            .uri("http://example.com/")
            .body(crate::Body::empty())
            .unwrap();
        let err = block_on(fetch(request)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("fetch http://example.com/: a native build"),
            "{err}"
        );
        assert!(err.to_string().contains("cargo xtask build"), "{err}");
    }
}
