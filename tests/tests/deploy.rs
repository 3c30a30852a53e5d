//! The container image definition (`deploy/container/Containerfile`) and
//! the Kubernetes manifests (`deploy/kubernetes/`). No container engine or
//! cluster runs here, so what can be checked offline is: hadolint lints the
//! Containerfile; its build commands are this workspace's (packages, flags,
//! the paths cargo writes) and its `CMD` serves on `edge-host`; the
//! manifests validate against the Kubernetes JSON schemas (PyPI
//! `kubernetes-validate`, strict: unknown fields are errors) of the oldest
//! release they need (1.30, for the `preStop` sleep action) and the newest
//! bundled one; they agree with each other, with the image and with the
//! ConfigMap's `edge.toml` (ports, paths, user, the drain arithmetic); and
//! that `edge.toml` is served by `edge-host`.

use edgeware_tests::{Host, dist, dist_dir, get, root, tools};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The Kubernetes releases the manifests are validated against.
const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

/// Where the image keeps its components (`COPY --from=build ...`).
const IMAGE_COMPONENTS: &str = "/srv/edgeware/";

fn containerfile() -> String {
    std::fs::read_to_string(root().join("deploy/container/Containerfile")).unwrap()
}

/// The Containerfile's instructions, continuation lines joined, comments
/// dropped: `(INSTRUCTION, arguments)`.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (instruction, args) = line.split_once(' ').unwrap_or((&line, ""));
            (instruction.to_uppercase(), args.trim().to_string())
        })
        .collect()
}

/// The arguments of an exec-form (`["a", "b"]`) instruction.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("`{args}` is not exec form: {e}"))
}

/// The package names of the workspace members (root `Cargo.toml`, `*`
/// patterns expanded).
fn workspace_packages() -> Vec<String> {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let members = manifest["workspace"]["members"].as_array().unwrap();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for member in members {
        let member = member.as_str().unwrap();
        match member.strip_suffix("/*") {
            Some(parent) => {
                for entry in std::fs::read_dir(root().join(parent)).unwrap() {
                    dirs.push(entry.unwrap().path());
                }
            }
            None => dirs.push(root().join(member)),
        }
    }
    dirs.into_iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("Cargo.toml")).ok())
        .map(|text| {
            let manifest: toml::Table = toml::from_str(&text).unwrap();
            manifest["package"]["name"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn hadolint_finds_nothing() {
    let path = root().join("deploy/container/Containerfile");
    let output = Command::new(tools::hadolint())
        .arg(&path)
        .output()
        .expect("hadolint runs");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_image_builds_what_the_workspace_has() {
    let text = containerfile();
    let steps = instructions(&text);
    let froms: Vec<&str> = steps
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(
        froms[0].starts_with("docker.io/library/rust:1.95-") && froms[0].ends_with(" AS build")
    );
    // The workspace's rust-version, so the image builds with what CI has.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("rust-version = \"1.95\""));
    // Run stage: the builder's Debian release (the host links its glibc).
    let release = froms[0]
        .split('-')
        .nth(2)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(froms[1], format!("docker.io/library/debian:{release}-slim"));

    let packages = workspace_packages();
    let run: String = steps
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join(" && ");
    assert!(run.contains("rustup target add wasm32-wasip2"));
    let mut built = Vec::new();
    let mut copied = Vec::new();
    for command in run.split("&&").map(str::trim) {
        let words: Vec<&str> = command.split_whitespace().collect();
        if let Some(at) = words.windows(2).position(|w| w == ["cargo", "build"]) {
            let args = &words[at + 2..];
            assert!(args.contains(&"--locked"), "{command}");
            let guest = args.contains(&"--target");
            if guest {
                // The flags `cargo xtask build` builds components with.
                assert!(
                    command.contains("--target wasm32-wasip2 --profile guest"),
                    "{command}"
                );
            } else {
                assert!(args.contains(&"--release"), "{command}");
                // wasmtime 50 declares rust-version 1.97 (see `cargo_host`
                // in xtask).
                assert!(args.contains(&"--ignore-rust-version"), "{command}");
            }
            for pair in args.windows(2).filter(|w| w[0] == "-p") {
                assert!(
                    packages.iter().any(|p| p == pair[1]),
                    "no package {}",
                    pair[1]
                );
                built.push((pair[1].to_string(), guest));
            }
        } else if words.first() == Some(&"cp") {
            copied.push((words[1].to_string(), words[2].to_string()));
        }
    }
    assert!(built.contains(&("edge-host".into(), false)), "{built:?}");
    // Every artifact it copies out is one that cargo writes for a package it
    // built: the same layout as this checkout's build (debug for the host).
    for (source, _) in &copied {
        if source == "target/release/edge-host" {
            assert!(root().join("target/debug/edge-host").exists());
            continue;
        }
        let file = source
            .strip_prefix("target/wasm32-wasip2/guest/")
            .unwrap_or_else(|| panic!("copies {source}, which no build step writes"));
        let package = file.strip_suffix(".wasm").unwrap().replace('_', "-");
        assert!(
            built.contains(&(package.clone(), true)),
            "{package} is not built"
        );
        assert_eq!(
            std::fs::read(root().join(source)).unwrap(),
            std::fs::read(dist(&format!("{package}.wasm"))).unwrap(),
            "{source} is what `cargo xtask build` copies to dist/{package}.wasm"
        );
    }

    // The context: sources only (target/ is gigabytes).
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for dir in ["target/", "dist/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l == dir),
            ".dockerignore lacks {dir}"
        );
    }
    for copy in steps.iter().filter(|(i, _)| i == "COPY") {
        if let Some(from) = copy.1.strip_prefix("--from=build ") {
            let source = from.split_whitespace().next().unwrap();
            if source == "/etc/ssl/certs/ca-certificates.crt" {
                // The rust image's CA bundle (its `ca-certificates`).
                continue;
            }
            assert!(
                copied
                    .iter()
                    .any(|(_, to)| to.starts_with(source.trim_end_matches('/'))),
                "COPY {source}: the build stage writes no such file"
            );
        }
    }
}

/// The image's `CMD` with the image's paths replaced by this checkout's
/// (`/srv/edgeware/x.wasm` is `dist/x.wasm`, the same build) and its
/// addresses by free loopback ports.
fn local_cmd() -> Vec<String> {
    let steps = instructions(&containerfile());
    let entrypoint = exec_form(&steps.iter().find(|(i, _)| i == "ENTRYPOINT").unwrap().1);
    assert_eq!(entrypoint, ["/usr/local/bin/edge-host"]);
    let cmd = exec_form(&steps.iter().find(|(i, _)| i == "CMD").unwrap().1);
    assert_eq!(cmd[0], "serve");
    let mut args = Vec::new();
    let mut words = cmd[1..].iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--addr" => {
                assert_eq!(words.next().unwrap(), "0.0.0.0:8080");
            }
            "--admin-addr" => {
                assert_eq!(words.next().unwrap(), "0.0.0.0:9090");
                args.extend(["--admin-addr".to_string(), "127.0.0.1:0".to_string()]);
            }
            path if path.starts_with(IMAGE_COMPONENTS) => args.push(
                dist(path.strip_prefix(IMAGE_COMPONENTS).unwrap())
                    .display()
                    .to_string(),
            ),
            other => args.push(other.to_string()),
        }
    }
    args
}

#[test]
fn the_image_command_serves() {
    dist_dir();
    let args = local_cmd();
    let host = Host::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let reply = get(&host.url("/hello"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
}

/// Every document of every manifest in `deploy/kubernetes/`, as JSON (the
/// YAML parser is the PyYAML that kubernetes-validate brings).
fn manifests() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|file| {
            let output = Command::new("python3")
                .env("PYTHONPATH", tools::kubernetes_validate())
                .args([
                    "-c",
                    "import json, sys, yaml; \
                     print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
                ])
                .arg(&file)
                .output()
                .expect("python3 runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let docs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
            docs.into_iter().map(move |doc| (file.clone(), doc))
        })
        .collect()
}

fn kind<'a>(docs: &'a [(PathBuf, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = manifests().into_iter().map(|(f, _)| f).collect();
    let mut files = files;
    files.dedup();
    assert_eq!(files.len(), 5, "{files:?}");
    for version in KUBERNETES_VERSIONS {
        let output = Command::new("python3")
            .env("PYTHONPATH", tools::kubernetes_validate())
            .args(["-m", "kubernetes_validate", "--strict", "-k", version])
            .args(&files)
            .output()
            .expect("python3 runs");
        let log = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "Kubernetes {version}:\n{log}");
        let minor = version.rsplit_once('.').unwrap().0;
        assert_eq!(
            log.matches(&format!("against version {minor}")).count(),
            5,
            "{log}"
        );
        assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
    }
}

/// Reads the ConfigMap's `edge.toml`.
fn edge_toml(docs: &[(PathBuf, Value)]) -> toml::Table {
    let text = kind(docs, "ConfigMap")["data"]["edge.toml"]
        .as_str()
        .unwrap();
    toml::from_str(text).unwrap()
}

fn seconds(config: &toml::Table, key: &str) -> u64 {
    let text = config[key].as_str().unwrap();
    text.strip_suffix('s').unwrap().parse().unwrap()
}

fn port(addr: &str) -> u64 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[test]
fn the_manifests_agree_and_drain_deferred_work() {
    let docs = manifests();
    let config = edge_toml(&docs);
    let deployment = kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let container = &spec["containers"][0];

    // The drain: a request just before SIGTERM can answer and settle its
    // tasks inside shutdown_grace, and Kubernetes waits for all of it.
    let grace = seconds(&config, "shutdown_grace");
    assert!(
        seconds(&config, "request_timeout") + seconds(&config, "deferred_timeout") <= grace,
        "request_timeout + deferred_timeout must fit in shutdown_grace"
    );
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap();
    let termination = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        termination >= pre_stop + grace + 5,
        "terminationGracePeriodSeconds {termination} < preStop {pre_stop} + shutdown_grace {grace} + 5"
    );
    let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(rolling["maxUnavailable"], 0);

    // Probes and scrape annotations on the admin server edge.toml opens.
    let admin_port = port(config["admin_addr"].as_str().unwrap());
    let http_port = port(config["addr"].as_str().unwrap());
    let ports = container["ports"].as_array().unwrap();
    let named = |name: &str| {
        ports.iter().find(|p| p["name"] == name).unwrap()["containerPort"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(named("admin"), admin_port);
    assert_eq!(named("http"), http_port);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "admin");
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], admin_port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // The config file is the mounted ConfigMap.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            Path::new(config_path).parent() == Some(Path::new(m["mountPath"].as_str().unwrap()))
        })
        .expect("the config file's directory is a volume mount");
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let configmap = kind(&docs, "ConfigMap");
    assert_eq!(volume["configMap"]["name"], configmap["metadata"]["name"]);
    assert!(config_path.ends_with("/edge.toml"));
    // The cache directory is writable (the root filesystem is not).
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let cache = config["cache_dir"].as_str().unwrap();
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == cache && m["readOnly"] != true)
    );

    // The image: its user, and the components edge.toml names are in it.
    let text = containerfile();
    let steps = instructions(&text);
    let user = &steps.iter().find(|(i, _)| i == "USER").unwrap().1;
    let uid: u64 = user.split(':').next().unwrap().parse().unwrap();
    assert_eq!(spec["securityContext"]["runAsUser"], uid);
    for key in ["component", "origin"] {
        let path = config[key].as_str().unwrap();
        let name = path.strip_prefix(IMAGE_COMPONENTS).unwrap();
        assert!(
            text.contains(&format!("/out/components/{name}")),
            "the image has no {path}"
        );
    }

    // Service, autoscaler and disruption budget select these pods.
    let labels = &pod["metadata"]["labels"];
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&labels[key], value);
    }
    assert_eq!(&kind(&docs, "Service")["spec"]["selector"], selector);
    assert_eq!(
        kind(&docs, "Service")["spec"]["ports"][0]["targetPort"],
        "http"
    );
    assert_eq!(
        &kind(&docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        selector
    );
    let target = &kind(&docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["name"], deployment["metadata"]["name"]);
}

#[test]
fn edge_host_serves_the_configmap() {
    dist_dir();
    let docs = manifests();
    let text = kind(&docs, "ConfigMap")["data"]["edge.toml"]
        .as_str()
        .unwrap()
        .to_string();
    // The image's paths are this checkout's dist/ (the same build).
    let local = text.replace(IMAGE_COMPONENTS, &format!("{}/", dist_dir().display()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    std::fs::write(&file, local).unwrap();
    // Flags win over the file: loopback ports instead of 0.0.0.0.
    let mut host = Host::start(&[
        "--config",
        file.to_str().unwrap(),
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    let reply = get(&host.url("/hello"), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
    let admin = host.admin_url.clone().expect("admin_addr is set");
    assert_eq!(get(&format!("{admin}/healthz"), &[]).status, 200);
    assert_eq!(get(&format!("{admin}/readyz"), &[]).status, 200);
    host.log
        .wait_for(&["deferred task", "FULFILLED"], 1, Duration::from_secs(30));
    assert_eq!(host.metric("edge_deferred_tasks_fulfilled_total"), 1.0);
    host.signal("TERM");
    let status = host.wait_exit(Duration::from_secs(seconds(
        &edge_toml(&docs),
        "shutdown_grace",
    )));
    assert!(status.success(), "{status}");
}
