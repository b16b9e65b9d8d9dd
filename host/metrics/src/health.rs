//! Per-version request health, kept apart from Prometheus so the host itself
//! can compare two versions of a service (canary vs stable) without parsing
//! its own exposition: a request count, an error count (5xx, which includes
//! traps and limit hits) and a latency histogram, all lock-free counters.
//! Comparisons are over windows: take a [`HealthSnapshot`] now and another
//! later, and [`HealthSnapshot::since`] gives what happened in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds; the last bucket is
/// everything above. Roughly ×2 steps: p99 is read to within one bucket.
const BUCKET_BOUNDS_US: [u64; 20] = [
    50, 100, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000,
    512_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000,
];
const BUCKETS: usize = BUCKET_BOUNDS_US.len() + 1;

/// Live counters of one service version.
#[derive(Debug, Default)]
pub struct VersionHealth {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl VersionHealth {
    /// Counts one finished request; `failed` when it answered 5xx (traps
    /// and limit hits included).
    pub fn record(&self, failed: bool, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let index = BUCKET_BOUNDS_US.partition_point(|bound| *bound < us);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
        }
    }
}

/// Counters at one moment, or (from [`since`](Self::since)) over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Requests finished.
    pub requests: u64,
    /// Of which answered 5xx.
    pub errors: u64,
    buckets: [u64; BUCKETS],
}

impl HealthSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &HealthSnapshot) -> HealthSnapshot {
        HealthSnapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
        }
    }

    /// Errors per request, in percent; 0 without requests.
    pub fn error_percent(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.errors as f64 * 100.0 / self.requests as f64
    }

    /// The 99th percentile latency, as the upper bound of the bucket it
    /// falls in (`None` without requests; the top bucket reads as its lower
    /// bound).
    pub fn p99(&self) -> Option<Duration> {
        self.percentile(99)
    }

    /// The `pct`th percentile latency (1..=100), read like [`p99`](Self::p99).
    pub fn percentile(&self, pct: u64) -> Option<Duration> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        // The smallest bucket whose cumulative count reaches `pct` %.
        let rank = total - total * (100 - pct.min(100)) / 100;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let bound = BUCKET_BOUNDS_US
                    .get(i)
                    .or(BUCKET_BOUNDS_US.last())
                    .copied()
                    .unwrap_or(0);
                return Some(Duration::from_micros(bound));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_errors_and_p99() {
        let health = VersionHealth::default();
        let before = health.snapshot();
        for _ in 0..98 {
            health.record(false, Duration::from_micros(300));
        }
        health.record(true, Duration::from_millis(3));
        health.record(true, Duration::from_millis(3));
        let window = health.snapshot().since(&before);
        assert_eq!(window.requests, 100);
        assert_eq!(window.errors, 2);
        assert!((window.error_percent() - 2.0).abs() < 1e-9);
        // 99 % of 100 is the 99th request, which is one of the slow ones.
        assert_eq!(window.p99(), Some(Duration::from_micros(4_000)));
        let later = health.snapshot();
        assert_eq!(later.since(&later).p99(), None);
        assert_eq!(later.since(&later).error_percent(), 0.0);
    }

    #[test]
    fn p99_of_fast_requests_stays_in_the_fast_bucket() {
        let health = VersionHealth::default();
        for _ in 0..1000 {
            health.record(false, Duration::from_micros(80));
        }
        health.record(false, Duration::from_secs(100));
        assert_eq!(health.snapshot().p99(), Some(Duration::from_micros(100)));
    }
}
