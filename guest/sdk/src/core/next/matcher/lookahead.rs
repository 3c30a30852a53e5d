//! Look-ahead (`(?=...)`, `(?!...)`) in matcher patterns, which `regex-lite`
//! lacks, rewritten exactly into checks it can run.
//!
//! Two positions can be rewritten without changing what matches:
//!
//! - **At a fixed offset.** A look-ahead that opens a group (or a `has`
//!   value) and has only literal text before it sits at a known byte offset
//!   of every path the whole pattern matches. It is checked on its own:
//!   `/((?!api|_next/static).*)` matches a path when `/(.*)` does and the
//!   text after the first `/` does not start with a match of
//!   `api|_next/static`.
//! - **Last in a look-ahead's body.** A look-ahead's body is only ever
//!   matched against a prefix of the rest of the path, so a look-ahead that
//!   comes last inside it may consume what it looks at: `(?=x)` becomes `x`,
//!   and `(?!on)` (literal alternatives only) becomes "end of text, or text
//!   that does not start with `on`", `(?:$|[^o]|o(?:$|[^n]))`. This is what
//!   Clerk's matcher needs (`js(?!on)` in `(?!_next|[^?]*\.(?:...|js(?!on)))`).
//!
//! Anything else (look-behind, a look-ahead after a parameter, after other
//! text in its group or under a quantifier, a group whose top level has `|`
//! next to a look-ahead, `^` or a word boundary inside a look-ahead, which
//! would not see the text before the offset, inline flags) is a clear error,
//! never a silent approximation.

use std::collections::BTreeMap;
use std::fmt;

use regex_lite::Regex;

/// Why a pattern's look-ahead cannot be rewritten exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// `(?<=...)` or `(?<!...)`.
    LookBehind,
    /// A look-ahead after a parameter or another group: its offset varies.
    NotFixed,
    /// A look-ahead after other text of its group.
    NotFirst,
    /// A look-ahead whose group has `|` at its top level.
    Alternatives,
    /// A look-ahead inside a look-ahead that is not its last part.
    NotLast,
    /// A quantified look-ahead, or one inside a quantified group.
    Quantified,
    /// A negative look-ahead inside a look-ahead whose body is not a list of
    /// literal alternatives.
    NotLiteral,
    /// Inline flags (`(?i)`, `(?x:...)`) next to a look-ahead.
    Flags,
    /// `^`, `\A` or a word boundary inside a look-ahead: checked on the rest
    /// of the text, it would not see what comes before.
    LooksBack,
    /// Unbalanced parentheses or brackets, or a dangling `\`.
    Syntax,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LookBehind => "look-behind is not supported",
            Self::NotFixed => {
                "a look-ahead must be at a fixed offset: only literal text may come \
                 before its group, and the group takes no modifier"
            }
            Self::NotFirst => "a look-ahead must come first in its group",
            Self::Alternatives => {
                "a group that starts with a look-ahead may not have `|` at its top level"
            }
            Self::NotLast => "a look-ahead inside a look-ahead must come last in it",
            Self::Quantified => "a look-ahead may not be repeated or inside a repeated group",
            Self::NotLiteral => {
                "a negative look-ahead inside a look-ahead may only list literal alternatives"
            }
            Self::Flags => "inline flags are not supported next to a look-ahead",
            Self::LooksBack => {
                "`^`, `\\A` and word boundaries are not supported inside a look-ahead"
            }
            Self::Syntax => "unbalanced parentheses or brackets, or a dangling \\",
        })
    }
}

/// A regular expression and the look-aheads split off it, each checked at a
/// fixed byte offset of the text the expression matched.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    checks: Vec<Check>,
}

impl Pattern {
    /// `regex` plus `checks`.
    pub(crate) fn new(regex: Regex, checks: Vec<Check>) -> Self {
        Self { regex, checks }
    }

    /// The expression, for tests that compare it with Next.js's.
    #[cfg(test)]
    pub(crate) fn expression(&self) -> &str {
        self.regex.as_str()
    }

    /// Whether `text` matches the expression and every look-ahead holds.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
            && self.checks.iter().all(|check| {
                text.get(check.offset..)
                    .is_some_and(|rest| check.prefix.is_match(rest) != check.negative)
            })
    }
}

/// One look-ahead, compiled: whether a match of its body starts the rest of
/// the text at its offset must (positive) or must not (negative) hold.
#[derive(Debug)]
pub(crate) struct Check {
    offset: usize,
    negative: bool,
    prefix: Regex,
}

/// A look-ahead split off the start of a group, not yet placed.
#[derive(Debug)]
pub(crate) struct Leading {
    negative: bool,
    /// `^(?:body)`, with the body's own trailing look-aheads rewritten.
    prefix: String,
}

impl Leading {
    /// Places the look-ahead at byte `offset`; fails if its body is not a
    /// valid expression.
    pub(crate) fn at(self, offset: usize) -> Result<Check, regex_lite::Error> {
        Ok(Check {
            offset,
            negative: self.negative,
            prefix: super::regex(&self.prefix)?,
        })
    }
}

/// Splits the look-aheads off the start of a group's expression: returns
/// them and the rest of the expression. An expression without look-around
/// comes back unchanged with none.
pub(crate) fn split_leading(group: &str) -> Result<(Vec<Leading>, String), Unsupported> {
    if !["(?=", "(?!", "(?<=", "(?<!"]
        .iter()
        .any(|syntax| group.contains(syntax))
    {
        return Ok((Vec::new(), group.to_owned()));
    }
    let alternatives = Parser::new(group).parse()?;
    if !alternatives.iter().flatten().any(Item::has_look) {
        return Ok((Vec::new(), group.to_owned()));
    }
    if alternatives.iter().flatten().any(Item::has_flags) {
        return Err(Unsupported::Flags);
    }
    let [sequence] = alternatives.as_slice() else {
        return Err(Unsupported::Alternatives);
    };
    let first_other = sequence
        .iter()
        .position(|item| !matches!(item, Item::Look { .. }))
        .unwrap_or(sequence.len());
    let (looks, rest) = sequence.split_at(first_other);
    if rest.iter().any(Item::has_look) {
        return Err(Unsupported::NotFirst);
    }
    if looks.iter().any(Item::looks_back) {
        return Err(Unsupported::LooksBack);
    }
    let leading = looks
        .iter()
        .map(|look| match look {
            Item::Look {
                negative,
                body,
                quantifier,
            } if quantifier.is_empty() => Ok(Leading {
                negative: *negative,
                prefix: format!("^(?:{})", prefix_form(body)?),
            }),
            _ => Err(Unsupported::Quantified),
        })
        .collect::<Result<_, _>>()?;
    Ok((leading, emit_sequence(rest)))
}

/// Alternatives, each a sequence of items.
type Alternatives = Vec<Vec<Item>>;

/// A parsed piece of an expression, kept with its source text.
#[derive(Debug)]
enum Item {
    /// A literal, an escape, a class, `.` or an anchor, with its quantifier;
    /// `literal` is the character it matches if it is one plain character.
    Atom { text: String, literal: Option<char> },
    /// A group: its opening (`(`, `(?:`, `(?P<name>`, `(?i:`), body and
    /// quantifier.
    Group {
        open: String,
        body: Alternatives,
        quantifier: String,
    },
    /// `(?=body)` or `(?!body)`, with a quantifier if one follows.
    Look {
        negative: bool,
        body: Alternatives,
        quantifier: String,
    },
}

impl Item {
    fn has_look(&self) -> bool {
        match self {
            Self::Atom { .. } => false,
            Self::Look { .. } => true,
            Self::Group { body, .. } => body.iter().flatten().any(Self::has_look),
        }
    }

    /// Whether the item has an assertion about the text before it (`^`,
    /// `\A`, `\b`, `\B`, `\<`, `\>`).
    fn looks_back(&self) -> bool {
        match self {
            Self::Atom { text, .. } => ["^", "\\A", "\\b", "\\B", "\\<", "\\>"]
                .iter()
                .any(|assertion| text.starts_with(assertion)),
            Self::Group { body, .. } | Self::Look { body, .. } => {
                body.iter().flatten().any(Self::looks_back)
            }
        }
    }

    fn has_flags(&self) -> bool {
        match self {
            Self::Atom { text, .. } => text.starts_with("(?"),
            Self::Look { body, .. } => body.iter().flatten().any(Self::has_flags),
            Self::Group { open, body, .. } => {
                let named = open.starts_with("(?P<") || open.starts_with("(?<");
                (open.starts_with("(?") && open != "(?:" && !named)
                    || body.iter().flatten().any(Self::has_flags)
            }
        }
    }
}

/// The source text of `sequence`.
fn emit_sequence(sequence: &[Item]) -> String {
    let mut out = String::new();
    for item in sequence {
        emit_item(item, &mut out);
    }
    out
}

/// Appends the source text of `item` to `out`.
fn emit_item(item: &Item, out: &mut String) {
    let (open, body, quantifier) = match item {
        Item::Atom { text, .. } => return out.push_str(text),
        Item::Group {
            open,
            body,
            quantifier,
        } => (open.as_str(), body, quantifier),
        Item::Look {
            negative,
            body,
            quantifier,
        } => (if *negative { "(?!" } else { "(?=" }, body, quantifier),
    };
    out.push_str(open);
    out.push_str(&emit(body));
    out.push(')');
    out.push_str(quantifier);
}

/// The source text of `alternatives`.
fn emit(alternatives: &Alternatives) -> String {
    let sequences: Vec<String> = alternatives.iter().map(|s| emit_sequence(s)).collect();
    sequences.join("|")
}

/// `alternatives` for matching a prefix of a text (the body of a look-ahead):
/// look-aheads that come last are rewritten to consume what they look at.
fn prefix_form(alternatives: &Alternatives) -> Result<String, Unsupported> {
    let mut sequences = Vec::with_capacity(alternatives.len());
    for sequence in alternatives {
        let mut out = String::new();
        for (index, item) in sequence.iter().enumerate() {
            let last = index + 1 == sequence.len();
            match item {
                Item::Group {
                    open,
                    body,
                    quantifier,
                } if item.has_look() => {
                    if !quantifier.is_empty() {
                        return Err(Unsupported::Quantified);
                    }
                    if !last {
                        return Err(Unsupported::NotLast);
                    }
                    out.push_str(open);
                    out.push_str(&prefix_form(body)?);
                    out.push(')');
                }
                Item::Look {
                    negative,
                    body,
                    quantifier,
                } => {
                    if !quantifier.is_empty() {
                        return Err(Unsupported::Quantified);
                    }
                    if !last {
                        return Err(Unsupported::NotLast);
                    }
                    if *negative {
                        out.push_str(&not_starting_with(&literals(body)?)?);
                    } else {
                        out.push_str(&format!("(?:{})", prefix_form(body)?));
                    }
                }
                _ => emit_item(item, &mut out),
            }
        }
        sequences.push(out);
    }
    Ok(sequences.join("|"))
}

/// Most strings a literal look-ahead body may expand to (`(?:a|b)(?:c|d)`
/// is four); more is refused rather than compiled into a huge expression.
const MAX_LITERALS: usize = 256;

/// The strings `alternatives` matches, if it is made of literal characters
/// and unquantified groups of them only.
fn literals(alternatives: &Alternatives) -> Result<Vec<String>, Unsupported> {
    let mut all = Vec::new();
    for sequence in alternatives {
        let mut strings = vec![String::new()];
        for item in sequence {
            let options = match item {
                Item::Atom {
                    literal: Some(c), ..
                } => vec![c.to_string()],
                Item::Group {
                    body, quantifier, ..
                } if quantifier.is_empty() => literals(body)?,
                _ => return Err(Unsupported::NotLiteral),
            };
            strings = strings
                .iter()
                .flat_map(|s| options.iter().map(move |o| format!("{s}{o}")))
                .collect();
            if strings.len() > MAX_LITERALS {
                return Err(Unsupported::NotLiteral);
            }
        }
        all.extend(strings);
        if all.len() > MAX_LITERALS {
            return Err(Unsupported::NotLiteral);
        }
    }
    Ok(all)
}

/// A trie of literal strings; `end` marks where one of them ends.
#[derive(Default)]
struct Trie {
    end: bool,
    next: BTreeMap<char, Trie>,
}

/// An expression that matches, at the start of a text, exactly when the
/// text does not start with any of `strings`: the end of the text, or a
/// character that continues none of them, or one that continues some
/// without completing any, followed by the same for the rest.
fn not_starting_with(strings: &[String]) -> Result<String, Unsupported> {
    let mut trie = Trie::default();
    for string in strings {
        let mut node = &mut trie;
        for c in string.chars() {
            node = node.next.entry(c).or_default();
        }
        node.end = true;
    }
    if trie.end {
        // `(?!)` with an empty alternative never holds.
        return Err(Unsupported::NotLiteral);
    }
    Ok(trie_complement(&trie))
}

fn trie_complement(node: &Trie) -> String {
    let class: String = node.next.keys().map(|c| hex(*c)).collect();
    let mut out = format!("(?:$|[^{class}]");
    for (c, child) in &node.next {
        if !child.end {
            out.push('|');
            out.push_str(&hex(*c));
            out.push_str(&trie_complement(child));
        }
    }
    out.push(')');
    out
}

/// `c` as an escape that means `c` inside and outside classes.
fn hex(c: char) -> String {
    format!("\\x{{{:X}}}", u32::from(c))
}

/// A parser for the structure of a `regex-lite` expression: groups,
/// alternatives, classes, escapes and quantifiers; everything else is kept
/// as text.
struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn new(source: &str) -> Self {
        Self {
            chars: source.chars().collect(),
            at: 0,
        }
    }

    fn parse(mut self) -> Result<Alternatives, Unsupported> {
        let alternatives = self.alternatives(0)?;
        if self.at < self.chars.len() {
            return Err(Unsupported::Syntax);
        }
        Ok(alternatives)
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
    }

    fn take(&mut self, count: usize) -> String {
        let end = (self.at + count).min(self.chars.len());
        let text = self.chars[self.at..end].iter().collect();
        self.at = end;
        text
    }

    /// Alternatives up to the end of the text (`depth` 0) or the `)` that
    /// closes the current group (left unconsumed).
    fn alternatives(&mut self, depth: usize) -> Result<Alternatives, Unsupported> {
        let mut alternatives = vec![Vec::new()];
        while let Some(c) = self.peek(0) {
            match c {
                ')' if depth > 0 => break,
                ')' => return Err(Unsupported::Syntax),
                '|' => {
                    self.at += 1;
                    alternatives.push(Vec::new());
                }
                _ => {
                    let item = self.item(depth)?;
                    if let Some(sequence) = alternatives.last_mut() {
                        sequence.push(item);
                    }
                }
            }
        }
        Ok(alternatives)
    }

    fn item(&mut self, depth: usize) -> Result<Item, Unsupported> {
        if self.peek(0) == Some('(') {
            return self.group(depth);
        }
        let (text, literal) = match self.peek(0) {
            Some('[') => (self.class()?, None),
            Some('\\') => self.escape()?,
            Some('.' | '^' | '$' | '*' | '+' | '?' | '{' | '}' | ']') => (self.take(1), None),
            Some(c) => (self.take(1), Some(c)),
            None => return Err(Unsupported::Syntax),
        };
        let quantifier = self.quantifier();
        Ok(Item::Atom {
            literal: literal.filter(|_| quantifier.is_empty()),
            text: text + &quantifier,
        })
    }

    fn group(&mut self, depth: usize) -> Result<Item, Unsupported> {
        let look = if self.starts_with("(?=") {
            Some(false)
        } else if self.starts_with("(?!") {
            Some(true)
        } else if self.starts_with("(?<=") || self.starts_with("(?<!") {
            return Err(Unsupported::LookBehind);
        } else {
            None
        };
        let open = if look.is_some() {
            self.take(3)
        } else if self.starts_with("(?") {
            // `(?:`, `(?P<name>`, `(?<name>`, or flags `(?i)` / `(?i:`.
            let close = (self.at..self.chars.len())
                .find(|&i| matches!(self.chars[i], ':' | ')' | '>'))
                .ok_or(Unsupported::Syntax)?;
            let open = self.take(close + 1 - self.at);
            if open.ends_with(')') {
                // Flags for the rest of the enclosing group: no body.
                return Ok(Item::Atom {
                    text: open,
                    literal: None,
                });
            }
            open
        } else {
            self.take(1)
        };
        let body = self.alternatives(depth + 1)?;
        if self.peek(0) != Some(')') {
            return Err(Unsupported::Syntax);
        }
        self.at += 1;
        let quantifier = self.quantifier();
        Ok(match look {
            Some(negative) => Item::Look {
                negative,
                body,
                quantifier,
            },
            None => Item::Group {
                open,
                body,
                quantifier,
            },
        })
    }

    /// `[...]`, nested classes and escapes included.
    fn class(&mut self) -> Result<String, Unsupported> {
        let start = self.at;
        let mut depth = 0;
        loop {
            let c = self.peek(0).ok_or(Unsupported::Syntax)?;
            self.at += 1;
            match c {
                '\\' => {
                    self.peek(0).ok_or(Unsupported::Syntax)?;
                    self.at += 1;
                }
                '[' => {
                    depth += 1;
                    // A `]` right after `[` or `[^` is a literal.
                    if self.peek(0) == Some('^') {
                        self.at += 1;
                    }
                    if self.peek(0) == Some(']') {
                        self.at += 1;
                    }
                }
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    /// An escape, and the character it matches if it is an escaped
    /// punctuation character.
    fn escape(&mut self) -> Result<(String, Option<char>), Unsupported> {
        let c = self.peek(1).ok_or(Unsupported::Syntax)?;
        let length = match c {
            'x' | 'u' | 'U' | 'p' | 'P' | 'b' | 'B' if self.peek(2) == Some('{') => {
                let close = (self.at + 2..self.chars.len())
                    .find(|&i| self.chars[i] == '}')
                    .ok_or(Unsupported::Syntax)?;
                close + 1 - self.at
            }
            'x' => 4,
            'u' => 6,
            'U' => 10,
            _ => 2,
        };
        let literal = (c.is_ascii_punctuation() && c != '<' && c != '>').then_some(c);
        Ok((self.take(length), literal))
    }

    /// `*`, `+`, `?` or `{n}`, `{n,}`, `{n,m}`, each optionally lazy (`?`);
    /// empty if none follows.
    fn quantifier(&mut self) -> String {
        let length = match self.peek(0) {
            Some('*' | '+' | '?') => 1,
            Some('{') => {
                let mut i = 1;
                let mut comma = false;
                loop {
                    match self.peek(i) {
                        Some(d) if d.is_ascii_digit() => i += 1,
                        Some(',') if !comma && i > 1 => {
                            comma = true;
                            i += 1;
                        }
                        Some('}') if i > 1 => break i + 1,
                        _ => break 0,
                    }
                }
            }
            _ => 0,
        };
        let mut quantifier = self.take(length);
        if length > 0 && self.peek(0) == Some('?') {
            quantifier.push_str(&self.take(1));
        }
        quantifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string over `alphabet` up to `length` characters.
    fn strings(alphabet: &[char], length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..length {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn complement_of_literals_is_exact() {
        let texts = strings(&['a', 'b', 'o', 'n', '.', '\n'], 4);
        for set in [
            &["on"][..],
            &["a", "ab"],
            &["ab", "an", "b"],
            &["o.n", "."],
            &["\n"],
        ] {
            let set: Vec<String> = set.iter().map(|s| (*s).to_owned()).collect();
            let regex = Regex::new(&format!("^{}", not_starting_with(&set).unwrap())).unwrap();
            for text in &texts {
                let expected = !set.iter().any(|s| text.starts_with(s.as_str()));
                assert_eq!(regex.is_match(text), expected, "{set:?} on {text:?}");
            }
        }
        assert_eq!(
            not_starting_with(&[String::new()]),
            Err(Unsupported::NotLiteral)
        );
    }

    #[test]
    fn assertions_about_earlier_text_are_refused_in_lookaheads() {
        for body in [r"^a", r"\Aa", r"a\b", r"(?:x|\By)", r"a(?!\<)", r"a(?=\>)"] {
            let error = split_leading(&format!("(?!{body}).*")).unwrap_err();
            assert_eq!(error, Unsupported::LooksBack, "{body}");
        }
        // Outside look-aheads they are checked on the whole text: kept.
        let (leading, rest) = split_leading(r"(?!a)\b.*$").unwrap();
        assert_eq!((leading.len(), rest.as_str()), (1, r"\b.*$"));
        assert!(split_leading(r"(?![\^a]).*").is_ok());
    }

    #[test]
    fn trailing_lookaheads_consume_in_a_prefix() {
        let prefix = |body: &str| {
            let (leading, rest) = split_leading(&format!("(?!{body})")).unwrap();
            assert!(rest.is_empty());
            Regex::new(&leading[0].prefix).unwrap()
        };
        let js = prefix(r"[^?]*\.(?:css|js(?!on))");
        for (text, starts) in [
            ("a.js", true),
            ("a.jsx", true),
            ("a.jso", true),
            ("a.json", false),
            ("a.json.js", true),
            ("a.json?x.js", false),
            ("a.css/b", true),
        ] {
            assert_eq!(js.is_match(text), starts, "{text}");
        }
        let positive = prefix("v(?=[0-9])");
        assert!(positive.is_match("v1") && !positive.is_match("vx") && !positive.is_match("v"));
        let grouped = prefix("a(?!(?:b|c)(?:d|e))");
        for (text, starts) in [("abd", false), ("ace", false), ("abf", true), ("a", true)] {
            assert_eq!(grouped.is_match(text), starts, "{text}");
        }
    }

    #[test]
    fn the_rest_of_the_group_is_kept_as_written() {
        for rest in [
            r".*",
            r"[^?]*\.(?:html?|css)",
            r"[]a\]][^]b]{2,3}?\x41\x{42}\u0043(?:(?P<n>d)|(?<m>e))",
            r"[[:alpha:]&&[^x]]+",
            r"a{,2}\d\(\)",
        ] {
            let (leading, kept) = split_leading(&format!("(?!x)(?=y){rest}")).unwrap();
            assert_eq!(leading.len(), 2);
            assert_eq!(kept, rest);
        }
        let (none, same) = split_leading(r"\(?!x[(?!]").unwrap();
        assert!(none.is_empty());
        assert_eq!(same, r"\(?!x[(?!]");
    }

    #[test]
    fn checks_hold_at_their_offset_only() {
        let (leading, rest) = split_leading("(?!api)(?!x).*").unwrap();
        let checks = leading
            .into_iter()
            .map(|look| look.at(1))
            .collect::<Result<_, _>>()
            .unwrap();
        let pattern = Pattern::new(Regex::new(&format!("^/({rest})$")).unwrap(), checks);
        assert!(pattern.is_match("/") && pattern.is_match("/ap") && pattern.is_match("/yapi"));
        assert!(!pattern.is_match("/api") && !pattern.is_match("/x") && !pattern.is_match("a"));
    }
}
