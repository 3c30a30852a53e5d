//! The deadlines of one request, watched from outside the store's event
//! loop (a guest that computes without pause holds the store): its handler
//! phase (a 504 if no response comes before `request_timeout`), then its
//! deferred phase (tasks TIMED OUT if still pending `deferred_timeout` after
//! the response end).

use crate::http::exchange::Exchange;
use edge_fetch_host::{DeferredTasks, Outcome, settle_after_response};
use http::StatusCode;
use std::time::{Duration, Instant};

/// How a request's time on a store ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    /// Its deferred tasks settled in time.
    Settled,
    /// It missed a deadline; guest work for it may still be running.
    Overdue,
}

/// Watches the request of `exchange`, started at `started`, whose deferred
/// tasks are `tasks`, until its deferred phase is over or it is overdue.
pub async fn watch(
    exchange: &Exchange,
    tasks: &DeferredTasks,
    started: Instant,
    request_timeout: Duration,
    deferred_timeout: Duration,
) -> Watched {
    let deferred_phase =
        settle_after_response(tasks, exchange.body_end.clone().ended(), deferred_timeout);
    let handler_timeout = async {
        tokio::time::sleep_until((started + request_timeout).into()).await;
        if exchange.responder.is_sent() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        settled = deferred_phase => if settled.in_time { Watched::Settled } else { Watched::Overdue },
        () = handler_timeout => {
            tracing::warn!(timeout = ?request_timeout, "no response before the request timeout");
            exchange.responder.error(StatusCode::GATEWAY_TIMEOUT);
            tasks.settle_pending(Outcome::TimedOut);
            Watched::Overdue
        }
    }
}
