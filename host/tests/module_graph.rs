//! The host's modules import each other in one direction only: no module
//! imports one that imports it back (directly or through others), and the
//! folders of `src/` (`ops`, `http`, `deferred`, `engine`, `server`, `check`)
//! depend on each other without cycles too. The same holds for
//! edge-fetch-host (`lib/src`).
//!
//! An edge is any `crate::a::b` or `super::b` path in a module's code
//! (comments left out), resolved to the longest module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module path (`engine::worker`, `""` for the crate root) → its source.
type Sources = BTreeMap<String, String>;

/// Module → the modules it refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn sources(src: &Path) -> Sources {
    let mut found = Sources::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("readable source folder") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("readable source file");
                found.insert(module_of(src, &path), text);
            }
        }
    }
    found
}

/// `src/engine/worker.rs` → `engine::worker`; `mod.rs`, `main.rs` and
/// `lib.rs` name their folder's module.
fn module_of(src: &Path, file: &Path) -> String {
    let relative: PathBuf = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "main" | "lib")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The text without `//` comments (doc comments included).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal ("http://...") also ends the
            // line here; no import follows one in this code base.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::`/`super::` path in `module`'s code, as segment lists
/// relative to the crate root. `super::` inside the inline `mod tests` of a
/// file names the file's own module.
fn references(module: &str, text: &str) -> Vec<Vec<String>> {
    let code = code(text);
    let tests_at = code.find("mod tests {").unwrap_or(code.len());
    let own: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut found = Vec::new();
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword) {
            let start = from + at;
            from = start + keyword.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[from..];
            assert!(
                !rest.starts_with('{'),
                "{module}: write one `use {keyword}path` per item, not `{keyword}{{...}}`"
            );
            let path = segments(rest);
            let mut full = if keyword == "crate::" {
                Vec::new()
            } else if start > tests_at {
                own.clone()
            } else {
                own[..own.len().saturating_sub(1)].to_vec()
            };
            full.extend(path);
            found.push(full);
        }
    }
    found
}

/// The `a::b::C` path at the start of `text`: identifiers joined by `::`.
fn segments(text: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    path
}

fn graph(sources: &Sources) -> Graph {
    let mut graph = Graph::new();
    for (module, text) in sources {
        let edges = graph.entry(module.clone()).or_default();
        for path in references(module, text) {
            // The longest prefix of the path that is a module.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|prefix| sources.contains_key(prefix))
                .unwrap_or_default();
            if target != *module {
                edges.insert(target);
            }
        }
    }
    graph
}

/// The folder-level graph: each module counts as its top-level folder (or
/// file) under `src/`.
fn folders(graph: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    let mut folded = Graph::new();
    for (module, targets) in graph {
        let edges = folded.entry(top(module)).or_default();
        edges.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(module)));
    }
    folded
}

/// One cycle of `graph`, if it has any.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn assert_acyclic(src: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let modules = graph(&sources(&root));
    assert!(modules.len() > 3, "{src}: no modules found");
    let name = |m: &String| {
        if m.is_empty() {
            "crate".into()
        } else {
            m.clone()
        }
    };
    if let Some(cycle) = cycle(&modules) {
        let cycle: Vec<String> = cycle.iter().map(name).collect();
        panic!("{src}: modules import each other: {}", cycle.join(" -> "));
    }
    if let Some(cycle) = cycle(&folders(&modules)) {
        let cycle: Vec<String> = cycle.iter().map(name).collect();
        panic!(
            "{src}: folders depend on each other: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn host_modules_import_one_way() {
    assert_acyclic("src");
}

#[test]
fn library_modules_import_one_way() {
    assert_acyclic("lib/src");
}

#[test]
fn a_cycle_is_found() {
    let graph = Graph::from([
        ("a".into(), BTreeSet::from(["b".into()])),
        ("b".into(), BTreeSet::from(["c".into()])),
        ("c".into(), BTreeSet::from(["a".into()])),
    ]);
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let text = "use crate::engine::state::StoreState;\nuse super::pool::Job;\n// crate::ops\n";
    let expected: Vec<Vec<String>> = [["engine", "state", "StoreState"], ["engine", "pool", "Job"]]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(references("engine::worker", text), expected);
}
