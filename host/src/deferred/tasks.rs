//! `edge:fetch/wait-until`: the deferred tasks of one request, from
//! registration to the one log line that reports how each of them settled.
//!
//! A task settles exactly once: FULFILLED or REJECTED when the guest writes
//! its future (or REJECTED when the future is closed without a value, or the
//! instance traps), TIMED OUT when the deferred deadline passes first. The
//! deadline is counted from the end of the response body, so the time it took
//! to stream the response never eats into it.

use crate::engine::bindings::edge::fetch::wait_until;
use crate::engine::state::{Edge, StoreState};
use crate::ops::metrics::Metrics;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use wasmtime::StoreContextMut;
use wasmtime::component::{Access, FutureConsumer, FutureReader, Source};

/// How a deferred task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task's future resolved to `ok`.
    Fulfilled,
    /// The task's future resolved to `err`, was closed without a value, or the
    /// instance running it failed. Carries the reason.
    Rejected(String),
    /// The deferred deadline passed before the task settled.
    TimedOut,
}

/// The deferred tasks of one request. Cloning gives another handle to the
/// same set: the store registers and settles, the request driver waits.
#[derive(Clone)]
pub struct DeferredTasks {
    shared: Arc<Shared>,
}

struct Shared {
    request_id: Arc<str>,
    tasks: Mutex<Tasks>,
    changed: Notify,
    metrics: Arc<Metrics>,
    max_parked: usize,
}

#[derive(Default)]
struct Tasks {
    records: Vec<Record>,
    response_end: Option<Instant>,
}

struct Record {
    registered: Instant,
    settled: Option<(Outcome, Instant)>,
    reported: bool,
}

impl DeferredTasks {
    /// An empty set for the request with this id. Registrations are refused
    /// while the host holds `max_parked` unsettled tasks.
    pub fn new(request_id: Arc<str>, metrics: Arc<Metrics>, max_parked: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                request_id,
                tasks: Mutex::new(Tasks::default()),
                changed: Notify::new(),
                metrics,
                max_parked,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tasks> {
        // A panic while holding this lock cannot leave `Tasks` half-updated
        // (every update is a single assignment), so a poisoned lock is usable.
        self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the request these tasks belong to.
    pub fn request_id(&self) -> &str {
        &self.shared.request_id
    }

    /// Adds a task and returns its index, or `None` if the host's parked
    /// task limit is reached: the task is then recorded as REJECTED at once.
    pub(crate) fn register(&self) -> Option<usize> {
        let metrics = &self.shared.metrics;
        let refused = metrics.deferred().in_flight >= self.shared.max_parked as u64;
        let mut tasks = self.lock();
        let now = Instant::now();
        let index = tasks.records.len();
        if refused {
            metrics.task_refused();
            tasks.records.push(Record {
                registered: now,
                settled: Some((
                    Outcome::Rejected(format!(
                        "refused: the host already holds {} parked deferred tasks",
                        self.shared.max_parked
                    )),
                    now,
                )),
                reported: false,
            });
            self.report(&mut tasks);
            return None;
        }
        metrics.task_registered();
        tasks.records.push(Record {
            registered: now,
            settled: None,
            reported: false,
        });
        tracing::debug!(request_id = %self.shared.request_id, task = index, "deferred task registered");
        Some(index)
    }

    /// Gives task `index` its outcome and counts it.
    fn record(&self, tasks: &mut Tasks, index: usize, outcome: Outcome, at: Instant) {
        let after_response = tasks
            .response_end
            .map(|end| at.saturating_duration_since(end))
            .unwrap_or_default();
        self.shared.metrics.task_settled(&outcome, after_response);
        tasks.records[index].settled = Some((outcome, at));
    }

    /// Records how task `index` ended, unless it already has an outcome.
    fn settle(&self, index: usize, outcome: Outcome) {
        let mut tasks = self.lock();
        if tasks.records[index].settled.is_none() {
            self.record(&mut tasks, index, outcome, Instant::now());
            self.report(&mut tasks);
        }
        drop(tasks);
        self.shared.changed.notify_one();
    }

    /// Marks the moment the response body was fully sent (or abandoned by the
    /// client): the deferred deadline starts now.
    pub fn mark_response_end(&self) {
        let mut tasks = self.lock();
        if tasks.response_end.is_none() {
            tasks.response_end = Some(Instant::now());
            self.report(&mut tasks);
        }
    }

    /// Waits until every registered task, including tasks registered while
    /// waiting, has settled.
    pub async fn all_settled(&self) {
        loop {
            if self.lock().records.iter().all(|r| r.settled.is_some()) {
                return;
            }
            self.shared.changed.notified().await;
        }
    }

    /// Gives every task that has not settled the outcome `outcome`
    /// (TIMED OUT at the deadline; REJECTED when the instance failed).
    pub fn settle_pending(&self, outcome: Outcome) {
        let mut tasks = self.lock();
        let now = Instant::now();
        tasks.response_end.get_or_insert(now);
        for index in 0..tasks.records.len() {
            if tasks.records[index].settled.is_none() {
                self.record(&mut tasks, index, outcome.clone(), now);
            }
        }
        self.report(&mut tasks);
        drop(tasks);
        self.shared.changed.notify_one();
    }

    /// Counts of (registered, unsettled) tasks.
    pub fn counts(&self) -> (usize, usize) {
        let tasks = self.lock();
        let pending = tasks.records.iter().filter(|r| r.settled.is_none()).count();
        (tasks.records.len(), pending)
    }

    /// Logs each settled task once the response end is known, so every line
    /// can say how long after the response the task settled.
    fn report(&self, tasks: &mut Tasks) {
        let Some(response_end) = tasks.response_end else {
            return;
        };
        let request_id = &*self.shared.request_id;
        for (index, record) in tasks.records.iter_mut().enumerate() {
            let Some((outcome, at)) = &record.settled else {
                continue;
            };
            if record.reported {
                continue;
            }
            record.reported = true;
            let after_response_end_ms = signed_ms(*at, response_end);
            let ran_ms = at.duration_since(record.registered).as_millis() as u64;
            match outcome {
                Outcome::Fulfilled => tracing::info!(
                    request_id,
                    task = index,
                    after_response_end_ms,
                    ran_ms,
                    "deferred task FULFILLED"
                ),
                Outcome::Rejected(message) => tracing::warn!(
                    request_id, task = index, after_response_end_ms, ran_ms, message = %message,
                    "deferred task REJECTED"
                ),
                Outcome::TimedOut => tracing::warn!(
                    request_id,
                    task = index,
                    after_response_end_ms,
                    ran_ms,
                    "deferred task TIMED OUT"
                ),
            }
        }
    }
}

/// `at - origin` in whole milliseconds, negative when `at` came first.
fn signed_ms(at: Instant, origin: Instant) -> i64 {
    match at.checked_duration_since(origin) {
        Some(after) => after.as_millis() as i64,
        None => -(origin.duration_since(at).as_millis() as i64),
    }
}

/// Reads the value of one registered task's future and settles the task.
struct SettleOnValue {
    tasks: DeferredTasks,
    index: usize,
}

impl<D: 'static> FutureConsumer<D> for SettleOnValue {
    type Item = Result<(), String>;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<'_, D>,
        mut source: Source<'_, Self::Item>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<()>> {
        let mut value = None;
        source.read(&mut store, &mut value)?;
        let outcome = match value {
            Some(Ok(())) => Outcome::Fulfilled,
            Some(Err(message)) => Outcome::Rejected(message),
            None => Outcome::Rejected("the task's future was closed without a value".into()),
        };
        self.tasks.settle(self.index, outcome);
        Poll::Ready(Ok(()))
    }
}

impl Drop for SettleOnValue {
    /// The store drops the consumer without a value when the writer goes away
    /// unwritten; a task settled earlier keeps its outcome.
    fn drop(&mut self) {
        self.tasks.settle(
            self.index,
            Outcome::Rejected("the task's future was dropped without a value".into()),
        );
    }
}

impl wait_until::HostWithStore<StoreState> for Edge {
    fn wait_until(
        mut host: Access<'_, StoreState, Self>,
        task: FutureReader<Result<(), String>>,
    ) -> wasmtime::Result<()> {
        let Some(request) = StoreState::current_request(&mut host) else {
            tracing::warn!("wait-until called outside of any request; the task is dropped");
            let mut task = task;
            return task.close(&mut host);
        };
        let tasks = request.deferred.clone();
        match tasks.register() {
            Some(index) => task.pipe(&mut host, SettleOnValue { tasks, index }),
            // Refused at the parked-task limit (and reported).
            None => {
                let mut task = task;
                task.close(&mut host)
            }
        }
    }
}

impl wait_until::Host for StoreState {}

/// Waits for the deferred phase of a request: for the end of the response,
/// then for every task to settle, at most `deadline` after that end. Tasks
/// still pending at the deadline are reported TIMED OUT, and the result is
/// `false`: guest work for them may still be running.
pub async fn settle_after_response(
    tasks: &DeferredTasks,
    response_end: impl Future<Output = impl Sized>,
    deadline: Duration,
) -> bool {
    response_end.await;
    tasks.mark_response_end();
    if tokio::time::timeout(deadline, tasks.all_settled())
        .await
        .is_err()
    {
        tasks.settle_pending(Outcome::TimedOut);
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_each_task_once_and_times_out_the_rest() {
        let metrics = Arc::new(Metrics::default());
        let tasks = DeferredTasks::new("r1".into(), metrics.clone(), 10);
        let a = tasks.register().unwrap();
        let b = tasks.register().unwrap();
        tasks.settle(a, Outcome::Fulfilled);
        tasks.settle(a, Outcome::Rejected("late".into()));
        assert_eq!(tasks.counts(), (2, 1));
        settle_after_response(&tasks, async {}, Duration::from_millis(10)).await;
        let records = tasks.lock();
        assert_eq!(
            records.records[a].settled.as_ref().unwrap().0,
            Outcome::Fulfilled
        );
        assert_eq!(
            records.records[b].settled.as_ref().unwrap().0,
            Outcome::TimedOut
        );
        assert!(records.records.iter().all(|r| r.reported));
        let counts = metrics.deferred();
        assert_eq!(
            (
                counts.registered,
                counts.fulfilled,
                counts.timed_out,
                counts.in_flight
            ),
            (2, 1, 1, 0)
        );
    }

    #[test]
    fn registrations_beyond_the_parked_limit_are_refused_and_counted() {
        let metrics = Arc::new(Metrics::default());
        let tasks = DeferredTasks::new("r3".into(), metrics.clone(), 2);
        assert!(tasks.register().is_some());
        assert!(tasks.register().is_some());
        assert!(tasks.register().is_none());
        let counts = metrics.deferred();
        assert_eq!(
            (
                counts.registered,
                counts.rejected,
                counts.refused,
                counts.in_flight
            ),
            (3, 1, 1, 2)
        );
        assert_eq!(tasks.counts(), (3, 2));
    }

    #[tokio::test]
    async fn late_registrations_extend_the_wait() {
        let tasks = DeferredTasks::new("r2".into(), Arc::default(), 10);
        let first = tasks.register().unwrap();
        let waiter = tasks.clone();
        let wait = tokio::spawn(async move {
            settle_after_response(&waiter, async {}, Duration::from_secs(5)).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let late = tasks.register().unwrap();
        tasks.settle(first, Outcome::Fulfilled);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!wait.is_finished(), "must wait for the late registration");
        tasks.settle(late, Outcome::Rejected("boom".into()));
        wait.await.unwrap();
        assert_eq!(tasks.counts(), (2, 0));
    }

    #[test]
    fn signed_ms_is_negative_before_origin() {
        let origin = Instant::now();
        let later = origin + Duration::from_millis(1500);
        assert_eq!(signed_ms(later, origin), 1500);
        assert_eq!(signed_ms(origin, later), -1500);
    }
}
