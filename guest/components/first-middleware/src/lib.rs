//! Guards `/admin`: redirects unless `role=admin`, else tags the response; logs after.
#![cfg(target_arch = "wasm32")]

use edgeware::next::{Chain, Matcher, NextRequest, NextResponse};
use edgeware::prelude::*;

edgeware::next_middleware!(chain);

fn chain() -> Result<Chain<FetchEvent>> {
    Ok(Chain::new().route(Matcher::new(["/admin/:path*"])?, guard))
}

async fn guard(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    let path = req.next_url().pathname().to_owned();
    event.after(move || eprintln!("checked {path}"));
    if req.cookies().get("role") != Some("admin") {
        let mut url = req.next_url().clone();
        url.set_pathname("/");
        return NextResponse::redirect(&url.href());
    }
    let mut headers = req.headers().clone();
    headers.insert("x-role", HeaderValue::from_static("admin"));
    let mut res = NextResponse::next_with_request_headers(&headers);
    res.headers_mut()
        .insert("x-guarded", HeaderValue::from_static("1"));
    Ok(res)
}
