//! `edge-host check` on real components: its verdicts, its exit codes, and
//! that the fix it prints really makes the component run on `wasmtime serve`.

use edgeware_tests::{Host, component, get, root};
use std::path::Path;
use std::process::{Command, Output};

/// `edge-host check <args>`.
fn check(args: &[&str]) -> Output {
    Command::new(root().join("target/debug/edge-host"))
        .arg("check")
        .args(args)
        .output()
        .expect("edge-host runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_names_what_wasmtime_serve_lacks_and_the_fix_works() {
    let middleware = component("hello-middleware");
    let origin = component("demo-origin");

    // edge-host check dist/hello-middleware.wasm --target wasmtime-serve
    let report = check(&[path(&middleware), "--target", "wasmtime-serve"]);
    let text = stdout(&report);
    assert_eq!(report.status.code(), Some(1), "{text}");
    assert!(text.contains("yes edge-host"), "{text}");
    assert!(text.contains("NO  wasmtime serve"), "{text}");
    assert!(
        text.contains("missing edge:fetch/wait-until@0.1.0"),
        "{text}"
    );
    assert!(
        text.contains("missing wasi:http/handler@0.3.0 (next hop of a middleware)"),
        "{text}"
    );
    let fix = format!(
        "cargo xtask compose --adapter -o hello-middleware-portable.wasm {} <origin.wasm>",
        path(&middleware)
    );
    assert!(text.contains(&fix), "{text}");

    // The printed fix, with the origin filled in:
    // cargo xtask compose --adapter -o app.wasm dist/hello-middleware.wasm dist/demo-origin.wasm
    let out = tempdir().join("hello-middleware-portable.wasm");
    let composed = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["xtask", "compose", "--adapter", "-o", path(&out)])
        .args([path(&middleware), path(&origin)])
        .output()
        .expect("cargo xtask compose runs");
    assert!(
        composed.status.success(),
        "{}",
        String::from_utf8_lossy(&composed.stderr)
    );

    let report = check(&[path(&out), "--target", "wasmtime-serve"]);
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));

    let host = Host::wasmtime_serve(&[path(&out)]);
    let reply = get(&host.url("/"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
}

#[test]
fn check_verdicts_for_the_built_artifacts() {
    let portable = root().join("dist/portable/hello-app.wasm");
    for (target, code) in [
        ("edge-host", 0),
        ("wasmtime-serve", 0),
        ("spin", 0),
        ("p2", 1),
    ] {
        let report = check(&[path(&portable), "--target", target]);
        assert_eq!(
            report.status.code(),
            Some(code),
            "{target}: {}",
            stdout(&report)
        );
    }
    // A middleware with the adapter composed in is a Spin middleware.
    let spin_middleware = root().join("dist/portable/hello-middleware.wasm");
    let report = check(&[path(&spin_middleware), "--target", "spin"]);
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));
    assert!(stdout(&report).contains("dependencies.middleware"));
    // The WASI 0.2 build runs on p2-only hosts (and wasmtime serve), not on
    // edge-host.
    let p2 = root().join("dist/p2/hello-middleware.wasm");
    for (target, code) in [("p2", 0), ("wasmtime-serve", 0), ("edge-host", 1)] {
        let report = check(&[path(&p2), "--target", target]);
        assert_eq!(
            report.status.code(),
            Some(code),
            "{target}: {}",
            stdout(&report)
        );
    }
    // Without --target it only reports.
    assert_eq!(
        check(&[path(&component("hello-middleware"))]).status.code(),
        Some(0)
    );
}

#[test]
fn check_refuses_files_that_are_not_components() {
    let report = check(&[path(&root().join("Cargo.toml"))]);
    assert_eq!(report.status.code(), Some(2));
    let error = String::from_utf8_lossy(&report.stderr);
    assert!(error.contains("not a WebAssembly component"), "{error}");

    let module = tempdir().join("core.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let report = check(&[path(&module)]);
    assert_eq!(report.status.code(), Some(2));
    let error = String::from_utf8_lossy(&report.stderr);
    assert!(
        error.contains("core WebAssembly module, not a component"),
        "{error}"
    );
}

/// A fresh directory under `target/tmp` for one test.
fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join("target/tmp").join(format!(
        "check-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
