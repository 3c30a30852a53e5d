//! auth-middleware end to end, beyond `nextjs.rs`: Clerk's default matcher
//! (static files pass without a session, pages still redirect) and the demo
//! sign-in (`SIGN_IN_PASSWORD`), whose session cookie is signed with the
//! same HMAC scheme the middleware then accepts. Real `edge-host`, the demo
//! origin behind it, real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeware_tests::{Host, Reply, Sink, component, get, session_token};

const SECOND: Duration = Duration::from_secs(1);
const SECRET: &str = "auth-test-secret-0123456789";
const PASSWORD: &str = "open sesame";

struct Auth {
    host: Host,
    telemetry: Sink,
    sync: Sink,
}

/// auth-middleware in front of the demo origin, with the demo sign-in when
/// `password` is given.
fn auth(password: Option<&str>) -> Auth {
    let (telemetry, sync) = (Sink::start(), Sink::start());
    let mut env = vec![
        format!("AUTH_SECRET={SECRET}"),
        format!("TELEMETRY_URL={}/telemetry", telemetry.url),
        format!("SESSION_SYNC_URL={}/sync", sync.url),
    ];
    if let Some(password) = password {
        env.push(format!("SIGN_IN_PASSWORD={password}"));
    }
    let (middleware, origin) = (component("auth-middleware"), component("demo-origin"));
    let mut args = vec![
        middleware.to_str().unwrap(),
        "--origin",
        origin.to_str().unwrap(),
    ];
    for pair in &env {
        args.extend(["--env", pair.as_str()]);
    }
    for sink in [&telemetry, &sync] {
        args.extend(["--allow-outbound", sink.authority()]);
    }
    Auth {
        host: Host::start(&args),
        telemetry,
        sync,
    }
}

/// The demo origin's JSON echo of `path`.
fn echo(host: &Host, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("accept", "application/json")];
    all.extend_from_slice(headers);
    get(&host.url(path), &all)
}

/// The values the origin received for header `name`, from its JSON echo.
fn origin_saw(reply: &Reply, name: &str) -> Vec<String> {
    let needle = format!("\"name\": \"{name}\",");
    let lines: Vec<&str> = reply.body.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].trim() == needle)
        .map(|pair| {
            let value = pair[1].trim().trim_start_matches("\"value\": \"");
            value.trim_end_matches('"').to_string()
        })
        .collect()
}

/// A response read off the wire: status, lower-cased headers, body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `form` (already encoded) to `/sign-in` with `headers`; `host` is
/// the `Host` header (the host's own authority when `None`).
fn post_sign_in(server: &Host, form: &str, host: Option<&str>, headers: &[(&str, &str)]) -> Raw {
    let authority = server.url.trim_start_matches("http://");
    let mut request = format!(
        "POST /sign-in HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\nconnection: close\r\n",
        host.unwrap_or(authority),
        form.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(form);
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(30 * SECOND)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_string(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn static_assets_pass_without_a_session_and_pages_still_redirect() {
    let auth = auth(None);
    for public in [
        "/",
        "/sign-in",
        "/logo.png",
        "/app.css",
        "/_next/static/chunks/app.js",
        "/favicon.ico",
        "/static/app.css",
        "/fonts/inter.woff2",
    ] {
        let reply = echo(&auth.host, public, &[]);
        assert_eq!(reply.status, 200, "{public} is public: {}", reply.body);
        assert!(
            reply.body.contains(&format!("\"path\": \"{public}\"")),
            "{}",
            reply.body
        );
        assert!(origin_saw(&reply, "x-user-id").is_empty());
    }
    let protected = [
        "/dashboard",
        "/dashboard/settings",
        "/data.json",
        "/api/logo.png",
        "/trpc/post.css",
        "/static/docs",
        "/logo.png/../dashboard",
        "/_next/../dashboard",
    ];
    for path in protected {
        let reply = get(&auth.host.url(path), &[]);
        assert_eq!(reply.status, 307, "{path} must be checked: {}", reply.body);
        assert!(
            reply
                .header("location")
                .is_some_and(|l| l.starts_with("/sign-in?redirect_url=")),
            "{path}: {:?}",
            reply.header("location")
        );
    }
    // One deferred telemetry event per redirect, none for the assets.
    auth.telemetry.wait_for(protected.len(), 10 * SECOND);
    std::thread::sleep(SECOND / 2);
    assert_eq!(auth.telemetry.received().len(), protected.len());
}

/// The `__session` cookie of a `Set-Cookie` value, and its attributes.
fn session_cookie(set_cookie: &str) -> (String, Vec<String>) {
    let mut parts = set_cookie.split(';').map(str::trim);
    let token = parts
        .next()
        .and_then(|pair| pair.strip_prefix("__session="))
        .unwrap_or_else(|| panic!("not a session cookie: {set_cookie}"))
        .to_string();
    (token, parts.map(str::to_string).collect())
}

#[test]
fn sign_in_issues_a_session_the_middleware_accepts() {
    let auth = auth(Some(PASSWORD));
    let origin = format!("http://{}", auth.host.url.trim_start_matches("http://"));

    // The origin's sign-in page carries the form and where to go next.
    let page = get(
        &auth
            .host
            .url("/sign-in?redirect_url=%2Fdashboard%3Ftab%3D1"),
        &[],
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/sign-in\">"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("name=\"redirect_url\" value=\"/dashboard?tab=1\""),
        "{}",
        page.body
    );

    let signed_in = post_sign_in(
        &auth.host,
        "user=alice&password=open+sesame&redirect_url=%2Fdashboard%3Ftab%3D1",
        None,
        &[("origin", &origin)],
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/dashboard?tab=1"));
    let (token, attributes) = session_cookie(signed_in.header("set-cookie").expect("a cookie"));
    for attribute in ["Path=/", "Max-Age=3600", "HttpOnly", "SameSite=Lax"] {
        assert!(
            attributes.iter().any(|a| a.eq_ignore_ascii_case(attribute)),
            "{attribute}: {attributes:?}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a == "Secure"),
        "plain HTTP on a loopback host: {attributes:?}"
    );

    // Signed with AUTH_SECRET in the scheme the middleware verifies.
    let fields: Vec<&str> = token.split('.').collect();
    assert_eq!(fields.len(), 4, "{token}");
    let (user, session, exp) = (fields[0], fields[1], fields[2].parse::<u64>().unwrap());
    assert_eq!(user, "alice");
    assert!(
        session.starts_with("sess_") && session.len() == 21,
        "{session}"
    );
    assert!(exp.abs_diff(now() + 3600) <= 5, "exp {exp}");
    assert_eq!(token, session_token(user, session, exp, SECRET));

    let cookie = format!("__session={token}");
    let reply = echo(&auth.host, "/dashboard?tab=1", &[("cookie", &cookie)]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(origin_saw(&reply, "x-user-id"), ["alice"]);
    assert_eq!(origin_saw(&reply, "x-session-id"), [session]);
    let synced = auth.sync.wait_for(1, 10 * SECOND);
    assert!(
        synced[0].body.contains("\"userId\":\"alice\""),
        "{}",
        synced[0].body
    );

    // Two sign-ins, two sessions.
    let again = post_sign_in(&auth.host, "user=alice&password=open+sesame", None, &[]);
    assert_eq!(again.header("location"), Some("/"));
    let (second, _) = session_cookie(again.header("set-cookie").unwrap());
    assert_ne!(second.split('.').nth(1), Some(session));
}

#[test]
fn sign_in_refuses_wrong_passwords_other_sites_and_open_redirects() {
    let auth = auth(Some(PASSWORD));
    for form in [
        "user=alice&password=wrong&redirect_url=%2Fdashboard",
        "user=alice&redirect_url=%2Fdashboard",
        "user=a.b&password=open+sesame&redirect_url=%2Fdashboard",
        "user=&password=open+sesame&redirect_url=%2Fdashboard",
    ] {
        let reply = post_sign_in(&auth.host, form, None, &[]);
        assert_eq!(reply.status, 303, "{form}: {}", reply.body);
        assert_eq!(
            reply.header("location"),
            Some("/sign-in?redirect_url=%2Fdashboard&error=invalid"),
            "{form}"
        );
        assert_eq!(reply.header("set-cookie"), None, "{form}");
    }

    let foreign = post_sign_in(
        &auth.host,
        "user=alice&password=open+sesame",
        None,
        &[("origin", "http://evil.example")],
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert_eq!(foreign.header("set-cookie"), None);

    for target in [
        "%2F%2Fevil.example%2Fx",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let form = format!("user=alice&password=open+sesame&redirect_url={target}");
        let reply = post_sign_in(&auth.host, &form, None, &[]);
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some("/"), "{target}");
        assert!(reply.header("set-cookie").is_some());
    }

    // Served under a real name, the cookie is Secure.
    let named = post_sign_in(
        &auth.host,
        "user=alice&password=open+sesame",
        Some("auth.example"),
        &[("origin", "https://auth.example")],
    );
    assert_eq!(named.status, 303, "{}", named.body);
    let (_, attributes) = session_cookie(named.header("set-cookie").unwrap());
    assert!(attributes.iter().any(|a| a == "Secure"), "{attributes:?}");
}

#[test]
fn sign_in_is_off_without_a_password() {
    let auth = auth(None);
    let reply = post_sign_in(
        &auth.host,
        "user=alice&password=anything",
        None,
        &[("accept", "application/json")],
    );
    assert_eq!(reply.status, 200, "the origin answers: {}", reply.body);
    assert!(
        reply.body.contains("\"method\": \"POST\""),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("set-cookie"), None);
}
