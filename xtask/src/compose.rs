//! Composition with the `wac-graph` library (what `wac plug` does, without
//! installing the CLI): a chain of `wasi:http/handler@0.3.0` components,
//! each plugged into the `handler` import of the one before it, optionally
//! with the `edge:fetch` adapter plugged into every `edge:fetch` import.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, NodeId, PackageId};

/// The interface every link of a chain exports, and every middleware
/// imports as its next hop.
pub const HANDLER: &str = "wasi:http/handler@0.3.0";

/// One composed artifact of `cargo xtask build`.
pub struct Recipe {
    /// Where it lands, relative to `dist/`.
    pub output: &'static str,
    /// The chain, first (outermost) to last, as `dist/<name>.wasm` names.
    /// Each link's `wasi:http/handler` import is plugged with the next
    /// link's export; the last link's import (if any) stays an import.
    pub chain: &'static [&'static str],
    /// Plug the `edge:fetch` adapter into every `edge:fetch` import.
    pub adapter: bool,
    /// What it is for, printed by the build.
    pub purpose: &'static str,
}

/// The `dist/` name of the adapter component.
pub const ADAPTER: &str = "edge-fetch-adapter";

/// The composed artifacts, with stable names (documented in the README).
pub const RECIPES: &[Recipe] = &[
    Recipe {
        output: "composed/hello-app.wasm",
        chain: &["hello-middleware", "demo-origin"],
        adapter: false,
        purpose: "service for edge-host (imports edge:fetch)",
    },
    Recipe {
        output: "composed/chain-app.wasm",
        chain: &["hello-middleware", "fixture-middleware", "demo-origin"],
        adapter: false,
        purpose: "two middlewares in front of an origin, for edge-host",
    },
    Recipe {
        output: "composed/auth-app.wasm",
        chain: &["auth-middleware", "demo-origin"],
        adapter: false,
        purpose: "the Clerk-like auth middleware in front of the origin, for edge-host",
    },
    Recipe {
        output: "composed/auth-fixture-app.wasm",
        chain: &["auth-middleware", "fixture-middleware", "demo-origin"],
        adapter: false,
        purpose: "the auth middleware in front of the test fixture: the load test's chain",
    },
    Recipe {
        output: "composed/fixture-app.wasm",
        chain: &["fixture-middleware", "demo-origin"],
        adapter: false,
        purpose: "test fixture in front of the origin, for edge-host",
    },
    Recipe {
        output: "composed/next-fixture-app.wasm",
        chain: &["next-fixture", "demo-origin"],
        adapter: false,
        purpose: "the Next.js contract fixture in front of the origin, for edge-host and Workers",
    },
    Recipe {
        output: "composed/first-app.wasm",
        chain: &["first-middleware", "demo-origin"],
        adapter: false,
        purpose: "the README's first middleware in front of the origin, for edge-host and Workers",
    },
    Recipe {
        output: "portable/auth-app.wasm",
        chain: &["auth-middleware", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service: the benchmarks' component",
    },
    Recipe {
        output: "portable/hello-app.wasm",
        chain: &["hello-middleware", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service: wasmtime serve, Spin 4.1+",
    },
    Recipe {
        output: "portable/fixture-app.wasm",
        chain: &["fixture-middleware", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service (test fixture)",
    },
    Recipe {
        output: "portable/next-fixture-app.wasm",
        chain: &["next-fixture", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service (the Next.js contract test fixture)",
    },
    Recipe {
        output: "portable/first-app.wasm",
        chain: &["first-middleware", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service (the README's first middleware)",
    },
    Recipe {
        output: "portable/chain-app.wasm",
        chain: &["hello-middleware", "fixture-middleware", "demo-origin"],
        adapter: true,
        purpose: "plain wasi:http service, two middlewares in front of an origin",
    },
    Recipe {
        output: "portable/hello-middleware.wasm",
        chain: &["hello-middleware"],
        adapter: true,
        purpose: "plain wasi:http middleware: a Spin `dependencies.middleware` entry",
    },
];

/// Builds every recipe from the components in `dist`.
pub fn compose_all(dist: &Path) -> anyhow::Result<()> {
    for recipe in RECIPES {
        let inputs: Vec<PathBuf> = recipe
            .chain
            .iter()
            .map(|name| dist.join(format!("{name}.wasm")))
            .collect();
        let adapter = recipe.adapter.then(|| dist.join(format!("{ADAPTER}.wasm")));
        let bytes = compose(&inputs, adapter.as_deref())
            .with_context(|| format!("composing dist/{}", recipe.output))?;
        let output = dist.join(recipe.output);
        std::fs::create_dir_all(output.parent().expect("recipes live in a folder"))?;
        std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
        println!(
            "  dist/{}  {} bytes  ({})",
            recipe.output,
            bytes.len(),
            recipe.purpose
        );
    }
    Ok(())
}

/// Composes `chain` (first = outermost) and, with `adapter`, plugs the
/// adapter's exports into every matching import of every link. Imports left
/// unsatisfied become imports of the result; the result exports the first
/// link's `wasi:http/handler`.
pub fn compose(chain: &[PathBuf], adapter: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let Some((first, _)) = chain.split_first() else {
        bail!("a composition needs at least one component");
    };
    let mut graph = CompositionGraph::new();
    let register = |graph: &mut CompositionGraph, index: usize, path: &Path| {
        let package = Package::from_file(
            &format!("edgeware:link{index}"),
            None,
            path,
            graph.types_mut(),
        )
        .with_context(|| format!("reading {}", path.display()))?;
        graph
            .register_package(package)
            .with_context(|| format!("registering {}", path.display()))
    };
    let adapter = match adapter {
        Some(path) => {
            let package = register(&mut graph, chain.len(), path)?;
            Some((package, graph.instantiate(package)))
        }
        None => None,
    };

    // Instantiate from the innermost link outwards, so that each link's
    // next hop exists when it is instantiated.
    let mut next: Option<(PathBuf, NodeId)> = None;
    for (index, path) in chain.iter().enumerate().rev() {
        let package = register(&mut graph, index, path)?;
        let instance = graph.instantiate(package);
        if !exports(&graph, package, HANDLER) {
            bail!("{} does not export {HANDLER}", path.display());
        }
        if let Some((next_path, next_instance)) = &next {
            if !imports(&graph, package, HANDLER) {
                bail!(
                    "{} does not import {HANDLER}, so {} cannot be its next hop",
                    path.display(),
                    next_path.display()
                );
            }
            let handler = graph.alias_instance_export(*next_instance, HANDLER)?;
            graph.set_instantiation_argument(instance, HANDLER, handler)?;
        }
        if let Some((adapter_package, adapter_instance)) = adapter {
            plug_adapter(
                &mut graph,
                adapter_package,
                adapter_instance,
                package,
                instance,
            )?;
        }
        next = Some((path.clone(), instance));
    }
    let (_, outermost) = next.expect("the chain is not empty");
    let handler = graph
        .alias_instance_export(outermost, HANDLER)
        .with_context(|| format!("{} has no {HANDLER} export", first.display()))?;
    graph.export(handler, HANDLER)?;
    Ok(graph.encode(EncodeOptions::default())?)
}

/// Satisfies each import of `instance` that the adapter exports.
fn plug_adapter(
    graph: &mut CompositionGraph,
    adapter: PackageId,
    adapter_instance: NodeId,
    package: PackageId,
    instance: NodeId,
) -> anyhow::Result<()> {
    let provided: Vec<String> = graph.types()[graph[adapter].ty()]
        .exports
        .keys()
        .filter(|name| imports(graph, package, name))
        .cloned()
        .collect();
    for name in provided {
        let export = graph.alias_instance_export(adapter_instance, &name)?;
        graph.set_instantiation_argument(instance, &name, export)?;
    }
    Ok(())
}

fn imports(graph: &CompositionGraph, package: PackageId, name: &str) -> bool {
    graph.types()[graph[package].ty()]
        .imports
        .contains_key(name)
}

fn exports(graph: &CompositionGraph, package: PackageId, name: &str) -> bool {
    graph.types()[graph[package].ty()]
        .exports
        .contains_key(name)
}
