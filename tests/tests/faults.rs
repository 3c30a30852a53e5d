//! Faults, each injected on purpose over real loopback HTTP: a guest that
//! traps while its response body is being sent or inside a deferred task,
//! several guests looping or exhausting memory at once, an upstream that is
//! down, slow, resetting or cutting its body short, and clients that leave
//! before the response ends. The host must answer what it can with a clear
//! status, report every deferred task, and keep serving.
//! (Single looping guests, a single memory bomb and a garbage component on
//! reload are covered in `hardening.rs`.)

use edgeware_tests::{
    Host, Sink, component, fixture_host, get, raw_get, response_header as header,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn fixture_before_upstream(upstream: &str, extra: &[&str]) -> Host {
    let fixture = component("fixture-middleware");
    let mut args = vec![fixture.to_str().unwrap(), "--upstream", upstream];
    args.extend_from_slice(extra);
    Host::start(&args)
}

#[test]
fn a_trap_while_the_body_is_sent_cuts_the_response_and_rejects_the_tasks() {
    let host = fixture_host(&["--admin-addr", "127.0.0.1:0"]);
    const SIZE: usize = 32 << 20;
    // The body is far larger than the socket buffers and the client does not
    // read it: the guest traps (in its deferred task, 300 ms in) mid-body.
    let (mut stream, head) = raw_get(&host, &format!("/?body={SIZE}&task=panic&ms=300"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let id = header(&head, "x-request-id").unwrap().to_string();
    host.log
        .wait_for(&["REJECTED", &id, "the instance failed"], 1, WAIT);
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body); // ends: closed or reset
    assert!(body.len() < SIZE, "the body was cut: {} bytes", body.len());
    assert_eq!(get(&host.url("/"), &[]).status, 200, "still serving");
    assert_eq!(host.metric("edge_deferred_tasks_rejected_total"), 1.0);
    assert_eq!(host.metric("edge_instances_alive"), 0.0);
}

#[test]
fn a_trap_inside_a_deferred_task_rejects_the_request_s_tasks_only() {
    let sink = Sink::start();
    let host = fixture_host(&["--allow-outbound", sink.authority()]);
    // A neighbour request's deferred POST lands while the other one traps.
    let neighbour = get(
        &host.url(&format!("/?task=sleep&ms=400&url={}/n", sink.url)),
        &[],
    );
    let reply = get(&host.url("/?task=panic&ms=100&count=3"), &[]);
    assert_eq!(reply.status, 200, "the response was sent before the trap");
    let id = reply.header("x-request-id").unwrap();
    let rejected = host
        .log
        .wait_for(&["REJECTED", id, "the instance failed"], 3, WAIT);
    assert_eq!(rejected.len(), 3);
    let neighbour = neighbour.header("x-request-id").unwrap();
    host.log.wait_for(&["FULFILLED", neighbour], 1, WAIT);
    assert_eq!(sink.wait_for(1, WAIT)[0].request_line, "POST /n HTTP/1.1");
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}

#[test]
fn looping_and_memory_hungry_guests_at_once_do_not_stall_the_others() {
    let host = fixture_host(&[
        "--request-timeout",
        "2s",
        "--deferred-timeout",
        "1s",
        "--max-memory-mib",
        "16",
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let started = Instant::now();
    let faults: Vec<_> = [
        "/?task=ok&fail=spin",
        "/?task=ok&fail=spin",
        "/?task=spin&ms=10&count=2",
        "/?task=spin&ms=10&count=2",
        "/?task=ok&fail=oom",
        "/?task=ok&fail=oom",
        "/?task=ok&fail=oom",
    ]
    .into_iter()
    .map(|path| {
        let url = host.url(path);
        std::thread::spawn(move || get(&url, &[]).status)
    })
    .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..10 {
        let reply = get(&host.url("/?task=ok"), &[]);
        assert_eq!(reply.status, 200);
        assert!(reply.ttfb < Duration::from_secs(1), "TTFB {:?}", reply.ttfb);
    }
    let statuses: Vec<u16> = faults.into_iter().map(|f| f.join().unwrap()).collect();
    assert_eq!(statuses, [504, 504, 200, 200, 500, 500, 500]);
    // 2 + 4 + 3 fault tasks, 10 fine ones: all settled, none lost.
    let deadline = Instant::now() + WAIT;
    while host.metric("edge_deferred_tasks_in_flight") > 0.0 {
        assert!(Instant::now() < deadline, "tasks never settled");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(host.metric("edge_deferred_tasks_registered_total"), 19.0);
    assert_eq!(host.metric("edge_deferred_tasks_fulfilled_total"), 10.0);
    assert_eq!(host.metric("edge_deferred_tasks_timed_out_total"), 6.0);
    assert_eq!(host.metric("edge_deferred_tasks_rejected_total"), 3.0);
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// A loopback "upstream" that handles each connection with `behave`.
fn upstream(behave: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || behave(stream));
        }
    });
    url
}

fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
}

#[test]
fn an_upstream_that_is_down_slow_or_resetting_gets_a_clear_5xx() {
    // Down: nothing listens on the port.
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    // Slow: reads the request, never answers.
    let slow = upstream(|mut s| {
        read_head(&mut s);
        std::thread::sleep(Duration::from_secs(10));
    });
    // Resetting: closes with the request unread (the kernel sends RST).
    let reset = upstream(|s| {
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
    });
    // Garbage: answers something that is not HTTP.
    let garbage = upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n\r\n");
    });
    for (name, url, status) in [
        ("down", &down, 502),
        ("slow", &slow, 504),
        ("reset", &reset, 502),
        ("garbage", &garbage, 502),
    ] {
        let host = fixture_before_upstream(url, &["--request-timeout", "1s"]);
        let started = Instant::now();
        let reply = get(&host.url("/?task=ok"), &[]);
        let id = reply.header("x-request-id").unwrap_or("?").to_string();
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        assert!(
            reply.body.starts_with(&format!("{status} ")) && reply.body.contains(&id),
            "{name}: a clear body naming the request id: {:?}",
            reply.body
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
        // The task registered before the upstream failed still settles.
        host.log.wait_for(&["deferred task", &id], 1, WAIT);
        // And the host keeps serving (the middleware answers this one).
        assert_eq!(get(&host.url("/?body=2"), &[]).status, 200, "{name}");
    }
}

#[test]
fn an_upstream_that_cuts_its_body_short_does_not_hurt_the_host() {
    let short = upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nonly this");
    });
    let host = fixture_before_upstream(&short, &["--request-timeout", "2s"]);
    let (mut stream, head) = raw_get(&host, "/?task=ok");
    let id = header(&head, "x-request-id").unwrap_or("?").to_string();
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body);
    assert!(
        !head.starts_with("HTTP/1.1 200") || body.len() < 100_000,
        "a short body is never passed off as complete: {head}"
    );
    host.log.wait_for(&["deferred task", &id], 1, WAIT);
    assert_eq!(get(&host.url("/?body=2"), &[]).status, 200);
}

#[test]
fn clients_that_leave_early_still_get_their_deferred_tasks_run() {
    let sink = Sink::start();
    let host = fixture_host(&["--allow-outbound", sink.authority()]);
    let mut ids = Vec::new();
    // Leaves after the head of a large streamed response.
    let (stream, head) = raw_get(
        &host,
        &format!("/?body={}&task=sleep&ms=200&url={}/a", 16 << 20, sink.url),
    );
    ids.push(header(&head, "x-request-id").unwrap().to_string());
    drop(stream);
    // Leaves before any response (the handler waits 500 ms).
    let mut stream = TcpStream::connect(host.addr()).unwrap();
    write!(
        stream,
        "GET /?wait=500&task=sleep&ms=100&url={}/b HTTP/1.1\r\nhost: x\r\n\r\n",
        sink.url
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(stream);
    let received = sink.wait_for(2, WAIT);
    let mut lines: Vec<_> = received.iter().map(|r| r.request_line.clone()).collect();
    lines.sort();
    assert_eq!(lines, ["POST /a HTTP/1.1", "POST /b HTTP/1.1"]);
    host.log.wait_for(&["deferred task FULFILLED"], 2, WAIT);
    host.log.wait_for(&["FULFILLED", &ids[0]], 1, WAIT);
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}
