//! JavaScript regular expression syntax, as matcher sources and `has`
//! values are written, turned into `regex-lite` syntax where the two
//! differ in a way that matters for matchers: in a class, a `-` next to a
//! class escape (`[\w-.]`) is a literal `-` in JavaScript and an error in
//! `regex-lite`, so it is escaped.

/// Whether `c` after `\` is a class escape (`\d`, `\w`, `\s` and their
/// negations).
fn is_class_escape(c: char) -> bool {
    matches!(c, 'd' | 'D' | 'w' | 'W' | 's' | 'S')
}

/// `pattern` in `regex-lite` syntax (see the module docs).
pub(crate) fn to_regex_lite(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    // Whether the last item in the current class was a class escape.
    let mut after_class_escape = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = chars.get(i + 1).copied();
                out.push(c);
                out.extend(next);
                after_class_escape = in_class && next.is_some_and(is_class_escape);
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `^` and a `]` right after `[` belong to the class.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                after_class_escape = false;
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '-' if in_class => {
                let before_class_escape = chars.get(i + 1) == Some(&'\\')
                    && chars.get(i + 2).copied().is_some_and(is_class_escape);
                if after_class_escape || before_class_escape {
                    out.push_str("\\-");
                } else {
                    out.push(c);
                }
                after_class_escape = false;
            }
            _ => {
                out.push(c);
                after_class_escape = false;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_next_to_class_escapes_are_literal() {
        for (js, lite) in [
            (r"[\w-.]+", r"[\w\-.]+"),
            (r"[.-\d]", r"[.\-\d]"),
            (r"[a-z\d-]", r"[a-z\d\-]"),
            (r"[^\s-x]", r"[^\s\-x]"),
            (r"\w-\d", r"\w-\d"),
            (r"[\]-a]", r"[\]-a]"),
        ] {
            assert_eq!(to_regex_lite(js), lite, "{js}");
        }
    }
}
