//! The Spin manifests in `deploy/spin/` (Spin itself is not installable
//! here, so they are documented, not run): every component they name exists
//! after `cargo xtask build`, and `edge-host check --target spin` accepts it.

use edgeware_tests::root;
use std::process::Command;

/// The `source = "..."` paths of a manifest, resolved against its folder.
fn sources(manifest: &str) -> Vec<std::path::PathBuf> {
    let path = root().join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("source = \""))
        .map(|rest| path.parent().unwrap().join(rest.trim_end_matches('"')))
        .collect()
}

fn assert_spin_runs(manifest: &str, expected: usize) {
    let sources = sources(manifest);
    assert_eq!(sources.len(), expected, "{manifest}: {sources:?}");
    for source in sources {
        assert!(
            source.exists(),
            "{manifest}: {} is missing",
            source.display()
        );
        let report = Command::new(root().join("target/debug/edge-host"))
            .args(["check", "--target", "spin"])
            .arg(&source)
            .output()
            .unwrap();
        assert_eq!(
            report.status.code(),
            Some(0),
            "{manifest}: {}",
            String::from_utf8_lossy(&report.stdout)
        );
    }
}

#[test]
fn composed_app_manifest_names_a_spin_ready_component() {
    assert_spin_runs("deploy/spin/composed/spin.toml", 1);
}

#[test]
fn middleware_manifest_names_spin_ready_components() {
    assert_spin_runs("deploy/spin/middleware/spin.toml", 2);
}
