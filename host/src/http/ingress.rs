//! What a request becomes before a guest sees it: client-sent internal
//! headers removed, the URI completed, the body capped.

use crate::http::body::HostBody;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Uri, header};
use http_body_util::BodyExt;

/// Headers only the middleware machinery may set. Clients may not send them
/// (CVE-2025-29927: a client-sent `x-middleware-subrequest` skipped Next.js
/// middleware).
const INTERNAL_HEADER_PREFIX: &str = "x-middleware-";

/// Makes the request safe and complete for the guest: client-sent internal
/// headers are removed, and the URI gets the scheme and authority (from
/// `Host`) that HTTP/1 leaves out.
/// The body is capped at `max_body_bytes`: a longer one fails for whoever
/// reads it, as `wasi:http`'s body-size error.
pub fn ingress(
    request: hyper::Request<hyper::body::Incoming>,
    max_body_bytes: u64,
) -> http::Request<HostBody> {
    let (mut parts, body) = request.into_parts();
    strip_internal_headers(&mut parts.headers);
    let mut uri = parts.uri.into_parts();
    uri.scheme.get_or_insert(Scheme::HTTP);
    if uri.authority.is_none() {
        uri.authority = parts
            .headers
            .get(header::HOST)
            .and_then(|host| Authority::try_from(host.as_bytes()).ok());
    }
    if uri.path_and_query.is_none() {
        uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    parts.uri = Uri::from_parts(uri).unwrap_or_else(|_| Uri::from_static("/"));
    let limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    let body = http_body_util::Limited::new(body, limit).map_err(|error| {
        match error.downcast::<hyper::Error>() {
            Ok(error) => wasmtime_wasi_http::Error::from(*error),
            Err(_) => wasmtime_wasi_http::Error::HttpRequestBodySize(None),
        }
    });
    http::Request::from_parts(parts, body.boxed_unsync())
}

/// Removes every `x-middleware-*` header.
fn strip_internal_headers(headers: &mut HeaderMap) {
    let internal: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(INTERNAL_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in internal {
        tracing::debug!(header = %name, "dropped client-sent internal header");
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn internal_headers_are_stripped_in_every_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Middleware-Subrequest",
            HeaderValue::from_static("middleware"),
        );
        headers.insert(
            "x-middleware-override-headers",
            HeaderValue::from_static("a"),
        );
        headers.insert("x-middleware-request-a", HeaderValue::from_static("1"));
        headers.insert("x-middleware", HeaderValue::from_static("kept"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        strip_internal_headers(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-middleware"]);
    }
}
