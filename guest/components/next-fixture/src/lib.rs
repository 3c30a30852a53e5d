//! A two-step Next.js-style chain for end-to-end tests. Step one registers a
//! deferred task, sets `x-chain: 1` on the response and continues; step two
//! registers another task, then does what `?do=` says: `next`, `override`
//! (request headers + `x-injected: yes`, minus `x-drop`), `rewrite` (to
//! `/rewritten?from=fixture`), `external` (rewrite to `?url=`), `redirect`
//! (to `/elsewhere`), `json`, `geo` (answers `{"request": ..., "event": ...}`
//! with `NextRequest::geo` and `FetchEvent::geo`, `null` when unknown),
//! `error` or `panic`.

use edgeware::Geo;
use edgeware::next::Chain;
use edgeware::prelude::*;

#[edgeware::middleware]
fn chain() -> Result<Chain<FetchEvent>> {
    Ok(Chain::new().then(first).then(second))
}

async fn first(_req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    event.wait_until(async {});
    let mut res = NextResponse::next();
    res.headers_mut()
        .insert("x-chain", HeaderValue::from_static("1"));
    Ok(res)
}

async fn second(req: &NextRequest, event: FetchEvent) -> Result<NextResponse> {
    event.wait_until(async {});
    let params = req.next_url().search_params();
    match params.get("do").unwrap_or("next") {
        "override" => {
            let mut headers = req.headers().clone();
            headers.remove("x-drop");
            headers.insert("x-injected", HeaderValue::from_static("yes"));
            Ok(NextResponse::next_with_request_headers(&headers))
        }
        "rewrite" => NextResponse::rewrite("/rewritten?from=fixture"),
        "external" => NextResponse::rewrite(params.get("url").unwrap_or("")),
        "redirect" => NextResponse::redirect("/elsewhere"),
        "json" => NextResponse::json(&serde_json::json!({ "from": "fixture" }), StatusCode::OK),
        "geo" => {
            let told = serde_json::json!({
                "request": req.geo().map(geo_json),
                "event": event.geo().as_ref().map(geo_json),
            });
            NextResponse::json(&told, StatusCode::OK)
        }
        "error" => Err(Error::msg("next-fixture failed")),
        "panic" => panic!("next-fixture panicked"),
        _ => Ok(NextResponse::next()),
    }
}

fn geo_json(geo: &Geo) -> serde_json::Value {
    serde_json::json!({
        "city": geo.city,
        "country": geo.country,
        "region": geo.region,
        "latitude": geo.latitude,
        "longitude": geo.longitude,
    })
}
