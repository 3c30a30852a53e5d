//! `@edge-runtime/cookies`'s tests (`guest/sdk/tests/data/`), run against
//! the cookie jars.

use std::time::UNIX_EPOCH;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::{Priority, RequestCookies, ResponseCookie, ResponseCookies, SameSite};

const TABLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/edge-runtime-cookies.json"
));

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    list(value)
        .iter()
        .map(|pair| (text(&pair[0]).to_owned(), text(&pair[1]).to_owned()))
        .collect()
}

fn request_jar(header: &Value) -> RequestCookies {
    let mut headers = HeaderMap::new();
    if let Some(header) = header.as_str() {
        headers.insert(COOKIE, HeaderValue::from_str(header).expect("a header"));
    }
    RequestCookies::from_headers(&headers)
}

fn jar_pairs(jar: &RequestCookies) -> Vec<(String, String)> {
    jar.iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// A cookie with `@edge-runtime/cookies`'s options (`expires` is
/// milliseconds since the epoch, only 0 in the tests).
fn cookie(name: &str, value: &str, options: &Value) -> ResponseCookie {
    let flag = |key: &str| options[key].as_bool() == Some(true);
    ResponseCookie {
        path: options["path"].as_str().map(str::to_owned),
        domain: options["domain"].as_str().map(str::to_owned),
        max_age: options["maxAge"].as_i64(),
        expires: options["expires"]
            .as_u64()
            .map(|ms| UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        http_only: flag("httpOnly"),
        secure: flag("secure"),
        partitioned: flag("partitioned"),
        same_site: match options["sameSite"].as_str() {
            Some("strict") => Some(SameSite::Strict),
            Some("lax") => Some(SameSite::Lax),
            Some("none") => Some(SameSite::None),
            _ => None,
        },
        priority: match options["priority"].as_str() {
            Some("low") => Some(Priority::Low),
            Some("medium") => Some(Priority::Medium),
            Some("high") => Some(Priority::High),
            _ => None,
        },
        ..ResponseCookie::new(name, value)
    }
}

/// The `Set-Cookie` lines of `jar`.
fn lines(jar: &ResponseCookies) -> Vec<String> {
    let mut headers = HeaderMap::new();
    jar.append_to(&mut headers);
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect()
}

fn report(name: &str, results: Vec<(String, bool)>) {
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| c)
        .collect();
    eprintln!("{name}: {}/{}", results.len() - failed.len(), results.len());
    assert!(failed.is_empty(), "{name}: failed {failed:#?}");
}

#[test]
fn edge_runtime_cookie_tests() {
    let table: Value = serde_json::from_str(TABLE).expect("a valid table");
    let mut results = Vec::new();
    for case in list(&table["request_parsing"]) {
        let jar = request_jar(&case["header"]);
        results.push((
            text(&case["test"]).to_owned(),
            jar_pairs(&jar) == pairs(&case["cookies"]),
        ));
    }
    for case in list(&table["request_changes"]) {
        let mut jar = request_jar(&case["header"]);
        let mut ok = pairs(&case["set"])
            .iter()
            .all(|(name, value)| jar.set(name, value).is_ok());
        for name in list(&case["delete"]) {
            ok &= jar.delete(text(name));
        }
        if let Some(header) = case["cookie_header"].as_str() {
            ok &= jar.header_value().is_some_and(|v| v == header);
        }
        if case["cookies"].is_array() {
            ok &= jar_pairs(&jar) == pairs(&case["cookies"]);
        }
        if let Some(name) = case["has"].as_str() {
            ok &= jar.has(name);
        }
        results.push((text(&case["test"]).to_owned(), ok));
    }
    for case in list(&table["response_changes"]) {
        let mut jar = ResponseCookies::default();
        let mut ok = true;
        for op in list(&case["ops"]) {
            ok &= if let Some(set) = op["set"].as_array() {
                let options = &op["options"];
                jar.set(cookie(text(&set[0]), text(&set[1]), options))
                    .is_ok()
            } else {
                let name = text(&op["delete"]);
                // `delete(options)`: the options with an empty value, expired.
                let mut deleted = cookie(name, "", &op["options"]);
                deleted.expires = Some(UNIX_EPOCH);
                jar.set(deleted).is_ok()
            };
        }
        if case["set_cookie"].is_array() {
            let expected: Vec<&str> = list(&case["set_cookie"]).iter().map(text).collect();
            ok &= lines(&jar) == expected;
        }
        if let Some(name) = case["has"].as_str() {
            ok &= jar.has(name);
        }
        results.push((text(&case["test"]).to_owned(), ok));
    }
    for case in list(&table["response_parsing"]) {
        let mut headers = HeaderMap::new();
        for line in list(&case["set_cookie"]) {
            headers.append(
                SET_COOKIE,
                HeaderValue::from_str(text(line)).expect("a header"),
            );
        }
        let jar = ResponseCookies::from_headers(&headers);
        let expected: Vec<ResponseCookie> = list(&case["cookies"])
            .iter()
            .map(|c| ResponseCookie {
                path: None,
                ..cookie(text(&c["name"]), text(&c["value"]), c)
            })
            .collect();
        results.push((text(&case["test"]).to_owned(), jar.get_all() == expected));
    }
    report("@edge-runtime/cookies", results);
}
