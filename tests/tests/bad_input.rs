//! Hostile and broken input, over raw loopback sockets: malformed HTTP/1.1,
//! invalid header bytes, oversize heads, request smuggling shapes, HTTP/2
//! garbage, many slowloris connections at once, path encodings aimed at the
//! auth middleware's matcher, and spoofed `x-middleware-*` headers in every
//! form. The rule: a 4xx (or the middleware's own decision), never a bypass,
//! never a crash — the host answers normally afterwards.

use edgeware_tests::{Host, component, fixture_host, get, session_token};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "bad-input-secret-0123456789";

fn auth() -> Host {
    let (auth, origin) = (component("auth-middleware"), component("demo-origin"));
    let secret = format!("AUTH_SECRET={SECRET}");
    Host::start(&[
        auth.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
        "--env",
        &secret,
    ])
}

fn addr(host: &Host) -> String {
    host.url.trim_start_matches("http://").to_string()
}

/// Writes `bytes` on a fresh connection and reads whatever comes back
/// until the host closes it (or 5 s pass).
fn exchange(host: &Host, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr(host)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// The status code of an HTTP/1.1 answer, if there is one.
fn status_of(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn assert_still_serving(host: &Host) {
    let reply = get(&host.url("/"), &[]);
    assert!(reply.status < 500, "still serving: {}", reply.status);
}

#[test]
fn malformed_http1_is_refused_and_the_host_keeps_serving() {
    let host = fixture_host(&["--max-header-bytes", "8192", "--header-read-timeout", "2s"]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..2000)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    // Each must be refused: a 4xx (or 505), or the connection closed.
    let refused: Vec<Vec<u8>> = vec![
        b"\r\n\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1 extra\r\nhost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n".to_vec(),
        b"G\x00T / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        b"GET /\x7f HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nx\x00y: 1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nx: a\rb\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nx : 1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\x80\xff: 1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n x-leading: space\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n folded\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!"
            .to_vec(),
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1e3\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nhost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n".to_vec(),
        b"GET * HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n".to_vec(),
        b"GET http://[::1 HTTP/1.1\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS hello
        long_uri.into_bytes(),
        many_headers.into_bytes(),
        vec![b'A'; 100_000],
    ];
    let mut tried = 0;
    for input in &refused {
        let answer = exchange(&host, input);
        tried += 1;
        let status = status_of(&answer);
        assert!(
            answer.is_empty() || status.is_some_and(|s| (400..500).contains(&s) || s == 505),
            "{:?} was answered {:?}",
            String::from_utf8_lossy(&input[..input.len().min(80)]),
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
    // Shapes a server may accept or refuse, but must survive: smuggling
    // attempts, broken chunked bodies, bytes that are not UTF-8.
    let survived: Vec<&[u8]> = vec![
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"POST /?body=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nhost: x\r\nx-bytes: \xff\xfe\x80\r\n\r\n",
        b"GET /%00%ff%c0%af HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET /?task=%ff&count=99999999999999999999 HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET /?ms=,,,&task=ok HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: x\r\nupgrade: h2c\r\nconnection: upgrade, http2-settings\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    ];
    for input in &survived {
        let answer = exchange(&host, input);
        tried += 1;
        if let Some(status) = status_of(&answer) {
            assert!(status != 500 || answer.windows(10).any(|w| w == b"request id"));
        }
        assert_still_serving(&host);
    }
    assert_still_serving(&host);
    println!("malformed HTTP/1.1 inputs tried: {tried}");
}

/// `PRI * HTTP/2.0` and the client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn http2_garbage_never_crashes_the_host() {
    let host = fixture_host(&["--header-read-timeout", "2s"]);
    let settings = frame(4, 0, 0, &[]);
    let mut inputs: Vec<Vec<u8>> = vec![
        // A frame far larger than the peer allows.
        [PREFACE, &[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0]].concat(),
        // SETTINGS with a length that is not a multiple of 6, on stream 1.
        [PREFACE, &frame(4, 0, 1, &[1, 2, 3])].concat(),
        // HEADERS with garbage HPACK.
        [PREFACE, &settings, &frame(1, 0x5, 1, &[0xff; 32])].concat(),
        // HEADERS on stream 0, and on an even stream.
        [PREFACE, &settings, &frame(1, 0x5, 0, &[0x82])].concat(),
        [PREFACE, &settings, &frame(1, 0x5, 2, &[0x82])].concat(),
        // DATA on an idle stream; WINDOW_UPDATE of 0; RST on stream 0.
        [PREFACE, &settings, &frame(0, 1, 7, b"data")].concat(),
        [PREFACE, &settings, &frame(8, 0, 0, &[0, 0, 0, 0])].concat(),
        [PREFACE, &settings, &frame(3, 0, 0, &[0, 0, 0, 1])].concat(),
        // CONTINUATION without HEADERS; PUSH_PROMISE from a client.
        [PREFACE, &settings, &frame(9, 4, 1, &[0x82])].concat(),
        [PREFACE, &settings, &frame(5, 4, 1, &[0, 0, 0, 2, 0x82])].concat(),
        // A truncated preface, and a preface followed by HTTP/1.1.
        PREFACE[..10].to_vec(),
        [PREFACE, b"GET / HTTP/1.1\r\n\r\n"].concat(),
        // Stream-id and pseudo-header abuse: `:path` missing, then
        // `:method` twice (literal header fields, no indexing).
        [PREFACE, &settings, &frame(1, 0x5, 1, &[0x82, 0x86])].concat(),
        [
            PREFACE,
            &settings,
            &frame(1, 0x5, 1, &[0x82, 0x82, 0x84, 0x86]),
        ]
        .concat(),
    ];
    // And seeded random frames after a valid preface.
    let mut seed = 0x243f_6a88_85a3_08d3_u64;
    for _ in 0..40 {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&settings);
        for _ in 0..(seed % 200 + 9) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        inputs.push(bytes);
    }
    for input in &inputs {
        let answer = exchange(&host, input);
        assert!(
            !answer.starts_with(b"HTTP/1.1 2"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_still_serving(&host);
    println!("HTTP/2 garbage inputs tried: {}", inputs.len());
}

#[test]
fn fifty_slowloris_connections_are_cut_off_while_others_are_served() {
    let host = fixture_host(&["--header-read-timeout", "1s"]);
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut stream = TcpStream::connect(addr(&host)).unwrap();
            let partial = if i % 2 == 0 {
                "GET / HTTP/1.1\r\nx-a: 1\r\n"
            } else {
                "GE"
            };
            stream.write_all(partial.as_bytes()).unwrap();
            stream
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(get(&host.url("/"), &[]).status, 200);
    }
    let cut: Vec<_> = slow
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(8)))
                    .unwrap();
                // Keep trickling a byte; the timeout covers the whole head.
                let _ = stream.write_all(b"x");
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
                answer
            })
        })
        .collect();
    for handle in cut {
        let answer = handle.join().unwrap();
        assert!(!answer.starts_with(b"HTTP/1.1 2"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut off by the 1 s header timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(get(&host.url("/"), &[]).status, 200);
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a lenient origin server would make of `path`: percent-decoded
/// once (as HTTP servers do; double decoding is the origin's own bug),
/// `\` as `/`, `;params` dropped, repeated slashes collapsed, dot segments
/// resolved.
fn as_an_origin_sees_it(path: &str) -> String {
    let path = percent_decode(path);
    let path = path.replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

fn is_public(path: &str) -> bool {
    let path = path.trim_end_matches('\0');
    ["/", "/sign-in", "/favicon.ico", "/static"].contains(&path) || path.starts_with("/static/")
}

/// Sends a raw GET of `path` with `headers` to the auth host; returns the
/// status, the location header and the body.
fn raw(host: &Host, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nhost: edge.test\r\naccept: application/json\r\nconnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let answer = exchange(host, request.as_bytes());
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = status_of(&answer).unwrap_or(0);
    let location = text
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or("")
        .to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, location, body)
}

/// The path the demo origin says it received.
fn origin_path(body: &str) -> Option<String> {
    let line = body
        .lines()
        .find(|l| l.trim_start().starts_with("\"path\": "))?;
    let value = line.trim().trim_start_matches("\"path\": \"");
    Some(
        value
            .trim_end_matches(',')
            .trim_end_matches('"')
            .to_string(),
    )
}

#[test]
fn path_encoding_tricks_never_bypass_the_auth_matcher() {
    let host = auth();
    let mut paths: Vec<String> = [
        "/admin",
        "/ADMIN",
        "/Admin/",
        "/admin/",
        "/admin//",
        "//admin",
        "///admin",
        "/./admin",
        "/%2e/admin",
        "/%2e%2e/admin",
        "/%2E%2E/admin",
        "/static/../admin",
        "/static/%2e%2e/admin",
        "/static/%2E%2e/admin",
        "/static/..%2fadmin",
        "/static/..%2Fadmin",
        "/static%2f..%2fadmin",
        "/static/%252e%252e/admin",
        "/static/..%5cadmin",
        "/static/..\\admin",
        "/static\\..\\admin",
        "/static/.%2e/admin",
        "/static/%2e./admin",
        "/static/x/../../admin",
        "/static/./../admin",
        "/static;/../admin",
        "/static/..;/admin",
        "/sign-in/../admin",
        "/sign-in/..%2fadmin",
        "/sign-in%2f..%2fadmin",
        "/sign-in/%2e%2e/admin",
        "/sign-in?/../admin",
        "/sign-in#/../admin",
        "/sign-in%3f/../admin",
        "/sign-in%00",
        "/sign-in%00/../admin",
        "/favicon.ico/../admin",
        "/favicon.ico%2f..%2fadmin",
        "/%61dmin",
        "/%41dmin",
        "/adm%69n",
        "/admin%2f",
        "/admin%2F..%2F",
        "/%2fadmin",
        "/%2F%2Fadmin",
        "/%5cadmin",
        "/admin%20",
        "/admin%09",
        "/admin.",
        "/admin%ff",
        "/%c0%ae%c0%ae/admin",
        "/static/%c0%ae%c0%ae/admin",
        "/\u{ff0f}admin",
        "/STATIC/../admin",
        "/Static/x",
        "/SIGN-IN",
        "/Sign-In/",
        "/sign-in/",
        "/sign-in//",
        "/static",
        "/static/",
        "/static/app.js",
        "/",
        "/favicon.ico",
        "/favicon.ico/",
        "*",
        "http://edge.test/admin",
        "http://edge.test/static/../admin",
        "http://evil.test/admin",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    // Every form once more with a query string.
    let with_query: Vec<String> = paths
        .iter()
        .filter(|p| p.starts_with('/'))
        .map(|p| format!("{p}?next=/admin"))
        .collect();
    paths.extend(with_query);

    let mut decisions = std::collections::BTreeMap::<u16, usize>::new();
    for path in &paths {
        let (status, location, body) = raw(&host, path, &[]);
        *decisions.entry(status).or_default() += 1;
        match status {
            200 => {
                let seen = origin_path(&body).unwrap_or_else(|| panic!("{path}: {body}"));
                assert!(
                    is_public(&as_an_origin_sees_it(&seen)),
                    "BYPASS: {path:?} reached the origin as {seen:?} without a session"
                );
            }
            307 => assert!(
                location.starts_with("/sign-in?redirect_url="),
                "{path}: {location}"
            ),
            308 => assert!(!location.is_empty(), "{path}"),
            400..=499 => {}
            other => panic!("{path:?} answered {other}: {body}"),
        }
    }
    assert_still_serving(&host);
    println!(
        "paths tried: {}; decisions by status: {decisions:?}",
        paths.len()
    );
}

fn token(user: &str, session: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    session_token(user, session, exp, SECRET)
}

/// Every value the origin's echo lists for header `name`.
fn origin_saw(body: &str, name: &str) -> Vec<String> {
    let needle = format!("\"name\": \"{name}\",");
    body.lines()
        .zip(body.lines().skip(1))
        .filter(|(line, _)| line.trim() == needle)
        .map(|(_, value)| {
            let value = value.trim().trim_start_matches("\"value\": \"");
            value.trim_end_matches('"').to_string()
        })
        .collect()
}

fn spoofs() -> Vec<Vec<(&'static str, &'static str)>> {
    let sub = "x-middleware-subrequest";
    vec![
        vec![(sub, "middleware")],
        vec![(
            sub,
            "middleware:middleware:middleware:middleware:middleware",
        )],
        vec![(
            sub,
            "src/middleware:src/middleware:src/middleware:src/middleware:src/middleware",
        )],
        vec![(sub, "pages/_middleware")],
        vec![(
            "X-Middleware-Subrequest",
            "middleware:middleware:middleware:middleware:middleware",
        )],
        vec![
            ("X-MIDDLEWARE-SUBREQUEST", "middleware"),
            (sub, "src/middleware"),
        ],
        vec![("x-middleware-override-headers", "x-user-id,x-session-id")],
        vec![
            ("x-middleware-override-headers", "x-user-id"),
            ("x-middleware-request-x-user-id", "root"),
        ],
        vec![
            ("X-Middleware-Override-Headers", "x-user-id, cookie"),
            ("X-MIDDLEWARE-REQUEST-X-USER-ID", "root"),
            ("x-middleware-request-cookie", "__session=forged"),
        ],
        vec![("x-middleware-request-x-user-id", "root")],
        vec![("x-middleware-next", "1")],
        vec![("x-middleware-rewrite", "/")],
        vec![("x-middleware-rewrite", "http://evil.test/")],
        vec![("x-middleware-redirect", "/")],
        vec![("x-middleware-skip", "1")],
        vec![("x-middleware-invoke", "1"), ("x-middleware-prefetch", "1")],
        vec![("x-user-id", "root"), ("x-session-id", "forged")],
    ]
}

#[test]
fn spoofed_internal_headers_never_bypass_or_reach_the_origin() {
    let host = auth();
    let session = format!("__session={}", token("user_42", "sess_7"));
    let mut tried = 0;
    for spoof in spoofs() {
        for path in ["/admin", "/dashboard/x", "/"] {
            // Signed out: the middleware's decision stands.
            let (status, location, body) = raw(&host, path, &spoof);
            tried += 1;
            if path == "/" {
                assert_eq!(status, 200, "{spoof:?}");
                assert!(!body.contains("\"x-middleware-"), "{spoof:?}: {body}");
            } else {
                assert_eq!(status, 307, "{spoof:?} on {path}: {body}");
                assert!(location.starts_with("/sign-in?"), "{location}");
            }
            // Signed in: the origin sees the real identity, and no internal
            // header, whatever the client sent.
            let mut headers = spoof.clone();
            headers.push(("cookie", &session));
            let (status, _, body) = raw(&host, path, &headers);
            tried += 1;
            assert_eq!(status, 200, "{spoof:?} on {path}: {body}");
            assert!(!body.contains("\"x-middleware-"), "{spoof:?}: {body}");
            if path != "/" {
                assert_eq!(origin_saw(&body, "x-user-id"), ["user_42"], "{spoof:?}");
                assert_eq!(origin_saw(&body, "x-session-id"), ["sess_7"], "{spoof:?}");
                assert_eq!(origin_saw(&body, "cookie"), [session.as_str()], "{spoof:?}");
            }
        }
    }
    // The same over HTTP/2 (h2c prior knowledge).
    for spoof in spoofs() {
        let mut command = std::process::Command::new("curl");
        command.args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ]);
        for (name, value) in &spoof {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
        let output = command.arg(host.url("/admin")).output().expect("curl runs");
        tried += 1;
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "307",
            "h2 {spoof:?}"
        );
    }
    assert_still_serving(&host);
    println!("spoofed requests tried: {tried}");
}
