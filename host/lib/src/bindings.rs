//! Host bindings of the `edge:fetch` interfaces (`wit/edge-fetch.wit`):
//! a world that imports just `wait-until` and `fetch-event`, so they can be
//! added to any linker, next to whatever else an embedder links.

wasmtime::component::bindgen!({
    path: "../../wit",
    inline: "
        package edge:fetch-host;

        world imports {
            import edge:fetch/wait-until@0.1.0;
            import edge:fetch/fetch-event@0.1.0;
        }
    ",
    world: "edge:fetch-host/imports",
    // Every call belongs to the calling request, which the host finds by the
    // task group that makes it.
    imports: { default: store | trappable | tracing },
});
