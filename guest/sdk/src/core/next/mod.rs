//! The Next.js middleware contract (`next/server`'s `spec-extension`) in
//! Rust: [`NextRequest`], [`NextResponse`], cookie jars, [`NextUrl`],
//! [`Matcher`] and [`Chain`].

// The chain runs inside components (sys/p3); natively only tests drive it.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub(crate) mod chain;
pub(crate) mod cookies;
pub(crate) mod matcher;
pub(crate) mod request;
pub(crate) mod response;
#[cfg(test)]
mod upstream_tables;
pub(crate) mod url;

pub use crate::core::geo::Geo;
pub use chain::{ByMut, ByRef, Chain, Handler, HandlerFuture};
pub use cookies::{Priority, RequestCookies, ResponseCookie, ResponseCookies, SameSite};
pub use matcher::{Has, Matcher};
pub use request::{NextRequest, RequestCookiesMut};
pub use response::{IntoRedirectUrl, NextResponse};
pub use url::{NextUrl, SearchParams, UrlConfig};
