//! # edgeware
//!
//! Next.js-style middleware (`middleware.ts`, `NextFetchEvent.waitUntil`,
//! `after()`) for WASI 0.3 HTTP components (and WASI 0.2 hosts, with the
//! `p2` feature).
//!
//! One attribute exports a component's handler. A Next.js middleware, with
//! its `config.matcher`:
//!
//! ```ignore
//! use edgeware::prelude::*;
//!
//! #[edgeware::middleware(matcher = ["/admin/:path*"])]
//! async fn guard(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
//!     event.after(async || telemetry().await);
//!     if req.cookies().get("role") != Some("admin") {
//!         return NextResponse::redirect(req.next_url().with_pathname("/"));
//!     }
//!     Ok(NextResponse::next())
//! }
//! ```
//!
//! `#[edgeware::middleware]` also takes a `fn() -> Result<Chain<FetchEvent>>`
//! (several middlewares, see [`next::Chain`]) or a plain
//! `async fn(Request, FetchEvent, NextHop) -> Result<Response>` that calls
//! the next handler itself with [`NextHop::run`]; `#[edgeware::service]`
//! exports an origin, `async fn(Request, FetchEvent) -> Result<Response>`.
//! Deferred work registered with [`FetchEvent::wait_until`] (a future) or
//! [`FetchEvent::after`] (a closure, async closure or future) runs to
//! completion after the response has been sent.
//!
//! Build components as `cdylib` crates for `wasm32-wasip2`; the result is a
//! WASI 0.3 component. On other targets the same API builds without a host
//! (the attributes export nothing, [`fetch`] fails, a test can create a
//! `FetchEvent` and `settle()` its tasks), so
//! `cargo check`, `cargo clippy` and `cargo test` of a component crate work
//! natively.
//!
//! When a handler returns `Err`, the host receives the `wasi:http`
//! `error-code` the error wraps (for example the one the next handler failed
//! with), else `internal-error` with the error's message, and answers with a
//! 5xx. A failed host call is an [`Error`] wrapping its [`ErrorCode`]
//! (`err.downcast_ref::<ErrorCode>()`), with the status a gateway would
//! answer (403 for a denied call, 504 for timeouts, 502 for most others),
//! the same on WASI 0.3 and 0.2.

#![warn(missing_docs)]

use std::cell::OnceCell;
use std::rc::Rc;

mod core;
pub mod sys;

pub use crate::core::body::Body;
pub use crate::core::env::{env, env_or, env_parse};
pub use crate::core::error::{Error, Result};
pub use crate::core::geo::Geo;
pub use edgeware_macros::{middleware, service};
pub use http;
#[cfg(not(target_arch = "wasm32"))]
pub use sys::native::{ErrorCode, FetchEvent, NextHop, fetch, sleep};
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
pub use sys::p2::{ErrorCode, FetchEvent, NextHop, fetch, sleep};
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
pub use sys::p3::{ErrorCode, FetchEvent, NextHop, fetch, sleep};

/// What [`FetchEvent::wait_until`] and [`FetchEvent::after`] accept.
pub mod deferred {
    pub use crate::core::deferred::{AfterTask, AsyncClosure, Closure, IntoTaskResult, Task};
}

/// `POST`s `json` to `url` (absolute) as `application/json` with [`fetch`];
/// an answer outside `2xx` is an error naming the URL and the status. The
/// usual body of a deferred telemetry or sync task.
pub async fn post_json(url: &str, json: impl Into<String>) -> Result<Response> {
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.into()))?;
    let response = fetch(request).await?;
    if !response.status().is_success() {
        return Err(Error::msg(format!(
            "POST {url} answered {}",
            response.status()
        )));
    }
    Ok(response)
}

/// Runs the [`next::Chain`] of this instance for one request, building it
/// with `build` first if the instance has none yet: what
/// `#[edgeware::middleware]` exports for a chain or a Next.js middleware.
///
/// Hosts that reuse instances (`wasmtime serve`, Spin, `edge-host
/// --instance-reuse`) run the same chain for the next requests, so its
/// matchers are compiled once. An error fails the request with its message,
/// and the next request builds again.
#[doc(hidden)]
pub async fn __serve_chain(
    request: Request,
    event: FetchEvent,
    next: NextHop,
    build: impl FnOnce() -> Result<next::Chain<FetchEvent>>,
) -> Result<Response> {
    thread_local! {
        static CHAIN: OnceCell<Rc<next::Chain<FetchEvent>>> = const { OnceCell::new() };
    }
    let chain = CHAIN.with(|cached| match cached.get() {
        Some(chain) => Ok(Rc::clone(chain)),
        None => {
            let chain = Rc::new(build().map_err(|e| e.context("building the middleware chain"))?);
            Ok::<_, Error>(Rc::clone(cached.get_or_init(|| chain)))
        }
    })?;
    let client = event.client_address();
    let geo = event.geo();
    chain
        .run(request, client.as_deref(), geo.as_ref(), event, next)
        .await
}

/// The Next.js middleware contract: [`next::NextRequest`],
/// [`next::NextResponse`], cookies, [`next::Matcher`] and [`next::Chain`].
/// `#[edgeware::middleware]` exports a middleware or a chain.
pub mod next {
    pub use crate::core::next::*;
}

/// Internals exposed to the `cargo fuzz` targets in `guest/sdk/fuzz` only
/// (`--cfg fuzzing`, which cargo-fuzz sets); not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::core::next::chain::apply_for_fuzzing as apply;
    pub use crate::core::next::matcher::{path_forms, redirect_target};
}

/// An HTTP request with an SDK [`Body`]: `Request` is `http::Request<Body>`.
///
/// The parameter only exists so that `Request::builder()` (which `http`
/// defines on `Request<()>`) works through the alias.
pub type Request<B = Body> = http::Request<B>;

/// An HTTP response with an SDK [`Body`]: `Response` is `http::Response<Body>`.
///
/// The parameter only exists so that `Response::builder()` (which `http`
/// defines on `Response<()>`) works through the alias.
pub type Response<B = Body> = http::Response<B>;

/// What a middleware or origin usually needs, in one `use`.
pub mod prelude {
    pub use crate::next::{NextRequest, NextResponse};
    pub use crate::{Body, Error, FetchEvent, NextHop, Request, Response, Result};
    pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
    pub use std::time::Duration;
}

/// What `#[edgeware::middleware]` and `#[edgeware::service]` expand to on
/// WASI 0.3: the `wasi:http/handler` export (and, for a middleware, the
/// `edge:fetch/middleware` world that declares its `wasi:http/handler`
/// import; see the docs of `sys::p3`).
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    (middleware, $handler:expr) => {
        $crate::__export!(@handler serve_middleware, $handler);

        const _: () = {
            #[doc(hidden)]
            #[unsafe(link_section = "component-type:edgeware:edge:fetch@0.1.0:middleware")]
            pub static EDGEWARE_MIDDLEWARE_WORLD: [u8; $crate::sys::p3::MIDDLEWARE_WORLD.len()] =
                $crate::sys::p3::MIDDLEWARE_WORLD;
        };
    };
    (service, $handler:expr) => {
        $crate::__export!(@handler serve_service, $handler);
    };
    (@handler $serve:ident, $handler:expr) => {
        const _: () = {
            struct EdgewareHandler;

            impl $crate::sys::p3::bindings::exports::wasi::http::handler::Guest for EdgewareHandler {
                async fn handle(
                    request: $crate::sys::p3::bindings::wasi::http::types::Request,
                ) -> ::core::result::Result<
                    $crate::sys::p3::bindings::wasi::http::types::Response,
                    $crate::sys::p3::bindings::wasi::http::types::ErrorCode,
                > {
                    $crate::sys::p3::$serve(request, $handler).await
                }
            }

            $crate::sys::p3::bindings::export_service!(EdgewareHandler with_types_in $crate::sys::p3::bindings);
        };
    };
}

/// What `#[edgeware::middleware]` and `#[edgeware::service]` expand to on
/// WASI 0.2 (feature `p2`): the `wasi:http/incoming-handler@0.2.x` export.
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    (middleware, $handler:expr) => {
        $crate::__export!(@handler serve_middleware, $handler);
    };
    (service, $handler:expr) => {
        $crate::__export!(@handler serve_service, $handler);
    };
    (@handler $serve:ident, $handler:expr) => {
        const _: () = {
            struct EdgewareHandler;

            impl $crate::sys::p2::bindings::exports::wasi::http::incoming_handler::Guest
                for EdgewareHandler
            {
                fn handle(
                    request: $crate::sys::p2::bindings::wasi::http::types::IncomingRequest,
                    out: $crate::sys::p2::bindings::wasi::http::types::ResponseOutparam,
                ) {
                    $crate::sys::p2::$serve(request, out, $handler)
                }
            }

            $crate::sys::p2::bindings::export!(EdgewareHandler with_types_in $crate::sys::p2::bindings);
        };
    };
}

/// What `#[edgeware::middleware]` and `#[edgeware::service]` expand to off
/// wasm32: nothing is exported; the handler's signature is checked, and it
/// counts as used.
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    (middleware, $handler:expr) => {
        $crate::__export!(@handler check_middleware, $handler);
    };
    (service, $handler:expr) => {
        $crate::__export!(@handler check_service, $handler);
    };
    (@handler $check:ident, $handler:expr) => {
        const _: () = {
            #[allow(dead_code)]
            fn edgeware_native_export() {
                $crate::sys::native::$check($handler)
            }
        };
    };
}
