//! Components as OCI artifacts: `cargo xtask publish` pushes a built
//! component with `wkg oci push` to a real registry (Debian's
//! `docker-registry`, on loopback, storing into a temporary directory), and
//! what lands there is the wasm OCI artifact layout: an OCI image manifest
//! whose config is `application/vnd.wasm.config.v0+json` and whose one
//! layer is the component's bytes as `application/wasm`.

use edgeware_tests::registry::Registry;
use edgeware_tests::{dist, tools};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::process::Command;
use std::time::Duration;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `cargo xtask publish <component> <reference>` (the xtask binary, which
/// every `cargo xtask` command builds); returns what it printed.
fn publish(component: &str, reference: &str) -> String {
    let output = Command::new(tools::xtask())
        .arg("publish")
        .arg(dist(component))
        .arg(reference)
        .env("EDGEWARE_WKG", tools::wkg())
        .output()
        .expect("xtask runs");
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "publish failed:\n{printed}");
    printed
}

/// GETs `path` from the registry's API, returning the status, the
/// `Content-Type` and the body.
fn registry_get(registry: &Registry, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent
        .get(format!("{}{path}", registry.host.url))
        .header("accept", accept)
        .call()
        .expect("the registry answers");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    (response.status().as_u16(), content_type, body)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[test]
fn publish_pushes_the_wasm_oci_artifact_layout() {
    let registry = Registry::start();
    let reference = registry.reference("edgeware/hello-app", "0.1.0");
    let printed = publish("composed/hello-app.wasm", &reference);
    let component = std::fs::read(dist("composed/hello-app.wasm")).unwrap();
    let layer_digest = sha256(&component);
    assert!(
        printed.contains(&format!("layer {layer_digest}")),
        "publish names the layer digest:\n{printed}"
    );

    let (status, content_type, body) = registry_get(
        &registry,
        "/v2/edgeware/hello-app/manifests/0.1.0",
        OCI_MANIFEST,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, OCI_MANIFEST);
    // wkg prints the manifest digest; it is that of the stored manifest.
    assert!(
        printed.contains(&format!("digest: {}", sha256(&body))),
        "{printed}"
    );
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["digest"], layer_digest.as_str());
    assert_eq!(layers[0]["size"], component.len());
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "hello-app.wasm"
    );

    // The config describes the component (the layout's `os`/`architecture`,
    // its layer, its WIT world); the layer is the component, byte for byte.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let (status, _, config) = registry_get(
        &registry,
        &format!("/v2/edgeware/hello-app/blobs/{config_digest}"),
        "*/*",
    );
    assert_eq!(status, 200);
    assert_eq!(sha256(&config), config_digest);
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], layer_digest.as_str());
    let exports: Vec<&str> = config["component"]["exports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/handler@0.3.0")),
        "{config}"
    );
    let (status, _, layer) = registry_get(
        &registry,
        &format!("/v2/edgeware/hello-app/blobs/{layer_digest}"),
        "*/*",
    );
    assert_eq!(status, 200);
    assert!(layer == component, "the layer is the component");
}
