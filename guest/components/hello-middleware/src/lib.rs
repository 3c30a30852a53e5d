//! Adds `x-hello: edgeware` to every response and, one second after the
//! response has been sent, reports the request to `DEFERRED_URL` (if set) as
//! a small JSON `POST`.
#![cfg(target_arch = "wasm32")]

use edgeware::prelude::*;

edgeware::middleware!(handle);

async fn handle(req: Request, event: FetchEvent, next: Next) -> Result<Response> {
    let path = req.uri().path().to_owned();
    let reporter = event.clone();
    event.wait_until(async move { Ok(report(&reporter, path).await?) });

    let mut res = next.run(req).await?;
    res.headers_mut()
        .insert("x-hello", HeaderValue::from_static("edgeware"));
    Ok(res)
}

/// The deferred task: sleep, then tell `DEFERRED_URL` about the request.
async fn report(event: &FetchEvent, path: String) -> Result<()> {
    edgeware::sleep(Duration::from_secs(1)).await;
    let Some(url) = edgeware::env("DEFERRED_URL") else {
        return Ok(());
    };
    let body = serde_json::json!({ "requestId": event.request_id(), "path": path });
    edgeware::post_json(&url, body.to_string()).await?;
    Ok(())
}
