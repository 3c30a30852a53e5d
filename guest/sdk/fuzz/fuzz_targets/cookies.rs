//! The `Cookie` request header parser and the `Set-Cookie` serializer:
//! never panic; a jar written back as a `Cookie` header parses to itself.
#![no_main]

use edgeware::next::{RequestCookies, ResponseCookie};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, value);
        }
    }
    let mut jar = RequestCookies::from_headers(&headers);
    for (name, value) in jar.clone().iter() {
        assert_eq!(jar.get(name).is_some(), jar.has(name));
        let _ = jar.get_all(name);
        let _ = ResponseCookie::new(name, value).to_header_value();
    }
    if let Some(value) = jar.header_value() {
        let mut again = HeaderMap::new();
        again.insert(COOKIE, value);
        let reparsed = RequestCookies::from_headers(&again);
        assert_eq!(reparsed, jar, "a serialized jar parses to itself");
    }
    // Setting arbitrary names and values either fails cleanly or round-trips.
    let text = String::from_utf8_lossy(data);
    let (name, value) = text.split_once('=').unwrap_or((&text, ""));
    if jar.set(name, value).is_ok() {
        assert_eq!(jar.get(name), Some(value));
    }
});
