//! `path-to-regexp` 6.3 (the version Next.js compiles matchers with): its
//! lexer, parser and `tokensToRegexp` with the options Next.js uses (the
//! defaults, except that the `i` flag is dropped: matching is
//! case-sensitive), producing a `regex-lite` expression.
//!
//! Two things differ from the JavaScript library, on purpose:
//! - like Next.js's `tryToParsePath`, a repeated parameter with neither
//!   prefix nor suffix (`/foo:x*`) gets the prefix `/` instead of being an
//!   error;
//! - look-aheads are split off as checks at fixed offsets (see
//!   `lookahead.rs`), and the look-ahead path-to-regexp itself writes for a
//!   parameter right after text without `/` (`(?:(?!-)[^\/#\?])+?` in
//!   `/:a-:b`) is rewritten exactly when that text is one character (a class
//!   `[^/#?-]+?`); after longer text (`/:a--:b`) it is an error.

use std::fmt;

use super::js_regex::to_regex_lite;
use super::lookahead::{Check, Leading, Unsupported, split_leading};

/// The characters that end a segment (path-to-regexp's `delimiter`).
const DELIMITERS: [char; 3] = ['/', '#', '?'];

/// The characters that become a parameter's prefix when right before it.
const PREFIXES: [char; 2] = ['.', '/'];

/// Why a pattern does not compile, worded like path-to-regexp's errors
/// (`at` is a character index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// `:` not followed by a name.
    MissingName { at: usize },
    /// `(?` at the start of a group.
    PatternStartsWithQuestion { at: usize },
    /// `(` inside a group not followed by `?`.
    CapturingGroup { at: usize },
    /// A group that never closes.
    Unbalanced { at: usize },
    /// `()`.
    MissingPattern { at: usize },
    /// A token where another was expected (a modifier after text, a `{`
    /// inside `{}`, a dangling `\`...).
    Unexpected {
        found: &'static str,
        at: usize,
        expected: &'static str,
    },
    /// `/:a:b`.
    NoTextBetween { after: String },
    /// A parameter after several characters without `/` (see the module
    /// docs).
    LongTextBeforeParameter { text: String },
    /// A look-ahead that cannot be checked exactly.
    LookAhead(Unsupported),
    /// The expression of a group is not valid `regex-lite` syntax.
    Regex(String),
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingName { at } => write!(f, "missing parameter name at {at}"),
            Self::PatternStartsWithQuestion { at } => {
                write!(f, "pattern cannot start with \"?\" at {at}")
            }
            Self::CapturingGroup { at } => write!(f, "capturing groups are not allowed at {at}"),
            Self::Unbalanced { at } => write!(f, "unbalanced pattern at {at}"),
            Self::MissingPattern { at } => write!(f, "missing pattern at {at}"),
            Self::Unexpected {
                found,
                at,
                expected,
            } => write!(f, "unexpected {found} at {at}, expected {expected}"),
            Self::NoTextBetween { after } => write!(
                f,
                "must have text between two parameters, missing text after {after:?}"
            ),
            Self::LongTextBeforeParameter { text } => write!(
                f,
                "a parameter right after {text:?} (text of several characters without `/`) \
                 is not supported; give it a pattern, as in `:name([^/]+)`"
            ),
            Self::LookAhead(why) => why.fmt(f),
            Self::Regex(why) => f.write_str(why),
        }
    }
}

/// A lexer token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lexeme {
    Open,
    Close,
    Pattern(String),
    Name(String),
    Char(char),
    Escaped(char),
    Modifier(char),
    End,
}

impl Lexeme {
    fn kind(&self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Close => "CLOSE",
            Self::Pattern(_) => "PATTERN",
            Self::Name(_) => "NAME",
            Self::Char(_) => "CHAR",
            Self::Escaped(_) => "ESCAPED_CHAR",
            Self::Modifier(_) => "MODIFIER",
            Self::End => "END",
        }
    }
}

fn lex(source: &[char]) -> Result<Vec<(Lexeme, usize)>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < source.len() {
        let c = source[i];
        let at = i;
        let lexeme = match c {
            '*' | '+' | '?' => {
                i += 1;
                Lexeme::Modifier(c)
            }
            '\\' => {
                let Some(&escaped) = source.get(i + 1) else {
                    return Err(SyntaxError::Unexpected {
                        found: "ESCAPED_CHAR",
                        at,
                        expected: "END",
                    });
                };
                i += 2;
                Lexeme::Escaped(escaped)
            }
            '{' => {
                i += 1;
                Lexeme::Open
            }
            '}' => {
                i += 1;
                Lexeme::Close
            }
            ':' => {
                let start = i + 1;
                let mut j = start;
                while j < source.len() && (source[j].is_ascii_alphanumeric() || source[j] == '_') {
                    j += 1;
                }
                if j == start {
                    return Err(SyntaxError::MissingName { at });
                }
                i = j;
                Lexeme::Name(source[start..j].iter().collect())
            }
            '(' => {
                let (pattern, end) = group(source, i)?;
                i = end;
                Lexeme::Pattern(pattern)
            }
            _ => {
                i += 1;
                Lexeme::Char(c)
            }
        };
        tokens.push((lexeme, at));
    }
    tokens.push((Lexeme::End, source.len()));
    Ok(tokens)
}

/// The pattern of the group opening at `open`, and the index after it.
fn group(source: &[char], open: usize) -> Result<(String, usize), SyntaxError> {
    let mut count = 1;
    let mut pattern = String::new();
    let mut j = open + 1;
    if source.get(j) == Some(&'?') {
        return Err(SyntaxError::PatternStartsWithQuestion { at: j });
    }
    while j < source.len() {
        match source[j] {
            '\\' => {
                pattern.extend(source[j..(j + 2).min(source.len())].iter());
                j += 2;
                continue;
            }
            ')' => {
                count -= 1;
                if count == 0 {
                    j += 1;
                    break;
                }
            }
            '(' => {
                count += 1;
                if source.get(j + 1) != Some(&'?') {
                    return Err(SyntaxError::CapturingGroup { at: j });
                }
            }
            _ => {}
        }
        pattern.push(source[j]);
        j += 1;
    }
    if count != 0 {
        return Err(SyntaxError::Unbalanced { at: open });
    }
    if pattern.is_empty() {
        return Err(SyntaxError::MissingPattern { at: open });
    }
    Ok((pattern, j))
}

/// What a parameter matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matches {
    /// The expression in its parentheses.
    Custom(String),
    /// One segment: `[^\/#\?]+?`.
    Segment,
    /// One segment that does not contain the text before the parameter
    /// (path-to-regexp's `(?:(?!text)[^\/#\?])+?`).
    SegmentWithout(String),
    /// Nothing: a `{text}` group without a parameter.
    Nothing,
}

/// A parsed token: literal text or a parameter (or `{}` group).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Text(String),
    Key {
        name: String,
        prefix: String,
        suffix: String,
        matches: Matches,
        modifier: Option<char>,
    },
}

struct Parser {
    tokens: Vec<(Lexeme, usize)>,
    at: usize,
    result: Vec<Token>,
    unnamed: usize,
}

impl Parser {
    fn try_take(&mut self, kind: &'static str) -> Option<Lexeme> {
        let (lexeme, _) = self.tokens.get(self.at)?;
        (lexeme.kind() == kind).then(|| {
            self.at += 1;
            lexeme.clone()
        })
    }

    fn must_take(&mut self, kind: &'static str) -> Result<(), SyntaxError> {
        if self.try_take(kind).is_some() {
            return Ok(());
        }
        let (lexeme, at) = &self.tokens[self.at.min(self.tokens.len() - 1)];
        Err(SyntaxError::Unexpected {
            found: lexeme.kind(),
            at: *at,
            expected: kind,
        })
    }

    fn take_char(&mut self) -> Option<char> {
        match self.try_take("CHAR") {
            Some(Lexeme::Char(c)) => Some(c),
            _ => None,
        }
    }

    fn take_escaped(&mut self) -> Option<char> {
        match self.try_take("ESCAPED_CHAR") {
            Some(Lexeme::Escaped(c)) => Some(c),
            _ => None,
        }
    }

    fn take_name(&mut self) -> Option<String> {
        match self.try_take("NAME") {
            Some(Lexeme::Name(name)) => Some(name),
            _ => None,
        }
    }

    fn take_pattern(&mut self) -> Option<String> {
        match self.try_take("PATTERN") {
            Some(Lexeme::Pattern(pattern)) => Some(pattern),
            _ => None,
        }
    }

    fn take_modifier(&mut self) -> Option<char> {
        match self.try_take("MODIFIER") {
            Some(Lexeme::Modifier(m)) => Some(m),
            _ => None,
        }
    }

    fn take_text(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.take_char().or_else(|| self.take_escaped()) {
            text.push(c);
        }
        text
    }

    fn next_name(&mut self) -> String {
        self.unnamed += 1;
        (self.unnamed - 1).to_string()
    }

    /// path-to-regexp's `safePattern`: what a parameter without a pattern
    /// matches, given its prefix.
    fn safe_pattern(&self, prefix: &str) -> Result<Matches, SyntaxError> {
        let previous = self.result.last();
        let text = match (prefix, previous) {
            ("", Some(Token::Text(text))) => text.as_str(),
            ("", Some(Token::Key { name, .. })) => {
                return Err(SyntaxError::NoTextBetween {
                    after: name.clone(),
                });
            }
            (prefix, _) => prefix,
        };
        if text.is_empty() || text.contains(DELIMITERS) {
            Ok(Matches::Segment)
        } else {
            Ok(Matches::SegmentWithout(text.to_owned()))
        }
    }

    fn parse(mut self) -> Result<Vec<Token>, SyntaxError> {
        let mut path = String::new();
        while self.at < self.tokens.len() {
            let char = self.take_char();
            let name = self.take_name();
            let pattern = self.take_pattern();
            if name.is_some() || pattern.is_some() {
                let prefix = match char {
                    Some(c) if PREFIXES.contains(&c) => c.to_string(),
                    other => {
                        path.extend(other);
                        String::new()
                    }
                };
                if !path.is_empty() {
                    self.result.push(Token::Text(std::mem::take(&mut path)));
                }
                let matches = match pattern {
                    Some(pattern) => Matches::Custom(pattern),
                    None => self.safe_pattern(&prefix)?,
                };
                let name = match name {
                    Some(name) => name,
                    None => self.next_name(),
                };
                let modifier = self.take_modifier();
                self.result.push(Token::Key {
                    name,
                    prefix,
                    suffix: String::new(),
                    matches,
                    modifier,
                });
                continue;
            }
            if let Some(c) = char.or_else(|| self.take_escaped()) {
                path.push(c);
                continue;
            }
            if !path.is_empty() {
                self.result.push(Token::Text(std::mem::take(&mut path)));
            }
            if self.try_take("OPEN").is_some() {
                let prefix = self.take_text();
                let name = self.take_name();
                let pattern = self.take_pattern();
                let suffix = self.take_text();
                self.must_take("CLOSE")?;
                let matches = match (&name, pattern) {
                    (_, Some(pattern)) => Matches::Custom(pattern),
                    (Some(_), None) => self.safe_pattern(&prefix)?,
                    (None, None) => Matches::Nothing,
                };
                let name = match name {
                    Some(name) => name,
                    None if matches != Matches::Nothing => self.next_name(),
                    None => String::new(),
                };
                let modifier = self.take_modifier();
                self.result.push(Token::Key {
                    name,
                    prefix,
                    suffix,
                    matches,
                    modifier,
                });
                continue;
            }
            self.must_take("END")?;
        }
        Ok(self.result)
    }
}

fn parse(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    Parser {
        tokens: lex(&chars)?,
        at: 0,
        result: Vec::new(),
        unnamed: 0,
    }
    .parse()
}

/// `c` as an escape that means `c` inside and outside classes.
fn hex(c: char) -> String {
    format!("\\x{{{:X}}}", u32::from(c))
}

/// A pattern compiled to an anchored `regex-lite` expression, with the
/// look-aheads of its groups split off as checks at fixed offsets.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// `^...[/#?]?$`
    pub expression: String,
    /// The look-aheads, placed.
    pub checks: Vec<Check>,
}

/// Compiles `source` as Next.js does (`tokensToRegexp` with the default
/// options, case-sensitive).
pub(crate) fn compile(source: &str) -> Result<Compiled, SyntaxError> {
    let mut checks = Vec::new();
    let expression = translate(source, |leading, offset| {
        checks.extend(place(leading, offset)?);
        Ok(())
    })?;
    Ok(Compiled { expression, checks })
}

/// Whether [`compile`] splits look-aheads off `source` as checks, with its
/// errors except those of the checks' own regexes, which this does not build.
pub(crate) fn has_checks(source: &str) -> Result<bool, SyntaxError> {
    let mut found = false;
    translate(source, |_, _| {
        found = true;
        Ok(())
    })?;
    Ok(found)
}

/// The expression of `source`; `place` gets each group's leading
/// look-aheads with their byte offset.
fn translate(
    source: &str,
    mut place: impl FnMut(Vec<Leading>, usize) -> Result<(), SyntaxError>,
) -> Result<String, SyntaxError> {
    let mut expression = String::from("^");
    // The length in bytes of the text every match starts with; `None` once
    // a parameter came.
    let mut fixed = Some(0);
    for token in parse(source)? {
        let (prefix, suffix, matches, modifier) = match token {
            Token::Text(text) => {
                expression.push_str(&regex_lite::escape(&text));
                fixed = fixed.map(|n| n + text.len());
                continue;
            }
            Token::Key {
                prefix,
                suffix,
                matches,
                modifier,
                ..
            } => (prefix, suffix, matches, modifier),
        };
        let repeated = matches!(modifier, Some('*' | '+'));
        // Next.js's `tryToParsePath` gives such a parameter the prefix `/`
        // rather than failing ("Can not repeat without prefix and suffix").
        let prefix = if repeated && prefix.is_empty() && suffix.is_empty() {
            "/".to_owned()
        } else {
            prefix
        };
        let (pre, suf) = (regex_lite::escape(&prefix), regex_lite::escape(&suffix));
        let pattern = match matches {
            Matches::Nothing => {
                let modifier = modifier.map(String::from).unwrap_or_default();
                expression.push_str(&format!("(?:{pre}{suf}){modifier}"));
                fixed = None;
                continue;
            }
            Matches::Segment => "[^/#?]+?".to_owned(),
            Matches::SegmentWithout(text) => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => format!("[^/#?{}]+?", hex(c)),
                    _ => return Err(SyntaxError::LongTextBeforeParameter { text }),
                }
            }
            Matches::Custom(pattern) => {
                let pattern = to_regex_lite(&pattern);
                let (leading, rest) = split_leading(&pattern).map_err(SyntaxError::LookAhead)?;
                if !leading.is_empty() {
                    let offset = fixed
                        .filter(|_| modifier.is_none())
                        .ok_or(SyntaxError::LookAhead(Unsupported::NotFixed))?
                        + prefix.len();
                    place(leading, offset)?;
                }
                rest
            }
        };
        fixed = None;
        expression.push_str(&match modifier {
            Some(m @ ('*' | '+')) => {
                let optional = if m == '*' { "?" } else { "" };
                format!("(?:{pre}((?:{pattern})(?:{suf}{pre}(?:{pattern}))*){suf}){optional}")
            }
            Some(m) if !pre.is_empty() || !suf.is_empty() => {
                format!("(?:{pre}({pattern}){suf}){m}")
            }
            Some(m) => format!("({pattern}){m}"),
            None if !pre.is_empty() || !suf.is_empty() => format!("(?:{pre}({pattern}){suf})"),
            None => format!("({pattern})"),
        });
    }
    expression.push_str("[/#?]?$");
    Ok(expression)
}

fn place(leading: Vec<Leading>, offset: usize) -> Result<Vec<Check>, SyntaxError> {
    leading
        .into_iter()
        .map(|look| {
            look.at(offset)
                .map_err(|e| SyntaxError::Regex(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_path_to_regexp_s() {
        for (source, expected) in [
            ("/", "^/[/#?]?$"),
            ("/test/", "^/test/[/#?]?$"),
            ("/:test", "^(?:/([^/#?]+?))[/#?]?$"),
            ("/:test*", "^(?:/((?:[^/#?]+?)(?:/(?:[^/#?]+?))*))?[/#?]?$"),
            ("/:id(\\d+)?", "^(?:/(\\d+))?[/#?]?$"),
            ("/route.:ext", "^/route(?:\\.([^/#?\\x{2E}]+?))[/#?]?$"),
            ("/{a-}?b", "^/(?:a\\-)?b[/#?]?$"),
            (
                "/foo:x*",
                "^/foo(?:/((?:[^/#?]+?)(?:/(?:[^/#?]+?))*))?[/#?]?$",
            ),
        ] {
            assert_eq!(compile(source).unwrap().expression, expected, "{source}");
        }
    }

    #[test]
    fn has_checks_tells_look_aheads_without_compiling_them() {
        assert_eq!(has_checks("/((?!api|_next/static).*)"), Ok(true));
        assert_eq!(has_checks("/:path*"), Ok(false));
        assert_eq!(
            has_checks("/:id((?!new).*)"),
            compile("/:id((?!new).*)").map(|c| !c.checks.is_empty())
        );
        assert_eq!(
            has_checks("/(a"),
            compile("/(a").map(|c| !c.checks.is_empty())
        );
    }

    #[test]
    fn errors_are_path_to_regexp_s() {
        for (source, expected) in [
            (
                "/:foo(?:\\d+(\\.\\d+)?)",
                SyntaxError::PatternStartsWithQuestion { at: 6 },
            ),
            (
                "/:foo(\\d+(\\.\\d+)?)",
                SyntaxError::CapturingGroup { at: 9 },
            ),
            ("/:foo(abc", SyntaxError::Unbalanced { at: 5 }),
            ("/:foo()", SyntaxError::MissingPattern { at: 5 }),
            ("/:(test)", SyntaxError::MissingName { at: 1 }),
            (
                "/{a{b:foo}}",
                SyntaxError::Unexpected {
                    found: "OPEN",
                    at: 3,
                    expected: "CLOSE",
                },
            ),
            (
                "/foo?",
                SyntaxError::Unexpected {
                    found: "MODIFIER",
                    at: 4,
                    expected: "END",
                },
            ),
            (
                "/:x:y",
                SyntaxError::NoTextBetween {
                    after: "x".to_owned(),
                },
            ),
            (
                "/x\\",
                SyntaxError::Unexpected {
                    found: "ESCAPED_CHAR",
                    at: 2,
                    expected: "END",
                },
            ),
        ] {
            assert_eq!(compile(source).unwrap_err(), expected, "{source}");
        }
    }

    /// Deliberate difference: path-to-regexp checks, with a look-ahead,
    /// that `:b` in `/:a--:b` does not contain `--`; `regex-lite` cannot
    /// say that exactly, so the pattern is refused (a one-character text is
    /// exact, as a class).
    #[test]
    fn a_parameter_after_long_text_is_refused() {
        assert_eq!(
            compile("/:a--:b").unwrap_err(),
            SyntaxError::LongTextBeforeParameter {
                text: "--".to_owned()
            }
        );
        assert!(compile("/:a-:b").is_ok() && compile("/{foo:bar}").is_err());
    }
}
