//! The default backend: an embedded [redb] database in the host's state
//! directory.
//!
//! Every store is one table (`store:<name>`) of one database file,
//! `<state dir>/keyvalue.redb`. Writes are committed with redb's default
//! [`Durability::Immediate`](redb::Durability): a write's caller is
//! answered only after the commit holding it has been `fsync`ed, so
//! neither a SIGKILL of the host nor a power cut loses an acknowledged
//! write. redb's copy-on-write B-trees and checksummed commit slots mean a
//! crash mid-commit leaves the previous commit intact.
//!
//! **Group commit.** One writer thread owns every write transaction. It
//! takes the writes queued while the previous commit was syncing (up to
//! [`MAX_GROUP`]), applies them one after another in one transaction, and
//! commits once: concurrent writers share an `fsync` instead of queueing
//! for one each. Applied one at a time, each write sees the ones before
//! it, which is what makes `increment` and `compare_and_swap` atomic. A
//! write that is refused (a value that is not a counter) changes nothing
//! and does not affect the others; a storage error fails the whole group,
//! uncommitted. Reads run concurrently on snapshots.
//!
//! redb's calls block (disk I/O, `fsync`): writes run on the writer
//! thread and reads on tokio's blocking pool, never on a worker thread that
//! serves requests.
//!
//! [redb]: https://www.redb.org

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use redb::{
    Database, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError,
    WriteTransaction,
};

use crate::backend::{Backend, KeyPage, Swap, add_delta, counter_value};

/// File name of the database inside the state directory.
pub const DATABASE_FILE: &str = "keyvalue.redb";

/// Most writes committed together in one transaction.
pub const MAX_GROUP: usize = 256;

/// What a queued write does inside the group's transaction: `Err` is a
/// storage failure (the group is abandoned); `Ok(answer)` is called with the
/// commit's outcome to answer the writer.
type Job = Box<dyn FnOnce(&WriteTransaction) -> anyhow::Result<Answer> + Send>;

/// Answers one writer once its group's commit succeeded (`Ok`) or failed.
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The redb-backed [`Backend`].
pub struct EmbeddedBackend {
    db: Arc<Database>,
    /// Queue of the writer thread; `None` once dropping.
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        // Closing the queue stops the writer after the writes already
        // queued; joining it releases the database (and its file lock)
        // before `drop` returns, so the directory can be opened again.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: group commits until the queue closes.
fn write_loop(db: &Database, jobs: &std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(db, group);
    }
}

fn commit_group(db: &Database, group: Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return fail_group(group, &format!("cannot start a transaction: {e}")),
    };
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    for job in jobs.by_ref() {
        match job(&txn) {
            Ok(answer) => answers.push(answer),
            Err(e) => {
                // Dropping the transaction aborts it; every writer of the
                // group (the failed one's sender is gone) hears of it.
                let message = format!("{e:#}");
                drop(txn);
                for answer in answers {
                    answer(Err(message.clone()));
                }
                return fail_group(jobs.collect(), &message);
            }
        }
    }
    let outcome = txn
        .commit()
        .map_err(|e| format!("committing to the key-value database: {e}"));
    for answer in answers {
        answer(outcome.clone());
    }
}

/// Answers writes that were never applied.
fn fail_group(group: Vec<Job>, message: &str) {
    // A job answers through the sender it captured; dropping it unapplied
    // makes its writer see the queue's "gone" error, so say why here.
    tracing::error!(
        error = message,
        writes = group.len(),
        "key-value write group failed"
    );
    drop(group);
}

fn table_name(store: &str) -> String {
    format!("store:{store}")
}

/// Creates `path` if missing, and makes it mode 0600 either way (redb would
/// create it with the umask's mode, commonly world-readable).
fn make_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        options.open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    options.open(path).map(drop)?;
    Ok(())
}

impl EmbeddedBackend {
    /// Opens (or creates, mode 0600) `<state_dir>/keyvalue.redb`.
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
        make_private(&path).with_context(|| format!("cannot make {} private", path.display()))?;
        let db =
            Arc::new(Database::create(&path).with_context(|| {
                format!("cannot open the key-value database {}", path.display())
            })?);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name("wharf-kv-writer".into())
            .spawn({
                let db = db.clone();
                move || write_loop(&db, &queue)
            })
            .context("cannot start the key-value writer thread")?;
        Ok(Self {
            db,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    /// Queues `f` for the writer thread and waits until the commit holding
    /// it is durable. `f` returns `Err` for a storage failure and
    /// `Ok(Err(_))` for a refusal that wrote nothing.
    async fn write<T, F>(&self, store: &str, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut redb::Table<&str, &[u8]>) -> anyhow::Result<anyhow::Result<T>>
            + Send
            + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<anyhow::Result<T>>();
        let name = table_name(store);
        let job: Job = Box::new(move |txn| {
            let outcome = {
                let mut table = txn.open_table(TableDefinition::<&str, &[u8]>::new(&name))?;
                f(&mut table)?
            };
            Ok(Box::new(move |committed: Result<(), String>| {
                let _ = tx.send(match committed {
                    Ok(()) => outcome,
                    Err(e) => Err(anyhow::anyhow!(e)),
                });
            }))
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the key-value database is closing"))?
            .send(job)
            .map_err(|_| anyhow::anyhow!("the key-value writer has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the key-value write failed; the host log says why"))?
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
        let (key, value) = (key.to_owned(), value.to_vec());
        self.write(store, move |table| {
            table.insert(key.as_str(), value.as_slice())?;
            Ok(Ok(()))
        })
        .await
    }

    async fn delete(&self, store: &str, key: &str) -> anyhow::Result<()> {
        let key = key.to_owned();
        self.write(store, move |table| {
            table.remove(key.as_str())?;
            Ok(Ok(()))
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
        let key = key.to_owned();
        self.write(store, move |table| {
            let current = {
                let stored = table.get(key.as_str())?;
                counter_value(&key, stored.as_ref().map(|v| v.value()))
            };
            // A refusal writes nothing.
            let next = match current.and_then(|current| add_delta(&key, current, delta)) {
                Ok(next) => next,
                Err(refused) => return Ok(Err(refused)),
            };
            table.insert(key.as_str(), next.to_string().as_bytes())?;
            Ok(Ok(next))
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
        let key = key.to_owned();
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.write(store, move |table| {
            let matches = {
                let stored = table.get(key.as_str())?;
                stored.as_ref().map(|v| v.value()) == expected.as_deref()
            };
            if !matches {
                return Ok(Ok(Swap::Conflict));
            }
            table.insert(key.as_str(), new.as_slice())?;
            Ok(Ok(Swap::Swapped))
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
        let pairs = pairs.to_vec();
        // One commit for the batch: stronger than the draft asks, since it
        // is all or nothing.
        self.write(store, move |table| {
            for (key, value) in &pairs {
                table.insert(key.as_str(), value.as_slice())?;
            }
            Ok(Ok(()))
        })
        .await
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> anyhow::Result<()> {
        let keys = keys.to_vec();
        self.write(store, move |table| {
            for key in &keys {
                table.remove(key.as_str())?;
            }
            Ok(Ok(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// redb would create the file with the umask's mode (0644 under the
    /// common 022); it holds every service's data, so it is 0600, also
    /// when an older host left it wider.
    #[cfg(unix)]
    #[test]
    fn the_database_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(DATABASE_FILE);
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        drop(EmbeddedBackend::open(dir.path()).unwrap_or_else(|e| panic!("{e:#}")));
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(EmbeddedBackend::open(dir.path()).unwrap_or_else(|e| panic!("{e:#}")));
        assert_eq!(mode(&path), 0o600);
    }
}
