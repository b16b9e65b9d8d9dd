//! The embedded backend, opened when a guest first uses a store.
//!
//! redb locks its file, so opening the database at start would make every
//! host lock its state directory's key-value file even when no service is
//! granted a store, and two hosts that share a directory for anything else
//! (tests, `wharf up x.wasm` of components in one folder) could not start.
//! Opening on first use keeps hosts without key-value users lock-free; a
//! failed open is an error for that call only and is retried by the next.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::backend::{Backend, KeyPage, Swap};
use crate::embedded::EmbeddedBackend;

/// An [`EmbeddedBackend`] in `state_dir`, opened on first use.
pub struct EmbeddedOnFirstUse {
    state_dir: PathBuf,
    backend: OnceCell<Arc<EmbeddedBackend>>,
}

impl EmbeddedOnFirstUse {
    /// The database in `state_dir`, not opened yet.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            backend: OnceCell::new(),
        }
    }

    async fn backend(&self) -> anyhow::Result<&EmbeddedBackend> {
        let backend = self
            .backend
            .get_or_try_init(|| async {
                let dir = self.state_dir.clone();
                let opened = tokio::task::spawn_blocking(move || EmbeddedBackend::open(&dir))
                    .await
                    .context("opening the key-value database stopped")??;
                anyhow::Ok(Arc::new(opened))
            })
            .await?;
        Ok(backend)
    }
}

#[async_trait]
impl Backend for EmbeddedOnFirstUse {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn open(&self, store: &str) -> anyhow::Result<()> {
        self.backend().await?.open(store).await
    }

    async fn get(&self, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.backend().await?.get(store, key).await
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.backend().await?.set(store, key, value).await
    }

    async fn delete(&self, store: &str, key: &str) -> anyhow::Result<()> {
        self.backend().await?.delete(store, key).await
    }

    async fn exists(&self, store: &str, key: &str) -> anyhow::Result<bool> {
        self.backend().await?.exists(store, key).await
    }

    async fn list_keys(&self, store: &str, cursor: u64, limit: usize) -> anyhow::Result<KeyPage> {
        self.backend().await?.list_keys(store, cursor, limit).await
    }

    async fn increment(&self, store: &str, key: &str, delta: u64) -> anyhow::Result<u64> {
        self.backend().await?.increment(store, key, delta).await
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        self.backend()
            .await?
            .compare_and_swap(store, key, expected, new)
            .await
    }

    async fn get_many(&self, store: &str, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        self.backend().await?.get_many(store, keys).await
    }

    async fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        self.backend().await?.set_many(store, pairs).await
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> anyhow::Result<()> {
        self.backend().await?.delete_many(store, keys).await
    }
}
