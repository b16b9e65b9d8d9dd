//! # wharf-core: the narrowed wasmtime every Wharf trigger runs on
//!
//! This crate owns the parts of the host that do not depend on *how* a
//! component is invoked (HTTP today, messages later):
//!
//! - [`runtime`]: the process-wide [`Runtime`] — one `wasmtime::Engine`
//!   configured for the pooling instance allocator, epoch interruption and
//!   async execution, plus the epoch ticker thread that drives it.
//! - [`limits`]: per-instance resource limits and their defaults.
//! - [`component`]: turning bytes into a compiled, linked and
//!   pre-instantiated [`ServiceTemplate`], refusing anything that is not a
//!   component, imports what the host lacks, or exports no HTTP handler.
//! - [`state`]: [`InstanceState`], the per-request `Store` data, built
//!   deny-by-default (no environment, no preopens, no network, empty stdin).
//! - [`guest_log`]: guest stdout/stderr turned into bounded, tagged log events.
//! - [`outbound`]: the allowlist every outgoing `wasi:http` request must pass.
//! - [`policy`]: a service version's grants and limits, computed at load.
//! - [`limiter`]: memory and CPU-time enforcement inside a store.
//! - [`concurrency`]: per-service concurrency limit and bounded wait queue.
//! - [`reuse`]: opt-in reuse of idle instances (`limits.instance_reuse`).
//! - [`config`]: `wasi:config/store`, serving a service's variables.
//! - [`messaging`] and [`wasi_messaging`]: `wasmcloud:messaging@0.2.0` and
//!   the standard `wasi:messaging@0.2.0-draft`, on one messaging context.
//!
//! State lives in three tiers, as in Spin and `wasmtime serve`: the
//! [`Runtime`] lives as long as the process; an [`ServiceTemplate`] lives
//! as long as one version of a service (compiled code, `ProxyPre`, the
//! allowlists computed from its manifest); an [`InstanceState`] lives for one
//! request and is dropped with its `Store` (or, for a service that opts into
//! [`reuse`], for at most `limits.instance_reuse` requests in turn).
#![deny(missing_docs)]

pub mod component;
pub mod concurrency;
pub mod config;
pub mod guest_log;
pub mod limiter;
pub mod limits;
pub mod messaging;
pub mod outbound;
pub mod policy;
pub mod reuse;
pub mod runtime;
pub mod state;
pub mod wasi_messaging;

pub use component::{LoadError, ServiceIdentity, ServiceTemplate};
pub use limiter::LimitHit;
pub use limits::InstanceLimits;
pub use policy::ServicePolicy;
pub use runtime::{Runtime, RuntimeConfig};
pub use state::InstanceState;
