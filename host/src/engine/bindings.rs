//! Host bindings for the `edge:fetch/middleware` world: its next-hop
//! `wasi:http/handler` import and its `handler` export.
//!
//! `edge:fetch` comes from edge-fetch-host and `wasi:*` from wasmtime-wasi
//! and wasmtime-wasi-http, so a request resource created by their
//! `wasi:http/types` implementation can be handed straight to our `handler`
//! import and back.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "edge:fetch/middleware",
    imports: {
        "wasi:http/handler.handle": async | store | trappable | tracing,
        default: trappable | tracing,
    },
    exports: { default: async | store },
    with: {
        "edge:fetch/wait-until": edge_fetch_host::bindings::edge::fetch::wait_until,
        "edge:fetch/fetch-event": edge_fetch_host::bindings::edge::fetch::fetch_event,
        "wasi:http/types": wasmtime_wasi_http::p3::bindings::http::types,
        "wasi:http/client": wasmtime_wasi_http::p3::bindings::http::client,
        "wasi:cli": wasmtime_wasi::p3::bindings::cli,
        "wasi:clocks": wasmtime_wasi::p3::bindings::clocks,
        "wasi:random": wasmtime_wasi::p3::bindings::random,
    },
});
