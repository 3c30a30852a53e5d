//! The WASI 0.2 build (`dist/p2/`, the SDK with `--features edgeware/p2`) on
//! real p2 hosts serving `wasi:http/incoming-handler`: `wasmtime serve` and
//! `jco serve` (Node.js).
//! Deferred tasks run after the response body has been finished, inside the
//! handler call, and the SDK reports each on stderr.

use edgeware_tests::{Host, P3Host, Sink, dist, fixture_host, get};
use std::path::PathBuf;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// `dist/p2/<name>.wasm`
fn p2_component(name: &str) -> PathBuf {
    dist(&format!("p2/{name}.wasm"))
}

/// `wasmtime serve -Scli --env ... dist/p2/<name>.wasm`
fn serve_p2(name: &str, env: &[String]) -> Host {
    let path = p2_component(name);
    let mut args: Vec<&str> = Vec::new();
    for pair in env {
        args.extend(["--env", pair]);
    }
    args.push(path.to_str().unwrap());
    Host::wasmtime_serve(&args)
}

#[test]
fn p2_middleware_answers_first_then_runs_its_deferred_task() {
    let upstream = Sink::answering(200, "from upstream");
    let sink = Sink::start();
    // wasmtime serve -Scli --addr 127.0.0.1:<port> --env EDGEWARE_UPSTREAM=http://127.0.0.1:<port> --env DEFERRED_URL=http://127.0.0.1:<port>/telemetry dist/p2/hello-middleware.wasm
    let host = serve_p2(
        "hello-middleware",
        &[
            format!("EDGEWARE_UPSTREAM={}", upstream.url),
            format!("DEFERRED_URL={}/telemetry", sink.url),
        ],
    );

    let reply = get(&host.url("/p2/hello?x=1"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "from upstream");
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    // The task sleeps 1 s: a response held for it would take at least that.
    assert!(reply.ttfb < SECOND, "TTFB {:?}", reply.ttfb);
    assert!(
        sink.received().is_empty(),
        "the deferred call must not have run yet"
    );
    let forwarded = upstream.wait_for(1, 5 * SECOND);
    assert_eq!(forwarded[0].request_line, "GET /p2/hello?x=1 HTTP/1.1");

    let calls = sink.wait_for(1, 10 * SECOND);
    assert_eq!(calls[0].request_line, "POST /telemetry HTTP/1.1");
    let after = calls[0].at.duration_since(reply.done);
    assert!(
        after >= SECOND * 8 / 10,
        "the call came {after:?} after the response"
    );
    host.log.wait_for(
        &["edgeware: deferred task FULFILLED", "task=0"],
        1,
        10 * SECOND,
    );
}

#[test]
fn p2_tasks_settle_once_with_late_registrations_and_the_deadline() {
    let host = serve_p2(
        "fixture-middleware",
        &[
            "EDGEWARE_UPSTREAM=http://127.0.0.1:9".to_string(),
            "EDGE_FETCH_DEFERRED_TIMEOUT_MS=300".to_string(),
        ],
    );
    // Two tasks, each registering one more: four reports. `fail=error`
    // answers without calling the (unreachable) next hop.
    let reply = get(
        &host.url("/?task=sleep&ms=50&count=2&late=1&fail=error"),
        &[],
    );
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("request id"), "{}", reply.body);
    host.log
        .wait_for(&["edgeware: deferred task FULFILLED"], 4, 10 * SECOND);
    std::thread::sleep(SECOND / 5);
    assert_eq!(
        host.log.count(&["edgeware: deferred task"]),
        4,
        "{:#?}",
        host.log.all()
    );

    let reply = get(&host.url("/?task=never&fail=error"), &[]);
    assert_eq!(reply.status, 500);
    let lines = host
        .log
        .wait_for(&["edgeware: deferred task TIMED OUT"], 1, 10 * SECOND);
    assert!(lines[0].contains("after_response_end_ms=3"), "{}", lines[0]);

    let reply = get(&host.url("/?task=reject&fail=error"), &[]);
    assert_eq!(reply.status, 500);
    host.log
        .wait_for(&["REJECTED", "fixture rejected"], 1, 10 * SECOND);
}

#[test]
fn p2_origin_serves_on_its_own() {
    let host = serve_p2("demo-origin", &[]);
    let reply = get(&host.url("/p2.json?q=1"), &[("x-visible", "yes")]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("\"path\": \"/p2.json\""),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("x-visible"), "{}", reply.body);
}

/// jco serves the same bytes; configuration is its process environment:
/// `EDGEWARE_UPSTREAM=... DEFERRED_URL=... jco serve --host 127.0.0.1 --port 8080 dist/p2/hello-middleware.wasm`
#[test]
fn p2_middleware_on_jco_serve_answers_first_then_runs_its_deferred_task() {
    let upstream = Sink::answering(200, "from upstream");
    let sink = Sink::start();
    let telemetry = format!("{}/telemetry", sink.url);
    let host = Host::jco_serve(
        &p2_component("hello-middleware"),
        &[
            ("EDGEWARE_UPSTREAM", &upstream.url),
            ("DEFERRED_URL", &telemetry),
        ],
    );

    let reply = get(&host.url("/jco"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "from upstream");
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    assert!(
        sink.received().is_empty(),
        "the deferred call must not have run yet"
    );
    let calls = sink.wait_for(1, 10 * SECOND);
    assert_eq!(calls[0].request_line, "POST /telemetry HTTP/1.1");
    let after = calls[0].at.duration_since(reply.done);
    assert!(
        after >= SECOND * 8 / 10,
        "the call came {after:?} after the response"
    );
    host.log
        .wait_for(&["edgeware: deferred task FULFILLED"], 1, 10 * SECOND);
}

/// A failed outbound call is the same [`edgeware::Error`] on both builds: the
/// fixture's `fetch=` reports its message, its HTTP status and the
/// `wasi:http` error code it wraps (which a p2 error did not wrap before).
/// The WASI 0.2 and 0.3 builds of fixture-middleware call the same dead
/// port on the same host, `wasmtime serve`; the denied call is edge-host's
/// (the only host here with an outbound allowlist; it serves WASI 0.3
/// only), whose status comes from the same table the p2 build uses.
#[test]
fn a_failed_fetch_is_the_same_error_on_the_p2_and_the_p3_build() {
    // Nothing listens on the discard port.
    let refused = "http://127.0.0.1:9/probe";
    let upstream = Sink::answering(200, "from upstream");
    let p2 = serve_p2(
        "fixture-middleware",
        &[format!("EDGEWARE_UPSTREAM={}", upstream.url)],
    );
    let p3 = P3Host::WasmtimeServe.serve("portable/fixture-app.wasm", &[], &[]);
    let expected_message = format!("error: fetch {refused}: ErrorCode::ConnectionRefused");
    for (build, host) in [("p2", &p2), ("p3", &p3)] {
        let reply = get(&host.url(&format!("/?fetch={refused}")), &[]);
        assert_eq!(reply.status, 200, "{build}: {}", reply.body);
        assert_eq!(reply.header("x-fixture"), Some("1"), "{build}");
        assert_eq!(
            reply.header("x-fixture-fetch"),
            Some(expected_message.as_str()),
            "{build}"
        );
        assert_eq!(
            reply.header("x-fixture-fetch-error"),
            Some("status=502 code=ErrorCode::ConnectionRefused"),
            "{build}"
        );
    }

    let sink = Sink::start();
    let edge_host = fixture_host(&[]);
    let target = format!("{}/probe", sink.url);
    let reply = get(&edge_host.url(&format!("/?fetch={target}")), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("x-fixture-fetch"),
        Some(format!("error: fetch {target}: ErrorCode::HttpRequestDenied").as_str())
    );
    assert_eq!(
        reply.header("x-fixture-fetch-error"),
        Some("status=403 code=ErrorCode::HttpRequestDenied")
    );
    assert!(sink.received().is_empty());
}
