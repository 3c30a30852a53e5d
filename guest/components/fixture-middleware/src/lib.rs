//! A middleware for end-to-end tests of hosts, driven by query parameters:
//!
//! - `task=ok|reject|never|sleep|spin|panic`: registers deferred tasks that
//!   fulfil at once, reject with `fixture rejected`, never settle, sleep `ms`
//!   milliseconds and then (with `url=...`) `POST` a JSON report
//!   (`{"requestId": ..., "task": <index>}`) to `url`, sleep `ms`
//!   milliseconds and then compute forever without yielding, or sleep `ms`
//!   milliseconds and then panic (the instance traps inside a deferred task);
//! - `ms=A,B,...`: task `i` sleeps the `i`-th value (the last one for the
//!   rest), so one request can mix fast and slow tasks;
//! - `count=N`: registers N such tasks (default 1);
//! - `late=1`: each task, once its work is done and right before it settles,
//!   registers one more task of the same kind (a late registration);
//! - `pass=1`: calls `pass_through_on_exception()` first;
//! - `after=URL`: registers an `after` closure that, once the response has
//!   been sent, registers a deferred task that `POST`s
//!   `{"requestId": ..., "task": "after"}` to `URL`;
//! - `fail=error|panic|spin|oom`: after registering, `handle` returns an
//!   error, panics (the instance traps), computes forever, or allocates until
//!   memory runs out, instead of calling the next handler;
//! - `wait=MS`: the handler sleeps MS milliseconds before answering;
//! - `fetch=URL`: before calling the next handler, sends a GET to `URL` and
//!   reports the outcome in `x-fixture-fetch` (the status, or `error: ...`
//!   and, in `x-fixture-fetch-error`, the error's HTTP status and the
//!   `wasi:http` error code it wraps: `status=403 code=ErrorCode::HttpRequestDenied`,
//!   `none` for either when it has none);
//! - `env=NAME`: reports the guest environment variable `NAME` in
//!   `x-fixture-env` (`unset` if it is not set);
//! - `read=1`: reads the whole request body and answers itself with its
//!   size (`N bytes`); a body that fails to arrive (too large, cut off)
//!   fails the request with the host's error code;
//! - `body=N`: answers itself with `N` bytes of `x` (`text/plain`) instead of
//!   calling the next handler (with `task=panic`, a large body and a slow
//!   reader, the instance traps while the body is being sent).
//!
//! Otherwise it calls the next handler and returns its response with
//! `x-fixture: 1` and `x-fixture-tasks: <tasks registered>`.

use edgeware::prelude::*;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ok,
    Reject,
    Never,
    Sleep,
    Spin,
    Panic,
}

#[derive(Clone)]
struct Task {
    kind: Kind,
    ms: u64,
    url: Option<String>,
    late: bool,
    index: usize,
}

#[edgeware::middleware]
async fn handle(req: Request, event: FetchEvent, next: NextHop) -> Result<Response> {
    let mut task = None;
    let (mut count, mut ms, mut url, mut late, mut pass, mut fail, mut fetch, mut wait) =
        (1, vec![0], None, false, false, None, None, 0);
    let (mut body, mut after, mut env, mut read) = (None, None, None, false);
    for (key, value) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        match &*key {
            "task" => task = Some(kind(&value)?),
            "count" => count = number(&key, &value)?,
            "ms" => {
                ms = value
                    .split(',')
                    .map(|v| number(&key, v))
                    .collect::<Result<_>>()?
            }
            "body" => body = Some(number(&key, &value)?),
            "url" => url = Some(value.into_owned()),
            "late" => late = value == "1",
            "pass" => pass = value == "1",
            "fail" => fail = Some(value.into_owned()),
            "fetch" => fetch = Some(value.into_owned()),
            "wait" => wait = number(&key, &value)?,
            "after" => after = Some(value.into_owned()),
            "env" => env = Some(value.into_owned()),
            "read" => read = value == "1",
            _ => {}
        }
    }

    if pass {
        event.pass_through_on_exception();
    }
    if let Some(kind) = task {
        for index in 0..count {
            let task = Task {
                kind,
                ms: ms[(index as usize).min(ms.len() - 1)],
                url: url.clone(),
                late,
                index: index as usize,
            };
            event.wait_until(run(task, event.clone()));
        }
    }
    if let Some(url) = after {
        let deferred = event.clone();
        event.after(move || {
            let event = deferred.clone();
            deferred.wait_until(async move { post(&url, &event, "after".into()).await });
        });
    }
    match fail.as_deref() {
        Some("error") => return Err(Error::msg("fixture failed")),
        Some("panic") => panic!("fixture panicked"),
        Some("spin") => spin(),
        Some("oom") => exhaust_memory(),
        _ => {}
    }
    if wait > 0 {
        edgeware::sleep(Duration::from_millis(wait)).await;
    }
    if read {
        let size = req.into_body().bytes().await?.len();
        return Ok(Response::new(Body::from(format!("{size} bytes\n"))));
    }
    if let Some(size) = body {
        let mut res = Response::new(Body::from(vec![b'x'; size as usize]));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(res);
    }
    let fetched = match fetch {
        Some(url) => Some(match get(&url).await {
            Ok(status) => (status.as_u16().to_string(), None),
            Err(error) => (format!("error: {error}"), Some(describe(&error))),
        }),
        None => None,
    };

    let mut res = next.run(req).await?;
    if let Some((fetched, error)) = fetched {
        let value = HeaderValue::from_str(&fetched.replace(['\r', '\n'], " "))?;
        res.headers_mut().insert("x-fixture-fetch", value);
        if let Some(error) = error {
            let value = HeaderValue::from_str(&error.replace(['\r', '\n'], " "))?;
            res.headers_mut().insert("x-fixture-fetch-error", value);
        }
    }
    if let Some(name) = env {
        let value = edgeware::env(&name).unwrap_or_else(|| "unset".to_owned());
        res.headers_mut()
            .insert("x-fixture-env", HeaderValue::from_str(&value)?);
    }
    res.headers_mut()
        .insert("x-fixture", HeaderValue::from_static("1"));
    res.headers_mut().insert(
        "x-fixture-tasks",
        HeaderValue::from(event.registered_tasks()),
    );
    Ok(res)
}

fn kind(value: &str) -> Result<Kind> {
    Ok(match value {
        "ok" => Kind::Ok,
        "reject" => Kind::Reject,
        "never" => Kind::Never,
        "sleep" => Kind::Sleep,
        "spin" => Kind::Spin,
        "panic" => Kind::Panic,
        other => {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                format!("unknown task kind {other:?}"),
            ));
        }
    })
}

fn number(key: &str, value: &str) -> Result<u64> {
    value
        .parse()
        .map_err(|e| Error::new(StatusCode::BAD_REQUEST, format!("{key}={value:?}: {e}")))
}

async fn run(task: Task, event: FetchEvent) -> Result<()> {
    let outcome = match task.kind {
        Kind::Ok => Ok(()),
        Kind::Reject => Err(Error::msg("fixture rejected")),
        Kind::Never => std::future::pending().await,
        Kind::Spin => {
            edgeware::sleep(Duration::from_millis(task.ms)).await;
            spin()
        }
        Kind::Panic => {
            edgeware::sleep(Duration::from_millis(task.ms)).await;
            panic!("fixture task panicked")
        }
        Kind::Sleep => {
            edgeware::sleep(Duration::from_millis(task.ms)).await;
            match &task.url {
                Some(url) => post(url, &event, task.index.into()).await,
                None => Ok(()),
            }
        }
    };
    if task.late {
        let again = Task {
            late: false,
            ..task
        };
        event.wait_until(Box::pin(run(again, event.clone())));
    }
    outcome
}

async fn post(url: &str, event: &FetchEvent, task: serde_json::Value) -> Result<()> {
    let body = serde_json::json!({ "requestId": event.request_id(), "task": task });
    edgeware::post_json(url, body.to_string()).await?;
    Ok(())
}

/// Computes forever without yielding: only the host can stop it.
fn spin() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// Allocates 1 MiB blocks, touching each, until the instance runs out of
/// memory (and traps).
fn exhaust_memory() -> ! {
    let mut blocks = Vec::new();
    loop {
        blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

/// The HTTP status of a failed call and the `wasi:http` error code it
/// wraps, the same on WASI 0.3 and 0.2.
fn describe(error: &Error) -> String {
    let status = error
        .status()
        .map_or_else(|| "none".to_owned(), |s| s.as_u16().to_string());
    let code = error
        .downcast_ref::<edgeware::ErrorCode>()
        .map_or_else(|| "none".to_owned(), |code| format!("{code:?}"));
    format!("status={status} code={code}")
}

async fn get(url: &str) -> Result<StatusCode> {
    let request = Request::builder().uri(url).body(Body::empty())?;
    Ok(edgeware::fetch(request).await?.status())
}
