//! Calling other handlers: [`NextHop`] (the imported `wasi:http/handler`) and
//! [`fetch`] (`wasi:http/client`).

use std::alloc::Layout;

use wit_bindgen::rt::async_support::Subtask;

use super::bindings::wasi::http::client;
use super::bindings::wasi::http::types::{
    ErrorCode, Request as WasiRequest, Response as WasiResponse,
};
use super::bindings::wit_future::FuturePayload;
use super::convert::{error_from_code, request_into_wasi, response_from_wasi};
use crate::{Error, Request, Response, Result};

/// The rest of the chain: the handler this middleware forwards requests to
/// (the `wasi:http/handler` import of the `edge:fetch/middleware` world).
#[derive(Debug)]
pub struct NextHop(());

impl NextHop {
    pub(super) fn new() -> Self {
        Self(())
    }

    /// Forwards `request` to the next handler and returns its response.
    ///
    /// An incoming body that was not read is streamed through untouched, and
    /// so is the body of the response. If the next handler fails, the error
    /// wraps its `wasi:http` [`ErrorCode`] (see [`Error::downcast_ref`]) and
    /// carries a fitting status (502, 504, ...).
    pub async fn run(self, request: Request) -> Result<Response> {
        let request = request_into_wasi(request)?;
        match handle(request).await {
            Ok(response) => response_from_wasi(response),
            Err(code) => Err(error_from_code(code).context("next handler failed")),
        }
    }
}

/// Sends `request` to the network through the host's `wasi:http/client`.
///
/// The URI must be absolute (`https://example.com/path`). Any response,
/// including 4xx and 5xx, is `Ok`; transport failures are errors wrapping the
/// `wasi:http` [`ErrorCode`].
pub async fn fetch(request: Request) -> Result<Response> {
    let uri = request.uri().clone();
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(Error::msg(format!(
            "fetch needs an absolute URL, got {uri:?}"
        )));
    }
    let request = request_into_wasi(request)?;
    match client::send(request).await {
        Ok(response) => response_from_wasi(response),
        Err(code) => Err(error_from_code(code).context(format!("fetch {uri}"))),
    }
}

/// `wasi:http/handler@0.3.0#handle`, imported by hand; see the module docs of
/// [`super`] for why it is not generated. This mirrors what `wit-bindgen`
/// generates for `wasi:http/client#send`, which has the same signature.
async fn handle(request: WasiRequest) -> Result<WasiResponse, ErrorCode> {
    HandleCall.call((request,)).await
}

struct HandleCall;

#[derive(Clone, Copy)]
struct LoweredRequest(i32);

// SAFETY: the layout and the lowering/lifting below follow the canonical ABI
// for `async func(request: own<request>) -> result<own<response>, error-code>`:
// one flat i32 parameter, results written to a return area whose payload sits
// at offset 8 because `error-code` has 8-byte alignment.
unsafe impl Subtask for HandleCall {
    type Params = (WasiRequest,);
    type ParamsLower = LoweredRequest;
    type Results = Result<WasiResponse, ErrorCode>;

    fn abi_layout(&mut self) -> Layout {
        // The size and alignment of `result<own<response>, error-code>`.
        // SAFETY: non-zero power-of-two alignment, size far below isize::MAX.
        unsafe { Layout::from_size_align_unchecked(24 + 4 * size_of::<*const u8>(), 8) }
    }

    fn results_offset(&mut self) -> usize {
        0
    }

    unsafe fn call_import(&mut self, params: LoweredRequest, results: *mut u8) -> u32 {
        #[link(wasm_import_module = "wasi:http/handler@0.3.0")]
        unsafe extern "C" {
            #[link_name = "[async-lower]handle"]
            fn handle(request: i32, results: *mut u8) -> i32;
        }
        // SAFETY: `results` points to a return area of `abi_layout()`.
        unsafe { handle(params.0, results) as u32 }
    }

    unsafe fn params_lower(
        &mut self,
        (request,): (WasiRequest,),
        _area: *mut u8,
    ) -> LoweredRequest {
        LoweredRequest(request.take_handle() as i32)
    }

    unsafe fn params_dealloc_lists(&mut self, _params: LoweredRequest) {}

    unsafe fn params_dealloc_lists_and_own(&mut self, params: LoweredRequest) {
        // The call was cancelled before the callee took the request: take
        // ownership back so that it is dropped.
        // SAFETY: the handle came from `take_handle` and was not transferred.
        drop(unsafe { WasiRequest::from_handle(params.0 as u32) });
    }

    unsafe fn results_lift(&mut self, results: *mut u8) -> Self::Results {
        // SAFETY: the callee returned, so the return area holds a valid
        // `result<own<response>, error-code>`. Its `err` case has the same
        // layout as `result<_, error-code>`, whose lifting is generated for
        // the `future<result<_, error-code>>` payloads of `wasi:http/types`.
        unsafe {
            if *results == 0 {
                Ok(WasiResponse::from_handle(
                    *results.add(8).cast::<i32>() as u32
                ))
            } else {
                let lift = <Result<(), ErrorCode> as FuturePayload>::VTABLE.lift;
                Err(lift(results)
                    .err()
                    .unwrap_or(ErrorCode::InternalError(None)))
            }
        }
    }
}
