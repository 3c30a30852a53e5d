//! The admin server: `/metrics` (Prometheus text format) and `/healthz`.

use crate::ops::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves `/metrics` (Prometheus text format) and `/healthz` until the
/// process exits.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
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
