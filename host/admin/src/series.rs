//! The console's time series: per service, one point a second for the last
//! 15 minutes, kept in memory and served by `GET /v1/services/{name}/series`.
//!
//! # Memory
//!
//! Each service has one ring of [`WINDOW`] slots, allocated in full when the
//! service is first seen and never grown: a slot is a [`Slot`] (the stable
//! point and an optional canary point, [`SLOT_BYTES`] = 44 bytes), so a
//! service costs `900 × 44 B ≈ 39 KiB` whatever its traffic, plus the last
//! counter snapshot of each version it runs (about 200 bytes each): about
//! 40 KiB. A service that is removed loses
//! its ring at the next tick. Nothing here is persisted: a restart starts
//! the charts empty.
//!
//! # Source
//!
//! The points are differences of the counters the host already keeps for
//! each version ([`wharf_metrics::VersionHealth`]: requests, 5xx, latency
//! buckets) and the live-instance gauge, read once a second by
//! [`crate::console`]; nothing is added to the request path.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use wharf_metrics::HealthSnapshot;

/// Points kept per service: 15 minutes at one a second.
pub const WINDOW: usize = 15 * 60;

/// One second of one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Requests finished in that second.
    pub requests: u32,
    /// Of which answered 5xx (traps and limit hits included).
    pub errors: u32,
    /// Median latency, microseconds (bucket upper bound; 0 without requests).
    pub p50_us: u32,
    /// 99th percentile latency, microseconds (as `p50_us`).
    pub p99_us: u32,
    /// Instances alive at the end of that second.
    pub live_instances: u32,
}

/// One second of a service: its stable version and the canary, if any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    stable: Point,
    canary: Option<Point>,
}

/// Bytes one slot takes in a ring.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// What one version looks like right now, as the sampler reads it.
#[derive(Debug, Clone)]
pub struct VersionReading {
    /// Version label.
    pub version: Arc<str>,
    /// Its request counters since it was loaded.
    pub health: HealthSnapshot,
    /// Instances alive.
    pub live_instances: u32,
}

/// What one service looks like right now.
#[derive(Debug, Clone)]
pub struct ServiceReading {
    /// Service name.
    pub name: Arc<str>,
    /// The stable version.
    pub stable: VersionReading,
    /// The canary, while one runs.
    pub canary: Option<VersionReading>,
}

struct Ring {
    /// Unix second of the newest slot.
    last_second: u64,
    slots: VecDeque<Slot>,
    stable_version: Arc<str>,
    canary_version: Option<Arc<str>>,
    /// Counters at the previous tick, per version label (at most the two
    /// versions of the previous tick).
    previous: Vec<(Arc<str>, HealthSnapshot)>,
}

/// Every service's ring.
#[derive(Default)]
pub struct SeriesStore {
    rings: HashMap<Arc<str>, Ring>,
}

/// `GET /v1/services/{name}/series`.
#[derive(Debug, Serialize)]
pub struct Series {
    /// Service name.
    pub service: String,
    /// Seconds between points (always 1).
    pub interval_seconds: u32,
    /// Unix time (seconds) of the last point; the first is
    /// `end - (points - 1)`. 0 without points.
    pub end: u64,
    /// Stable version label now.
    pub stable_version: String,
    /// Canary version label now, while one runs.
    pub canary_version: Option<String>,
    /// Oldest first.
    pub stable: Vec<Point>,
    /// Oldest first, `null` where no canary ran.
    pub canary: Vec<Option<Point>>,
}

impl Series {
    /// A series with no points yet (a service newer than the last sample).
    pub fn empty(service: &str, stable_version: &str) -> Self {
        Self {
            service: service.to_string(),
            interval_seconds: 1,
            end: 0,
            stable_version: stable_version.to_string(),
            canary_version: None,
            stable: Vec::new(),
            canary: Vec::new(),
        }
    }
}

impl SeriesStore {
    /// Records one tick at unix second `now` from `readings`; services
    /// missing from `readings` are forgotten.
    pub fn record(&mut self, now: u64, readings: &[ServiceReading]) {
        self.rings
            .retain(|name, _| readings.iter().any(|r| r.name == *name));
        for reading in readings {
            let ring = self
                .rings
                .entry(reading.name.clone())
                .or_insert_with(|| Ring {
                    last_second: now.saturating_sub(1),
                    slots: VecDeque::with_capacity(WINDOW),
                    stable_version: reading.stable.version.clone(),
                    canary_version: None,
                    previous: Vec::new(),
                });
            let stable = point(&ring.previous, &reading.stable);
            let canary = reading.canary.as_ref().map(|c| point(&ring.previous, c));
            // A late tick (a busy host) fills the seconds it missed with
            // zeros rather than stretching time; never more than the window.
            let gap = now.saturating_sub(ring.last_second).clamp(1, WINDOW as u64);
            for _ in 1..gap {
                push(&mut ring.slots, Slot::default());
            }
            push(&mut ring.slots, Slot { stable, canary });
            ring.last_second = now.max(ring.last_second);
            ring.stable_version = reading.stable.version.clone();
            ring.canary_version = reading.canary.as_ref().map(|c| c.version.clone());
            ring.previous.clear();
            ring.previous
                .push((reading.stable.version.clone(), reading.stable.health));
            if let Some(c) = &reading.canary {
                ring.previous.push((c.version.clone(), c.health));
            }
        }
    }

    /// The series of `service`, if it is known.
    pub fn series(&self, service: &str) -> Option<Series> {
        let ring = self.rings.get(service)?;
        Some(Series {
            service: service.to_string(),
            interval_seconds: 1,
            end: ring.last_second,
            stable_version: ring.stable_version.to_string(),
            canary_version: ring.canary_version.as_ref().map(|v| v.to_string()),
            stable: ring.slots.iter().map(|s| s.stable).collect(),
            canary: ring.slots.iter().map(|s| s.canary).collect(),
        })
    }

    /// Heap bytes the rings hold (slots and keys), for the memory test and
    /// the docs.
    pub fn heap_bytes(&self) -> usize {
        self.rings
            .iter()
            .map(|(name, ring)| {
                name.len()
                    + ring.slots.capacity() * SLOT_BYTES
                    + ring.previous.capacity() * std::mem::size_of::<(Arc<str>, HealthSnapshot)>()
            })
            .sum()
    }

    /// Services with a ring.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether no service has a ring.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }
}

fn push(slots: &mut VecDeque<Slot>, slot: Slot) {
    if slots.len() == WINDOW {
        slots.pop_front();
    }
    slots.push_back(slot);
}

fn point(previous: &[(Arc<str>, HealthSnapshot)], now: &VersionReading) -> Point {
    // A version not seen at the last tick counts from its start.
    let base = previous
        .iter()
        .find(|(v, _)| *v == now.version)
        .map(|(_, h)| *h)
        .unwrap_or_default();
    let window = now.health.since(&base);
    let us = |d: Option<std::time::Duration>| {
        d.map_or(0, |d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
    };
    Point {
        requests: u32::try_from(window.requests).unwrap_or(u32::MAX),
        errors: u32::try_from(window.errors).unwrap_or(u32::MAX),
        p50_us: us(window.percentile(50)),
        p99_us: us(window.p99()),
        live_instances: now.live_instances,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use wharf_metrics::VersionHealth;

    use super::*;

    fn reading(
        name: &str,
        health: &VersionHealth,
        canary: Option<&VersionHealth>,
    ) -> ServiceReading {
        ServiceReading {
            name: name.into(),
            stable: VersionReading {
                version: "v1".into(),
                health: health.snapshot(),
                live_instances: 1,
            },
            canary: canary.map(|c| VersionReading {
                version: "v2".into(),
                health: c.snapshot(),
                live_instances: 0,
            }),
        }
    }

    #[test]
    fn points_are_per_second_differences() {
        let stable = VersionHealth::default();
        let canary = VersionHealth::default();
        let mut store = SeriesStore::default();
        store.record(100, &[reading("web", &stable, None)]);
        for _ in 0..5 {
            stable.record(false, Duration::from_micros(300));
        }
        stable.record(true, Duration::from_millis(3));
        canary.record(false, Duration::from_micros(80));
        store.record(101, &[reading("web", &stable, Some(&canary))]);
        store.record(103, &[reading("web", &stable, Some(&canary))]);
        let series = store.series("web").unwrap();
        assert_eq!(series.end, 103);
        assert_eq!(series.stable.len(), 4, "a missed second is a zero point");
        let p = series.stable[1];
        assert_eq!(
            (p.requests, p.errors, p.p50_us, p.p99_us),
            (6, 1, 500, 4_000)
        );
        assert_eq!(series.canary[1].unwrap().requests, 1);
        assert_eq!(series.stable[2], Point::default());
        assert_eq!(series.stable[3].requests, 0);
        assert_eq!(series.canary_version.as_deref(), Some("v2"));
        assert!(store.series("nope").is_none());
        store.record(104, &[]);
        assert!(store.is_empty(), "a removed service loses its ring");
    }

    #[test]
    fn memory_stays_bounded_with_fifty_services() {
        let health: Vec<VersionHealth> = (0..50).map(|_| VersionHealth::default()).collect();
        let names: Vec<String> = (0..50).map(|i| format!("service-{i:02}")).collect();
        let mut store = SeriesStore::default();
        let mut after_first_window = 0;
        // Three windows' worth of ticks, with traffic and a canary.
        for second in 0..(3 * WINDOW as u64) {
            let readings: Vec<ServiceReading> = names
                .iter()
                .zip(&health)
                .map(|(name, h)| {
                    h.record(second % 7 == 0, Duration::from_micros(second % 5000));
                    reading(name, h, (second % 2 == 0).then_some(h))
                })
                .collect();
            store.record(1_000 + second, &readings);
            if second == WINDOW as u64 {
                after_first_window = store.heap_bytes();
            }
        }
        assert_eq!(store.len(), 50);
        for name in &names {
            assert_eq!(store.series(name).unwrap().stable.len(), WINDOW);
        }
        // Rings never grow once full.
        assert_eq!(store.heap_bytes(), after_first_window);
        // The documented bound: about 40 KiB a service.
        let per_service = store.heap_bytes() / 50;
        assert!(per_service <= 48 * 1024, "{per_service} bytes per service");
        // A clock jump far ahead never grows a ring past the window.
        let readings: Vec<ServiceReading> = names
            .iter()
            .zip(&health)
            .map(|(n, h)| reading(n, h, None))
            .collect();
        store.record(u64::MAX / 2, &readings);
        assert_eq!(store.heap_bytes(), after_first_window);
    }
}
