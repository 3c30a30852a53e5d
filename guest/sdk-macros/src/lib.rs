//! The entry-point attributes of the `edgeware` SDK, re-exported as
//! `edgeware::middleware` and `edgeware::service`; see the SDK's docs.
//!
//! Each keeps the function it is put on as it is and adds the component's
//! export for it (`edgeware::__export!`), which depends on the target:
//! the `wasi:http` handler on wasm32 (WASI 0.3, or 0.2 with the SDK's `p2`
//! feature), and nothing but a check of the handler's signature elsewhere,
//! so that component crates build natively too.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Error, Expr, ItemFn, parse_macro_input};

/// The handler shapes `#[edgeware::middleware]` accepts.
const MIDDLEWARE_SHAPES: &str = "`#[edgeware::middleware]` goes on one of: \
    `async fn(&NextRequest, FetchEvent) -> Result<NextResponse>` (a Next.js middleware; \
    optionally `#[edgeware::middleware(matcher = [\"/path/:p*\", ...])]`), \
    `fn() -> Result<Chain<FetchEvent>>` (a chain of them), or \
    `async fn(Request, FetchEvent, NextHop) -> Result<Response>` (a handler that calls the next hop itself)";

/// Exports the function it is put on as the component's middleware
/// (`wasi:http/handler`, importing the next hop's `wasi:http/handler`).
///
/// - `async fn(&NextRequest, FetchEvent) -> Result<NextResponse>` (or with
///   `&mut NextRequest`): a Next.js middleware, run for every request, or for
///   those `matcher = [...]` matches (Next.js's `config.matcher`, patterns
///   as `edgeware::next::Matcher::new` takes them; a single string works
///   too);
/// - `fn() -> Result<Chain<FetchEvent>>`: builds the chain of middlewares an
///   instance runs (once, for its first request);
/// - `async fn(Request, FetchEvent, NextHop) -> Result<Response>`: a plain
///   handler that forwards with `NextHop::run` itself.
#[proc_macro_attribute]
pub fn middleware(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut matcher: Option<Expr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("matcher") {
            matcher = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("`#[edgeware::middleware]` takes one argument: `matcher = [...]`"))
        }
    });
    parse_macro_input!(attr with parser);
    let function = parse_macro_input!(item as ItemFn);
    expand_middleware(&function, matcher)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Exports the function it is put on as the component's origin
/// (`wasi:http/handler`, no next hop): an
/// `async fn(Request, FetchEvent) -> Result<Response>`.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    expand_service(attr.into(), &function)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand_middleware(function: &ItemFn, matcher: Option<Expr>) -> syn::Result<Tokens> {
    let name = &function.sig.ident;
    let is_async = function.sig.asyncness.is_some();
    let export = match (is_async, function.sig.inputs.len()) {
        (true, 2) => {
            let chain = match matcher {
                Some(Expr::Lit(single)) => quote! {
                    ::edgeware::next::Chain::new()
                        .route(::edgeware::next::Matcher::new([#single])?, #name)
                },
                Some(patterns) => quote! {
                    ::edgeware::next::Chain::new()
                        .route(::edgeware::next::Matcher::new(#patterns)?, #name)
                },
                None => quote! { ::edgeware::next::Chain::new().then(#name) },
            };
            quote! {
                ::edgeware::__export!(middleware, |request, event, next| {
                    ::edgeware::__serve_chain(request, event, next, || {
                        ::core::result::Result::Ok(#chain)
                    })
                });
            }
        }
        (false, 0) => {
            no_matcher(
                matcher.as_ref(),
                "a chain builder sets the matchers of its routes",
            )?;
            quote! {
                ::edgeware::__export!(middleware, |request, event, next| {
                    ::edgeware::__serve_chain(request, event, next, #name)
                });
            }
        }
        (true, 3) => {
            no_matcher(matcher.as_ref(), "a plain handler sees every request")?;
            quote! { ::edgeware::__export!(middleware, #name); }
        }
        _ => return Err(Error::new(function.sig.span(), MIDDLEWARE_SHAPES)),
    };
    Ok(quote! {
        #function
        #export
    })
}

fn expand_service(attr: Tokens, function: &ItemFn) -> syn::Result<Tokens> {
    if !attr.is_empty() {
        return Err(Error::new(
            attr.span(),
            "`#[edgeware::service]` takes no arguments",
        ));
    }
    if function.sig.asyncness.is_none() || function.sig.inputs.len() != 2 {
        return Err(Error::new(
            function.sig.span(),
            "`#[edgeware::service]` goes on an `async fn(Request, FetchEvent) -> Result<Response>`",
        ));
    }
    let name = &function.sig.ident;
    Ok(quote! {
        #function
        ::edgeware::__export!(service, #name);
    })
}

fn no_matcher(matcher: Option<&Expr>, why: &str) -> syn::Result<()> {
    match matcher {
        Some(matcher) => Err(Error::new(
            matcher.span(),
            format!("`matcher` goes with a Next.js middleware fn only: {why}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(source: &str) -> ItemFn {
        syn::parse_str(source).unwrap()
    }

    fn middleware_export(source: &str, matcher: Option<&str>) -> syn::Result<String> {
        let matcher = matcher.map(|m| syn::parse_str::<Expr>(m).unwrap());
        expand_middleware(&function(source), matcher).map(|tokens| tokens.to_string())
    }

    #[test]
    fn each_middleware_shape_gets_its_export() {
        let nextjs = middleware_export(
            "async fn guard(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> { todo!() }",
            Some(r#"["/admin/:path*"]"#),
        )
        .unwrap();
        assert!(nextjs.contains("__serve_chain"), "{nextjs}");
        assert!(
            nextjs.contains(r#"Matcher :: new (["/admin/:path*"]) ?"#),
            "{nextjs}"
        );
        assert!(nextjs.contains(", guard)"), "{nextjs}");

        let single = middleware_export(
            "async fn guard(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> { todo!() }",
            Some(r#""/admin""#),
        )
        .unwrap();
        assert!(
            single.contains(r#"Matcher :: new (["/admin"])"#),
            "{single}"
        );

        let everywhere = middleware_export(
            "async fn tag(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> { todo!() }",
            None,
        )
        .unwrap();
        assert!(
            everywhere.contains("Chain :: new () . then (tag)"),
            "{everywhere}"
        );

        let chain =
            middleware_export("fn chain() -> Result<Chain<FetchEvent>> { todo!() }", None).unwrap();
        assert!(
            chain.contains("__serve_chain (request , event , next , chain)"),
            "{chain}"
        );

        let handler = middleware_export(
            "async fn handle(req: Request, event: FetchEvent, next: NextHop) -> Result<Response> { todo!() }",
            None,
        )
        .unwrap();
        assert!(
            handler.contains("__export ! (middleware , handle)"),
            "{handler}"
        );
    }

    #[test]
    fn other_shapes_and_misplaced_matchers_are_errors() {
        let err = middleware_export("fn handle(req: Request) {}", None).unwrap_err();
        assert!(err.to_string().contains("goes on one of"), "{err}");
        let err = middleware_export(
            "fn chain() -> Result<Chain<FetchEvent>> { todo!() }",
            Some("[\"/\"]"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("a chain builder"), "{err}");

        let service = expand_service(
            Tokens::new(),
            &function(
                "async fn handle(req: Request, event: FetchEvent) -> Result<Response> { todo!() }",
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            service.contains("__export ! (service , handle)"),
            "{service}"
        );
        let err = expand_service(Tokens::new(), &function("fn handle() {}")).unwrap_err();
        assert!(
            err.to_string().contains("async fn(Request, FetchEvent)"),
            "{err}"
        );
    }
}
