//! Graceful shutdown over real signals on loopback: one grace period bounds
//! both the responses still being sent and the deferred work after them; a
//! stalled client cannot hold the host up, an in-flight request finishes
//! while new connections are refused, SIGINT drains like SIGTERM, and a
//! second signal ends every phase at once, reporting what it abandoned.
//! (50 and 200 parked tasks under SIGTERM are in `hardening.rs` and
//! `reliability.rs`.)

use edgeware_tests::{fixture_host, get, raw_get, response_header};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn sigterm_does_not_wait_past_the_grace_for_a_client_that_stopped_reading() {
    let mut host = fixture_host(&["--shutdown-grace", "1s"]);
    // 32 MiB is far more than the socket buffers hold: the client reads the
    // head, then nothing, so the response can never finish.
    let (stream, head) = raw_get(&host, &format!("/?body={}&task=never", 32 << 20));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let id = response_header(&head, "x-request-id").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    host.signal("TERM");
    let status = host.wait_exit(WAIT);
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "exits at the end of the 1 s grace: {took:?}"
    );
    host.log.wait_for(
        &[
            "grace period over with responses still being sent",
            "connections=1",
        ],
        1,
        WAIT,
    );
    host.log
        .wait_for(&["deferred task TIMED OUT", &id], 1, WAIT);
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=1",
            "timed_out=1",
            "in_flight=0",
        ],
        1,
        WAIT,
    );
    drop(stream);
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let mut host = fixture_host(&["--shutdown-grace", "20s"]);
    let url = host.url("/?wait=2000&task=ok");
    let slow = std::thread::spawn(move || get(&url, &[]));
    std::thread::sleep(Duration::from_millis(500));
    host.signal("TERM");
    host.log
        .wait_for(&["stopped accepting; finishing open responses"], 1, WAIT);
    let refused = TcpStream::connect(host.addr());
    assert!(refused.is_err(), "new connections are refused");
    let reply = slow.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-fixture"), Some("1"));
    let id = reply.header("x-request-id").unwrap().to_string();
    let status = host.wait_exit(WAIT);
    assert!(status.success(), "{status}");
    host.log
        .wait_for(&["deferred task FULFILLED", &id], 1, WAIT);
    host.log.wait_for(
        &["deferred task totals", "registered=1", "fulfilled=1"],
        1,
        WAIT,
    );
}

#[test]
fn sigint_drains_like_sigterm() {
    let mut host = fixture_host(&["--admin-addr", "127.0.0.1:0"]);
    let reply = get(&host.url("/?task=sleep&ms=1000&count=5"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(host.metric("edge_deferred_tasks_in_flight"), 5.0);
    host.signal("INT");
    let status = host.wait_exit(WAIT);
    assert!(status.success(), "{status}");
    assert_eq!(host.log.count(&["SIGINT: shutting down"]), 1);
    assert_eq!(host.log.count(&["deferred task FULFILLED"]), 5);
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=5",
            "fulfilled=5",
            "in_flight=0",
        ],
        1,
        WAIT,
    );
}

#[test]
fn a_second_sigterm_while_responses_are_still_open_exits_at_once() {
    let mut host = fixture_host(&["--shutdown-grace", "60s", "--request-timeout", "60s"]);
    // Still computing its answer: the connection drain would wait 30 s.
    let url = host.url("/?wait=30000&task=never&count=3");
    let waiting = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(40)))
            .build()
            .into();
        agent.get(&url).call().map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(500));
    host.signal("TERM");
    host.log.wait_for(
        &[
            "stopped accepting; finishing open responses",
            "connections=1",
            "stores=1",
        ],
        1,
        WAIT,
    );
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    host.signal("TERM");
    let status = host.wait_exit(WAIT);
    assert!(started.elapsed() < Duration::from_secs(3), "exits at once");
    assert_eq!(status.code(), Some(1), "a forced exit is not a success");
    host.log.wait_for(
        &["second signal", "connections=1", "stores=1", "tasks=3"],
        1,
        WAIT,
    );
    assert_eq!(host.log.count(&["deferred task TIMED OUT"]), 3);
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=3",
            "timed_out=3",
            "in_flight=0",
        ],
        1,
        WAIT,
    );
    assert!(
        waiting.join().unwrap().is_err(),
        "the abandoned request got no response"
    );
}
