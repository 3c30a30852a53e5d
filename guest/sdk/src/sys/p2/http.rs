//! `wasi:http@0.2` on the public API: the `incoming-handler` export, [`NextHop`]
//! and [`fetch`] (`outgoing-handler`).

use crate::core::next::chain::{Hop, strip_internal_headers};
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;

use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use super::bindings::wasi::http::outgoing_handler;
use super::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, OutgoingBody,
    OutgoingRequest, OutgoingResponse, ResponseOutparam,
};
use super::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use super::event::FetchEvent;
use super::runtime::{WaitFor, block_on};
use crate::core::body::BodyStream;
use crate::{Body, Error, Request, Response, Result};

crate::core::wasi_http::wasi_http_conversions!(super::bindings::wasi::http::types);

/// Environment variable: where [`NextHop`] forwards requests on WASI 0.2.
const UPSTREAM_VAR: &str = "EDGEWARE_UPSTREAM";

/// The most `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// The rest of the chain. On WASI 0.2 it is the HTTP server named by
/// `EDGEWARE_UPSTREAM` (`http://host:port`): a WASI 0.2 component cannot
/// import another component's handler.
#[derive(Debug)]
pub struct NextHop(());

impl NextHop {
    /// Forwards `request` (path and query kept, scheme and authority those of
    /// `EDGEWARE_UPSTREAM`) and returns the upstream's response. Fails with
    /// 502 when `EDGEWARE_UPSTREAM` is unset or invalid.
    pub async fn run(self, request: Request) -> Result<Response> {
        let upstream = crate::env(UPSTREAM_VAR).ok_or_else(|| {
            Error::new(
                StatusCode::BAD_GATEWAY,
                format!("no next hop: set {UPSTREAM_VAR}=http://host:port (WASI 0.2 build)"),
            )
        })?;
        let base: Uri = upstream.parse().map_err(|e| {
            Error::new(
                StatusCode::BAD_GATEWAY,
                format!("{UPSTREAM_VAR}={upstream:?}: {e}"),
            )
        })?;
        let (mut parts, body) = request.into_parts();
        let mut uri = parts.uri.into_parts();
        uri.scheme = base.scheme().cloned();
        uri.authority = base.authority().cloned();
        if uri.path_and_query.is_none() {
            uri.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        parts.uri = Uri::from_parts(uri)?;
        send(Request::from_parts(parts, body)).await.map_err(|e| {
            let status = e.status().unwrap_or(StatusCode::BAD_GATEWAY);
            e.with_status(status).context("next handler failed")
        })
    }
}

/// Sends `request` through the host's `wasi:http/outgoing-handler`.
///
/// The URI must be absolute (`https://example.com/path`). Any response,
/// including 4xx and 5xx, is `Ok`; transport failures are errors.
pub async fn fetch(request: Request) -> Result<Response> {
    let uri = request.uri().clone();
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(Error::msg(format!(
            "fetch needs an absolute URL, got {uri:?}"
        )));
    }
    send(request)
        .await
        .map_err(|e| e.context(format!("fetch {uri}")))
}

async fn send(request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let bytes = body.bytes().await?;
    let mut headers = parts.headers;
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let outgoing = OutgoingRequest::new(fields(&headers)?);
    let rejected = |what: &str| Error::msg(format!("the host rejected the request {what}"));
    outgoing
        .set_method(&method_into_wasi(&parts.method))
        .map_err(|()| rejected("method"))?;
    let scheme = parts.uri.scheme().map(scheme_into_wasi);
    outgoing
        .set_scheme(scheme.as_ref())
        .map_err(|()| rejected("scheme"))?;
    outgoing
        .set_authority(parts.uri.authority().map(Authority::as_str))
        .map_err(|()| rejected("authority"))?;
    let path = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| rejected("path"))?;
    let body = outgoing.body().map_err(|()| rejected("body"))?;
    let pending = outgoing_handler::handle(outgoing, None).map_err(error_from_code)?;
    write_body(body, &bytes)?;
    WaitFor::new(pending.subscribe()).await;
    let response = pending
        .get()
        .ok_or_else(|| Error::msg("the host reported no response"))?
        .map_err(|()| Error::msg("the response was taken twice"))?
        .map_err(error_from_code)?;
    response_from_wasi(response)
}

fn response_from_wasi(response: IncomingResponse) -> Result<Response> {
    let status = StatusCode::from_u16(response.status())?;
    let headers = headers_from_wasi(response.headers())?;
    let body = response
        .consume()
        .map_err(|()| Error::msg("the response body was taken twice"))?;
    let stream = body
        .stream()
        .map_err(|()| Error::msg("the response body stream was taken twice"))?;
    let mut out = Response::new(Body::from_stream(Incoming {
        stream,
        body,
        _parent: response,
    }));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// An incoming body of `P` (the request or response it belongs to). Fields
/// drop in order: the stream before the body, the body before its parent, as
/// WASI requires.
struct Incoming<P> {
    stream: InputStream,
    body: IncomingBody,
    _parent: P,
}

impl<P: 'static> BodyStream for Incoming<P> {
    fn collect(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>> {
        Box::pin(async move {
            let Incoming {
                stream,
                body,
                _parent,
            } = *self;
            let mut bytes = Vec::new();
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(error)) => {
                        return Err(Error::msg(format!(
                            "reading the body failed: {}",
                            error.to_debug_string()
                        )));
                    }
                }
            }
            drop(stream);
            drop(IncomingBody::finish(body));
            drop(_parent);
            Ok(bytes)
        })
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<()> {
    let stream: OutputStream = body
        .write()
        .map_err(|()| Error::msg("the body stream was taken twice"))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| Error::msg(format!("writing the body failed: {e:?}")))?;
    }
    drop(stream);
    OutgoingBody::finish(body, None).map_err(error_from_code)
}

fn request_from_wasi(request: IncomingRequest) -> Result<Request> {
    let method = method_from_wasi(request.method())?;
    let mut uri = Uri::builder().scheme(scheme_from_wasi(request.scheme())?);
    if let Some(authority) = request.authority() {
        uri = uri.authority(authority);
    }
    let uri = uri
        .path_and_query(request.path_with_query().unwrap_or_else(|| "/".into()))
        .build()?;
    let headers = headers_from_wasi(request.headers())?;
    let body = request
        .consume()
        .map_err(|()| Error::msg("the request body was taken twice"))?;
    let stream = body
        .stream()
        .map_err(|()| Error::msg("the request body stream was taken twice"))?;
    let mut out = Request::new(Body::from_stream(Incoming {
        stream,
        body,
        _parent: request,
    }));
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    Ok(out)
}

/// A request from the host, without client-sent `x-middleware-*` headers
/// (CVE-2025-29927): p2 hosts let them through.
fn request_from_client(request: IncomingRequest) -> Result<Request> {
    let mut request = request_from_wasi(request)?;
    strip_internal_headers(request.headers_mut());
    Ok(request)
}

impl Hop for NextHop {
    async fn next(self, request: Request) -> Result<Response> {
        self.run(request).await
    }

    async fn fetch(self, request: Request) -> Result<Response> {
        fetch(request).await
    }
}

/// Runs a middleware handler for one request from a WASI 0.2 host: the
/// response is written and finished, then the deferred tasks run.
pub fn serve_middleware<H, F>(request: IncomingRequest, out: ResponseOutparam, handler: H)
where
    H: FnOnce(Request, FetchEvent, NextHop) -> F,
    F: Future<Output = Result<Response>>,
{
    let event = FetchEvent::new();
    let handler_event = event.clone();
    respond(out, &event, async move {
        handler(request_from_client(request)?, handler_event, NextHop(())).await
    });
}

/// Runs an origin handler for one request from a WASI 0.2 host.
pub fn serve_service<H, F>(request: IncomingRequest, out: ResponseOutparam, handler: H)
where
    H: FnOnce(Request, FetchEvent) -> F,
    F: Future<Output = Result<Response>>,
{
    let event = FetchEvent::new();
    let handler_event = event.clone();
    respond(out, &event, async move {
        handler(request_from_client(request)?, handler_event).await
    });
}

fn respond(
    out: ResponseOutparam,
    event: &FetchEvent,
    response: impl Future<Output = Result<Response>>,
) {
    let log = |what: &str, error: &Error| {
        let _ = writeln!(
            std::io::stderr(),
            "edgeware: request {} {what}: {error}",
            event.request_id()
        );
    };
    let response = block_on(async {
        let (parts, body) = response.await?.into_parts();
        Ok::<_, Error>((parts, body.bytes().await?))
    });
    let (parts, bytes) = response.unwrap_or_else(|error| {
        log("failed", &error);
        error_response(&error, &event.request_id())
    });
    let (response, body, bytes) = match outgoing_response(parts, bytes) {
        Ok(response) => response,
        Err(error) => {
            log("could not be answered", &error);
            let (parts, bytes) = error_response(&error, &event.request_id());
            match outgoing_response(parts, bytes) {
                Ok(response) => response,
                Err(error) => {
                    let code = ErrorCode::InternalError(Some(error.to_string()));
                    ResponseOutparam::set(out, Err(code));
                    block_on(event.run_deferred());
                    return;
                }
            }
        }
    };
    ResponseOutparam::set(out, Ok(response));
    if let Err(error) = write_body(body, &bytes) {
        log("response body not sent", &error);
    }
    block_on(event.run_deferred());
}

/// The answer to a handler error: its status (500 unless it carries a 4xx
/// or 5xx one) and the request id; the details go to stderr only.
fn error_response(error: &Error, request_id: &str) -> (http::response::Parts, Vec<u8>) {
    let status = error
        .status()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = status;
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let reason = status.canonical_reason().unwrap_or("error");
    let text = format!("{} {reason} (request id {request_id})\n", status.as_u16());
    (parts, text.into_bytes())
}

/// The host response for `parts`, its body, and the bytes to write to it.
fn outgoing_response(
    parts: http::response::Parts,
    bytes: Vec<u8>,
) -> Result<(OutgoingResponse, OutgoingBody, Vec<u8>)> {
    let mut headers = parts.headers;
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let response = OutgoingResponse::new(fields(&headers)?);
    response
        .set_status_code(parts.status.as_u16())
        .map_err(|()| Error::msg(format!("the host rejected status {}", parts.status)))?;
    let body = response
        .body()
        .map_err(|()| Error::msg("the response body was taken twice"))?;
    Ok((response, body, bytes))
}

/// Connection-specific ("hop-by-hop") headers: they describe one connection
/// and are never forwarded (RFC 9110, section 7.6.1); WASI 0.2 hosts such as
/// jco refuse them.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

fn fields(headers: &HeaderMap) -> Result<Fields> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| Error::msg(format!("invalid headers: {e:?}")))
}

fn headers_from_wasi(fields: Fields) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.entries() {
        headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_bytes(&value)?,
        );
    }
    Ok(headers)
}
