//! # wharf-deploy: what a host serves, and how it changes
//!
//! Owns the state that makes deployments survive restarts and the one
//! component that changes what a host serves.
//!
//! - [`digest`]: sha256 content addresses of components.
//! - [`record`]: the deployment record (active version, canary, history per
//!   service), saved as one value so a crash never leaves half a deploy.
//! - [`store`]: where records and component bytes live, behind small async
//!   traits; the local backends write crash-safely into the state
//!   directory. The cluster backends (NATS JetStream) are in the
//!   `wharf-cluster` crate; they share the record's format.
//! - [`compiled_cache`]: wasmtime's compiled code keyed by digest and
//!   engine, so a restart or a rollback does not recompile.
//! - [`manager`]: the [`Deployer`] — load, check, commit, swap.
//! - [`api`]: the admin API's JSON bodies, shared with the CLI.
//! - [`error`]: [`DeployError`], which the admin API maps to statuses.

pub mod api;
pub mod compiled_cache;
pub mod digest;
pub mod error;
pub mod manager;
pub mod record;
pub mod store;

pub use compiled_cache::{CacheOutcome, CompiledCache};
pub use digest::{Digest, DigestWriter, ParseDigestError};
pub use error::DeployError;
pub use manager::{Deployer, DeployerConfig, ManifestService};
pub use record::{
    AutoRollback, CanaryRecord, DeploymentRecord, HISTORY_LIMIT, ManifestOrigin, ServiceRecord,
    VersionRecord,
};
pub use store::{
    ComponentStore, DeploymentStore, FileComponentStore, FileDeploymentStore, PutError,
    RecordConflict,
};
