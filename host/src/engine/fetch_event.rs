//! `edge:fetch/fetch-event`: what the middleware may ask about its request.

use crate::engine::bindings::edge::fetch::fetch_event::{self, Geolocation};
use crate::engine::state::{Edge, RequestContext, StoreState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::Access;

/// The facts the host answers about one request.
pub struct EventInfo {
    /// Unique id of the request within this host process.
    pub request_id: Arc<str>,
    /// The peer address of the client connection.
    pub client_address: Option<SocketAddr>,
    /// The client's location, from the headers the operator trusts
    /// (`crate::ops::geo`).
    pub geo: Option<Geolocation>,
    /// How long deferred tasks may run after the response end.
    pub deferred_deadline: Duration,
    /// When the host stops waiting for the handler's response.
    pub request_deadline: Instant,
    /// Set by the guest through `pass-through-on-exception`.
    pub pass_through_on_exception: AtomicBool,
}

impl EventInfo {
    /// Whether the guest asked for `pass-through-on-exception`.
    pub fn passes_through_on_exception(&self) -> bool {
        self.pass_through_on_exception.load(Ordering::Relaxed)
    }
}

/// The request the calling guest task serves; a call that cannot be
/// attributed to one is a host bug, reported to the guest as a trap.
fn request(host: &mut Access<'_, StoreState, Edge>) -> wasmtime::Result<Arc<RequestContext>> {
    StoreState::current_request(host)
        .ok_or_else(|| wasmtime::format_err!("edge:fetch called outside of any request"))
}

impl fetch_event::HostWithStore<StoreState> for Edge {
    fn client_address(mut host: Access<'_, StoreState, Self>) -> wasmtime::Result<Option<String>> {
        Ok(request(&mut host)?
            .event
            .client_address
            .map(|a| a.to_string()))
    }

    fn geo(mut host: Access<'_, StoreState, Self>) -> wasmtime::Result<Option<Geolocation>> {
        Ok(request(&mut host)?.event.geo.clone())
    }

    fn request_id(mut host: Access<'_, StoreState, Self>) -> wasmtime::Result<String> {
        Ok(request(&mut host)?.event.request_id.to_string())
    }

    fn deferred_deadline_ms(mut host: Access<'_, StoreState, Self>) -> wasmtime::Result<u64> {
        Ok(request(&mut host)?.event.deferred_deadline.as_millis() as u64)
    }

    fn request_deadline_ms(
        mut host: Access<'_, StoreState, Self>,
    ) -> wasmtime::Result<Option<u64>> {
        let left = request(&mut host)?
            .event
            .request_deadline
            .saturating_duration_since(Instant::now());
        Ok(Some(left.as_millis() as u64))
    }

    fn pass_through_on_exception(mut host: Access<'_, StoreState, Self>) -> wasmtime::Result<()> {
        request(&mut host)?
            .event
            .pass_through_on_exception
            .store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl fetch_event::Host for StoreState {}
