//! The upstream test tables (`guest/sdk/tests/data/`), run against the
//! matcher: path-to-regexp 6.3's match cases, Next.js's
//! `getMiddlewareMatchers` unit tests and its `middleware-matcher` and
//! `middleware-custom-matchers` end-to-end expectations.

use serde_json::Value;

use super::source::{Source, bare};
use super::{Has, MatchInput, Matcher, scoped_forms};
use crate::core::next::url::{SearchParams, UrlConfig};

const PATH_TO_REGEXP: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/path-to-regexp-6.3.json"
));
const NEXT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/next-middleware-matchers.json"
));

fn load(text: &str) -> Value {
    serde_json::from_str(text).expect("a valid table")
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Checks every case, then fails listing those that failed; prints the
/// pass count (`name: passed/total`).
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
fn path_to_regexp_match_cases() {
    let table = load(PATH_TO_REGEXP);
    for section in ["patterns", "sensitive"] {
        let mut results = Vec::new();
        for pattern in list(&table[section]) {
            let path = text(&pattern["path"]);
            let compiled = bare(path);
            for case in list(&pattern["cases"]) {
                let (input, expected) = (text(&case[0]), case[1].as_bool());
                let matched = compiled.as_ref().map(|p| p.is_match(input));
                results.push((
                    format!("{path} on {input:?}: {matched:?}"),
                    matched.ok() == expected,
                ));
            }
        }
        report(&format!("path-to-regexp 6.3 {section}"), results);
    }
}

/// Next.js's expression with our escaping (`/`, `#`, `?` unescaped where
/// `regex-lite` needs no escape, `-` escaped).
fn as_ours(next: &str) -> String {
    next.replace("\\/", "/")
        .replace("\\#", "#")
        .replace("\\?]", "?]")
        .replace('-', "\\-")
}

#[test]
fn get_middleware_matchers_unit_tests() {
    let table = load(NEXT);
    let mut results = Vec::new();
    for entry in list(&table["get_middleware_matchers"]["matchers"]) {
        let source = text(&entry["source"]);
        let matcher = Matcher::new([source]).expect("a valid source");
        if let Some(next) = entry["regexp"].as_str() {
            let ours = Source::compile(source).ok();
            let ours = ours.as_ref().and_then(Source::expression);
            results.push((
                format!("{source} compiles to {ours:?}"),
                ours == Some(as_ours(next).as_str()),
            ));
        }
        for (key, expected) in [("runs", true), ("skips", false)] {
            for path in list(&entry[key]) {
                let path = text(path);
                results.push((
                    format!("{source} on {path} ({key})"),
                    matcher.matches_path(path) == expected,
                ));
            }
        }
    }
    report("Next.js getMiddlewareMatchers", results);
}

fn config(value: &Value) -> UrlConfig {
    UrlConfig {
        base_path: text(&value["base_path"]).to_owned(),
        locales: list(&value["locales"])
            .iter()
            .map(|l| text(l).to_owned())
            .collect(),
        default_locale: value["default_locale"].as_str().map(str::to_owned),
    }
}

/// Whether `matcher` runs for `path` with `config`, `headers`, `query` and
/// `hostname`, as the chain asks it.
fn runs(
    matcher: &Matcher,
    config: &UrlConfig,
    path: &str,
    headers: &http::HeaderMap,
    query: &str,
    hostname: &str,
) -> bool {
    let paths = scoped_forms(path, config).expect("a UTF-8 path");
    matcher.matches(&MatchInput {
        paths: &paths,
        headers,
        query: &SearchParams::parse(query),
        hostname,
    })
}

#[test]
fn middleware_matcher_e2e_expectations() {
    let table = load(NEXT);
    let mut results = Vec::new();
    for suite in list(&table["middleware_matcher_e2e"]["suites"]) {
        let name = text(&suite["name"]);
        let config = config(&suite["config"]);
        let sources: Vec<&str> = list(&suite["matchers"]).iter().map(text).collect();
        let matcher = Matcher::new(&sources).expect("valid sources");
        for (key, expected) in [("runs", true), ("skips", false)] {
            for path in list(&suite[key]) {
                let path = text(path);
                let ran = runs(&matcher, &config, path, &http::HeaderMap::new(), "", "");
                results.push((format!("{name}: {path} ({key})"), ran == expected));
            }
        }
    }
    report("Next.js middleware-matcher e2e", results);
}

fn condition(value: &Value) -> Has {
    let key = text(&value["key"]).to_owned();
    let v = value["value"].as_str().map(str::to_owned);
    match text(&value["type"]) {
        "header" => Has::Header(key, v),
        "cookie" => Has::Cookie(key, v),
        "query" => Has::Query(key, v),
        _ => Has::Host(v.unwrap_or_default()),
    }
}

#[test]
fn custom_matchers_e2e_expectations() {
    let table = &load(NEXT)["custom_matchers_e2e"];
    let matcher = list(&table["matchers"])
        .iter()
        .try_fold(Matcher::default(), |m, route| {
            let has: Vec<Has> = list(&route["has"]).iter().map(condition).collect();
            let missing: Vec<Has> = list(&route["missing"]).iter().map(condition).collect();
            m.route(text(&route["source"]), &has, &missing)
        })
        .expect("valid routes");
    let mut results = Vec::new();
    for request in list(&table["requests"]) {
        let mut headers = http::HeaderMap::new();
        for pair in list(&request["headers"]) {
            headers.append(
                http::HeaderName::from_bytes(text(&pair[0]).as_bytes()).expect("a header name"),
                text(&pair[1]).parse().expect("a header value"),
            );
        }
        let path = text(&request["path"]);
        let query = text(&request["query"]);
        let host = request["host"].as_str().unwrap_or("localhost");
        let ran = runs(&matcher, &UrlConfig::default(), path, &headers, query, host);
        let expected = request["runs"].as_bool() == Some(true);
        results.push((format!("{request}"), ran == expected));
    }
    report("Next.js middleware-custom-matchers e2e", results);
}
