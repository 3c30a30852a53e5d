//! The same components on Cloudflare's runtime: `cargo xtask workers` turns
//! `dist/composed/*` (which import `edge:fetch`) into Worker folders, and a
//! real `workerd serve` (npm `workerd`, installed by `cargo xtask test`)
//! runs them on loopback. The Worker hands each `wait-until` future to
//! `ctx.waitUntil()`; what the guests do after the response shows at
//! loopback sinks, as in `portable.rs`, `nextjs.rs` and `wait_until.rs`.

use edgeware_tests::{Host, Reply, Sink, build_worker, dist, get, root, worker_command, wrangler};
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// `cargo xtask workers dist/<app> --env KEY=VALUE...`, then `workerd
/// serve` on it.
fn serve(app: &str, env: &[String]) -> Host {
    let mut args = Vec::new();
    for pair in env {
        args.extend(["--env", pair.as_str()]);
    }
    Host::workerd_serve(&build_worker(&dist(app), &args))
}

fn assert_no_internal_headers(reply: &Reply) {
    assert!(
        !reply
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("x-middleware-")),
        "{:?}",
        reply.headers
    );
}

#[test]
fn deferred_task_runs_after_the_response_through_ctx_wait_until() {
    let sink = Sink::start();
    let host = serve(
        "composed/hello-app.wasm",
        &[format!("DEFERRED_URL={}/telemetry", sink.url)],
    );

    let reply = get(&host.url("/hello?from=test"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    assert!(
        reply.body.contains("edgeware demo origin"),
        "{}",
        reply.body
    );
    assert!(reply.ttfb < SECOND / 2, "TTFB {:?}", reply.ttfb);
    assert!(
        sink.received().is_empty(),
        "the deferred call must not have run yet"
    );

    // hello-middleware's task sleeps 1 s after the handler returned, then
    // POSTs to the sink, with the request id the Worker gave it.
    let calls = sink.wait_for(1, 10 * SECOND);
    assert_eq!(calls[0].request_line, "POST /telemetry HTTP/1.1");
    assert!(
        calls[0].body.contains("\"path\":\"/hello\""),
        "{}",
        calls[0].body
    );
    assert!(
        calls[0].body.contains("\"requestId\":\""),
        "{}",
        calls[0].body
    );
    let after = calls[0].at.duration_since(reply.done);
    assert!(
        after >= SECOND * 8 / 10,
        "the call came {after:?} after the response"
    );
}

/// Three tasks at once all run after the response; a task registered by a
/// deferred task (a late registration) runs too. (Not both at once: with
/// several tasks sending requests one after another in one instance, jco
/// 1.35 sometimes loses the handle of a response, which ends the guest's
/// event loop, so `count=3&late=1` loses late tasks; see the README.)
#[test]
fn every_task_runs_and_a_late_registration_too() {
    let sink = Sink::start();
    let host = serve("composed/fixture-app.wasm", &[]);
    let url = format!("{}/task", sink.url);
    let reply = get(
        &host.url(&format!("/?task=sleep&ms=300&count=3&url={url}")),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-fixture-tasks"), Some("3"));
    assert!(
        sink.received().is_empty(),
        "no task may have run before the response"
    );
    let calls = sink.wait_for(3, 10 * SECOND);
    assert!(calls.iter().all(|call| call.at > reply.done));

    // One task registered by the handler, and one more by it.
    let reply = get(
        &host.url(&format!("/?task=sleep&ms=300&count=1&late=1&url={url}")),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let calls = sink.wait_for(5, 10 * SECOND);
    assert!(calls[3..].iter().all(|call| call.at > reply.done));
    std::thread::sleep(SECOND / 2);
    assert_eq!(sink.received().len(), 5, "each task runs once");
}

#[test]
fn two_middlewares_composed_with_wac_run_end_to_end() {
    let sink = Sink::start();
    // hello-middleware -> fixture-middleware -> demo-origin, one component.
    let host = serve(
        "composed/chain-app.wasm",
        &[format!("DEFERRED_URL={}/hello", sink.url)],
    );
    let fixture_url = format!("{}/fixture", sink.url);
    let reply = get(
        &host.url(&format!("/chain.json?task=sleep&ms=200&url={fixture_url}")),
        &[("x-visible", "yes")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    assert_eq!(reply.header("x-fixture"), Some("1"));
    assert!(
        reply.body.contains("\"path\": \"/chain.json\""),
        "origin answered: {}",
        reply.body
    );
    assert!(reply.body.contains("x-visible"), "{}", reply.body);
    // The inner middleware's task after 200 ms, the outer one's after 1 s.
    let calls = sink.wait_for(2, 10 * SECOND);
    let lines: Vec<&str> = calls.iter().map(|c| c.request_line.as_str()).collect();
    assert_eq!(lines, ["POST /fixture HTTP/1.1", "POST /hello HTTP/1.1"]);
    assert!(calls.iter().all(|call| call.at > reply.done));
}

#[test]
fn handler_error_answers_5xx_and_its_task_still_runs() {
    let sink = Sink::start();
    let host = serve("composed/fixture-app.wasm", &[]);
    let reply = get(
        &host.url(&format!(
            "/?task=sleep&ms=1000&url={}/task&fail=error",
            sink.url
        )),
        &[],
    );
    assert_eq!(reply.status, 500, "{}", reply.body);
    let calls = sink.wait_for(1, 10 * SECOND);
    assert_eq!(calls[0].request_line, "POST /task HTTP/1.1");
    assert!(calls[0].at > reply.done, "the task ran after the 5xx");
}

#[test]
fn client_sent_internal_headers_never_reach_the_guests() {
    let host = serve("composed/fixture-app.wasm", &[]);
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
    assert!(!reply.body.contains("x-middleware"), "{}", reply.body);
    assert!(!reply.body.contains("forged"), "{}", reply.body);
    assert_no_internal_headers(&reply);
}

#[test]
fn signed_out_redirect_returns_early_and_still_sends_telemetry() {
    let (telemetry, sync) = (Sink::start(), Sink::start());
    let host = serve(
        "composed/auth-app.wasm",
        &[
            "AUTH_SECRET=test-secret-0123456789".to_string(),
            format!("TELEMETRY_URL={}/telemetry", telemetry.url),
            format!("SESSION_SYNC_URL={}/sync", sync.url),
        ],
    );
    let reply = get(&host.url("/dashboard/settings?tab=1"), &[]);
    assert_eq!(reply.status, 307, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some("/sign-in?redirect_url=%2Fdashboard%2Fsettings%3Ftab%3D1")
    );
    assert!(reply.ttfb < SECOND / 2, "TTFB {:?}", reply.ttfb);
    let posted = telemetry.wait_for(1, 10 * SECOND);
    assert_eq!(posted[0].request_line, "POST /telemetry HTTP/1.1");
    assert!(
        posted[0].body.contains("\"reason\":\"missing\""),
        "{}",
        posted[0].body
    );
    assert!(posted[0].at > reply.done);
    assert!(sync.received().is_empty());
}

/// What `cargo xtask workers` says about a file it cannot turn into a
/// Worker: it fails, names the file and the reason, and writes nothing.
fn refused(component: &Path) -> String {
    let folder = root().join("target/workers-tests").join(format!(
        "refused-{}-{}",
        component.file_stem().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let output = worker_command(component, &folder, &[])
        .output()
        .expect("cargo xtask workers runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    assert!(
        !folder.exists(),
        "nothing is written for a refused component"
    );
    assert!(
        stderr.contains(&component.display().to_string()),
        "{stderr}"
    );
    stderr
}

#[test]
fn the_build_step_refuses_what_cannot_be_a_worker() {
    let scratch = root().join("target/workers-tests");
    std::fs::create_dir_all(&scratch).unwrap();

    let text = scratch.join(format!("not-wasm-{}.wasm", std::process::id()));
    std::fs::write(&text, "hello").unwrap();
    assert!(refused(&text).contains("is not a WebAssembly component"));

    let core = scratch.join(format!("core-module-{}.wasm", std::process::id()));
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    assert!(refused(&core).contains("is a core WebAssembly module, not a component"));

    // The adapter exports edge:fetch, not a handler.
    let adapter = refused(&dist("edge-fetch-adapter.wasm"));
    assert!(
        adapter.contains("does not export wasi:http/handler@0.3.0"),
        "{adapter}"
    );

    // A middleware alone still imports its next hop.
    let middleware = refused(&dist("hello-middleware.wasm"));
    assert!(
        middleware.contains("imports wasi:http/handler@0.3.0")
            && middleware.contains("cargo xtask compose"),
        "{middleware}"
    );
}

/// The Next.js contract on every chain path of `next-fixture` (continue,
/// request-header override, rewrite, external rewrite through the Worker's
/// `fetch`, redirect, JSON answer, error, panic), as `nextjs.rs` checks it
/// on the other hosts.
#[test]
fn every_chain_path_follows_the_next_js_contract() {
    let upstream = Sink::answering(200, "proxied");
    let host = serve("composed/next-fixture-app.wasm", &[]);
    let echo = |path: &str| {
        get(
            &host.url(path),
            &[("accept", "application/json"), ("x-drop", "1")],
        )
    };

    let next = echo("/echo.json?do=next");
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(next.header("x-chain"), Some("1"));
    assert!(next.body.contains("\"name\": \"x-drop\""), "{}", next.body);

    let over = echo("/echo.json?do=override");
    assert_eq!(over.status, 200, "{}", over.body);
    assert!(
        over.body.contains("\"name\": \"x-injected\""),
        "{}",
        over.body
    );
    assert!(!over.body.contains("\"name\": \"x-drop\""), "{}", over.body);
    assert_eq!(
        over.header("x-injected"),
        None,
        "overrides never reach the client"
    );

    let rewrite = echo("/echo.json?do=rewrite");
    assert_eq!(rewrite.status, 200, "{}", rewrite.body);
    assert!(
        rewrite.body.contains("\"path\": \"/rewritten\""),
        "{}",
        rewrite.body
    );

    let external = echo(&format!("/?do=external&url={}/ext", upstream.url));
    assert_eq!(external.status, 200, "{}", external.body);
    assert_eq!(external.body, "proxied");
    assert_eq!(
        upstream.wait_for(1, 5 * SECOND)[0].request_line,
        "GET /ext HTTP/1.1"
    );

    let redirect = echo("/?do=redirect");
    assert_eq!(redirect.status, 307, "{}", redirect.body);
    assert_eq!(redirect.header("location"), Some("/elsewhere"));

    let json = echo("/?do=json");
    assert_eq!(json.status, 200);
    assert_eq!(json.body, r#"{"from":"fixture"}"#);

    // A failing and a trapping middleware answer 500, naming the request id.
    for path in ["/?do=error", "/?do=panic"] {
        let reply = echo(path);
        assert_eq!(reply.status, 500, "{path}: {}", reply.body);
        assert!(reply.body.contains("request id"), "{}", reply.body);
    }
    // A fresh instance per request: the trap took no later request with it.
    assert_eq!(echo("/echo.json?do=next").status, 200);
    for reply in [&next, &over, &rewrite, &external, &redirect, &json] {
        assert_no_internal_headers(reply);
    }
}

/// The README's first middleware: `event.after()` runs once the response
/// has been sent (its transmission future resolves when the Worker has
/// handed over the body's last byte), on the redirect path too.
#[test]
fn after_runs_once_the_response_has_been_sent() {
    let host = serve("composed/first-app.wasm", &[]);
    let redirected = get(&host.url("/admin/panel"), &[]);
    assert_eq!(redirected.status, 307, "{}", redirected.body);
    assert!(
        redirected.header("location").unwrap().ends_with("/"),
        "{:?}",
        redirected.header("location")
    );
    host.log.wait_for(&["checked /admin/panel"], 1, 10 * SECOND);

    let guarded = get(&host.url("/admin/users"), &[("cookie", "role=admin")]);
    assert_eq!(guarded.status, 200, "{}", guarded.body);
    assert_eq!(guarded.header("x-guarded"), Some("1"));
    assert!(guarded.body.contains("x-role"), "{}", guarded.body);
    host.log.wait_for(&["checked /admin/users"], 1, 10 * SECOND);
}

/// A `dist/portable/*` component has the adapter composed in: it imports no
/// `edge:fetch`, so the Worker never sees its deferred tasks and cannot hand
/// them to `ctx.waitUntil`. It answers, but Workers cancel what is still
/// pending once the response is done: the deferred POST never arrives.
#[test]
fn portable_component_answers_but_workers_cancel_its_deferred_work() {
    let sink = Sink::start();
    let host = serve(
        "portable/hello-app.wasm",
        &[format!("DEFERRED_URL={}/telemetry", sink.url)],
    );
    let reply = get(&host.url("/portable"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    // hello-middleware's task would post 1 s after the response.
    std::thread::sleep(3 * SECOND);
    assert!(sink.received().is_empty(), "{:?}", sink.received());
}

/// How many times `"field":"value"` occurs in next-fixture's geo answer
/// (twice when both `NextRequest::geo` and `FetchEvent::geo` tell it).
fn told(reply: &Reply, field: &str, value: &str) -> usize {
    reply
        .body
        .matches(&format!("\"{field}\":\"{value}\""))
        .count()
}

/// `request.cf` as Cloudflare's edge fills it, which a local workerd takes
/// from the header named with `--cf-blob-header` (JSON).
const CF_BLOB: &str = r#"{"city":"Lisbon","country":"PT","regionCode":"11","latitude":"38.71667","longitude":"-9.13333"}"#;

/// Geo is `request.cf`'s, and only that: on Cloudflare the edge sets it; a
/// local workerd has none unless it was built with `--cf-blob-header`
/// (for a trusted proxy in front of it), and client-sent `cf-*` headers
/// are never geo.
#[test]
fn geo_comes_from_request_cf_only() {
    let fixture = dist("composed/next-fixture-app.wasm");
    let host = Host::workerd_serve(&build_worker(&fixture, &[]));
    let reply = get(
        &host.url("/?do=geo"),
        &[("cf-ipcountry", "DE"), ("cf-blob", CF_BLOB)],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("\"request\":null") && reply.body.contains("\"event\":null"),
        "{}",
        reply.body
    );
    drop(host);

    let host = Host::workerd_serve(&build_worker(&fixture, &["--cf-blob-header", "cf-blob"]));
    let reply = get(&host.url("/?do=geo"), &[("cf-blob", CF_BLOB)]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    for (field, value) in [
        ("city", "Lisbon"),
        ("country", "PT"),
        ("region", "11"),
        ("latitude", "38.71667"),
        ("longitude", "-9.13333"),
    ] {
        assert_eq!(told(&reply, field, value), 2, "{field}: {}", reply.body);
    }
}

/// The folder is what `wrangler deploy` uploads as it is: the README's
/// deploy command, with `--dry-run` (no account here), takes the bundle,
/// every core module as compiled wasm, and the `[vars]`.
#[test]
fn wrangler_deploy_takes_the_worker_folder_as_it_is() {
    let worker = build_worker(
        &dist("composed/hello-app.wasm"),
        &["--env", "DEFERRED_URL=https://telemetry.example.com/v1"],
    );
    let (node, cli) = wrangler();
    let output = std::process::Command::new(node)
        .arg(cli)
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(worker.join("dry-run"))
        .current_dir(&*worker)
        .env("WRANGLER_SEND_METRICS", "false")
        .output()
        .expect("wrangler runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("--dry-run: exiting now"), "{stdout}");
    assert!(
        stdout.contains("component.core.wasm") && stdout.contains("compiled-wasm"),
        "{stdout}"
    );
    assert!(stdout.contains("env.DEFERRED_URL"), "{stdout}");
    assert!(worker.join("dry-run/worker.js").exists());
}

/// `pass-through-on-exception` is `ctx.passThroughOnException()` behind
/// Cloudflare's edge, where an origin is behind the route; a bare workerd
/// has none (passing the request on would send it to the Worker again), so
/// a failing middleware that asked for it answers 500 there, once.
#[test]
fn pass_through_without_an_origin_answers_500_once() {
    let host = serve("composed/fixture-app.wasm", &[]);
    let reply = get(&host.url("/?pass=1&fail=error"), &[]);
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("request id"), "{}", reply.body);
    std::thread::sleep(SECOND / 2);
    assert_eq!(
        host.log.count(&["fixture failed"]),
        1,
        "{:#?}",
        host.log.all()
    );
}
