//! Components as files named by their digest:
//! `<state_dir>/components/sha256/<hex>.wasm`.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use tokio::io::AsyncWriteExt as _;

use super::file::{
    TempPath, blocking, create_private_dir, is_temp_name, new_private_file_options,
    remove_abandoned_temps, remove_if_abandoned_temp, sync_dir, write_atomic,
};
use super::{ComponentStore, PutError};
use crate::digest::{Digest, DigestWriter};

/// Suffix of stored components.
const EXT: &str = ".wasm";
/// Suffix a component file gets when its content no longer matches its name.
const CORRUPT_EXT: &str = ".wasm.corrupt";
/// Temp name stem for uploads, whose digest is known only at the end.
const UPLOAD_STEM: &str = "upload";

/// [`ComponentStore`] on the local file system, verifying content on read.
#[derive(Debug, Clone)]
pub struct FileComponentStore {
    dir: PathBuf,
}

impl FileComponentStore {
    /// Uses `<state_dir>/components/sha256/` (created, mode 0700 on unix, if
    /// missing) and removes temp files left there by a crash.
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        let dir = state_dir.join("components").join("sha256");
        create_private_dir(&dir)
            .with_context(|| format!("cannot create component directory {}", dir.display()))?;
        remove_abandoned_temps(&dir, is_temp_name);
        Ok(Self { dir })
    }

    /// The directory holding the component files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the component with `digest` is (or would be) stored.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join(file_name(digest))
    }
}

fn file_name(digest: &Digest) -> String {
    format!("{}{EXT}", digest.hex())
}

#[async_trait]
impl ComponentStore for FileComponentStore {
    async fn contains(&self, digest: &Digest) -> anyhow::Result<bool> {
        let path = self.path_of(digest);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
        }
    }

    async fn get(&self, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>> {
        let digest = *digest;
        let path = self.path_of(&digest);
        blocking(move || {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot read component {digest} from {}", path.display())
                    });
                }
            };
            let actual = Digest::of(&bytes);
            if actual == digest {
                return Ok(Some(bytes));
            }
            // Keep the bad bytes aside for inspection, out of the way of a
            // fresh upload of the same digest.
            let quarantine = path.with_file_name(format!("{}{CORRUPT_EXT}", digest.hex()));
            let fate = match std::fs::rename(&path, &quarantine) {
                Ok(()) => format!("moved it to {}", quarantine.display()),
                Err(_) => match std::fs::remove_file(&path) {
                    Ok(()) => "removed it".to_string(),
                    Err(e) => format!("could not remove it: {e}"),
                },
            };
            tracing::warn!(%digest, %actual, path = %path.display(), "component file is corrupt; {fate}");
            anyhow::bail!(
                "component {digest} is corrupt on disk ({} hashes to {actual}); {fate}",
                path.display()
            )
        })
        .await
    }

    async fn put(&self, bytes: &[u8]) -> anyhow::Result<Digest> {
        let bytes = bytes.to_vec();
        let dir = self.dir.clone();
        blocking(move || {
            let digest = Digest::of(&bytes);
            let name = file_name(&digest);
            // Content addressed: an existing file already holds these bytes
            // (`get` verifies, and quarantines it if not).
            if dir.join(&name).is_file() {
                return Ok(digest);
            }
            write_atomic(&dir, &name, &bytes, true)
                .with_context(|| format!("cannot store component {digest} in {}", dir.display()))?;
            Ok(digest)
        })
        .await
    }

    async fn put_stream(
        &self,
        expected: Option<Digest>,
        max_bytes: u64,
        mut body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> Result<Digest, PutError> {
        // Removed on any early return (or if this future is dropped).
        let temp = TempPath::new(&self.dir, UPLOAD_STEM);
        let io_err = |what: &str, e: io::Error| {
            PutError::Io(anyhow::Error::new(e).context(format!(
                "cannot {what} upload temp file in {}",
                self.dir.display()
            )))
        };
        let file = new_private_file_options()
            .open(temp.path())
            .map_err(|e| io_err("create", e))?;
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = DigestWriter::new();
        let mut total: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(PutError::Body)?;
            total = total.saturating_add(chunk.len() as u64);
            if total > max_bytes {
                return Err(PutError::TooLarge { max_bytes });
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io_err("write", e))?;
        }
        let actual = hasher.finish();
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(PutError::DigestMismatch { expected, actual });
        }
        file.flush().await.map_err(|e| io_err("write", e))?;
        file.sync_all().await.map_err(|e| io_err("sync", e))?;
        drop(file);

        let dir = self.dir.clone();
        blocking(move || {
            let target = dir.join(file_name(&actual));
            // Renaming over an existing copy is harmless (same content) and
            // heals one that was damaged.
            temp.persist(&target)
                .and_then(|()| sync_dir(&dir))
                .with_context(|| format!("cannot store component {actual} at {}", target.display()))
        })
        .await
        .map_err(PutError::Io)?;
        Ok(actual)
    }

    async fn retain(&self, keep: &BTreeSet<Digest>) -> anyhow::Result<usize> {
        let keep = keep.clone();
        let dir = self.dir.clone();
        blocking(move || {
            let entries = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot list components in {}", dir.display()))?;
            let mut removed = 0;
            for entry in entries {
                let entry = entry
                    .with_context(|| format!("cannot list components in {}", dir.display()))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let path = entry.path();
                if let Some(hex) = name.strip_suffix(EXT)
                    && let Ok(digest) = hex.parse::<Digest>()
                {
                    if keep.contains(&digest) {
                        continue;
                    }
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e).with_context(|| {
                                format!("cannot remove component {}", path.display())
                            });
                        }
                    }
                } else if name.ends_with(CORRUPT_EXT) {
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove quarantined component");
                    }
                } else {
                    remove_if_abandoned_temp(&path, name);
                }
            }
            if removed > 0 {
                sync_dir(&dir)
                    .with_context(|| format!("cannot sync {}", dir.display()))?;
            }
            Ok(removed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        chunks: Vec<Result<&'static [u8], io::Error>>,
    ) -> BoxStream<'static, Result<Bytes, io::Error>> {
        futures::stream::iter(chunks.into_iter().map(|c| c.map(Bytes::from_static))).boxed()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn put_get_contains() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let d = Digest::of(b"component one");
        assert!(!store.contains(&d).await.unwrap());
        assert_eq!(store.get(&d).await.unwrap(), None);

        assert_eq!(store.put(b"component one").await.unwrap(), d);
        assert_eq!(store.put(b"component one").await.unwrap(), d);
        assert!(store.contains(&d).await.unwrap());
        assert_eq!(store.get(&d).await.unwrap().unwrap(), b"component one");
        assert_eq!(
            store.path_of(&d),
            tmp.path()
                .join(format!("components/sha256/{}.wasm", d.hex()))
        );
        assert_eq!(names(store.dir()), [format!("{}.wasm", d.hex())]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for p in [tmp.path().join("components"), store.dir().to_path_buf()] {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700, "{}", p.display());
            }
        }
    }

    #[tokio::test]
    async fn put_stream_stores_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let d = Digest::of(b"hello world");
        for expected in [None, Some(d)] {
            let got = store
                .put_stream(
                    expected,
                    11,
                    body(vec![Ok(b"hello "), Ok(b""), Ok(b"world")]),
                )
                .await
                .unwrap();
            assert_eq!(got, d);
        }
        assert_eq!(store.get(&d).await.unwrap().unwrap(), b"hello world");
        assert_eq!(names(store.dir()), [format!("{}.wasm", d.hex())]);
    }

    #[tokio::test]
    async fn put_stream_refusals_store_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let wrong = Digest::of(b"something else");

        let err = store
            .put_stream(
                Some(wrong),
                1 << 20,
                body(vec![Ok(b"hello "), Ok(b"world")]),
            )
            .await
            .unwrap_err();
        match err {
            PutError::DigestMismatch { expected, actual } => {
                assert_eq!(expected, wrong);
                assert_eq!(actual, Digest::of(b"hello world"));
            }
            other => panic!("{other:?}"),
        }
        assert!(names(store.dir()).is_empty());

        let err = store
            .put_stream(None, 10, body(vec![Ok(b"hello "), Ok(b"world")]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PutError::TooLarge { max_bytes: 10 }),
            "{err:?}"
        );
        assert!(names(store.dir()).is_empty());

        let err = store
            .put_stream(
                None,
                1 << 20,
                body(vec![
                    Ok(b"hello "),
                    Err(io::Error::other("client went away")),
                ]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, PutError::Body(_)), "{err:?}");
        assert!(err.to_string().contains("client went away"), "{err}");
        assert!(names(store.dir()).is_empty());
        assert!(!store.contains(&Digest::of(b"hello world")).await.unwrap());
    }

    #[tokio::test]
    async fn dropped_upload_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let stalled = futures::stream::once(async { Ok(Bytes::from_static(b"part")) })
            .chain(futures::stream::pending())
            .boxed();
        let upload = store.put_stream(None, 1 << 20, stalled);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(100), upload).await;
        assert!(timed_out.is_err());
        assert!(names(store.dir()).is_empty());
    }

    #[tokio::test]
    async fn corrupt_file_is_an_error_naming_the_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let d = store.put(b"original bytes").await.unwrap();
        std::fs::write(store.path_of(&d), b"tampered bytes").unwrap();

        let err = store.get(&d).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&d.to_string()), "{msg}");
        assert!(msg.contains("corrupt"), "{msg}");
        // Out of the way: not served again, and a re-upload works.
        assert!(!store.contains(&d).await.unwrap());
        assert_eq!(store.get(&d).await.unwrap(), None);
        assert_eq!(store.put(b"original bytes").await.unwrap(), d);
        assert_eq!(store.get(&d).await.unwrap().unwrap(), b"original bytes");
    }

    #[tokio::test]
    async fn retain_removes_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let a = store.put(b"a").await.unwrap();
        let b = store.put(b"b").await.unwrap();
        let c = store.put(b"c").await.unwrap();
        // Files that are not components are left alone; a leftover temp of
        // this process is cleaned up, as is a quarantined file.
        std::fs::write(store.dir().join("README"), b"hi").unwrap();
        let leftover = format!("upload.tmp-{}-424242", std::process::id());
        std::fs::write(store.dir().join(&leftover), b"partial").unwrap();
        std::fs::write(store.dir().join(format!("{}.wasm.corrupt", c.hex())), b"x").unwrap();

        let keep: BTreeSet<_> = [a].into();
        assert_eq!(store.retain(&keep).await.unwrap(), 2);
        assert!(store.contains(&a).await.unwrap());
        assert!(!store.contains(&b).await.unwrap());
        assert!(!store.contains(&c).await.unwrap());
        assert_eq!(
            names(store.dir()),
            ["README".to_string(), format!("{}.wasm", a.hex())]
        );
        assert_eq!(store.retain(&keep).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn open_cleans_leftover_temps() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        let leftover = format!("upload.tmp-{}-434343", std::process::id());
        std::fs::write(store.dir().join(&leftover), b"partial").unwrap();
        let store = FileComponentStore::open(tmp.path()).unwrap();
        assert!(names(store.dir()).is_empty());
    }

    #[tokio::test]
    async fn usable_as_trait_objects() {
        let tmp = tempfile::tempdir().unwrap();
        let store: std::sync::Arc<dyn ComponentStore> =
            std::sync::Arc::new(FileComponentStore::open(tmp.path()).unwrap());
        let d = store.put(b"x").await.unwrap();
        assert!(store.contains(&d).await.unwrap());
        let _: std::sync::Arc<dyn crate::store::DeploymentStore> =
            std::sync::Arc::new(crate::store::FileDeploymentStore::open(tmp.path()).unwrap());
    }
}
