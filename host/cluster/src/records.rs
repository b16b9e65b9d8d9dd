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
//!
//! # Signed records
//!
//! Anything that can write to the bucket could otherwise tell every host
//! what to run and with which grants. With [`RecordSigning`], a host that
//! holds the operator's key (`wharf up --operator-key`, a key from `wharf
//! keygen`) stores the record as `{"signed_record": "<record JSON>",
//! "signature": "<signature>"}`, the signature over the sha256 of
//! [`RECORD_SIGNATURE_CONTEXT`] followed by the record JSON's exact bytes; a
//! host started with the operator's public key (`--trusted-operator`)
//! applies only records whose signature verifies. A record written by
//! anything else is refused: it is never handed to the deployer, the host
//! keeps what it runs, logs the refusal, and reports it in its heartbeat
//! and in `wharf ps --cluster` ([`JetStreamDeploymentStore::refused`]). The
//! next signed save replaces it.

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use wharf_deploy::Digest;
use wharf_trust::{SigningKeyPair, TrustPolicy};

use anyhow::Context as _;
use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use wharf_deploy::DeploymentRecord;
use wharf_deploy::store::{DeploymentStore, RecordConflict};

/// The key holding the record.
pub const RECORD_KEY: &str = "record";

/// Prefixed to the record's bytes before hashing and signing, so a record
/// signature can never pass for a component signature or the reverse.
pub const RECORD_SIGNATURE_CONTEXT: &[u8] = b"wharf-deployment-record-v1\0";

/// Who signs the records this host saves, and whose records it applies.
#[derive(Default)]
pub struct RecordSigning {
    /// Signs every record this host saves.
    pub signer: Option<SigningKeyPair>,
    /// When set, only records signed by one of these keys are applied.
    pub trusted: Option<TrustPolicy>,
}

/// A signed record as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedRecord {
    /// The record's JSON, exactly the bytes signed.
    signed_record: String,
    /// `wharf_trust` signature text.
    signature: String,
}

/// The digest a record signature covers.
fn record_digest(json: &[u8]) -> Digest {
    let mut message = Vec::with_capacity(RECORD_SIGNATURE_CONTEXT.len() + json.len());
    message.extend_from_slice(RECORD_SIGNATURE_CONTEXT);
    message.extend_from_slice(json);
    Digest::of(&message)
}

/// A record in the bucket that this host will not apply.
#[derive(Debug, thiserror::Error)]
#[error("refused the deployment record at revision {key_revision} of bucket `{bucket}`: {reason}")]
pub struct RecordRefused {
    /// The bucket.
    pub bucket: String,
    /// The key revision of the refused entry.
    pub key_revision: u64,
    /// Why.
    pub reason: String,
}

/// [`DeploymentStore`] over a JetStream key-value bucket.
pub struct JetStreamDeploymentStore {
    kv: kv::Store,
    /// The newest (record revision, key revision) this store has seen: the
    /// base a save of record revision + 1 expects.
    last: Mutex<Option<(u64, u64)>>,
    signing: RecordSigning,
    /// The last record accepted, for status while a refused one is in the
    /// bucket.
    accepted: Mutex<Option<DeploymentRecord>>,
    /// Why the newest entry seen was refused; cleared by an accepted one.
    refused: Mutex<Option<String>>,
}

impl JetStreamDeploymentStore {
    /// A store over `kv` (the bucket must exist) that signs and checks
    /// nothing.
    pub fn new(kv: kv::Store) -> Self {
        Self::with_signing(kv, RecordSigning::default())
    }

    /// A store over `kv` that signs and checks records as `signing` says.
    pub fn with_signing(kv: kv::Store, signing: RecordSigning) -> Self {
        Self {
            kv,
            last: Mutex::new(None),
            signing,
            accepted: Mutex::new(None),
            refused: Mutex::new(None),
        }
    }

    /// Why the newest record in the bucket was refused, if it was.
    pub fn refused(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last record this host accepted.
    pub fn accepted(&self) -> Option<DeploymentRecord> {
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The record JSON in an entry's value, checked against the trusted
    /// operators; `Err` with the reason when it must not be applied.
    fn open<'a>(&self, value: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, String> {
        let signed: Option<SignedRecord> = serde_json::from_slice(value).ok();
        match (&self.signing.trusted, signed) {
            (None, None) => Ok(std::borrow::Cow::Borrowed(value)),
            (None, Some(signed)) => Ok(std::borrow::Cow::Owned(signed.signed_record.into_bytes())),
            (Some(_), None) => Err(
                "it is not signed, and this host applies only records signed by a trusted operator (--trusted-operator)"
                    .to_owned(),
            ),
            (Some(policy), Some(signed)) => {
                let json = signed.signed_record.into_bytes();
                match policy.verify(record_digest(&json).as_bytes(), Some(&signed.signature)) {
                    Ok(_) => Ok(std::borrow::Cow::Owned(json)),
                    Err(error) => Err(format!("its signature does not verify: {error}")),
                }
            }
        }
    }

    /// What is stored for `record`: its JSON, signed when this host signs.
    fn seal(&self, record: &DeploymentRecord) -> anyhow::Result<Vec<u8>> {
        let json =
            serde_json::to_vec_pretty(record).context("cannot encode the deployment record")?;
        let Some(signer) = &self.signing.signer else {
            return Ok(json);
        };
        let signature = signer
            .sign_digest(record_digest(&json).as_bytes())
            .to_text();
        let signed_record =
            String::from_utf8(json).context("the deployment record is not UTF-8")?;
        serde_json::to_vec(&SignedRecord {
            signed_record,
            signature,
        })
        .context("cannot encode the signed deployment record")
    }

    fn refuse(&self, key_revision: u64, reason: String) -> anyhow::Error {
        let refused = RecordRefused {
            bucket: self.kv.name.clone(),
            key_revision,
            reason,
        };
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(refused.to_string());
        // A signed save replaces the refused entry: it becomes the base
        // of the next compare-and-swap, with the last accepted revision.
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((record_revision, k)) = *last
                && key_revision >= k
            {
                *last = Some((record_revision, key_revision));
            }
        }
        anyhow::Error::new(refused)
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
        let json = self
            .open(&entry.value)
            .map_err(|reason| self.refuse(entry.revision, reason))?;
        let record: DeploymentRecord = match serde_json::from_slice(&json) {
            Ok(record) => record,
            Err(error) if self.signing.trusted.is_some() => {
                return Err(self.refuse(
                    entry.revision,
                    format!("it is signed but not a deployment record: {error}"),
                ));
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!(
                    "the deployment record in bucket `{}` (revision {}) is corrupt",
                    self.kv.name, entry.revision
                )));
            }
        };
        self.note(record.revision, entry.revision);
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = None;
        *self.accepted.lock().unwrap_or_else(PoisonError::into_inner) = Some(record.clone());
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
        if self.signing.trusted.is_some() && self.signing.signer.is_none() {
            anyhow::bail!(
                "this host applies only records signed by a trusted operator but holds no operator key: deploy through a host started with --operator-key"
            );
        }
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        // The key revision the stored record must still have.
        let expected = match last {
            Some((r, k)) if r + 1 == record.revision => k,
            None if record.revision == 1 => 0,
            _ => return Err(conflict()),
        };
        let json = self.seal(record)?;
        match self
            .kv
            .update(RECORD_KEY, Bytes::from(json), expected)
            .await
        {
            Ok(key_revision) => {
                self.note(record.revision, key_revision);
                *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = None;
                *self.accepted.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(record.clone());
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
