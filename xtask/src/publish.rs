//! `cargo xtask publish`: pushes a component to an OCI registry as a wasm
//! OCI artifact (config `application/vnd.wasm.config.v0+json`, one
//! `application/wasm` layer), with `wkg oci push`.

use crate::check;
use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::process::Command;

/// The registry part (`host[:port]`) of `oci://host[:port]/repository:tag`,
/// and the reference as `wkg` takes it (without the scheme).
fn split_reference(reference: &str) -> anyhow::Result<(&str, &str)> {
    let bare = reference.strip_prefix("oci://").with_context(|| {
        format!("`{reference}` is not an oci://host[:port]/repository:tag reference")
    })?;
    match bare.split_once('/') {
        Some((registry, repository)) if !registry.is_empty() && !repository.is_empty() => {
            Ok((registry, bare))
        }
        _ => bail!("`{reference}` names no repository: oci://host[:port]/repository:tag"),
    }
}

/// Whether `registry` (`host[:port]`) is on this machine: such registries
/// are reached over plain HTTP, as `edge-host` does.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Pushes `component` to `reference`; `insecure` lists further registries
/// to reach over plain HTTP. Prints the layer digest edge-host verifies.
pub fn publish(
    wkg: &Path,
    component: &Path,
    reference: &str,
    insecure: &[String],
) -> anyhow::Result<()> {
    let (registry, bare) = split_reference(reference)?;
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let mut plain_http: Vec<&str> = insecure.iter().map(String::as_str).collect();
    if is_loopback(registry) {
        plain_http.push(registry);
    }
    let mut push = Command::new(wkg);
    push.args(["oci", "push"]);
    if !plain_http.is_empty() {
        push.arg("--insecure").arg(plain_http.join(","));
    }
    push.arg(bare).arg(component);
    check(push.status().context("running wkg")?, "wkg oci push")?;
    println!(
        "published {} ({} bytes) to {reference}: layer sha256:{:x}",
        component.display(),
        bytes.len(),
        Sha256::digest(&bytes)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            split_reference("oci://127.0.0.1:5000/edgeware/hello:0.1.0").unwrap(),
            ("127.0.0.1:5000", "127.0.0.1:5000/edgeware/hello:0.1.0")
        );
        assert!(split_reference("127.0.0.1:5000/a:b").is_err());
        assert!(split_reference("oci://registry.example").is_err());
    }

    #[test]
    fn loopback_registries() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
