//! What is Workers-specific about the same components on Cloudflare's
//! runtime: `cargo xtask workers` turns `dist/composed/*` (which import
//! `edge:fetch`) into Worker folders, and a real `workerd serve` (npm
//! `workerd`, installed by `cargo xtask test`) runs them on loopback.
//!
//! The host-agnostic scenarios (deferred work after the response, a chain of
//! two middlewares, a handler error's task, client-sent `x-middleware-*`,
//! the Next.js contract, the auth middleware, the first middleware's
//! `event.after()`) run on workerd as the third `P3Host` from their one
//! definition in `portable.rs`, `nextjs.rs` and `wait_until.rs`
//! (`on_all_hosts!`). Here: geo from `request.cf`, the build step's
//! refusals, `wrangler deploy --dry-run`, what a portable component loses,
//! pass-through without an origin, and what jco 1.35's multi-task bug keeps
//! from the shared scenarios.

use edgeware_tests::{
    Host, Reply, Sink, build_worker, dist, get, root, worker_command, workers_form, wrangler,
};
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// `cargo xtask workers dist/<app> --env KEY=VALUE...`, then `workerd
/// serve` on it: `app` as it is (`P3Host::Workerd` would serve a portable
/// app's composed twin instead).
fn serve(app: &str, env: &[String]) -> Host {
    let mut args = Vec::new();
    for pair in env {
        args.extend(["--env", pair.as_str()]);
    }
    Host::workerd_serve(&build_worker(&dist(app), &args))
}

/// Three tasks at once all run after the response; a task registered by a
/// deferred task (a late registration) runs too. Not both at once, so this
/// stays apart from `portable.rs`'s two-host
/// `every_task_runs_including_late_registrations`: with several tasks
/// sending requests one after another in one instance, jco 1.35 sometimes
/// loses the handle of a response, which ends the guest's event loop, so
/// `count=3&late=1` loses late tasks (see the README).
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

/// Every portable app the shared scenarios may serve on workerd has a
/// `composed/` twin of the same chain among `cargo xtask build`'s recipes
/// (`xtask/src/compose.rs`): [`workers_form`] names a real artifact.
#[test]
fn every_portable_app_has_a_composed_twin_for_workers() {
    let source = std::fs::read_to_string(root().join("xtask/src/compose.rs")).unwrap();
    let quoted = |text: &str, key: &str| -> Option<String> {
        let rest = &text[text.find(key)? + key.len()..];
        Some(
            rest[..rest.find('\n')?]
                .trim()
                .trim_end_matches(',')
                .to_string(),
        )
    };
    // (output, chain) of each `Recipe { output: "...", chain: &[...], ... }`.
    let recipes: Vec<(String, String)> = source
        .split("Recipe {")
        .skip(2) // the struct itself, then the recipes
        .filter_map(|recipe| {
            let output = quoted(recipe, "output:")?.trim_matches('"').to_string();
            Some((output, quoted(recipe, "chain:")?))
        })
        .collect();
    let apps: Vec<&(String, String)> = recipes
        .iter()
        .filter(|(output, _)| output.starts_with("portable/") && output.ends_with("-app.wasm"))
        .collect();
    assert!(apps.len() >= 6, "{recipes:?}");
    for (portable, chain) in apps {
        let composed = workers_form(portable);
        assert_eq!(
            recipes
                .iter()
                .find(|(output, _)| *output == composed)
                .map(|(_, c)| c),
            Some(chain),
            "{portable} needs a {composed} recipe of the same chain"
        );
        assert!(dist(&composed).exists());
    }
}
