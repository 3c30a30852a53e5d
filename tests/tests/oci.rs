//! Components as OCI artifacts: `cargo xtask publish` pushes a built
//! component with `wkg oci push` to a real registry (Debian's
//! `docker-registry`, on loopback, storing into a temporary directory), and
//! what lands there is the wasm OCI artifact layout: an OCI image manifest
//! whose config is `application/vnd.wasm.config.v0+json` and whose one
//! layer is the component's bytes as `application/wasm`. Then `edge-host
//! serve oci://...` (also for `--origin` and in `--config`) pulls it,
//! verifies the layer digest, logs it and serves the component, and pulls a
//! moved tag again on SIGHUP; a missing tag, an unknown digest and a
//! tampered layer each stop it with one line and exit code 2.

use edgeware_tests::registry::Registry;
use edgeware_tests::{Host, dist, get, host_binary, tools};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Runs `edge-host serve <args>` that is expected to fail at start; returns
/// its exit code and what it wrote to stderr.
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(host_binary())
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-host starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("edge-host kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

/// The one `edge-host: error: ...` line a failed start prints.
fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("edge-host: error: "), "{stderr}");
    lines[0]
}

#[test]
fn edge_host_pulls_verifies_and_serves_a_published_component() {
    let registry = Registry::start();
    let tagged = registry.reference("edgeware/hello-app", "0.1.0");
    let printed = publish("composed/hello-app.wasm", &tagged);
    let component = std::fs::read(dist("composed/hello-app.wasm")).unwrap();
    // Pinned by the manifest digest wkg printed.
    let manifest_digest = printed
        .lines()
        .find_map(|line| line.strip_prefix("digest: "))
        .expect("wkg prints the manifest digest");
    let reference = format!(
        "oci://{}/edgeware/hello-app@{manifest_digest}",
        registry.authority
    );
    let host = Host::start(&[&reference]);
    let reply = get(&host.url("/hello"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    // The digest it verified is the component's, and it says so.
    let pulled = host.log.wait_for(
        &["pulled component", &sha256(&component), &reference],
        1,
        Duration::from_secs(5),
    );
    eprintln!("{}", pulled[0]);
}

#[test]
fn the_config_file_and_origin_take_oci_references() {
    let registry = Registry::start();
    let middleware = registry.reference("edgeware/hello-middleware", "1");
    let origin = registry.reference("edgeware/demo-origin", "1");
    publish("hello-middleware.wasm", &middleware);
    publish("demo-origin.wasm", &origin);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.toml");
    std::fs::write(&config, format!("component = \"{middleware}\"\n")).unwrap();
    let host = Host::start(&["--config", config.to_str().unwrap(), "--origin", &origin]);
    let reply = get(&host.url("/hello"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    assert_eq!(
        host.log
            .count(&["pulled component", "layer digest verified"]),
        2
    );
}

#[test]
fn a_missing_tag_or_an_unknown_digest_is_one_line_and_exit_2() {
    let registry = Registry::start();
    let reference = registry.reference("edgeware/hello-app", "0.1.0");
    publish("composed/hello-app.wasm", &reference);
    let missing = registry.reference("edgeware/hello-app", "no-such-tag");
    let (code, stderr) = serve_fails(&[&missing]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = one_error_line(&stderr);
    assert!(line.contains(&format!("cannot pull {missing}")), "{line}");
    let pinned = format!(
        "oci://{}/edgeware/hello-app@sha256:{}",
        registry.authority,
        "0".repeat(64)
    );
    let (code, stderr) = serve_fails(&[&pinned]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(one_error_line(&stderr).contains(&format!("cannot pull {pinned}")));
    let (code, stderr) = serve_fails(&["oci://registry-without-repository"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        one_error_line(&stderr).contains("names no repository"),
        "{stderr}"
    );
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused() {
    let registry = Registry::start();
    let reference = registry.reference("edgeware/hello-app", "0.1.0");
    publish("composed/hello-app.wasm", &reference);
    let component = std::fs::read(dist("composed/hello-app.wasm")).unwrap();
    let digest = sha256(&component);
    // The registry serves its files as stored: change one byte of the layer.
    let blob = registry.blob_file(&digest);
    let mut tampered = std::fs::read(&blob).unwrap();
    assert!(tampered == component);
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(&blob, &tampered).unwrap();
    let (code, stderr) = serve_fails(&[&reference]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = one_error_line(&stderr);
    assert!(line.contains("layer digest mismatch"), "{line}");
    assert!(line.contains(&digest), "{line}");
}

#[test]
fn sighup_pulls_a_moved_tag_again() {
    let registry = Registry::start();
    let reference = registry.reference("edgeware/app", "live");
    publish("composed/hello-app.wasm", &reference);
    let host = Host::start(&[&reference]);
    assert_eq!(get(&host.url("/"), &[]).header("x-hello"), Some("edgeware"));
    // The tag moves to another component; SIGHUP serves that one.
    publish("composed/fixture-app.wasm", &reference);
    host.signal("HUP");
    host.log.wait_for(
        &["reloaded: new requests use the new version"],
        1,
        Duration::from_secs(120),
    );
    let fixture = std::fs::read(dist("composed/fixture-app.wasm")).unwrap();
    host.log.wait_for(
        &["pulled component", &sha256(&fixture)],
        1,
        Duration::from_secs(5),
    );
    let reply = get(&host.url("/"), &[]);
    assert_eq!(reply.header("x-fixture"), Some("1"), "{:?}", reply.headers);
    assert_eq!(reply.header("x-hello"), None);
}
