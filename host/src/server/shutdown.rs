//! Graceful shutdown after SIGTERM/SIGINT: one grace period covers both
//! phases, finishing the responses still being sent and then the deferred
//! work of every store still alive; whatever is left at its end is reported
//! TIMED OUT. A second signal, in either phase, ends it at once.

use crate::deferred::drain::Drain;
use crate::server::listener::Connections;
use std::time::Duration;
use tokio::time::Instant;

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Everything finished, or the grace period ran out and the rest was
    /// reported TIMED OUT.
    Drained,
    /// A second signal cut the drain short (after reporting).
    Forced,
}

/// Drains `connections`, then `drain`, within `grace` in all, unless
/// `second_signal` resolves first.
pub async fn run(
    mut connections: Connections,
    drain: &Drain,
    grace: Duration,
    second_signal: impl Future<Output = ()>,
) -> Stopped {
    let deadline = Instant::now() + grace;
    let open = connections.counter();
    tracing::info!(
        connections = open.count(),
        stores = drain.len(),
        ?grace,
        "stopped accepting; finishing open responses"
    );
    let phases = async {
        if tokio::time::timeout_at(deadline, connections.finish())
            .await
            .is_err()
        {
            tracing::warn!(
                connections = open.count(),
                "grace period over with responses still being sent; closing their connections"
            );
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tracing::info!(stores = drain.len(), grace_left = ?left, "draining deferred work");
        drain.wait_until(deadline).await
    };
    tokio::select! {
        abandoned = phases => {
            if abandoned.stores > 0 {
                tracing::warn!(
                    stores = abandoned.stores,
                    tasks = abandoned.tasks,
                    "grace period over; pending tasks reported TIMED OUT"
                );
            }
            Stopped::Drained
        }
        () = second_signal => {
            let connections = open.count();
            let abandoned = drain.abandon();
            tracing::warn!(
                connections,
                stores = abandoned.stores,
                tasks = abandoned.tasks,
                "second signal: exiting now; open connections dropped, pending tasks reported TIMED OUT"
            );
            Stopped::Forced
        }
    }
}
