//! Where deployments and components are kept.
//!
//! Two small object-safe traits (`Arc<dyn DeploymentStore>`,
//! `Arc<dyn ComponentStore>`) so a backend other than the local state
//! directory can be plugged in; the local one is [`FileDeploymentStore`] and
//! [`FileComponentStore`], the cluster's (NATS JetStream key-value and
//! object store) is in `wharf-cluster`.

use std::collections::BTreeSet;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::digest::Digest;
use crate::record::DeploymentRecord;

mod components;
pub(crate) mod file;

pub use components::FileComponentStore;
pub use file::FileDeploymentStore;

/// Persists the [`DeploymentRecord`].
#[async_trait]
pub trait DeploymentStore: Send + Sync {
    /// The last saved record; None if nothing was ever saved.
    async fn load(&self) -> anyhow::Result<Option<DeploymentRecord>>;
    /// Replaces the record atomically: after a crash, load() returns either the old or the new one, never a mix.
    ///
    /// The caller bumps [`DeploymentRecord::revision`]; the store writes the
    /// record as given. A store shared by several hosts (a cluster) saves
    /// only if the stored record is still the one this one was based on
    /// (revision − 1), and otherwise fails with [`RecordConflict`] and
    /// writes nothing: the caller loads the latest record and redoes its
    /// change. A store only one process writes never conflicts.
    async fn save(&self, record: &DeploymentRecord) -> anyhow::Result<()>;
}

/// Another writer saved the deployment record first: the record a save was
/// based on is no longer the latest, and nothing was written. Returned
/// (inside the `anyhow::Error`) by shared stores; the deployer catches up
/// and retries.
#[derive(Debug, thiserror::Error)]
#[error(
    "the deployment record was changed by another host while revision {attempted} was being saved"
)]
pub struct RecordConflict {
    /// The revision that could not be saved.
    pub attempted: u64,
}

/// Content-addressed component bytes.
#[async_trait]
pub trait ComponentStore: Send + Sync {
    /// Whether a component with this digest is stored (its content is not
    /// verified; [`get`](Self::get) does that).
    async fn contains(&self, digest: &Digest) -> anyhow::Result<bool>;
    /// The bytes, re-hashed on read; a file whose hash doesn't match is an error naming the digest (and is removed/quarantined).
    async fn get(&self, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores `bytes` and returns their digest. Idempotent.
    async fn put(&self, bytes: &[u8]) -> anyhow::Result<Digest>;
    /// Streams an upload to a temp file while hashing; refuses more than `max_bytes` and, when `expected` is Some, a digest mismatch — in both cases nothing is stored. Idempotent when the digest already exists.
    async fn put_stream(
        &self,
        expected: Option<Digest>,
        max_bytes: u64,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> Result<Digest, PutError>;
    /// Removes components not in `keep`; returns how many were removed.
    ///
    /// Not to be run concurrently with storing a component that is not in
    /// `keep` yet (the caller serialises deploys and garbage collection).
    async fn retain(&self, keep: &BTreeSet<Digest>) -> anyhow::Result<usize>;
}

/// Why [`ComponentStore::put_stream`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The body was longer than allowed.
    #[error("component is larger than the limit of {max_bytes} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        max_bytes: u64,
    },
    /// The body does not hash to the digest the client announced.
    #[error("component digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the client said it was sending.
        expected: Digest,
        /// What it sent.
        actual: Digest,
    },
    /// Reading the client's body failed (client-side problem).
    #[error("reading the upload failed: {0}")]
    Body(std::io::Error),
    /// Storing failed on our side.
    #[error("storing the component failed: {0:#}")]
    Io(anyhow::Error),
}
