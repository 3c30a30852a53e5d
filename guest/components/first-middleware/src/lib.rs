//! Guards `/admin`: redirects unless `role=admin`, else tags the response; logs after.
use edgeware::prelude::*;

#[edgeware::middleware(matcher = ["/admin/:path*"])]
async fn guard(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    let path = req.next_url().pathname().to_owned();
    event.after(move || eprintln!("checked {path}"));
    if req.cookies().get("role") != Some("admin") {
        return NextResponse::redirect(req.next_url().with_pathname("/"));
    }
    let mut headers = req.headers().clone();
    headers.insert("x-role", HeaderValue::from_static("admin"));
    let mut res = NextResponse::next_with_request_headers(&headers);
    res.headers_mut()
        .insert("x-guarded", HeaderValue::from_static("1"));
    Ok(res)
}
