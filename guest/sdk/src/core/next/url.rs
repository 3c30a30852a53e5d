//! [`NextUrl`]: a request URL split the way Next.js's `NextURL` splits it.

use std::fmt;

use http::Uri;

use crate::core::error::{Error, Result};

/// Base path and locales, like `basePath` and `i18n` in `next.config.js`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlConfig {
    /// A path prefix every route lives under (`/docs`), or empty.
    pub base_path: String,
    /// The locales (`en-US`, `fr`), empty when i18n is off.
    pub locales: Vec<String>,
    /// The locale used when the path names none.
    pub default_locale: Option<String>,
}

/// Query parameters in order, like `URLSearchParams`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchParams {
    pairs: Vec<(String, String)>,
}

impl SearchParams {
    /// Parses a query string (without `?`), `application/x-www-form-urlencoded`.
    pub fn parse(query: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// Sets `name` to `value`, replacing every earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        self.delete(name);
        self.append(name, value);
    }

    /// Adds a `name=value` pair at the end.
    pub fn append(&mut self, name: &str, value: &str) {
        self.pairs.push((name.to_owned(), value.to_owned()));
    }

    /// Removes every value of `name`.
    pub fn delete(&mut self, name: &str) {
        self.pairs.retain(|(n, _)| n != name);
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl fmt::Display for SearchParams {
    /// The encoded query, without `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.extend_pairs(&self.pairs);
        f.write_str(&out.finish())
    }
}

/// A request URL: origin, base path, locale, pathname and search params.
///
/// `pathname` is the path with the base path and the locale prefix removed,
/// as in Next.js. `NextUrl` is `Clone`: clone
/// [`NextRequest::next_url`](super::NextRequest::next_url), change it, and
/// pass it to [`NextResponse::rewrite`](super::NextResponse::rewrite) or
/// [`NextResponse::redirect`](super::NextResponse::redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextUrl {
    scheme: String,
    host: String,
    base_path: String,
    locale: Option<String>,
    config: UrlConfig,
    pathname: String,
    search_params: SearchParams,
}

impl NextUrl {
    /// Parses an absolute `http(s)://host/path?query` URL. Fails with a
    /// message naming the URL if it is not one.
    pub fn parse(url: &str, config: &UrlConfig) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::from(e).context(format!("invalid URL {url:?}")))?;
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.authority()) else {
            return Err(Error::msg(format!("invalid URL {url:?}: not absolute")));
        };
        Ok(Self::from_parts(scheme, host.as_str(), &uri, config))
    }

    /// The URL of a request: `uri` (origin-form or absolute) with `host`
    /// (the `Host` header) when `uri` has no authority.
    pub(crate) fn from_request(uri: &Uri, host: Option<&str>, config: &UrlConfig) -> Self {
        let scheme = uri.scheme_str().unwrap_or("http");
        let host = uri
            .authority()
            .map(|a| a.as_str())
            .or(host)
            .unwrap_or("localhost");
        Self::from_parts(scheme, host, uri, config)
    }

    fn from_parts(scheme: &str, host: &str, uri: &Uri, config: &UrlConfig) -> Self {
        let mut path = uri.path();
        let mut base_path = String::new();
        if !config.base_path.is_empty()
            && let Some(rest) = path.strip_prefix(config.base_path.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            base_path = config.base_path.clone();
            path = if rest.is_empty() { "/" } else { rest };
        }
        let mut locale = config.default_locale.clone();
        let segment = path.get(1..).unwrap_or("").split('/').next().unwrap_or("");
        let mut pathname = path.to_owned();
        if let Some(found) = config
            .locales
            .iter()
            .find(|l| l.eq_ignore_ascii_case(segment))
        {
            locale = Some(found.clone());
            let rest = path.get(1 + segment.len()..).unwrap_or("");
            pathname = if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            };
        }
        Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            base_path,
            locale: if config.locales.is_empty() {
                None
            } else {
                locale
            },
            config: config.clone(),
            pathname,
            search_params: SearchParams::parse(uri.query().unwrap_or("")),
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host[:port]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host without the port.
    pub fn hostname(&self) -> &str {
        match self.host.find(']') {
            Some(end) if self.host.starts_with('[') => &self.host[..=end],
            _ => self.host.split(':').next().unwrap_or(""),
        }
    }

    /// `scheme://host`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The path without base path and locale prefix.
    pub fn pathname(&self) -> &str {
        &self.pathname
    }

    /// Replaces the path (a leading `/` is added when missing).
    pub fn set_pathname(&mut self, pathname: &str) {
        self.pathname = if pathname.starts_with('/') {
            pathname.to_owned()
        } else {
            format!("/{pathname}")
        };
    }

    /// A copy of this URL with its path replaced, as
    /// [`set_pathname`](Self::set_pathname) (for example a redirect target:
    /// `NextResponse::redirect(req.next_url().with_pathname("/"))`).
    #[must_use]
    pub fn with_pathname(&self, pathname: &str) -> Self {
        let mut url = self.clone();
        url.set_pathname(pathname);
        url
    }

    /// The base path the URL was under, or empty.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// Replaces the base path (empty for none).
    pub fn set_base_path(&mut self, base_path: &str) {
        self.base_path = base_path.trim_end_matches('/').to_owned();
    }

    /// The locale, when locales are configured: the one in the path, else
    /// the default locale.
    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    /// Switches to `locale`; fails unless it is one of the configured ones.
    pub fn set_locale(&mut self, locale: &str) -> Result<()> {
        if !self.config.locales.iter().any(|l| l == locale) {
            return Err(Error::msg(format!(
                "locale {locale:?} is not configured (locales: {:?})",
                self.config.locales
            )));
        }
        self.locale = Some(locale.to_owned());
        Ok(())
    }

    /// The query parameters.
    pub fn search_params(&self) -> &SearchParams {
        &self.search_params
    }

    /// The query parameters, to change.
    pub fn search_params_mut(&mut self) -> &mut SearchParams {
        &mut self.search_params
    }

    /// `?query`, or empty when there are no parameters.
    pub fn search(&self) -> String {
        if self.search_params.is_empty() {
            String::new()
        } else {
            format!("?{}", self.search_params)
        }
    }

    /// The full path as sent on the wire: base path, locale prefix (unless
    /// it is the default locale), pathname and query.
    pub fn path_and_query(&self) -> String {
        let locale = match &self.locale {
            Some(l) if Some(l) != self.config.default_locale.as_ref() => format!("/{l}"),
            _ => String::new(),
        };
        let pathname = if self.pathname == "/" && !(self.base_path.is_empty() && locale.is_empty())
        {
            ""
        } else {
            &self.pathname
        };
        format!("{}{locale}{pathname}{}", self.base_path, self.search())
    }

    /// The full URL, like `NextURL.href`.
    pub fn href(&self) -> String {
        format!("{}{}", self.origin(), self.path_and_query())
    }
}

impl fmt::Display for NextUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.href())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i18n() -> UrlConfig {
        UrlConfig {
            base_path: "/docs".into(),
            locales: vec!["en".into(), "fr".into()],
            default_locale: Some("en".into()),
        }
    }

    #[test]
    fn splits_base_path_locale_and_query() {
        let url = NextUrl::parse("https://ex.com:8443/docs/fr/a/b?x=1&x=2&y=%20", &i18n()).unwrap();
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host(), "ex.com:8443");
        assert_eq!(url.hostname(), "ex.com");
        assert_eq!(url.base_path(), "/docs");
        assert_eq!(url.locale(), Some("fr"));
        assert_eq!(url.pathname(), "/a/b");
        assert_eq!(url.search_params().get_all("x"), ["1", "2"]);
        assert_eq!(url.search_params().get("y"), Some(" "));
        assert_eq!(url.href(), "https://ex.com:8443/docs/fr/a/b?x=1&x=2&y=+");

        let root = NextUrl::parse("http://ex.com/docs", &i18n()).unwrap();
        assert_eq!((root.pathname(), root.locale()), ("/", Some("en")));
        let other = NextUrl::parse("http://ex.com/docsearch", &i18n()).unwrap();
        assert_eq!((other.base_path(), other.pathname()), ("", "/docsearch"));
    }

    #[test]
    fn clones_are_mutable_and_independent() {
        let original = NextUrl::parse("http://ex.com/docs/a?q=1", &i18n()).unwrap();
        let mut url = original.clone();
        url.set_pathname("sign-in");
        url.search_params_mut().set("redirect_url", "/a?q=1");
        url.search_params_mut().delete("q");
        url.set_locale("fr").unwrap();
        assert_eq!(
            url.href(),
            "http://ex.com/docs/fr/sign-in?redirect_url=%2Fa%3Fq%3D1"
        );
        assert_eq!(original.href(), "http://ex.com/docs/a?q=1");
        assert!(url.set_locale("de").is_err());
        url.set_base_path("");
        assert_eq!(
            url.path_and_query(),
            "/fr/sign-in?redirect_url=%2Fa%3Fq%3D1"
        );
    }

    #[test]
    fn invalid_urls_are_errors() {
        for bad in ["", "/relative", "http://", "ht tp://x/", "http://[::1/"] {
            let err = NextUrl::parse(bad, &UrlConfig::default()).unwrap_err();
            assert!(err.to_string().contains("invalid URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn from_request_uses_the_host_header() {
        let uri: Uri = "/p?a=b".parse().unwrap();
        let url = NextUrl::from_request(&uri, Some("[::1]:8080"), &UrlConfig::default());
        assert_eq!(url.href(), "http://[::1]:8080/p?a=b");
        assert_eq!(url.hostname(), "[::1]");
        assert_eq!(url.locale(), None);

        // Authority-form (CONNECT) and asterisk-form targets have no path.
        for target in ["ex.com:443", "*"] {
            let uri: Uri = target.parse().unwrap();
            let url = NextUrl::from_request(&uri, None, &i18n());
            assert_eq!(url.locale(), Some("en"), "{target}");
        }
    }
}
