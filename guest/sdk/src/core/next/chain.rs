//! [`Chain`]: runs Next.js-style middlewares in order and applies their
//! [`NextResponse`]s the way Next.js's router (`resolve-routes.ts`) does.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONTENT_LENGTH, COOKIE, HOST, LOCATION, SET_COOKIE};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use super::cookies::{RequestCookies, ResponseCookies};
use super::matcher::{MatchInput, Matcher, redirect_target, scoped_forms};
use super::request::NextRequest;
use super::response::{NextResponse, OVERRIDE_HEADERS, REQUEST_PREFIX, REWRITE};
use super::url::{NextUrl, UrlConfig};
use crate::core::error::{Error, Result};
use crate::core::geo::Geo;
use crate::{Body, Request, Response};

/// The future a [`Handler`] returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<NextResponse>> + 'a>>;

/// A middleware of a [`Chain`]: an `async fn(&NextRequest, E) ->
/// Result<NextResponse>`, or `async fn(&mut NextRequest, E) -> ...` for one
/// that changes the request's cookies ([`NextRequest::cookies_mut`]), or
/// such an async closure; `E` is the event type (`FetchEvent` inside a
/// component). `Args` ([`ByRef`] or [`ByMut`]) tells the two apart and is
/// inferred.
pub trait Handler<E, Args = ByRef> {
    /// Runs the middleware for `request`.
    fn call<'a>(&'a self, request: &'a mut NextRequest, event: E) -> HandlerFuture<'a>;
}

/// [`Handler`] marker: the middleware takes `&NextRequest`.
#[derive(Debug)]
pub enum ByRef {}

/// [`Handler`] marker: the middleware takes `&mut NextRequest`.
#[derive(Debug)]
pub enum ByMut {}

impl<E: 'static, F> Handler<E, ByRef> for F
where
    F: AsyncFn(&NextRequest, E) -> Result<NextResponse>,
{
    fn call<'a>(&'a self, request: &'a mut NextRequest, event: E) -> HandlerFuture<'a> {
        Box::pin(self(request, event))
    }
}

impl<E: 'static, F> Handler<E, ByMut> for F
where
    F: AsyncFn(&mut NextRequest, E) -> Result<NextResponse>,
{
    fn call<'a>(&'a self, request: &'a mut NextRequest, event: E) -> HandlerFuture<'a> {
        Box::pin(self(request, event))
    }
}

/// A [`Handler`] with its `Args` marker fixed, so that a [`Chain`] can hold
/// both kinds.
struct Typed<H, Args>(H, PhantomData<fn() -> Args>);

trait AnyHandler<E> {
    fn call<'a>(&'a self, request: &'a mut NextRequest, event: E) -> HandlerFuture<'a>;
}

impl<E, Args, H: Handler<E, Args>> AnyHandler<E> for Typed<H, Args> {
    fn call<'a>(&'a self, request: &'a mut NextRequest, event: E) -> HandlerFuture<'a> {
        self.0.call(request, event)
    }
}

/// Where a request goes after the chain: the next handler, or (after an
/// external rewrite) the network.
pub(crate) trait Hop {
    /// Forwards to the next handler.
    fn next(self, request: Request) -> impl Future<Output = Result<Response>>;
    /// Sends to the absolute URI of `request`.
    fn fetch(self, request: Request) -> impl Future<Output = Result<Response>>;
}

struct Step<E> {
    matcher: Matcher,
    handler: Box<dyn AnyHandler<E>>,
}

/// Middlewares run in order, each only for the requests its [`Matcher`]
/// matches, like a Next.js `middleware.ts` with `config.matcher`, chained.
///
/// For every request the chain first drops client-sent `x-middleware-*`
/// headers (so they can never drive the mechanism below, CVE-2025-29927)
/// and normalizes the path (see [`Matcher`]'s docs). Then each matching
/// middleware sees the request as the previous ones left it and returns a
/// [`NextResponse`]:
///
/// - an answer (redirect, JSON, any response) ends the chain: it goes to the
///   client, with the headers and cookies earlier middlewares set;
/// - [`NextResponse::next`] continues. With request-header overrides
///   (`x-middleware-override-headers`) a non-empty list becomes the whole
///   header set of the request (headers not listed are removed, listed ones
///   without an `x-middleware-request-*` value too); an empty list changes
///   nothing. Cookies set on the response are added to the request's
///   `Cookie` header. Other headers set on the response are set on the
///   request too and merged into the final response (which keeps its own
///   value of a header both set; `Set-Cookie` is appended), as in Next.js;
/// - [`NextResponse::rewrite`] continues with a new path, or ends the chain
///   and fetches an external URL instead of calling the next handler.
pub struct Chain<E> {
    config: UrlConfig,
    steps: Vec<Step<E>>,
}

impl<E> Default for Chain<E> {
    fn default() -> Self {
        Self {
            config: UrlConfig::default(),
            steps: Vec::new(),
        }
    }
}

impl<E: Clone + 'static> Chain<E> {
    /// An empty chain (every request goes to the next handler).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the base path (`basePath`) [`NextUrl`]s are parsed with; as in
    /// Next.js, matchers then match paths under it only, without it (see
    /// [`Matcher`]'s docs).
    #[must_use]
    pub fn base_path(mut self, base_path: &str) -> Self {
        self.config.base_path = base_path.trim_end_matches('/').to_owned();
        self
    }

    /// Sets the locales and the default locale (`i18n`); as in Next.js,
    /// matchers then match paths without their locale segment (see
    /// [`Matcher`]'s docs).
    #[must_use]
    pub fn i18n(mut self, locales: &[&str], default_locale: &str) -> Self {
        self.config.locales = locales.iter().map(|l| (*l).to_owned()).collect();
        self.config.default_locale = Some(default_locale.to_owned());
        self
    }

    /// Appends `handler`, run for the requests `matcher` matches.
    #[must_use]
    pub fn route<Args: 'static>(
        mut self,
        matcher: Matcher,
        handler: impl Handler<E, Args> + 'static,
    ) -> Self {
        self.steps.push(Step {
            matcher,
            handler: Box::new(Typed(handler, PhantomData)),
        });
        self
    }

    /// Appends `handler`, run for every request.
    #[must_use]
    pub fn then<Args: 'static>(self, handler: impl Handler<E, Args> + 'static) -> Self {
        self.route(Matcher::all(), handler)
    }

    /// Handles `request`: runs the matching middlewares, then `hop`.
    /// `client_address` and `geo` are what the host told about the client.
    pub(crate) async fn run(
        &self,
        mut request: Request,
        client_address: Option<&str>,
        geo: Option<&Geo>,
        event: E,
        hop: impl Hop,
    ) -> Result<Response> {
        strip_internal_headers(request.headers_mut());
        if let Some(target) = redirect_target(request.uri().path()) {
            let location = match request.uri().query() {
                Some(query) => format!("{target}?{query}"),
                None => target,
            };
            let mut response = plain(StatusCode::PERMANENT_REDIRECT, Body::empty());
            let location = HeaderValue::from_str(&location)
                .map_err(|e| Error::from_source(StatusCode::BAD_REQUEST, e))?;
            response.headers_mut().insert(LOCATION, location);
            return Ok(response);
        }
        let mut merged = HeaderMap::new();
        let mut external = None;
        for step in &self.steps {
            let paths = match scoped_forms(request.uri().path(), &self.config) {
                Ok(paths) => paths,
                Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, Body::from(e.to_string()))),
            };
            let host = request.headers().get(HOST).and_then(|h| h.to_str().ok());
            let url = NextUrl::from_request(request.uri(), host, &self.config);
            let input = MatchInput {
                paths: &paths,
                headers: request.headers(),
                query: url.search_params(),
                hostname: url.hostname(),
            };
            if !step.matcher.matches(&input) {
                continue;
            }
            let mut next_request =
                NextRequest::new(request, &self.config, client_address).with_geo(geo.cloned());
            let decision = step.handler.call(&mut next_request, event.clone()).await?;
            request = next_request.into_request()?;
            let continues = decision.is_continue();
            let (response, cookies) = decision.into_parts();
            if !continues {
                return Ok(finish(response, &cookies, &merged));
            }
            external = apply(
                &mut request,
                response.into_parts().0.headers,
                &cookies,
                &mut merged,
            )?;
            if external.is_some() {
                break;
            }
        }
        let mut response = match external {
            Some(uri) => {
                *request.uri_mut() = uri;
                hop.fetch(request).await?
            }
            None => hop.next(request).await?,
        };
        strip_internal_headers(response.headers_mut());
        merge_into(response.headers_mut(), &merged);
        Ok(response)
    }
}

/// Removes every `x-middleware-*` header.
pub(crate) fn strip_internal_headers(headers: &mut HeaderMap) {
    let internal: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-middleware-"))
        .cloned()
        .collect();
    for name in internal {
        headers.remove(name);
    }
}

fn plain(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// A short-circuit answer with the cookies of its middleware and the
/// headers earlier middlewares set.
fn finish(mut response: Response, cookies: &ResponseCookies, merged: &HeaderMap) -> Response {
    strip_internal_headers(response.headers_mut());
    cookies.append_to(response.headers_mut());
    merge_into(response.headers_mut(), merged);
    response
}

/// Adds `merged` to `headers`: `Set-Cookie` appended, others only where
/// `headers` has no value of its own.
fn merge_into(headers: &mut HeaderMap, merged: &HeaderMap) {
    for name in merged.keys() {
        if name == SET_COOKIE || !headers.contains_key(name) {
            for value in merged.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }
}

/// [`apply`] for the fuzz targets: a continuing middleware's response
/// headers applied to `request`.
#[cfg(fuzzing)]
pub fn apply_for_fuzzing(request: &mut Request, headers: HeaderMap) -> Result<Option<Uri>> {
    apply(
        request,
        headers,
        &ResponseCookies::default(),
        &mut HeaderMap::new(),
    )
}

/// Applies a continuing middleware's response headers and cookies to the
/// request and to the headers merged into the final response; returns the
/// URI of an external rewrite.
fn apply(
    request: &mut Request,
    mut headers: HeaderMap,
    cookies: &ResponseCookies,
    merged: &mut HeaderMap,
) -> Result<Option<Uri>> {
    let list = headers
        .get(OVERRIDE_HEADERS)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !list.is_empty() {
        let names: Vec<String> = list
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        let target = request.headers_mut();
        let stale: Vec<HeaderName> = target
            .keys()
            .filter(|k| !names.iter().any(|n| n == k.as_str()))
            .cloned()
            .collect();
        for name in stale {
            target.remove(name);
        }
        for name in &names {
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            target.remove(&header);
            for value in headers.get_all(format!("{REQUEST_PREFIX}{name}").as_str()) {
                target.append(header.clone(), value.clone());
            }
        }
    }

    if !cookies.get_all().is_empty() {
        let mut jar = RequestCookies::from_headers(request.headers());
        let now = SystemTime::now();
        for cookie in cookies.get_all() {
            let expired = cookie.max_age.is_some_and(|age| age <= 0)
                || cookie.expires.is_some_and(|at| at <= now.max(UNIX_EPOCH));
            if expired {
                jar.delete(&cookie.name);
            } else {
                jar.set(&cookie.name, &cookie.value)?;
            }
        }
        match jar.header_value() {
            Some(value) => request.headers_mut().insert(COOKIE, value),
            None => request.headers_mut().remove(COOKIE),
        };
        cookies.append_to(merged);
    }

    // Nothing internal reaches the next handler, whatever the middleware
    // put on the request or listed in an override.
    strip_internal_headers(request.headers_mut());
    let rewrite = headers.remove(REWRITE);
    strip_internal_headers(&mut headers);
    headers.remove(CONTENT_LENGTH);
    for name in headers.keys() {
        let values: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
        if name != SET_COOKIE {
            merged.remove(name);
            request.headers_mut().remove(name);
            for value in &values {
                request.headers_mut().append(name.clone(), value.clone());
            }
        }
        for value in values {
            merged.append(name.clone(), value);
        }
    }

    let Some(rewrite) = rewrite else {
        return Ok(None);
    };
    let target: Uri = rewrite
        .to_str()
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Error::msg(format!("invalid rewrite URL {rewrite:?}")))?;
    let own_host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    if let Some(authority) = target.authority()
        && own_host.as_deref() != Some(authority.as_str())
    {
        return Ok(Some(target));
    }
    let path = target
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(path);
    *request.uri_mut() = Uri::from_parts(parts).map_err(|e| Error::from(e).context("rewrite"))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::next::cookies::ResponseCookie;
    use crate::core::test_util::block_on;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// The end of the chain: records what it was sent and answers 200 with
    /// an origin header.
    #[derive(Clone, Default)]
    struct Recorder(Rc<RefCell<Vec<(&'static str, Request)>>>);

    impl Hop for Recorder {
        async fn next(self, request: Request) -> Result<Response> {
            self.0.borrow_mut().push(("next", request));
            let mut response = plain(StatusCode::OK, Body::from("origin"));
            response
                .headers_mut()
                .insert("x-origin", HeaderValue::from_static("1"));
            response
                .headers_mut()
                .insert("x-shared", HeaderValue::from_static("origin"));
            Ok(response)
        }
        async fn fetch(self, request: Request) -> Result<Response> {
            self.0.borrow_mut().push(("fetch", request));
            Ok(plain(StatusCode::OK, Body::from("external")))
        }
    }

    impl Recorder {
        fn only(&self) -> (&'static str, Request) {
            let mut sent = self.0.borrow_mut();
            assert_eq!(sent.len(), 1);
            sent.pop().unwrap()
        }
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().uri(uri).header("host", "ex.com");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn run(chain: &Chain<()>, req: Request) -> (Response, Recorder) {
        let hop = Recorder::default();
        let response = block_on(chain.run(req, Some("10.0.0.1:1"), None, (), hop.clone())).unwrap();
        (response, hop)
    }

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn next_passes_the_request_through_and_merges_response_headers() {
        let chain = Chain::new().then(async |_: &NextRequest, (): ()| {
            let mut res = NextResponse::next();
            res.headers_mut()
                .insert("x-mw", HeaderValue::from_static("1"));
            res.headers_mut()
                .insert("x-shared", HeaderValue::from_static("mw"));
            Ok(res)
        });
        let (response, hop) = run(&chain, request("/a?q=1", &[("accept", "text/html")]));
        assert_eq!(response.headers()["x-mw"], "1");
        assert_eq!(response.headers()["x-origin"], "1");
        assert_eq!(
            response.headers()["x-shared"],
            "origin",
            "the origin's own value wins"
        );
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("x-middleware-"))
        );
        let (kind, sent) = hop.only();
        assert_eq!(kind, "next");
        assert_eq!(sent.uri(), "/a?q=1");
        assert_eq!(sent.headers()["accept"], "text/html");
        assert_eq!(
            sent.headers()["x-mw"],
            "1",
            "Next.js also sets them on the request"
        );
    }

    #[test]
    fn non_empty_override_list_replaces_the_request_headers() {
        let chain = Chain::new().then(async |req: &NextRequest, (): ()| {
            let mut headers = HeaderMap::new();
            headers.insert("x-user-id", HeaderValue::from_static("u1"));
            headers.insert("accept", req.headers()["accept"].clone());
            Ok(NextResponse::next_with_request_headers(&headers))
        });
        let (response, hop) = run(&chain, request("/", &[("accept", "a"), ("x-drop", "1")]));
        let (_, sent) = hop.only();
        assert_eq!(sent.headers()["x-user-id"], "u1");
        assert_eq!(sent.headers()["accept"], "a");
        assert!(
            !sent.headers().contains_key("x-drop"),
            "unlisted headers are removed"
        );
        assert!(!sent.headers().contains_key("host"));
        assert!(
            !response.headers().contains_key("x-user-id"),
            "not sent to the client"
        );
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("x-middleware-"))
        );
    }

    #[test]
    fn empty_override_list_changes_nothing() {
        let chain = Chain::new().then(async |_: &NextRequest, (): ()| {
            Ok(NextResponse::next_with_request_headers(&HeaderMap::new()))
        });
        let (_, hop) = run(&chain, request("/", &[("x-keep", "1")]));
        assert_eq!(hop.only().1.headers()["x-keep"], "1");
    }

    #[test]
    fn client_sent_internal_headers_are_stripped_and_never_override() {
        let seen = Rc::new(RefCell::new(0));
        let counter = seen.clone();
        let chain = Chain::new().then(async move |req: &NextRequest, (): ()| {
            *counter.borrow_mut() += req
                .headers()
                .keys()
                .filter(|k| k.as_str().starts_with("x-middleware-"))
                .count()
                + 1;
            Ok(NextResponse::next())
        });
        let spoofed = [
            (
                "x-middleware-subrequest",
                "middleware:middleware:middleware",
            ),
            ("x-middleware-override-headers", "x-user-id"),
            ("x-middleware-request-x-user-id", "admin"),
            ("x-middleware-rewrite", "https://evil.example/"),
        ];
        let (_, hop) = run(&chain, request("/", &spoofed));
        assert_eq!(
            *seen.borrow(),
            1,
            "the middleware ran and saw no internal header"
        );
        let (kind, sent) = hop.only();
        assert_eq!(kind, "next");
        assert!(!sent.headers().contains_key("x-user-id"));
        assert!(
            !sent
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("x-middleware-"))
        );
    }

    #[test]
    fn overrides_never_forward_internal_headers() {
        let chain = Chain::new().then(async |_: &NextRequest, (): ()| {
            let mut wanted = HeaderMap::new();
            wanted.insert("x-middleware-subrequest", HeaderValue::from_static("m"));
            wanted.insert("x-user-id", HeaderValue::from_static("u1"));
            Ok(NextResponse::next_with_request_headers(&wanted))
        });
        let (_, hop) = run(&chain, request("/", &[]));
        let (_, sent) = hop.only();
        assert_eq!(sent.headers()["x-user-id"], "u1");
        assert!(
            !sent
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("x-middleware-"))
        );
    }

    #[test]
    fn response_cookies_reach_the_client_and_the_next_handler() {
        let chain = Chain::new().then(async |_: &NextRequest, (): ()| {
            let mut res = NextResponse::next();
            res.cookies_mut().set(ResponseCookie {
                http_only: true,
                ..ResponseCookie::new("session", "new")
            })?;
            res.cookies_mut()
                .set(ResponseCookie::new("theme", "dark"))?;
            res.cookies_mut().delete("old")?;
            Ok(res)
        });
        let (response, hop) = run(
            &chain,
            request("/", &[("cookie", "old=1; session=stale; k=v")]),
        );
        assert_eq!(
            values(response.headers(), "set-cookie"),
            [
                "session=new; Path=/; HttpOnly",
                "theme=dark; Path=/",
                "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            ]
        );
        assert_eq!(
            hop.only().1.headers()["cookie"],
            "session=new; k=v; theme=dark"
        );
    }

    #[test]
    fn request_cookie_changes_reach_the_next_handler_when_passed_on() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let record = seen.clone();
        let chain = Chain::new()
            .then(async |req: &mut NextRequest, (): ()| {
                req.cookies_mut().set("flag", "on")?;
                req.cookies_mut().delete("drop");
                if req.next_url().search_params().has("forward") {
                    Ok(NextResponse::next_with_request_headers(req.headers()))
                } else {
                    Ok(NextResponse::next())
                }
            })
            .then(async move |req: &NextRequest, (): ()| {
                record.borrow_mut().push(
                    req.cookies()
                        .iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>(),
                );
                Ok(NextResponse::next())
            });
        let (response, hop) = run(
            &chain,
            request("/?forward", &[("cookie", "drop=1; keep=2")]),
        );
        assert_eq!(hop.only().1.headers()["cookie"], "keep=2; flag=on");
        assert!(
            !response.headers().contains_key("set-cookie"),
            "request cookies only"
        );
        assert_eq!(seen.borrow_mut().pop().unwrap(), ["keep=2", "flag=on"]);

        // Not passed on: as in Next.js, the next handler gets the cookies
        // the client sent.
        let (_, hop) = run(&chain, request("/", &[("cookie", "drop=1; keep=2")]));
        assert_eq!(hop.only().1.headers()["cookie"], "drop=1; keep=2");
        assert_eq!(seen.borrow_mut().pop().unwrap(), ["drop=1", "keep=2"]);
    }

    #[test]
    fn redirects_and_answers_short_circuit() {
        let ran_second = Rc::new(RefCell::new(false));
        let flag = ran_second.clone();
        let chain = Chain::new()
            .then(async |_: &NextRequest, (): ()| {
                let mut res = NextResponse::next();
                res.headers_mut()
                    .insert("x-first", HeaderValue::from_static("1"));
                res.cookies_mut().set(ResponseCookie::new("a", "1"))?;
                Ok(res)
            })
            .route(
                Matcher::new(["/private/:p*"]).unwrap(),
                async |req: &NextRequest, (): ()| {
                    NextResponse::redirect(req.next_url().with_pathname("/sign-in"))
                },
            )
            .then(async move |_: &NextRequest, (): ()| {
                *flag.borrow_mut() = true;
                Ok(NextResponse::next())
            });
        let (response, hop) = run(&chain, request("/private/x", &[]));
        assert_eq!(response.status(), 307);
        assert_eq!(response.headers()["location"], "http://ex.com/sign-in");
        assert_eq!(
            response.headers()["x-first"],
            "1",
            "earlier headers are kept"
        );
        assert_eq!(values(response.headers(), "set-cookie"), ["a=1; Path=/"]);
        assert!(hop.0.borrow().is_empty() && !*ran_second.borrow());

        let (response, hop) = run(&chain, request("/public", &[]));
        assert_eq!(response.status(), 200);
        assert!(*ran_second.borrow());
        assert_eq!(hop.only().0, "next");
    }

    #[test]
    fn rewrites_same_origin_and_external() {
        let chain =
            Chain::new().then(
                async |req: &NextRequest, (): ()| match req.next_url().pathname() {
                    "/old" => NextResponse::rewrite("/new?x=1"),
                    "/abs" => NextResponse::rewrite("http://ex.com/same"),
                    _ => NextResponse::rewrite("https://api.example.net/v1?k=2"),
                },
            );
        let (_, hop) = run(&chain, request("/old", &[]));
        let (kind, sent) = hop.only();
        assert_eq!(
            (kind, sent.uri().to_string().as_str()),
            ("next", "/new?x=1")
        );
        let (_, hop) = run(&chain, request("/abs", &[]));
        assert_eq!(hop.only().1.uri(), "/same");
        let (response, hop) = run(&chain, request("/proxy", &[]));
        let (kind, sent) = hop.only();
        assert_eq!(
            (kind, sent.uri().to_string().as_str()),
            ("fetch", "https://api.example.net/v1?k=2")
        );
        assert!(!response.headers().contains_key(REWRITE));
    }

    #[test]
    fn matcher_skips_and_normalization_runs_first() {
        let chain = Chain::new().route(
            Matcher::new(["/admin/:p*"]).unwrap(),
            async |_: &NextRequest, (): ()| Ok(NextResponse::new(StatusCode::FORBIDDEN, "no")),
        );
        assert_eq!(run(&chain, request("/public", &[])).0.status(), 200);
        for tricky in ["/%61dmin", "/admin%2fx", "/x/%2e%2e/admin", "/admin/"] {
            assert_eq!(
                run(&chain, request(tricky, &[])).0.status(),
                403,
                "{tricky}"
            );
        }
        let (response, hop) = run(&chain, request("//admin?q=1", &[]));
        assert_eq!(response.status(), 308);
        assert_eq!(response.headers()["location"], "/admin?q=1");
        assert!(hop.0.borrow().is_empty());
        assert_eq!(run(&chain, request("/a\\admin", &[])).0.status(), 308);
        assert_eq!(run(&chain, request("/%ff", &[])).0.status(), 400);
    }

    #[test]
    fn matchers_see_paths_without_base_path_and_locale() {
        let chain = Chain::new()
            .base_path("/docs")
            .i18n(&["en", "fr"], "en")
            .route(
                Matcher::new(["/admin/:p*"]).unwrap(),
                async |req: &NextRequest, (): ()| {
                    let body = format!(
                        "{:?} {}",
                        req.next_url().locale(),
                        req.next_url().pathname()
                    );
                    Ok(NextResponse::new(StatusCode::FORBIDDEN, body))
                },
            );
        for (path, locale) in [
            ("/docs/admin", "en"),
            ("/docs/fr/admin/x", "fr"),
            ("/docs/%66r/admin", "en"),
        ] {
            let (response, hop) = run(&chain, request(path, &[]));
            assert_eq!(response.status(), 403, "{path}");
            assert!(hop.0.borrow().is_empty());
            let body = block_on(response.into_body().text()).unwrap();
            assert!(
                body.starts_with(&format!("Some(\"{locale}\")")),
                "{path}: {body}"
            );
        }
        for path in ["/admin", "/fr/admin", "/docs/de/admin", "/docs"] {
            assert_eq!(run(&chain, request(path, &[])).0.status(), 200, "{path}");
        }
    }

    #[test]
    fn errors_propagate() {
        let chain = Chain::new().then(async |_: &NextRequest, (): ()| -> Result<NextResponse> {
            Err(Error::msg("boom"))
        });
        let err = block_on(chain.run(request("/", &[]), None, None, (), Recorder::default()))
            .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }

    #[test]
    fn every_middleware_sees_the_geo_the_host_told() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let record = |seen: Rc<RefCell<Vec<Option<Geo>>>>| {
            async move |req: &NextRequest, (): ()| {
                seen.borrow_mut().push(req.geo().cloned());
                Ok(NextResponse::next())
            }
        };
        let chain = Chain::new()
            .then(record(seen.clone()))
            .then(record(seen.clone()));
        let geo = Geo {
            country: Some("JP".into()),
            latitude: Some("35.68".into()),
            ..Geo::default()
        };
        let hop = Recorder::default();
        block_on(chain.run(request("/", &[]), None, Some(&geo), (), hop.clone())).unwrap();
        assert_eq!(*seen.borrow(), [Some(geo.clone()), Some(geo)]);
        seen.borrow_mut().clear();
        run(&chain, request("/", &[]));
        assert_eq!(*seen.borrow(), [None, None]);
    }
}
