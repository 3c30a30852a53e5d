//! `edge-host check`: which hosts can run a component, what they lack, and
//! the command that fixes it.
//!
//! Reads only the component's own (top-level) import and export names, with
//! `wasmparser`, so it is instant and needs no compilation. What each host
//! provides is written down here, per interface, from the hosts' sources:
//! `edge-host` (this binary), `wasmtime serve -Scli` 49, Spin 4.1+ (main),
//! Spin 4.0.x, and p2-only hosts (jco, wasmCloud) that serve
//! `wasi:http/incoming-handler@0.2.x`.
//!
//! Spin, from its source (`crates/http/src/trigger.rs`,
//! `crates/factor-wasi`, `crates/factor-outbound-http`, `wit/deps`):
//! Spin 4.0.x (wasmtime 44) serves `wasi:http/handler@0.3.0-rc-2026-03-15`
//! and `wasi:http/incoming-handler@0.2.x`, and provides WASI 0.3 only as the
//! `0.3.0-rc-2026-03-15` snapshot; its triggers have no
//! `dependencies.middleware`. Spin main (4.1) serves final
//! `wasi:http/handler@0.3.0` too, keeps providing the `rc-2026-03-15`
//! snapshot next to `0.3.0`, and chains `dependencies.middleware`
//! components that import and export `wasi:http/handler@0.3.0`.

use anyhow::{Context as _, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use wasmparser::{Parser, Payload};

/// A host `check` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `edge-host serve` (WASI 0.3, `edge:fetch` provided).
    EdgeHost,
    /// `wasmtime serve -Scli` 49 (WASI 0.3 and 0.2).
    WasmtimeServe,
    /// Spin 4.1+ / main (WASI 0.3 `wasi:http@0.3.0`, the
    /// `0.3.0-rc-2026-03-15` snapshot, and 0.2; `dependencies.middleware`).
    Spin,
    /// Spin 4.0.x (WASI 0.3 only as the `0.3.0-rc-2026-03-15` snapshot, and
    /// 0.2).
    #[value(name = "spin-4.0")]
    Spin40,
    /// Hosts that only serve `wasi:http/incoming-handler@0.2.x` (jco serve,
    /// Spin 3.x, wasmCloud).
    P2,
}

impl Target {
    const ALL: [Target; 5] = [
        Target::EdgeHost,
        Target::WasmtimeServe,
        Target::Spin,
        Target::Spin40,
        Target::P2,
    ];

    fn label(self) -> &'static str {
        match self {
            Target::EdgeHost => "edge-host",
            Target::WasmtimeServe => "wasmtime serve",
            Target::Spin => "Spin 4.1+",
            Target::Spin40 => "Spin 4.0.x",
            Target::P2 => "p2-only hosts",
        }
    }
}

/// `edge-host check` arguments.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The component to check.
    file: PathBuf,

    /// Exit non-zero unless this host can run the component.
    #[arg(long, value_enum)]
    target: Option<Target>,
}

/// The top-level imports and exports of a component.
#[derive(Debug, Default)]
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
    /// It embeds other components with code of their own: a composition
    /// (e.g. by `wac`), not one crate's build.
    composed: bool,
}

/// The `wasi:http@0.3.0` handler: a middleware imports it (its next hop),
/// every WASI 0.3 HTTP component exports it.
const HANDLER_P3: &str = "wasi:http/handler@0.3.0";

/// The WASI 0.3 release-candidate snapshot Spin 4.0.x knows (and Spin 4.1+
/// still provides).
const SPIN_RC: &str = "0.3.0-rc-2026-03-15";

/// Where `cargo xtask build` puts the `edge:fetch` adapter, relative to the
/// edgeware repository.
const ADAPTER: &str = "dist/edge-fetch-adapter.wasm";

/// Runs the check, prints the report, and returns whether the chosen target
/// (if any) can run the component. A file that is not a readable component
/// is an error.
pub fn run(args: &CheckArgs) -> anyhow::Result<bool> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let surface = surface(&bytes).with_context(|| format!("{}", args.file.display()))?;
    let (report, verdicts) = report(&args.file, &surface);
    print!("{report}");
    Ok(match args.target {
        Some(target) => verdicts.iter().any(|(t, ok)| *t == target && *ok),
        None => true,
    })
}

/// Reads the top-level import and export names of a component.
fn surface(bytes: &[u8]) -> anyhow::Result<Surface> {
    if Parser::is_core_wasm(bytes) {
        bail!(
            "this is a core WebAssembly module, not a component: build it for \
             `wasm32-wasip2` (which links a component), or wrap it with \
             `wasm-tools component new`"
        );
    }
    if !Parser::is_component(bytes) {
        bail!("not a WebAssembly component (no `\\0asm` component header)");
    }
    let mut surface = Surface::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.context("malformed component")? {
            // A core module one level down is the code of a nested
            // component: a composition. (A single crate's component nests
            // only small code-less components, and its modules sit at the
            // top.)
            Payload::ModuleSection { .. } => {
                surface.composed |= depth == 1;
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    surface
                        .imports
                        .push(import.context("malformed import")?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    surface
                        .exports
                        .push(export.context("malformed export")?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

/// `wasi:http/handler@0.3.0` → (`wasi:http`, `handler`, `0.3.0`).
fn split(name: &str) -> (&str, &str, &str) {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let (package, interface) = path.split_once('/').unwrap_or((path, ""));
    (package, interface, version)
}

/// A WASI 0.2 release (`0.2.x`), not a pre-release snapshot.
fn is_p2(version: &str) -> bool {
    version.starts_with("0.2.") && !version.contains('-')
}

/// Whether `target` provides the import `name`; `Err` says why not.
fn provides(target: Target, name: &str) -> Result<(), &'static str> {
    let (package, interface, version) = split(name);
    let wasi = matches!(
        package,
        "wasi:cli"
            | "wasi:clocks"
            | "wasi:random"
            | "wasi:filesystem"
            | "wasi:sockets"
            | "wasi:io"
            | "wasi:http"
    );
    match package {
        "edge:fetch" if target == Target::EdgeHost => Ok(()),
        "edge:fetch" => Err("edgeware host interface"),
        "wasi:http" if interface == "handler" => next_hop(target, version),
        "wasi:http" if target == Target::EdgeHost && is_p2(version) => {
            Err("edge-host provides wasi:http@0.3.0 only")
        }
        _ if wasi => wasi_version(target, version),
        "wasi:config" | "wasi:keyvalue" | "fermyon:spin"
            if matches!(target, Target::Spin | Target::Spin40) =>
        {
            Ok(())
        }
        _ if package.starts_with("spin:") && matches!(target, Target::Spin | Target::Spin40) => {
            Ok(())
        }
        _ => Err("not provided by this host"),
    }
}

/// Whether `target` provides a standard WASI interface at `version`.
fn wasi_version(target: Target, version: &str) -> Result<(), &'static str> {
    let (p3, rc) = (version == "0.3.0", version == SPIN_RC);
    match target {
        _ if is_p2(version) => Ok(()),
        Target::EdgeHost | Target::WasmtimeServe if p3 => Ok(()),
        Target::Spin if p3 || rc => Ok(()),
        Target::Spin40 if rc => Ok(()),
        Target::Spin40 if p3 => {
            Err("final WASI 0.3.0: Spin 4.0.x has the 0.3.0-rc-2026-03-15 snapshot only")
        }
        Target::P2 if p3 || rc => Err("WASI 0.3 interface"),
        _ if rc => Err("WASI 0.3 release-candidate snapshot (Spin 4.0.x and 4.1+ only)"),
        _ if version.contains("-rc-") => {
            Err("WASI release-candidate snapshot no host here provides")
        }
        _ => Err("unsupported WASI version"),
    }
}

/// Whether `target` provides a `wasi:http/handler` import (a middleware's
/// next hop) at `version`.
fn next_hop(target: Target, version: &str) -> Result<(), &'static str> {
    match target {
        // Spin chains such components natively (`dependencies.middleware`).
        Target::EdgeHost | Target::Spin if version == "0.3.0" => Ok(()),
        Target::Spin => Err("next hop of a middleware: Spin chains wasi:http/handler@0.3.0 only"),
        Target::Spin40 => {
            Err("next hop of a middleware: Spin 4.0.x has no dependencies.middleware")
        }
        _ => Err("next hop of a middleware"),
    }
}

/// Whether `target` can serve a component with these exports.
fn serves(target: Target, exports: &[String]) -> Result<(), String> {
    let p3 = exports.iter().any(|e| e == HANDLER_P3);
    let rc = exports
        .iter()
        .any(|e| *e == format!("wasi:http/handler@{SPIN_RC}"));
    let p2 = exports.iter().any(|e| {
        let (package, interface, version) = split(e);
        package == "wasi:http" && interface == "incoming-handler" && is_p2(version)
    });
    match target {
        _ if !(p3 || rc || p2) => Err(format!(
            "exports no HTTP handler ({HANDLER_P3}, wasi:http/handler@{SPIN_RC} or \
             wasi:http/incoming-handler@0.2.x)"
        )),
        Target::EdgeHost if !p3 => Err(format!("edge-host serves WASI 0.3 ({HANDLER_P3}) only")),
        Target::WasmtimeServe if !(p3 || p2) => Err(format!(
            "wasmtime serve 49 serves {HANDLER_P3} and wasi:http/incoming-handler@0.2.x"
        )),
        Target::Spin40 if !(rc || p2) => Err(format!(
            "exports {HANDLER_P3} (final WASI 0.3): Spin 4.0.x serves \
             wasi:http/handler@{SPIN_RC} and wasi:http/incoming-handler@0.2.x"
        )),
        Target::P2 if !p2 => {
            Err("exports WASI 0.3 only: p2-only hosts need wasi:http/incoming-handler@0.2.x".into())
        }
        _ => Ok(()),
    }
}

/// The report text, and per target whether it can run the component.
fn report(file: &Path, surface: &Surface) -> (String, Vec<(Target, bool)>) {
    let middleware = surface.imports.iter().any(|i| i == HANDLER_P3);
    let shown = file.display();
    let mut out = String::new();
    let shape = if middleware {
        "middleware (imports and exports wasi:http/handler@0.3.0)"
    } else if surface.composed {
        "component (a composition)"
    } else {
        "component"
    };
    let _ = writeln!(out, "{shown}: {shape}");
    let _ = writeln!(out, "  exports: {}", list(&surface.exports));
    let _ = writeln!(out, "  imports: {}", list(&surface.imports));
    let mut verdicts = Vec::new();
    for target in Target::ALL {
        let mut problems: Vec<String> = Vec::new();
        if let Err(why) = serves(target, &surface.exports) {
            problems.push(why);
        }
        for import in &surface.imports {
            if let Err(why) = provides(target, import) {
                problems.push(format!("missing {import} ({why})"));
            }
        }
        let ok = problems.is_empty();
        verdicts.push((target, ok));
        let verdict = if ok { "yes" } else { "NO " };
        let _ = writeln!(out, "\n{verdict} {}", target.label());
        for problem in &problems {
            let _ = writeln!(out, "      {problem}");
        }
        for line in advice(target, file, ok, surface) {
            let _ = writeln!(out, "      {line}");
        }
    }
    (out, verdicts)
}

/// The command that runs it on `target`, or the commands that fix what is
/// missing: `run:` and `fix:` lines are complete commands (placeholders in
/// `<...>`), the others explain them.
fn advice(target: Target, file: &Path, ok: bool, surface: &Surface) -> Vec<String> {
    let shown = file.display();
    let middleware = surface.imports.iter().any(|i| i == HANDLER_P3);
    let uses_edge_fetch = surface.imports.iter().any(|i| split(i).0 == "edge:fetch");
    let p3 = surface.exports.iter().any(|e| e == HANDLER_P3);
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component");
    if ok {
        return vec![match target {
            Target::EdgeHost if middleware => format!(
                "run: edge-host serve {shown} --origin <origin.wasm>   (or --upstream http://host:port)"
            ),
            Target::EdgeHost => format!("run: edge-host serve {shown}"),
            Target::WasmtimeServe => format!("run: wasmtime serve -Scli {shown}"),
            Target::Spin if middleware => format!(
                "run: list it under the trigger's `dependencies.middleware` in spin.toml (source = \"{shown}\")"
            ),
            Target::Spin | Target::Spin40 => {
                format!("run: spin.toml component with source = \"{shown}\"")
            }
            Target::P2 => format!("run: wasmtime serve -Scli {shown}   (or jco serve {shown})"),
        }];
    }
    match target {
        Target::EdgeHost if !p3 => vec![format!("run it elsewhere: wasmtime serve -Scli {shown}")],
        Target::WasmtimeServe | Target::Spin if p3 && (uses_edge_fetch || middleware) => {
            // wasmtime serve cannot provide a next hop: plug an origin in.
            let origin = middleware && target == Target::WasmtimeServe;
            compose_fix(file, stem, origin, uses_edge_fetch)
        }
        Target::Spin40 | Target::P2 if p3 => p2_fix(stem, surface.composed),
        _ => Vec::new(),
    }
}

/// Composing the `edge:fetch` adapter (and, for `wasmtime serve`, an origin
/// as the middleware's next hop) into the component.
fn compose_fix(file: &Path, stem: &str, origin: bool, adapter: bool) -> Vec<String> {
    let shown = file.display();
    let output = format!("{stem}-portable.wasm");
    let (adapter_flag, origin_arg) = (
        if adapter { " --adapter" } else { "" },
        if origin { " <origin.wasm>" } else { "" },
    );
    let mut lines = vec![
        format!("fix: cargo xtask compose{adapter_flag} -o {output} {shown}{origin_arg}"),
        "     (in the edgeware repository, after `cargo xtask build`)".to_string(),
    ];
    let plugs = [
        origin.then_some("<origin.wasm>"),
        adapter.then_some(ADAPTER),
    ];
    let plugs: String = plugs
        .iter()
        .flatten()
        .map(|plug| format!(" --plug {plug}"))
        .collect();
    lines.push(format!("     or: wac plug {shown}{plugs} -o {output}"));
    if origin && adapter {
        lines.push(
            "     (wac plug fills the middleware's own imports only: an origin that imports \
             edge:fetch itself keeps that import; cargo xtask compose --adapter plugs every link)"
                .to_string(),
        );
    }
    lines
}

/// Rebuilding against WASI 0.2, as `cargo xtask build` does into `dist/p2/`.
fn p2_fix(stem: &str, composed: bool) -> Vec<String> {
    let krate = if composed { "<crate>" } else { stem };
    let mut lines = vec![
        format!(
            "fix: cargo build --target wasm32-wasip2 --profile guest --features edgeware/p2 \
             --target-dir target/p2 -p {krate}"
        ),
        format!(
            "     (in the workspace that builds it; the component lands in \
             target/p2/wasm32-wasip2/guest/{}.wasm; composition cannot do it)",
            krate.replace('-', "_")
        ),
    ];
    if composed {
        lines.push(
            "     (a composition: rebuild each of its components; WASI 0.2 cannot compose a \
             chain, each p2 middleware forwards to EDGEWARE_UPSTREAM over HTTP)"
                .to_string(),
        );
    }
    lines
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surface(imports: &[&str], exports: &[&str]) -> Surface {
        Surface {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
            composed: false,
        }
    }

    /// Per target, in [`Target::ALL`] order (edge-host, wasmtime serve,
    /// Spin 4.1+, Spin 4.0.x, p2).
    fn verdicts(s: &Surface) -> Vec<bool> {
        report(Path::new("x.wasm"), s)
            .1
            .into_iter()
            .map(|(_, ok)| ok)
            .collect()
    }

    const P2_FIX: &str = "fix: cargo build --target wasm32-wasip2 --profile guest \
                          --features edgeware/p2 --target-dir target/p2 -p";

    fn sdk_middleware() -> Surface {
        surface(
            &[
                "wasi:cli/environment@0.2.6",
                "wasi:http/types@0.3.0",
                "edge:fetch/wait-until@0.1.0",
                HANDLER_P3,
            ],
            &[HANDLER_P3],
        )
    }

    #[test]
    fn an_sdk_middleware_runs_on_edge_host_only() {
        let s = sdk_middleware();
        assert_eq!(verdicts(&s), [true, false, false, false, false]);
        let (text, _) = report(Path::new("dist/mw.wasm"), &s);
        for fix in [
            "fix: cargo xtask compose --adapter -o mw-portable.wasm dist/mw.wasm <origin.wasm>",
            "or: wac plug dist/mw.wasm --plug <origin.wasm> --plug dist/edge-fetch-adapter.wasm -o mw-portable.wasm",
            "an origin that imports edge:fetch itself keeps that import",
            // For Spin the middleware needs no origin: Spin chains it.
            "fix: cargo xtask compose --adapter -o mw-portable.wasm dist/mw.wasm\n",
            "or: wac plug dist/mw.wasm --plug dist/edge-fetch-adapter.wasm -o mw-portable.wasm",
            &format!("{P2_FIX} mw\n"),
            "target/p2/wasm32-wasip2/guest/mw.wasm",
        ] {
            assert!(text.contains(fix), "{fix:?} in:\n{text}");
        }
    }

    #[test]
    fn a_portable_service_runs_on_every_final_p3_host() {
        let s = surface(
            &[
                "wasi:random/random@0.3.0",
                "wasi:io/streams@0.2.6",
                "wasi:http/client@0.3.0",
            ],
            &[HANDLER_P3],
        );
        assert_eq!(verdicts(&s), [true, true, true, false, false]);
        let (text, _) = report(Path::new("app.wasm"), &s);
        assert!(
            text.contains("Spin 4.0.x serves wasi:http/handler@0.3.0-rc-2026-03-15"),
            "{text}"
        );
        assert!(text.contains(&format!("{P2_FIX} app\n")), "{text}");
    }

    #[test]
    fn a_composition_is_rebuilt_crate_by_crate_for_p2() {
        let mut s = surface(&["wasi:http/types@0.3.0"], &[HANDLER_P3]);
        s.composed = true;
        let (text, _) = report(Path::new("app.wasm"), &s);
        assert!(text.contains(&format!("{P2_FIX} <crate>\n")), "{text}");
        assert!(text.contains("rebuild each of its components"), "{text}");
    }

    #[test]
    fn a_p2_component_runs_everywhere_but_edge_host() {
        let s = surface(
            &[
                "wasi:http/types@0.2.6",
                "wasi:http/outgoing-handler@0.2.6",
                "wasi:io/streams@0.2.6",
            ],
            &["wasi:http/incoming-handler@0.2.6"],
        );
        assert_eq!(verdicts(&s), [false, true, true, true, true]);
    }

    #[test]
    fn the_rc_2026_03_15_snapshot_runs_on_spin_only() {
        let s = surface(
            &[
                "wasi:http/types@0.3.0-rc-2026-03-15",
                "wasi:http/client@0.3.0-rc-2026-03-15",
                "wasi:cli/environment@0.3.0-rc-2026-03-15",
                "wasi:io/streams@0.2.6",
            ],
            &["wasi:http/handler@0.3.0-rc-2026-03-15"],
        );
        assert_eq!(verdicts(&s), [false, false, true, true, false]);
        let (text, _) = report(Path::new("x.wasm"), &s);
        assert!(
            text.contains("release-candidate snapshot (Spin 4.0.x and 4.1+ only)"),
            "{text}"
        );
    }

    #[test]
    fn spin_4_0_lacks_final_wasi_0_3_and_middleware() {
        // Final 0.3.0 imports behind an rc export: Spin 4.0.x has neither.
        let s = surface(
            &["wasi:clocks/monotonic-clock@0.3.0"],
            &["wasi:http/handler@0.3.0-rc-2026-03-15"],
        );
        let (text, ok) = report(Path::new("x.wasm"), &s);
        assert!(!ok[3].1, "{text}");
        assert!(text.contains("Spin 4.0.x has the 0.3.0-rc-2026-03-15 snapshot only"));
        // A middleware: Spin 4.0.x has no dependencies.middleware, and
        // Spin 4.1+ chains final wasi:http/handler@0.3.0 only.
        let s = surface(
            &["wasi:http/handler@0.3.0-rc-2026-03-15"],
            &["wasi:http/handler@0.3.0-rc-2026-03-15"],
        );
        let (text, _) = report(Path::new("x.wasm"), &s);
        assert_eq!(verdicts(&s), [false, false, false, false, false]);
        assert!(
            text.contains("Spin 4.0.x has no dependencies.middleware"),
            "{text}"
        );
        assert!(
            text.contains("Spin chains wasi:http/handler@0.3.0 only"),
            "{text}"
        );
        // Spin 4.0.x does take the p2 build of the SDK middleware.
        assert_eq!(
            verdicts(&surface(
                &["wasi:http/types@0.2.12", "wasi:cli/environment@0.2.12"],
                &["wasi:http/incoming-handler@0.2.12"],
            )),
            [false, true, true, true, true]
        );
    }

    #[test]
    fn other_snapshots_and_unknown_imports_are_named() {
        let s = surface(
            &["wasi:http/types@0.3.0-rc-2025-09-16", "acme:db/query@1.0.0"],
            &[HANDLER_P3],
        );
        let (text, ok) = report(Path::new("x.wasm"), &s);
        assert!(ok.iter().all(|(_, ok)| !ok));
        assert!(
            text.contains("release-candidate snapshot no host here provides"),
            "{text}"
        );
        assert!(text.contains("missing acme:db/query@1.0.0"), "{text}");
    }

    #[test]
    fn spin_interfaces_are_spin_only() {
        let s = surface(
            &["spin:key-value/key-value@3.0.0", "wasi:http/types@0.3.0"],
            &[HANDLER_P3],
        );
        assert_eq!(verdicts(&s), [false, false, true, false, false]);
    }

    #[test]
    fn files_that_are_not_components_are_refused_clearly() {
        let module = b"\0asm\x01\0\0\0";
        assert!(
            super::surface(module)
                .unwrap_err()
                .to_string()
                .contains("core WebAssembly module")
        );
        assert!(
            super::surface(b"hello")
                .unwrap_err()
                .to_string()
                .contains("not a WebAssembly component")
        );
    }
}
