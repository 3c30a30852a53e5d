//! `edge-host check`: which hosts can run a component, what they lack, and
//! the command that fixes it.
//!
//! Reads only the component's own (top-level) import and export names, with
//! `wasmparser`, so it is instant and needs no compilation. What each host
//! provides is written down here, per interface, from the hosts' sources:
//! `edge-host` (this binary), `wasmtime serve -Scli` 49, Spin 4.1+ (main),
//! and p2-only hosts (jco, Spin 3.x/4.0, wasmCloud) that serve
//! `wasi:http/incoming-handler@0.2.x`.

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
    /// Spin 4.1+ / main (WASI 0.3 `wasi:http@0.3.0` and 0.2).
    Spin,
    /// Hosts that only serve `wasi:http/incoming-handler@0.2.x` (jco serve,
    /// Spin 4.0 and older, wasmCloud).
    P2,
}

impl Target {
    const ALL: [Target; 4] = [
        Target::EdgeHost,
        Target::WasmtimeServe,
        Target::Spin,
        Target::P2,
    ];

    fn label(self) -> &'static str {
        match self {
            Target::EdgeHost => "edge-host",
            Target::WasmtimeServe => "wasmtime serve",
            Target::Spin => "Spin 4.1+",
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
}

/// The `wasi:http@0.3.0` handler: a middleware imports it (its next hop),
/// every WASI 0.3 HTTP component exports it.
const HANDLER_P3: &str = "wasi:http/handler@0.3.0";

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
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
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

fn is_p2(version: &str) -> bool {
    version.starts_with("0.2.")
}

/// Whether `target` provides the import `name`; `Err` says why not.
fn provides(target: Target, name: &str) -> Result<(), &'static str> {
    let (package, _, version) = split(name);
    let standard = matches!(
        package,
        "wasi:cli" | "wasi:clocks" | "wasi:random" | "wasi:filesystem" | "wasi:sockets" | "wasi:io"
    );
    if version.contains("-rc-") {
        return Err("WASI 0.3 release-candidate snapshot (Spin 4.0.x only)");
    }
    match (package, target) {
        ("edge:fetch", Target::EdgeHost) => Ok(()),
        ("edge:fetch", _) => Err("edgeware host interface"),
        ("wasi:http", _) if name == HANDLER_P3 => match target {
            // Spin chains such components natively (`dependencies.middleware`).
            Target::EdgeHost | Target::Spin => Ok(()),
            _ => Err("next hop of a middleware"),
        },
        (_, Target::P2) if standard || package == "wasi:http" => {
            if is_p2(version) {
                Ok(())
            } else {
                Err("WASI 0.3 interface")
            }
        }
        (_, _) if standard && (is_p2(version) || version == "0.3.0") => Ok(()),
        ("wasi:http", Target::EdgeHost) if version == "0.3.0" => Ok(()),
        ("wasi:http", Target::EdgeHost) => Err("edge-host provides wasi:http@0.3.0 only"),
        ("wasi:http", Target::WasmtimeServe | Target::Spin) => {
            if version == "0.3.0" || is_p2(version) {
                Ok(())
            } else {
                Err("unsupported wasi:http version")
            }
        }
        ("wasi:config" | "wasi:keyvalue" | "fermyon:spin" | "spin:variables", Target::Spin) => {
            Ok(())
        }
        _ => Err("not provided by this host"),
    }
}

/// Whether `target` can serve a component with these exports.
fn serves(target: Target, exports: &[String]) -> Result<(), String> {
    let p3 = exports.iter().any(|e| e == HANDLER_P3);
    let p2 = exports.iter().any(|e| {
        let (package, interface, version) = split(e);
        package == "wasi:http" && interface == "incoming-handler" && is_p2(version)
    });
    match (target, p3, p2) {
        (_, false, false) => Err(format!(
            "exports no HTTP handler ({HANDLER_P3} or wasi:http/incoming-handler@0.2.x)"
        )),
        (Target::EdgeHost, false, true) => Err(
            "a WASI 0.2 component: edge-host serves WASI 0.3 (wasi:http/handler@0.3.0) only".into(),
        ),
        (Target::P2, true, false) => Err(format!(
            "exports {HANDLER_P3} (WASI 0.3): p2-only hosts need wasi:http/incoming-handler@0.2.x"
        )),
        _ => Ok(()),
    }
}

/// The report text, and per target whether it can run the component.
fn report(file: &Path, surface: &Surface) -> (String, Vec<(Target, bool)>) {
    let middleware = surface.imports.iter().any(|i| i == HANDLER_P3);
    let uses_edge_fetch = surface.imports.iter().any(|i| split(i).0 == "edge:fetch");
    let shown = file.display();
    let mut out = String::new();
    let shape = if middleware {
        "middleware (imports and exports wasi:http/handler@0.3.0)"
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
        if let Some(fix) = fix(target, file, ok, middleware, uses_edge_fetch, surface) {
            let _ = writeln!(out, "      {fix}");
        }
    }
    (out, verdicts)
}

/// The command that runs it on `target`, or that fixes what is missing.
fn fix(
    target: Target,
    file: &Path,
    ok: bool,
    middleware: bool,
    uses_edge_fetch: bool,
    surface: &Surface,
) -> Option<String> {
    let shown = file.display();
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component");
    let p3 = surface.exports.iter().any(|e| e == HANDLER_P3);
    if ok {
        return Some(match target {
            Target::EdgeHost if middleware => format!(
                "run: edge-host serve {shown} --origin <origin.wasm>   (or --upstream http://host:port)"
            ),
            Target::EdgeHost => format!("run: edge-host serve {shown}"),
            Target::WasmtimeServe => format!("run: wasmtime serve -Scli {shown}"),
            Target::Spin if middleware => format!(
                "run: list it under the trigger's `dependencies.middleware` in spin.toml (source = \"{shown}\")"
            ),
            Target::Spin => format!("run: spin.toml component with source = \"{shown}\""),
            Target::P2 => format!("run: wasmtime serve -Scli {shown}   (or jco serve {shown})"),
        });
    }
    match target {
        Target::EdgeHost if !p3 => Some(format!("run it elsewhere: wasmtime serve -Scli {shown}")),
        Target::WasmtimeServe | Target::Spin if p3 && (uses_edge_fetch || middleware) => {
            let origin = if middleware && target == Target::WasmtimeServe {
                " --plug <origin.wasm>"
            } else {
                ""
            };
            let adapter = if uses_edge_fetch {
                " --plug edge-fetch-adapter.wasm"
            } else {
                ""
            };
            let origin_arg = if origin.is_empty() {
                ""
            } else {
                " <origin.wasm>"
            };
            let adapter_flag = if uses_edge_fetch { " --adapter" } else { "" };
            Some(format!(
                "fix: wac plug {shown}{origin}{adapter} -o {stem}-portable.wasm\n      \
                 (in the edgeware repository: cargo xtask compose{adapter_flag} -o {stem}-portable.wasm {shown}{origin_arg})"
            ))
        }
        Target::P2 if p3 => Some(
            "fix: rebuild against WASI 0.2: cargo build --target wasm32-wasip2 --features edgeware/p2 \
             (cargo xtask build puts such builds in dist/p2/); composition cannot do it"
                .to_string(),
        ),
        _ => None,
    }
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
        }
    }

    fn verdicts(s: &Surface) -> Vec<bool> {
        report(Path::new("x.wasm"), s)
            .1
            .into_iter()
            .map(|(_, ok)| ok)
            .collect()
    }

    #[test]
    fn an_sdk_middleware_runs_on_edge_host_only() {
        let s = surface(
            &[
                "wasi:cli/environment@0.2.6",
                "wasi:http/types@0.3.0",
                "edge:fetch/wait-until@0.1.0",
                HANDLER_P3,
            ],
            &[HANDLER_P3],
        );
        assert_eq!(verdicts(&s), [true, false, false, false]);
        let (text, _) = report(Path::new("mw.wasm"), &s);
        assert!(text.contains("wac plug mw.wasm --plug <origin.wasm> --plug edge-fetch-adapter.wasm -o mw-portable.wasm"), "{text}");
    }

    #[test]
    fn a_portable_service_runs_on_every_p3_host() {
        let s = surface(
            &[
                "wasi:random/random@0.3.0",
                "wasi:io/streams@0.2.6",
                "wasi:http/client@0.3.0",
            ],
            &[HANDLER_P3],
        );
        assert_eq!(verdicts(&s), [true, true, true, false]);
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
        assert_eq!(verdicts(&s), [false, true, true, true]);
    }

    #[test]
    fn release_candidate_snapshots_and_unknown_imports_are_named() {
        let s = surface(
            &["wasi:http/types@0.3.0-rc-2026-03-15", "acme:db/query@1.0.0"],
            &[HANDLER_P3],
        );
        let (text, ok) = report(Path::new("x.wasm"), &s);
        assert!(ok.iter().all(|(_, ok)| !ok));
        assert!(text.contains("release-candidate snapshot"), "{text}");
        assert!(text.contains("missing acme:db/query@1.0.0"), "{text}");
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
