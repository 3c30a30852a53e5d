//! Clerk-like session auth as a Next.js-style middleware.
//!
//! Public routes skip it: `/`, `/sign-in`, and what Clerk's default matcher
//! skips, i.e. Next.js internals (`/_next/...`) and static files (a path
//! with a `.css`, `.js`, `.png`, `.ico`, `.csv`, `.zip`, ... extension),
//! except under `/api` and `/trpc`. As with Clerk, an origin must not serve
//! private content under such names. Elsewhere the `__session` cookie must hold
//! `<user>.<session>.<exp>.<hex HMAC-SHA256(AUTH_SECRET, "<user>.<session>.<exp>")>`
//! with `exp` (Unix seconds) in the future:
//! - missing, invalid or expired: `307` to `/sign-in?redirect_url=<path>`,
//!   and a deferred telemetry `POST` to `TELEMETRY_URL` (if set);
//! - valid: the origin gets `x-user-id` / `x-session-id`; a session that
//!   expires within 5 minutes is refreshed (new cookie on the response);
//!   a deferred "session sync" `POST` goes to `SESSION_SYNC_URL` (if set).
//!
//! With `SIGN_IN_PASSWORD` set (a demo feature: one shared password),
//! `POST /sign-in` with a form (`user`, `password`, `redirect_url`) issues a
//! session for `user` and answers `303` to `redirect_url` (a path on this
//! site, else `/`); a wrong password answers `303` to
//! `/sign-in?error=invalid`, a form posted from another site `403`.
//! Otherwise `/sign-in` goes to the origin, which shows the form.
//!
//! Session cookies are `HttpOnly`, `SameSite=Lax` and `Secure`, except on a
//! loopback host (`localhost`, `127.0.0.1`, `[::1]`), where browsers may
//! refuse `Secure` cookies over plain HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

use edgeware::next::{Chain, Matcher, ResponseCookie, SameSite, SearchParams};
use edgeware::prelude::*;
use session_token::{Session, issue, same_secret, sign, verify};

const COOKIE: &str = "__session";
const REFRESH_WITHIN: u64 = 5 * 60;
const SESSION_TTL: u64 = 60 * 60;

/// Clerk's default matcher (`clerkMiddleware`'s docs): every path except
/// Next.js internals and static files, and always `/api` and `/trpc`.
const CLERK_MATCHER: [&str; 2] = [
    "/((?!_next|[^?]*\\.(?:html?|css|js(?!on)|jpe?g|webp|png|gif|svg|ttf|woff2?|ico|csv|docx?|xlsx?|zip|webmanifest)).*)",
    "/(api|trpc)(.*)",
];

#[edgeware::middleware]
fn chain() -> Result<Chain<FetchEvent>> {
    let protected = Matcher::new(CLERK_MATCHER)?.except(["/", "/sign-in"])?;
    Ok(Chain::new()
        .route(Matcher::new(["/sign-in"])?, sign_in)
        .route(protected, auth))
}

fn secret() -> Result<String> {
    edgeware::env("AUTH_SECRET").ok_or_else(|| Error::msg("AUTH_SECRET is not set"))
}

fn now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// `POST /sign-in` when `SIGN_IN_PASSWORD` is set; see the crate docs.
async fn sign_in(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    let Some(password) = edgeware::env("SIGN_IN_PASSWORD") else {
        return Ok(NextResponse::next());
    };
    if req.method() != Method::POST {
        return Ok(NextResponse::next());
    }
    if !same_site(req) {
        return Ok(NextResponse::new(
            StatusCode::FORBIDDEN,
            "cross-site sign-in refused\n",
        ));
    }
    let secret = secret()?;
    let form = SearchParams::parse(&req.text().await?);
    let target = local_path(form.get("redirect_url").unwrap_or("/"));
    let user = form.get("user").unwrap_or("").trim();
    let given = form.get("password").unwrap_or("");
    let valid_user = !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    // Compared as MACs: the time taken tells nothing about the password.
    let password_ok = same_secret(&secret, given, &password);
    if !(valid_user && password_ok) {
        let mut url = req.next_url().clone();
        url.set_pathname("/sign-in");
        *url.search_params_mut() = SearchParams::default();
        url.search_params_mut().set("redirect_url", &target);
        url.search_params_mut().set("error", "invalid");
        return NextResponse::redirect_with_status(url.path_and_query(), StatusCode::SEE_OTHER);
    }
    let now = now()?;
    let nonce = sign(
        &format!("session:{}:{now}:{user}", event.request_id()),
        &secret,
    );
    let session_id = format!("sess_{}", &nonce[nonce.len() - 16..]);
    let session = Session {
        user: user.to_owned(),
        session_id,
        expires_at: now + SESSION_TTL,
    };
    let token = issue(&session, &secret);
    let mut res = NextResponse::redirect_with_status(&target, StatusCode::SEE_OTHER)?;
    res.cookies_mut().set(session_cookie(req, token))?;
    Ok(res)
}

/// Whether a form post comes from this site: no `Origin` header, or one
/// naming the host the request was sent to (`host[:port]`).
fn same_site(req: &NextRequest) -> bool {
    match req.header("origin") {
        Ok(None) => true,
        Ok(Some(origin)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == req.next_url().host()),
        Err(_) => false,
    }
}

/// `target` if it is a path on this site, else `/` (no open redirects).
fn local_path(target: &str) -> String {
    let local = target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.chars().any(char::is_control);
    if local { target } else { "/" }.to_owned()
}

/// The `__session` cookie holding `token` (see the crate docs).
fn session_cookie(req: &NextRequest, token: String) -> ResponseCookie {
    let loopback = matches!(
        req.next_url().hostname(),
        "localhost" | "127.0.0.1" | "[::1]"
    );
    ResponseCookie {
        http_only: true,
        secure: !loopback,
        same_site: Some(SameSite::Lax),
        max_age: Some(SESSION_TTL as i64),
        ..ResponseCookie::new(COOKIE, token)
    }
}

async fn auth(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    let secret = secret()?;
    let now = now()?;
    let session = match req.cookies().get(COOKIE) {
        None => Err("missing".to_owned()),
        Some(token) => verify(token, &secret, now).map_err(|e| e.to_string()),
    };
    let mut session = match session {
        Ok(session) => session,
        Err(reason) => {
            let body = serde_json::json!({ "event": "auth.redirect", "reason": reason,
                "path": req.next_url().pathname(), "requestId": event.request_id() });
            defer_post(&event, "TELEMETRY_URL", body);
            let mut url = req.next_url().clone();
            url.set_pathname("/sign-in");
            *url.search_params_mut() = SearchParams::default();
            url.search_params_mut()
                .set("redirect_url", &req.next_url().path_and_query());
            return NextResponse::redirect(url.path_and_query());
        }
    };
    let mut headers = req.headers().clone();
    headers.insert("x-user-id", HeaderValue::from_str(&session.user)?);
    headers.insert("x-session-id", HeaderValue::from_str(&session.session_id)?);
    let mut res = NextResponse::next_with_request_headers(&headers);
    if session.expires_at - now < REFRESH_WITHIN {
        session.expires_at = now + SESSION_TTL;
        res.cookies_mut()
            .set(session_cookie(req, issue(&session, &secret)))?;
    }
    let body = serde_json::json!({ "userId": session.user, "sessionId": session.session_id, "requestId": event.request_id() });
    defer_post(&event, "SESSION_SYNC_URL", body);
    Ok(res)
}

/// Registers a deferred JSON `POST` of `body` to the URL in env `var`, if set.
fn defer_post(event: &FetchEvent, var: &str, body: serde_json::Value) {
    let Some(url) = edgeware::env(var) else {
        return;
    };
    event.wait_until(async move { edgeware::post_json(&url, body.to_string()).await.map(drop) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeware::next::UrlConfig;

    fn request(uri: &str, origin: Option<&str>) -> NextRequest {
        let mut builder = Request::builder().uri(uri).header("host", "shop.test");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        NextRequest::new(
            builder.body(Body::empty()).unwrap(),
            &UrlConfig::default(),
            None,
        )
    }

    #[test]
    fn redirect_targets_stay_on_this_site() {
        assert_eq!(local_path("/dashboard?tab=1"), "/dashboard?tab=1");
        for elsewhere in [
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test",
            "dashboard",
            "/a\nb",
        ] {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere:?}");
        }
    }

    #[test]
    fn only_same_site_forms_sign_in() {
        assert!(same_site(&request("/sign-in", None)));
        assert!(same_site(&request("/sign-in", Some("https://shop.test"))));
        assert!(!same_site(&request("/sign-in", Some("https://evil.test"))));
    }
}
