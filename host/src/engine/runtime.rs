//! A loaded component version (built at start and again on each reload),
//! and the store it instantiates for a worker.

use crate::deferred::drain::Drain;
use crate::engine::bindings::MiddlewarePre;
use crate::engine::bindings::wasi::http::handler;
use crate::engine::compile::compile;
use crate::engine::limits::store_limits;
use crate::engine::pool::Pool;
use crate::engine::post_return::imports_wait_until;
use crate::engine::state::{Edge, NextHop, StoreState};
use crate::engine::warm::{Instance, Stash, depth};
use crate::http::outbound::OutboundPolicy;
use crate::http::upstream::Upstream;
use crate::ops::config::{Reuse, Settings};
use crate::ops::metrics::Metrics;
use edge_fetch_host::{DeferredTasks, EdgeFetchCtx};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmtime::component::Linker;
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store, UpdateDeadline, bail};

/// The import that makes a component a middleware: its next hop.
const HANDLER_IMPORT: &str = "wasi:http/handler@0.3.0";

/// What every component version shares: metrics, request ids, and the
/// drain that lists every store alive.
pub struct Shared {
    /// The host's metrics.
    pub metrics: Arc<Metrics>,
    /// Every store alive, with its deferred tasks (for graceful shutdown).
    pub drain: Arc<Drain>,
    request_ids: RequestIds,
}

impl Shared {
    /// Fresh metrics, an empty drain and a fresh request-id sequence.
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            metrics: Arc::default(),
            drain: Arc::default(),
            request_ids: RequestIds::new(),
        })
    }
}

/// What a worker's store serves.
#[derive(Clone, Copy, Debug)]
pub enum Serve {
    /// The served component (which may call its next hop).
    Component,
    /// The origin alone: the next hop, when the middleware failed and asked
    /// for `pass-through-on-exception`.
    Origin,
}

/// One loaded version of the served component (and its origin): what serves
/// requests until the next reload, and the in-flight ones after it.
pub struct Runtime {
    engine: Engine,
    middleware: MiddlewarePre<StoreState>,
    origin: Option<MiddlewarePre<StoreState>>,
    upstream: Option<Arc<Upstream>>,
    outbound: OutboundPolicy,
    env: Vec<(String, String)>,
    max_memory_bytes: usize,
    max_parked_tasks: usize,
    /// How long deferred tasks may run after the response end.
    pub deferred_timeout: Duration,
    /// How long the handler may take to produce a response.
    pub request_timeout: Duration,
    /// No served component imports `edge:fetch/wait-until`: after the
    /// response, wait for the guest's own tasks (see `post_return`).
    pub waits_for_guest_tasks: bool,
    /// Metrics and request ids, shared across versions.
    pub shared: Arc<Shared>,
    /// How many requests one instance serves.
    pub reuse: Reuse,
    /// Requests waiting for a worker of this version (reuse mode).
    pub pool: Pool,
    /// Instances of the served component made ahead of requests.
    warm: Stash,
}

impl Runtime {
    /// Compiles (or loads from the cache) the component(s) and checks that
    /// the next hop they need is configured.
    pub fn load(
        engine: &Engine,
        settings: &Settings,
        shared: Arc<Shared>,
    ) -> wasmtime::Result<Self> {
        let linker = linker(engine)?;
        let cache = settings.cache_dir.as_deref();
        let (middleware, is_middleware) = load(engine, &linker, &settings.component, cache)?;
        let origin = match &settings.origin {
            Some(path) => {
                let (origin, origin_is_middleware) = load(engine, &linker, path, cache)?;
                if origin_is_middleware {
                    bail!(
                        "{}: an origin must not import {HANDLER_IMPORT} (it is a middleware; \
                         compose it into the served component instead)",
                        path.display()
                    );
                }
                Some(origin)
            }
            None => None,
        };
        let upstream = settings
            .upstream
            .as_deref()
            .map(Upstream::parse)
            .transpose()?
            .map(Arc::new);
        match (is_middleware, origin.is_some(), upstream.is_some()) {
            (true, false, false) => bail!(
                "{}: this component imports {HANDLER_IMPORT} (it is a middleware): give its next \
                 hop with --upstream <url> or --origin <component.wasm>",
                settings.component.display()
            ),
            (false, true, _) | (false, _, true) => tracing::warn!(
                "the component does not import {HANDLER_IMPORT}: --upstream/--origin is unused"
            ),
            _ => {}
        }
        let upstream_authority = upstream.as_ref().map(|u| u.authority().to_string());
        let outbound = OutboundPolicy::new(
            settings
                .outbound_allow
                .iter()
                .map(String::as_str)
                .chain(upstream_authority.as_deref()),
        )?;
        let warm = Stash::new(
            depth(
                settings.warm_instances,
                settings.pooling.then_some(settings.pool_instances),
            ),
            shared.metrics.clone(),
        );
        let waits_for_guest_tasks = std::iter::once(&middleware)
            .chain(&origin)
            .all(|pre| !imports_wait_until(pre.instance_pre().component()));
        Ok(Self {
            engine: engine.clone(),
            waits_for_guest_tasks,
            middleware,
            origin,
            upstream,
            outbound,
            env: settings.env.clone(),
            max_memory_bytes: settings.max_memory_bytes,
            max_parked_tasks: settings.max_parked_tasks,
            deferred_timeout: settings.deferred_timeout,
            request_timeout: settings.request_timeout,
            shared,
            reuse: settings.reuse,
            pool: Pool::default(),
            warm,
        })
    }

    /// The host's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// A fresh id for the next request.
    pub fn next_request_id(&self) -> Arc<str> {
        self.shared.request_ids.next()
    }

    /// Whether the host holds as many parked deferred tasks as it may.
    pub fn parked_tasks_full(&self) -> bool {
        self.metrics().deferred().in_flight >= self.max_parked_tasks as u64
    }

    /// Where `pass-through-on-exception` sends a request.
    pub fn pass_through_target(&self) -> PassThrough {
        match (&self.upstream, &self.origin) {
            (Some(upstream), _) => PassThrough::Upstream(upstream.clone()),
            (None, Some(_)) => PassThrough::Origin,
            (None, None) => PassThrough::Unavailable,
        }
    }

    /// A task set for a new request, capped by `max_parked_tasks`.
    pub fn deferred_tasks(&self, request_id: Arc<str>) -> DeferredTasks {
        DeferredTasks::new(request_id, self.metrics().clone(), self.max_parked_tasks)
    }

    /// A store and instance for a new worker, counted alive from now on: a
    /// ready one of the served component if there is one (see
    /// [`crate::engine::warm`]), else one made now. Either way a replacement
    /// is then made in the background, up to the stash's depth.
    pub async fn acquire(self: &Arc<Self>, serve: Serve) -> wasmtime::Result<Instance> {
        let started = Instant::now();
        let warm = matches!(serve, Serve::Component) && self.warm.is_enabled();
        let taken = if warm { self.warm.take() } else { None };
        let was_ready = taken.is_some();
        let mut instance = match taken {
            Some(instance) => instance,
            None => match self.instantiate(serve).await {
                // An instance being made for the stash may hold the last
                // slot of the pool: it is this worker's once ready.
                Err(error) if warm && error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                    self.warm.wait_for_one().await.ok_or(error)?
                }
                made => made?,
            },
        };
        if warm {
            self.make_ready();
        }
        // The epoch moved on while the instance waited: its deadline counts
        // from now, and it has not been preempted yet.
        instance.store.set_epoch_deadline(1);
        instance.preempted.store(false, Ordering::Release);
        let alive = self.metrics().instance_alive();
        instance.store.data_mut().count_alive(alive);
        self.metrics()
            .instance_acquired(started.elapsed(), was_ready);
        Ok(instance)
    }

    /// Makes instances of the served component for the stash, each in a
    /// task of its own, until ready and being-made ones reach its depth.
    pub fn make_ready(self: &Arc<Self>) {
        while self.warm.start_making() {
            let runtime = self.clone();
            tokio::spawn(async move {
                let made = runtime.instantiate(Serve::Component).await;
                if let Err(error) = &made {
                    tracing::debug!(error = format!("{error:#}"), "no instance made ahead");
                }
                runtime.warm.made(made.ok());
            });
        }
    }

    /// Creates a store and instantiates in it what `serve` names: the
    /// served component (with the origin, if any, as its next hop), or the
    /// origin alone.
    async fn instantiate(&self, serve: Serve) -> wasmtime::Result<Instance> {
        let preempted = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let wasi = wasmtime_wasi::WasiCtx::builder()
            .envs(&self.env)
            .inherit_stdout()
            .inherit_stderr()
            .build();
        let next = match &self.upstream {
            Some(upstream) => NextHop::Upstream(upstream.clone()),
            None => NextHop::Unset,
        };
        let limits = store_limits(self.max_memory_bytes);
        let state = StoreState::new(wasi, self.outbound.clone(), limits, next);
        let mut store = Store::new(&self.engine, state);
        EdgeFetchCtx::track_task_groups(&mut store);
        store.limiter(|state| &mut state.limits);
        // Compute-bound guests yield every tick; the request's deadlines are
        // enforced by the worker, which then drops the store.
        store.set_epoch_deadline(1);
        let preempting = preempted.clone();
        store.epoch_deadline_callback(move |_| {
            preempting.store(true, Ordering::Release);
            Ok(UpdateDeadline::Yield(1))
        });
        let store_setup = started.elapsed();
        let origin = match &self.origin {
            Some(origin) => Some(
                origin
                    .instantiate_async(&mut store)
                    .await
                    .context("failed to instantiate the origin component")?,
            ),
            None => None,
        };
        let guest = match (serve, origin) {
            (Serve::Origin, Some(origin)) => origin,
            (Serve::Origin, None) => bail!("there is no origin component to serve"),
            (Serve::Component, origin) => {
                if let Some(origin) = origin {
                    store.data_mut().next = NextHop::Origin(Arc::new(origin));
                }
                self.middleware
                    .instantiate_async(&mut store)
                    .await
                    .context("failed to instantiate the component")?
            }
        };
        self.metrics().instantiated(started.elapsed(), store_setup);
        Ok(Instance {
            store,
            guest,
            preempted,
        })
    }
}

/// Where `pass-through-on-exception` sends the original request.
pub enum PassThrough {
    /// To the upstream server, directly.
    Upstream(Arc<Upstream>),
    /// To the origin component, in a fresh store.
    Origin,
    /// Nowhere: the served component is a complete service.
    Unavailable,
}

/// The linker every component is instantiated with: WASI 0.2 (for std
/// guests' `wasi:cli/environment` and friends), WASI 0.3, `wasi:http@0.3.0`,
/// our `edge:fetch` interfaces and the next-hop `handler`.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    edge_fetch_host::add_to_linker(&mut linker)?;
    handler::add_to_linker::<_, Edge>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Compiles a component (or loads it from `cache`), pre-instantiates it,
/// and says whether it imports a next-hop `handler`.
fn load(
    engine: &Engine,
    linker: &Linker<StoreState>,
    path: &Path,
    cache: Option<&Path>,
) -> wasmtime::Result<(MiddlewarePre<StoreState>, bool)> {
    let started = Instant::now();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (component, cached) = compile(engine, &bytes, cache)
        .with_context(|| format!("{}: not a loadable WebAssembly component", path.display()))?;
    let imports_handler = component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name == HANDLER_IMPORT);
    let pre = linker
        .instantiate_pre(&component)
        .with_context(|| format!("{}: cannot link its imports", path.display()))?;
    let pre = MiddlewarePre::new(pre).with_context(|| {
        format!(
            "{}: does not export wasi:http/handler@0.3.0 (not a WASI 0.3 HTTP component)",
            path.display()
        )
    })?;
    tracing::info!(
        component = %path.display(),
        load_ms = started.elapsed().as_millis() as u64,
        from_cache = cached,
        middleware = imports_handler,
        "component ready"
    );
    Ok((pre, imports_handler))
}

/// Request ids: a per-process prefix and a counter, so ids stay unique
/// across restarts in the same logs.
struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
            .unwrap_or_default();
        Self {
            prefix: nanos ^ std::process::id().rotate_left(16),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> Arc<str> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{:08x}-{n}", self.prefix).into()
    }
}
