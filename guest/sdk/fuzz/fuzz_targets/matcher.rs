//! The matcher and the path normalization in front of it: never panic on
//! any pattern or path; the forms of a path always include the raw path and
//! its fully normalized form; a redirect target has no `\` and no `//`; an
//! encoding of a protected path can never look public in every form; the
//! Next.js docs' look-ahead matcher means what it says on every form and
//! on the rest of a data URL (`/_next/data/<build>/...`), as Next.js
//! compiles it; and a protected page's data and RSC URLs run its guard.
#![no_main]

use std::sync::LazyLock;

use edgeware::fuzzing::{path_forms, redirect_target};
use edgeware::next::Matcher;
use libfuzzer_sys::fuzz_target;

/// The matcher of the Next.js middleware docs.
static NEXT_DOCS: LazyLock<Matcher> = LazyLock::new(|| {
    Matcher::new(["/((?!api|_next/static|_next/image|favicon.ico).*)"]).unwrap()
});

/// What [`NEXT_DOCS`] means for one form of a path, read directly: after the
/// first `/`, any text (our `.` also matches a line break) that does not
/// start with `api`, `_next/static`, `_next/image` or `favicon`, any
/// character, `ico`.
fn next_docs(form: &str) -> bool {
    let Some(rest) = form.strip_prefix('/') else {
        return false;
    };
    let favicon = rest.strip_prefix("favicon").is_some_and(|tail| {
        let mut chars = tail.chars();
        chars.next().is_some() && chars.as_str().starts_with("ico")
    });
    !favicon
        && !["api", "_next/static", "_next/image"]
            .iter()
            .any(|skipped| rest.starts_with(skipped))
}

/// The rest of a data URL after `/_next/data/<build>` when it starts with
/// `/`: what a look-ahead source is also matched against.
fn data_rest(form: &str) -> Option<&str> {
    let after = form.strip_prefix("/_next/data/")?;
    let slash = after.find('/').filter(|&at| at > 0)?;
    Some(&after[slash..])
}

/// [`NEXT_DOCS`] on one form, with Next.js's data-URL prefix.
fn next_docs_wrapped(form: &str) -> bool {
    next_docs(form) || data_rest(form).is_some_and(next_docs)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, path) = text.split_once('\n').unwrap_or(("/:path*", text));
    if let Ok(matcher) = Matcher::new([pattern]) {
        let _ = matcher.matches_path(path);
        if let Ok(matcher) = matcher.except([path]) {
            let _ = matcher.matches_path(pattern);
        }
    }
    if let Some(target) = redirect_target(path) {
        assert!(
            !target.contains('\\') && !target.contains("//"),
            "{target:?}"
        );
    }
    let Ok(forms) = path_forms(path) else {
        return;
    };
    assert_eq!(forms[0], path);
    // The auth middleware's shape: everything except public routes.
    let public = ["/", "/sign-in", "/static/:path*", "/favicon.ico"];
    let guard = Matcher::all().except(public).unwrap();
    let protected = Matcher::new(["/admin/:path*"]).unwrap();
    let protected_form = forms.iter().any(|f| protected.matches_path(f));
    if protected_form {
        assert!(
            forms.iter().any(|f| guard.matches_path(f)),
            "{path:?} reaches /admin but skips the guard: {forms:?}"
        );
    }
    assert_eq!(
        NEXT_DOCS.matches_path(path),
        forms.iter().any(|f| next_docs_wrapped(f)),
        "{path:?}: {forms:?}"
    );
    // Its data and RSC URLs are the same page: they run the guard too.
    if let Some(page) = path.strip_prefix("/admin") {
        let page = page.trim_end_matches('/');
        for form in [
            format!("/_next/data/build/admin{page}.json"),
            format!("/admin{page}.rsc"),
            format!("/admin{page}.segments/_tree.segment.rsc"),
        ] {
            let under = page.is_empty() || page.starts_with('/');
            if under && !page.contains(['?', '#', '%', '\\', '.', ';']) && !form.contains("//") {
                assert!(guard.matches_path(&form), "{form:?} skips the guard");
                assert!(protected.matches_path(&form), "{form:?} is not /admin");
            }
        }
    }
    // The same guard written as Next.js users do, line breaks included.
    if protected_form {
        assert!(
            NEXT_DOCS.matches_path(path),
            "{path:?} reaches /admin but skips the look-ahead guard: {forms:?}"
        );
    }
});
