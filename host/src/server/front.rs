//! One request at the edge: the caps and checks it passes before a guest
//! sees it, made safe (internal headers stripped) and handed to a worker.

use crate::engine::runtime::Runtime;
use crate::engine::worker::{Job, Serve};
use crate::http::body::{self, HostBody, ObservedBody};
use crate::http::exchange::{Exchange, Responder, busy_response, plain};
use crate::http::replay::Replay;
use crate::server::listener::Front;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, StatusCode, Uri, header};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Headers only the middleware machinery may set. Clients may not send them
/// (CVE-2025-29927: a client-sent `x-middleware-subrequest` skipped Next.js
/// middleware).
const INTERNAL_HEADER_PREFIX: &str = "x-middleware-";

/// Serves one request. The returned response may still be streaming from the
/// guest; the guest's store lives on in a task of its own.
pub async fn handle(
    front: &Front,
    request: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> http::Response<ObservedBody> {
    let started = std::time::Instant::now();
    let runtime = front.runtime();
    let response = admit(front, &runtime, request, client).await;
    runtime
        .metrics()
        .response(response.status().as_u16(), started.elapsed());
    response
}

/// Applies the caps, then hands the request to a guest.
async fn admit(
    front: &Front,
    runtime: &Arc<Runtime>,
    request: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> http::Response<ObservedBody> {
    let busy = |reason: &str| {
        tracing::warn!(reason, "request refused with 503");
        runtime.metrics().request_refused();
        unobserved(busy_response(reason))
    };
    let admitted = match front.gate.admit() {
        Some(admitted) if !runtime.parked_tasks_full() => admitted,
        Some(_) => return busy("parked deferred-task limit"),
        None => return busy("concurrent request limit"),
    };
    // A store lives on through its deferred phase, after the gate has let
    // the request go: without a free instance slot, instantiation would fail.
    let request_id = runtime.next_request_id();
    let Some(_reserved) = front.drain.reserve(request_id.clone(), front.max_stores) else {
        return busy("instance pool full (pool_instances stores alive)");
    };
    // RFC 9112 section 3.2: more than one Host field is a 400; a guest
    // would otherwise see whichever one its library picks. A request target
    // without a path (`*`, CONNECT's `host:port`) cannot be handed to a
    // guest or a next hop as a `wasi:http` request: a 400 too, not a 500.
    let problem = if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        Some("more than one Host header")
    } else if !request.uri().path().starts_with('/') || request.method() == http::Method::CONNECT {
        Some("the request target has no path")
    } else {
        None
    };
    if let Some(problem) = problem {
        let response = plain(StatusCode::BAD_REQUEST, format!("bad request: {problem}\n"));
        return unobserved(response);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > front.max_body_bytes) {
        let response = plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large\n".into(),
        );
        return unobserved(response);
    }

    // Read before the guest or `ingress` touch the headers; they stay on the
    // request (see `crate::ops::geo`).
    let geo = front.geo.read(request.headers());
    let span = tracing::info_span!("request", request_id = %request_id);
    let (tx, rx) = oneshot::channel();
    let (end_tx, body_end) = body::end_channel();
    tracing::debug!(parent: &span, method = %request.method(), uri = %request.uri(), "request");
    let (request, replay) = Replay::tee(ingress(request, front.max_body_bytes));
    let exchange = Exchange {
        responder: Responder::new(tx, end_tx, admitted, request_id.clone()),
        runtime: runtime.clone(),
        drain: front.drain.clone(),
        client,
        geo,
        request_id,
        body_end,
    };
    runtime.dispatch(
        Serve::Component,
        Job {
            exchange,
            request: request.map(|body| body.boxed_unsync()),
            replay: Some(replay),
            span,
        },
    );
    match rx.await {
        Ok(response) => response,
        // The driver ended without answering; it has logged why.
        Err(_) => unobserved(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error\n".into(),
        )),
    }
}

/// A response the host answers itself, before any guest ran: nobody waits
/// for the end of its body.
fn unobserved(response: http::Response<HostBody>) -> http::Response<ObservedBody> {
    response.map(|body| ObservedBody::new(body, body::end_channel().0, None))
}

/// Makes the request safe and complete for the guest: client-sent internal
/// headers are removed, and the URI gets the scheme and authority (from
/// `Host`) that HTTP/1 leaves out.
/// The body is capped at `max_body_bytes`: a longer one fails for whoever
/// reads it, as `wasi:http`'s body-size error.
fn ingress(
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
