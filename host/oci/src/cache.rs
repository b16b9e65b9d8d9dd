//! Pulled components, kept by content: `<dir>/components/sha256/<hex>.wasm`.
//!
//! The same store the host keeps deployed components in
//! ([`FileComponentStore`]): files named by their sha256, written
//! atomically, re-hashed on every read. A file that no longer matches its
//! name is moved aside and counts as a miss, so a damaged cache heals by
//! pulling again instead of serving wrong bytes.
//!
//! The cache maps digests to bytes only. Tags move, so a pull by tag always
//! asks the registry which digest the tag names now; only the download of
//! the bytes is skipped when they are here.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wharf_deploy::{ComponentStore as _, Digest, FileComponentStore};

/// A content-addressed cache of component bytes.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    store: FileComponentStore,
}

impl ComponentCache {
    /// Opens (creating, mode 0700 on unix) the cache under `dir`.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let store = FileComponentStore::open(dir)
            .with_context(|| format!("cannot open the component cache in {}", dir.display()))?;
        Ok(Self { store })
    }

    /// Where the component with `digest` is (or would be) cached.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.store.path_of(digest)
    }

    /// The cached bytes of `digest`, verified; `None` when absent or when
    /// the cached file was damaged (it is then moved aside, and the caller
    /// downloads again).
    ///
    /// # Errors
    ///
    /// Only when the cache cannot be read at all.
    pub async fn get(&self, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>> {
        if !self.store.contains(digest).await? {
            return Ok(None);
        }
        match self.store.get(digest).await {
            Ok(bytes) => Ok(bytes),
            Err(error) => {
                // `get` has already quarantined a file that does not hash
                // to its name; anything else is worth a warning too, and a
                // fresh download is the remedy in both cases.
                tracing::warn!(%digest, error = %format!("{error:#}"), "ignoring the cached component");
                Ok(None)
            }
        }
    }

    /// Stores `bytes`, which the caller has verified hash to `digest`.
    ///
    /// # Errors
    ///
    /// When the file cannot be written, or (a bug) the bytes are not
    /// `digest`'s.
    pub async fn put(&self, digest: &Digest, bytes: &[u8]) -> anyhow::Result<()> {
        let stored = self.store.put(bytes).await?;
        anyhow::ensure!(
            stored == *digest,
            "refusing to cache {stored} under {digest}"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_damaged_entry_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::open(dir.path()).unwrap();
        let digest = Digest::of(b"component");
        assert_eq!(cache.get(&digest).await.unwrap(), None);
        cache.put(&digest, b"component").await.unwrap();
        assert_eq!(
            cache.get(&digest).await.unwrap().as_deref(),
            Some(&b"component"[..])
        );
        std::fs::write(cache.path_of(&digest), b"tampered!").unwrap();
        assert_eq!(cache.get(&digest).await.unwrap(), None);
        assert!(!cache.path_of(&digest).exists());
        assert!(cache.put(&digest, b"other bytes").await.is_err());
    }
}
