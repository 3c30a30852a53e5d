//! One request, from the socket to the guest and back, and then the deferred
//! phase: the store lives on after the response until every task registered
//! through `wait-until` has settled or the deferred deadline has passed.

use crate::bindings::edge::fetch::fetch_event::Geolocation;
use crate::body::{self, BodyEnd, EndSender, HostBody, ObservedBody};
use crate::deferred::{Outcome, settle_after_response};
use crate::lifecycle::{Admitted, Drain};
use crate::replay::Replay;
use crate::runtime::{PassThrough, Runtime};
use crate::server::Front;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{Request, Response};

/// Headers only the middleware machinery may set. Clients may not send them
/// (CVE-2025-29927: a client-sent `x-middleware-subrequest` skipped Next.js
/// middleware).
const INTERNAL_HEADER_PREFIX: &str = "x-middleware-";

/// The response header that tells the client which request id the host's
/// log lines for its request carry.
const REQUEST_ID_HEADER: &str = "x-request-id";

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
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, format!("busy: {reason}\n"));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        unobserved(response)
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
    // request (see `crate::geo`).
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
    tokio::spawn(
        exchange
            .drive(Serve::Component, request, Some(replay))
            .instrument(span),
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

/// A plain-text response.
fn plain(status: StatusCode, text: String) -> http::Response<HostBody> {
    let mut response = http::Response::new(body::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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

/// What a store serves a request with.
#[derive(Clone, Copy, Debug)]
pub enum Serve {
    /// The served component (which may call its next hop).
    Component,
    /// The origin alone: the next hop, when the middleware failed and asked
    /// for `pass-through-on-exception`.
    Origin,
}

/// One client request: whoever produces its response sends it through the
/// responder, and the deferred phase of every store that served it starts at
/// the end of that response's body.
#[derive(Clone)]
struct Exchange {
    runtime: Arc<Runtime>,
    drain: Arc<Drain>,
    client: SocketAddr,
    geo: Option<Geolocation>,
    request_id: Arc<str>,
    responder: Responder,
    body_end: watch::Receiver<Option<BodyEnd>>,
}

/// How a store's run ended.
enum RunEnd {
    /// Every deferred task settled or timed out after the response.
    Settled,
    /// The guest trapped (or the host failed it).
    Failed(wasmtime::Error),
    /// No response came before the request timeout.
    TimedOut,
}

impl Exchange {
    /// Runs a guest for the request, then the deferred phase of its store.
    /// `replay` allows `pass-through-on-exception`.
    async fn drive<B>(self, serve: Serve, request: http::Request<B>, replay: Option<Replay>)
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let runtime = self.runtime.clone();
        let deferred = runtime.deferred_tasks(self.request_id.clone());
        let _live = self.drain.enter(deferred.clone());
        let (mut store, guest) = match runtime
            .instantiate(
                serve,
                self.request_id.clone(),
                Some(self.client),
                self.geo.clone(),
                deferred.clone(),
            )
            .await
        {
            Ok(instance) => instance,
            Err(error) => {
                tracing::error!(?serve, error = format!("{error:#}"), "instantiation failed");
                self.responder.error(StatusCode::INTERNAL_SERVER_ERROR);
                return;
            }
        };
        let (request, request_body_io) = Request::from_http(store.data_mut().http().hooks, request);
        tokio::spawn(
            async move {
                if let Err(error) = request_body_io.await {
                    tracing::debug!(%error, "request body was not read to the end");
                }
            }
            .in_current_span(),
        );
        let request = match store.data_mut().http().table.push(request) {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, "resource table full");
                self.responder.error(StatusCode::INTERNAL_SERVER_ERROR);
                return;
            }
        };

        let exchange = self.clone();
        let replay_after_error = replay.clone();
        let waits_for_guest_tasks = runtime.waits_for_guest_tasks;
        let (idle_tx, idle_rx) = oneshot::channel();
        let run = store.run_concurrent(async move |accessor| -> wasmtime::Result<Infallible> {
            match guest
                .wasi_http_handler()
                .call_handle(accessor, request)
                .await?
            {
                Ok(response) => {
                    let transmitted = transmission_result(exchange.body_end.clone());
                    let response = accessor.with(|mut access| {
                        let response: Response = access.get().http().table.delete(response)?;
                        response.into_http(&mut access, transmitted)
                    })?;
                    exchange.responder.send(response);
                }
                Err(code) => {
                    tracing::warn!(error = ?code, "the handler returned an error");
                    let pass = accessor.with(|mut a| a.get().event.pass_through_on_exception);
                    exchange.fail(status_for(&code), replay_after_error.filter(|_| pass));
                }
            }
            if waits_for_guest_tasks {
                let response_end = exchange.body_end.clone();
                crate::post_return::wait_for_idle_guest(accessor, response_end, idle_tx).await;
            }
            // Keep the event loop turning: the body may still be streaming and
            // deferred tasks still running. `drive` decides when this ends.
            std::future::pending().await
        });
        let deferred_phase = async {
            let response_end = self.body_end.clone();
            if waits_for_guest_tasks {
                crate::post_return::settle_after_response(
                    response_end,
                    idle_rx,
                    runtime.deferred_timeout,
                )
                .await;
            } else {
                let response_end = async {
                    body::body_end(response_end).await;
                };
                settle_after_response(&deferred, response_end, runtime.deferred_timeout).await;
            }
        };
        let handler_timeout = async {
            tokio::time::sleep(runtime.request_timeout).await;
            if self.responder.is_sent() {
                std::future::pending::<()>().await;
            }
        };
        let ended = tokio::select! {
            ran = run => RunEnd::Failed(match ran {
                Ok(Ok(never)) => match never {},
                Ok(Err(error)) | Err(error) => error,
            }),
            () = deferred_phase => RunEnd::Settled,
            () = handler_timeout => RunEnd::TimedOut,
        };
        match ended {
            RunEnd::Settled => {}
            RunEnd::Failed(error) => {
                tracing::error!(error = format!("{error:#}"), "guest failed");
                let pass = store.data().event.pass_through_on_exception;
                self.fail(StatusCode::INTERNAL_SERVER_ERROR, replay.filter(|_| pass));
                deferred
                    .settle_pending(Outcome::Rejected(format!("the instance failed: {error:#}")));
            }
            RunEnd::TimedOut => {
                tracing::warn!(timeout = ?runtime.request_timeout, "no response before the request timeout");
                self.responder.error(StatusCode::GATEWAY_TIMEOUT);
                deferred.settle_pending(Outcome::TimedOut);
            }
        }
        let (registered, _) = deferred.counts();
        tracing::debug!(deferred_tasks = registered, "store done; instance dropped");
    }

    /// The guest failed before answering: pass the original request through
    /// to the next hop if it asked for that and the request can be replayed,
    /// else answer `status`.
    fn fail(&self, status: StatusCode, pass_through: Option<Replay>) {
        if self.responder.is_sent() {
            return;
        }
        match pass_through {
            Some(replay) => {
                tokio::spawn(self.clone().pass_through(replay).in_current_span());
            }
            None => self.responder.error(status),
        }
    }

    /// Forwards the original request to the next hop (`pass-through-on-exception`).
    fn pass_through(self, replay: Replay) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let Some(request) = replay.take() else {
                tracing::warn!(
                    limit = crate::replay::REPLAY_LIMIT,
                    "cannot pass through: the middleware read more of the body than the host keeps"
                );
                return self.responder.error(StatusCode::INTERNAL_SERVER_ERROR);
            };
            match self.runtime.pass_through_target() {
                PassThrough::Upstream(upstream) => {
                    tracing::warn!(
                        "middleware failed; passing the request through to the upstream"
                    );
                    match upstream.send(request, Some(self.client)).await {
                        Ok(response) => self
                            .responder
                            .send(response.map(|b| b.map_err(Into::into).boxed_unsync())),
                        Err(code) => self.responder.error(status_for(&code)),
                    }
                }
                PassThrough::Origin => {
                    tracing::warn!("middleware failed; passing the request through to the origin");
                    self.drive(Serve::Origin, request, None).await
                }
                PassThrough::Unavailable => {
                    tracing::warn!("cannot pass through: the component has no next hop");
                    self.responder.error(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        })
    }
}

/// The transmission result the guest sees for its response: `ok` once the
/// last body frame was handed to the connection, an error if it never was.
async fn transmission_result(
    end: watch::Receiver<Option<BodyEnd>>,
) -> Result<(), wasmtime_wasi_http::Error> {
    match body::body_end(end).await {
        BodyEnd::Complete => Ok(()),
        BodyEnd::Aborted => Err(wasmtime_wasi_http::Error::ConnectionTerminated),
    }
}

/// The HTTP status the host answers with when the handler returns `code`.
fn status_for(code: &ErrorCode) -> StatusCode {
    match code {
        ErrorCode::HttpRequestDenied => StatusCode::FORBIDDEN,
        ErrorCode::HttpRequestBodySize(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::HttpRequestUriTooLong => StatusCode::URI_TOO_LONG,
        ErrorCode::HttpRequestHeaderSectionSize(_) | ErrorCode::HttpRequestHeaderSize(_) => {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::DnsTimeout
        | ErrorCode::HttpResponseTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::InternalError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Sends the one response of a request to the connection, from whichever
/// path produces it first.
#[derive(Clone)]
struct Responder {
    slot: Arc<Mutex<Option<Unsent>>>,
    request_id: Arc<str>,
}

/// What a response needs before it is sent: the connection's channel, the
/// end signal for its body, and the request's place in the gate.
struct Unsent {
    tx: oneshot::Sender<http::Response<ObservedBody>>,
    end: EndSender,
    admitted: Admitted,
}

impl Responder {
    fn new(
        tx: oneshot::Sender<http::Response<ObservedBody>>,
        end: EndSender,
        admitted: Admitted,
        request_id: Arc<str>,
    ) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Some(Unsent { tx, end, admitted }))),
            request_id,
        }
    }

    fn is_sent(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Sends `response`, with an `x-request-id` header, unless a response
    /// was sent already. If the client is gone, the body is dropped unsent,
    /// which ends it as aborted.
    fn send(&self, mut response: http::Response<HostBody>) {
        if let Ok(id) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
        }
        let taken = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Unsent { tx, end, admitted }) = taken {
            let _ = tx.send(response.map(|body| ObservedBody::new(body, end, Some(admitted))));
        }
    }

    /// Sends a plain-text error response naming the request id, so a user
    /// can find the log lines; details stay in the log.
    fn error(&self, status: StatusCode) {
        let reason = status.canonical_reason().unwrap_or("error");
        let text = format!(
            "{} {reason} (request id {})\n",
            status.as_u16(),
            self.request_id
        );
        let mut response = http::Response::new(body::full(text));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.send(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn error_codes_map_to_gateway_statuses() {
        assert_eq!(
            status_for(&ErrorCode::ConnectionRefused),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_for(&ErrorCode::ConnectionTimeout),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_for(&ErrorCode::InternalError(Some("x".into()))),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
