//! `edge:fetch` for hosts that know nothing of it.
//!
//! This component exports `edge:fetch/wait-until` and `edge:fetch/fetch-event`
//! and imports only standard WASI: `wasi:random/random@0.3.0` and
//! `wasi:cli/environment@0.3.0`, plus the `wasi:cli@0.2` imports Rust's std
//! adds to every `wasm32-wasip2` guest (as the SDK's components have too). Plugged into a middleware or origin built with the
//! SDK (`wac plug app.wasm --plug edge-fetch-adapter.wasm`), it turns it into
//! a plain `wasi:http` component that `wasmtime serve`, Spin 4.1+ and any
//! other WASI 0.3 HTTP host can run.
//!
//! # `wait-until`
//!
//! `wait-until` is a sync function, and the component model only lets
//! functions typed `async` be lifted with the `async` option (validation
//! fails with "the `async` canonical option requires an async function
//! type"), so a sync export cannot keep running after it returns: the adapter
//! cannot read the task's future after the call. It drops it at once. That is
//! enough for SDK-built guests, because the SDK drives every deferred task on
//! the guest's own export task (`wit_bindgen::spawn_local`), not on the host:
//! WASI 0.3 hosts keep an instance alive while one of its tasks is still
//! running after its export returned (`wasmtime serve` and Spin do), so the
//! work runs to completion after the response has been sent, as with
//! `edge-host`. The SDK's write of the outcome sees a dropped reader and is
//! ignored.
//!
//! What the adapter cannot give, compared with `edge-host`:
//! - no report of the outcome (no FULFILLED / REJECTED / TIMED OUT line);
//! - no deferred deadline of its own: how long an instance may live is the
//!   host's decision (`wasmtime serve` sets no limit; Spin has
//!   `--request-timeout`);
//! - every task of the guest keeps the instance alive, registered or not.
//!
//! # `fetch-event`
//!
//! - `client-address`: always `none` (`wasi:http` does not expose it).
//! - `request-id`: a random 128-bit id, generated once per instance. WASI 0.3
//!   hosts reuse instances by default (`wasmtime serve` 49 and Spin main: up
//!   to 16 concurrent and 128 requests per instance), so it names the
//!   instance; it names one request only when the host gives each request
//!   its own instance (`wasmtime serve --max-instance-reuse-count 1`).
//! - `deferred-deadline-ms`: `EDGE_FETCH_DEFERRED_TIMEOUT_MS` (set it to the
//!   limit the host enforces, if any), default 30000. Informational only:
//!   the adapter enforces nothing.
//! - `request-deadline-ms`: `EDGE_FETCH_REQUEST_TIMEOUT_MS` if set (tell the
//!   guest the limit the host was configured with), else `none`. It is the
//!   configured limit, not the time left.
//! - `geo`: always `none`. A foreign host does not tell the client's
//!   location, and the adapter cannot tell which request headers (if any) a
//!   trusted proxy set, so it never reads them.
//! - `pass-through-on-exception`: cannot be honoured (the failing handler's
//!   host answers the error itself); the call does nothing.
#![cfg(target_arch = "wasm32")]

use std::cell::OnceCell;

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        inline: "
            package edgeware:adapter;

            world adapter {
                import wasi:random/random@0.3.0;
                import wasi:cli/environment@0.3.0;
                export edge:fetch/wait-until@0.1.0;
                export edge:fetch/fetch-event@0.1.0;
            }
        ",
        world: "edgeware:adapter/adapter",
        generate_all,
    });
}

use bindings::exports::edge::fetch::{fetch_event, wait_until};
use bindings::wasi::cli::environment;
use bindings::wasi::random::random;

/// Environment variable: the deferred deadline in milliseconds.
const DEFERRED_TIMEOUT_VAR: &str = "EDGE_FETCH_DEFERRED_TIMEOUT_MS";
/// Environment variable: the host's request timeout in milliseconds.
const REQUEST_TIMEOUT_VAR: &str = "EDGE_FETCH_REQUEST_TIMEOUT_MS";
/// The deferred deadline when `EDGE_FETCH_DEFERRED_TIMEOUT_MS` is unset, as
/// `edge-host --deferred-timeout`'s default.
const DEFAULT_DEFERRED_TIMEOUT_MS: u64 = 30_000;

thread_local! {
    static INSTANCE_ID: OnceCell<String> = const { OnceCell::new() };
}

struct Adapter;

impl wait_until::Guest for Adapter {
    fn wait_until(task: wit_bindgen::FutureReader<Result<(), String>>) {
        // See the crate docs: the guest drives the task itself; a sync export
        // has no way to read the outcome later.
        drop(task);
    }
}

impl fetch_event::Guest for Adapter {
    fn client_address() -> Option<String> {
        None
    }

    fn request_id() -> String {
        INSTANCE_ID.with(|id| {
            id.get_or_init(|| {
                let bytes = random::get_random_bytes(16);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            })
            .clone()
        })
    }

    fn deferred_deadline_ms() -> u64 {
        env_ms(DEFERRED_TIMEOUT_VAR).unwrap_or(DEFAULT_DEFERRED_TIMEOUT_MS)
    }

    fn request_deadline_ms() -> Option<u64> {
        env_ms(REQUEST_TIMEOUT_VAR)
    }

    fn geo() -> Option<fetch_event::Geolocation> {
        None
    }

    fn pass_through_on_exception() {}
}

bindings::export!(Adapter with_types_in bindings);

/// A millisecond count from the environment; unset or unparsable is `None`.
fn env_ms(name: &str) -> Option<u64> {
    environment::get_environment()
        .into_iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value.trim().parse().ok())
}
