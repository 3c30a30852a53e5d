//! `native-proxy`: the auth middleware (guest/components/auth-middleware)
//! written as plain Rust on hyper, the upper bound `cargo xtask bench`
//! compares the WebAssembly hosts with.
//!
//! `native-proxy proxy` checks the `__session` cookie exactly as the
//! component does (public routes skip it; missing/invalid/expired → `307` to
//! `/sign-in`; valid → `x-user-id` / `x-session-id` for the next hop, and a
//! refreshed cookie near expiry), then either forwards to `--upstream` or,
//! without it, answers with the demo origin's JSON echo in-process (the
//! shape of a composed middleware + origin component). `native-proxy origin`
//! is that echo on its own, as an upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use session_token::{issue, verify};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, hyper::Error>;

const SESSION_COOKIE: &str = "__session";
const REFRESH_WITHIN: u64 = 5 * 60;
const SESSION_TTL: u64 = 60 * 60;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// The auth middleware, in front of `--upstream` or of the in-process echo.
    Proxy {
        /// Address to listen on (port 0 picks one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// The HMAC secret of session tokens (the component's `AUTH_SECRET`).
        #[arg(long)]
        secret: String,
        /// Forward authenticated requests to this `http://host:port`.
        #[arg(long)]
        upstream: Option<String>,
    },
    /// The demo origin's JSON echo.
    Origin {
        /// Address to listen on (port 0 picks one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

/// What the proxy needs for every request.
struct Proxy {
    secret: String,
    upstream: Option<(Uri, Client<HttpConnector, Body>)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (addr, proxy) = match Cli::parse().command {
        Mode::Proxy {
            addr,
            secret,
            upstream,
        } => {
            let upstream = match upstream {
                Some(url) => {
                    let uri: Uri = url.parse().context("--upstream")?;
                    let client = Client::builder(TokioExecutor::new()).build_http();
                    Some((uri, client))
                }
                None => None,
            };
            (addr, Some(Arc::new(Proxy { secret, upstream })))
        }
        Mode::Origin { addr } => (addr, None),
    };
    let listener = TcpListener::bind(addr).await?;
    println!(
        "native-proxy listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let proxy = proxy.clone();
                async move {
                    Ok::<_, Infallible>(match proxy {
                        Some(proxy) => proxy.handle(req).await,
                        None => echo(&req),
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Proxy {
    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let internal: Vec<_> = req
            .headers()
            .keys()
            .filter(|n| n.as_str().starts_with("x-middleware-"))
            .cloned()
            .collect();
        for name in internal {
            req.headers_mut().remove(name);
        }
        let mut refreshed = None;
        if !is_public(req.uri().path()) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let token = cookie(&req, SESSION_COOKIE);
            match token.map(|t| verify(&t, &self.secret, now)) {
                None | Some(Err(_)) => {
                    let target = req
                        .uri()
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    let query: String = form_urlencoded::Serializer::new(String::new())
                        .append_pair("redirect_url", &target)
                        .finish();
                    let mut res = plain(StatusCode::TEMPORARY_REDIRECT, Bytes::new());
                    if let Ok(location) = HeaderValue::from_str(&format!("/sign-in?{query}")) {
                        res.headers_mut().insert(LOCATION, location);
                    }
                    return res;
                }
                Some(Ok(mut session)) => {
                    for (name, value) in [
                        ("x-user-id", &session.user),
                        ("x-session-id", &session.session_id),
                    ] {
                        if let Ok(value) = HeaderValue::from_str(value) {
                            req.headers_mut().insert(name, value);
                        }
                    }
                    if session.expires_at - now < REFRESH_WITHIN {
                        session.expires_at = now + SESSION_TTL;
                        let token = issue(&session, &self.secret);
                        refreshed = HeaderValue::from_str(&format!(
                            "{SESSION_COOKIE}={token}; Max-Age={SESSION_TTL}; HttpOnly; Secure; SameSite=lax"
                        ))
                        .ok();
                    }
                }
            }
        }
        let mut res = match &self.upstream {
            None => echo(&req),
            Some((base, client)) => {
                let mut parts = base.clone().into_parts();
                parts.path_and_query = req.uri().path_and_query().cloned();
                let Ok(uri) = Uri::from_parts(parts) else {
                    return plain(StatusCode::BAD_REQUEST, Bytes::from_static(b"bad path"));
                };
                *req.uri_mut() = uri;
                req.headers_mut().remove(HOST);
                let req = req.map(BodyExt::boxed);
                match client.request(req).await {
                    Ok(res) => res.map(BodyExt::boxed),
                    Err(e) => plain(StatusCode::BAD_GATEWAY, Bytes::from(e.to_string())),
                }
            }
        };
        if let Some(cookie) = refreshed {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        res
    }
}

/// The value of cookie `name`, if the request has it.
fn cookie(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// `(user, session, exp)` of a valid token, else why not.
/// The component's public routes: `/`, `/sign-in`, and what Clerk's
/// default matcher skips (`/_next...` and paths with a static-file
/// extension, except under `/api` and `/trpc`), on the raw path (the
/// benchmark's paths need no decoding).
fn is_public(path: &str) -> bool {
    const STATIC: [&str; 20] = [
        "html", "htm", "css", "js", "jpeg", "jpg", "webp", "png", "gif", "svg", "ttf", "woff2",
        "woff", "ico", "csv", "docx", "doc", "xlsx", "xls", "zip",
    ];
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    if matches!(path, "/" | "/sign-in") {
        return true;
    }
    if path.starts_with("/api") || path.starts_with("/trpc") {
        return false;
    }
    path.starts_with("/_next")
        || path.match_indices('.').any(|(dot, _)| {
            let rest = &path[dot + 1..];
            rest.starts_with("webmanifest")
                || STATIC.iter().any(|ext| {
                    rest.starts_with(ext) && !(*ext == "js" && rest[2..].starts_with("on"))
                })
        })
}

/// The demo origin's JSON echo of what it received.
fn echo<B>(req: &Request<B>) -> Response<Body> {
    let headers: Vec<_> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            serde_json::json!({ "name": name.as_str(), "value": String::from_utf8_lossy(value.as_bytes()) })
        })
        .collect();
    let echo = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query().unwrap_or(""),
        "headers": headers,
    });
    let mut res = plain(StatusCode::OK, Bytes::from(format!("{echo:#}\n")));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn plain(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *res.status_mut() = status;
    res
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn public_routes_are_the_components() {
        for public in [
            "/",
            "/sign-in",
            "/sign-in/",
            "/logo.png",
            "/app.css",
            "/a/b/app.js",
            "/a.jsx",
            "/_next/static/x.js",
            "/_nextjs",
            "/favicon.ico",
            "/site.webmanifest",
        ] {
            assert!(is_public(public), "{public}");
        }
        for protected in [
            "/dashboard",
            "/dashboard.json",
            "/data.json",
            "/api/x.png",
            "/trpc/a.css",
            "/static/docs",
            "/sign-in/x",
        ] {
            assert!(!is_public(protected), "{protected}");
        }
    }
}
