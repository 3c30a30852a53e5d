//! `edge-host check` on real components: its verdicts, its exit codes, and
//! that the fixes it prints, run as printed, really make the component run
//! on `wasmtime serve` and load on Spin 4.0.x.

use edgeware_tests::{Host, component, dist, dist_dir, get, root};
use std::path::Path;
use std::process::{Command, Output};

/// `edge-host check <args>`, in the workspace root (relative paths are
/// as the README has them; one under `dist/` needs `cargo xtask build`).
fn check(args: &[&str]) -> Output {
    if args.iter().any(|arg| arg.starts_with("dist/")) {
        dist_dir();
    }
    Command::new(root().join("target/debug/edge-host"))
        .current_dir(root())
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

/// The section of a `check` report about the host labelled `label`.
fn section<'a>(text: &'a str, label: &str) -> &'a str {
    let start = text
        .find(&format!(" {label}\n"))
        .unwrap_or_else(|| panic!("no {label} section in:\n{text}"));
    let rest = &text[start..];
    let end = rest[1..].find("\n\n").map_or(rest.len(), |end| end + 1);
    &rest[..end]
}

/// The command of the `fix:` line in `section` that starts with `program`.
fn fix_command(section: &str, program: &str) -> String {
    section
        .lines()
        .filter_map(|line| line.trim().strip_prefix("fix: "))
        .find(|command| command.starts_with(program))
        .unwrap_or_else(|| panic!("no `fix: {program} ...` in:\n{section}"))
        .to_string()
}

/// Runs a printed `cargo ...` command (no shell: the words as they are) in
/// `dir`, with the cargo that runs the tests.
fn run_cargo_command(command: &str, dir: &Path) {
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("cargo"), "{command}");
    let output = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(words)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "`{command}` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether the README shows `command` as a line of its own (possibly
/// followed by a `# comment`).
fn readme_shows(command: &str) -> bool {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .lines()
        .any(|line| line.split(" #").next().unwrap().trim_end() == command)
}

#[test]
fn check_names_what_wasmtime_serve_lacks_and_the_fix_works() {
    // In the workspace root, with the paths as the README has them:
    // edge-host check dist/hello-middleware.wasm --target wasmtime-serve
    assert!(readme_shows(
        "edge-host check dist/hello-middleware.wasm --target wasmtime-serve"
    ));
    let report = check(&["dist/hello-middleware.wasm", "--target", "wasmtime-serve"]);
    let text = stdout(&report);
    assert_eq!(report.status.code(), Some(1), "{text}");
    assert!(text.contains("yes edge-host"), "{text}");
    assert!(text.contains("NO  wasmtime serve"), "{text}");
    let wasmtime = section(&text, "wasmtime serve");
    for missing in [
        "missing edge:fetch/wait-until@0.1.0",
        "missing wasi:http/handler@0.3.0 (next hop of a middleware)",
    ] {
        assert!(wasmtime.contains(missing), "{wasmtime}");
    }
    let fix = fix_command(wasmtime, "cargo xtask compose");
    assert_eq!(
        fix,
        "cargo xtask compose --adapter -o hello-middleware-portable.wasm \
         dist/hello-middleware.wasm <origin.wasm>"
    );
    // The wac CLI alternative names the adapter where `cargo xtask build`
    // puts it.
    assert!(
        wasmtime.contains(
            "or: wac plug dist/hello-middleware.wasm --plug <origin.wasm> \
             --plug dist/edge-fetch-adapter.wasm -o hello-middleware-portable.wasm"
        ),
        "{wasmtime}"
    );

    // The printed fix with the origin filled in, which is the README's
    // composition command, run in the workspace root:
    // cargo xtask compose --adapter -o hello-middleware-portable.wasm dist/hello-middleware.wasm dist/demo-origin.wasm
    let fix = fix.replace("<origin.wasm>", "dist/demo-origin.wasm");
    assert!(readme_shows(&fix), "README shows `{fix}`");
    run_cargo_command(&fix, &root());
    // Out of the workspace root at once.
    let out = tempdir().join("hello-middleware-portable.wasm");
    std::fs::rename(root().join("hello-middleware-portable.wasm"), &out).unwrap();

    let report = check(&[path(&out), "--target", "wasmtime-serve"]);
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));

    let host = Host::wasmtime_serve(&[path(&out)]);
    let reply = get(&host.url("/"), &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-hello"), Some("edgeware"));
}

/// Spin 4.0.x cannot load a final WASI 0.3 component; `check` says so and
/// prints the WASI 0.2 rebuild, which is the README's command and builds a
/// component Spin 4.0.x (and every p2 host) accepts. The build reuses
/// `target/p2`, which `cargo xtask build` filled.
#[test]
fn check_prints_the_p2_rebuild_for_spin_4_0_and_it_works() {
    // edge-host check dist/hello-middleware.wasm --target spin-4.0
    assert!(readme_shows(
        "edge-host check dist/hello-middleware.wasm --target spin-4.0"
    ));
    let report = check(&["dist/hello-middleware.wasm", "--target", "spin-4.0"]);
    let text = stdout(&report);
    assert_eq!(report.status.code(), Some(1), "{text}");
    let spin40 = section(&text, "Spin 4.0.x");
    assert!(
        spin40.contains("Spin 4.0.x serves wasi:http/handler@0.3.0-rc-2026-03-15"),
        "{spin40}"
    );
    let fix = fix_command(spin40, "cargo build");
    assert_eq!(
        fix,
        "cargo build --target wasm32-wasip2 --profile guest --features edgeware/p2 \
         --target-dir target/p2 -p hello-middleware"
    );
    assert_eq!(
        fix,
        fix_command(section(&text, "p2-only hosts"), "cargo build")
    );
    assert!(readme_shows(&fix), "README shows the p2 build as `{fix}`");

    // In the workspace root, as the README says.
    run_cargo_command(&fix, &root());
    let built = root().join("target/p2/wasm32-wasip2/guest/hello_middleware.wasm");
    assert!(spin40.contains("target/p2/wasm32-wasip2/guest/hello_middleware.wasm"));
    for target in ["spin-4.0", "p2", "spin", "wasmtime-serve"] {
        let report = check(&[path(&built), "--target", target]);
        assert_eq!(
            report.status.code(),
            Some(0),
            "{target}: {}",
            stdout(&report)
        );
    }
}

#[test]
fn check_verdicts_for_the_built_artifacts() {
    let portable = dist("portable/hello-app.wasm");
    for (target, code) in [
        ("edge-host", 0),
        ("wasmtime-serve", 0),
        ("spin", 0),
        ("spin-4.0", 1),
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
    let spin_middleware = dist("portable/hello-middleware.wasm");
    let report = check(&[path(&spin_middleware), "--target", "spin"]);
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));
    assert!(stdout(&report).contains("dependencies.middleware"));
    // Spin 4.0.x has no middleware chaining and no final WASI 0.3.
    let report = check(&[path(&spin_middleware), "--target", "spin-4.0"]);
    assert_eq!(report.status.code(), Some(1), "{}", stdout(&report));
    // The WASI 0.2 build runs on p2-only hosts, Spin 4.0.x, Spin 4.1+ and
    // wasmtime serve, not on edge-host.
    let p2 = dist("p2/hello-middleware.wasm");
    for (target, code) in [
        ("p2", 0),
        ("spin-4.0", 0),
        ("spin", 0),
        ("wasmtime-serve", 0),
        ("edge-host", 1),
    ] {
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
