//! The HTTP fronts: the public server (HTTP/1.1 and h2c, limits at the edge)
//! that hands each request to [`crate::server::front::handle`], and the admin
//! server (`/metrics`, `/healthz`).

use crate::deferred::drain::{Drain, Gate};
use crate::engine::runtime::Runtime;
use crate::ops::config::Settings;
use crate::ops::geo::GeoHeaders;
use crate::ops::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::net::TcpListener;

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
    /// A front serving `runtime` under the caps in `settings`.
    pub fn new(runtime: Runtime, settings: &Settings) -> Front {
        Front {
            current: RwLock::new(Arc::new(runtime)),
            gate: Gate::new(settings.max_concurrent_requests),
            drain: Arc::default(),
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
    /// version they started with.
    pub fn replace(&self, runtime: Runtime) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(runtime);
    }
}

/// The connections still open once the server stopped accepting.
pub struct Connections {
    graceful: Option<GracefulShutdown>,
    open: OpenConnections,
}

/// Counts the open connections of the public server.
#[derive(Clone, Default)]
pub struct OpenConnections(Arc<AtomicUsize>);

/// Counts one connection open until dropped.
struct Open(OpenConnections);

impl OpenConnections {
    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn track(&self) -> Open {
        self.0.fetch_add(1, Ordering::AcqRel);
        Open(self.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connections {
    /// The count of open connections, readable while [`Connections::finish`]
    /// runs.
    pub fn counter(&self) -> OpenConnections {
        self.open.clone()
    }

    /// Tells every connection to finish the response in flight and close
    /// (idle ones close at once); resolves when all have. Unbounded: a
    /// client that stops reading holds its connection open, so the caller
    /// bounds it.
    pub async fn finish(&mut self) {
        if let Some(graceful) = self.graceful.take() {
            graceful.shutdown().await;
        }
    }
}

/// Serves connections from `listener` until `shutdown` resolves, then stops
/// accepting (new connections are refused) and returns the open ones.
pub async fn serve(
    listener: TcpListener,
    front: Arc<Front>,
    settings: &Settings,
    shutdown: impl Future<Output = ()>,
) -> Connections {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let open = OpenConnections::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A response head and its body go out as separate writes: without
        // this, Nagle's algorithm holds the body until the client ACKs the
        // head (a delayed ACK: up to 40 ms per request).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%client, %error, "cannot set TCP_NODELAY");
        }
        let front = front.clone();
        let service = service_fn(move |request| {
            let front = front.clone();
            async move {
                Ok::<_, Infallible>(crate::server::front::handle(&front, request, client).await)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let counted = open.track();
        tokio::spawn(async move {
            let _counted = counted;
            if let Err(error) = connection.await {
                tracing::debug!(%client, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    Connections {
        graceful: Some(graceful),
        open,
    }
}

/// Serves `/metrics` (Prometheus text format) and `/healthz` until the
/// process exits.
pub async fn admin(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (status, content_type, body) = match request.uri().path() {
                "/metrics" => (200, "text/plain; version=0.0.4", metrics.render()),
                "/healthz" => (200, "text/plain", "ok\n".to_string()),
                _ => (404, "text/plain", "not found\n".to_string()),
            };
            let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(content_type),
            );
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
