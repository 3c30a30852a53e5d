//! Host bindings for the `edge:fetch/middleware` world.
//!
//! `wasi:*` interfaces reuse the types wasmtime-wasi and wasmtime-wasi-http
//! already generate, so a request resource created by their `wasi:http/types`
//! implementation can be handed straight to our `handler` import and back.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "edge:fetch/middleware",
    imports: {
        "wasi:http/handler.handle": async | store | trappable | tracing,
        "edge:fetch/wait-until.wait-until": store | trappable | tracing,
        // Every `fetch-event` answer belongs to the calling request, which
        // the host finds on the store's async call stack.
        "edge:fetch/fetch-event.client-address": store | trappable | tracing,
        "edge:fetch/fetch-event.geo": store | trappable | tracing,
        "edge:fetch/fetch-event.request-id": store | trappable | tracing,
        "edge:fetch/fetch-event.deferred-deadline-ms": store | trappable | tracing,
        "edge:fetch/fetch-event.request-deadline-ms": store | trappable | tracing,
        "edge:fetch/fetch-event.pass-through-on-exception": store | trappable | tracing,
        default: trappable | tracing,
    },
    exports: { default: async | store },
    with: {
        "wasi:http/types": wasmtime_wasi_http::p3::bindings::http::types,
        "wasi:http/client": wasmtime_wasi_http::p3::bindings::http::client,
        "wasi:cli": wasmtime_wasi::p3::bindings::cli,
        "wasi:clocks": wasmtime_wasi::p3::bindings::clocks,
        "wasi:random": wasmtime_wasi::p3::bindings::random,
    },
});
