//! The deferred tasks of one request, from registration to the one log line
//! that reports how each of them settled, and the settlement after the
//! response.
//!
//! A task settles exactly once: FULFILLED or REJECTED when the guest writes
//! its future (or REJECTED when the future is closed without a value, or the
//! instance traps), TIMED OUT when the deferred deadline passes first. The
//! deadline is counted from the end of the response body, so the time it took
//! to stream the response never eats into it.

use crate::ledger::TaskLedger;
use crate::outcome::Outcome;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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
    ledger: Arc<dyn TaskLedger>,
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

/// How one task of a request settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettlement {
    /// The task's index in its request, in registration order (the `task`
    /// field of its log line).
    pub task: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// From its registration to its settlement.
    pub ran: Duration,
    /// Milliseconds from the response end to its settlement, negative when
    /// it settled before the response ended.
    pub after_response_end_ms: i64,
}

/// The end of a request's deferred phase: one settlement per task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Every task the request registered, in registration order.
    pub tasks: Vec<TaskSettlement>,
    /// `false` when the deadline passed with tasks pending (they are TIMED
    /// OUT, and guest work for them may still be running).
    pub in_time: bool,
}

impl DeferredTasks {
    /// An empty set for the request with this id, counted in `ledger`.
    /// Registrations are refused while the ledger holds `max_parked` tasks
    /// in flight.
    pub fn new(request_id: Arc<str>, ledger: Arc<dyn TaskLedger>, max_parked: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                request_id,
                tasks: Mutex::new(Tasks::default()),
                changed: Notify::new(),
                ledger,
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

    /// Adds a task and returns its index, or `None` if the parked-task limit
    /// is reached: the task is then recorded as REJECTED at once. The
    /// `wait-until` import registers each future a guest hands over; a host
    /// may register work of its own and [`settle`](Self::settle) it.
    pub fn register(&self) -> Option<usize> {
        let ledger = &self.shared.ledger;
        let refused = ledger.in_flight() >= self.shared.max_parked as u64;
        let mut tasks = self.lock();
        let now = Instant::now();
        let index = tasks.records.len();
        if refused {
            ledger.refused();
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
        ledger.registered();
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
        self.shared.ledger.settled(&outcome, after_response);
        tasks.records[index].settled = Some((outcome, at));
    }

    /// Records how task `index` ended, unless it already has an outcome (or
    /// there is no such task).
    pub fn settle(&self, index: usize, outcome: Outcome) {
        let mut tasks = self.lock();
        if tasks
            .records
            .get(index)
            .is_some_and(|r| r.settled.is_none())
        {
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

    /// How every settled task ended, timed from the response end (or from
    /// now, if the response has not ended).
    fn settlements(&self) -> Vec<TaskSettlement> {
        let tasks = self.lock();
        let response_end = tasks.response_end.unwrap_or_else(Instant::now);
        tasks
            .records
            .iter()
            .enumerate()
            .filter_map(|(task, record)| {
                let (outcome, at) = record.settled.as_ref()?;
                Some(TaskSettlement {
                    task,
                    outcome: outcome.clone(),
                    ran: at.duration_since(record.registered),
                    after_response_end_ms: signed_ms(*at, response_end),
                })
            })
            .collect()
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

/// The deferred phase of a request: waits for the end of the response, then
/// for every task to settle (tasks registered meanwhile included), at most
/// `deadline` after that end. Tasks still pending at the deadline are
/// reported TIMED OUT. Resolves to one settlement per task.
pub async fn settle_after_response(
    tasks: &DeferredTasks,
    response_end: impl Future<Output = impl Sized>,
    deadline: Duration,
) -> Settlement {
    response_end.await;
    tasks.mark_response_end();
    let in_time = tokio::time::timeout(deadline, tasks.all_settled())
        .await
        .is_ok();
    if !in_time {
        tasks.settle_pending(Outcome::TimedOut);
    }
    Settlement {
        tasks: tasks.settlements(),
        in_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::TaskCounts;

    #[tokio::test]
    async fn settles_each_task_once_and_times_out_the_rest() {
        let counts = Arc::new(TaskCounts::default());
        let tasks = DeferredTasks::new("r1".into(), counts.clone(), 10);
        let a = tasks.register().unwrap();
        let b = tasks.register().unwrap();
        tasks.settle(a, Outcome::Fulfilled);
        tasks.settle(a, Outcome::Rejected("late".into()));
        assert_eq!(tasks.counts(), (2, 1));
        let settlement = settle_after_response(&tasks, async {}, Duration::from_millis(10)).await;
        assert!(!settlement.in_time);
        let outcomes: Vec<_> = settlement.tasks.iter().map(|t| &t.outcome).collect();
        assert_eq!(outcomes, [&Outcome::Fulfilled, &Outcome::TimedOut]);
        assert!(settlement.tasks[0].after_response_end_ms <= 0);
        assert_eq!(settlement.tasks[1].task, b);
        let records = tasks.lock();
        assert!(records.records.iter().all(|r| r.reported));
        let c = counts.snapshot();
        assert_eq!(
            (c.registered, c.fulfilled, c.timed_out, c.in_flight),
            (2, 1, 1, 0)
        );
    }

    #[test]
    fn registrations_beyond_the_parked_limit_are_refused_and_counted() {
        let counts = Arc::new(TaskCounts::default());
        let tasks = DeferredTasks::new("r3".into(), counts.clone(), 2);
        assert!(tasks.register().is_some());
        assert!(tasks.register().is_some());
        assert!(tasks.register().is_none());
        let c = counts.snapshot();
        assert_eq!(
            (c.registered, c.rejected, c.refused, c.in_flight),
            (3, 1, 1, 2)
        );
        assert_eq!(tasks.counts(), (3, 2));
    }

    #[tokio::test]
    async fn late_registrations_extend_the_wait() {
        let tasks = DeferredTasks::new("r2".into(), Arc::new(TaskCounts::default()), 10);
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
        let settlement = wait.await.unwrap();
        assert!(settlement.in_time);
        assert_eq!(settlement.tasks.len(), 2);
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
