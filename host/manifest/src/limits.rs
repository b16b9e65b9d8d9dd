//! Per-service resource limits and their defaults.
//!
//! Every service gets these limits whether or not its manifest mentions
//! them; `[service.x.limits]` only overrides. The defaults are chosen so
//! that a well-behaved service never notices them and a hostile one cannot
//! hurt the host or its neighbours.

use std::time::Duration;

/// Default linear memory per instance.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Default CPU time one request may use.
pub const DEFAULT_CPU_TIME: Duration = Duration::from_secs(5);
/// Default wall-clock time one request may take, waiting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of instances of one service running at once.
pub const DEFAULT_MAX_CONCURRENT: u32 = 100;
/// Default number of requests that may wait for a free instance.
pub const DEFAULT_MAX_QUEUED: u32 = 100;
/// Default time a request may wait for a free instance before 503.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest request body accepted (413 past it).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 128 * 1024 * 1024;
/// Default number of requests one instance serves: one, so every request
/// gets a fresh instance and no request can see another's memory.
pub const DEFAULT_INSTANCE_REUSE: u32 = 1;

/// The limits one service runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per instance; growth past it fails inside the guest.
    pub memory_bytes: u64,
    /// CPU time per request, enforced by epoch interruption.
    pub cpu_time: Duration,
    /// Wall-clock time per request, including time spent waiting on I/O.
    pub timeout: Duration,
    /// Instances of this service that may run at once.
    pub max_concurrent: u32,
    /// Requests that may wait for a free instance; past it, 503.
    pub max_queued: u32,
    /// How long a request may wait for a free instance.
    pub queue_timeout: Duration,
    /// Largest request body accepted.
    pub max_request_body_bytes: u64,
    /// Largest response body sent, if limited.
    pub max_response_body_bytes: Option<u64>,
    /// Requests one instance may serve, one after another, before it is
    /// dropped. 1 (the default) is a fresh instance per request. More is an
    /// opt-in trade of isolation for speed: requests of the *same* service
    /// then share the instance's memory (globals, heap, caches), so one
    /// request can see what an earlier one left behind. Instances of
    /// different services never share anything either way.
    pub instance_reuse: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            cpu_time: DEFAULT_CPU_TIME,
            timeout: DEFAULT_TIMEOUT,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_queued: DEFAULT_MAX_QUEUED,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            max_response_body_bytes: None,
            instance_reuse: DEFAULT_INSTANCE_REUSE,
        }
    }
}
