//! `edge:fetch/fetch-event`: what the middleware may ask about its request.

use crate::bindings::edge::fetch::fetch_event::{self, Geolocation};
use crate::context::{EdgeFetch, EdgeFetchCtx, EdgeFetchView, RequestContext};
use crate::error::Error;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use wasmtime::component::Access;

/// The request the calling guest task serves; a call that cannot be
/// attributed to one is a host bug, reported to the guest as a trap.
fn request<T: EdgeFetchView>(
    host: &mut Access<'_, T, EdgeFetch>,
) -> wasmtime::Result<Arc<RequestContext>> {
    EdgeFetchCtx::current_request(host).ok_or_else(|| wasmtime::Error::new(Error::OutsideRequest))
}

impl<T: EdgeFetchView + 'static> fetch_event::HostWithStore<T> for EdgeFetch {
    fn client_address(mut host: Access<'_, T, Self>) -> wasmtime::Result<Option<String>> {
        Ok(request(&mut host)?
            .event
            .client_address
            .map(|a| a.to_string()))
    }

    fn geo(mut host: Access<'_, T, Self>) -> wasmtime::Result<Option<Geolocation>> {
        Ok(request(&mut host)?.event.geo.clone())
    }

    fn request_id(mut host: Access<'_, T, Self>) -> wasmtime::Result<String> {
        Ok(request(&mut host)?.event.request_id.to_string())
    }

    fn deferred_deadline_ms(mut host: Access<'_, T, Self>) -> wasmtime::Result<u64> {
        Ok(request(&mut host)?.event.deferred_deadline.as_millis() as u64)
    }

    fn request_deadline_ms(mut host: Access<'_, T, Self>) -> wasmtime::Result<Option<u64>> {
        let left = request(&mut host)?
            .event
            .request_deadline
            .saturating_duration_since(Instant::now());
        Ok(Some(left.as_millis() as u64))
    }

    fn pass_through_on_exception(mut host: Access<'_, T, Self>) -> wasmtime::Result<()> {
        request(&mut host)?
            .event
            .pass_through_on_exception
            .store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl fetch_event::Host for EdgeFetchCtx {}
