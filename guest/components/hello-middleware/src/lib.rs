//! Adds `x-hello: edgeware` to every response and, one second after the
//! response has been sent, reports the request to `DEFERRED_URL` (if set) as
//! a small JSON `POST`.
use edgeware::prelude::*;

#[edgeware::middleware]
async fn hello(req: Request, event: FetchEvent, next: NextHop) -> Result<Response> {
    let report = serde_json::json!({ "requestId": event.request_id(), "path": req.uri().path() });
    event.wait_until(async move {
        edgeware::sleep(Duration::from_secs(1)).await;
        if let Some(url) = edgeware::env("DEFERRED_URL") {
            edgeware::post_json(&url, report.to_string()).await?;
        }
        Ok::<_, Error>(())
    });
    let mut res = next.run(req).await?;
    res.headers_mut()
        .insert("x-hello", HeaderValue::from_static("edgeware"));
    Ok(res)
}
