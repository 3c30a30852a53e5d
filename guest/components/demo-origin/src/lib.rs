//! Echoes the request it received (method, path, query and every header) as
//! an HTML page, or as JSON for `Accept: application/json` or a path ending
//! in `.json`, so you can see what a middleware in front of it changed. The
//! HTML page of `/sign-in` also shows a sign-in form, which posts to
//! `/sign-in` for auth-middleware to handle.

use std::fmt::Write;

use edgeware::next::SearchParams;
use edgeware::prelude::*;

#[edgeware::service]
async fn handle(req: Request, _event: FetchEvent) -> Result<Response> {
    let method = req.method().as_str();
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let headers: Vec<(&str, String)> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();

    let wants_json = path.ends_with(".json")
        || req.headers().get_all(header::ACCEPT).iter().any(|accept| {
            accept
                .to_str()
                .is_ok_and(|a| a.contains("application/json"))
        });
    let (content_type, body) = if wants_json {
        let headers: Vec<_> = headers
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let echo = serde_json::json!({ "method": method, "path": path, "query": query, "headers": headers });
        ("application/json", format!("{echo:#}\n"))
    } else {
        let form = if path == "/sign-in" {
            sign_in_form(query)
        } else {
            String::new()
        };
        (
            "text/html; charset=utf-8",
            page(method, path, query, &headers, &form),
        )
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))?)
}

/// A form that posts `user`, `password` and the query's `redirect_url` to
/// `/sign-in`, with a notice after a failed attempt (`error=...`).
fn sign_in_form(query: &str) -> String {
    let params = SearchParams::parse(query);
    let target = params.get("redirect_url").unwrap_or("/");
    let notice = if params.has("error") {
        "<p><strong>Wrong user name or password.</strong></p>\n"
    } else {
        ""
    };
    format!(
        "<h2>Sign in</h2>\n{notice}<form method=\"post\" action=\"/sign-in\">\n\
         <input type=\"hidden\" name=\"redirect_url\" value=\"{}\">\n\
         <p><label>User <input name=\"user\" value=\"user_1\" pattern=\"[A-Za-z0-9_-]+\"></label></p>\n\
         <p><label>Password <input name=\"password\" type=\"password\"></label></p>\n\
         <p><button>Sign in</button></p>\n</form>\n",
        escape(target)
    )
}

fn page(method: &str, path: &str, query: &str, headers: &[(&str, String)], form: &str) -> String {
    let mut rows = String::new();
    for (name, value) in headers {
        let _ = writeln!(
            rows,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>edgeware demo origin</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}th,td{{text-align:left;padding:.2em 1em;\
         font-family:monospace}}</style></head>\n<body><h1>edgeware demo origin</h1>\n\
         <p><code>{} {}</code></p>\n<p>Query: <code>{}</code></p>\n{form}\
         <h2>Request headers</h2>\n<table>\n{rows}</table>\n</body></html>\n",
        escape(method),
        escape(path),
        escape(query),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
