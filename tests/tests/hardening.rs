//! Production hardening of `edge-host`, over real HTTP and real signals on
//! loopback: deadlines, limits, backpressure, drain, outbound policy, edge
//! limits, config errors, metrics and hot reload.

use edgeware_tests::{Host, Sink, component, fixture_host, get, host_binary};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn a_looping_handler_is_stopped_at_the_deadline_without_stalling_others() {
    let host = fixture_host(&["--request-timeout", "1500ms"]);
    let url = host.url("/?task=ok&fail=spin");
    let spinning = std::thread::spawn(move || get(&url, &[]));
    std::thread::sleep(Duration::from_millis(300));
    // Other requests are served while the guest spins.
    for _ in 0..3 {
        let reply = get(&host.url("/"), &[]);
        assert_eq!(reply.status, 200);
        assert!(
            reply.ttfb < Duration::from_millis(700),
            "TTFB {:?}",
            reply.ttfb
        );
    }
    let spun = spinning.join().unwrap();
    assert_eq!(spun.status, 504, "{}", spun.body);
    let id = spun.header("x-request-id").unwrap();
    host.log.wait_for(&["TIMED OUT", id], 1, WAIT);
}

#[test]
fn a_looping_deferred_task_times_out_after_the_response() {
    let host = fixture_host(&["--deferred-timeout", "500ms"]);
    // The task sleeps first, so it spins after the response was sent.
    let reply = get(&host.url("/?task=spin&ms=200"), &[]);
    assert_eq!(reply.status, 200);
    assert!(
        reply.ttfb < Duration::from_millis(700),
        "TTFB {:?}",
        reply.ttfb
    );
    let id = reply.header("x-request-id").unwrap();
    host.log.wait_for(&["TIMED OUT", id], 1, WAIT);
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}

#[test]
fn a_memory_bomb_fails_alone() {
    let host = fixture_host(&["--max-memory-mib", "16"]);
    let bomb = get(&host.url("/?task=ok&fail=oom"), &[]);
    assert_eq!(bomb.status, 500, "{}", bomb.body);
    let id = bomb.header("x-request-id").unwrap();
    host.log
        .wait_for(&["REJECTED", id, "the instance failed"], 1, WAIT);
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}

#[test]
fn a_flood_above_the_concurrency_cap_gets_503_with_retry_after() {
    let host = fixture_host(&[
        "--max-concurrent-requests",
        "3",
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let url = host.url("/?wait=1500");
            std::thread::spawn(move || get(&url, &[]).status)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let refused: Vec<_> = (0..5).map(|_| get(&host.url("/"), &[])).collect();
    for reply in &refused {
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    for handle in slow {
        assert_eq!(handle.join().unwrap(), 200);
    }
    assert_eq!(
        get(&host.url("/"), &[]).status,
        200,
        "serves again below the cap"
    );
    assert_eq!(host.metric("edge_requests_refused_total"), 5.0);
}

#[test]
fn sigterm_drains_50_parked_tasks_then_exits_0() {
    let mut host = fixture_host(&["--admin-addr", "127.0.0.1:0"]);
    let reply = get(&host.url("/?task=sleep&ms=1500&count=50"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(host.metric("edge_deferred_tasks_in_flight"), 50.0);
    host.signal("TERM");
    let status = host.wait_exit(WAIT);
    assert!(status.success(), "{status}");
    assert_eq!(host.log.count(&["deferred task FULFILLED"]), 50);
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=50",
            "fulfilled=50",
            "in_flight=0",
        ],
        1,
        WAIT,
    );
}

#[test]
fn sigterm_reports_tasks_past_the_grace_as_timed_out() {
    let mut host = fixture_host(&["--shutdown-grace", "500ms"]);
    let reply = get(&host.url("/?task=never&count=50"), &[]);
    assert_eq!(reply.status, 200);
    let started = Instant::now();
    host.signal("TERM");
    let status = host.wait_exit(WAIT);
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(host.log.count(&["deferred task TIMED OUT"]), 50);
    host.log
        .wait_for(&["registered=50", "timed_out=50", "in_flight=0"], 1, WAIT);
}

#[test]
fn outbound_calls_are_denied_unless_allowed() {
    let sink = Sink::start();
    let target = format!("/?fetch={}/probe", sink.url);
    let denied = fixture_host(&[]);
    let reply = get(&denied.url(&target), &[]);
    assert_eq!(reply.status, 200);
    let fetched = reply.header("x-fixture-fetch").unwrap();
    assert!(fetched.starts_with("error"), "{fetched}");
    denied.log.wait_for(&["outbound request denied"], 1, WAIT);
    assert!(sink.received().is_empty());

    let allowed = fixture_host(&["--allow-outbound", sink.authority()]);
    let reply = get(&allowed.url(&target), &[]);
    assert_eq!(reply.header("x-fixture-fetch"), Some("204"));
    assert_eq!(
        sink.wait_for(1, WAIT)[0].request_line,
        "GET /probe HTTP/1.1"
    );
}

#[test]
fn oversize_headers_and_bodies_are_refused_at_the_edge() {
    let host = fixture_host(&["--max-header-bytes", "8192", "--max-body-bytes", "1000"]);
    let big = "a".repeat(20_000);
    let reply = get(&host.url("/"), &[("x-big", &big)]);
    assert_eq!(reply.status, 431);

    let addr = host.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(get(&host.url("/"), &[]).status, 200, "still serving");
}

#[test]
fn garbage_requests_do_not_stop_the_server() {
    let host = fixture_host(&["--header-read-timeout", "1s"]);
    let addr = host.url.trim_start_matches("http://").to_string();
    for garbage in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x07garbage",
    ] {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.write_all(garbage).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    }
    // Slowloris: a head that never ends is cut off by the header timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nx-a: 1\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the connection was closed"
    );
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}

#[test]
fn metrics_add_up() {
    let host = fixture_host(&["--admin-addr", "127.0.0.1:0", "--deferred-timeout", "400ms"]);
    for path in [
        "/?task=ok&count=3",
        "/?task=reject&count=2",
        "/?task=never",
        "/?task=sleep&ms=50&late=1",
        "/?task=ok&fail=error",
    ] {
        get(&host.url(path), &[]);
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let scrape = host.metrics();
        let value = |name: &str| {
            scrape
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0.0, |(_, v)| *v)
        };
        let registered = value("edge_deferred_tasks_registered_total");
        let settled = value("edge_deferred_tasks_fulfilled_total")
            + value("edge_deferred_tasks_rejected_total")
            + value("edge_deferred_tasks_timed_out_total");
        let in_flight = value("edge_deferred_tasks_in_flight");
        assert_eq!(registered, settled + in_flight, "at every scrape");
        if in_flight == 0.0 {
            assert_eq!(registered, 9.0);
            assert_eq!(value("edge_deferred_tasks_fulfilled_total"), 6.0);
            assert_eq!(value("edge_deferred_tasks_rejected_total"), 2.0);
            assert_eq!(value("edge_deferred_tasks_timed_out_total"), 1.0);
            break;
        }
        assert!(Instant::now() < deadline, "tasks never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        host.metric("edge_http_responses_total{status=\"200\"}"),
        4.0
    );
    assert_eq!(
        host.metric("edge_http_responses_total{status=\"500\"}"),
        1.0
    );
    assert_eq!(host.metric("edge_http_response_latency_seconds_count"), 5.0);
    assert_eq!(
        host.metric("edge_deferred_settle_after_response_seconds_count"),
        9.0
    );
    assert_eq!(host.metric("edge_instances_alive"), 0.0);
    let health = get(
        &format!("{}/healthz", host.admin_url.as_ref().unwrap()),
        &[],
    );
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
}

#[test]
fn reload_under_load_switches_versions_without_failing_requests() {
    let sink = Sink::start();
    let (hello, origin) = (component("hello-middleware"), component("demo-origin"));
    // Compiles the new version into the cache, so the reload is quick.
    drop(Host::start(&[
        hello.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served.wasm");
    std::fs::copy(component("fixture-middleware"), &served).unwrap();
    let host = Host::start(&[
        served.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
        "--allow-outbound",
        sink.authority(),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url) = (stop.clone(), host.url("/?task=ok"));
            std::thread::spawn(move || {
                let mut replies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    replies.push((sent, get(&url, &[])));
                }
                replies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // Just before the reload: a request still in its handler when the new
    // version arrives, and one whose deferred task POSTs well after it.
    let url = host.url("/?wait=3000");
    let slow = std::thread::spawn(move || get(&url, &[]));
    let spanning = get(
        &host.url(&format!("/?task=sleep&ms=4000&url={}/spanning", sink.url)),
        &[],
    );
    assert_eq!(spanning.header("x-fixture"), Some("1"));
    let spanning = spanning.header("x-request-id").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::copy(&hello, &served).unwrap();
    host.signal("HUP");
    let reloaded = "reloaded: new requests use the new version";
    host.log.wait_for(&[reloaded], 1, WAIT);
    let reloaded_at = Instant::now();

    let slow = slow.join().unwrap();
    assert_eq!(slow.status, 200, "{}", slow.body);
    assert_eq!(
        slow.header("x-fixture"),
        Some("1"),
        "the old version answers"
    );
    assert!(slow.done > reloaded_at, "it finished after the reload");
    let posted = sink.wait_for(1, WAIT);
    assert_eq!(posted[0].request_line, "POST /spanning HTTP/1.1");
    assert!(
        posted[0].at > reloaded_at,
        "the task ran on after the reload"
    );
    host.log
        .wait_for(&["deferred task FULFILLED", &spanning], 1, WAIT);
    let log = host.log.all();
    let position = |needles: &[&str]| {
        log.iter()
            .position(|line| needles.iter().all(|n| line.contains(n)))
            .unwrap()
    };
    assert!(
        position(&["deferred task FULFILLED", &spanning]) > position(&[reloaded]),
        "the old version's task settled after the reload"
    );

    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&served, b"this is not a component").unwrap();
    host.signal("HUP");
    host.log.wait_for(
        &["reload failed; the previous version keeps serving"],
        1,
        WAIT,
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let replies: Vec<_> = load
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    let failed = replies.iter().filter(|(_, r)| r.status != 200).count();
    assert_eq!(failed, 0, "no request failed");
    let (before, after): (Vec<_>, Vec<_>) =
        replies.iter().partition(|(sent, _)| *sent < reloaded_at);
    assert!(
        before
            .iter()
            .any(|(_, r)| r.header("x-fixture") == Some("1")),
        "the old version served the load first"
    );
    assert!(
        after.len() > 10,
        "{} requests after the reload",
        after.len()
    );
    for (_, reply) in &after {
        assert_eq!(
            reply.header("x-hello"),
            Some("edgeware"),
            "the new version serves every request sent after the reload"
        );
    }
}

#[test]
fn invalid_configuration_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, "component = \"x.wasm\"\nmax_parked_taks = 3\n").unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm garbage").unwrap();
    for args in [
        vec!["--config".to_string(), config.display().to_string()],
        vec![garbage.display().to_string()],
        vec![
            component("demo-origin").display().to_string(),
            "--max-concurrent-requests".into(),
            "0".into(),
        ],
    ] {
        let output = Command::new(host_binary())
            .arg("serve")
            .args(&args)
            .args(["--addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<_> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].starts_with("edge-host: error: "), "{stderr}");
    }
}

#[test]
fn a_config_file_configures_the_host_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "component = {:?}\norigin = {:?}\ndeferred_timeout = \"5s\"\n\
             [env]\nFROM_FILE = \"file value\"\nSHARED = \"from the file\"\n",
            component("fixture-middleware"),
            component("demo-origin"),
        ),
    )
    .unwrap();
    let host = Host::start(&[
        "--config",
        config.to_str().unwrap(),
        "--deferred-timeout",
        "900ms",
        "-e",
        "SHARED=from the flag",
    ]);
    let env = |name: &str| {
        let reply = get(&host.url(&format!("/?env={name}")), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.header("x-fixture-env").unwrap().to_string()
    };
    assert_eq!(env("FROM_FILE"), "file value", "[env] reaches the guest");
    assert_eq!(env("SHARED"), "from the flag", "-e wins over [env]");
    assert_eq!(env("NOT_SET"), "unset");

    let reply = get(&host.url("/?task=never"), &[]);
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").unwrap();
    let line = &host.log.wait_for(&["TIMED OUT", id], 1, WAIT)[0];
    let after: u64 = line
        .split("after_response_end_ms=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        (900..2500).contains(&after),
        "--deferred-timeout 900ms wins over the file's 5s: {line}"
    );
}

#[test]
fn a_full_instance_pool_gets_503_with_retry_after_then_serves_again() {
    let host = fixture_host(&["--pool-instances", "2", "--admin-addr", "127.0.0.1:0"]);
    // Each request's store lives on for its parked task: two fill the pool.
    for _ in 0..2 {
        let reply = get(&host.url("/?task=sleep&ms=3000"), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let busy = get(&host.url("/"), &[]);
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert!(busy.body.contains("instance pool full"), "{}", busy.body);
    host.log
        .wait_for(&["request refused with 503", "instance pool full"], 1, WAIT);
    assert_eq!(host.metric("edge_requests_refused_total"), 1.0);
    let deadline = Instant::now() + WAIT;
    while host.metric("edge_instances_alive") > 0.0 {
        assert!(Instant::now() < deadline, "the parked tasks never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        assert_eq!(get(&host.url("/"), &[]).status, 200, "serves again");
    }
    assert_eq!(host.log.count(&["deferred task FULFILLED"]), 2);
    assert_eq!(
        host.metric("edge_http_responses_total{status=\"500\"}"),
        0.0
    );
}

#[test]
fn serve_help_documents_every_config_key_and_flag() {
    // The file's keys, from the real parser: an unknown key lists them all.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let output = Command::new(host_binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    let keys: Vec<&str> = error
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("{error}"))
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    assert!(keys.len() > 20, "{error}");

    let output = Command::new(host_binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for key in &keys {
        assert!(
            flat.contains(&format!("config: {key}")) || flat.contains(&format!("config: [{key}]")),
            "`{key}` is not documented in `serve --help`:\n{help}"
        );
    }
    // Every flag but --config and --help names its key.
    let mut blocks: Vec<String> = Vec::new();
    let starts_a_flag = |line: &str| {
        let line = line.trim_start().as_bytes();
        line.starts_with(b"--") || (line.len() > 3 && line[0] == b'-' && line[2] == b',')
    };
    for line in help.lines() {
        if starts_a_flag(line) {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push(' ');
        }
    }
    let mut flags = 0;
    for block in &blocks {
        let text = block.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.starts_with("--config") || text.starts_with("-h, --help") {
            continue;
        }
        assert!(text.contains("[config:"), "no config key: {text}");
        flags += 1;
    }
    assert!(
        flags + 1 >= keys.len(),
        "{flags} flags for {} keys",
        keys.len()
    );
}

#[test]
fn command_line_errors_are_one_line_and_exit_code_2() {
    let component = component("demo-origin");
    for args in [
        vec![
            "serve",
            component.to_str().unwrap(),
            "--request-timeout",
            "abc",
        ],
        vec!["serve", component.to_str().unwrap(), "--no-such-flag"],
        vec!["serve", component.to_str().unwrap(), "--pooling", "maybe"],
        vec!["launch"],
    ] {
        let output = Command::new(host_binary()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("edge-host: error: "), "{stderr}");
        assert!(lines[0].contains(args.last().unwrap()), "{stderr}");
    }
}

#[test]
fn the_pooling_allocator_can_be_turned_off() {
    let host = fixture_host(&["--pooling", "false"]);
    host.log.wait_for(&["listening", "pooling=false"], 1, WAIT);
    let reply = get(&host.url("/?task=ok"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-fixture"), Some("1"));
    let id = reply.header("x-request-id").unwrap();
    host.log.wait_for(&["deferred task FULFILLED", id], 1, WAIT);
}

#[test]
fn the_upstream_is_allowed_for_guest_fetches_without_allow_outbound() {
    let sink = Sink::start();
    let fixture = component("fixture-middleware");
    let host = Host::start(&[fixture.to_str().unwrap(), "--upstream", &sink.url]);
    let reply = get(&host.url(&format!("/?fetch={}/probe", sink.url)), &[]);
    assert_eq!(reply.status, 204, "the upstream answered");
    assert_eq!(
        reply.header("x-fixture-fetch"),
        Some("204"),
        "fetch allowed"
    );
    let lines: Vec<_> = sink
        .wait_for(2, WAIT)
        .into_iter()
        .map(|r| r.request_line)
        .collect();
    assert!(
        lines.contains(&"GET /probe HTTP/1.1".to_string()),
        "{lines:?}"
    );
    assert_eq!(host.log.count(&["outbound request denied"]), 0);
}

#[test]
fn text_logs_carry_the_request_id_on_every_request_line() {
    let host = fixture_host(&[]);
    host.log
        .wait_for(&["listening", "pool_instances="], 1, WAIT);
    let denied = get(&host.url("/?task=reject&fetch=http://127.0.0.1:9/x"), &[]);
    let failed = get(&host.url("/?task=ok&fail=error"), &[]);
    assert_eq!(failed.status, 500);
    let ids = [
        denied.header("x-request-id").unwrap(),
        failed.header("x-request-id").unwrap(),
    ];
    host.log
        .wait_for(&["outbound request denied", ids[0]], 1, WAIT);
    host.log
        .wait_for(&["deferred task REJECTED", ids[0]], 1, WAIT);
    host.log
        .wait_for(&["the handler returned an error", ids[1]], 1, WAIT);
    host.log
        .wait_for(&["deferred task FULFILLED", ids[1]], 1, WAIT);
    let log = host.log.all();
    let start = log
        .iter()
        .position(|l| l.contains("pool_instances="))
        .unwrap();
    let lines: Vec<_> = log[start + 1..]
        .iter()
        .filter(|line| !line.starts_with("edge-host listening on"))
        .collect();
    assert!(lines.len() >= 4, "{lines:?}");
    for line in lines {
        assert!(
            ids.iter()
                .any(|id| line.contains(&format!("request{{request_id={id}}}"))),
            "a line without its request id: {line}"
        );
    }
}

#[test]
fn a_chunked_body_over_the_limit_gets_413() {
    let host = fixture_host(&["--max-body-bytes", "1000"]);
    let post = |chunks: usize| {
        let mut stream = TcpStream::connect(host.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = b"POST /?read=1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\
                            connection: close\r\n\r\n"
            .to_vec();
        for _ in 0..chunks {
            request.extend_from_slice(b"190\r\n");
            request.extend_from_slice(&[b'x'; 400]);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        stream.write_all(&request).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let under = post(2);
    assert!(under.starts_with("HTTP/1.1 200"), "{under}");
    assert!(under.ends_with("800 bytes\n"), "{under}");
    let over = post(4);
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert_eq!(get(&host.url("/"), &[]).status, 200, "still serving");
}

#[test]
fn the_compile_cache_is_used_on_the_second_start() {
    let first = fixture_host(&[]);
    drop(first);
    let second = fixture_host(&[]);
    assert_eq!(second.log.count(&["component ready", "from_cache=true"]), 2);
}

#[test]
fn the_parked_task_cap_refuses_registrations_and_then_requests() {
    let host = fixture_host(&["--max-parked-tasks", "5", "--admin-addr", "127.0.0.1:0"]);
    let reply = get(&host.url("/?task=never&count=8"), &[]);
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").unwrap();
    let refused = host.log.wait_for(&["REJECTED", id, "refused"], 3, WAIT);
    assert_eq!(refused.len(), 3);
    let busy = get(&host.url("/"), &[]);
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(host.metric("edge_deferred_tasks_refused_total"), 3.0);
    assert_eq!(host.metric("edge_deferred_tasks_in_flight"), 5.0);
    assert_eq!(host.metric("edge_requests_refused_total"), 1.0);
}

#[test]
fn http2_prior_knowledge_is_served() {
    let host = fixture_host(&[]);
    let output = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg(host.url("/"))
        .output()
        .expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 200");
}

#[test]
fn json_logs_carry_the_request_id() {
    let host = fixture_host(&["--log-format", "json"]);
    let reply = get(&host.url("/?task=ok"), &[]);
    let id = reply.header("x-request-id").unwrap();
    let line = &host.log.wait_for(&["FULFILLED", id], 1, WAIT)[0];
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains(&format!("\"request_id\":\"{id}\"")), "{line}");
}

/// Polls `metric` until it reads `value`.
fn wait_for_metric(host: &Host, metric: &str, value: f64) {
    let deadline = Instant::now() + WAIT;
    while host.metric(metric) != value {
        assert!(
            Instant::now() < deadline,
            "{metric} stayed at {}, not {value}",
            host.metric(metric)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fresh_requests_take_instances_made_ahead_and_a_reload_replaces_them() {
    let host = fixture_host(&["--admin-addr", "127.0.0.1:0"]);
    // Two are made at start, before any request.
    wait_for_metric(&host, "edge_instances_ready", 2.0);
    assert_eq!(host.metric("edge_instances_alive"), 0.0);
    for round in 1..=5 {
        let reply = get(&host.url("/?task=ok"), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        // Each request took a ready one; its replacement is made after.
        wait_for_metric(&host, "edge_instances_ready", 2.0);
        assert_eq!(
            host.metric("edge_instances_taken_ready_total"),
            round as f64
        );
    }
    wait_for_metric(&host, "edge_instances_alive", 0.0);
    assert_eq!(host.metric("edge_instance_acquire_seconds_count"), 5.0);
    // Five used, two waiting: nothing made and lost.
    assert_eq!(host.metric("edge_instantiation_seconds_count"), 7.0);
    assert_eq!(host.log.count(&["deferred task FULFILLED"]), 5);
    // The old version's ready instances go with it; the new one makes its own.
    host.signal("HUP");
    host.log
        .wait_for(&["reloaded: new requests use the new version"], 1, WAIT);
    wait_for_metric(&host, "edge_instantiation_seconds_count", 9.0);
    wait_for_metric(&host, "edge_instances_ready", 2.0);
    assert_eq!(get(&host.url("/"), &[]).status, 200);
    wait_for_metric(&host, "edge_instances_taken_ready_total", 6.0);
}

#[test]
fn warm_instances_zero_instantiates_each_request_on_the_spot() {
    let host = fixture_host(&["--warm-instances", "0", "--admin-addr", "127.0.0.1:0"]);
    for _ in 0..3 {
        assert_eq!(get(&host.url("/"), &[]).status, 200);
    }
    assert_eq!(host.metric("edge_instantiation_seconds_count"), 3.0);
    assert_eq!(host.metric("edge_instance_acquire_seconds_count"), 3.0);
    assert_eq!(host.metric("edge_instances_ready"), 0.0);
    assert_eq!(host.metric("edge_instances_taken_ready_total"), 0.0);
}
