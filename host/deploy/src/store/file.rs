//! The deployment record as a JSON file in the state directory, and the
//! crash-safe file writing shared by the local stores and the compiled cache.
//!
//! A write goes to a temp file in the target's directory
//! (`<name>.tmp-<pid>-<n>`), which is written, `fsync`ed and renamed over the
//! target, after which the directory itself is `fsync`ed so the rename is
//! durable. A crash leaves either the old file or the new one, plus at worst
//! a temp file that later cleanup removes.

use std::collections::BTreeSet;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use async_trait::async_trait;

use super::DeploymentStore;
use crate::record::DeploymentRecord;

/// File name of the deployment record inside the state directory.
pub const RECORD_FILE: &str = "deployments.json";

/// [`DeploymentStore`] keeping the record at `<state_dir>/deployments.json`.
///
/// One store per state directory per process: saves through it are applied
/// in the order they are called.
#[derive(Debug)]
pub struct FileDeploymentStore {
    dir: PathBuf,
    path: PathBuf,
    /// Serialises saves so renames land in call order.
    save_lock: tokio::sync::Mutex<()>,
}

impl FileDeploymentStore {
    /// Uses `state_dir` (created, mode 0700 on unix, if missing).
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        create_private_dir(state_dir)
            .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
        Ok(Self {
            dir: state_dir.to_path_buf(),
            path: state_dir.join(RECORD_FILE),
            save_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the record is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl DeploymentStore for FileDeploymentStore {
    async fn load(&self) -> anyhow::Result<Option<DeploymentRecord>> {
        let dir = self.dir.clone();
        let path = self.path.clone();
        blocking(move || {
            remove_abandoned_temps(&dir, |name| {
                name.strip_prefix(RECORD_FILE)
                    .is_some_and(|rest| rest.starts_with(TEMP_MARK))
            });
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot read deployment record {}", path.display())
                    });
                }
            };
            let record = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "deployment record {} is corrupt (fix or remove it; the host does not start from an empty record on its own)",
                    path.display()
                )
            })?;
            Ok(Some(record))
        })
        .await
    }

    async fn save(&self, record: &DeploymentRecord) -> anyhow::Result<()> {
        let mut json =
            serde_json::to_vec_pretty(record).context("cannot encode the deployment record")?;
        json.push(b'\n');
        let _guard = self.save_lock.lock().await;
        let dir = self.dir.clone();
        let path = self.path.clone();
        blocking(move || {
            write_atomic(&dir, RECORD_FILE, &json, true)
                .with_context(|| format!("cannot write deployment record {}", path.display()))
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// Shared file helpers.

/// Marks a temp file name: `<final name>.tmp-<pid>-<n>`.
pub(crate) const TEMP_MARK: &str = ".tmp-";

/// A temp file of another process untouched for this long is taken to be
/// left over from a crash. (Our own process's leftovers are recognised
/// exactly, by not being in flight.)
const TEMP_GRACE: Duration = Duration::from_secs(15 * 60);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temp files this process is writing right now; cleanup leaves them alone.
static IN_FLIGHT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn in_flight() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process id in a temp file name, if `name` is one of ours.
fn temp_pid(name: &str) -> Option<u32> {
    let (_, rest) = name.rsplit_once(TEMP_MARK)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether `name` looks like a temp file written by [`TempPath`].
pub(crate) fn is_temp_name(name: &str) -> bool {
    temp_pid(name).is_some()
}

/// Removes `path` (named `name`) if it is a temp file nobody will finish:
/// one of this process's that is not in flight, or another process's that
/// has not been touched for [`TEMP_GRACE`]. Returns whether it was removed.
pub(crate) fn remove_if_abandoned_temp(path: &Path, name: &str) -> bool {
    let Some(pid) = temp_pid(name) else {
        return false;
    };
    let abandoned = if pid == std::process::id() {
        !in_flight().contains(path)
    } else {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|mtime| SystemTime::now().duration_since(mtime).ok())
            .is_some_and(|age| age >= TEMP_GRACE)
    };
    if !abandoned {
        return false;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "removed leftover temp file");
            true
        }
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover temp file");
            }
            false
        }
    }
}

/// Removes abandoned temp files in `dir` whose names pass `filter`.
/// Best effort: errors are logged.
pub(crate) fn remove_abandoned_temps(dir: &Path, filter: impl Fn(&str) -> bool) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot list directory for temp cleanup");
            }
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if filter(name) {
            remove_if_abandoned_temp(&entry.path(), name);
        }
    }
}

/// A temp file path, registered as in flight while this lives; the file is
/// removed on drop unless [`persist`](Self::persist) renamed it.
pub(crate) struct TempPath {
    path: PathBuf,
    persisted: bool,
}

impl TempPath {
    /// A fresh temp name in `dir` for a file that will become `final_name`.
    /// The file itself is not created.
    pub(crate) fn new(dir: &Path, final_name: &str) -> Self {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{final_name}{TEMP_MARK}{}-{n}", std::process::id()));
        in_flight().insert(path.clone());
        Self {
            path,
            persisted: false,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp file to `target` (replacing it). The caller syncs
    /// the directory if the rename must be durable.
    pub(crate) fn persist(mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.persisted
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove temp file");
        }
        in_flight().remove(&self.path);
    }
}

/// Creates `dir` and any missing parents, mode 0700 on unix.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Options creating a new file, mode 0600 on unix; fails if it exists.
pub(crate) fn new_private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Makes renames and creations in `dir` durable (a no-op off unix, where a
/// directory cannot be opened for syncing).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Replaces `dir/final_name` with `bytes` atomically: temp file, write,
/// rename. With `durable`, the file is `fsync`ed before the rename and the
/// directory after it, so a crash leaves the old or the new content.
pub(crate) fn write_atomic(
    dir: &Path,
    final_name: &str,
    bytes: &[u8],
    durable: bool,
) -> io::Result<()> {
    let temp = TempPath::new(dir, final_name);
    let mut file = new_private_file_options().open(temp.path())?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    drop(file);
    temp.persist(&dir.join(final_name))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Runs blocking file work off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("storage task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn empty_dir_loads_none() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("nested/.wharf");
        let store = FileDeploymentStore::open(&state).unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&state).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "state dir mode {mode:o}");
        }
    }

    #[tokio::test]
    async fn round_trip_and_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileDeploymentStore::open(tmp.path()).unwrap();
        let mut record = sample();
        store.save(&record).await.unwrap();
        assert_eq!(store.load().await.unwrap().as_ref(), Some(&record));

        record.revision += 1;
        record.services.remove("web");
        store.save(&record).await.unwrap();
        assert_eq!(store.load().await.unwrap().as_ref(), Some(&record));

        // A second store on the same directory (a restart) sees it too.
        let again = FileDeploymentStore::open(tmp.path()).unwrap();
        assert_eq!(again.load().await.unwrap(), Some(record));
        assert_eq!(names(tmp.path()), [RECORD_FILE]);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\n  \"revision\": 8"), "{text}");
    }

    #[tokio::test]
    async fn leftover_temp_files_are_ignored_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileDeploymentStore::open(tmp.path()).unwrap();
        let record = sample();
        store.save(&record).await.unwrap();

        // A half-written temp from an earlier run of this pid (e.g. pid 1
        // in a container), one from another process long ago, and one from
        // another process that may still be writing.
        let ours = format!("{RECORD_FILE}.tmp-{}-999999", std::process::id());
        let old = format!("{RECORD_FILE}.tmp-4000000-1");
        let fresh = format!("{RECORD_FILE}.tmp-4000001-1");
        for name in [&ours, &old, &fresh] {
            std::fs::write(tmp.path().join(name), b"{\"revision\": 99, \"serv").unwrap();
        }
        std::fs::File::options()
            .write(true)
            .open(tmp.path().join(&old))
            .unwrap()
            .set_modified(SystemTime::now() - TEMP_GRACE - Duration::from_secs(1))
            .unwrap();

        assert_eq!(store.load().await.unwrap(), Some(record));
        assert_eq!(names(tmp.path()), [RECORD_FILE.to_string(), fresh]);

        // Only temps: still nothing saved.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(&ours), b"{").unwrap();
        let store = FileDeploymentStore::open(tmp.path()).unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        assert!(names(tmp.path()).is_empty());
    }

    #[tokio::test]
    async fn corrupt_record_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileDeploymentStore::open(tmp.path()).unwrap();
        std::fs::write(store.path(), b"{\"revision\": 1, \"services\": {").unwrap();
        let err = store.load().await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&store.path().display().to_string()), "{msg}");
        assert!(msg.contains("corrupt"), "{msg}");
        // Nothing was overwritten.
        assert_eq!(
            std::fs::read(store.path()).unwrap(),
            b"{\"revision\": 1, \"services\": {"
        );
    }

    #[test]
    fn temp_names() {
        let dir = Path::new("/x");
        let temp = TempPath::new(dir, "a.json");
        let name = temp.path().file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(name), "{name}");
        assert_eq!(temp_pid(name), Some(std::process::id()));
        assert!(in_flight().contains(temp.path()));
        let path = temp.path().to_path_buf();
        drop(temp);
        assert!(!in_flight().contains(&path));
        for not_temp in [
            "a.json",
            "a.json.tmp-",
            "a.json.tmp-1",
            "a.json.tmp-x-1",
            "a.json.tmp-1-x",
        ] {
            assert!(!is_temp_name(not_temp), "{not_temp}");
        }
    }
}
