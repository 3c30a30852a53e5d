//! One client request and its one response: whoever produces the response
//! (the guest, a failure path, or a pass-through) sends it through the
//! exchange, and the deferred phase of every store that served the request
//! starts at the end of that response's body.

use crate::http::admission::Admitted;
use crate::http::body::{self, HostBody, ObservedBody};
use edge_fetch_host::{BodyEnd, EndSignal, Geolocation, ResponseEnd};
use http::{HeaderValue, StatusCode, header};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// The response header that tells the client which request id the host's
/// log lines for its request carry.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// Everything about a client request that outlives the store serving it.
#[derive(Clone)]
pub struct Exchange {
    /// The client's address.
    pub client: SocketAddr,
    /// The client's location, from the headers the operator trusts.
    pub geo: Option<Geolocation>,
    /// The host's id for the request.
    pub request_id: Arc<str>,
    /// Sends the one response.
    pub responder: Responder,
    /// Tells when the response body has been sent in full (or abandoned).
    pub body_end: ResponseEnd,
}

/// The transmission result the guest sees for its response: `ok` once the
/// last body frame was handed to the connection, an error if it never was.
pub async fn transmission_result(end: ResponseEnd) -> Result<(), wasmtime_wasi_http::Error> {
    match end.ended().await {
        BodyEnd::Complete => Ok(()),
        BodyEnd::Aborted => Err(wasmtime_wasi_http::Error::ConnectionTerminated),
    }
}

/// The HTTP status the host answers with when the handler returns `code`.
pub fn status_for(code: &ErrorCode) -> StatusCode {
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
pub struct Responder {
    slot: Arc<Mutex<Option<Unsent>>>,
    request_id: Arc<str>,
}

/// What a response needs before it is sent: the connection's channel, the
/// end signal for its body, and the request's place in the gate.
struct Unsent {
    tx: oneshot::Sender<http::Response<ObservedBody>>,
    end: EndSignal,
    admitted: Admitted,
}

impl Responder {
    /// A responder that hands the response to `tx`, reports its body's end
    /// on `end`, and holds `admitted` until then.
    pub fn new(
        tx: oneshot::Sender<http::Response<ObservedBody>>,
        end: EndSignal,
        admitted: Admitted,
        request_id: Arc<str>,
    ) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Some(Unsent { tx, end, admitted }))),
            request_id,
        }
    }

    /// Whether the response has been sent.
    pub fn is_sent(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Sends `response`, with an `x-request-id` header, unless a response
    /// was sent already. If the client is gone, the body is dropped unsent,
    /// which ends it as aborted.
    pub fn send(&self, mut response: http::Response<HostBody>) {
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

    /// Sends [`busy_response`]: the host is at one of its caps (`reason`).
    pub fn busy(&self, reason: &str) {
        self.send(busy_response(reason));
    }

    /// Sends a plain-text error response naming the request id, so a user
    /// can find the log lines; details stay in the log.
    pub fn error(&self, status: StatusCode) {
        let reason = status.canonical_reason().unwrap_or("error");
        let text = format!(
            "{} {reason} (request id {})\n",
            status.as_u16(),
            self.request_id
        );
        self.send(plain(status, text));
    }
}

/// A plain-text response the host answers itself.
pub fn plain(status: StatusCode, text: String) -> http::Response<HostBody> {
    let mut response = http::Response::new(body::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `503 Service Unavailable` with `Retry-After: 1`, naming the cap the host
/// is at (`reason`).
pub fn busy_response(reason: &str) -> http::Response<HostBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, format!("busy: {reason}\n"));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
