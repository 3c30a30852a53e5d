//! [`Matcher`]: which requests a middleware runs for, with Next.js's
//! `config.matcher` semantics, and the path normalization that keeps it from
//! being bypassed.
//!
//! # Patterns
//!
//! Patterns are `path-to-regexp` paths as in Next.js: literal segments,
//! `:name` (one segment), `:name*` (zero or more segments), `:name+` (one or
//! more), `:name?` (optional), custom groups `:id(\d+)` and unnamed groups
//! `/(api|trpc)/:rest*`. Matching is case-sensitive and a single trailing
//! slash is ignored. Groups use the `regex-lite` crate's syntax (ASCII
//! classes).
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
//! - [`Matcher::route_with_locale`] is Next.js's `locale: false`: its
//!   pattern is matched against the path with the locale segment kept (the
//!   default locale added when the path names none), so it names the locale
//!   itself (`/fr/:path*`).
//!
//! This applies to every form of the path above (`/%64ocs/fr/dashboard` is
//! under the base path `/docs`). Next.js's `/_next/data/<build>/...json`
//! data routes are Next.js's own and are not special here.

mod lookahead;

use regex_lite::Regex;

use self::lookahead::{Pattern, Unsupported, split_leading};
use super::cookies::RequestCookies;
use super::url::{SearchParams, UrlConfig};
use crate::core::error::{Error, Result};

/// A `has` / `missing` condition of a matcher route, like Next.js's
/// `{ type, key, value }`. `value` is a regular expression that must match
/// the whole value; `None` only asks for presence.
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

/// Compiles a `has` value, which must match the whole value; a look-ahead
/// at its start is checked at offset 0.
fn whole(pattern: &str) -> Result<Pattern> {
    let invalid = |why: &dyn std::fmt::Display| {
        Error::msg(format!("invalid matcher value {pattern:?}: {why}"))
    };
    let (leading, rest) = split_leading(pattern).map_err(|e| invalid(&e))?;
    let regex = regex(&format!("^(?:{rest})$")).map_err(|e| invalid(&e))?;
    let checks = leading
        .into_iter()
        .map(|look| look.at(0))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&e))?;
    Ok(Pattern::new(regex, checks))
}

impl Condition {
    fn compile(has: &Has) -> Result<Self> {
        let value = |v: &Option<String>| v.as_deref().map(whole).transpose();
        Ok(match has {
            Has::Header(k, v) => Self::Header(k.to_ascii_lowercase(), value(v)?),
            Has::Cookie(k, v) => Self::Cookie(k.clone(), value(v)?),
            Has::Query(k, v) => Self::Query(k.clone(), value(v)?),
            Has::Host(v) => Self::Host(whole(v)?),
        })
    }

    fn holds(&self, input: &MatchInput<'_>) -> bool {
        let check = |found: Option<&str>, value: &Option<Pattern>| match (found, value) {
            (Some(found), Some(re)) => re.is_match(found),
            (found, None) => found.is_some(),
            (None, Some(_)) => false,
        };
        match self {
            Self::Header(k, v) => check(
                input.headers.get(k.as_str()).and_then(|h| h.to_str().ok()),
                v,
            ),
            Self::Cookie(k, v) => check(input.cookies.get(k), v),
            Self::Query(k, v) => check(input.query.get(k), v),
            Self::Host(re) => re.is_match(input.hostname),
        }
    }
}

#[derive(Debug)]
struct Route {
    path: Pattern,
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
    /// outside the base path, or for a `/_next/` path naming no locale.
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
    pub cookies: &'a RequestCookies,
    pub query: &'a SearchParams,
    pub hostname: &'a str,
}

/// Which requests a middleware runs for (Next.js `config.matcher`).
#[derive(Debug, Default)]
pub struct Matcher {
    routes: Vec<Route>,
    except: Vec<Pattern>,
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
    /// like [`route`](Self::route)'s (without base path and locale).
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

    /// Whether a path alone (already normalized) is matched; for tests and
    /// tools. Requests are matched by the [`Chain`](super::Chain).
    pub fn matches_path(&self, path: &str) -> bool {
        let Ok(paths) = scoped_forms(path, &UrlConfig::default()) else {
            return false;
        };
        self.matches(&MatchInput {
            paths: &paths,
            headers: &http::HeaderMap::new(),
            cookies: &RequestCookies::default(),
            query: &SearchParams::default(),
            hostname: "",
        })
    }

    pub(crate) fn matches(&self, input: &MatchInput<'_>) -> bool {
        input.paths.iter().any(|form| {
            let excluded = form
                .pathname
                .as_deref()
                .is_some_and(|path| self.except.iter().any(|re| re.is_match(path)));
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

/// Compiles a `path-to-regexp` pattern to an anchored regular expression,
/// with the look-aheads of its groups split off (see [`lookahead`]).
fn compile_path(source: &str) -> Result<Pattern> {
    let invalid = |why: &dyn std::fmt::Display| {
        Error::msg(format!("invalid matcher pattern {source:?}: {why}"))
    };
    if !source.starts_with('/') {
        return Err(invalid(&"must start with /"));
    }
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::new();
    let mut checks = Vec::new();
    // The length in bytes of the literal text so far; `None` after the
    // first parameter or group.
    let mut fixed = Some(0);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prefix = c == '/' && matches!(chars.get(i + 1), Some(':' | '('));
        let start = if prefix { i + 1 } else { i };
        match chars[start] {
            ':' | '(' => {
                let mut j = start;
                if chars[j] == ':' {
                    j += 1;
                    let name_start = j;
                    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                        j += 1;
                    }
                    if j == name_start {
                        return Err(invalid(&"missing parameter name after :"));
                    }
                }
                let mut group = "[^/#?]+?".to_owned();
                let mut leading = Vec::new();
                if chars.get(j) == Some(&'(') {
                    let (inner, end) =
                        group_at(&chars, j).ok_or_else(|| invalid(&"unbalanced ("))?;
                    if inner.is_empty() || inner.starts_with('?') {
                        return Err(invalid(&"empty group or unsupported (? group"));
                    }
                    (leading, group) = split_leading(&inner).map_err(|e| invalid(&e))?;
                    j = end;
                }
                let modifier = chars
                    .get(j)
                    .copied()
                    .filter(|m| matches!(m, '*' | '+' | '?'));
                if modifier.is_some() {
                    j += 1;
                }
                let pre = if prefix { "/" } else { "" };
                if !leading.is_empty() {
                    let offset = fixed
                        .filter(|_| modifier.is_none())
                        .ok_or_else(|| invalid(&Unsupported::NotFixed))?
                        + pre.len();
                    for look in leading {
                        checks.push(look.at(offset).map_err(|e| invalid(&e))?);
                    }
                }
                fixed = None;
                let repeated = format!("(?:{group})(?:{pre}(?:{group}))*");
                out.push_str(&match modifier {
                    None => format!("{pre}({group})"),
                    Some('?') => format!("(?:{pre}({group}))?"),
                    Some('*') => format!("(?:{pre}({repeated}))?"),
                    _ => format!("{pre}({repeated})"),
                });
                i = j;
            }
            '*' | '+' | '?' => return Err(invalid(&"a modifier must follow a parameter")),
            '\\' => {
                let next = chars.get(i + 1).ok_or_else(|| invalid(&"trailing \\"))?;
                out.push_str(&regex_lite::escape(&next.to_string()));
                fixed = fixed.map(|n| n + next.len_utf8());
                i += 2;
            }
            '{' | '}' => return Err(invalid(&"{} groups are not supported")),
            other => {
                out.push_str(&regex_lite::escape(&other.to_string()));
                fixed = fixed.map(|n| n + other.len_utf8());
                i += 1;
            }
        }
    }
    let out = out.strip_suffix('/').unwrap_or(&out);
    let regex = regex(&format!("^{out}/?$")).map_err(|e| invalid(&e))?;
    Ok(Pattern::new(regex, checks))
}

/// The contents of the group opening at `open` and the index after it.
fn group_at(chars: &[char], open: usize) -> Option<(String, usize)> {
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((chars[open + 1..i].iter().collect(), i + 1));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
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
            "/{a}",
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
            cookies: &RequestCookies::default(),
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
        let query = SearchParams::parse("v=");
        let cookies = RequestCookies::default();
        let input = |headers, cookies, hostname| MatchInput {
            paths: &paths,
            headers,
            cookies,
            query: &query,
            hostname,
        };
        assert!(matcher.matches(&input(&headers, &cookies, "ex.com")));
        assert!(!matcher.matches(&input(&headers, &cookies, "evil.com")));
        let no_headers = http::HeaderMap::new();
        assert!(!matcher.matches(&input(&no_headers, &cookies, "ex.com")));
        let mut skip = http::HeaderMap::new();
        skip.insert("cookie", "skip=1".parse().unwrap());
        let skipping = RequestCookies::from_headers(&skip);
        assert!(!matcher.matches(&input(&headers, &skipping, "ex.com")));
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
        assert!(prefetch.matches(&input(&exact, &cookies, "ex.com")));
        assert!(!prefetch.matches(&input(&longer, &cookies, "ex.com")));
        let err = Matcher::default()
            .route("/", &[Has::Host("(".into())], &[])
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid matcher value"),
            "{err}"
        );
    }
}
