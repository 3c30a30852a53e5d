//! A minimal embedder: a hyper server that serves a WASI 0.3 HTTP component
//! with `edge:fetch`, a fresh store per request, and settles the request's
//! deferred tasks after its response (each one logged FULFILLED, REJECTED or
//! TIMED OUT).
//!
//! ```sh
//! cargo run -p edge-fetch-host --example embed -- dist/composed/fixture-app.wasm 127.0.0.1:8080
//! curl 'http://127.0.0.1:8080/?task=sleep&ms=200'
//! ```

use anyhow::Context as _;
use edge_fetch_host::{BodyEnd, DeferredTasks, EdgeFetchCtx, EdgeFetchView, FetchEvent};
use edge_fetch_host::{Outcome, RequestContext, TaskCounts, response_end, settle_after_response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Accessor, Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::{Response, bindings::ServicePre};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView, default_hooks};

/// How long deferred tasks may run after the response end.
const DEFERRED_DEADLINE: Duration = Duration::from_secs(5);

/// The store data: WASI, `wasi:http` and `edge:fetch`.
struct Data(ResourceTable, WasiCtx, WasiHttpCtx, EdgeFetchCtx);

impl WasiView for Data {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.1,
            table: &mut self.0,
        }
    }
}

impl WasiHttpView for Data {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.2,
            table: &mut self.0,
            hooks: default_hooks(),
        }
    }
}

impl EdgeFetchView for Data {
    fn edge_fetch(&mut self) -> &mut EdgeFetchCtx {
        &mut self.3
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_ansi(false).init();
    let mut args = std::env::args().skip(1);
    let component = args
        .next()
        .context("usage: embed <component.wasm> [addr]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let engine = Engine::new(Config::new().wasm_component_model_async(true))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?; // std guests' wasi:cli@0.2
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    edge_fetch_host::add_to_linker(&mut linker)?;
    let component = Component::from_file(&engine, &component)?;
    let pre = ServicePre::new(linker.instantiate_pre(&component)?)?;
    let counts = Arc::new(TaskCounts::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, client) = listener.accept().await?;
        let (pre, counts) = (pre.clone(), counts.clone());
        let serve =
            hyper::service::service_fn(move |req| serve(pre.clone(), counts.clone(), client, req));
        let io = hyper_util::rt::TokioIo::new(stream);
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, serve));
    }
}

/// Serves one request in a store of its own, which lives on until the
/// request's deferred tasks have settled.
async fn serve(
    pre: ServicePre<Data>,
    counts: Arc<TaskCounts>,
    client: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> anyhow::Result<
    http::Response<impl http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error>>,
> {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let id: Arc<str> = REQUESTS.fetch_add(1, Ordering::Relaxed).to_string().into();
    let deferred = DeferredTasks::new(id.clone(), counts, 1000);
    let on_failure = deferred.clone();
    let event = FetchEvent {
        request_id: id,
        client_address: Some(client),
        geo: None,
        deferred_deadline: DEFERRED_DEADLINE,
        request_deadline: Instant::now() + Duration::from_secs(60),
        pass_through_on_exception: AtomicBool::new(false),
    };
    let context = Arc::new(RequestContext {
        event,
        deferred: deferred.clone(),
    });
    let data = Data(
        ResourceTable::new(),
        WasiCtx::builder().inherit_stderr().build(),
        WasiHttpCtx::new(),
        EdgeFetchCtx::new(),
    );
    let mut store = Store::new(pre.engine(), data);
    EdgeFetchCtx::track_task_groups(&mut store);
    let service = pre.instantiate_async(&mut store).await?;
    let (response_tx, response_rx) = tokio::sync::oneshot::channel();
    let (end, ended) = response_end();
    let guest = async move |accessor: &Accessor<Data>| -> wasmtime::Result<()> {
        let handler = service.wasi_http_handler().func_handle();
        let call = accessor.with(|mut access| -> wasmtime::Result<_> {
            let (request, body) = wasmtime_wasi_http::p3::Request::from_http(default_hooks(), req);
            tokio::spawn(body);
            let request = access.get().http().table.push(request)?;
            let call = handler.start_call_concurrent(&mut access, (request,))?;
            access
                .get()
                .edge_fetch()
                .start_request(call.group(), context);
            Ok(call)
        })?;
        let (result,) = handler.finish_call_concurrent(accessor, call).await?;
        let response = result.map_err(|code| wasmtime::format_err!("handler failed: {code:?}"))?;
        let sent = ended.clone();
        let transmitted = async move {
            match sent.ended().await {
                BodyEnd::Complete => Ok(()),
                BodyEnd::Aborted => Err(wasmtime_wasi_http::Error::ConnectionTerminated),
            }
        };
        let response = accessor.with(|mut access| {
            let response: Response = access.get().http().table.delete(response)?;
            response.into_http(&mut access, transmitted)
        })?;
        let _ = response_tx.send(response.map(|body| end.observe(body)));
        let settlement = settle_after_response(&deferred, ended.ended(), DEFERRED_DEADLINE).await;
        println!(
            "{} task(s) settled, in time: {}",
            settlement.tasks.len(),
            settlement.in_time
        );
        Ok(())
    };
    tokio::spawn(async move {
        if let Err(error) = store.run_concurrent(guest).await.and_then(|ran| ran) {
            // Every task is reported, even when the instance traps.
            on_failure.settle_pending(Outcome::Rejected(format!("the instance failed: {error:#}")));
        }
    });
    response_rx.await.context("the component gave no response")
}
