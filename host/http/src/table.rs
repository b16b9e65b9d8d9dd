//! What serves each route right now, swapped atomically on deploy.
//!
//! The handler reads one [`RouteTable`] per request (an `arc-swap` load: no
//! lock, no contention with deploys) and keeps the [`ServiceTarget`] it
//! picked for the whole request, so a request that started on a version
//! finishes on it however many swaps happen meanwhile. A deploy builds a
//! new table and installs it in one store; the old table, and with it the
//! old version, is freed when the last request holding it ends.
//!
//! Each version in service carries a [`RetireSignal`]: the deployer fires
//! it once the version has been out of service for its drain timeout, and
//! requests still running on it are cut off then — a version never lingers
//! forever behind a stuck request.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;

use http::HeaderName;
use tokio_util::sync::CancellationToken;
use wharf_core::ServiceTemplate;

use crate::router::Router;

/// Fired when a version has left service and its drain timeout has passed.
pub type RetireSignal = CancellationToken;

/// One version of a service in service.
#[derive(Clone)]
pub struct Serving {
    /// The compiled, pre-instantiated version.
    pub template: Arc<ServiceTemplate>,
    /// Cancels requests still running on this version once it is retired
    /// and drained; shared by every table the version is part of.
    pub retire: RetireSignal,
}

impl Serving {
    /// `template`, newly put in service.
    pub fn new(template: Arc<ServiceTemplate>) -> Self {
        Self {
            template,
            retire: RetireSignal::new(),
        }
    }
}

/// A weighted share of a service's traffic sent to a second version.
#[derive(Clone)]
pub struct Canary {
    /// The canary version.
    pub serving: Serving,
    /// Percent of requests, 0..=100.
    pub weight: u8,
    /// When set and present on a request, the split is by this header's
    /// value instead of the request ID, so one client keeps one version.
    pub sticky_header: Option<HeaderName>,
}

/// What one service serves: a stable version and maybe a canary.
#[derive(Clone)]
pub struct ServiceTarget {
    /// The version most traffic goes to.
    pub stable: Serving,
    /// The version the rest goes to.
    pub canary: Option<Canary>,
}

impl ServiceTarget {
    /// A target with only `stable`.
    pub fn stable(stable: Serving) -> Self {
        Self {
            stable,
            canary: None,
        }
    }

    /// The version that serves a request with `request_id` and `headers`:
    /// the canary for `weight` percent of the hash space, deterministically,
    /// so a retried request ID lands on the same version.
    pub fn pick(&self, request_id: &str, headers: &http::HeaderMap) -> &Serving {
        let Some(canary) = &self.canary else {
            return &self.stable;
        };
        let key = canary
            .sticky_header
            .as_ref()
            .and_then(|name| headers.get(name))
            .map_or(request_id.as_bytes(), |value| value.as_bytes());
        if bucket(key) < u64::from(canary.weight) {
            &canary.serving
        } else {
            &self.stable
        }
    }

    /// Every version in this target.
    pub fn versions(&self) -> impl Iterator<Item = &Serving> {
        std::iter::once(&self.stable).chain(self.canary.as_ref().map(|c| &c.serving))
    }
}

/// `key` mapped uniformly onto 0..100. `DefaultHasher::new()` uses fixed
/// keys: the same result for the same key within a build, which is all
/// per-request determinism needs.
fn bucket(key: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish() % 100
}

/// The routes and the services they lead to, as one immutable value.
#[derive(Clone, Default)]
pub struct RouteTable {
    router: Router,
    services: Vec<Arc<ServiceTarget>>,
}

impl RouteTable {
    /// A table routing by `router`, whose indices point into `services`.
    pub fn new(router: Router, services: Vec<Arc<ServiceTarget>>) -> Self {
        Self { router, services }
    }

    /// The service that serves `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<&Arc<ServiceTarget>> {
        self.router
            .lookup(path)
            .and_then(|index| self.services.get(index))
    }

    /// The service called `name`. A scan: apps have a handful of
    /// services, and only service-to-service calls look them up by name.
    pub fn by_name(&self, name: &str) -> Option<&Arc<ServiceTarget>> {
        self.services
            .iter()
            .find(|t| &*t.stable.template.identity().name == name)
    }

    /// Every service.
    pub fn services(&self) -> &[Arc<ServiceTarget>] {
        &self.services
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn a_sticky_key_always_lands_in_the_same_bucket() {
        // What a sticky header relies on: one value, one bucket, whatever
        // the request ID.
        let first = bucket(b"user-17");
        for _ in 0..100 {
            assert_eq!(bucket(b"user-17"), first);
        }
        let spread: std::collections::BTreeSet<u64> = (0..200)
            .map(|n| bucket(format!("user-{n}").as_bytes()))
            .collect();
        assert!(spread.len() > 50, "{spread:?}");
    }

    #[test]
    fn buckets_spread_sequential_ids_evenly() {
        let mut counts = [0u32; 10];
        for n in 0..10_000u64 {
            let id = format!("{n:016x}");
            counts[(bucket(id.as_bytes()) / 10) as usize] += 1;
        }
        for count in counts {
            assert!((800..1200).contains(&count), "{counts:?}");
        }
    }
}
