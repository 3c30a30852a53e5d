//! The Next.js middleware contract end to end: the `next-fixture`,
//! `auth-middleware` and `first-middleware` components in front of the demo
//! origin (which echoes the request it got), real hosts, real HTTP.
//!
//! What is observable over HTTP and at loopback sinks is checked on the
//! WASI 0.3 hosts `edge-host` and `wasmtime serve`, on the same
//! `dist/portable/*-app.wasm` bytes (the `edge:fetch` adapter composed in),
//! and on workerd, on Workers built from their `dist/composed/*-app.wasm`
//! twins (see `edgeware_tests::workers_form`).
//! What only `edge-host` can tell (a FULFILLED / REJECTED line for every
//! registered task, the request id it assigns, geo from trusted headers) is
//! checked on `edge-host` with the components as built, `edge:fetch`
//! provided by the host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeware_tests::{
    Host, P3Host, Reply, Sink, assert_no_internal_headers, component, get, on_all_hosts, root,
    session_token,
};

const SECOND: Duration = Duration::from_secs(1);
const SECRET: &str = "test-secret-0123456789";
/// How long [`Sink::slow`] sinks take to answer.
const SLOW_SINK: Duration = Duration::from_secs(3);

fn path(name: &str) -> String {
    component(name).to_str().unwrap().to_string()
}

/// Serves `middleware` in front of the demo origin; the guests may call
/// the `allowed` sinks (outbound HTTP is denied by default).
fn serve(middleware: &str, env: &[String], allowed: &[&Sink]) -> Host {
    let (middleware, origin) = (path(middleware), path("demo-origin"));
    let mut args = vec![middleware.as_str(), "--origin", origin.as_str()];
    for pair in env {
        args.extend(["--env", pair.as_str()]);
    }
    for sink in allowed {
        args.extend(["--allow-outbound", sink.authority()]);
    }
    Host::start(&args)
}

fn request_id(reply: &Reply) -> String {
    reply
        .header("x-request-id")
        .expect("x-request-id")
        .to_string()
}

/// The echo of the demo origin, as JSON text.
fn echo(host: &Host, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("accept", "application/json")];
    all.extend_from_slice(headers);
    get(&host.url(path), &all)
}

/// The value the origin received for header `name`, from its JSON echo.
fn origin_saw(reply: &Reply, name: &str) -> Vec<String> {
    let needle = format!("\"name\": \"{name}\",");
    reply
        .body
        .lines()
        .zip(reply.body.lines().skip(1))
        .filter(|(line, _)| line.trim() == needle)
        .map(|(_, value)| {
            let value = value.trim().trim_start_matches("\"value\": \"");
            value.trim_end_matches('"').to_string()
        })
        .collect()
}

/// The requests of the chain tests, with the status each must get. `panic`
/// comes last: on `wasmtime serve` it takes the instance down.
fn chain_cases(upstream: &Sink) -> [(String, u16); 8] {
    [
        ("/echo.json?do=next".into(), 200),
        ("/echo.json?do=override".into(), 200),
        ("/echo.json?do=rewrite".into(), 200),
        (format!("/?do=external&url={}/ext", upstream.url), 200),
        ("/?do=redirect".into(), 307),
        ("/?do=json".into(), 200),
        ("/?do=error".into(), 500),
        ("/?do=panic".into(), 500),
    ]
}

/// What the Next.js contract says the client (and, through the echo, the
/// origin) sees for one of [`chain_cases`], whichever host runs it.
fn assert_chain_path(path: &str, status: u16, reply: &Reply, upstream: &Sink) {
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    assert_no_internal_headers(reply);
    match path {
        "/echo.json?do=next" => {
            assert_eq!(reply.header("x-chain"), Some("1"));
            assert_eq!(origin_saw(reply, "x-drop"), ["1"]);
        }
        "/echo.json?do=override" => {
            assert_eq!(origin_saw(reply, "x-injected"), ["yes"]);
            assert!(origin_saw(reply, "x-drop").is_empty(), "{}", reply.body);
            assert_eq!(
                reply.header("x-injected"),
                None,
                "overrides never reach the client"
            );
            assert_eq!(reply.header("x-chain"), Some("1"));
        }
        "/echo.json?do=rewrite" => {
            assert!(
                reply.body.contains("\"path\": \"/rewritten\""),
                "{}",
                reply.body
            );
            assert!(reply.body.contains("from=fixture"), "{}", reply.body);
        }
        "/?do=redirect" => assert_eq!(reply.header("location"), Some("/elsewhere")),
        "/?do=json" => assert_eq!(reply.body, r#"{"from":"fixture"}"#),
        "/?do=error" | "/?do=panic" => {}
        _ => {
            assert_eq!(reply.body, "proxied");
            assert_eq!(
                upstream.wait_for(1, 5 * SECOND)[0].request_line,
                "GET /ext HTTP/1.1"
            );
        }
    }
}

on_all_hosts!(
    every_chain_path_follows_the_next_js_contract,
    |on: P3Host| {
        let upstream = Sink::answering(200, "proxied");
        let host = on.serve("portable/next-fixture-app.wasm", &[], &[&upstream]);
        for (path, status) in chain_cases(&upstream) {
            let reply = echo(&host, &path, &[("x-drop", "1")]);
            assert_chain_path(&path, status, &reply, &upstream);
            // A failing and a trapping middleware answer 500 naming the
            // request id, except on wasmtime serve, whose own 500 does not.
            if status == 500 && on != P3Host::WasmtimeServe {
                assert!(reply.body.contains("request id"), "{on:?}: {}", reply.body);
            }
        }
        // A fresh instance per request: the trap took no later request with
        // it (wasmtime serve's instance goes down with it).
        if on != P3Host::WasmtimeServe {
            let reply = echo(&host, "/echo.json?do=next", &[("x-drop", "1")]);
            assert_eq!(reply.status, 200, "{on:?}: {}", reply.body);
        }
    }
);

#[test]
fn every_chain_path_settles_its_deferred_tasks() {
    let upstream = Sink::answering(200, "proxied");
    let host = serve("next-fixture", &[], &[&upstream]);
    for (path, status) in chain_cases(&upstream) {
        let reply = echo(&host, &path, &[("x-drop", "1")]);
        assert_chain_path(&path, status, &reply, &upstream);
        let id = request_id(&reply);
        // Both middlewares of the chain registered one task each.
        let settled = if path == "/?do=panic" {
            "REJECTED"
        } else {
            "FULFILLED"
        };
        host.log.wait_for(&[settled, &id], 2, 10 * SECOND);
        if status == 500 {
            assert!(reply.body.contains(&id), "{}", reply.body);
        }
    }
}

/// Serves next-fixture in front of the demo origin with `extra` flags.
fn serve_next_fixture(extra: &[&str]) -> Host {
    let (fixture, origin) = (path("next-fixture"), path("demo-origin"));
    let mut args = vec![fixture.as_str(), "--origin", origin.as_str()];
    args.extend_from_slice(extra);
    Host::start(&args)
}

/// How many times `"field":"value"` occurs in the fixture's geo answer
/// (twice when both `NextRequest::geo` and `FetchEvent::geo` tell it).
fn told(reply: &Reply, field: &str, value: &str) -> usize {
    reply
        .body
        .matches(&format!("\"{field}\":\"{value}\""))
        .count()
}

/// The geo headers Vercel's proxy sets.
const VERCEL_GEO: [(&str, &str); 5] = [
    ("x-vercel-ip-city", "S%C3%A3o%20Paulo"),
    ("x-vercel-ip-country", "BR"),
    ("x-vercel-ip-country-region", "SP"),
    ("x-vercel-ip-latitude", "-23.5475"),
    ("x-vercel-ip-longitude", "-46.6361"),
];

/// Whether the fixture's geo answer says "unknown" for both sources.
fn geo_unknown(reply: &Reply) -> bool {
    reply.body.contains("\"request\":null") && reply.body.contains("\"event\":null")
}

on_all_hosts!(
    /// The adapter never reads geo from request headers: a client could
    /// have sent them, and a foreign host does not say which proxy it trusts.
    geo_headers_from_a_client_are_not_geo_on_a_portable_app,
    |on: P3Host| {
        let host = on.serve("portable/next-fixture-app.wasm", &[], &[]);
        let reply = get(&host.url("/?do=geo"), &VERCEL_GEO);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(geo_unknown(&reply), "{}", reply.body);
    }
);

#[test]
fn geo_comes_only_from_headers_the_operator_trusts() {
    let vercel = VERCEL_GEO;

    // Off by default: the same headers are only headers.
    let host = serve_next_fixture(&[]);
    let reply = get(&host.url("/?do=geo"), &vercel);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(geo_unknown(&reply), "{}", reply.body);
    drop(host);

    let host = serve_next_fixture(&["--geo-headers", "vercel"]);
    let reply = get(&host.url("/?do=geo"), &vercel);
    assert_eq!(reply.status, 200, "{}", reply.body);
    for (field, value) in [
        ("city", "São Paulo"),
        ("country", "BR"),
        ("region", "SP"),
        ("latitude", "-23.5475"),
        ("longitude", "-46.6361"),
    ] {
        assert_eq!(told(&reply, field, value), 2, "{field}: {}", reply.body);
    }
    let reply = get(&host.url("/?do=geo"), &[("cf-ipcountry", "DE")]);
    assert!(reply.body.contains("\"request\":null"), "{}", reply.body);
    // The headers stay on the request, as on Vercel.
    let reply = echo(&host, "/echo.json?do=next", &vercel);
    assert_eq!(origin_saw(&reply, "x-vercel-ip-country"), ["BR"]);
    drop(host);

    // A configuration file naming its own headers, field by field.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        "[geo]\ncountry = \"X-Geo-Country\"\ncity = \"x-geo-city\"\n",
    )
    .unwrap();
    let host = serve_next_fixture(&["--config", config.to_str().unwrap()]);
    let reply = get(
        &host.url("/?do=geo"),
        &[("x-geo-country", "NZ"), ("x-vercel-ip-city", "Lima")],
    );
    assert_eq!(told(&reply, "country", "NZ"), 2, "{}", reply.body);
    assert!(reply.body.contains("\"city\":null"), "{}", reply.body);
    assert!(!reply.body.contains("Lima"), "{}", reply.body);
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Auth {
    host: Host,
    telemetry: Sink,
    sync: Sink,
}

/// The auth middleware's configuration, its deferred calls going to the
/// two sinks.
fn auth_env(telemetry: &Sink, sync: &Sink) -> Vec<String> {
    vec![
        format!("AUTH_SECRET={SECRET}"),
        format!("TELEMETRY_URL={}/telemetry", telemetry.url),
        format!("SESSION_SYNC_URL={}/sync", sync.url),
    ]
}

/// `dist/portable/auth-app.wasm` (auth-middleware → demo-origin + adapter)
/// on `on`.
fn auth(on: P3Host) -> Auth {
    auth_reporting_to(on, Sink::start())
}

/// [`auth`] with its telemetry going to `telemetry`.
fn auth_reporting_to(on: P3Host, telemetry: Sink) -> Auth {
    let sync = Sink::start();
    let host = on.serve(
        "portable/auth-app.wasm",
        &auth_env(&telemetry, &sync),
        &[&telemetry, &sync],
    );
    Auth {
        host,
        telemetry,
        sync,
    }
}

/// auth-middleware as built, in front of the demo origin, on edge-host.
fn auth_on_edge_host() -> Auth {
    let (telemetry, sync) = (Sink::start(), Sink::start());
    let host = serve(
        "auth-middleware",
        &auth_env(&telemetry, &sync),
        &[&telemetry, &sync],
    );
    Auth {
        host,
        telemetry,
        sync,
    }
}

fn valid_session_cookie(user: &str, session: &str) -> String {
    format!(
        "__session={}; theme=dark",
        session_token(user, session, now() + 3600, SECRET)
    )
}

on_all_hosts!(
    signed_out_redirect_returns_early_and_still_sends_telemetry,
    |on: P3Host| {
        // The telemetry task awaits the sink's answer, which comes SLOW_SINK
        // after the POST: a response held for the task would take at least
        // that.
        let auth = auth_reporting_to(on, Sink::slow(SLOW_SINK));
        let reply = get(&auth.host.url("/dashboard/settings?tab=1"), &[]);
        assert_eq!(reply.status, 307, "{}", reply.body);
        assert_eq!(
            reply.header("location"),
            Some("/sign-in?redirect_url=%2Fdashboard%2Fsettings%3Ftab%3D1")
        );
        assert!(reply.ttfb < SLOW_SINK, "{on:?}: TTFB {:?}", reply.ttfb);
        let posted = auth.telemetry.wait_for(1, 10 * SECOND);
        assert_eq!(posted[0].request_line, "POST /telemetry HTTP/1.1");
        assert!(
            posted[0].body.contains("\"reason\":\"missing\""),
            "{}",
            posted[0].body
        );
        // The task does not wait before it posts, so its POST races the
        // client's read of the response on every host: when it arrives says
        // nothing about the contract (the response was not held for it:
        // TTFB above), only that it arrives does.
        assert!(auth.sync.received().is_empty());
    }
);

on_all_hosts!(
    valid_session_reaches_the_origin_with_identity_headers_only,
    |on: P3Host| {
        let auth = auth(on);
        let cookie = valid_session_cookie("user_1", "sess_1");
        let reply = echo(
            &auth.host,
            "/dashboard",
            &[("cookie", &cookie), ("x-user-id", "admin")],
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            origin_saw(&reply, "x-user-id"),
            ["user_1"],
            "a client-sent x-user-id is replaced"
        );
        assert_eq!(origin_saw(&reply, "x-session-id"), ["sess_1"]);
        assert_eq!(reply.header("x-user-id"), None);
        assert_eq!(
            reply.header("set-cookie"),
            None,
            "far from expiry: no refresh"
        );
        assert_no_internal_headers(&reply);
        let synced = auth.sync.wait_for(1, 10 * SECOND);
        assert_eq!(synced[0].request_line, "POST /sync HTTP/1.1");
        assert!(
            synced[0].body.contains("\"userId\":\"user_1\""),
            "{}",
            synced[0].body
        );
        assert!(auth.telemetry.received().is_empty());
    }
);

/// What only edge-host tells: the request id it assigned reaches the guest's
/// deferred calls, and every registered task is reported FULFILLED.
#[test]
fn edge_host_reports_the_auth_tasks_under_the_request_id() {
    let auth = auth_on_edge_host();
    let reply = get(&auth.host.url("/dashboard/settings?tab=1"), &[]);
    assert_eq!(reply.status, 307, "{}", reply.body);
    let id = request_id(&reply);
    let posted = auth.telemetry.wait_for(1, 10 * SECOND);
    assert!(posted[0].body.contains(&id), "{}", posted[0].body);
    auth.host.log.wait_for(&["FULFILLED", &id], 1, 10 * SECOND);

    let cookie = valid_session_cookie("user_1", "sess_1");
    let reply = echo(&auth.host, "/dashboard", &[("cookie", &cookie)]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(origin_saw(&reply, "x-user-id"), ["user_1"]);
    let id = request_id(&reply);
    let synced = auth.sync.wait_for(1, 10 * SECOND);
    assert!(synced[0].body.contains(&id), "{}", synced[0].body);
    auth.host.log.wait_for(&["FULFILLED", &id], 1, 10 * SECOND);
}

on_all_hosts!(
    session_near_expiry_is_refreshed_for_client_and_origin,
    |on: P3Host| {
        let auth = auth(on);
        let old = session_token("user_2", "sess_2", now() + 60, SECRET);
        let reply = echo(
            &auth.host,
            "/account",
            &[("cookie", &format!("__session={old}"))],
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let set = reply.header("set-cookie").expect("a refreshed cookie");
        assert!(set.starts_with("__session=user_2.sess_2."), "{set}");
        assert!(
            set.contains("Max-Age=3600") && set.contains("HttpOnly"),
            "{set}"
        );
        let fresh = set.split(';').next().unwrap();
        assert_eq!(
            origin_saw(&reply, "cookie"),
            [fresh],
            "the origin sees the new cookie"
        );
    }
);

on_all_hosts!(invalid_or_expired_sessions_are_redirected, |on: P3Host| {
    let auth = auth(on);
    let forged = session_token("user_1", "sess_1", now() + 3600, "wrong-secret");
    let expired = session_token("user_1", "sess_1", now() - 1, SECRET);
    let mut tampered = session_token("user_1", "sess_1", now() + 3600, SECRET);
    tampered = tampered.replacen("user_1", "admin1", 1);
    for value in [
        forged,
        expired,
        tampered,
        "garbage".into(),
        "a.b.c.zz".into(),
    ] {
        let reply = get(
            &auth.host.url("/dashboard"),
            &[("cookie", &format!("__session={value}"))],
        );
        assert_eq!(reply.status, 307, "{value}: {}", reply.body);
    }
    auth.telemetry.wait_for(5, 10 * SECOND);
});

on_all_hosts!(path_tricks_do_not_bypass_auth, |on: P3Host| {
    let auth = auth(on);
    for tricky in [
        "/%64ashboard",
        "/static/%2e%2e/dashboard",
        "/static/..%2fdashboard",
        "/static%2f..%2fdashboard",
        "/Dashboard",
        "/dashboard/",
        "/sign-in/x",
    ] {
        let reply = get(&auth.host.url(tricky), &[]);
        assert_eq!(
            reply.status, 307,
            "{tricky} must be checked: {}",
            reply.body
        );
    }
    let reply = get(&auth.host.url("//dashboard?x=1"), &[]);
    assert_eq!(reply.status, 308);
    assert_eq!(reply.header("location"), Some("/dashboard?x=1"));
    for public in ["/", "/sign-in", "/static/app.css", "/favicon.ico"] {
        let reply = get(&auth.host.url(public), &[]);
        assert_eq!(reply.status, 200, "{public} is public: {}", reply.body);
    }
});

on_all_hosts!(spoofed_internal_headers_change_nothing, |on: P3Host| {
    let auth = auth(on);
    let spoofed = [
        (
            "x-middleware-subrequest",
            "middleware:middleware:middleware:middleware:middleware",
        ),
        ("x-middleware-override-headers", "x-user-id"),
        ("x-middleware-request-x-user-id", "admin"),
        ("x-middleware-next", "1"),
        ("x-middleware-rewrite", "/sign-in"),
    ];
    let reply = get(&auth.host.url("/dashboard"), &spoofed);
    assert_eq!(reply.status, 307, "{}", reply.body);
    let reply = echo(&auth.host, "/", &spoofed);
    assert_eq!(reply.status, 200);
    assert!(!reply.body.contains("x-middleware"), "{}", reply.body);
    assert!(!reply.body.contains("admin"), "{}", reply.body);
});

#[test]
fn first_middleware_is_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let source =
        std::fs::read_to_string(root().join("guest/components/first-middleware/src/lib.rs"))
            .unwrap();
    assert!(
        readme.contains(&source),
        "README must show first-middleware/src/lib.rs verbatim"
    );
    assert!(source.lines().count() < 30);
}

/// first-middleware's checks, on a host serving `host`: its `event.after()`
/// runs once each response has been sent, on the redirect path too (the
/// guest's stderr is in the host's log).
fn assert_first_middleware_works(host: &Host) -> Reply {
    let redirected = get(&host.url("/admin/panel"), &[]);
    assert_eq!(redirected.status, 307);
    assert!(
        redirected.header("location").unwrap().ends_with("/"),
        "{:?}",
        redirected.header("location")
    );
    let reply = echo(host, "/admin/panel", &[("cookie", "role=admin")]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-guarded"), Some("1"));
    assert_eq!(origin_saw(&reply, "x-role"), ["admin"]);
    assert_eq!(get(&host.url("/public"), &[]).status, 200);
    host.log.wait_for(&["checked /admin/panel"], 2, 10 * SECOND);
    redirected
}

on_all_hosts!(first_middleware_from_the_readme_works, |on: P3Host| {
    let host = on.serve("portable/first-app.wasm", &[], &[]);
    assert_first_middleware_works(&host);
});

#[test]
fn edge_host_reports_the_first_middlewares_after_task() {
    let host = serve("first-middleware", &[], &[]);
    let redirected = assert_first_middleware_works(&host);
    let id = request_id(&redirected);
    host.log.wait_for(&["FULFILLED", &id], 1, 10 * SECOND);
}
