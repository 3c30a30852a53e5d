//! The middleware's imported `wasi:http/handler`: the "next" hop, which is
//! either an origin component instantiated in the same store or an HTTP
//! reverse proxy to an upstream server.

use crate::engine::bindings::Middleware;
use crate::engine::bindings::wasi::http::handler;
use crate::engine::state::{Edge, StoreState};
use crate::http::body::HostBody;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use wasmtime::component::{Accessor, Resource};
use wasmtime_wasi_http::p3::bindings::http::types::{ErrorCode, Request, Response};
use wasmtime_wasi_http::{WasiHttpView, p3};

/// Where one store's imported `handler` sends requests.
#[derive(Clone)]
pub enum NextHop {
    /// Forward over HTTP to an upstream server.
    Upstream(Arc<Upstream>),
    /// Call the `handler` export of an origin component in the same store.
    Origin(Arc<Middleware>),
    /// Nothing configured: the component is a complete service.
    Unset,
}

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

    /// Sends the guest's request to the upstream and hands the response back
    /// to the guest, streaming both bodies.
    async fn forward(
        &self,
        accessor: &Accessor<StoreState, Edge>,
        request: Resource<Request>,
    ) -> wasmtime::Result<Result<Resource<Response>, ErrorCode>> {
        let prepared = accessor.with(|mut access| -> wasmtime::Result<Result<_, ErrorCode>> {
            let client = StoreState::current_request(&mut access)
                .and_then(|request| request.event.client_address);
            let mut request = access.get().table.delete(request)?;
            let original_host = request.authority.take();
            request.scheme = Some(self.scheme.clone());
            request.authority = Some(self.authority.clone());
            Ok(match request.into_http(&mut access, async { Ok(()) }) {
                Ok((mut request, _options)) => {
                    add_forwarded_headers(request.headers_mut(), client, original_host);
                    Ok(request)
                }
                Err(error) => Err(error.downcast()?),
            })
        })?;
        let response = match prepared {
            Ok(request) => match self.dispatch(request).await {
                Ok(response) => response,
                Err(code) => return Ok(Err(code)),
            },
            Err(code) => return Ok(Err(code)),
        };
        accessor.with(|mut access| {
            let state = access.data_mut();
            let (response, _io) = p3::Response::from_http(state.http().hooks, response);
            Ok(Ok(state.http().table.push(response)?))
        })
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
    async fn dispatch(
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
fn add_forwarded_headers(
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

impl handler::HostWithStore<StoreState> for Edge {
    async fn handle(
        accessor: &Accessor<StoreState, Self>,
        request: Resource<Request>,
    ) -> wasmtime::Result<Result<Resource<Response>, ErrorCode>> {
        let next = accessor.with(|mut access| access.get().next.clone());
        match next {
            NextHop::Upstream(upstream) => upstream.forward(accessor, request).await,
            NextHop::Origin(origin) => {
                // The origin's handler runs as a task of its own; record it
                // as serving the caller's request, so the origin's
                // `edge:fetch` calls are attributed to that request too.
                let handle = origin.wasi_http_handler().func_handle();
                let call = accessor.with(|mut access| -> wasmtime::Result<_> {
                    let caller = StoreState::current_request(&mut access);
                    let call = handle.start_call_concurrent(&mut access, (request,))?;
                    if let Some(caller) = caller {
                        access.get().start_request(call.task(), caller);
                    }
                    Ok(call)
                })?;
                let (result,) = handle.finish_call_concurrent(accessor, call).await?;
                Ok(result)
            }
            NextHop::Unset => Ok(Err(ErrorCode::InternalError(Some(
                "this host has no next handler configured (--upstream or --origin)".into(),
            )))),
        }
    }
}

impl handler::Host for StoreState {}
