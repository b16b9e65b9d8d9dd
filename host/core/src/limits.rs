//! Per-instance resource limits.
//!
//! Limits are part of the engine's pooling allocator configuration (a slot
//! can never hold more than the pool was sized for) and of each `Store`
//! (epoch deadlines). Keeping them in one type means the pool, the store and
//! the manifest agree on what "64 MiB" means.

use std::time::Duration;

/// Default ceiling on any one instance's linear memory, host-wide. Each
/// service sets its own (smaller) limit in its manifest; this is the most
/// any service may ask for, and sizes the pooling allocator's slots.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 1024 * 1024 * 1024;

/// Default number of instances that may be alive at once across the host.
///
/// The pooling allocator reserves virtual address space for every slot up
/// front, so this bounds the host's memory commitment instead of letting a
/// burst of requests over-commit it.
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;

/// How often the epoch ticker advances the engine's epoch.
///
/// A running guest yields back to the async executor at every tick, which is
/// what keeps one busy guest from starving every other request on its
/// worker thread.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most handles (sockets, streams, HTTP bodies and fields, pollables,
/// key-value buckets) one instance may hold at once in its resource table.
///
/// Each handle is host memory outside the guest's own memory limit, and a
/// socket is an OS file descriptor too; wasmtime's default allows a
/// million. With this cap a guest that opens handles in a loop gets an
/// error (or traps) after 1,024, which bounds the descriptors and memory
/// one instance can pin; ordinary services hold a few dozen at most.
pub const MAX_RESOURCES: usize = 1024;

/// Limits applied to every instance of every service.
#[derive(Debug, Clone)]
pub struct InstanceLimits {
    /// Ceiling on any instance's linear memory, whatever its service asks.
    pub max_memory_bytes: usize,
    /// Maximum number of instances alive at once across the host.
    pub max_instances: u32,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        Self {
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
        }
    }
}
