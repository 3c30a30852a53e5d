//! A matcher source compiled as Next.js 16.4's `getMiddlewareMatchers`
//! compiles it: the optional data-route prefix before it and the
//! transport suffixes after it, so that a page's data and RSC URLs run the
//! same middleware as the page.
//!
//! - `/:nextData(_next/data/[^/]{1,})?` before the source:
//!   `/_next/data/<build>/dashboard.json` is the Pages Router data of
//!   `/dashboard`;
//! - after a source other than `/`: `{(\.json|\.rsc|\.segments/.+\.segment\.rsc)}?`
//!   (`/dashboard.rsc`, `/dashboard.segments/$c$children/__PAGE__.segment.rsc`);
//! - after `/`: `(/?index|/?index\.json|/?index(?:\.rsc|\.segments/.+\.segment\.rsc))?`
//!   (`/index`, `/index.rsc`, `/_next/data/<build>/index.json`).
//!
//! The base path and locale segment Next.js also adds are taken off the
//! path instead (see the parent module). A source whose look-ahead sits at
//! a fixed offset cannot have the variable-length data prefix in front of
//! it; it is then matched against the path and, for a data URL, against the
//! rest after `/_next/data/<build>`. That is exact: such a source starts
//! with a `/` that is not optional, so the build id is a whole segment.

use super::lookahead::Pattern;
use super::path_to_regexp::{Compiled, SyntaxError, compile, has_checks};
use super::regex;

/// What Next.js puts before every source.
const DATA_PREFIX: &str = "/:nextData(_next/data/[^/]{1,})?";

/// What Next.js puts after every source but `/`.
const SUFFIX: &str = "{(\\.json|\\.rsc|\\.segments/.+\\.segment\\.rsc)}?";

/// What Next.js puts after `/`.
const ROOT_SUFFIX: &str =
    "(/?index|/?index\\.json|/?index(?:\\.rsc|\\.segments/.+\\.segment\\.rsc))?";

/// How a compiled source handles the data-route prefix.
#[derive(Debug)]
enum DataPrefix {
    /// The prefix is part of the expression.
    InPattern,
    /// The expression has none; a data URL's rest is matched too.
    Stripped,
}

/// A source, compiled with Next.js's additions.
#[derive(Debug)]
pub(crate) struct Source {
    pattern: Pattern,
    data_prefix: DataPrefix,
}

impl Source {
    /// Compiles `source`; the error is about `source` as written.
    pub(crate) fn compile(source: &str) -> Result<Self, SyntaxError> {
        let suffix = if source == "/" { ROOT_SUFFIX } else { SUFFIX };
        // A look-ahead split off as a check sits at a fixed offset, which the
        // variable-length data prefix would move (`NotFixed`); a source
        // without one keeps its groups, and so compiles, behind the prefix.
        let (expression, data_prefix) = if has_checks(source)? {
            (format!("{source}{suffix}"), DataPrefix::Stripped)
        } else {
            (
                format!("{DATA_PREFIX}{source}{suffix}"),
                DataPrefix::InPattern,
            )
        };
        Ok(Self {
            pattern: pattern(&expression)?,
            data_prefix,
        })
    }

    /// The expression, when the data prefix is part of it (as in Next.js's
    /// compiled `regexp`).
    #[cfg(test)]
    pub(crate) fn expression(&self) -> Option<&str> {
        matches!(self.data_prefix, DataPrefix::InPattern).then(|| self.pattern.expression())
    }

    /// Whether `path` (one form of the request path) is matched.
    pub(crate) fn is_match(&self, path: &str) -> bool {
        self.pattern.is_match(path)
            || matches!(self.data_prefix, DataPrefix::Stripped)
                && split_data_prefix(path)
                    .is_some_and(|(_, rest)| rest.starts_with('/') && self.pattern.is_match(rest))
    }
}

/// `path`, compiled as path-to-regexp 6.3 does, without the Next.js
/// additions; for tests of the path-to-regexp tables.
#[cfg(test)]
pub(crate) fn bare(path: &str) -> Result<Pattern, SyntaxError> {
    pattern(path)
}

fn pattern(source: &str) -> Result<Pattern, SyntaxError> {
    let Compiled { expression, checks } = compile(source)?;
    let regex = regex(&expression).map_err(|e| SyntaxError::Regex(e.to_string()))?;
    Ok(Pattern::new(regex, checks))
}

/// Splits a data URL into `/_next/data/<build>` and the rest (empty or
/// starting with `/`); `None` for other paths.
pub(crate) fn split_data_prefix(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/_next/data/")?;
    let build = after.find('/').unwrap_or(after.len());
    if build == 0 {
        return None;
    }
    let split = "/_next/data/".len() + build;
    Some(path.split_at(split))
}
