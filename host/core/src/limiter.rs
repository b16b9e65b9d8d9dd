//! Enforcement of per-instance limits inside a store.
//!
//! [`InstanceLimiter`] is the store's `ResourceLimiter`: linear memory may
//! not grow past the service's limit (the guest sees `memory.grow` fail, as
//! on a machine out of memory), and the limiter remembers that it said no,
//! so the host can tell a memory-limit death from any other trap. CPU time
//! is counted in epoch ticks by the store's epoch callback (see
//! [`crate::component`]); [`LimitHit`] records which limit ended an
//! instance.

use wasmtime::ResourceLimiter;

/// Which limit ended an instance early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// The guest ran for longer than its CPU-time budget.
    CpuTime,
    /// The guest tried to grow memory past its limit.
    Memory,
}

/// Table elements one instance may have; generous for real programs,
/// small enough that a hostile guest cannot use tables to exhaust memory.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The `ResourceLimiter` of one instance.
#[derive(Debug)]
pub struct InstanceLimiter {
    memory_limit: usize,
    memory_denied: bool,
    peak_memory: usize,
}

impl InstanceLimiter {
    /// A limiter allowing `memory_limit` bytes of linear memory.
    pub fn new(memory_limit: usize) -> Self {
        Self {
            memory_limit,
            memory_denied: false,
            peak_memory: 0,
        }
    }

    /// Whether a memory growth was refused.
    pub fn memory_denied(&self) -> bool {
        self.memory_denied
    }

    /// The largest linear memory the instance reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.peak_memory
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
