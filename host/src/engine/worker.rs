//! Workers: a store and its instance, serving requests until it retires.
//!
//! By default a worker serves exactly one request, so no guest state
//! survives a request. In reuse mode (`instance_reuse` above 1) it serves up
//! to that many, up to `instance_concurrency` at once, as `wasmtime serve`
//! and Spin do. Either way a worker:
//!
//! - starts each request's handler as a guest task of its own and attributes
//!   every `edge:fetch` call to the request whose task makes it
//!   ([`edge_fetch_host::EdgeFetchCtx::current_request`]);
//! - sends the response, then keeps the store alive for the request's
//!   deferred phase (see [`crate::deferred::deadline`]);
//! - enforces the deadlines from outside the store's event loop, since a
//!   guest that computes without pause holds the store: a request with no
//!   response at `request_timeout` gets a 504 and its tasks are TIMED OUT;
//!   tasks still pending `deferred_timeout` after the response end are TIMED
//!   OUT. A guest task cannot be cancelled alone, so an overdue request
//!   retires its worker: it takes no new requests, and its store is dropped
//!   once every request it took is settled or overdue;
//! - when the instance traps, fails every request it holds: a 500 (or a
//!   pass-through) for those not answered yet, REJECTED for their pending
//!   tasks.

use crate::deferred::deadline::Watched;
use crate::engine::bindings::Middleware;
use crate::engine::keeper::{Draining, Event, Keeper, Ticket};
use crate::engine::pool::Job;
use crate::engine::runtime::{PassThrough, Runtime, Serve};
use crate::engine::state::StoreState;
use crate::engine::warm::Instance;
use crate::http::body::HostBody;
use crate::http::exchange::{Exchange, status_for, transmission_result};
use crate::http::replay::{REPLAY_LIMIT, Replay};
use crate::ops::config::Reuse;
use edge_fetch_host::{EdgeFetchView, Outcome};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::StatusCode;
use http_body_util::BodyExt;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::Instrument;
use wasmtime::component::Accessor;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p3::{Request, Response};

/// How long a worker in reuse mode waits for another request before it
/// retires.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Hands `job` to a worker of `runtime`: one with room for it in reuse
/// mode, else a new one.
pub fn dispatch(runtime: &Arc<Runtime>, serve: Serve, job: Job) {
    if matches!(serve, Serve::Origin) || !runtime.pool.has_available() {
        return Worker::spawn(runtime.clone(), serve, job);
    }
    if let Some(job) = runtime.pool.enqueue(job) {
        Worker::spawn(runtime.clone(), serve, job);
    }
}

/// How a worker's store ended.
enum End {
    /// The guest side finished (`Ok`) or the instance failed (`Err`).
    Ran(wasmtime::Result<()>),
    /// Every request was settled or overdue while guest work of an overdue
    /// one may still run: the store is dropped to stop it.
    Killed,
    /// A component without `wait-until` still had tasks at the deadline.
    GuestTasksTimedOut,
}

/// A store and its instance, and how many requests it may still take.
struct Worker {
    runtime: Arc<Runtime>,
    serve: Serve,
    reuse: Reuse,
    /// Counted in the pool's `available`.
    available: bool,
}

impl Worker {
    fn spawn(runtime: Arc<Runtime>, serve: Serve, job: Job) {
        let reuse = match serve {
            Serve::Component => runtime.reuse,
            Serve::Origin => Reuse::SINGLE,
        };
        // A worker that serves one request logs in that request's span; one
        // that serves several in a span of its own (the lines about a
        // request carry the request's span inside it).
        let span = if reuse.is_single() {
            job.span.clone()
        } else {
            static INSTANCES: AtomicU64 = AtomicU64::new(0);
            let instance = INSTANCES.fetch_add(1, Ordering::Relaxed) + 1;
            // A root span: a worker started from another worker's task
            // would otherwise nest in that worker's span, and the chain
            // would grow with every instance.
            tracing::info_span!(parent: None, "instance", instance)
        };
        let worker = Worker {
            runtime,
            serve,
            reuse,
            available: false,
        };
        tokio::spawn(worker.run(job).instrument(span));
    }

    /// Tells the pool whether this worker takes queued requests now.
    fn set_available(&mut self, available: bool) {
        if available == self.available {
            return;
        }
        self.available = available;
        let pool = &self.runtime.pool;
        if available {
            pool.worker_available();
        } else if let Some(job) = pool.worker_unavailable() {
            // The last available worker left; a request queued just before
            // would wait for nobody.
            Worker::spawn(self.runtime.clone(), self.serve, job);
        }
    }

    async fn run(mut self, first: Job) {
        let runtime = self.runtime.clone();
        let Instance {
            mut store,
            guest,
            preempted,
        } = match runtime.acquire(self.serve).await {
            Ok(instance) => instance,
            Err(error) => {
                let _span = (!self.reuse.is_single()).then(|| first.span.enter());
                if error
                    .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some()
                {
                    tracing::warn!(reason = "instance pool full", "request refused with 503");
                    runtime.metrics().request_refused();
                    first.exchange.responder.busy("instance pool full");
                } else {
                    tracing::error!(serve = ?self.serve, error = format!("{error:#}"), "instantiation failed");
                    first
                        .exchange
                        .responder
                        .error(StatusCode::INTERNAL_SERVER_ERROR);
                }
                return;
            }
        };
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let retiring = AtomicBool::new(false);
        let accept_concurrent = AtomicBool::new(true);
        let waits_for_guest_tasks = runtime.waits_for_guest_tasks;
        // The guest side borrows the store; it ends with this block, so the
        // store can be moved out below.
        let (end, live, draining) = {
            let guest_side = {
                let (worker, guest, retiring, accept_concurrent) =
                    (&mut self, &guest, &retiring, &accept_concurrent);
                async move |accessor: &Accessor<StoreState>| -> wasmtime::Result<()> {
                    worker
                        .serve_requests(
                            accessor,
                            guest,
                            first,
                            &events_tx,
                            retiring,
                            accept_concurrent,
                        )
                        .await?;
                    if waits_for_guest_tasks {
                        let _ = events_tx.send(Event::Draining);
                        std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                    }
                    Ok(())
                }
            };
            let mut run = pin!(store.run_concurrent(guest_side));
            // The guest side takes another request at once only while the
            // requests it has wait (the event loop is idle), never while they
            // compute (a guest preempted by the epoch is still computing): other
            // workers, on other threads, take the rest.
            let mut run = std::future::poll_fn(|cx| {
                let polled = run.as_mut().poll(cx);
                if polled.is_pending()
                    && !preempted.swap(false, Ordering::AcqRel)
                    && !accept_concurrent.swap(true, Ordering::AcqRel)
                {
                    return run.as_mut().poll(cx);
                }
                polled
            });

            let mut keeper = Keeper::new(&runtime);
            let mut overdue = false;
            let mut draining: Draining = None;
            let end = loop {
                tokio::select! {
                    ran = &mut run => {
                        // A request may have started and failed within one turn.
                        keeper.receive_all(&mut events, &mut draining);
                        break End::Ran(ran.and_then(|result| result));
                    }
                    Some(event) = events.recv() => keeper.receive(event, &mut draining),
                    Some((id, watched)) = keeper.watches.next(), if !keeper.watches.is_empty() => {
                        if let Some(ticket) = keeper.live.remove(&id) {
                            ticket.finished.notify_one();
                        }
                        if watched == Watched::Overdue {
                            overdue = true;
                            retiring.store(true, Ordering::Release);
                        }
                        if overdue && keeper.live.is_empty() {
                            // Requests started before the worker retired may
                            // still be on their way here.
                            keeper.receive_all(&mut events, &mut draining);
                            if keeper.live.is_empty() {
                                break End::Killed;
                            }
                        }
                    }
                    () = async { draining.as_mut().expect("guarded").1.as_mut().await }, if draining.is_some() => {
                        break End::GuestTasksTimedOut;
                    }
                }
            };
            (end, keeper.live, draining)
        };
        let after_ms = |since: Instant| since.elapsed().as_millis() as u64;
        match end {
            End::Ran(Ok(())) => {
                if let Some((since, _)) = draining {
                    tracing::info!(
                        after_response_end_ms = after_ms(since),
                        "guest tasks FINISHED (component without edge:fetch/wait-until)"
                    );
                }
            }
            End::Ran(Err(error)) => {
                let error = format!("{error:#}");
                if live.is_empty() {
                    tracing::error!(error, "guest failed after its responses");
                }
                for ticket in live.values() {
                    let _span = ticket.span.enter();
                    tracing::error!(error, "guest failed");
                    let pass = ticket.context.event.passes_through_on_exception();
                    fail(
                        &runtime,
                        &ticket.exchange,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ticket.replay.clone().filter(|_| pass),
                    );
                    ticket
                        .context
                        .deferred
                        .settle_pending(Outcome::Rejected(format!("the instance failed: {error}")));
                }
            }
            End::Killed => tracing::debug!("every request settled or overdue; instance dropped"),
            End::GuestTasksTimedOut => tracing::warn!(
                after_response_end_ms = draining.map_or(0, |(since, _)| after_ms(since)),
                "guest tasks TIMED OUT (component without edge:fetch/wait-until); instance dropped"
            ),
        }
        // The store (and whatever guest work is left in it) is dropped
        // here. A reused instance's store, dropped once per
        // `instance_reuse` requests after its memory grew with them, goes to
        // the blocking pool: returning that memory (madvise, and the TLB
        // shootdowns that come with it) took long enough to show in the p99
        // of the requests this runtime thread served next (1 connection,
        // 200 ms tasks: 0.9-4.5 ms inline, 0.8-0.9 ms offloaded). A
        // one-request store is small and dropped every request, where the
        // hand-off costs more than it saves (-5% req/s measured).
        if self.reuse.is_single() {
            drop((store, guest));
        } else {
            tokio::task::spawn_blocking(move || drop((store, guest)));
        }
    }

    /// The guest side: takes requests (the first, then queued ones while
    /// it may), runs each handler as its own guest task, and returns when
    /// the worker takes no more and every request it took is finished.
    async fn serve_requests(
        &mut self,
        accessor: &Accessor<StoreState>,
        guest: &Middleware,
        first: Job,
        events: &mpsc::UnboundedSender<Event>,
        retiring: &AtomicBool,
        accept_concurrent: &AtomicBool,
    ) -> wasmtime::Result<()> {
        let runtime = self.runtime.clone();
        // Requests taken and not answered yet: those count against
        // `instance_concurrency`; answered ones in their deferred phase
        // only keep the store alive.
        let unanswered = AtomicUsize::new(0);
        let mut running = FuturesUnordered::new();
        let mut taken: u32 = 0;
        let mut pending = Some(first);
        let mut next_job = None;
        let mut idle: Option<Pin<Box<tokio::time::Sleep>>> = None;
        let served = std::future::poll_fn(|cx| {
            loop {
                if let Some(job) = pending.take() {
                    taken += 1;
                    unanswered.fetch_add(1, Ordering::AcqRel);
                    accept_concurrent.store(false, Ordering::Release);
                    let Job {
                        exchange,
                        request,
                        replay,
                        span,
                    } = job;
                    // Serving one request, the worker is in its span already.
                    let span = if self.reuse.is_single() {
                        tracing::Span::none()
                    } else {
                        span
                    };
                    let ticket = Arc::new(Ticket::new(
                        &runtime,
                        u64::from(taken),
                        exchange,
                        replay,
                        span.clone(),
                    ));
                    let _ = events.send(Event::Started(ticket.clone()));
                    running.push(
                        serve_one(accessor, &runtime, guest, ticket, request, &unanswered)
                            .instrument(span),
                    );
                }
                while let Poll::Ready(Some(done)) = running.poll_next_unpin(cx) {
                    done?;
                }
                let open = !retiring.load(Ordering::Acquire) && taken < self.reuse.requests;
                let handling = unanswered.load(Ordering::Acquire);
                let room = handling < self.reuse.concurrent as usize
                    && (handling == 0 || accept_concurrent.load(Ordering::Acquire));
                self.set_available(open && room);
                if open && room {
                    let next = next_job.get_or_insert_with(|| Box::pin(runtime.pool.next_job()));
                    if let Poll::Ready(job) = next.as_mut().poll(cx) {
                        next_job = None;
                        idle = None;
                        pending = Some(job);
                        continue;
                    }
                } else {
                    // Dropping the wait passes on a wake-up it may hold.
                    next_job = None;
                }
                if !running.is_empty() {
                    idle = None;
                    return Poll::Pending;
                }
                if !open {
                    return Poll::Ready(Ok(()));
                }
                let timer = idle.get_or_insert_with(|| Box::pin(tokio::time::sleep(IDLE_TIMEOUT)));
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Pending;
            }
        })
        .await;
        self.set_available(false);
        served
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.set_available(false);
    }
}

/// Runs one request's handler as a guest task of its own and sends its
/// response; then waits until the deadline keeper says the request's
/// deferred phase is over, and forgets the request.
async fn serve_one(
    accessor: &Accessor<StoreState>,
    runtime: &Arc<Runtime>,
    guest: &Middleware,
    ticket: Arc<Ticket>,
    request: http::Request<HostBody>,
    unanswered: &AtomicUsize,
) -> wasmtime::Result<()> {
    let handle = guest.wasi_http_handler().func_handle();
    let call = accessor.with(|mut access| -> wasmtime::Result<_> {
        let state = access.get();
        let (request, request_body_io) = Request::from_http(state.http().hooks, request);
        tokio::spawn(
            async move {
                if let Err(error) = request_body_io.await {
                    tracing::debug!(%error, "request body was not read to the end");
                }
            }
            .in_current_span(),
        );
        let request = state.http().table.push(request)?;
        let call = handle.start_call_concurrent(&mut access, (request,))?;
        access
            .get()
            .edge_fetch()
            .start_request(call.group(), ticket.context.clone());
        Ok(call)
    })?;
    let (result,) = handle.finish_call_concurrent(accessor, call).await?;
    match result {
        Ok(response) => {
            let transmitted = transmission_result(ticket.exchange.body_end.clone());
            let response = accessor.with(|mut access| {
                let response: Response = access.get().http().table.delete(response)?;
                response.into_http(&mut access, transmitted)
            })?;
            ticket.exchange.responder.send(response);
        }
        Err(code) => {
            tracing::warn!(error = ?code, "the handler returned an error");
            let pass = ticket.context.event.passes_through_on_exception();
            fail(
                runtime,
                &ticket.exchange,
                status_for(&code),
                ticket.replay.clone().filter(|_| pass),
            );
        }
    }
    unanswered.fetch_sub(1, Ordering::AcqRel);
    ticket.finished.notified().await;
    accessor.with(|mut access| access.get().edge_fetch().end_request(&ticket.context));
    Ok(())
}

/// The guest failed before answering: pass the original request through to
/// the next hop if it asked for that and the request can be replayed, else
/// answer `status`.
fn fail(runtime: &Arc<Runtime>, exchange: &Exchange, status: StatusCode, replay: Option<Replay>) {
    if exchange.responder.is_sent() {
        return;
    }
    match replay {
        Some(replay) => {
            let pass = pass_through(runtime.clone(), exchange.clone(), replay);
            tokio::spawn(pass.in_current_span());
        }
        None => exchange.responder.error(status),
    }
}

/// Forwards the original request to the next hop (`pass-through-on-exception`).
async fn pass_through(runtime: Arc<Runtime>, exchange: Exchange, replay: Replay) {
    let Some(request) = replay.take() else {
        tracing::warn!(
            limit = REPLAY_LIMIT,
            "cannot pass through: the middleware read more of the body than the host keeps"
        );
        return exchange.responder.error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    match runtime.pass_through_target() {
        PassThrough::Upstream(upstream) => {
            tracing::warn!("middleware failed; passing the request through to the upstream");
            match upstream.send(request, Some(exchange.client)).await {
                Ok(response) => exchange
                    .responder
                    .send(response.map(|b| b.map_err(Into::into).boxed_unsync())),
                Err(code) => exchange.responder.error(status_for(&code)),
            }
        }
        PassThrough::Origin => {
            tracing::warn!("middleware failed; passing the request through to the origin");
            dispatch(
                &runtime,
                Serve::Origin,
                Job {
                    exchange,
                    request,
                    replay: None,
                    span: tracing::Span::current(),
                },
            );
        }
        PassThrough::Unavailable => {
            tracing::warn!("cannot pass through: the component has no next hop");
            exchange.responder.error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
