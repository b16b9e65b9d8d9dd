//! Component bytes in a JetStream object store, named by their digest
//! (`sha256:<hex>`), with the host's own content-addressed directory in
//! front as a cache.
//!
//! Nothing fetched is trusted: bytes from the object store are hashed and
//! refused (with an error naming both digests) unless they match the name
//! they were stored under, before they reach the local cache or the
//! compiler. Uploads are verified the same way before they are shared.
//! Garbage collection only ever touches the local cache: other hosts may
//! still need what this one no longer refers to.

use std::collections::BTreeSet;

use anyhow::Context as _;
use async_nats::jetstream::object_store::{InfoErrorKind, ObjectStore};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::io::AsyncReadExt as _;
use wharf_deploy::Digest;
use wharf_deploy::store::{ComponentStore, FileComponentStore, PutError};

/// Largest component fetched from the object store.
pub const MAX_COMPONENT_BYTES: u64 = 512 * 1024 * 1024;

/// [`ComponentStore`] over a JetStream object store, cached locally.
pub struct JetStreamComponentStore {
    local: FileComponentStore,
    objects: ObjectStore,
    bucket: String,
}

impl JetStreamComponentStore {
    /// `objects` (the bucket named `bucket`) behind the local cache `local`.
    pub fn new(local: FileComponentStore, objects: ObjectStore, bucket: String) -> Self {
        Self {
            local,
            objects,
            bucket,
        }
    }

    /// Whether the object store holds `digest` with the object store's own
    /// checksum of exactly these bytes.
    async fn shared_copy_matches(&self, digest: &Digest) -> anyhow::Result<bool> {
        match self.objects.info(digest.to_string()).await {
            Ok(info) => Ok(!info.deleted && info.digest.as_deref() == Some(&nats_digest(digest))),
            Err(e) if e.kind() == InfoErrorKind::NotFound => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "cannot look up component {digest} in object store `{}`",
                self.bucket
            ))),
        }
    }

    /// Shares verified `bytes` (whose digest is `digest`) unless the
    /// object store already has them.
    async fn share(&self, digest: &Digest, bytes: &[u8]) -> anyhow::Result<()> {
        if self.shared_copy_matches(digest).await? {
            return Ok(());
        }
        let mut reader = bytes;
        self.objects
            .put(digest.to_string().as_str(), &mut reader)
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "cannot store component {digest} in object store `{}`",
                    self.bucket
                ))
            })?;
        tracing::debug!(%digest, bucket = %self.bucket, "component shared with the cluster");
        Ok(())
    }

    /// The verified bytes of `digest` from the object store.
    async fn fetch(&self, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>> {
        let name = digest.to_string();
        let info = match self.objects.info(&name).await {
            Ok(info) if !info.deleted => info,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == InfoErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot look up component {digest} in object store `{}`",
                    self.bucket
                )));
            }
        };
        if info.size as u64 > MAX_COMPONENT_BYTES {
            anyhow::bail!(
                "component {digest} in object store `{}` is {} bytes, more than the limit of {MAX_COMPONENT_BYTES}",
                self.bucket,
                info.size
            );
        }
        let object = self.objects.get(&name).await.map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot fetch component {digest} from object store `{}`",
                self.bucket
            ))
        })?;
        let mut bytes = Vec::with_capacity(info.size);
        object
            .take(MAX_COMPONENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .with_context(|| {
                format!(
                    "cannot fetch component {digest} from object store `{}`",
                    self.bucket
                )
            })?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            tracing::error!(%digest, %actual, bucket = %self.bucket, "component in the object store does not match its digest; refused");
            anyhow::bail!(
                "component {digest} in object store `{}` does not match its digest (its bytes hash to {actual}); refused",
                self.bucket
            );
        }
        Ok(Some(bytes))
    }
}

/// The object store's own checksum format: `SHA-256=<base64url>`.
fn nats_digest(digest: &Digest) -> String {
    format!(
        "SHA-256={}",
        base64::engine::general_purpose::URL_SAFE.encode(digest.as_bytes())
    )
}

#[async_trait]
impl ComponentStore for JetStreamComponentStore {
    async fn contains(&self, digest: &Digest) -> anyhow::Result<bool> {
        if self.local.contains(digest).await? {
            return Ok(true);
        }
        self.shared_copy_matches(digest).await
    }

    async fn get(&self, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>> {
        match self.local.get(digest).await {
            Ok(Some(bytes)) => return Ok(Some(bytes)),
            Ok(None) => {}
            // The local copy was damaged (and moved aside): fetch it again.
            Err(error) => {
                tracing::warn!(%digest, error = %format!("{error:#}"), "local copy unusable; fetching from the cluster")
            }
        }
        let Some(bytes) = self.fetch(digest).await? else {
            return Ok(None);
        };
        self.local
            .put(&bytes)
            .await
            .context("cannot cache a fetched component")?;
        Ok(Some(bytes))
    }

    async fn put(&self, bytes: &[u8]) -> anyhow::Result<Digest> {
        let digest = self.local.put(bytes).await?;
        self.share(&digest, bytes).await?;
        Ok(digest)
    }

    async fn put_stream(
        &self,
        expected: Option<Digest>,
        max_bytes: u64,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> Result<Digest, PutError> {
        // Verified (digest, size) into the local store first; only then
        // shared.
        let digest = self.local.put_stream(expected, max_bytes, body).await?;
        let bytes = self
            .local
            .get(&digest)
            .await
            .map_err(PutError::Io)?
            .ok_or_else(|| {
                PutError::Io(anyhow::anyhow!("component {digest} vanished after upload"))
            })?;
        self.share(&digest, &bytes).await.map_err(PutError::Io)?;
        Ok(digest)
    }

    async fn retain(&self, keep: &BTreeSet<Digest>) -> anyhow::Result<usize> {
        self.local.retain(keep).await
    }
}
