//! The auth middleware in front of a Next.js-shaped origin: a protected
//! page's Pages Router data URL (`/_next/data/<build>/dashboard.json`) and
//! its App Router RSC and segment-prefetch URLs (`/dashboard.rsc`,
//! `/dashboard.segments/...segment.rsc`) get the middleware's redirect, as
//! the page does, because the matcher compiles its patterns as Next.js
//! does. Real `edge-host` with `--upstream`, a loopback origin, real HTTP.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeware_tests::{Host, component, get, session_token};

const SECRET: &str = "next-data-test-secret-0123456789";
const BUILD: &str = "Bx7_build-id";

/// The private content the origin serves for the dashboard in each form.
const SECRET_PAGE: &str = "private dashboard of alice";

/// A loopback origin answering like a Next.js server: the dashboard as a
/// page, as its data route, as RSC payloads; public pages and static files;
/// 404 otherwise. It records every path it was asked for.
struct Origin {
    url: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = paths.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Origin { url, paths }
    }

    /// The paths (without query) the origin was asked for.
    fn saw(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

/// What the origin answers for `path`: status, content type, body.
fn route(path: &str) -> (u16, &'static str, String) {
    let data = format!("/_next/data/{BUILD}");
    let page = |body: &str| (200, "text/html", body.to_owned());
    let json = |body: &str| {
        (
            200,
            "application/json",
            format!("{{\"pageProps\":{{\"message\":\"{body}\"}}}}"),
        )
    };
    let rsc = |body: &str| {
        (
            200,
            "text/x-component",
            format!("0:[\"$\",\"p\",null,\"{body}\"]"),
        )
    };
    match path {
        "/dashboard" => page(SECRET_PAGE),
        "/dashboard.rsc"
        | "/dashboard.segments/_tree.segment.rsc"
        | "/dashboard.segments/$c$children/__PAGE__.segment.rsc" => rsc(SECRET_PAGE),
        "/" | "/index" => page("home"),
        "/sign-in" => page("sign in"),
        "/_next/static/chunks/app.js" => (200, "application/javascript", "app()".to_owned()),
        p if p == format!("{data}/dashboard.json") => json(SECRET_PAGE),
        p if p == format!("{data}/index.json") => json("home"),
        _ => (404, "text/plain", "not found".to_owned()),
    }
}

fn serve(stream: TcpStream, record: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let (status, kind, body) = route(&path);
    record.lock().unwrap().push(path);
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// auth-middleware on `edge-host`, forwarding to `origin`.
fn host(origin: &Origin) -> Host {
    let middleware = component("auth-middleware");
    let secret = format!("AUTH_SECRET={SECRET}");
    Host::start(&[
        middleware.to_str().unwrap(),
        "--upstream",
        &origin.url,
        "--env",
        &secret,
    ])
}

/// The protected dashboard in every form a Next.js client asks for it.
fn dashboard_urls() -> Vec<String> {
    vec![
        "/dashboard".to_owned(),
        format!("/_next/data/{BUILD}/dashboard.json"),
        "/dashboard.rsc".to_owned(),
        "/dashboard.segments/_tree.segment.rsc".to_owned(),
        "/dashboard.segments/$c$children/__PAGE__.segment.rsc".to_owned(),
    ]
}

/// The headers a Next.js client sends with each form.
fn client_headers(url: &str) -> Vec<(&'static str, &'static str)> {
    if url.starts_with("/_next/data/") {
        vec![("x-nextjs-data", "1")]
    } else if url.ends_with(".rsc") {
        vec![("rsc", "1"), ("next-router-prefetch", "1")]
    } else {
        Vec::new()
    }
}

#[test]
fn data_and_prefetch_urls_of_a_protected_page_are_redirected() {
    let origin = Origin::start();
    let host = host(&origin);
    for url in dashboard_urls() {
        let reply = get(&host.url(&url), &client_headers(&url));
        assert_eq!(reply.status, 307, "{url}: {}", reply.body);
        let location = reply.header("location").unwrap_or_default();
        assert!(
            location.starts_with("/sign-in?redirect_url="),
            "{url}: {location}"
        );
        assert!(!reply.body.contains(SECRET_PAGE), "{url} leaked the page");
    }
    let seen = origin.saw();
    for url in dashboard_urls() {
        assert!(!seen.contains(&url), "{url} reached the origin: {seen:?}");
    }
}

#[test]
fn with_a_session_the_same_urls_reach_the_page() {
    let origin = Origin::start();
    let host = host(&origin);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let cookie = format!(
        "__session={}",
        session_token("alice", "sess_1", exp, SECRET)
    );
    for url in dashboard_urls() {
        let mut headers = client_headers(&url);
        headers.push(("cookie", &cookie));
        let reply = get(&host.url(&url), &headers);
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        assert!(reply.body.contains(SECRET_PAGE), "{url}: {}", reply.body);
    }
    assert_eq!(origin.saw(), dashboard_urls());
}

#[test]
fn public_pages_stay_public_in_every_form() {
    let origin = Origin::start();
    let host = host(&origin);
    for url in [
        "/".to_owned(),
        "/index".to_owned(),
        format!("/_next/data/{BUILD}/index.json"),
        "/_next/static/chunks/app.js".to_owned(),
    ] {
        let reply = get(&host.url(&url), &client_headers(&url));
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    }
}
