//! The matcher and the path normalization in front of it: never panic on
//! any pattern or path; the forms of a path always include the raw path and
//! its fully normalized form; a redirect target has no `\` and no `//`; and
//! an encoding of a protected path can never look public in every form.
#![no_main]

use edgeware::fuzzing::{path_forms, redirect_target};
use edgeware::next::Matcher;
use libfuzzer_sys::fuzz_target;

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
});
