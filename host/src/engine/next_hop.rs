//! The middleware's imported `wasi:http/handler`: the "next" hop, which is
//! either an origin component instantiated in the same store or an HTTP
//! reverse proxy to an upstream server (see [`NextHop`]).

use crate::engine::bindings::wasi::http::handler;
use crate::engine::state::{Edge, NextHop, StoreState};
use crate::http::upstream::{Upstream, add_forwarded_headers};
use edge_fetch_host::{EdgeFetchCtx, EdgeFetchView};
use wasmtime::component::{Accessor, Resource};
use wasmtime_wasi_http::p3::bindings::http::types::{ErrorCode, Request, Response};
use wasmtime_wasi_http::{WasiHttpView, p3};

/// Sends the guest's request to the upstream and hands the response back
/// to the guest, streaming both bodies.
async fn forward(
    upstream: &Upstream,
    accessor: &Accessor<StoreState, Edge>,
    request: Resource<Request>,
) -> wasmtime::Result<Result<Resource<Response>, ErrorCode>> {
    let prepared = accessor.with(|mut access| -> wasmtime::Result<Result<_, ErrorCode>> {
        let client = EdgeFetchCtx::current_request(&mut access)
            .and_then(|request| request.event.client_address);
        let mut request = access.get().table.delete(request)?;
        let original_host = request.authority.take();
        request.scheme = Some(upstream.scheme().clone());
        request.authority = Some(upstream.authority().clone());
        Ok(match request.into_http(&mut access, async { Ok(()) }) {
            Ok((mut request, _options)) => {
                add_forwarded_headers(request.headers_mut(), client, original_host);
                Ok(request)
            }
            Err(error) => Err(error.downcast()?),
        })
    })?;
    let response = match prepared {
        Ok(request) => match upstream.dispatch(request).await {
            Ok(response) => response,
            Err(code) => return Ok(Err(code)),
        },
        Err(code) => return Ok(Err(code)),
    };
    accessor.with(|mut access| {
        let state = access.data_mut();
        let (response, _io) = p3::Response::from_http(state.http().hooks, response);
        Ok(Ok(state.http().table.push(response)?))
    })
}

impl handler::HostWithStore<StoreState> for Edge {
    async fn handle(
        accessor: &Accessor<StoreState, Self>,
        request: Resource<Request>,
    ) -> wasmtime::Result<Result<Resource<Response>, ErrorCode>> {
        let next = accessor.with(|mut access| access.get().next.clone());
        match next {
            NextHop::Upstream(upstream) => forward(&upstream, accessor, request).await,
            NextHop::Origin(origin) => {
                // The origin's handler runs as a task of its own; record it
                // as serving the caller's request, so the origin's
                // `edge:fetch` calls are attributed to that request too.
                let handle = origin.wasi_http_handler().func_handle();
                let call = accessor.with(|mut access| -> wasmtime::Result<_> {
                    let caller = EdgeFetchCtx::current_request(&mut access);
                    let call = handle.start_call_concurrent(&mut access, (request,))?;
                    if let Some(caller) = caller {
                        access
                            .get()
                            .edge_fetch()
                            .start_request(call.group(), caller);
                    }
                    Ok(call)
                })?;
                let (result,) = handle.finish_call_concurrent(accessor, call).await?;
                Ok(result)
            }
            NextHop::Unset => Ok(Err(ErrorCode::InternalError(Some(
                "this host has no next handler configured (--upstream or --origin)".into(),
            )))),
        }
    }
}

impl handler::Host for StoreState {}
