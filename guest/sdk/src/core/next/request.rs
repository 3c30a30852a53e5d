//! [`NextRequest`]: the request as a Next.js-style middleware sees it.

use std::cell::RefCell;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::ops::{Deref, DerefMut};

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue, Method, request::Parts};

use super::cookies::RequestCookies;
use super::url::{NextUrl, UrlConfig};
use crate::core::error::{Error, Result};
use crate::core::geo::Geo;
use crate::{Body, Request};

enum BodyState {
    Unread(Body),
    Reading,
    Buffered(Vec<u8>),
    Failed(String),
}

/// The request a middleware of a [`Chain`](super::Chain) receives, like
/// Next.js's `NextRequest`. Reading the body keeps a copy so the next
/// handler still gets it; [`cookies_mut`](Self::cookies_mut) changes the
/// cookie jar and the `Cookie` header of this request.
///
/// To change what the next handler sees, return
/// [`NextResponse::next_with_request_headers`](super::NextResponse::next_with_request_headers)
/// or [`NextResponse::rewrite`](super::NextResponse::rewrite).
pub struct NextRequest {
    parts: Parts,
    body: RefCell<BodyState>,
    url: NextUrl,
    cookies: RequestCookies,
    /// The `Cookie` header lines as received, once `cookies_mut` has
    /// changed them.
    received_cookies: Option<Vec<HeaderValue>>,
    ip: Option<IpAddr>,
    geo: Option<Geo>,
}

impl NextRequest {
    /// Wraps `request`; `client_address` is the host's `ip:port` for the
    /// client, if known.
    pub fn new(request: Request, config: &UrlConfig, client_address: Option<&str>) -> Self {
        let (parts, body) = request.into_parts();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let url = NextUrl::from_request(&parts.uri, host, config);
        let cookies = RequestCookies::from_headers(&parts.headers);
        Self {
            url,
            cookies,
            received_cookies: None,
            ip: client_address.and_then(parse_ip),
            geo: None,
            body: RefCell::new(BodyState::Unread(body)),
            parts,
        }
    }

    /// Sets the client's location the host told ([`FetchEvent::geo`]); the
    /// [`Chain`](super::Chain) does it for every middleware.
    ///
    /// [`FetchEvent::geo`]: crate::FetchEvent::geo
    #[must_use]
    pub fn with_geo(mut self, geo: Option<Geo>) -> Self {
        self.geo = geo;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// Every header.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The first value of header `name` as text: `Ok(None)` if absent, an
    /// error naming the header if its value is not valid UTF-8.
    pub fn header(&self, name: &str) -> Result<Option<&str>> {
        self.parts
            .headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| Error::msg(format!("header {name} is not valid UTF-8")))
            })
            .transpose()
    }

    /// The parsed URL (clone it to change it).
    pub fn next_url(&self) -> &NextUrl {
        &self.url
    }

    /// The request URI as received.
    pub fn uri(&self) -> &http::Uri {
        &self.parts.uri
    }

    /// The cookies the request carries.
    pub fn cookies(&self) -> &RequestCookies {
        &self.cookies
    }

    /// The cookie jar, to change, like Next.js's `request.cookies.set` /
    /// `.delete`: when the returned guard goes away, the `Cookie` header of
    /// [`headers`](Self::headers) is rewritten from the jar (removed when it
    /// is empty; `Cookie` lines that are not UTF-8 are dropped).
    ///
    /// As in Next.js, the change stays on this request: the next handler
    /// (and the next middleware of the chain) gets it when you pass the
    /// headers on, `NextResponse::next_with_request_headers(req.headers())`.
    /// A chain middleware that takes `&mut NextRequest` can call this.
    pub fn cookies_mut(&mut self) -> RequestCookiesMut<'_> {
        if self.received_cookies.is_none() {
            self.received_cookies =
                Some(self.parts.headers.get_all(COOKIE).iter().cloned().collect());
        }
        RequestCookiesMut { request: self }
    }

    /// The client's IP address, as the host saw it, if known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The client's location, if the host knows it (Next.js's
    /// `request.geo`). `edge-host` knows it only when its operator named the
    /// headers a trusted proxy or CDN sets (`[geo]`); never from what the
    /// client alone sent.
    pub fn geo(&self) -> Option<&Geo> {
        self.geo.as_ref()
    }

    /// Reads the whole body; the next handler still receives it.
    ///
    /// Fails if the body stream fails (then the next handler cannot get
    /// the body either) or is being read by another call at the same time.
    pub async fn bytes(&self) -> Result<Vec<u8>> {
        let state = mem::replace(&mut *self.body.borrow_mut(), BodyState::Reading);
        let (result, state) = match state {
            BodyState::Unread(body) => match body.bytes().await {
                Ok(bytes) => (Ok(bytes.clone()), BodyState::Buffered(bytes)),
                Err(e) => (
                    Err(Error::msg(e.to_string())),
                    BodyState::Failed(e.to_string()),
                ),
            },
            BodyState::Buffered(bytes) => (Ok(bytes.clone()), BodyState::Buffered(bytes)),
            BodyState::Failed(e) => (Err(Error::msg(e.clone())), BodyState::Failed(e)),
            BodyState::Reading => {
                return Err(Error::msg("the request body is already being read"));
            }
        };
        *self.body.borrow_mut() = state;
        result.map_err(|e| e.context("reading the request body"))
    }

    /// Reads the whole body as UTF-8 text; the next handler still receives it.
    pub async fn text(&self) -> Result<String> {
        String::from_utf8(self.bytes().await?)
            .map_err(|e| Error::from(e).context("body is not UTF-8 text"))
    }

    /// Reads the whole body as JSON; the next handler still receives it.
    pub async fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.bytes().await?)
            .map_err(|e| Error::from(e).context("body is not valid JSON"))
    }

    /// The request to forward: the original head (with the `Cookie` header
    /// as received) and the (possibly buffered) body.
    pub(crate) fn into_request(mut self) -> Result<Request> {
        if let Some(received) = self.received_cookies.take() {
            self.parts.headers.remove(COOKIE);
            for line in received {
                self.parts.headers.append(COOKIE, line);
            }
        }
        let body = match self.body.into_inner() {
            BodyState::Unread(body) => body,
            BodyState::Buffered(bytes) => Body::from(bytes),
            BodyState::Failed(e) => {
                return Err(Error::msg(format!("the request body was lost: {e}")));
            }
            BodyState::Reading => {
                return Err(Error::msg("the request body was still being read"));
            }
        };
        Ok(Request::from_parts(self.parts, body))
    }
}

/// [`NextRequest::cookies_mut`]: the request's cookie jar, to change; the
/// request's `Cookie` header follows when this guard is dropped.
pub struct RequestCookiesMut<'a> {
    request: &'a mut NextRequest,
}

impl Deref for RequestCookiesMut<'_> {
    type Target = RequestCookies;

    fn deref(&self) -> &RequestCookies {
        &self.request.cookies
    }
}

impl DerefMut for RequestCookiesMut<'_> {
    fn deref_mut(&mut self) -> &mut RequestCookies {
        &mut self.request.cookies
    }
}

impl Drop for RequestCookiesMut<'_> {
    fn drop(&mut self) {
        let headers = &mut self.request.parts.headers;
        match self.request.cookies.header_value() {
            Some(value) => headers.insert(COOKIE, value),
            None => headers.remove(COOKIE),
        };
    }
}

/// The IP of `ip:port` / `[v6]:port` / a bare IP.
fn parse_ip(address: &str) -> Option<IpAddr> {
    address
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| address.trim_matches(['[', ']']).parse())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::block_on;
    use http::HeaderValue;

    fn request(body: Body) -> Request {
        http::Request::builder()
            .method("POST")
            .uri("/docs/fr/a?q=1")
            .header("host", "ex.com")
            .header("cookie", "s=abc")
            .header("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap())
            .body(body)
            .unwrap()
    }

    #[test]
    fn exposes_method_headers_url_cookies_ip() {
        let config = UrlConfig {
            base_path: "/docs".into(),
            locales: vec!["en".into(), "fr".into()],
            default_locale: Some("en".into()),
        };
        let req = NextRequest::new(request(Body::empty()), &config, Some("[::1]:5000"));
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.header("host").unwrap(), Some("ex.com"));
        assert_eq!(req.header("missing").unwrap(), None);
        assert_eq!(
            req.header("x-bin").unwrap_err().to_string(),
            "header x-bin is not valid UTF-8"
        );
        assert_eq!(req.next_url().pathname(), "/a");
        assert_eq!(req.next_url().locale(), Some("fr"));
        assert_eq!(req.next_url().href(), "http://ex.com/docs/fr/a?q=1");
        assert_eq!(req.cookies().get("s"), Some("abc"));
        assert_eq!(req.ip(), Some("::1".parse().unwrap()));
        assert_eq!(req.uri(), "/docs/fr/a?q=1");
        assert_eq!(req.geo(), None);
    }

    #[test]
    fn geo_is_what_the_host_told() {
        let geo = Geo {
            country: Some("DE".into()),
            city: Some("München".into()),
            ..Geo::default()
        };
        let req = NextRequest::new(request(Body::empty()), &UrlConfig::default(), None)
            .with_geo(Some(geo.clone()));
        assert_eq!(req.geo(), Some(&geo));
        assert_eq!(req.geo().and_then(|g| g.region.as_deref()), None);
        let req = req.with_geo(None);
        assert_eq!(req.geo(), None);
    }

    #[test]
    fn client_addresses() {
        assert_eq!(parse_ip("10.0.0.1:80"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_ip("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("not an ip"), None);
    }

    #[test]
    fn reading_the_body_keeps_it_for_the_next_handler() {
        let req = NextRequest::new(
            request(Body::from(r#"{"a":1}"#)),
            &UrlConfig::default(),
            None,
        );
        assert_eq!(block_on(req.text()).unwrap(), r#"{"a":1}"#);
        let value: serde_json::Value = block_on(req.json()).unwrap();
        assert_eq!(value["a"], 1);
        let forwarded = req.into_request().unwrap();
        assert_eq!(
            block_on(forwarded.into_body().text()).unwrap(),
            r#"{"a":1}"#
        );
    }

    #[test]
    fn cookies_mut_keeps_the_cookie_header_in_sync() {
        let request = http::Request::builder()
            .uri("/")
            .header("cookie", "a=1; b=2")
            .header("cookie", "c=%E2%9C%93")
            .header("cookie", HeaderValue::from_bytes(b"bin=\xff").unwrap())
            .body(Body::empty())
            .unwrap();
        let mut req = NextRequest::new(request, &UrlConfig::default(), None);
        assert_eq!(req.cookies().get("c"), Some("✓"));
        {
            let mut jar = req.cookies_mut();
            jar.set("a", "x y").unwrap();
            assert!(jar.delete("b"));
            jar.set("d", "4").unwrap();
            assert!(jar.set("bad name", "v").is_err());
        }
        assert_eq!(req.cookies().get("a"), Some("x y"));
        assert!(!req.cookies().has("b"));
        let lines: Vec<_> = req.headers().get_all("cookie").iter().collect();
        // As in Node.js, a byte that is not ASCII is read as latin-1 (`ÿ`).
        assert_eq!(lines, ["a=x%20y; c=%E2%9C%93; bin=%C3%BF; d=4"]);
        assert_eq!(
            RequestCookies::from_headers(req.headers()),
            *req.cookies(),
            "the header says what the jar says"
        );

        for name in ["a", "c", "bin", "d"] {
            req.cookies_mut().delete(name);
        }
        assert!(req.cookies().is_empty());
        assert!(
            !req.headers().contains_key("cookie"),
            "an empty jar, no header"
        );

        // As in Next.js, the change stays on this request unless passed on.
        let forwarded = req.into_request().unwrap();
        let lines: Vec<_> = forwarded.headers().get_all("cookie").iter().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "a=1; b=2");
    }

    #[test]
    fn bad_bodies_are_errors() {
        let req = NextRequest::new(request(Body::from(vec![0xff])), &UrlConfig::default(), None);
        assert!(
            block_on(req.text())
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
        let err = block_on(req.json::<serde_json::Value>()).unwrap_err();
        assert!(
            err.to_string().starts_with("body is not valid JSON"),
            "{err}"
        );
        // Still forwarded intact.
        let body = block_on(req.into_request().unwrap().into_body().bytes()).unwrap();
        assert_eq!(body, [0xff]);
    }
}
