//! Request figures kept in fixed memory: counters by status class and by route, a latency
//! histogram with Prometheus-style buckets, and the open-connection gauge. All atomics,
//! so recording costs a few relaxed adds and reading never blocks a request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::route::Route;

/// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
pub const LATENCY_BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
    by_route: [AtomicU64; Route::ALL.len()],
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    latency_sum_micros: AtomicU64,
    open_connections: AtomicU64,
    connections_total: AtomicU64,
    connections_shed: AtomicU64,
}

/// A consistent-enough copy for `/api/stats` and `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub requests_total: u64,
    /// `1xx` … `5xx`.
    pub by_status: Vec<(String, u64)>,
    pub by_route: Vec<(&'static str, u64)>,
    /// Cumulative counts per bucket bound, Prometheus-style, ending with +Inf.
    pub latency_buckets: Vec<u64>,
    pub latency_sum_seconds: f64,
    pub open_connections: u64,
    pub connections_total: u64,
    pub connections_shed: u64,
}

impl Metrics {
    pub fn record(&self, route: Route, status: u16, took: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let index = Route::ALL.iter().position(|r| *r == route).unwrap_or(0);
        self.by_route[index].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn connection_shed(&self) {
        self.connections_shed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let by_status: Vec<(String, u64)> = self
            .by_class
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{}xx", i + 1), load(n)))
            .collect();
        let mut running = 0;
        let latency_buckets = self
            .buckets
            .iter()
            .map(|n| {
                running += load(n);
                running
            })
            .collect();
        Snapshot {
            requests_total: by_status.iter().map(|(_, n)| n).sum(),
            by_status,
            by_route: Route::ALL
                .iter()
                .zip(&self.by_route)
                .map(|(route, n)| (route.path(), load(n)))
                .collect(),
            latency_buckets,
            latency_sum_seconds: load(&self.latency_sum_micros) as f64 / 1e6,
            open_connections: load(&self.open_connections),
            connections_total: load(&self.connections_total),
            connections_shed: load(&self.connections_shed),
        }
    }
}

impl Snapshot {
    /// Estimates the `q` quantile in seconds the way Prometheus' `histogram_quantile`
    /// does: find the bucket, interpolate linearly inside it. `None` before any request.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = *self.latency_buckets.last()?;
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let index = self
            .latency_buckets
            .iter()
            .position(|&count| count as f64 >= rank)?;
        let Some(&upper) = LATENCY_BOUNDS.get(index) else {
            // Beyond the last bound: the best honest answer is that bound.
            return LATENCY_BOUNDS.last().copied();
        };
        let lower = if index == 0 {
            0.0
        } else {
            LATENCY_BOUNDS[index - 1]
        };
        let below = if index == 0 {
            0
        } else {
            self.latency_buckets[index - 1]
        };
        let inside = (self.latency_buckets[index] - below) as f64;
        let fraction = if inside > 0.0 {
            (rank - below as f64) / inside
        } else {
            1.0
        };
        Some(lower + (upper - lower) * fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class_and_route() {
        let metrics = Metrics::default();
        metrics.record(Route::Messages, 201, Duration::from_millis(2));
        metrics.record(Route::Messages, 429, Duration::from_micros(50));
        metrics.record(Route::Other, 404, Duration::from_micros(80));
        metrics.record(Route::Health, 503, Duration::from_secs(20));
        let snap = metrics.snapshot();
        assert_eq!(snap.requests_total, 4);
        let class = |c: &str| snap.by_status.iter().find(|(k, _)| k == c).unwrap().1;
        assert_eq!((class("2xx"), class("4xx"), class("5xx")), (1, 2, 1));
        let route = |r: &str| snap.by_route.iter().find(|(k, _)| *k == r).unwrap().1;
        assert_eq!(route("/api/messages"), 2);
        assert_eq!(*snap.latency_buckets.last().unwrap(), 4);
        assert_eq!(snap.latency_buckets[0], 2, "two at or under 100 µs");
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let metrics = Metrics::default();
        assert_eq!(metrics.snapshot().quantile(0.5), None);
        for _ in 0..100 {
            // All in the (0.5 ms, 1 ms] bucket.
            metrics.record(Route::Page, 200, Duration::from_micros(800));
        }
        let snap = metrics.snapshot();
        let p50 = snap.quantile(0.5).unwrap();
        assert!((p50 - 0.00075).abs() < 1e-9, "{p50}");
        let p99 = snap.quantile(0.99).unwrap();
        assert!(p99 > 0.0009 && p99 <= 0.001, "{p99}");
        metrics.record(Route::Page, 200, Duration::from_secs(60));
        assert_eq!(metrics.snapshot().quantile(1.0), Some(10.0));
    }

    #[test]
    fn connections_gauge_goes_up_and_down() {
        let metrics = Metrics::default();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.connection_shed();
        let snap = metrics.snapshot();
        assert_eq!(
            (
                snap.open_connections,
                snap.connections_total,
                snap.connections_shed
            ),
            (1, 2, 1)
        );
    }
}
