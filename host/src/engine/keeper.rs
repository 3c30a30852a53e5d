//! A worker's deadline keeper: the requests its store holds (their
//! tickets), each with the future that watches its deadlines.

use crate::deferred::deadline::{Watched, watch};
use crate::deferred::drain::Live;
use crate::engine::runtime::Runtime;
use crate::http::exchange::Exchange;
use crate::http::replay::Replay;
use edge_fetch_host::{FetchEvent, RequestContext};
use futures_util::stream::FuturesUnordered;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

/// A store's requests, as the worker's deadline keeper sees them.
pub struct Ticket {
    /// The request's number on its worker.
    pub id: u64,
    /// Its `fetch-event` facts and deferred tasks.
    pub context: Arc<RequestContext>,
    /// Its responder and what outlives the store.
    pub exchange: Exchange,
    /// The original request, for `pass-through-on-exception`.
    pub replay: Option<Replay>,
    started: Instant,
    /// Set when the request's deferred phase is over (settled or overdue).
    pub finished: Notify,
    /// The request's span (none when the worker serves one request only).
    pub span: tracing::Span,
    /// Lists the request for graceful shutdown while it lives.
    _live: Live,
}

impl Ticket {
    /// The ticket of a request a worker takes: its `fetch-event` facts and
    /// an empty set of deferred tasks, listed for graceful shutdown.
    pub fn new(
        runtime: &Runtime,
        id: u64,
        exchange: Exchange,
        replay: Option<Replay>,
        span: tracing::Span,
    ) -> Ticket {
        let started = Instant::now();
        let deferred = runtime.deferred_tasks(exchange.request_id.clone());
        let live = runtime.shared.drain.enter(deferred.clone());
        let event = FetchEvent {
            request_id: exchange.request_id.clone(),
            client_address: Some(exchange.client),
            geo: exchange.geo.clone(),
            deferred_deadline: runtime.deferred_timeout,
            request_deadline: started + runtime.request_timeout,
            pass_through_on_exception: AtomicBool::new(false),
        };
        Ticket {
            id,
            context: Arc::new(RequestContext { event, deferred }),
            exchange,
            replay,
            started,
            finished: Notify::new(),
            span,
            _live: live,
        }
    }
}

/// What the guest side of a worker tells its deadline keeper.
pub enum Event {
    /// A request was started on the instance.
    Started(Arc<Ticket>),
    /// Every request is done; the guest's own tasks are awaited (components
    /// that do not register them through `edge:fetch/wait-until`).
    Draining,
}

/// A future that watches one request's deadlines.
type WatchFuture = Pin<Box<dyn Future<Output = (u64, Watched)> + Send>>;

/// Since when, and until when, a worker waits for the guest's own tasks.
pub type Draining = Option<(Instant, Pin<Box<tokio::time::Sleep>>)>;

/// The deadline keeper of a worker: the requests its store holds, each with
/// the future that watches its deadlines.
pub struct Keeper {
    /// The requests not settled or overdue yet, by ticket id.
    pub live: HashMap<u64, Arc<Ticket>>,
    /// One future per live request, resolving when it is settled or overdue.
    pub watches: FuturesUnordered<WatchFuture>,
    request_timeout: Duration,
    deferred_timeout: Duration,
}

impl Keeper {
    /// A keeper for the deadlines of `runtime`.
    pub fn new(runtime: &Runtime) -> Keeper {
        Keeper {
            live: HashMap::new(),
            watches: FuturesUnordered::new(),
            request_timeout: runtime.request_timeout,
            deferred_timeout: runtime.deferred_timeout,
        }
    }

    /// Takes note of what the guest side tells.
    pub fn receive(&mut self, event: Event, draining: &mut Draining) {
        match event {
            Event::Started(ticket) => {
                let span = ticket.span.clone();
                let (request_timeout, deferred_timeout) =
                    (self.request_timeout, self.deferred_timeout);
                let watched = ticket.clone();
                let watching = async move {
                    let watched_as = watch(
                        &watched.exchange,
                        &watched.context.deferred,
                        watched.started,
                        request_timeout,
                        deferred_timeout,
                    )
                    .await;
                    (watched.id, watched_as)
                };
                self.watches.push(Box::pin(watching.instrument(span)));
                self.live.insert(ticket.id, ticket);
            }
            Event::Draining => {
                let deadline = Box::pin(tokio::time::sleep(self.deferred_timeout));
                *draining = Some((Instant::now(), deadline));
            }
        }
    }

    /// Takes note of everything the guest side has told so far.
    pub fn receive_all(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        draining: &mut Draining,
    ) {
        while let Ok(event) = events.try_recv() {
            self.receive(event, draining);
        }
    }
}
