//! Conversions between the `http` types of the public API and the
//! `wasi:http@0.3.0` resources, and between [`Error`] and `error-code`.

use std::future::Future;

use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use super::bindings::wasi::http::types::{self as wasi, ErrorCode, Fields};
use super::body::{IncomingBody, OutgoingBody};
use crate::{Body, Error, Request, Response, Result};

crate::core::wasi_http::wasi_http_conversions!(super::bindings::wasi::http::types);

/// A request received from the host or from the previous handler.
pub(super) fn request_from_wasi(request: wasi::Request) -> Result<Request> {
    let method = method_from_wasi(request.get_method())?;
    let uri = uri_from_wasi(
        request.get_scheme(),
        request.get_authority(),
        request.get_path_with_query(),
    )?;
    let headers = headers_from_wasi(request.get_headers())?;
    let (report, transmission) = IncomingBody::report_channel();
    let (contents, trailers) = wasi::Request::consume_body(request, transmission);
    let mut request = Request::new(Body::from_stream(IncomingBody::new(
        contents, trailers, report,
    )));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A request to hand to the next handler or to the client.
pub(super) fn request_into_wasi(request: Request) -> Result<wasi::Request> {
    let (mut parts, body) = request.into_parts();
    let body = OutgoingBody::new(body)?;
    body.set_content_length(&mut parts.headers);
    let headers = headers_into_wasi(&parts.headers)?;
    let (contents, trailers, sent) = body.into_parts();
    let (request, transmission) = wasi::Request::new(headers, contents, trailers, None);

    let uri = &parts.uri;
    let path = uri.path_and_query().map_or("/", PathAndQuery::as_str);
    let scheme = uri.scheme().map(scheme_into_wasi);
    let rejected = |what: &str| Error::msg(format!("the host rejected the request {what}"));
    request
        .set_method(&method_into_wasi(&parts.method))
        .map_err(|()| rejected("method"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| rejected("path"))?;
    request
        .set_scheme(scheme.as_ref())
        .map_err(|()| rejected("scheme"))?;
    request
        .set_authority(uri.authority().map(|a| a.as_str()))
        .map_err(|()| rejected("authority"))?;
    sent.report(transmission);
    Ok(request)
}

/// A response from the next handler or the client.
pub(super) fn response_from_wasi(response: wasi::Response) -> Result<Response> {
    let status = StatusCode::from_u16(response.get_status_code())
        .map_err(|e| Error::from_source(StatusCode::BAD_GATEWAY, e))?;
    let headers = headers_from_wasi(response.get_headers())?;
    let (report, transmission) = IncomingBody::report_channel();
    let (contents, trailers) = wasi::Response::consume_body(response, transmission);
    let mut response = Response::new(Body::from_stream(IncomingBody::new(
        contents, trailers, report,
    )));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The response the export returns to the host, and a future that
/// resolves once it has been sent (see `Sent::delivered`).
pub(super) fn response_into_wasi(
    response: Response,
) -> Result<(wasi::Response, impl Future<Output = ()> + 'static)> {
    let (mut parts, body) = response.into_parts();
    let body = OutgoingBody::new(body)?;
    body.set_content_length(&mut parts.headers);
    let headers = headers_into_wasi(&parts.headers)?;
    let (contents, trailers, sent) = body.into_parts();
    let (response, transmission) = wasi::Response::new(headers, contents, trailers);
    let delivered = sent.delivered(transmission);
    response
        .set_status_code(parts.status.as_u16())
        .map_err(|()| Error::msg(format!("the host rejected status {}", parts.status)))?;
    Ok((response, delivered))
}

/// What the export returns when the handler fails: the `error-code` the
/// error wraps (so a failure of the next handler reaches the host as it was),
/// else `internal-error` with the error's message.
pub(super) fn error_into_code(error: &Error) -> ErrorCode {
    match error.downcast_ref::<ErrorCode>() {
        Some(code) => code.clone(),
        None => ErrorCode::InternalError(Some(error.to_string())),
    }
}

/// `scheme://authority/path?query` when the authority is known (the scheme
/// defaulting to `http`), else just `/path?query`.
fn uri_from_wasi(
    scheme: Option<WasiScheme>,
    authority: Option<String>,
    path: Option<String>,
) -> Result<Uri> {
    let mut uri = Uri::builder().path_and_query(path.as_deref().unwrap_or("/"));
    if let Some(authority) = authority {
        uri = uri.scheme(scheme_from_wasi(scheme)?).authority(authority);
    }
    uri.build()
        .map_err(|e| Error::from_source(StatusCode::BAD_REQUEST, e))
}

fn headers_from_wasi(fields: Fields) -> Result<HeaderMap> {
    let entries = fields.copy_all();
    let mut headers = HeaderMap::with_capacity(entries.len());
    for (name, value) in entries {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::from_source(StatusCode::BAD_REQUEST, e))?;
        let value = HeaderValue::from_bytes(&value)
            .map_err(|e| Error::from_source(StatusCode::BAD_REQUEST, e))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn headers_into_wasi(headers: &HeaderMap) -> Result<Fields> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| Error::from(e).context("the host rejected the headers"))
}
