//! What `#[edgeware::middleware]` and `#[edgeware::service]` expand to: the `wasi:http/handler`
//! export, adapted to the public API.

use std::future::Future;

use wit_bindgen::spawn_local;

use super::bindings::wasi::http::types::{
    ErrorCode, Request as WasiRequest, Response as WasiResponse,
};
use super::convert::{error_into_code, request_from_wasi, response_into_wasi};
use super::{FetchEvent, NextHop};
use crate::core::next::chain::{Hop, strip_internal_headers};
use crate::{Request, Response, Result};

/// The `edge:fetch/middleware` world, encoded by `build.rs` like
/// `wit-bindgen` encodes worlds. `#[edgeware::middleware]` puts it in a
/// `component-type` custom section of the middleware crate, which declares
/// the `wasi:http/handler` import that [`NextHop`] calls. A `const`, so it ends
/// up in middlewares only, never in origins.
pub const MIDDLEWARE_WORLD: [u8; include_bytes!(concat!(
    env!("OUT_DIR"),
    "/middleware-world.bin"
))
.len()] = *include_bytes!(concat!(env!("OUT_DIR"), "/middleware-world.bin"));

/// Runs a middleware handler for one request from the host.
pub async fn serve_middleware<H, F>(
    request: WasiRequest,
    handler: H,
) -> Result<WasiResponse, ErrorCode>
where
    H: FnOnce(Request, FetchEvent, NextHop) -> F,
    F: Future<Output = Result<Response>>,
{
    let event = FetchEvent::new();
    let handed = event.clone();
    respond(&event, async move {
        handler(request_from_client(request)?, handed, NextHop::new()).await
    })
    .await
}

impl Hop for NextHop {
    async fn next(self, request: Request) -> Result<Response> {
        self.run(request).await
    }

    async fn fetch(self, request: Request) -> Result<Response> {
        super::fetch(request).await
    }
}

/// A request from the host, without client-sent `x-middleware-*` headers
/// (CVE-2025-29927): hosts other than edge-host may let them through.
fn request_from_client(request: WasiRequest) -> Result<Request> {
    let mut request = request_from_wasi(request)?;
    strip_internal_headers(request.headers_mut());
    Ok(request)
}

/// Runs an origin handler for one request from the host.
pub async fn serve_service<H, F>(
    request: WasiRequest,
    handler: H,
) -> Result<WasiResponse, ErrorCode>
where
    H: FnOnce(Request, FetchEvent) -> F,
    F: Future<Output = Result<Response>>,
{
    let event = FetchEvent::new();
    let handed = event.clone();
    respond(&event, async move {
        handler(request_from_client(request)?, handed).await
    })
    .await
}

/// Awaits the handler's response and lowers it; tells `event` when the
/// response has been sent (or, if the handler failed, at once: the host
/// answers in its place).
async fn respond(
    event: &FetchEvent,
    response: impl Future<Output = Result<Response>>,
) -> Result<WasiResponse, ErrorCode> {
    match response.await.and_then(response_into_wasi) {
        Ok((response, delivered)) => {
            let event = event.clone();
            spawn_local(async move {
                delivered.await;
                event.response_sent();
            });
            Ok(response)
        }
        Err(error) => {
            event.response_sent();
            Err(error_into_code(&error))
        }
    }
}
