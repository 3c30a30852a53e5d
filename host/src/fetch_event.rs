//! `edge:fetch/fetch-event`: what the middleware may ask about its request.

use crate::bindings::edge::fetch::fetch_event::{self, Geolocation};
use crate::state::RequestState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The facts a store answers about the request it serves.
pub struct EventInfo {
    /// Unique id of the request within this host process.
    pub request_id: Arc<str>,
    /// The peer address of the client connection.
    pub client_address: Option<SocketAddr>,
    /// The client's location, from the headers the operator trusts
    /// (`crate::geo`).
    pub geo: Option<Geolocation>,
    /// How long deferred tasks may run after the response end.
    pub deferred_deadline: Duration,
    /// When the host stops waiting for the handler's response.
    pub request_deadline: Instant,
    /// Set by the guest through `pass-through-on-exception`.
    pub pass_through_on_exception: bool,
}

impl fetch_event::Host for RequestState {
    fn client_address(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.event.client_address.map(|a| a.to_string()))
    }

    fn geo(&mut self) -> wasmtime::Result<Option<Geolocation>> {
        Ok(self.event.geo.clone())
    }

    fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.event.request_id.to_string())
    }

    fn deferred_deadline_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.event.deferred_deadline.as_millis() as u64)
    }

    fn request_deadline_ms(&mut self) -> wasmtime::Result<Option<u64>> {
        let left = self
            .event
            .request_deadline
            .saturating_duration_since(Instant::now());
        Ok(Some(left.as_millis() as u64))
    }

    fn pass_through_on_exception(&mut self) -> wasmtime::Result<()> {
        self.event.pass_through_on_exception = true;
        Ok(())
    }
}
