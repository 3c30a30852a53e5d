//! `wait-until` end to end: real `edge-host`, real components, real HTTP on
//! loopback. The response must reach the client before deferred work ends,
//! and every registered task must be reported exactly once. Scenarios whose
//! outcome shows over HTTP and at a loopback sink also run on `wasmtime
//! serve`, on the same `dist/portable/fixture-app.wasm` as on edge-host, and
//! on workerd, on a Worker built from `dist/composed/fixture-app.wasm`.

use edgeware_tests::{
    Host, P3Host, Sink, assert_no_internal_headers, component, fixture_host, get, on_all_hosts,
};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// hello-middleware in front of `next` (`--origin <demo-origin>` or
/// `--upstream <url>`), its deferred call going to `sink`.
fn hello(sink: &Sink, next: &[&str]) -> Host {
    let hello = component("hello-middleware");
    let env = format!("DEFERRED_URL={}/telemetry", sink.url);
    let mut args = vec![
        path(&hello),
        "--env",
        &env,
        "--allow-outbound",
        sink.authority(),
    ];
    args.extend_from_slice(next);
    Host::start(&args)
}

fn demo_origin() -> String {
    path(&component("demo-origin")).to_string()
}

#[test]
fn response_arrives_before_the_deferred_task_which_then_runs() {
    let sink = Sink::start();
    let host = hello(&sink, &["--origin", &demo_origin()]);

    let reply = get(&host.url("/hello?from=test"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    assert!(
        reply.ttfb < SECOND,
        "TTFB {:?} must be under the task's 1 s sleep",
        reply.ttfb
    );
    let request_id = reply
        .header("x-request-id")
        .expect("x-request-id")
        .to_string();
    assert!(
        sink.received().is_empty(),
        "the deferred call must not have run yet"
    );

    // The task sleeps 1 s after the handler returned, then POSTs to the sink.
    let calls = sink.wait_for(1, 10 * SECOND);
    assert_eq!(calls[0].request_line, "POST /telemetry HTTP/1.1");
    assert!(
        calls[0].body.contains(&request_id),
        "body: {}",
        calls[0].body
    );
    assert!(calls[0].body.contains("/hello"), "body: {}", calls[0].body);
    let after_response = calls[0].at.duration_since(reply.done);
    assert!(
        after_response >= SECOND * 8 / 10,
        "the call came {after_response:?} after the response"
    );

    let settled = host
        .log
        .wait_for(&["FULFILLED", &request_id], 1, 10 * SECOND);
    assert!(
        settled[0].contains("after_response_end_ms="),
        "{}",
        settled[0]
    );
}

#[test]
fn upstream_proxy_is_the_next_hop() {
    let upstream = Sink::answering(200, "from upstream");
    let sink = Sink::start();
    let host = hello(&sink, &["--upstream", &upstream.url]);

    let reply = get(&host.url("/via/proxy?q=1"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "from upstream");
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    let forwarded = upstream.wait_for(1, 5 * SECOND);
    assert_eq!(forwarded[0].request_line, "GET /via/proxy?q=1 HTTP/1.1");
    let header = |name: &str| {
        forwarded[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    sink.wait_for(1, 10 * SECOND);
}

#[test]
fn rejecting_task_is_reported_rejected_with_its_message() {
    let host = fixture_host(&[]);
    let reply = get(&host.url("/?task=reject"), &[]);
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").unwrap().to_string();
    let lines = host.log.wait_for(&["REJECTED", &id], 1, 10 * SECOND);
    assert!(lines[0].contains("fixture rejected"), "{}", lines[0]);
}

#[test]
fn never_resolving_task_times_out_at_the_deferred_deadline() {
    let host = fixture_host(&["--deferred-timeout", "1s"]);
    let reply = get(&host.url("/?task=never"), &[]);
    assert_eq!(reply.status, 200);
    assert!(reply.ttfb < SECOND, "TTFB {:?}", reply.ttfb);
    let id = reply.header("x-request-id").unwrap().to_string();
    let lines = host.log.wait_for(&["TIMED OUT", &id], 1, 10 * SECOND);
    let after: i64 = field(&lines[0], "after_response_end_ms");
    assert!(
        (1000..3000).contains(&after),
        "timed out {after} ms after the response end"
    );
}

#[test]
fn every_task_of_a_request_settles_once_including_late_registrations() {
    let host = fixture_host(&[]);
    let reply = get(&host.url("/?task=sleep&ms=100&count=3&late=1"), &[]);
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").unwrap().to_string();
    // Three registered by the handler, and one more by each of them.
    host.log.wait_for(&["FULFILLED", &id], 6, 10 * SECOND);
    std::thread::sleep(SECOND / 2);
    assert_eq!(
        host.log.count(&["deferred task", &id]),
        6,
        "{:#?}",
        host.log.all()
    );
}

on_all_hosts!(
    handler_error_answers_5xx_and_its_task_still_runs,
    |on: P3Host| {
        let sink = Sink::start();
        let host = on.serve("portable/fixture-app.wasm", &[], &[&sink]);
        let reply = get(
            &host.url(&format!(
                "/?task=sleep&ms=1000&url={}/task&fail=error",
                sink.url
            )),
            &[],
        );
        assert_eq!(reply.status, 500, "{}", reply.body);
        // The task sleeps 1 s after the handler failed, then POSTs. (Not less:
        // with RUST_BACKTRACE set, wasmtime serve takes a few hundred ms to
        // log the guest's error before it answers.)
        let calls = sink.wait_for(1, 10 * SECOND);
        assert_eq!(calls[0].request_line, "POST /task HTTP/1.1");
        assert!(
            calls[0].at > reply.done,
            "{on:?}: the task ran after the 5xx"
        );
    }
);

#[test]
fn handler_error_answers_5xx_and_still_settles_registered_tasks() {
    let host = fixture_host(&[]);
    let reply = get(&host.url("/?task=ok&fail=error"), &[]);
    assert_eq!(reply.status, 500, "{}", reply.body);
    let id = reply.header("x-request-id").unwrap().to_string();
    assert!(
        reply.body.contains(&id),
        "the error names the request id: {}",
        reply.body
    );
    host.log.wait_for(&["FULFILLED", &id], 1, 10 * SECOND);
}

on_all_hosts!(
    client_sent_internal_headers_never_reach_the_guests,
    |on: P3Host| {
        let host = on.serve("portable/fixture-app.wasm", &[], &[]);
        let reply = get(
            &host.url("/echo.json"),
            &[
                (
                    "x-middleware-subrequest",
                    "middleware:middleware:middleware",
                ),
                ("x-middleware-override-headers", "authorization"),
                ("x-middleware-request-authorization", "Bearer forged"),
                ("x-visible", "yes"),
            ],
        );
        assert_eq!(reply.status, 200);
        assert!(reply.body.contains("x-visible"), "{}", reply.body);
        assert!(
            !reply.body.contains("x-middleware"),
            "{on:?}: {}",
            reply.body
        );
        assert!(!reply.body.contains("forged"), "{on:?}: {}", reply.body);
        assert_no_internal_headers(&reply);
    }
);

/// The integer value of `name=` in a log line.
fn field(line: &str, name: &str) -> i64 {
    let start = line.find(&format!("{name}=")).expect(name) + name.len() + 1;
    line[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
