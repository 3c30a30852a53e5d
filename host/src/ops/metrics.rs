//! Prometheus metrics, in the text exposition format, for the admin server's
//! `/metrics`.
//!
//! Deferred-task counters are edge-fetch-host's [`TaskCounts`], under one
//! lock, so every scrape satisfies `registered = fulfilled + rejected +
//! timed_out + in_flight` exactly; the in-flight gauge is kept by its own
//! increments and decrements, so the sum is a real check on the bookkeeping,
//! not a definition.

use edge_fetch_host::{DeferredCounts, Outcome, TaskCounts, TaskLedger};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the buckets of request-scale durations.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of the buckets of instantiation times.
const INSTANTIATION_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
];

/// A cumulative histogram of durations.
struct Histogram {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(index) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.counts[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(value.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Every metric of the host.
pub struct Metrics {
    /// Indexed by status code - 100.
    responses: Box<[AtomicU64]>,
    latency: Histogram,
    deferred: TaskCounts,
    settled_after_response: Histogram,
    instantiation: Histogram,
    store_setup: Histogram,
    acquire: Histogram,
    taken_ready: AtomicU64,
    instances_ready: AtomicI64,
    instances_alive: AtomicI64,
    requests_refused: AtomicU64,
    reloads: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            responses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::new(BUCKETS),
            deferred: TaskCounts::default(),
            settled_after_response: Histogram::new(BUCKETS),
            instantiation: Histogram::new(INSTANTIATION_BUCKETS),
            store_setup: Histogram::new(INSTANTIATION_BUCKETS),
            acquire: Histogram::new(INSTANTIATION_BUCKETS),
            taken_ready: AtomicU64::new(0),
            instances_ready: AtomicI64::new(0),
            instances_alive: AtomicI64::new(0),
            requests_refused: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts a response with `status`, `latency` after its request arrived.
    pub fn response(&self, status: u16, latency: Duration) {
        if let Some(counter) = self.responses.get(usize::from(status).wrapping_sub(100)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(latency);
    }

    /// Records how long creating a request's store and instantiating its
    /// component(s) took, and how much of that was the store's set-up
    /// (WASI context, store, limits and hooks) before any instantiation.
    pub fn instantiated(&self, took: Duration, store_setup: Duration) {
        self.instantiation.observe(took);
        self.store_setup.observe(store_setup);
    }

    /// Records how long a new worker waited for its store and instance, and
    /// whether it took one made ahead of requests.
    pub fn instance_acquired(&self, took: Duration, ready: bool) {
        self.acquire.observe(took);
        if ready {
            self.taken_ready.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts instances made ahead of requests (`delta` > 0) or taken or
    /// dropped (`delta` < 0).
    pub fn instances_ready(&self, delta: i64) {
        self.instances_ready.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts a request refused with 503 by the concurrency or parked-task cap.
    pub fn request_refused(&self) {
        self.requests_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a successful component reload.
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// An instance (store) was created; the returned guard counts it alive
    /// until dropped.
    pub fn instance_alive(self: &std::sync::Arc<Self>) -> InstanceGuard {
        self.instances_alive.fetch_add(1, Ordering::Relaxed);
        InstanceGuard(self.clone())
    }

    /// A consistent snapshot of the deferred-task counts.
    pub fn deferred(&self) -> DeferredCounts {
        self.deferred.snapshot()
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP edge_http_responses_total Responses sent, by status code.\n\
             # TYPE edge_http_responses_total counter"
        );
        for (index, counter) in self.responses.iter().enumerate() {
            let count = counter.load(Ordering::Relaxed);
            if count > 0 {
                let status = index + 100;
                let _ = writeln!(
                    out,
                    "edge_http_responses_total{{status=\"{status}\"}} {count}"
                );
            }
        }
        self.latency.render(
            &mut out,
            "edge_http_response_latency_seconds",
            "Time from request arrival to response head.",
        );
        let counts = self.deferred();
        for (name, help, kind, value) in [
            (
                "registered",
                "Deferred tasks registered.",
                "counter",
                counts.registered,
            ),
            (
                "fulfilled",
                "Deferred tasks that resolved ok.",
                "counter",
                counts.fulfilled,
            ),
            (
                "rejected",
                "Deferred tasks that resolved err, were dropped or died with their instance.",
                "counter",
                counts.rejected,
            ),
            (
                "timed_out",
                "Deferred tasks pending at their deadline or at shutdown.",
                "counter",
                counts.timed_out,
            ),
            (
                "refused",
                "Registrations refused at the parked-task limit (also counted rejected).",
                "counter",
                counts.refused,
            ),
            (
                "in_flight",
                "Deferred tasks registered and not yet settled.",
                "gauge",
                counts.in_flight,
            ),
        ] {
            let suffix = if kind == "counter" { "_total" } else { "" };
            let metric = format!("edge_deferred_tasks_{name}{suffix}");
            let _ = writeln!(
                out,
                "# HELP {metric} {help}\n# TYPE {metric} {kind}\n{metric} {value}"
            );
        }
        self.settled_after_response.render(
            &mut out,
            "edge_deferred_settle_after_response_seconds",
            "Time from the response end to a deferred task's settlement.",
        );
        self.instantiation.render(
            &mut out,
            "edge_instantiation_seconds",
            "Time to create a request's store and instantiate its component(s).",
        );
        self.store_setup.render(
            &mut out,
            "edge_store_setup_seconds",
            "Part of edge_instantiation_seconds spent setting up the store (WASI context, limits, hooks) before instantiating.",
        );
        self.acquire.render(
            &mut out,
            "edge_instance_acquire_seconds",
            "Time a new worker waited for its store and instance: taking one made ahead of requests, or instantiating then.",
        );
        for (metric, help, kind, value) in [
            (
                "edge_instances_alive",
                "Guest instances (stores) alive, from the moment a worker takes them.",
                "gauge",
                self.instances_alive.load(Ordering::Relaxed),
            ),
            (
                "edge_instances_ready",
                "Instances made ahead of requests, waiting for one.",
                "gauge",
                self.instances_ready.load(Ordering::Relaxed),
            ),
            (
                "edge_instances_taken_ready_total",
                "New workers that took an instance made ahead of requests (the rest instantiated on the spot).",
                "counter",
                self.taken_ready.load(Ordering::Relaxed) as i64,
            ),
            (
                "edge_requests_refused_total",
                "Requests answered 503 at the concurrency or parked-task cap.",
                "counter",
                self.requests_refused.load(Ordering::Relaxed) as i64,
            ),
            (
                "edge_component_reloads_total",
                "Successful component reloads.",
                "counter",
                self.reloads.load(Ordering::Relaxed) as i64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {metric} {help}\n# TYPE {metric} {kind}\n{metric} {value}"
            );
        }
        out
    }
}

/// Every request's deferred tasks are counted here: the counts, and how long
/// after the response end each task settled.
impl TaskLedger for Metrics {
    fn in_flight(&self) -> u64 {
        self.deferred.in_flight()
    }

    fn registered(&self) {
        self.deferred.registered();
    }

    fn refused(&self) {
        self.deferred.refused();
    }

    fn settled(&self, outcome: &Outcome, after_response: Duration) {
        self.deferred.settled(outcome, after_response);
        self.settled_after_response.observe(after_response);
    }
}

/// Counts one instance alive while it exists.
pub struct InstanceGuard(std::sync::Arc<Metrics>);

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        self.0.instances_alive.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_counts_add_up() {
        let metrics = Metrics::default();
        for _ in 0..4 {
            metrics.registered();
        }
        metrics.refused();
        metrics.settled(&Outcome::Fulfilled, Duration::from_millis(3));
        metrics.settled(&Outcome::Rejected("x".into()), Duration::ZERO);
        metrics.settled(&Outcome::TimedOut, Duration::from_secs(1));
        let c = metrics.deferred();
        assert_eq!(
            c.registered,
            c.fulfilled + c.rejected + c.timed_out + c.in_flight
        );
        assert_eq!((c.registered, c.in_flight, c.refused), (5, 1, 1));
        let text = metrics.render();
        assert!(
            text.contains("edge_deferred_tasks_registered_total 5"),
            "{text}"
        );
        assert!(
            text.contains("edge_deferred_settle_after_response_seconds_count 3"),
            "{text}"
        );
    }

    #[test]
    fn responses_are_counted_by_status() {
        let metrics = Metrics::default();
        metrics.response(200, Duration::from_millis(2));
        metrics.response(200, Duration::from_millis(20));
        metrics.response(503, Duration::ZERO);
        metrics.instantiated(Duration::from_micros(20), Duration::from_micros(2));
        let text = metrics.render();
        assert!(
            text.contains("edge_http_responses_total{status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("edge_http_responses_total{status=\"503\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("edge_http_response_latency_seconds_bucket{le=\"0.0025\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("edge_http_response_latency_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("edge_instantiation_seconds_bucket{le=\"0.000025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("edge_store_setup_seconds_bucket{le=\"0.00001\"} 1"),
            "{text}"
        );
    }
}
