//! Reliability under load: thousands of requests whose deferred tasks POST
//! to a loopback sink, some requests trapping after they registered and some
//! tasks outliving the deferred deadline. Every registered task must be
//! settled exactly once — counted in `/metrics`, in the host's log lines per
//! request id and task, and at the sink — and no client request may hang.

use edgeware_tests::{Host, Sink, component, fixture_host};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests sent by the load test (override with `EDGE_LOAD_REQUESTS`).
const REQUESTS: usize = 20_000;
/// Client threads, each with its own keep-alive connection.
const CONCURRENCY: usize = 64;
/// The host's deferred deadline in the load test.
const DEFERRED_TIMEOUT_MS: u64 = 2_000;
/// How long a "slow" task sleeps: well past the deferred deadline.
const SLOW_MS: u64 = 6_000;

/// A small deterministic PRNG (xorshift64*), so every run sends the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `percent` / 100.
    fn percent(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What one request asks the fixture to do.
#[derive(Clone)]
struct Plan {
    /// Sleep of each task, in ms.
    tasks: Vec<u64>,
    /// The handler panics (the instance traps) after registering.
    trap: bool,
}

impl Plan {
    fn query(&self, sink: &str) -> String {
        let ms: Vec<String> = self.tasks.iter().map(u64::to_string).collect();
        let mut query = format!(
            "/load?task=sleep&count={}&ms={}&url={sink}/deferred",
            self.tasks.len(),
            ms.join(",")
        );
        if self.trap {
            query.push_str("&fail=panic");
        }
        query
    }
}

fn plans(count: usize) -> Vec<Plan> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|_| {
            let tasks = 1 + (rng.next() % 3) as usize;
            let tasks = (0..tasks)
                .map(|_| {
                    if rng.percent(5) {
                        SLOW_MS
                    } else {
                        rng.next() % 30
                    }
                })
                .collect();
            Plan {
                tasks,
                trap: rng.percent(10),
            }
        })
        .collect()
}

/// The value of `field=` in a log line (the event's field, after the span).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (_, after) = line.rsplit_once(&format!(" {name}="))?;
    let value = after.split(' ').next()?;
    Some(value.trim_matches('"'))
}

#[derive(Default, Debug)]
struct Outcomes {
    fulfilled: usize,
    rejected: usize,
    timed_out: usize,
}

#[test]
fn load_every_deferred_task_settles_exactly_once() {
    let requests: usize = std::env::var("EDGE_LOAD_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(REQUESTS);
    let sink = Sink::start();
    let (fixture, origin) = (component("fixture-middleware"), component("demo-origin"));
    let deferred_timeout = format!("{DEFERRED_TIMEOUT_MS}ms");
    let mut host = Host::start(&[
        fixture.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
        "--allow-outbound",
        sink.authority(),
        "--admin-addr",
        "127.0.0.1:0",
        "--deferred-timeout",
        &deferred_timeout,
        "--request-timeout",
        "20s",
    ]);
    let plans = Arc::new(plans(requests));
    let sink_url = sink.url.clone();

    // 64 client threads pull request numbers from a shared counter.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let replies: Arc<Mutex<Vec<(usize, Result<(u16, String), String>)>>> = Arc::default();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (next, plans, replies, base, sink_url) = (
                next.clone(),
                plans.clone(),
                replies.clone(),
                host.url.clone(),
                sink_url.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let mut mine = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= plans.len() {
                        break;
                    }
                    let url = format!("{base}{}", plans[n].query(&sink_url));
                    let outcome = match agent.get(&url).call() {
                        Ok(mut response) => {
                            let status = response.status().as_u16();
                            let id = response
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            match response.body_mut().read_to_vec() {
                                Ok(_) => Ok((status, id)),
                                Err(error) => Err(format!("body: {error}")),
                            }
                        }
                        Err(error) => Err(error.to_string()),
                    };
                    mine.push((n, outcome));
                }
                replies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let sent_in = started.elapsed();
    let replies = std::mem::take(&mut *replies.lock().unwrap());
    assert_eq!(replies.len(), requests);

    // No request hung or failed at the transport level; the statuses match
    // the plan.
    let failed: Vec<_> = replies.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} request(s) failed or hung, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let mut plan_of: HashMap<String, usize> = HashMap::new();
    for (n, reply) in &replies {
        let (status, id) = reply.as_ref().unwrap();
        let expected = if plans[*n].trap { 500 } else { 200 };
        assert_eq!(*status, expected, "request {n} ({id})");
        assert!(!id.is_empty(), "request {n} has an x-request-id");
        assert!(
            plan_of.insert(id.clone(), *n).is_none(),
            "duplicate id {id}"
        );
    }

    let registered: usize = plans.iter().map(|p| p.tasks.len()).sum();
    let trapped_tasks: usize = plans.iter().filter(|p| p.trap).map(|p| p.tasks.len()).sum();
    let slow_tasks: usize = plans
        .iter()
        .filter(|p| !p.trap)
        .map(|p| p.tasks.iter().filter(|&&ms| ms == SLOW_MS).count())
        .sum();

    // Wait for the deferred phase of the last requests to end.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let in_flight = host.metric("edge_deferred_tasks_in_flight");
        let settled = host.metric("edge_deferred_tasks_fulfilled_total")
            + host.metric("edge_deferred_tasks_rejected_total")
            + host.metric("edge_deferred_tasks_timed_out_total");
        if in_flight == 0.0 && settled as usize >= registered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tasks still in flight: {in_flight}, settled {settled} of {registered}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let settled_in = started.elapsed();

    // /metrics.
    let metric = |name: &str| host.metric(name) as usize;
    let from_metrics = Outcomes {
        fulfilled: metric("edge_deferred_tasks_fulfilled_total"),
        rejected: metric("edge_deferred_tasks_rejected_total"),
        timed_out: metric("edge_deferred_tasks_timed_out_total"),
    };
    assert_eq!(metric("edge_deferred_tasks_registered_total"), registered);
    assert_eq!(
        from_metrics.fulfilled + from_metrics.rejected + from_metrics.timed_out,
        registered,
        "{from_metrics:?}"
    );
    assert_eq!(metric("edge_deferred_tasks_refused_total"), 0);
    assert_eq!(metric("edge_instances_alive"), 0);

    // The log: exactly one line per registered (request id, task).
    let mut from_log = Outcomes::default();
    let mut seen: HashMap<(String, usize), &'static str> = HashMap::new();
    let mut fulfilled: HashSet<(String, usize)> = HashSet::new();
    for line in host.log.all() {
        let outcome = if line.contains("deferred task FULFILLED") {
            "FULFILLED"
        } else if line.contains("deferred task REJECTED") {
            "REJECTED"
        } else if line.contains("deferred task TIMED OUT") {
            "TIMED OUT"
        } else {
            continue;
        };
        let id = field(&line, "request_id").expect("request_id").to_string();
        let task: usize = field(&line, "task").expect("task").parse().unwrap();
        let n = *plan_of
            .get(&id)
            .unwrap_or_else(|| panic!("unknown id: {line}"));
        let plan = &plans[n];
        assert!(
            task < plan.tasks.len(),
            "task {task} was never registered: {line}"
        );
        if let Some(before) = seen.insert((id.clone(), task), outcome) {
            panic!("settled twice ({before}, then {outcome}): {line}");
        }
        match outcome {
            "FULFILLED" => {
                assert!(!plan.trap && plan.tasks[task] != SLOW_MS, "{line}");
                fulfilled.insert((id, task));
                from_log.fulfilled += 1;
            }
            "REJECTED" => {
                assert!(plan.trap, "only trapped requests reject: {line}");
                from_log.rejected += 1;
            }
            _ => {
                assert!(!plan.trap, "{line}");
                from_log.timed_out += 1;
            }
        }
    }
    assert_eq!(seen.len(), registered, "one log line per registered task");
    assert_eq!(from_log.fulfilled, from_metrics.fulfilled);
    assert_eq!(from_log.rejected, from_metrics.rejected);
    assert_eq!(from_log.timed_out, from_metrics.timed_out);
    assert_eq!(
        from_log.rejected, trapped_tasks,
        "every trapped task rejected"
    );
    assert!(
        from_log.timed_out >= slow_tasks,
        "every slow task timed out"
    );

    // The sink saw exactly the fulfilled POSTs.
    let received = sink.received();
    let mut posted: HashSet<(String, usize)> = HashSet::new();
    for request in &received {
        assert_eq!(request.request_line, "POST /deferred HTTP/1.1");
        let body = &request.body;
        let id = body
            .split("\"requestId\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no requestId in {body}"));
        let task: usize = body
            .split("\"task\":")
            .nth(1)
            .and_then(|rest| rest.trim_end_matches('}').parse().ok())
            .unwrap_or_else(|| panic!("no task in {body}"));
        assert!(
            posted.insert((id.to_string(), task)),
            "POSTed twice: {body}"
        );
    }
    assert_eq!(
        posted, fulfilled,
        "the sink saw exactly the fulfilled tasks"
    );

    // The host is still healthy and exits cleanly.
    host.signal("TERM");
    assert!(host.wait_exit(Duration::from_secs(30)).success());
    host.log.wait_for(
        &[
            "deferred task totals",
            &format!("registered={registered}"),
            "in_flight=0",
        ],
        1,
        Duration::from_secs(5),
    );

    println!(
        "load: {requests} requests at {CONCURRENCY} concurrency in {sent_in:?} \
         (all settled after {settled_in:?}); {} trapped; tasks registered={registered} \
         fulfilled={} rejected={} timed_out={} (slow tasks {slow_tasks}); sink POSTs={}",
        plans.iter().filter(|p| p.trap).count(),
        from_log.fulfilled,
        from_log.rejected,
        from_log.timed_out,
        received.len()
    );
}

/// Every (request id, task) the log reports, with its outcome; panics on a
/// task reported twice.
fn settled_tasks(host: &Host) -> HashMap<(String, usize), String> {
    let mut seen = HashMap::new();
    for line in host.log.all() {
        let Some(outcome) = ["FULFILLED", "REJECTED", "TIMED OUT"]
            .into_iter()
            .find(|o| line.contains(&format!("deferred task {o}")))
        else {
            continue;
        };
        let id = field(&line, "request_id").unwrap().to_string();
        let task: usize = field(&line, "task").unwrap().parse().unwrap();
        if let Some(before) = seen.insert((id, task), outcome.to_string()) {
            panic!("reported twice ({before}, then {outcome}): {line}");
        }
    }
    seen
}

/// Parks 200 tasks over 20 requests: per request, 4 that end during the
/// grace (300 ms), 3 that reject, 3 that never settle. Returns the ids.
fn park_200(host: &Host) -> Vec<String> {
    (0..20)
        .map(|i| {
            let path = match i % 3 {
                0 => "/?task=sleep&ms=300&count=10",
                1 => "/?task=reject&count=10",
                _ => "/?task=never&count=10",
            };
            let reply = edgeware_tests::get(&host.url(path), &[]);
            assert_eq!(reply.status, 200);
            reply.header("x-request-id").unwrap().to_string()
        })
        .collect()
}

#[test]
fn sigterm_with_200_parked_tasks_settles_or_times_out_every_one() {
    let mut host = fixture_host(&["--shutdown-grace", "1500ms", "--deferred-timeout", "60s"]);
    let ids = park_200(&host);
    host.signal("TERM");
    let status = host.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    let seen = settled_tasks(&host);
    assert_eq!(seen.len(), 200, "every task reported once");
    for (i, id) in ids.iter().enumerate() {
        let expected = ["FULFILLED", "REJECTED", "TIMED OUT"][i % 3];
        for task in 0..10 {
            assert_eq!(seen[&(id.clone(), task)], expected, "{id} task {task}");
        }
    }
    // 7 requests of each kind but the last: 70 + 70 + 60.
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=200",
            "fulfilled=70",
            "rejected=70",
            "timed_out=60",
            "in_flight=0",
        ],
        1,
        Duration::from_secs(5),
    );
}

#[test]
fn a_second_sigterm_exits_at_once_and_still_reports_the_abandoned_tasks() {
    let mut host = fixture_host(&["--shutdown-grace", "60s", "--deferred-timeout", "60s"]);
    let ids: Vec<String> = (0..20)
        .map(|_| {
            let reply = edgeware_tests::get(&host.url("/?task=never&count=10"), &[]);
            reply.header("x-request-id").unwrap().to_string()
        })
        .collect();
    host.signal("TERM");
    host.log.wait_for(
        &["draining deferred work", "stores=20"],
        1,
        Duration::from_secs(10),
    );
    let started = Instant::now();
    host.signal("TERM");
    let status = host.wait_exit(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(5), "exits at once");
    assert_eq!(status.code(), Some(1), "a forced exit is not a success");
    host.log
        .wait_for(&["second signal", "stores=20"], 1, Duration::from_secs(5));
    let seen = settled_tasks(&host);
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|o| o == "TIMED OUT"));
    for id in &ids {
        assert!(seen.contains_key(&(id.clone(), 9)));
    }
    host.log.wait_for(
        &[
            "deferred task totals",
            "registered=200",
            "timed_out=200",
            "in_flight=0",
        ],
        1,
        Duration::from_secs(5),
    );
}
