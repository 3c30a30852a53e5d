//! The admin server: `/metrics` (Prometheus text format), `/healthz` (live:
//! the process answers, through the drain too) and `/readyz` (ready: it
//! takes new requests; 503 from the first shutdown signal on).

use super::readiness::Readiness;
use crate::ops::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves `/metrics` (Prometheus text format), `/healthz` and `/readyz`
/// until the process exits.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, readiness: Readiness) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (metrics, readiness) = (metrics.clone(), readiness.clone());
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (status, content_type, body) = match request.uri().path() {
                "/metrics" => (200, "text/plain; version=0.0.4", metrics.render()),
                "/healthz" => (200, "text/plain", "ok\n".to_string()),
                "/readyz" if readiness.is_ready() => (200, "text/plain", "ready\n".to_string()),
                "/readyz" => (503, "text/plain", "shutting down\n".to_string()),
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
