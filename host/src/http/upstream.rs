//! The HTTP reverse proxy to an upstream server: the next hop of a
//! middleware served with `--upstream`, and where pass-through sends the
//! original request.

use crate::http::body::HostBody;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// An HTTP reverse proxy to one upstream origin.
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    client: Client<HttpConnector, HostBody>,
}

/// An `--upstream` value that is not an absolute `http://host[:port]` URL.
#[derive(Debug)]
pub struct InvalidUpstream(String);

impl std::fmt::Display for InvalidUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid upstream URL: {}", self.0)
    }
}

impl std::error::Error for InvalidUpstream {}

impl Upstream {
    /// Parses `http://host[:port]` (a path, query or other scheme is refused).
    pub fn parse(url: &str) -> Result<Self, InvalidUpstream> {
        let uri: Uri = url
            .parse()
            .map_err(|e| InvalidUpstream(format!("{url}: {e}")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(InvalidUpstream(format!(
                "{url}: expected http://host[:port]"
            )));
        };
        if *scheme != Scheme::HTTP {
            return Err(InvalidUpstream(format!("{url}: only http:// is supported")));
        }
        if uri.path() != "/" || uri.query().is_some() {
            return Err(InvalidUpstream(format!(
                "{url}: a path or query is not supported"
            )));
        }
        Ok(Self {
            scheme: scheme.clone(),
            authority: authority.clone(),
            client: {
                let mut connector = HttpConnector::new();
                // Small request heads and bodies go out at once (no Nagle delay).
                connector.set_nodelay(true);
                Client::builder(TokioExecutor::new()).build(connector)
            },
        })
    }

    /// The `host[:port]` requests are forwarded to.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The scheme requests are forwarded with.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }
}

impl Upstream {
    /// Sends a request that was addressed to this host (its URI carries the
    /// client's authority) to the upstream: used for pass-through.
    pub async fn send(
        &self,
        mut request: http::Request<HostBody>,
        client: Option<SocketAddr>,
    ) -> Result<http::Response<Incoming>, ErrorCode> {
        let original_host = request.uri().authority().cloned();
        let mut uri = std::mem::take(request.uri_mut()).into_parts();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(self.authority.clone());
        *request.uri_mut() = Uri::from_parts(uri).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
        let host = HeaderValue::from_str(self.authority.as_str())
            .map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
        request.headers_mut().insert(http::header::HOST, host);
        add_forwarded_headers(request.headers_mut(), client, original_host);
        self.dispatch(request).await
    }

    /// Sends a request whose URI already points at the upstream.
    pub async fn dispatch(
        &self,
        request: http::Request<HostBody>,
    ) -> Result<http::Response<Incoming>, ErrorCode> {
        self.client.request(request).await.map_err(|error| {
            tracing::warn!(upstream = %self.authority, error = %error, "upstream request failed");
            error_code(&error)
        })
    }
}

/// Adds the de-facto standard `x-forwarded-*` headers for the upstream.
pub fn add_forwarded_headers(
    headers: &mut http::HeaderMap,
    client: Option<SocketAddr>,
    original_host: Option<Authority>,
) {
    if let Some(client) = client
        && let Ok(value) = HeaderValue::from_str(&client.ip().to_string())
    {
        headers.append("x-forwarded-for", value);
    }
    if let Some(host) = original_host
        && let Ok(value) = HeaderValue::from_str(host.as_str())
    {
        headers.insert("x-forwarded-host", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
}

/// The `wasi:http` error code that best describes a failed upstream call.
fn error_code(error: &hyper_util::client::legacy::Error) -> ErrorCode {
    if error.is_connect() {
        ErrorCode::ConnectionRefused
    } else {
        ErrorCode::HttpProtocolError
    }
}
