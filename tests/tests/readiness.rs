//! The admin server's probes through a drain, as Kubernetes sees them
//! (deploy/kubernetes/deployment.yaml): `/readyz` (ready: accepting)
//! answers 503 from the moment SIGTERM arrives, while `/healthz` (live:
//! the process is healthy) stays 200 until the host exits, here with a
//! deferred task still parked for seconds after the signal.

use edgeware_tests::{fixture_host, get};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn readyz_fails_at_sigterm_while_healthz_stays_up_until_exit() {
    let mut host = fixture_host(&["--admin-addr", "127.0.0.1:0", "--shutdown-grace", "20s"]);
    let admin = host.admin_url.clone().expect("the admin server is on");
    let probe = |path: &str| get(&format!("{admin}{path}"), &[]);
    assert_eq!(probe("/readyz").status, 200, "ready while serving");
    assert_eq!(probe("/readyz").body, "ready\n");
    assert_eq!(probe("/healthz").status, 200);
    assert_eq!(probe("/healthz").body, "ok\n");

    // A task that stays parked for 3 s after its response.
    let reply = get(&host.url("/?task=sleep&ms=3000"), &[]);
    assert_eq!(reply.status, 200);
    let id = reply.header("x-request-id").unwrap().to_string();
    host.signal("TERM");
    let signalled = Instant::now();
    host.log.wait_for(&["SIGTERM: shutting down"], 1, WAIT);
    let not_ready = probe("/readyz");
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert_eq!(not_ready.body, "shutting down\n");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "503 right after the signal: {:?}",
        signalled.elapsed()
    );

    // Live, and not ready, for as long as the task keeps the host draining.
    let mut probes = 0;
    while host.log.count(&["deferred task FULFILLED", &id]) == 0 {
        assert!(signalled.elapsed() < WAIT, "the task settles");
        assert_eq!(probe("/healthz").status, 200, "live while draining");
        assert_eq!(probe("/readyz").status, 503, "not ready while draining");
        probes += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(probes >= 10, "the drain lasted through {probes} probes");
    let status = host.wait_exit(WAIT);
    assert!(status.success(), "{status}");
    host.log.wait_for(
        &["deferred task totals", "registered=1", "fulfilled=1"],
        1,
        WAIT,
    );
}
