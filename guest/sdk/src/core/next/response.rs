//! [`NextResponse`]: what a middleware of a [`Chain`](super::Chain) returns.

use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use super::cookies::ResponseCookies;
use super::url::NextUrl;
use crate::core::error::{Error, Result};
use crate::{Body, Response};

/// `x-middleware-next`: continue to the next handler.
pub(crate) const NEXT: &str = "x-middleware-next";
/// `x-middleware-rewrite`: continue, to this URL instead.
pub(crate) const REWRITE: &str = "x-middleware-rewrite";
/// `x-middleware-override-headers`: the request headers the next handler gets.
pub(crate) const OVERRIDE_HEADERS: &str = "x-middleware-override-headers";
/// `x-middleware-request-<name>`: the value of each overridden header.
pub(crate) const REQUEST_PREFIX: &str = "x-middleware-request-";

/// What a middleware decides, like Next.js's `NextResponse`: continue
/// ([`next`](Self::next), [`rewrite`](Self::rewrite)) or answer
/// ([`redirect`](Self::redirect), [`json`](Self::json),
/// [`from`](Self::from) a [`Response`]).
///
/// As in Next.js the decision is encoded in internal `x-middleware-*`
/// headers of the response (`x-middleware-next`, `x-middleware-rewrite`,
/// `x-middleware-override-headers`, `x-middleware-request-*`), which the
/// [`Chain`](super::Chain) interprets and removes: they never reach the
/// client or the next handler. Other headers set with
/// [`headers_mut`](Self::headers_mut) and cookies set with
/// [`cookies_mut`](Self::cookies_mut) are merged into the final response.
#[derive(Debug)]
pub struct NextResponse {
    response: Response,
    cookies: ResponseCookies,
}

impl NextResponse {
    fn continuing(marker: &'static str, value: HeaderValue) -> Self {
        let mut response = Response::new(Body::empty());
        response
            .headers_mut()
            .insert(HeaderName::from_static(marker), value);
        Self {
            response,
            cookies: ResponseCookies::default(),
        }
    }

    /// Continue to the next handler with the request unchanged
    /// (`NextResponse.next()`).
    pub fn next() -> Self {
        Self::continuing(NEXT, HeaderValue::from_static("1"))
    }

    /// Continue to the next handler with `headers` as its request headers
    /// (`NextResponse.next({ request: { headers } })`).
    ///
    /// `headers` is the *whole* header set the next handler receives: a
    /// header of the incoming request that is not in it is removed (start
    /// from a clone of [`NextRequest::headers`](super::NextRequest::headers)
    /// to keep them). An empty map changes nothing, as in Next.js.
    pub fn next_with_request_headers(headers: &HeaderMap) -> Self {
        let mut res = Self::next();
        res.set_request_headers(headers);
        res
    }

    /// Continue to the next handler with the request sent to `url`
    /// (`NextResponse.rewrite(url)`): a path (`/other?q=1`) or an absolute
    /// URL. A URL on the request's own origin rewrites the path and query;
    /// any other origin is fetched instead of the next handler (a proxy).
    /// Fails if `url` is neither.
    pub fn rewrite(url: &str) -> Result<Self> {
        Ok(Self::continuing(REWRITE, checked_url(url)?))
    }

    /// [`rewrite`](Self::rewrite) with overridden request headers, as in
    /// [`next_with_request_headers`](Self::next_with_request_headers).
    pub fn rewrite_with_request_headers(url: &str, headers: &HeaderMap) -> Result<Self> {
        let mut res = Self::rewrite(url)?;
        res.set_request_headers(headers);
        Ok(res)
    }

    fn set_request_headers(&mut self, headers: &HeaderMap) {
        let mut names = Vec::new();
        let own = self.response.headers_mut();
        for (name, value) in headers {
            if let Ok(key) = HeaderName::from_bytes(format!("{REQUEST_PREFIX}{name}").as_bytes()) {
                own.append(key, value.clone());
            }
            if !names.contains(&name.as_str()) {
                names.push(name.as_str());
            }
        }
        // Names are header names, so the joined list is a valid value.
        if let Ok(list) = HeaderValue::from_str(&names.join(",")) {
            own.insert(HeaderName::from_static(OVERRIDE_HEADERS), list);
        }
    }

    /// Answer with a `307 Temporary Redirect` to `url`
    /// (`NextResponse.redirect(url)`): a path, or an absolute URL given as
    /// text, a [`NextUrl`] or an [`http::Uri`]. Fails if `url` is not an
    /// absolute URL or a path.
    pub fn redirect(url: impl IntoRedirectUrl) -> Result<Self> {
        Self::redirect_with_status(url, StatusCode::TEMPORARY_REDIRECT)
    }

    /// Answer with a redirect to `url` (as in [`redirect`](Self::redirect));
    /// `status` must be 301, 302, 303, 307 or 308, anything else is an error
    /// naming it.
    pub fn redirect_with_status(url: impl IntoRedirectUrl, status: StatusCode) -> Result<Self> {
        if ![301, 302, 303, 307, 308].contains(&status.as_u16()) {
            return Err(Error::msg(format!(
                "{status} is not a redirect status (use 301, 302, 303, 307 or 308)"
            )));
        }
        let url = url.into_redirect_url();
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        response.headers_mut().insert(LOCATION, checked_url(&url)?);
        Ok(Self::from(response))
    }

    /// Answer with `value` as JSON (`NextResponse.json(value, { status })`).
    pub fn json(value: &impl serde::Serialize, status: StatusCode) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|e| Error::from(e).context("JSON body"))?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self::from(response))
    }

    /// Answer with `status` and `body`.
    pub fn new(status: StatusCode, body: impl Into<Body>) -> Self {
        let mut response = Response::new(body.into());
        *response.status_mut() = status;
        Self::from(response)
    }

    /// Whether this continues to the next handler (`next` or `rewrite`).
    pub fn is_continue(&self) -> bool {
        let headers = self.response.headers();
        headers.contains_key(NEXT) || headers.contains_key(REWRITE)
    }

    /// The status of the answer (200 for a continuation).
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response headers, including the internal `x-middleware-*` ones.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The response headers, to add headers to the final response.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.response.headers_mut()
    }

    /// The cookies to set on the final response.
    pub fn cookies(&self) -> &ResponseCookies {
        &self.cookies
    }

    /// The cookies to set on the final response; as in Next.js, the next
    /// handler also sees them in its `Cookie` header.
    pub fn cookies_mut(&mut self) -> &mut ResponseCookies {
        &mut self.cookies
    }

    pub(crate) fn into_parts(self) -> (Response, ResponseCookies) {
        (self.response, self.cookies)
    }
}

impl From<Response> for NextResponse {
    /// Answer with `response` as it is.
    fn from(response: Response) -> Self {
        Self {
            response,
            cookies: ResponseCookies::default(),
        }
    }
}

/// What [`NextResponse::redirect`] accepts as its target, as Next.js takes a
/// string or a `URL`: text (`&str`, `String`), a [`NextUrl`] (its
/// [`href`](NextUrl::href)) or an [`http::Uri`].
pub trait IntoRedirectUrl {
    /// The URL as it goes into the `Location` header (checked there).
    fn into_redirect_url(self) -> String;
}

impl IntoRedirectUrl for &str {
    fn into_redirect_url(self) -> String {
        self.to_owned()
    }
}

impl IntoRedirectUrl for String {
    fn into_redirect_url(self) -> String {
        self
    }
}

impl IntoRedirectUrl for &String {
    fn into_redirect_url(self) -> String {
        self.clone()
    }
}

impl IntoRedirectUrl for NextUrl {
    fn into_redirect_url(self) -> String {
        self.href()
    }
}

impl IntoRedirectUrl for &NextUrl {
    fn into_redirect_url(self) -> String {
        self.href()
    }
}

impl IntoRedirectUrl for Uri {
    fn into_redirect_url(self) -> String {
        self.to_string()
    }
}

impl IntoRedirectUrl for &Uri {
    fn into_redirect_url(self) -> String {
        self.to_string()
    }
}

fn checked_url(url: &str) -> Result<HeaderValue> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::from(e).context(format!("invalid URL {url:?}")))?;
    let absolute = uri.scheme().is_some() && uri.authority().is_some();
    if !absolute && !url.starts_with('/') {
        return Err(Error::msg(format!(
            "invalid URL {url:?}: not absolute and not a path"
        )));
    }
    HeaderValue::from_str(url).map_err(|e| Error::from(e).context(format!("invalid URL {url:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::next::cookies::ResponseCookie;
    use crate::core::next::url::UrlConfig;
    use crate::core::test_util::block_on;

    #[test]
    fn next_and_request_header_overrides_use_nextjs_headers() {
        assert_eq!(NextResponse::next().headers()[NEXT], "1");
        assert!(NextResponse::next().is_continue());

        let mut headers = HeaderMap::new();
        headers.insert("x-user-id", HeaderValue::from_static("u1"));
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("b"));
        let res = NextResponse::next_with_request_headers(&headers);
        assert_eq!(res.headers()[OVERRIDE_HEADERS], "x-user-id,accept");
        assert_eq!(res.headers()["x-middleware-request-x-user-id"], "u1");
        let accept: Vec<_> = res
            .headers()
            .get_all("x-middleware-request-accept")
            .iter()
            .collect();
        assert_eq!(accept, ["a", "b"]);

        let empty = NextResponse::next_with_request_headers(&HeaderMap::new());
        assert_eq!(empty.headers()[OVERRIDE_HEADERS], "");
    }

    #[test]
    fn rewrites() {
        let res = NextResponse::rewrite("/other?q=1").unwrap();
        assert_eq!(res.headers()[REWRITE], "/other?q=1");
        assert!(res.is_continue());
        assert!(NextResponse::rewrite("https://api.example.com/x").is_ok());
        for bad in ["other", "", "http://", "/a b"] {
            let err = NextResponse::rewrite(bad).unwrap_err();
            assert!(err.to_string().contains("invalid URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn redirects() {
        let res = NextResponse::redirect("/sign-in").unwrap();
        assert_eq!(res.status(), 307);
        assert_eq!(res.headers()[LOCATION], "/sign-in");
        assert!(!res.is_continue());
        for status in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap();
            let res = NextResponse::redirect_with_status("https://ex.com/", status).unwrap();
            assert_eq!(res.status(), status);
        }
        let err = NextResponse::redirect_with_status("/", StatusCode::OK).unwrap_err();
        assert_eq!(
            err.to_string(),
            "200 OK is not a redirect status (use 301, 302, 303, 307 or 308)"
        );
        assert!(NextResponse::redirect("javascript:alert(1)").is_err());
        let err = NextResponse::redirect_with_status("/", StatusCode::IM_A_TEAPOT).unwrap_err();
        assert!(
            err.to_string().starts_with("418 I'm a teapot is not"),
            "{err}"
        );
    }

    #[test]
    fn redirects_take_text_next_urls_and_uris() {
        let location = |res: Result<NextResponse>| {
            let res = res.unwrap();
            assert_eq!(res.status(), 307);
            res.headers()[LOCATION].to_str().unwrap().to_owned()
        };
        let url = NextUrl::parse("https://ex.com/admin?x=1", &UrlConfig::default()).unwrap();
        assert_eq!(
            location(NextResponse::redirect(&url)),
            "https://ex.com/admin?x=1"
        );
        let home = url.with_pathname("/");
        assert_eq!(
            location(NextResponse::redirect(home)),
            "https://ex.com/?x=1"
        );
        let uri: Uri = "https://ex.com/sign-in".parse().unwrap();
        assert_eq!(
            location(NextResponse::redirect(&uri)),
            "https://ex.com/sign-in"
        );
        assert_eq!(
            location(NextResponse::redirect(uri)),
            "https://ex.com/sign-in"
        );
        let path = String::from("/p");
        assert_eq!(location(NextResponse::redirect(&path)), "/p");
        assert_eq!(location(NextResponse::redirect(path)), "/p");
        let res = NextResponse::redirect_with_status(&url, StatusCode::PERMANENT_REDIRECT).unwrap();
        assert_eq!(res.status(), 308);
        let err = NextResponse::redirect_with_status(url, StatusCode::NOT_FOUND).unwrap_err();
        assert!(
            err.to_string()
                .contains("404 Not Found is not a redirect status"),
            "{err}"
        );
    }

    #[test]
    fn json_and_plain_responses() {
        let res =
            NextResponse::json(&serde_json::json!({"ok": true}), StatusCode::CREATED).unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        let (response, _) = res.into_parts();
        assert_eq!(
            block_on(response.into_body().text()).unwrap(),
            r#"{"ok":true}"#
        );

        let mut res = NextResponse::new(StatusCode::FORBIDDEN, "no");
        res.cookies_mut()
            .set(ResponseCookie::new("a", "1"))
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.cookies().has("a"));
    }
}
