//! One request at the edge: the caps and checks it passes before a guest
//! sees it, made safe (internal headers stripped) and handed to a worker.

use crate::deferred::drain::Drain;
use crate::engine::pool::Job;
use crate::engine::runtime::{Runtime, Serve};
use crate::engine::worker::dispatch;
use crate::http::admission::Gate;
use crate::http::body::{HostBody, ObservedBody};
use crate::http::exchange::{Exchange, Responder, busy_response, plain};
use crate::http::ingress::ingress;
use crate::http::replay::Replay;
use crate::ops::config::Settings;
use crate::ops::geo::GeoHeaders;
use edge_fetch_host::response_end;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::oneshot;

/// What every request passes through before it reaches a guest.
pub struct Front {
    current: RwLock<Arc<Runtime>>,
    /// The concurrency cap.
    pub gate: Gate,
    /// Every store still alive, for graceful shutdown and the instance cap.
    pub drain: Arc<Drain>,
    /// Most stores alive at once: the pooling allocator's instance slots
    /// (unbounded without it).
    pub max_stores: usize,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// The headers trusted to tell the client's location.
    pub geo: GeoHeaders,
}

impl Front {
    /// A front serving `runtime` under the caps in `settings`; starts
    /// making its instances ahead of requests.
    pub fn new(runtime: Runtime, settings: &Settings) -> Front {
        let runtime = Arc::new(runtime);
        runtime.make_ready();
        Front {
            drain: runtime.shared.drain.clone(),
            current: RwLock::new(runtime),
            gate: Gate::new(settings.max_concurrent_requests),
            // In reuse mode requests share stores, so counting requests
            // would refuse too early; a worker that finds the pool full
            // answers 503 itself (see `crate::engine::worker`).
            max_stores: if settings.pooling && settings.reuse.is_single() {
                settings.pool_instances as usize
            } else {
                usize::MAX
            },
            max_body_bytes: settings.max_body_bytes,
            geo: settings.geo.clone(),
        }
    }

    /// The component version new requests go to.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends new requests to `runtime`; requests in flight finish on the
    /// version they started with, and the instances the old version made
    /// ahead of requests go with it.
    pub fn replace(&self, runtime: Runtime) {
        let runtime = Arc::new(runtime);
        runtime.make_ready();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = runtime;
    }
}

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
    let (end_tx, body_end) = response_end();
    tracing::debug!(parent: &span, method = %request.method(), uri = %request.uri(), "request");
    let (request, replay) = Replay::tee(ingress(request, front.max_body_bytes));
    let exchange = Exchange {
        responder: Responder::new(tx, end_tx, admitted, request_id.clone()),
        client,
        geo,
        request_id,
        body_end,
    };
    dispatch(
        runtime,
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
    response.map(|body| ObservedBody::new(body, response_end().0, None))
}
