//! The request-header override encoding (`x-middleware-override-headers` +
//! `x-middleware-request-*`): whatever header set a middleware passes to
//! `NextResponse::next_with_request_headers`, the next handler gets exactly
//! that set (values in order), and no internal header. Decoding arbitrary
//! internal headers never panics.
#![no_main]

use edgeware::Body;
use edgeware::fuzzing::apply;
use edgeware::next::NextResponse;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

fn headers(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let mut parts = line.splitn(2, |&b| b == b':');
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

fuzz_target!(|data: &[u8]| {
    let (incoming, wanted) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"host: x\nx-a: 1"[..], data),
    };
    let incoming = headers(incoming);
    let wanted = headers(wanted);

    // Arbitrary headers on a middleware response, decoded: no panic.
    let mut request = Request::new(Body::empty());
    *request.headers_mut() = incoming.clone();
    let _ = apply(&mut request, wanted.clone());

    // The encoding round-trips.
    let wanted: HeaderMap = wanted
        .into_iter()
        .filter_map(|(n, v)| Some((n?, v)))
        .filter(|(n, _)| !n.as_str().starts_with("x-middleware-"))
        .fold(HeaderMap::new(), |mut map, (n, v)| {
            map.append(n, v);
            map
        });
    let response = NextResponse::next_with_request_headers(&wanted);
    let mut request = Request::new(Body::empty());
    *request.headers_mut() = incoming.clone();
    apply(&mut request, response.headers().clone()).unwrap();
    let got = request.headers();
    assert!(got.keys().all(|n| !n.as_str().starts_with("x-middleware-")));
    if wanted.is_empty() {
        return; // an empty override changes nothing
    }
    for name in wanted.keys() {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        let want: Vec<_> = wanted.get_all(name).iter().collect();
        let have: Vec<_> = got.get_all(name).iter().collect();
        assert_eq!(want, have, "{name}");
    }
    for name in got.keys() {
        assert!(wanted.contains_key(name), "{name} was not asked for");
    }
});
