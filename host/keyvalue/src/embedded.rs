//! The default backend: an embedded [redb] database in the host's state
//! directory.
//!
//! Every store is one table (`store:<name>`) of one database file,
//! `<state dir>/keyvalue.redb`. Every write is its own transaction committed
//! with redb's default [`Durability::Immediate`](redb::Durability): when
//! `set` returns, the commit has been `fsync`ed, so neither a SIGKILL of
//! the host nor a power cut loses it. redb's copy-on-write B-trees and
//! checksummed commit slots mean a crash mid-commit leaves the previous
//! commit intact. Writes are serialised by redb (one write transaction at
//! a time), which is also what makes `increment` and `compare_and_swap`
//! atomic here; reads run concurrently on snapshots.
//!
//! redb's calls block (disk I/O, `fsync`), so each runs on tokio's blocking
//! pool, never on a worker thread that serves requests.
//!
//! [redb]: https://www.redb.org

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError};

use crate::backend::{Backend, KeyPage, Swap, add_delta, counter_value};

/// File name of the database inside the state directory.
pub const DATABASE_FILE: &str = "keyvalue.redb";

/// The redb-backed [`Backend`].
pub struct EmbeddedBackend {
    db: Arc<Database>,
}

fn table_name(store: &str) -> String {
    format!("store:{store}")
}

impl EmbeddedBackend {
    /// Opens (or creates) `<state_dir>/keyvalue.redb`.
    ///
    /// # Errors
    ///
    /// When the directory or file cannot be created or opened, or another
    /// process has the database open (redb locks the file): two hosts never
    /// share one state directory.
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join(DATABASE_FILE);
        let db = Database::create(&path)
            .with_context(|| format!("cannot open the key-value database {}", path.display()))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs `f` on the blocking pool with the database.
    async fn blocking<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> anyhow::Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .context("the key-value database task failed")?
    }
}

/// Reads `key` of `store` in a fresh read transaction.
fn read(db: &Database, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let name = table_name(store);
    let txn = db.begin_read()?;
    let table = match txn.open_table(TableDefinition::<&str, &[u8]>::new(&name)) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(table.get(key)?.map(|v| v.value().to_vec()))
}

/// Runs `f` on `store`'s table in one write transaction, committed durably
/// when `f` returns `Ok`.
fn write<T>(
    db: &Database,
    store: &str,
    f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let name = table_name(store);
    let txn = db.begin_write()?;
    let result = {
        let mut table = txn.open_table(TableDefinition::<&str, &[u8]>::new(&name))?;
        f(&mut table)?
    };
    txn.commit()
        .context("committing to the key-value database")?;
    Ok(result)
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn open(&self, _store: &str) -> anyhow::Result<()> {
        // Tables are created by their first write; reads of a missing one
        // see an empty store.
        Ok(())
    }

    async fn get(&self, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.blocking(move |db| read(db, &store, &key)).await
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let (store, key, value) = (store.to_owned(), key.to_owned(), value.to_vec());
        self.blocking(move |db| {
            write(db, &store, |table| {
                table.insert(key.as_str(), value.as_slice())?;
                Ok(())
            })
        })
        .await
    }

    async fn delete(&self, store: &str, key: &str) -> anyhow::Result<()> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.blocking(move |db| {
            write(db, &store, |table| {
                table.remove(key.as_str())?;
                Ok(())
            })
        })
        .await
    }

    async fn list_keys(&self, store: &str, cursor: u64, limit: usize) -> anyhow::Result<KeyPage> {
        let store = store.to_owned();
        self.blocking(move |db| {
            let name = table_name(&store);
            let txn = db.begin_read()?;
            let table = match txn.open_table(TableDefinition::<&str, &[u8]>::new(&name)) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => {
                    return Ok(KeyPage {
                        keys: Vec::new(),
                        cursor: None,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let skip = usize::try_from(cursor).unwrap_or(usize::MAX);
            let mut keys = Vec::with_capacity(limit.min(1024));
            let mut more = false;
            for entry in table.range(..)?.skip(skip) {
                if keys.len() == limit {
                    more = true;
                    break;
                }
                let (key, _) = entry?;
                keys.push(key.value().to_owned());
            }
            let next = cursor.saturating_add(keys.len() as u64);
            Ok(KeyPage {
                keys,
                cursor: more.then_some(next),
            })
        })
        .await
    }

    async fn increment(&self, store: &str, key: &str, delta: u64) -> anyhow::Result<u64> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.blocking(move |db| {
            write(db, &store, |table| {
                let current = {
                    let stored = table.get(key.as_str())?;
                    counter_value(&key, stored.as_ref().map(|v| v.value()))?
                };
                let next = add_delta(&key, current, delta)?;
                table.insert(key.as_str(), next.to_string().as_bytes())?;
                Ok(next)
            })
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        let (store, key) = (store.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.blocking(move |db| {
            write(db, &store, |table| {
                let matches = {
                    let stored = table.get(key.as_str())?;
                    stored.as_ref().map(|v| v.value()) == expected.as_deref()
                };
                if !matches {
                    return Ok(Swap::Conflict);
                }
                table.insert(key.as_str(), new.as_slice())?;
                Ok(Swap::Swapped)
            })
        })
        .await
    }

    async fn get_many(&self, store: &str, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        let (store, keys) = (store.to_owned(), keys.to_vec());
        self.blocking(move |db| {
            // One snapshot for the whole batch.
            let name = table_name(&store);
            let txn = db.begin_read()?;
            let table = match txn.open_table(TableDefinition::<&str, &[u8]>::new(&name)) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
                Err(e) => return Err(e.into()),
            };
            keys.iter()
                .map(|key| Ok(table.get(key.as_str())?.map(|v| v.value().to_vec())))
                .collect()
        })
        .await
    }

    async fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        let (store, pairs) = (store.to_owned(), pairs.to_vec());
        // One transaction (one fsync) for the batch: stronger than the
        // draft asks, since it is all or nothing.
        self.blocking(move |db| {
            write(db, &store, |table| {
                for (key, value) in &pairs {
                    table.insert(key.as_str(), value.as_slice())?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> anyhow::Result<()> {
        let (store, keys) = (store.to_owned(), keys.to_vec());
        self.blocking(move |db| {
            write(db, &store, |table| {
                for key in &keys {
                    table.remove(key.as_str())?;
                }
                Ok(())
            })
        })
        .await
    }
}
