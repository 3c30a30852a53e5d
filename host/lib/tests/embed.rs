//! Runs `examples/embed.rs` on `dist/composed/fixture-app.wasm` (built by
//! `cargo xtask build`) and checks that a request's deferred task is
//! reported FULFILLED after its response.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the example may take to compile the component and start.
const START: Duration = Duration::from_secs(180);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example's binary, built next to this test's (`target/debug/examples`).
fn example() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            // wasmtime 50 declares rust-version 1.97; it builds with 1.95.
            "--ignore-rust-version",
            "-p",
            "edge-fetch-host",
            "--example",
            "embed",
        ])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build the embed example");
    let test = std::env::current_exe().expect("test binary path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile.join("examples").join("embed")
}

/// Kills the example when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn example_serves_a_component_and_logs_a_fulfilled_task() {
    let component = workspace().join("dist/composed/fixture-app.wasm");
    assert!(
        component.exists(),
        "{} is missing: run `cargo xtask build`",
        component.display()
    );
    let mut child = Command::new(example())
        .arg(&component)
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let _running = Running(child);
    let (lines_tx, lines) = mpsc::channel();
    for pipe in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let mut next_line = |timeout: Duration| {
        let line = lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("the example said no more; so far:\n{}", seen.join("\n")));
        seen.push(line.clone());
        line
    };
    let addr = loop {
        if let Some(url) = next_line(START).strip_prefix("listening on http://") {
            break url.trim_end_matches('/').to_string();
        }
    };

    let mut stream = TcpStream::connect(&addr).expect("the example listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /?task=sleep&ms=300 HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-fixture-tasks: 1"), "{response}");

    let fulfilled = loop {
        let line = next_line(Duration::from_secs(30));
        if line.contains("deferred task FULFILLED") {
            break line;
        }
    };
    assert!(fulfilled.contains("after_response_end_ms="), "{fulfilled}");
    let summary = loop {
        let line = next_line(Duration::from_secs(30));
        if line.contains("task(s) settled") {
            break line;
        }
    };
    assert_eq!(summary, "1 task(s) settled, in time: true");
}
