//! `pass-through-on-exception` end to end: when a middleware that asked for it
//! fails, the host forwards the original request to the next hop, and the
//! tasks the middleware registered still settle.

use edgeware_tests::{Host, Sink, component, get};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn fixture(next: &[&str]) -> Host {
    let fixture = component("fixture-middleware");
    let mut args = vec![fixture.to_str().unwrap().to_string()];
    args.extend(next.iter().map(|s| s.to_string()));
    Host::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn with_origin() -> Host {
    let origin = component("demo-origin");
    fixture(&["--origin", origin.to_str().unwrap()])
}

#[test]
fn handler_error_passes_through_to_the_origin_and_tasks_settle() {
    let host = with_origin();
    let reply = get(
        &host.url("/page.json?task=ok&pass=1&fail=error"),
        &[("x-client", "1")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("/page.json"),
        "the origin answered: {}",
        reply.body
    );
    assert!(
        reply.body.contains("x-client"),
        "with the original headers: {}",
        reply.body
    );
    assert_eq!(
        reply.header("x-fixture"),
        None,
        "not the middleware's response"
    );
    let id = reply.header("x-request-id").unwrap();
    host.log.wait_for(&["FULFILLED", id], 1, WAIT);
    host.log
        .wait_for(&["passing the request through to the origin", id], 1, WAIT);
}

#[test]
fn trap_passes_through_and_the_trapped_instance_tasks_are_rejected() {
    let host = with_origin();
    let reply = get(&host.url("/page.json?task=never&pass=1&fail=panic"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("/page.json"), "{}", reply.body);
    let id = reply.header("x-request-id").unwrap();
    let rejected = host.log.wait_for(&["REJECTED", id], 1, WAIT);
    assert!(
        rejected[0].contains("the instance failed"),
        "{}",
        rejected[0]
    );
}

#[test]
fn without_pass_through_a_failure_is_a_5xx() {
    let host = with_origin();
    let reply = get(&host.url("/?task=ok&fail=panic"), &[]);
    assert_eq!(reply.status, 500, "{}", reply.body);
}

#[test]
fn pass_through_to_an_upstream_replays_the_body() {
    let upstream = Sink::answering(200, "upstream saw it");
    let host = fixture(&["--upstream", &upstream.url]);
    let body = "x".repeat(100_000);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&host.url("/submit?task=ok&pass=1&fail=error"))
        .header("content-type", "text/plain")
        .send(&body)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "upstream saw it"
    );
    let received = upstream.wait_for(1, WAIT);
    assert_eq!(
        received[0].request_line,
        "POST /submit?task=ok&pass=1&fail=error HTTP/1.1"
    );
    assert_eq!(received[0].body.len(), body.len());
}
