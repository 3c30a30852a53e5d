//! [`Matcher`]: which requests a middleware runs for, with Next.js's
//! `config.matcher` semantics, and the path normalization that keeps it from
//! being bypassed.
//!
//! # Patterns
//!
//! Patterns are compiled exactly as Next.js 16.4 compiles `config.matcher`
//! sources (`getMiddlewareMatchers`, `tryToParsePath`): `path-to-regexp`
//! 6.3 syntax (see `path_to_regexp.rs`) — literal text, `:name` (one
//! segment), `:name*`, `:name+`, `:name?`, custom groups `:id(\d+)`,
//! unnamed groups `/(api|trpc)/:rest*`, `{...}` groups (`/:test{.:format}?`,
//! `/{apple-}?icon-:res(\d+).png`) — matched case-sensitively, with one
//! optional trailing `/` (`/test` matches `/test/`, `/test/` does not match
//! `/test`). Groups use the `regex-lite` crate's syntax (ASCII classes).
//!
//! As in Next.js, every source also matches the forms of the same page that
//! Next.js's router serves (see `source.rs`): its Pages Router data route
//! (`/_next/data/<build>/dashboard.json` for `/dashboard`) and App Router
//! RSC and segment-prefetch URLs (`/dashboard.rsc`,
//! `/dashboard.segments/$c$children/__PAGE__.segment.rsc`); `/` also
//! matches `/index`, `/index.json`, `/index.rsc`. So a data or prefetch URL
//! of a protected page cannot skip the middleware. The same holds for
//! [`Matcher::except`] patterns: a public page's data URL stays public.
//!
//! `regex-lite` has no look-around; the matcher rewrites look-aheads where
//! that is exact (see `lookahead.rs`) and refuses the others with an error:
//! - a look-ahead that opens a group with only literal text before it, as in
//!   the Next.js docs' `/((?!api|_next/static|_next/image|favicon.ico).*)`
//!   (every path except those whose rest, after the first `/`, starts with
//!   `api`, `_next/static`, ...) or `/docs/((?!internal).*)`, and at the
//!   start of a `has` value;
//! - inside such a look-ahead, one more that comes last, as in Clerk's
//!   `/((?!_next|[^?]*\.(?:html?|css|js(?!on)|...)).*)` (a negative one
//!   may only list literal alternatives).
//!
//! Look-behind, a look-ahead after a parameter (`/:locale/((?!api).*)`) or
//! in an optional or repeated group are errors; express "everything except"
//! with [`Matcher::except`] then.
//!
//! # Path normalization (not bypassable)
//!
//! Before any middleware runs, the [`Chain`](super::Chain):
//! - answers `308` with the normalized path (query kept) when the raw path
//!   contains `\` or `//`, as Next.js does, so no middleware ever sees such
//!   a path;
//! - answers `400` when the percent-decoded path is not UTF-8;
//! - matches every pattern against several forms of the path: the raw path,
//!   the percent-decoded path (`/%61dmin` is `/admin`, `%2F` is `/`), and
//!   that path with `\` turned into `/`, repeated slashes collapsed and dot
//!   segments resolved (`/static/%2e%2e/admin` is `/admin`), and that form
//!   again with `;params` dropped from every segment, as servlet containers
//!   do (`/static/..;/admin` is `/admin`).
//!
//! A middleware runs if *any* form is matched by an included pattern and not
//! by an excluded one, so encoding tricks can only make a middleware run
//! more often, never less. That holds for look-aheads too: with the pattern
//! above, `/%61pi/users` runs the middleware (its raw form does not start
//! with `api`), as does `/api/../dashboard` (it resolves to `/dashboard`).
//!
//! # Base path and locales
//!
//! With a [`Chain::base_path`](super::Chain::base_path) and
//! [`Chain::i18n`](super::Chain::i18n), patterns are written without them
//! and matched as Next.js's `getMiddlewareMatchers` compiles them (the base
//! path, then a locale segment, before every pattern):
//! - a path outside the base path matches no pattern: the middleware is
//!   skipped, as in Next.js (where such paths do not exist);
//! - with locales, a first segment naming one (case-insensitively:
//!   `/docs/fr/dashboard`, `/docs/FR/dashboard`) is removed before matching;
//!   a path naming none is matched as it is (Next.js adds the default
//!   locale), except that a path starting with `/_next/` then matches no
//!   pattern, as in Next.js;
//! - in a data URL, the locale comes after the build id
//!   (`/_next/data/<build>/fr/dashboard.json`, `/_next/data/<build>/fr.json`
//!   for `/`) and is removed there; as in Next.js's compiled expression,
//!   any segment stands for the locale there (Next.js adds none to data
//!   URLs);
//! - [`Matcher::route_with_locale`] is Next.js's `locale: false`: its
//!   pattern is matched against the path with the locale segment kept (the
//!   default locale added when the path names none, except to `/_next/`
//!   paths), so it names the locale itself (`/fr/:path*`).
//!
//! This applies to every form of the path above (`/%64ocs/fr/dashboard` is
//! under the base path `/docs`).
//!
//! # `has` and `missing`
//!
//! Conditions read the request as Next.js's `matchHas` does: a header's
//! values joined with `, ` (as Node.js joins them), the last value of a
//! repeated query parameter, a cookie as the `cookie` package parses the
//! `Cookie` header (the first of a name wins), the host name lowercased and
//! without port. A value is matched by `^value$` (written as is, so
//! `a|b` means `^a` or `b$`, as in Next.js); without a value, the
//! condition holds when the value is present and not empty.

mod js_regex;
mod lookahead;
mod path_to_regexp;
mod source;
#[cfg(test)]
mod tables;

use regex_lite::Regex;

use self::js_regex::to_regex_lite;
use self::lookahead::{Pattern, split_leading};
use self::source::{Source, split_data_prefix};
use super::cookies::{condition_cookie, header_text};
use super::url::{SearchParams, UrlConfig};
use crate::core::error::{Error, Result};

/// A `has` / `missing` condition of a matcher route, like Next.js's
/// `{ type, key, value }`. `value` is a regular expression that must match
/// the whole value; `None` only asks for a non-empty value.
#[derive(Clone, Debug)]
pub enum Has {
    /// A request header (name case-insensitive).
    Header(String, Option<String>),
    /// A request cookie.
    Cookie(String, Option<String>),
    /// A query parameter.
    Query(String, Option<String>),
    /// The host name (without port) must match this regular expression.
    Host(String),
}

#[derive(Debug)]
enum Condition {
    Header(String, Option<Pattern>),
    Cookie(String, Option<Pattern>),
    Query(String, Option<Pattern>),
    Host(Pattern),
}

/// Compiles a matcher regex. `.` also matches a line break: a path can
/// carry one (`%0A`), and a `(.*)` that stopped at it would let
/// `/api/..%2Fadmin%0A` skip a matcher that covers `/admin`.
pub(crate) fn regex(pattern: &str) -> Result<Regex, regex_lite::Error> {
    regex_lite::RegexBuilder::new(pattern)
        .dot_matches_new_line(true)
        .build()
}

/// Compiles a `has` value as Next.js does (`^value$`); a look-ahead at its
/// start is checked at offset 0.
fn whole(pattern: &str) -> Result<Pattern> {
    let invalid = |why: &dyn std::fmt::Display| {
        Error::msg(format!("invalid matcher value {pattern:?}: {why}"))
    };
    let (leading, rest) = split_leading(&to_regex_lite(pattern)).map_err(|e| invalid(&e))?;
    let regex = regex(&format!("^{rest}$")).map_err(|e| invalid(&e))?;
    let checks = leading
        .into_iter()
        .map(|look| look.at(0))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&e))?;
    Ok(Pattern::new(regex, checks))
}

impl Condition {
    fn compile(has: &Has) -> Result<Self> {
        // Next.js treats an empty value as no value.
        let value = |v: &Option<String>| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(whole)
                .transpose()
        };
        Ok(match has {
            Has::Header(k, v) => Self::Header(k.to_ascii_lowercase(), value(v)?),
            Has::Cookie(k, v) => Self::Cookie(k.clone(), value(v)?),
            Has::Query(k, v) => Self::Query(k.clone(), value(v)?),
            Has::Host(v) => Self::Host(whole(v)?),
        })
    }

    fn holds(&self, input: &MatchInput<'_>) -> bool {
        let check = |found: Option<String>, value: &Option<Pattern>| {
            found
                .filter(|found| !found.is_empty())
                .is_some_and(|found| value.as_ref().is_none_or(|re| re.is_match(&found)))
        };
        match self {
            Self::Header(k, v) => {
                let values: Vec<String> = input
                    .headers
                    .get_all(k.as_str())
                    .iter()
                    .map(header_text)
                    .collect();
                check((!values.is_empty()).then(|| values.join(", ")), v)
            }
            Self::Cookie(k, v) => check(condition_cookie(input.headers, k), v),
            Self::Query(k, v) => check(input.query.get_all(k).last().map(|s| (*s).to_owned()), v),
            Self::Host(re) => {
                let hostname = input.hostname.to_ascii_lowercase();
                !hostname.is_empty() && re.is_match(&hostname)
            }
        }
    }
}

#[derive(Debug)]
struct Route {
    path: Source,
    has: Vec<Condition>,
    missing: Vec<Condition>,
    /// Matched against the path with its locale segment (`locale: false`).
    with_locale: bool,
}

/// One form of the request path (see the module docs) as the patterns see
/// it, with the chain's base path and locales applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathForm {
    /// Without base path and locale segment: what patterns match. `None`
    /// outside the base path, for a `/_next/` path naming no locale, and
    /// for a data URL with no locale segment after its build id.
    pub pathname: Option<String>,
    /// Without base path, with the locale segment (the default locale
    /// added when the path names none): what `route_with_locale` patterns
    /// match. `None` outside the base path.
    pub localized: Option<String>,
}

impl PathForm {
    /// A form as it is (no base path, no locales).
    fn plain(path: &str) -> Self {
        Self {
            pathname: Some(path.to_owned()),
            localized: Some(path.to_owned()),
        }
    }

    /// `path` (one form of the request path) with `config` applied.
    fn scoped(path: &str, config: &UrlConfig) -> Self {
        let rest = if config.base_path.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(config.base_path.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let Some(rest) = rest.map(|r| if r.is_empty() { "/" } else { r }) else {
            return Self {
                pathname: None,
                localized: None,
            };
        };
        if config.locales.is_empty() {
            return Self::plain(rest);
        }
        if let Some((data, tail)) = split_data_prefix(rest) {
            return Self {
                pathname: without_data_locale(data, tail),
                localized: Some(rest.to_owned()),
            };
        }
        let segment = rest[1..].split('/').next().unwrap_or("");
        if config
            .locales
            .iter()
            .any(|l| l.eq_ignore_ascii_case(segment))
        {
            let after = &rest[1 + segment.len()..];
            return Self {
                pathname: Some(if after.is_empty() { "/" } else { after }.to_owned()),
                localized: Some(rest.to_owned()),
            };
        }
        // Next.js adds the default locale, except to `/_next/` paths,
        // which then match no pattern that expects a locale segment.
        if rest.starts_with("/_next/") {
            return Self {
                pathname: None,
                localized: Some(rest.to_owned()),
            };
        }
        let localized = match (&config.default_locale, rest) {
            (Some(locale), "/") => format!("/{locale}"),
            (Some(locale), rest) => format!("/{locale}{rest}"),
            (None, rest) => rest.to_owned(),
        };
        Self {
            pathname: Some(rest.to_owned()),
            localized: Some(localized),
        }
    }
}

/// A data URL (`data` is `/_next/data/<build>`, `tail` the rest) without
/// its locale segment: Next.js's `/:nextInternalLocale((?!_next/)[^/.]{1,})`
/// after the build id, which takes any run of characters other than `/`
/// and `.` (`/fr/dashboard.json`, `/fr.json`) but not `_next/`. `None`
/// when there is none.
fn without_data_locale(data: &str, tail: &str) -> Option<String> {
    let segment = tail.strip_prefix('/')?;
    if segment.starts_with("_next/") {
        return None;
    }
    let locale = segment.find(['/', '.']).unwrap_or(segment.len());
    (locale > 0).then(|| format!("{data}{}", &segment[locale..]))
}

/// The forms of `raw` (a path without query) the matcher tries, with
/// `config`'s base path and locales applied; an error if the
/// percent-decoded path is not UTF-8.
pub(crate) fn scoped_forms(raw: &str, config: &UrlConfig) -> Result<Vec<PathForm>> {
    Ok(path_forms(raw)?
        .iter()
        .map(|form| PathForm::scoped(form, config))
        .collect())
}

/// What a matcher looks at.
pub(crate) struct MatchInput<'a> {
    /// The forms of the path.
    pub paths: &'a [PathForm],
    pub headers: &'a http::HeaderMap,
    pub query: &'a SearchParams,
    pub hostname: &'a str,
}

/// Which requests a middleware runs for (Next.js `config.matcher`).
#[derive(Debug, Default)]
pub struct Matcher {
    routes: Vec<Route>,
    except: Vec<Source>,
}

impl Matcher {
    /// Matches every request.
    pub fn all() -> Self {
        Self::new(["/:path*"]).expect("a valid pattern")
    }

    /// Matches requests whose path matches one of `patterns`
    /// (`["/dashboard/:path*", "/api/:path+"]`). Fails, naming the pattern,
    /// if one is invalid.
    pub fn new<I, S>(patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        patterns
            .into_iter()
            .try_fold(Self::default(), |m, p| m.route(p.as_ref(), &[], &[]))
    }

    /// Adds a route: `source` must match, every `has` condition hold, and
    /// no `missing` condition hold.
    pub fn route(self, source: &str, has: &[Has], missing: &[Has]) -> Result<Self> {
        self.add(source, has, missing, false)
    }

    /// Adds a route like [`route`](Self::route) whose `source` is matched
    /// against the path with its locale segment, like Next.js's
    /// `{ source, locale: false }` (see the module docs); without locales
    /// it is the same as `route`.
    pub fn route_with_locale(self, source: &str, has: &[Has], missing: &[Has]) -> Result<Self> {
        self.add(source, has, missing, true)
    }

    fn add(
        mut self,
        source: &str,
        has: &[Has],
        missing: &[Has],
        with_locale: bool,
    ) -> Result<Self> {
        let compile = |list: &[Has]| {
            list.iter()
                .map(Condition::compile)
                .collect::<Result<Vec<_>>>()
        };
        self.routes.push(Route {
            path: compile_path(source)?,
            has: compile(has)?,
            missing: compile(missing)?,
            with_locale,
        });
        Ok(self)
    }

    /// Excludes paths matching any of `patterns` (public routes), matched
    /// like [`route`](Self::route)'s (without base path and locale, data and
    /// RSC URLs of the same pages included).
    pub fn except<I, S>(mut self, patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for pattern in patterns {
            self.except.push(compile_path(pattern.as_ref())?);
        }
        Ok(self)
    }

    /// Whether a path alone is matched (in all its forms, see the module
    /// docs; no base path, locales or conditions); for tests and tools.
    /// Requests are matched by the [`Chain`](super::Chain).
    pub fn matches_path(&self, path: &str) -> bool {
        let Ok(paths) = scoped_forms(path, &UrlConfig::default()) else {
            return false;
        };
        self.matches(&MatchInput {
            paths: &paths,
            headers: &http::HeaderMap::new(),
            query: &SearchParams::default(),
            hostname: "",
        })
    }

    pub(crate) fn matches(&self, input: &MatchInput<'_>) -> bool {
        input.paths.iter().any(|form| {
            let excluded = form
                .pathname
                .as_deref()
                .is_some_and(|path| self.except.iter().any(|source| source.is_match(path)));
            !excluded
                && self.routes.iter().any(|route| {
                    let path = if route.with_locale {
                        &form.localized
                    } else {
                        &form.pathname
                    };
                    path.as_deref()
                        .is_some_and(|path| route.path.is_match(path))
                        && route.has.iter().all(|c| c.holds(input))
                        && !route.missing.iter().any(|c| c.holds(input))
                })
        })
    }
}

/// Compiles a matcher source (see the module docs).
fn compile_path(source: &str) -> Result<Source> {
    let invalid = |why: &dyn std::fmt::Display| {
        Error::msg(format!("invalid matcher pattern {source:?}: {why}"))
    };
    if !source.starts_with('/') {
        return Err(invalid(&"must start with /"));
    }
    Source::compile(source).map_err(|e| invalid(&e))
}

/// Whether the raw path must be redirected (it contains `\` or `//`), and
/// where to: `\` becomes `/` and repeated slashes collapse, as Next.js's
/// `normalizeRepeatedSlashes`.
pub fn redirect_target(raw: &str) -> Option<String> {
    if !raw.contains('\\') && !raw.contains("//") {
        return None;
    }
    Some(collapse(&raw.replace('\\', "/")))
}

fn collapse(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// The forms of `raw` (a path without query) the matcher tries; an error
/// if the percent-decoded path is not UTF-8.
pub fn path_forms(raw: &str) -> Result<Vec<String>> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Error::msg(format!("path {raw:?} does not decode to UTF-8")))?
        .into_owned();
    let mut forms = vec![raw.to_owned()];
    let normalized = collapse(&decoded.replace('\\', "/"));
    for form in [
        decoded.clone(),
        resolve_dots(raw),
        resolve_dots(&normalized),
        // Servlet containers drop `;params` from segments, so an origin may
        // read `/static/..;/admin` as `/admin`.
        resolve_dots(&strip_segment_params(&normalized)),
    ] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    Ok(forms)
}

/// Drops the `;params` part of every segment (`/a;x=1/..;/b` is `/a/../b`).
fn strip_segment_params(path: &str) -> String {
    path.split('/')
        .map(|segment| segment.split(';').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes `.` and `..` segments (RFC 3986 section 5.2.4).
fn resolve_dots(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        match *segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> Matcher {
        Matcher::new(patterns).unwrap()
    }

    #[test]
    fn path_to_regexp_parameters() {
        let dash = m(&["/dashboard/:path*"]);
        for yes in [
            "/dashboard",
            "/dashboard/",
            "/dashboard/a",
            "/dashboard/a/b",
        ] {
            assert!(dash.matches_path(yes), "{yes}");
        }
        for no in ["/dashboardx", "/Dashboard", "/", "/x/dashboard"] {
            assert!(!dash.matches_path(no), "{no}");
        }
        let plus = m(&["/api/:p+"]);
        assert!(plus.matches_path("/api/a/b") && !plus.matches_path("/api"));
        let opt = m(&["/blog/:slug?"]);
        assert!(opt.matches_path("/blog") && opt.matches_path("/blog/x"));
        assert!(!opt.matches_path("/blog/x/y"));
        let id = m(&["/user/:id(\\d+)"]);
        assert!(id.matches_path("/user/42") && !id.matches_path("/user/abc"));
        let group = m(&["/(api|trpc)/:rest*"]);
        assert!(group.matches_path("/trpc/x") && !group.matches_path("/rpc/x"));
        let exact = m(&["/"]);
        assert!(exact.matches_path("/") && !exact.matches_path("/a"));
        let literal = m(&["/a.b/c"]);
        assert!(literal.matches_path("/a.b/c") && !literal.matches_path("/axb/c"));
        assert!(Matcher::all().matches_path("/") && Matcher::all().matches_path("/a/b/c"));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        for bad in [
            "dashboard",
            "/a/*",
            "/:",
            "/:p(",
            "/(?!api).*",
            "/{a",
            "/x\\",
        ] {
            let err = Matcher::new([bad]).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid matcher pattern"),
                "{bad}: {err}"
            );
        }
    }

    /// The matcher of the Next.js middleware docs.
    const NEXT_DOCS: &str = "/((?!api|_next/static|_next/image|favicon.ico).*)";

    /// Clerk's recommended matcher (`clerkMiddleware`'s docs).
    const CLERK: [&str; 2] = [
        "/((?!_next|[^?]*\\.(?:html?|css|js(?!on)|jpe?g|webp|png|gif|svg|ttf|woff2?|ico|csv|docx?|xlsx?|zip|webmanifest)).*)",
        "/(api|trpc)(.*)",
    ];

    #[test]
    fn negative_lookahead_of_the_next_docs() {
        let docs = m(&[NEXT_DOCS]);
        for runs in [
            "/",
            "/dashboard",
            "/a/b/",
            "/ap",
            "/Api",
            "/x/api",
            "/_next/data/build/page.json",
            "/favicon.png",
            "/sitemap.xml",
        ] {
            assert!(docs.matches_path(runs), "{runs}");
        }
        // `favicon.ico`'s `.` is a regex dot, and `api` a prefix, as in Next.js.
        for skips in [
            "/api",
            "/api/users",
            "/apiary",
            "/_next/static/chunks/app.js",
            "/_next/image",
            "/favicon.ico",
            "/faviconXico",
        ] {
            assert!(!docs.matches_path(skips), "{skips}");
        }
        let more = m(&["/((?!api|_next/static|_next/image|favicon.ico|sitemap.xml|robots.txt).*)"]);
        assert!(!more.matches_path("/robots.txt") && more.matches_path("/robots"));
    }

    #[test]
    fn lookahead_is_not_bypassed_by_encodings() {
        let docs = m(&[NEXT_DOCS]);
        for tricky in [
            "/%61pi/users",
            "/api/../dashboard",
            "/api/%2e%2e/dashboard",
            "/_next/static/..%2f..%2fadmin",
            "/api;x/../admin",
            "/api/..;/admin",
        ] {
            assert!(
                docs.matches_path(tricky),
                "{tricky} must run the middleware"
            );
        }
        // An excluded path stays excluded in every form.
        assert!(!docs.matches_path("/api/./users"));
    }

    #[test]
    fn encoded_line_breaks_do_not_skip_a_matcher() {
        let docs = m(&[NEXT_DOCS]);
        let admin = m(&["/admin/:path*"]);
        for tricky in [
            "/api/..%2Fadmin/x%0A",
            "/api/..%2Fadmin%0D%0A",
            "/api/..%2Fadmin/%0Ax",
        ] {
            assert!(
                docs.matches_path(tricky),
                "{tricky} must run the middleware"
            );
        }
        assert!(admin.matches_path("/admin/x%0Ay"));
        assert!(m(&["/:path*"]).matches_path("/a%0A/b"));
    }

    #[test]
    fn lookahead_inside_lookahead_as_clerk_uses_it() {
        let clerk = m(&CLERK);
        for runs in [
            "/",
            "/dashboard",
            "/data.json",
            "/a.b/page",
            "/api/x.css",
            "/trpc/post.list",
            "/page?x.css",
        ] {
            assert!(clerk.matches_path(runs), "{runs}");
        }
        for skips in [
            "/_next/static/app.js",
            "/_nextjs",
            "/style.css",
            "/a/b/app.js",
            "/a.jsx",
            "/a.jso",
            "/img.jpeg",
            "/index.htm",
            "/font.woff2",
            "/site.webmanifest",
        ] {
            assert!(!clerk.matches_path(skips), "{skips}");
        }
    }

    #[test]
    fn lookaheads_at_other_fixed_offsets() {
        let docs = m(&["/docs/((?!internal).*)"]);
        assert!(docs.matches_path("/docs/intro") && docs.matches_path("/docs/"));
        assert!(!docs.matches_path("/docs/internal/x") && !docs.matches_path("/docs"));
        let param = m(&["/:rest((?!api)(?!_next).*)"]);
        assert!(param.matches_path("/page") && !param.matches_path("/_next/x"));
        assert!(!param.matches_path("/api"));
        let positive = m(&["/((?=v[0-9]/).*)"]);
        assert!(positive.matches_path("/v1/users") && !positive.matches_path("/users"));
        let escaped = m(&["/a\\:b/((?!c).*)"]);
        assert!(escaped.matches_path("/a:b/d") && !escaped.matches_path("/a:b/c"));
        let unicode = m(&["/é/((?!x).*)"]);
        assert!(unicode.matches_path("/é/y") && !unicode.matches_path("/é/x"));
        let except = Matcher::all().except(["/((?!admin).*)"]).unwrap();
        assert!(except.matches_path("/admin/x") && !except.matches_path("/blog"));
    }

    #[test]
    fn lookaheads_that_cannot_be_exact_are_errors() {
        for (bad, why) in [
            ("/:locale/((?!api).*)", "fixed offset"),
            ("/((?!api).*)?", "fixed offset"),
            ("/((?!api).*)*", "fixed offset"),
            ("/(a(?!b).*)", "first in its group"),
            ("/((?!a)b|c)", "`|`"),
            ("/((?<!a).*)", "look-behind"),
            ("/((?<=a).*)", "look-behind"),
            ("/((?!a(?=b)c).*)", "must come last"),
            ("/((?!a(?!b|c*)).*)", "literal alternatives"),
            ("/((?!a(?!)).*)", "literal alternatives"),
            ("/((?!a(?:x(?!b))+).*)", "repeated"),
            ("/((?!a)+.*)", "repeated"),
            ("/((?i)(?!a).*)", "flags"),
            ("/((?!a).*[)", "unbalanced"),
        ] {
            let err = Matcher::new([bad]).unwrap_err().to_string();
            assert!(err.starts_with("invalid matcher pattern"), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = Matcher::default()
            .route("/", &[Has::Header("a".into(), Some("x(?!y)".into()))], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("first in its group"), "{err}");
    }

    #[test]
    fn except_excludes_public_routes() {
        let m = Matcher::all()
            .except(["/", "/sign-in", "/static/:path*"])
            .unwrap();
        assert!(m.matches_path("/dashboard"));
        for public in ["/", "/sign-in", "/static/app.css"] {
            assert!(!m.matches_path(public), "{public}");
        }
    }

    #[test]
    fn encoded_paths_do_not_bypass() {
        let admin = m(&["/admin/:path*"]);
        for tricky in [
            "/%61dmin",
            "/%61%64%6d%69%6e/x",
            "/static/%2e%2e/admin",
            "/static/..%2fadmin",
            "/x/../admin",
            "/admin%2Fsecret",
            "/%2Fadmin",
            "/admin/",
            "/static/..;/admin",
            "/static;x=1/..;/admin;jsessionid=1",
        ] {
            assert!(admin.matches_path(tricky), "{tricky}");
        }
        let public = Matcher::all().except(["/static/:path*"]).unwrap();
        assert!(public.matches_path("/static/%2e%2e/admin"));
        assert!(public.matches_path("/static/..;/admin"));
        assert!(public.matches_path("/static/..%3B/admin"));
        assert!(!public.matches_path("/static/a.css"));
        assert!(path_forms("/%ff").is_err());
        assert!(!admin.matches_path("/%ff"));
    }

    #[test]
    fn repeated_slashes_and_backslashes_redirect() {
        assert_eq!(redirect_target("/admin"), None);
        assert_eq!(redirect_target("//admin").as_deref(), Some("/admin"));
        assert_eq!(redirect_target("/a\\\\b//c").as_deref(), Some("/a/b/c"));
        assert_eq!(resolve_dots("/a/./b/../c/.."), "/a/");
        assert_eq!(resolve_dots("/../.."), "/");
    }

    fn i18n() -> UrlConfig {
        UrlConfig {
            base_path: "/docs".into(),
            locales: vec!["en".into(), "fr".into()],
            default_locale: Some("en".into()),
        }
    }

    fn scoped(path: &str, config: &UrlConfig) -> (Option<String>, Option<String>) {
        let form = PathForm::scoped(path, config);
        (form.pathname, form.localized)
    }

    fn some(a: &str, b: &str) -> (Option<String>, Option<String>) {
        (Some(a.into()), Some(b.into()))
    }

    #[test]
    fn base_path_and_locale_are_taken_off_as_next_does() {
        let base = UrlConfig {
            base_path: "/docs".into(),
            ..UrlConfig::default()
        };
        assert_eq!(scoped("/docs/a", &base), some("/a", "/a"));
        assert_eq!(scoped("/docs", &base), some("/", "/"));
        assert_eq!(scoped("/docs/", &base), some("/", "/"));
        for outside in ["/a", "/", "/docsearch", "/Docs/a"] {
            assert_eq!(scoped(outside, &base), (None, None), "{outside}");
        }

        let i18n = i18n();
        assert_eq!(scoped("/docs/fr/a", &i18n), some("/a", "/fr/a"));
        assert_eq!(scoped("/docs/FR/a/", &i18n), some("/a/", "/FR/a/"));
        assert_eq!(scoped("/docs/fr", &i18n), some("/", "/fr"));
        assert_eq!(scoped("/docs/a", &i18n), some("/a", "/en/a"));
        assert_eq!(scoped("/docs", &i18n), some("/", "/en"));
        assert_eq!(scoped("/docs/de/a", &i18n), some("/de/a", "/en/de/a"));
        assert_eq!(
            scoped("/docs/french/a", &i18n),
            some("/french/a", "/en/french/a")
        );
        assert_eq!(
            scoped("/docs/_next/static/a.js", &i18n),
            (None, Some("/_next/static/a.js".into()))
        );
        assert_eq!(scoped("/docs/_next", &i18n), some("/_next", "/en/_next"));
        assert_eq!(scoped("/fr/a", &i18n), (None, None));
    }

    fn matches_in(matcher: &Matcher, path: &str, config: &UrlConfig) -> bool {
        let paths = scoped_forms(path, config).unwrap();
        matcher.matches(&MatchInput {
            paths: &paths,
            headers: &http::HeaderMap::new(),
            query: &SearchParams::default(),
            hostname: "",
        })
    }

    #[test]
    fn patterns_match_under_the_base_path_and_locale() {
        let config = i18n();
        let dash = m(&["/dashboard/:path*"]);
        for runs in [
            "/docs/dashboard",
            "/docs/dashboard/x",
            "/docs/fr/dashboard",
            "/docs/Fr/dashboard/x",
            "/docs/en/dashboard",
            "/docs/%66r/dashboard",
            "/%64ocs/dashboard",
            "/docs/x/../fr/dashboard",
        ] {
            assert!(matches_in(&dash, runs, &config), "{runs}");
        }
        for skips in [
            "/dashboard",
            "/fr/dashboard",
            "/docs/de/dashboard",
            "/docs/fr/fr/dashboard",
            "/docs",
            "/docs/fr",
        ] {
            assert!(!matches_in(&dash, skips, &config), "{skips}");
        }
        let root = m(&["/"]);
        for runs in ["/docs", "/docs/", "/docs/fr", "/docs/en/"] {
            assert!(matches_in(&root, runs, &config), "{runs}");
        }
        assert!(!matches_in(&root, "/docs/fr/a", &config));

        // Next.js: with locales, `/_next/...` paths match no pattern.
        assert!(!matches_in(
            &Matcher::all(),
            "/docs/_next/static/a.js",
            &config
        ));
        assert!(matches_in(&Matcher::all(), "/docs/_next/../a", &config));

        let public = Matcher::all().except(["/", "/sign-in"]).unwrap();
        assert!(!matches_in(&public, "/docs/fr/sign-in", &config));
        assert!(!matches_in(&public, "/docs/fr", &config));
        assert!(matches_in(&public, "/docs/fr/account", &config));
    }

    #[test]
    fn routes_with_locale_name_it_themselves() {
        let config = i18n();
        let french = Matcher::default()
            .route_with_locale("/fr/:path*", &[], &[])
            .unwrap();
        assert!(matches_in(&french, "/docs/fr/a", &config));
        assert!(matches_in(&french, "/docs/fr", &config));
        assert!(!matches_in(&french, "/docs/a", &config), "/en/a");
        assert!(!matches_in(&french, "/docs/en/fr/a", &config));
        assert!(
            !matches_in(&french, "/fr/a", &config),
            "outside the base path"
        );
        let default = Matcher::default()
            .route_with_locale("/en/about", &[], &[])
            .unwrap();
        assert!(matches_in(&default, "/docs/about", &config));
        let next = Matcher::default()
            .route_with_locale("/_next/:path*", &[], &[])
            .unwrap();
        assert!(matches_in(&next, "/docs/_next/static/a.js", &config));
        // Without locales it is a plain route.
        let plain = Matcher::default()
            .route_with_locale("/fr/:path*", &[], &[])
            .unwrap();
        assert!(plain.matches_path("/fr/x") && !plain.matches_path("/x"));
    }

    #[test]
    fn has_and_missing_conditions() {
        let matcher = Matcher::default()
            .route(
                "/api/:p*",
                &[
                    Has::Header("X-Key".into(), Some("k[0-9]".into())),
                    Has::Query("v".into(), None),
                    Has::Host("(www\\.)?ex\\.com".into()),
                ],
                &[Has::Cookie("skip".into(), Some("1".into()))],
            )
            .unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("x-key", "k1".parse().unwrap());
        let paths = scoped_forms("/api/x", &UrlConfig::default()).unwrap();
        let query = SearchParams::parse("v=1");
        let input = |headers, hostname| MatchInput {
            paths: &paths,
            headers,
            query: &query,
            hostname,
        };
        assert!(matcher.matches(&input(&headers, "ex.com")));
        assert!(matcher.matches(&input(&headers, "EX.com")), "lowercased");
        assert!(!matcher.matches(&input(&headers, "evil.com")));
        let no_headers = http::HeaderMap::new();
        assert!(!matcher.matches(&input(&no_headers, "ex.com")));
        let mut skipping = headers.clone();
        skipping.insert("cookie", "skip=1".parse().unwrap());
        assert!(!matcher.matches(&input(&skipping, "ex.com")));
        let prefetch = Matcher::default()
            .route(
                "/:p*",
                &[],
                &[Has::Header(
                    "purpose".into(),
                    Some("(?!prefetch$).*".into()),
                )],
            )
            .unwrap();
        let (mut exact, mut longer) = (http::HeaderMap::new(), http::HeaderMap::new());
        exact.insert("purpose", "prefetch".parse().unwrap());
        longer.insert("purpose", "prefetched".parse().unwrap());
        assert!(prefetch.matches(&input(&exact, "ex.com")));
        assert!(!prefetch.matches(&input(&longer, "ex.com")));
        let err = Matcher::default()
            .route("/", &[Has::Host("(".into())], &[])
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid matcher value"),
            "{err}"
        );
    }

    /// Next.js's `matchHas`: an empty value is no value, a value is
    /// `^value$` as written, header values are joined, the last query
    /// value counts, and cookies are read as the `cookie` package reads
    /// them (first wins, quotes removed).
    #[test]
    fn conditions_read_values_as_next_js() {
        let route = |has: Has| Matcher::default().route("/", &[has], &[]).unwrap();
        let paths = scoped_forms("/", &UrlConfig::default()).unwrap();
        let holds = |matcher: &Matcher, headers: &[(&str, &str)], query: &str| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            matcher.matches(&MatchInput {
                paths: &paths,
                headers: &map,
                query: &SearchParams::parse(query),
                hostname: "",
            })
        };
        let present = route(Has::Query("q".into(), None));
        assert!(holds(&present, &[], "q=1") && !holds(&present, &[], "q="));
        let empty_value = route(Has::Query("q".into(), Some(String::new())));
        assert!(holds(&empty_value, &[], "q=x"));
        let last = route(Has::Query("q".into(), Some("b".into())));
        assert!(holds(&last, &[], "q=a&q=b") && !holds(&last, &[], "q=b&q=a"));
        let alternatives = route(Has::Query("q".into(), Some("a|b".into())));
        assert!(
            holds(&alternatives, &[], "q=ax"),
            "^a|b$ as Next.js writes it"
        );
        let joined = route(Has::Header("x".into(), Some("1, 2".into())));
        assert!(holds(&joined, &[("x", "1"), ("x", "2")], ""));
        let cookie = route(Has::Cookie("c".into(), Some("v 1".into())));
        assert!(holds(&cookie, &[("cookie", "c=\"v%201\"; c=x")], ""));
        assert!(!holds(&cookie, &[("cookie", "c=x; c=v%201")], ""));
        let raw = route(Has::Cookie("c".into(), Some("%zz".into())));
        assert!(holds(&raw, &[("cookie", "flag; c=%zz")], ""));
        assert!(!holds(
            &route(Has::Cookie("flag".into(), None)),
            &[("cookie", "flag")],
            ""
        ));
    }

    /// The gaps the issue names, each as Next.js (path-to-regexp 6.3)
    /// matches it.
    #[test]
    fn groups_repeats_and_trailing_slashes_as_path_to_regexp() {
        let format = m(&["/:test{.:format}?"]);
        assert!(format.matches_path("/route") && format.matches_path("/route.json"));
        let formats = m(&["/test{.:format}+"]);
        assert!(formats.matches_path("/test.hbs.html") && !formats.matches_path("/test"));
        let icon = m(&["/{apple-}?icon-:res(\\d+).png"]);
        assert!(icon.matches_path("/icon-240.png") && icon.matches_path("/apple-icon-240.png"));
        assert!(!icon.matches_path("/pear-icon-240.png"));
        let ext = m(&["/route.:ext(json|xml)+"]);
        assert!(ext.matches_path("/route.xml.json") && !ext.matches_path("/route.html"));
        let star = m(&["/route.:ext([a-z]+)*"]);
        assert!(star.matches_path("/route") && star.matches_path("/route.json.xml"));
        assert!(!star.matches_path("/route.123"));
        let slash = m(&["/test/"]);
        assert!(!slash.matches_path("/test") && slash.matches_path("/test/"));
        assert!(m(&["/test"]).matches_path("/test/"));
    }

    /// Next.js drops path-to-regexp's `i` flag: matching is case-sensitive.
    #[test]
    fn matching_is_case_sensitive() {
        let admin = m(&["/admin/:path*"]);
        for other in ["/Admin", "/ADMIN/x", "/admin.JSON"] {
            assert!(!admin.matches_path(other), "{other}");
        }
        assert!(
            !m(&["/((?!api).*)"]).matches_path("/api") && m(&["/((?!api).*)"]).matches_path("/API")
        );
    }

    /// A page's data, RSC and segment-prefetch URLs run its middleware, for
    /// plain sources and for look-ahead ones (which cannot take the data
    /// prefix into their expression).
    #[test]
    fn data_and_prefetch_urls_of_a_page_run_its_middleware() {
        let dashboard = m(&["/dashboard/:path*"]);
        let clerk = m(&CLERK);
        let docs = m(&[NEXT_DOCS]);
        for url in [
            "/_next/data/b1/dashboard.json",
            "/_next/data/b1/dashboard/settings.json",
            "/dashboard.rsc",
            "/dashboard/settings.rsc",
            "/dashboard.segments/$c$children/__PAGE__.segment.rsc",
            "/dashboard.json",
        ] {
            for (name, matcher) in [
                ("dashboard", &dashboard),
                ("clerk", &clerk),
                ("docs", &docs),
            ] {
                assert!(matcher.matches_path(url), "{name}: {url}");
            }
        }
        assert!(!dashboard.matches_path("/_next/data/b1/settings.json"));
        // The build id is a whole segment before a look-ahead source.
        let api = m(&["/((?!api).*)"]);
        assert!(api.matches_path("/_next/data/b1/dashboard.json"));
        assert!(!api.matches_path("/api/x"));
        // As in Next.js: without the prefix, `_next/...` does not start with `api`.
        assert!(api.matches_path("/_next/data/b1/api.json"));
        let dash_only = m(&["/((?=dash).*)"]);
        assert!(dash_only.matches_path("/_next/data/b1/dashboard.json"));
        assert!(!dash_only.matches_path("/_next/data/b1/settings.json"));
        // Public pages stay public in those forms too.
        let guard = Matcher::all().except(["/", "/sign-in"]).unwrap();
        for public in [
            "/index",
            "/index.rsc",
            "/_next/data/b1/index.json",
            "/sign-in.rsc",
            "/_next/data/b1/sign-in.json",
        ] {
            assert!(!guard.matches_path(public), "{public}");
        }
        assert!(guard.matches_path("/_next/data/b1/dashboard.json"));
    }

    #[test]
    fn data_urls_with_locales() {
        let config = UrlConfig {
            base_path: String::new(),
            locales: vec!["en".into(), "fr".into()],
            default_locale: Some("en".into()),
        };
        let dash = m(&["/dashboard/:path*"]);
        for runs in [
            "/_next/data/b1/fr/dashboard.json",
            "/_next/data/b1/en/dashboard/x.json",
        ] {
            assert!(matches_in(&dash, runs, &config), "{runs}");
        }
        for skips in [
            "/_next/data/b1/dashboard.json",
            "/_next/data/b1/_next/dashboard.json",
        ] {
            assert!(!matches_in(&dash, skips, &config), "{skips}");
        }
        let root = m(&["/"]);
        for runs in [
            "/_next/data/b1/fr.json",
            "/_next/data/b1/en",
            "/_next/data/b1/fr/index.json",
        ] {
            assert!(matches_in(&root, runs, &config), "{runs}");
        }
        assert_eq!(
            scoped("/_next/data/b1/fr/a.json", &config),
            some("/_next/data/b1/a.json", "/_next/data/b1/fr/a.json")
        );
    }
}
