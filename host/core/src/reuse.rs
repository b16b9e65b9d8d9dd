//! Opt-in instance reuse: idle instances of one service version kept for
//! its next HTTP requests.
//!
//! By default every request gets a fresh instance (`limits.instance_reuse =
//! 1`), which is Wharf's isolation promise. A service that sets
//! `instance_reuse = N` trades some of that isolation for speed: one
//! instance serves up to N requests of that service, one after another, so
//! a later request can see what an earlier one left in the instance's
//! memory. Instances are never shared between services or versions, and
//! never serve two requests at once (a `wasi:http@0.2` handler cannot be
//! re-entered; a WASI 0.3 instance is reused the same way, one request
//! after another, once the previous request's tasks have all exited).
//!
//! An instance goes back to the idle list only when its request ended
//! cleanly: `handle` returned without a trap and without hitting a limit,
//! and the guest left nothing in its resource table. Anything else drops
//! it, like a fresh instance. An idle instance still holds a pool slot and
//! its memory, so it is dropped after [`IDLE_TIMEOUT`] without a request, and
//! the idle list never holds more instances than ran at once.
//!
//! Requests for messages (`wasmcloud:messaging` handlers) always get fresh
//! instances.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::handler::Proxy;

use crate::state::InstanceState;

/// How long an idle instance is kept without a request: long enough to
/// carry a service through the gaps of steady traffic, short enough that a
/// burst's instances soon give their pool slots and memory back.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// An instance on its way to or from a request.
pub struct Instance {
    /// The store; its data is bound to the current request.
    pub store: Store<InstanceState>,
    /// The instantiated handler, when this instance was reused; `None` for
    /// a fresh store the caller still has to instantiate.
    pub proxy: Option<Proxy>,
    /// Requests this instance has served before the current one.
    pub served: u32,
}

impl Instance {
    /// A fresh store, not yet instantiated.
    pub fn fresh(store: Store<InstanceState>) -> Self {
        Self {
            store,
            proxy: None,
            served: 0,
        }
    }
}

struct Idle {
    store: Store<InstanceState>,
    proxy: Proxy,
    served: u32,
    since: Instant,
}

/// The idle instances of one service version.
pub struct IdleInstances {
    /// Requests one instance may serve (`limits.instance_reuse`, > 1).
    max_requests: u32,
    /// Most recently used last: taken from the end (its pages are the
    /// warmest), expired from the front.
    idle: Mutex<Vec<Idle>>,
}

impl IdleInstances {
    /// Idle instances that serve at most `max_requests` requests each, or
    /// `None` when the service does not reuse instances. Starts a sweeper
    /// that drops instances idle for [`IDLE_TIMEOUT`] when called inside a
    /// tokio runtime (without one, expired instances are dropped when the
    /// next request looks for one).
    pub fn new(max_requests: u32) -> Option<Arc<Self>> {
        if max_requests <= 1 {
            return None;
        }
        let pool = Arc::new(Self {
            max_requests,
            idle: Mutex::new(Vec::new()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&pool)));
        }
        Some(pool)
    }

    /// The most recently used idle instance that has not expired.
    pub fn take(&self) -> Option<Instance> {
        let now = Instant::now();
        let (found, expired) = {
            let mut idle = self.lock();
            let found = idle.pop();
            let expired = drain_expired(&mut idle, now);
            (found, expired)
        };
        // Dropping a store resets its memory: done outside the lock.
        drop(expired);
        let found = found.filter(|i| now.duration_since(i.since) < IDLE_TIMEOUT)?;
        Some(Instance {
            store: found.store,
            proxy: Some(found.proxy),
            served: found.served,
        })
    }

    /// Keeps `instance`, whose request just ended cleanly, for a later
    /// request, unless it has served its share or left resources behind.
    pub fn put(&self, store: Store<InstanceState>, proxy: Proxy, served: u32) {
        if served >= self.max_requests || !store.data().is_quiescent() {
            return;
        }
        self.lock().push(Idle {
            store,
            proxy,
            served,
            since: Instant::now(),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // Nothing panics while holding the lock; a poisoned list is still a
        // valid list.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn drain_expired(idle: &mut Vec<Idle>, now: Instant) -> Vec<Idle> {
    let fresh = idle
        .iter()
        .position(|i| now.duration_since(i.since) < IDLE_TIMEOUT)
        .unwrap_or(idle.len());
    idle.drain(..fresh).collect()
}

/// Drops expired instances every half timeout until the version is gone.
async fn sweep(pool: Weak<IdleInstances>) {
    let mut tick = tokio::time::interval(IDLE_TIMEOUT / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let expired = drain_expired(&mut pool.lock(), Instant::now());
        drop(expired);
    }
}
