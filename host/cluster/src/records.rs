//! The deployment record in a JetStream key-value bucket: one key
//! (`record`) holding the same JSON the file backend writes, so the two
//! backends share one format.
//!
//! Saves are compare-and-swap on the key's revision (the stream sequence
//! the server assigned): a save of record revision `n` succeeds only if the
//! key still holds the record revision `n - 1` this store last read or
//! wrote. A host that lost the race gets [`RecordConflict`] and the deployer
//! catches up and redoes its change, so two concurrent deploys through two
//! hosts never clobber each other.

use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use wharf_deploy::DeploymentRecord;
use wharf_deploy::store::{DeploymentStore, RecordConflict};

/// The key holding the record.
pub const RECORD_KEY: &str = "record";

/// [`DeploymentStore`] over a JetStream key-value bucket.
pub struct JetStreamDeploymentStore {
    kv: kv::Store,
    /// The newest (record revision, key revision) this store has seen: the
    /// base a save of record revision + 1 expects.
    last: Mutex<Option<(u64, u64)>>,
}

impl JetStreamDeploymentStore {
    /// A store over `kv` (the bucket must exist).
    pub fn new(kv: kv::Store) -> Self {
        Self {
            kv,
            last: Mutex::new(None),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &kv::Store {
        &self.kv
    }

    /// Decodes an entry of the record key; remembers its revisions.
    /// `None` for a deleted key.
    pub fn decode(&self, entry: &kv::Entry) -> anyhow::Result<Option<DeploymentRecord>> {
        if entry.operation != Operation::Put {
            return Ok(None);
        }
        let record: DeploymentRecord = serde_json::from_slice(&entry.value).with_context(|| {
            format!(
                "the deployment record in bucket `{}` (revision {}) is corrupt",
                self.kv.name, entry.revision
            )
        })?;
        self.note(record.revision, entry.revision);
        Ok(Some(record))
    }

    fn note(&self, record_revision: u64, key_revision: u64) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|(_, k)| key_revision >= k) {
            *last = Some((record_revision, key_revision));
        }
    }
}

#[async_trait]
impl DeploymentStore for JetStreamDeploymentStore {
    async fn load(&self) -> anyhow::Result<Option<DeploymentRecord>> {
        let entry = self.kv.entry(RECORD_KEY).await.with_context(|| {
            format!(
                "cannot read the deployment record from bucket `{}`",
                self.kv.name
            )
        })?;
        match entry {
            Some(entry) => self.decode(&entry),
            None => Ok(None),
        }
    }

    async fn save(&self, record: &DeploymentRecord) -> anyhow::Result<()> {
        let conflict = || {
            anyhow::Error::new(RecordConflict {
                attempted: record.revision,
            })
        };
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        // The key revision the stored record must still have.
        let expected = match last {
            Some((r, k)) if r + 1 == record.revision => k,
            None if record.revision == 1 => 0,
            _ => return Err(conflict()),
        };
        let json =
            serde_json::to_vec_pretty(record).context("cannot encode the deployment record")?;
        match self
            .kv
            .update(RECORD_KEY, Bytes::from(json), expected)
            .await
        {
            Ok(key_revision) => {
                self.note(record.revision, key_revision);
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(conflict()),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "cannot save the deployment record to bucket `{}`",
                self.kv.name
            ))),
        }
    }
}
