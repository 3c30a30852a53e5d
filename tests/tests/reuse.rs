//! Reuse mode (`--instance-reuse`, `--instance-concurrency`): one instance
//! serves many requests, several at once, and still every `edge:fetch` call
//! is attributed to the request whose guest task makes it: deferred tasks
//! (late registrations included) settle and report under their own request,
//! `fetch-event.request-id` answers each request's own id, and deadlines
//! and traps retire an instance without losing anything.

use edgeware_tests::{Host, Reply, Sink, component, dist, fixture_host, get};
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Requests per client thread.
const ROUNDS: usize = 20;
/// Client threads.
const CLIENTS: usize = 8;

fn request_id(reply: &Reply) -> String {
    reply
        .header("x-request-id")
        .expect("every response names its request")
        .to_string()
}

/// The `requestId` a fixture task's report names.
fn reported_id(body: &str) -> String {
    let (_, rest) = body
        .split_once("\"requestId\":\"")
        .unwrap_or_else(|| panic!("not a task report: {body}"));
    rest.split('"').next().unwrap().to_string()
}

/// Sends `ROUNDS` requests from each of `CLIENTS` threads; each request
/// waits a little and registers two sleeping tasks (of different lengths)
/// that each register one more (late) task: 4 reports per request.
fn overlapping_load(host: &Host, sink: &Sink) -> Vec<String> {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let url = host.url("/");
            let sink = sink.url.clone();
            std::thread::spawn(move || {
                (0..ROUNDS)
                    .map(|round| {
                        let (wait, ms) = ((client + round) % 4 * 15, (client * 7 + round * 13) % 90);
                        let reply = get(
                            &format!(
                                "{url}?wait={wait}&task=sleep&count=2&ms={ms},{}&late=1&url={sink}/report",
                                ms + 40
                            ),
                            &[],
                        );
                        assert_eq!(reply.status, 200, "{}", reply.body);
                        request_id(&reply)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect()
}

/// Every request got exactly its 4 reports, each naming it, and the host
/// logged 4 FULFILLED lines under each request id, in one instance span.
fn assert_attributed(host: &Host, sink: &Sink, ids: &[String]) {
    let reports = sink.wait_for(ids.len() * 4, WAIT);
    let mut per_request: HashMap<String, usize> = HashMap::new();
    for report in &reports {
        *per_request.entry(reported_id(&report.body)).or_default() += 1;
    }
    for id in ids {
        assert_eq!(per_request.get(id), Some(&4), "reports naming {id}");
    }
    assert_eq!(per_request.len(), ids.len(), "no report names another id");
    let fulfilled = host
        .log
        .wait_for(&["deferred task FULFILLED"], ids.len() * 4, WAIT);
    let mut logged: HashMap<&str, usize> = HashMap::new();
    for line in &fulfilled {
        // An instance's span is a root: one started from another worker's
        // task does not nest in that worker's span.
        assert!(
            line.matches("instance{").count() <= 1,
            "nested instance spans: {line}"
        );
        let id = ids
            .iter()
            .find(|id| line.contains(&format!("request_id=\"{id}\"")))
            .unwrap_or_else(|| panic!("a FULFILLED line of an unknown request: {line}"));
        *logged.entry(id).or_default() += 1;
    }
    assert!(logged.values().all(|&n| n == 4), "{logged:?}");
}

#[test]
fn concurrent_requests_on_shared_instances_keep_their_own_tasks_and_ids() {
    let sink = Sink::start();
    let host = fixture_host(&[
        "--instance-reuse",
        "64",
        "--instance-concurrency",
        "8",
        "--allow-outbound",
        sink.authority(),
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let ids = overlapping_load(&host, &sink);
    assert_attributed(&host, &sink, &ids);
    let instances = host.metric("edge_instantiation_seconds_count");
    assert!(
        instances <= (ids.len() / 4) as f64,
        "{instances} instantiations for {} requests: instances are reused",
        ids.len()
    );
    let registered = host.metric("edge_deferred_tasks_registered_total");
    assert_eq!(registered, (ids.len() * 4) as f64);
    assert_eq!(
        host.metric("edge_deferred_tasks_fulfilled_total"),
        registered
    );
}

#[test]
fn a_composed_app_attributes_its_tasks_too() {
    let sink = Sink::start();
    let app = dist("composed/fixture-app.wasm");
    let host = Host::start(&[
        app.to_str().unwrap(),
        "--instance-reuse",
        "1000",
        "--instance-concurrency",
        "16",
        "--allow-outbound",
        sink.authority(),
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let ids = overlapping_load(&host, &sink);
    assert_attributed(&host, &sink, &ids);
    assert!(host.metric("edge_instantiation_seconds_count") < ids.len() as f64);
}

#[test]
fn an_overdue_request_retires_its_instance_and_the_others_are_served() {
    let host = fixture_host(&[
        "--instance-reuse",
        "100",
        "--request-timeout",
        "1s",
        "--deferred-timeout",
        "500ms",
    ]);
    // A handler that computes forever holds its instance; the host answers
    // 504 at the deadline and drops the instance, and requests keep being
    // served by others.
    let spinning = {
        let url = host.url("/?task=ok&fail=spin");
        std::thread::spawn(move || get(&url, &[]))
    };
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..10 {
        let reply = get(&host.url("/?task=ok"), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let spun = spinning.join().unwrap();
    assert_eq!(spun.status, 504, "{}", spun.body);
    host.log
        .wait_for(&["TIMED OUT", &request_id(&spun)], 1, WAIT);

    // A task that never settles is TIMED OUT after the response; its
    // instance retires, and the next requests are served.
    let parked = get(&host.url("/?task=never"), &[]);
    assert_eq!(parked.status, 200);
    host.log
        .wait_for(&["deferred task TIMED OUT", &request_id(&parked)], 1, WAIT);
    for _ in 0..5 {
        let reply = get(&host.url("/?task=ok"), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        host.log
            .wait_for(&["FULFILLED", &request_id(&reply)], 1, WAIT);
    }
}

#[test]
fn a_trap_fails_the_requests_of_its_instance_only() {
    let host = fixture_host(&["--instance-reuse", "100", "--instance-concurrency", "4"]);
    let before = get(&host.url("/?task=ok"), &[]);
    assert_eq!(before.status, 200);
    let trapped = get(&host.url("/?task=never&fail=panic"), &[]);
    assert_eq!(trapped.status, 500, "{}", trapped.body);
    let rejected = host
        .log
        .wait_for(&["REJECTED", &request_id(&trapped)], 1, WAIT);
    assert!(
        rejected[0].contains("the instance failed"),
        "{}",
        rejected[0]
    );
    for _ in 0..5 {
        let reply = get(&host.url("/?task=reject"), &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let lines = host
            .log
            .wait_for(&["REJECTED", &request_id(&reply)], 1, WAIT);
        assert!(lines[0].contains("fixture rejected"), "{}", lines[0]);
    }
}

#[test]
fn the_origin_component_answers_within_the_same_store() {
    // `--origin`: the origin's handler is called through the host's next
    // hop, as a task of its own, on the reused instance pair.
    let host = Host::start(&[
        component("hello-middleware").to_str().unwrap(),
        "--origin",
        component("demo-origin").to_str().unwrap(),
        "--instance-reuse",
        "50",
    ]);
    let ids: Vec<String> = (0..20)
        .map(|_| {
            let reply = get(&host.url("/hello"), &[]);
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(reply.header("x-hello"), Some("edgeware"));
            request_id(&reply)
        })
        .collect();
    for id in &ids {
        host.log.wait_for(&["FULFILLED", id], 1, WAIT);
    }
}

#[test]
fn a_full_instance_pool_answers_503_in_reuse_mode_too() {
    // Two instance slots, one request handled per instance at a time: a
    // third slow request at once finds no slot.
    let host = fixture_host(&[
        "--pool-instances",
        "2",
        "--instance-reuse",
        "10",
        "--instance-concurrency",
        "1",
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let url = host.url("/?wait=1500");
            std::thread::spawn(move || get(&url, &[]))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let refused = get(&host.url("/?wait=1500"), &[]);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    for reply in slow {
        assert_eq!(reply.join().unwrap().status, 200);
    }
    assert!(host.metric("edge_requests_refused_total") >= 1.0);
    assert_eq!(get(&host.url("/?task=ok"), &[]).status, 200);
}
