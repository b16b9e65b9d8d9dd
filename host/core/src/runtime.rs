//! The process-wide wasmtime engine and its epoch ticker.
//!
//! One [`Runtime`] is created per host process. It fixes the engine settings
//! every component is compiled for (so compiled code can be shared and
//! cached), sizes the pooling allocator from [`InstanceLimits`], and runs a
//! ticker thread that advances the engine epoch so long-running guests yield.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use wharf_metrics::Metrics;

use crate::limits::{DEFAULT_EPOCH_TICK, InstanceLimits};
use crate::state::InstanceState;

/// Settings fixed for the lifetime of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Limits every instance is held to.
    pub limits: InstanceLimits,
    /// Interval between epoch ticks.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            limits: InstanceLimits::default(),
            epoch_tick: DEFAULT_EPOCH_TICK,
        }
    }
}

/// The engine shared by every service of the host.
pub struct Runtime {
    engine: Engine,
    metrics: Arc<Metrics>,
    epoch_tick: Duration,
    /// Every WASI 0.2 and WASI 0.3 interface plus `wasi:http` of both,
    /// linked once and shared by every service (a WASI 0.3 component built
    /// by Rust std or CPython imports WASI 0.2 as well): what a guest may actually *do* is decided by its
    /// per-instance state, not by which functions exist.
    linker: Linker<InstanceState>,
    limits: InstanceLimits,
    /// Where `wasi:keyvalue` stores live; set once by the host
    /// ([`set_key_value`](Self::set_key_value)) before services load.
    key_value: std::sync::OnceLock<Arc<dyn wharf_keyvalue::Backend>>,
    /// Held so the ticker stops when the runtime is dropped.
    _ticker: EpochTicker,
}

impl Runtime {
    /// Creates the engine with the pooling allocator sized from `config`;
    /// everything it runs is counted in `metrics`.
    pub fn new(config: RuntimeConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(&config.limits))
            .map_err(anyhow::Error::from)
            .context("failed to configure the wasmtime engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI 0.2")?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link wasi:http")?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI 0.3")?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link wasi:http 0.3")?;
        let ticker = EpochTicker::spawn(engine.clone(), config.epoch_tick)?;
        crate::messaging::add_to_linker(&mut linker, InstanceState::messaging_view)
            .context("failed to link wasmcloud:messaging")?;
        crate::wasi_messaging::add_to_linker(&mut linker, InstanceState::wasi_messaging_view)
            .map_err(anyhow::Error::from)
            .context("failed to link wasi:messaging")?;
        crate::config::add_to_linker(&mut linker, InstanceState::config_view)
            .map_err(anyhow::Error::from)
            .context("failed to link wasi:config")?;
        wharf_keyvalue::add_to_linker(&mut linker, InstanceState::key_value_view)
            .map_err(anyhow::Error::from)
            .context("failed to link wasi:keyvalue")?;
        Ok(Self {
            engine,
            metrics,
            epoch_tick: config.epoch_tick,
            linker,
            limits: config.limits,
            key_value: std::sync::OnceLock::new(),
            _ticker: ticker,
        })
    }

    /// The host's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Updates the pooling-allocator gauges from wasmtime's own counters;
    /// called when metrics are scraped.
    pub fn observe_pool(&self) {
        let Some(pool) = self.engine.pooling_allocator_metrics() else {
            return;
        };
        let n = u64::from(self.limits.max_instances);
        let used = [
            ("component_instances", pool.component_instances(), n),
            ("core_instances", pool.core_instances(), n * 4),
            ("memories", pool.memories() as u64, n * 2),
            ("tables", pool.tables() as u64, n * 4),
            ("stacks", pool.stacks() as u64, n),
        ];
        for (kind, in_use, capacity) in used {
            let gauge = |g: &wharf_metrics::IntGaugeVec, v: u64| {
                g.with_label_values(&[kind])
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            gauge(&self.metrics.pool_slots_used, in_use);
            gauge(&self.metrics.pool_slots_capacity, capacity);
        }
    }

    /// The engine components are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding every interface the host provides.
    pub fn linker(&self) -> &Linker<InstanceState> {
        &self.linker
    }

    /// Interval between epoch ticks: the unit of CPU-time accounting.
    pub fn epoch_tick(&self) -> Duration {
        self.epoch_tick
    }

    /// The limits every instance is held to.
    pub fn limits(&self) -> &InstanceLimits {
        &self.limits
    }

    /// Sets the backend of every key-value store. Services loaded before
    /// (or without) it get `error::other` from a granted store.
    ///
    /// # Errors
    ///
    /// When a backend is already set.
    pub fn set_key_value(&self, backend: Arc<dyn wharf_keyvalue::Backend>) -> anyhow::Result<()> {
        self.key_value
            .set(backend)
            .map_err(|_| anyhow::anyhow!("the key-value backend is already set"))
    }

    /// The key-value backend, if the host has one.
    pub fn key_value(&self) -> Option<&Arc<dyn wharf_keyvalue::Backend>> {
        self.key_value.get()
    }
}

/// Instance slots whose memory is reset with one batch of system calls.
const DECOMMIT_BATCH: usize = 32;

/// Dirty linear-memory bytes per slot reset by copying rather than
/// unmapping (with PAGEMAP_SCAN only the dirty pages count, so a small
/// request's working set is reset for the price of a memcpy of it). Past
/// it, the rest of the slot is decommitted as before, so a guest that
/// dirties a lot cannot make resets arbitrarily expensive.
const MEMORY_KEEP_RESIDENT: usize = 1024 * 1024;

fn engine_config(limits: &InstanceLimits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // WASI 0.3 (`future`, `stream`, async lifts and lowers) runs on the
    // component model's async ABI; WASI 0.2 components are unaffected.
    config.wasm_component_model_async(true);
    // Epoch interruption is how a guest that never calls the host still
    // yields to other requests (and, later, how CPU limits are enforced).
    config.epoch_interruption(true);

    let n = limits.max_instances;
    let mut pool = PoolingAllocationConfig::new();
    // Components built by real toolchains contain several core instances
    // (the program, shims, adapters), each possibly with a memory and table.
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(limits.max_memory_bytes)
        // Reset a freed slot by copying back only the pages the guest
        // dirtied (found with Linux's PAGEMAP_SCAN, kernel 6.7+; older
        // kernels fall back to the plain behaviour), up to
        // MEMORY_KEEP_RESIDENT of them, instead of unmapping them. The next
        // instance in the slot then takes no page faults on them, and no
        // madvise means no TLB shootdown interrupting the other cores.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(16 * 1024)
        // Resetting a slot's memory is an madvise, and every madvise makes
        // the kernel flush TLBs on every core running the process — the
        // largest single cost in a profile of hello under load. Batching
        // them amortises the flush over many instances.
        .decommit_batch_size(DECOMMIT_BATCH);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Advances the engine epoch at a fixed interval on a dedicated thread.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn spawn(engine: Engine, tick: Duration) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("wharf-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                }
            })
            .context("failed to start the epoch ticker thread")?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
