//! Clerk-like session auth as a Next.js-style middleware.
//!
//! Public routes (`/`, `/sign-in`, `/static/...`, `/favicon.ico`) skip it
//! (matcher). Elsewhere the `__session` cookie must hold
//! `<user>.<session>.<exp>.<hex HMAC-SHA256(AUTH_SECRET, "<user>.<session>.<exp>")>`
//! with `exp` (Unix seconds) in the future:
//! - missing, invalid or expired: `307` to `/sign-in?redirect_url=<path>`,
//!   and a deferred telemetry `POST` to `TELEMETRY_URL` (if set);
//! - valid: the origin gets `x-user-id` / `x-session-id`; a session that
//!   expires within 5 minutes is refreshed (new cookie on the response);
//!   a deferred "session sync" `POST` goes to `SESSION_SYNC_URL` (if set).
#![cfg(target_arch = "wasm32")]

use std::time::{SystemTime, UNIX_EPOCH};

use edgeware::next::{
    Chain, Matcher, NextRequest, NextResponse, ResponseCookie, SameSite, SearchParams,
};
use edgeware::prelude::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const COOKIE: &str = "__session";
const REFRESH_WITHIN: u64 = 5 * 60;
const SESSION_TTL: u64 = 60 * 60;

edgeware::next_middleware!(|| {
    let public = ["/", "/sign-in", "/static/:path*", "/favicon.ico"];
    Ok(Chain::new().route(Matcher::all().except(public)?, auth))
});

async fn auth(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    let secret =
        edgeware::env("AUTH_SECRET").ok_or_else(|| Error::msg("AUTH_SECRET is not set"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let session = req
        .cookies()
        .get(COOKIE)
        .ok_or("missing")
        .and_then(|t| verify(t, &secret, now));
    let (user, session_id, exp) = match session {
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
            return NextResponse::redirect(&url.path_and_query());
        }
    };
    let mut headers = req.headers().clone();
    headers.insert("x-user-id", HeaderValue::from_str(&user)?);
    headers.insert("x-session-id", HeaderValue::from_str(&session_id)?);
    let mut res = NextResponse::next_with_request_headers(&headers);
    if exp - now < REFRESH_WITHIN {
        let token = sign(
            &format!("{user}.{session_id}.{}", now + SESSION_TTL),
            &secret,
        );
        res.cookies_mut().set(ResponseCookie {
            http_only: true,
            secure: true,
            same_site: Some(SameSite::Lax),
            max_age: Some(SESSION_TTL as i64),
            ..ResponseCookie::new(COOKIE, token)
        })?;
    }
    let body = serde_json::json!({ "userId": user, "sessionId": session_id, "requestId": event.request_id() });
    defer_post(&event, "SESSION_SYNC_URL", body);
    Ok(res)
}

/// `(user, session, exp)` of a valid token, else why not.
fn verify(token: &str, secret: &str, now: u64) -> Result<(String, String, u64), &'static str> {
    let (payload, signature) = token.rsplit_once('.').ok_or("malformed")?;
    let signature = hex(signature).ok_or("malformed")?;
    mac(secret, payload)
        .verify_slice(&signature)
        .map_err(|_| "bad signature")?;
    let mut parts = payload.split('.');
    let (Some(user), Some(session), Some(exp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed");
    };
    let exp: u64 = exp.parse().map_err(|_| "malformed")?;
    if exp <= now {
        return Err("expired");
    }
    Ok((user.to_owned(), session.to_owned(), exp))
}

fn mac(secret: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac
}

fn sign(payload: &str, secret: &str) -> String {
    let tag = mac(secret, payload).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{payload}.{hex}")
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Registers a deferred JSON `POST` of `body` to the URL in env `var`, if set.
fn defer_post(event: &FetchEvent, var: &str, body: serde_json::Value) {
    let Some(url) = edgeware::env(var) else {
        return;
    };
    event.wait_until(async move {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .map_err(Error::from)?;
        let status = edgeware::fetch(request).await?.status();
        if !status.is_success() {
            return Err(format!("POST {url} answered {status}"));
        }
        Ok(())
    });
}
