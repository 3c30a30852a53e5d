//! # edgeware
//!
//! Next.js-style middleware (`middleware.ts`, `NextFetchEvent.waitUntil`) for
//! WASI 0.3 HTTP components.
//!
//! A middleware receives each request, may answer it itself or forward it to
//! the next handler with [`Next::run`], and may register deferred work that
//! the host runs to completion after the response has been sent:
//!
//! ```ignore
//! use edgeware::prelude::*;
//!
//! edgeware::middleware!(handle);
//!
//! async fn handle(req: Request, event: FetchEvent, next: Next) -> Result<Response> {
//!     event.wait_until(async {
//!         edgeware::sleep(Duration::from_secs(1)).await;
//!         Ok(())
//!     });
//!     let mut res = next.run(req).await?;
//!     res.headers_mut().insert("x-hello", HeaderValue::from_static("world"));
//!     Ok(res)
//! }
//! ```
//!
//! An origin (the `edge:fetch/service` world: no next handler) uses
//! [`service!`] with `async fn handle(req: Request, event: FetchEvent) -> Result<Response>`.
//!
//! Build components as `cdylib` crates for `wasm32-wasip2`; the result is a
//! WASI 0.3 component. The component API ([`FetchEvent`], [`Next`],
//! [`fetch`], [`sleep`], the macros) exists only on `wasm32`, so a component
//! crate starts with `#![cfg(target_arch = "wasm32")]` to keep
//! `cargo check --workspace` happy on other targets. The rest ([`Body`],
//! [`Error`], the `env` helpers) is plain Rust and works everywhere.
//!
//! When a handler returns `Err`, the host receives the `wasi:http`
//! `error-code` the error wraps (for example the one the next handler failed
//! with), else `internal-error` with the error's message, and answers with a
//! 5xx.

#![warn(missing_docs)]
// The component API exists on wasm32 only; build the docs with
// `--target wasm32-wasip2` for working links to it.
#![cfg_attr(not(target_arch = "wasm32"), allow(rustdoc::broken_intra_doc_links))]

mod core;
#[cfg(target_arch = "wasm32")]
pub mod sys;

pub use crate::core::body::Body;
pub use crate::core::env::{env, env_or, env_parse};
pub use crate::core::error::{Error, Result};
pub use crate::core::geo::Geo;
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
pub use crate::sys::p2::{ErrorCode, FetchEvent, Next, fetch, sleep};
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
pub use crate::sys::p3::{ErrorCode, FetchEvent, Next, fetch, sleep};
pub use http;

/// `POST`s `json` to `url` (absolute) as `application/json` with [`fetch`];
/// an answer outside `2xx` is an error naming the URL and the status. The
/// usual body of a deferred telemetry or sync task.
#[cfg(target_arch = "wasm32")]
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

/// Runs the [`next::Chain`] of `cache` for one request, building it with
/// `build` first if this instance has none yet: what [`next_middleware!`]
/// exports, on either backend.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub async fn __serve_chain(
    request: Request,
    event: FetchEvent,
    next: Next,
    cache: &'static std::thread::LocalKey<__ChainCache>,
    build: impl FnOnce() -> Result<next::Chain<FetchEvent>>,
) -> Result<Response> {
    let chain = cache.with(|cache| cache.get_or_build(build))?;
    let client = event.client_address();
    let geo = event.geo();
    chain
        .run(request, client.as_deref(), geo.as_ref(), event, next)
        .await
}

/// The chain an instance built for its first request, kept for the next
/// ones when the host reuses the instance (its matchers are compiled once).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
#[derive(Default)]
pub struct __ChainCache(std::cell::OnceCell<std::rc::Rc<next::Chain<FetchEvent>>>);

#[cfg(target_arch = "wasm32")]
impl __ChainCache {
    /// The cached chain, or the one `build` makes (cached if it succeeds;
    /// an error fails this request and the next one builds again).
    fn get_or_build(
        &self,
        build: impl FnOnce() -> Result<next::Chain<FetchEvent>>,
    ) -> Result<std::rc::Rc<next::Chain<FetchEvent>>> {
        if let Some(chain) = self.0.get() {
            return Ok(chain.clone());
        }
        let chain =
            std::rc::Rc::new(build().map_err(|e| e.context("building the middleware chain"))?);
        Ok(self.0.get_or_init(|| chain).clone())
    }
}

/// The Next.js middleware contract: [`next::NextRequest`],
/// [`next::NextResponse`], cookies, [`next::Matcher`] and [`next::Chain`].
/// Inside a component, [`next_middleware!`] exports a chain.
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
    pub use crate::{Body, Error, Request, Response, Result};
    #[cfg(target_arch = "wasm32")]
    pub use crate::{FetchEvent, Next};
    pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
    pub use std::time::Duration;
}

/// Exports `handler` as the `wasi:http/handler` of a middleware
/// (`edge:fetch/middleware` world).
///
/// `handler` is an `async fn(Request, FetchEvent, Next) -> Result<Response>`
/// (or a closure returning such a future). Use it once per component crate.
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
#[macro_export]
macro_rules! middleware {
    ($handler:expr $(,)?) => {
        const _: () = {
            struct EdgewareMiddleware;

            impl $crate::sys::p3::bindings::exports::wasi::http::handler::Guest for EdgewareMiddleware {
                async fn handle(
                    request: $crate::sys::p3::bindings::wasi::http::types::Request,
                ) -> ::core::result::Result<
                    $crate::sys::p3::bindings::wasi::http::types::Response,
                    $crate::sys::p3::bindings::wasi::http::types::ErrorCode,
                > {
                    $crate::sys::p3::serve_middleware(request, $handler).await
                }
            }

            $crate::export_middleware!(EdgewareMiddleware);
        };
    };
}

/// Exports `handler` as the `wasi:http/handler` of an origin
/// (`edge:fetch/service` world: no next handler to call).
///
/// `handler` is an `async fn(Request, FetchEvent) -> Result<Response>` (or a
/// closure returning such a future). Use it once per component crate.
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
#[macro_export]
macro_rules! service {
    ($handler:expr $(,)?) => {
        const _: () = {
            struct EdgewareService;

            impl $crate::sys::p3::bindings::exports::wasi::http::handler::Guest for EdgewareService {
                async fn handle(
                    request: $crate::sys::p3::bindings::wasi::http::types::Request,
                ) -> ::core::result::Result<
                    $crate::sys::p3::bindings::wasi::http::types::Response,
                    $crate::sys::p3::bindings::wasi::http::types::ErrorCode,
                > {
                    $crate::sys::p3::serve_service(request, $handler).await
                }
            }

            $crate::sys::p3::bindings::export_service!(EdgewareService with_types_in $crate::sys::p3::bindings);
        };
    };
}

/// Exports a Next.js-style middleware [`next::Chain`] as the component's
/// `wasi:http/handler`.
///
/// `build` is a `fn() -> Result<Chain<FetchEvent>>`, called for the first
/// request an instance serves; hosts that reuse instances (`wasmtime serve`,
/// Spin, `edge-host --instance-reuse`) run the same chain for the next ones,
/// so its matchers are compiled once. An error fails the request with its
/// message, and the next request builds again.
///
/// ```ignore
/// use edgeware::next::{Chain, Matcher, NextRequest, NextResponse};
/// use edgeware::prelude::*;
///
/// edgeware::next_middleware!(chain);
///
/// fn chain() -> Result<Chain<FetchEvent>> {
///     Ok(Chain::new().route(Matcher::new(["/admin/:path*"])?, deny))
/// }
///
/// async fn deny(_req: &NextRequest, _event: FetchEvent) -> Result<NextResponse> {
///     Ok(NextResponse::new(StatusCode::FORBIDDEN, "no"))
/// }
/// ```
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! next_middleware {
    ($build:expr $(,)?) => {
        $crate::middleware!(|request, event, next| {
            ::std::thread_local! {
                static EDGEWARE_CHAIN: $crate::__ChainCache = $crate::__ChainCache::default();
            }
            $crate::__serve_chain(request, event, next, &EDGEWARE_CHAIN, $build)
        });
    };
}

/// Low-level counterpart of [`middleware!`]: exports a type implementing the
/// raw `sys::p3::bindings::exports::wasi::http::handler::Guest` trait as a
/// middleware, declaring the `wasi:http/handler` import of the
/// `edge:fetch/middleware` world. (For an origin, use the generated
/// `sys::p3::bindings::export_service!` directly.)
#[cfg(all(target_arch = "wasm32", not(feature = "p2")))]
#[macro_export]
macro_rules! export_middleware {
    ($ty:ident) => {
        $crate::sys::p3::bindings::export_service!($ty with_types_in $crate::sys::p3::bindings);

        const _: () = {
            #[doc(hidden)]
            #[unsafe(link_section = "component-type:edgeware:edge:fetch@0.1.0:middleware")]
            pub static EDGEWARE_MIDDLEWARE_WORLD: [u8; $crate::sys::p3::MIDDLEWARE_WORLD.len()] =
                $crate::sys::p3::MIDDLEWARE_WORLD;
        };
    };
}

/// The WASI 0.2 [`middleware!`]: exports `handler` as the
/// `wasi:http/incoming-handler@0.2.x` of a p2 component (feature `p2`).
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
#[macro_export]
macro_rules! middleware {
    ($handler:expr $(,)?) => {
        $crate::__export_p2!($crate::sys::p2::serve_middleware, $handler);
    };
}

/// The WASI 0.2 [`service!`]: exports `handler` as the
/// `wasi:http/incoming-handler@0.2.x` of a p2 component (feature `p2`).
#[cfg(all(target_arch = "wasm32", feature = "p2"))]
#[macro_export]
macro_rules! service {
    ($handler:expr $(,)?) => {
        $crate::__export_p2!($crate::sys::p2::serve_service, $handler);
    };
}

#[cfg(all(target_arch = "wasm32", feature = "p2"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_p2 {
    ($serve:path, $handler:expr) => {
        const _: () = {
            struct EdgewareP2;

            impl $crate::sys::p2::bindings::exports::wasi::http::incoming_handler::Guest
                for EdgewareP2
            {
                fn handle(
                    request: $crate::sys::p2::bindings::wasi::http::types::IncomingRequest,
                    out: $crate::sys::p2::bindings::wasi::http::types::ResponseOutparam,
                ) {
                    $serve(request, out, $handler)
                }
            }

    $crate::sys::p2::bindings::export!(EdgewareP2 with_types_in $crate::sys::p2::bindings);
        };
    };
}
