//! The Spin manifests in `deploy/spin/` (Spin itself is not installable
//! here, so they are documented, not run), parsed with the `toml` crate and
//! held to what Spin's manifest v2 requires, as Spin main's source has it
//! (`crates/manifest/src/schema/v2.rs`, `crates/http/src/config.rs`,
//! `crates/trigger-http/src/middleware.rs`, `crates/capabilities`): the
//! layout, the HTTP trigger's keys, the `dependencies.middleware` entries
//! and their `inherit_configuration`, and that every component they name
//! exists after `cargo xtask build` and passes `edge-host check --target spin`.

use edgeware_tests::{dist_dir, host_binary, root};
use std::path::{Path, PathBuf};
use std::process::Command;
use toml::{Table, Value};

/// The keys of an HTTP trigger: Spin's `Trigger` (`id`, `component`,
/// `components`, `dependencies`) plus `HttpTriggerConfig`'s
/// (`deny_unknown_fields`).
const TRIGGER_KEYS: &[&str] = &[
    "id",
    "component",
    "components",
    "dependencies",
    "route",
    "static_response",
    "executor",
];

/// The keys of a `[component.<id>]` table (Spin's `Component`,
/// `deny_unknown_fields`).
const COMPONENT_KEYS: &[&str] = &[
    "source",
    "description",
    "variables",
    "environment",
    "files",
    "exclude_files",
    "allowed_http_hosts",
    "allowed_outbound_hosts",
    "key_value_stores",
    "sqlite_databases",
    "ai_models",
    "targets",
    "build",
    "tool",
    "dependencies_inherit_configuration",
    "dependencies",
    "profile",
];

/// The capability sets a dependency may inherit (`inherit_configuration`),
/// with the imports each lets through Spin's deny adapter.
const CAPABILITY_SETS: &[(&str, &[&str])] = &[
    ("ai_models", &[]),
    (
        "allowed_outbound_hosts",
        &["wasi:http/client@", "wasi:http/outgoing-handler@"],
    ),
    ("environment", &["wasi:cli/environment@"]),
    ("files", &["wasi:filesystem/preopens@"]),
    ("key_value_stores", &[]),
    ("sqlite_databases", &[]),
    ("variables", &[]),
];

/// A parsed manifest and the folder its relative paths start from.
struct Manifest {
    name: String,
    dir: PathBuf,
    toml: Table,
}

impl Manifest {
    fn read(relative: &str) -> Manifest {
        let path = root().join(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        let toml = text
            .parse::<Table>()
            .unwrap_or_else(|e| panic!("{relative} is not TOML: {e}"));
        Manifest {
            name: relative.to_string(),
            dir: path.parent().unwrap().to_path_buf(),
            toml,
        }
    }

    /// `spin_manifest_version = 2` and a named `[application]`.
    fn assert_v2_layout(&self) {
        let name = &self.name;
        assert_eq!(
            self.toml.get("spin_manifest_version"),
            Some(&Value::Integer(2)),
            "{name}"
        );
        let application = table(&self.toml, "application", name);
        assert!(
            application
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty()),
            "{name}: [application] needs a name"
        );
        for key in self.toml.keys() {
            assert!(
                [
                    "spin_manifest_version",
                    "application",
                    "variables",
                    "trigger",
                    "component"
                ]
                .contains(&key.as_str()),
                "{name}: unknown top-level key {key}"
            );
        }
        for (id, component) in self.components() {
            assert!(kebab(id), "{name}: component id {id:?} is not kebab-case");
            let component = component
                .as_table()
                .unwrap_or_else(|| panic!("{name}: [component.{id}] is a table"));
            for key in component.keys() {
                assert!(
                    COMPONENT_KEYS.contains(&key.as_str()),
                    "{name}: [component.{id}] has unknown key {key}"
                );
            }
        }
    }

    /// `[[trigger.http]]` entries.
    fn http_triggers(&self) -> Vec<&Table> {
        let triggers = table(&self.toml, "trigger", &self.name);
        let http = triggers
            .get("http")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{}: no [[trigger.http]]", self.name));
        http.iter()
            .map(|t| t.as_table().expect("[[trigger.http]] is a table"))
            .collect()
    }

    fn components(&self) -> &Table {
        table(&self.toml, "component", &self.name)
    }

    fn component(&self, id: &str) -> &Table {
        self.components()
            .get(id)
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("{}: no [component.{id}]", self.name))
    }

    /// The component's `source`, resolved against the manifest's folder.
    fn source(&self, id: &str) -> PathBuf {
        let source = self
            .component(id)
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: [component.{id}] needs a source file", self.name));
        self.dir.join(source)
    }

    /// The route's component id, after checking the trigger's keys.
    fn route_component<'a>(&self, trigger: &'a Table) -> &'a str {
        for key in trigger.keys() {
            assert!(
                TRIGGER_KEYS.contains(&key.as_str()),
                "{}: [[trigger.http]] has unknown key {key}",
                self.name
            );
        }
        assert!(
            trigger
                .get("route")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with('/')),
            "{}: a trigger needs a route",
            self.name
        );
        trigger
            .get("component")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: a trigger needs a component", self.name))
    }

    /// The trigger's `dependencies.middleware` entries, outermost first:
    /// `(component id, inherited capability sets)`.
    fn middleware<'a>(&self, trigger: &'a Table) -> Vec<(&'a str, Vec<&'a str>)> {
        let Some(dependencies) = trigger.get("dependencies") else {
            return Vec::new();
        };
        let dependencies = dependencies.as_table().expect("dependencies is a table");
        let keys: Vec<&String> = dependencies.keys().collect();
        assert_eq!(
            keys,
            ["middleware"],
            "{}: the HTTP trigger's only dependency is `middleware`",
            self.name
        );
        dependencies["middleware"]
            .as_array()
            .expect("dependencies.middleware is a list")
            .iter()
            .map(|entry| {
                let entry = entry.as_table().expect("a middleware entry is a table");
                for key in entry.keys() {
                    assert!(
                        ["component", "inherit_configuration"].contains(&key.as_str()),
                        "{}: middleware entry key {key}",
                        self.name
                    );
                }
                let id = entry
                    .get("component")
                    .and_then(Value::as_str)
                    .expect("a middleware entry names a component");
                let inherits = match entry.get("inherit_configuration") {
                    None | Some(Value::Boolean(false)) => Vec::new(),
                    Some(Value::Boolean(true)) => CAPABILITY_SETS.iter().map(|(n, _)| *n).collect(),
                    Some(Value::Array(names)) => names
                        .iter()
                        .map(|n| {
                            let n = n.as_str().expect("capability set names are strings");
                            assert!(
                                CAPABILITY_SETS.iter().any(|(set, _)| *set == n),
                                "{}: unknown capability set {n:?}",
                                self.name
                            );
                            n
                        })
                        .collect(),
                    Some(other) => panic!("inherit_configuration = {other}"),
                };
                (id, inherits)
            })
            .collect()
    }
}

fn table<'a>(parent: &'a Table, key: &str, manifest: &str) -> &'a Table {
    parent
        .get(key)
        .and_then(Value::as_table)
        .unwrap_or_else(|| panic!("{manifest}: no [{key}] table"))
}

/// Spin's `KebabId`: lower-case words of letters and digits joined by `-`,
/// starting with a letter.
fn kebab(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// `edge-host check --target spin <source>`: it must pass; returns the
/// report.
fn spin_check(manifest: &str, source: &Path) -> String {
    dist_dir();
    assert!(
        source.exists(),
        "{manifest}: {} is missing (run `cargo xtask build`)",
        source.display()
    );
    let report = Command::new(host_binary())
        .args(["check", "--target", "spin"])
        .arg(source)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    assert_eq!(report.status.code(), Some(0), "{manifest}: {text}");
    text
}

/// The imports line of a `check` report.
fn imports(report: &str) -> Vec<&str> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("imports: "))
        .expect("an imports line")
        .split(", ")
        .collect()
}

const MIDDLEWARE: &str = "middleware (imports and exports wasi:http/handler@0.3.0)";

#[test]
fn composed_app_manifest_is_one_spin_ready_service() {
    let manifest = Manifest::read("deploy/spin/composed/spin.toml");
    manifest.assert_v2_layout();
    let triggers = manifest.http_triggers();
    assert_eq!(triggers.len(), 1);
    let id = manifest.route_component(triggers[0]);
    assert!(manifest.middleware(triggers[0]).is_empty());
    let source = manifest.source(id);
    assert!(
        source.ends_with("dist/portable/hello-app.wasm"),
        "{source:?}"
    );
    let report = spin_check(&manifest.name, &source);
    assert!(!report.contains(MIDDLEWARE), "{report}");
    // Its configuration is the component's own.
    let component = manifest.component(id);
    assert!(component.contains_key("environment"));
    assert!(component.contains_key("allowed_outbound_hosts"));
}

#[test]
fn middleware_manifest_chains_a_spin_middleware_in_front_of_the_origin() {
    let manifest = Manifest::read("deploy/spin/middleware/spin.toml");
    manifest.assert_v2_layout();
    let triggers = manifest.http_triggers();
    assert_eq!(triggers.len(), 1);
    let route = manifest.route_component(triggers[0]);
    let origin = manifest.source(route);
    assert!(origin.ends_with("dist/demo-origin.wasm"), "{origin:?}");
    let report = spin_check(&manifest.name, &origin);
    assert!(!report.contains(MIDDLEWARE), "the route's component serves");

    let middleware = manifest.middleware(triggers[0]);
    assert_eq!(middleware.len(), 1, "{middleware:?}");
    let route_config = manifest.component(route);
    for (id, inherits) in middleware {
        assert_ne!(id, route);
        let source = manifest.source(id);
        assert!(
            source.ends_with("dist/portable/hello-middleware.wasm"),
            "{source:?}"
        );
        let report = spin_check(&manifest.name, &source);
        assert!(report.contains(MIDDLEWARE), "{report}");
        // A middleware gets a host capability only by inheriting it from
        // the route's component, which must grant it: every capability set
        // the middleware imports must be inherited and configured there.
        let imports = imports(&report);
        for (set, interfaces) in CAPABILITY_SETS {
            let needed = imports
                .iter()
                .any(|import| interfaces.iter().any(|i| import.starts_with(i)));
            if needed {
                assert!(
                    inherits.contains(set),
                    "{id} imports {set} but does not inherit it"
                );
                assert!(
                    route_config.contains_key(*set),
                    "[component.{route}] must grant {set}, which {id} inherits"
                );
            }
        }
        // Its own configuration would be ignored.
        let own = manifest.component(id);
        for (set, _) in CAPABILITY_SETS {
            assert!(
                !own.contains_key(*set),
                "[component.{id}].{set} is ignored for a middleware"
            );
        }
    }
}
