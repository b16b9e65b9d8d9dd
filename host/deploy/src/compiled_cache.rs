//! A cache of wasmtime-compiled components in `<state_dir>/compiled/`, so a
//! restart does not recompile every service.
//!
//! Entries are keyed by the component's digest *and* the engine: the file is
//! `<digest hex>-<engine key>.cwasm`, where the engine key is 16 hex digits
//! derived from [`Engine::precompile_compatibility_hash`] (which covers the
//! wasmtime version, target and compiler settings).
//!
//! Deserializing compiled code trusts it completely: a planted `.cwasm` is
//! native code run by the host. So every entry is authenticated: its first
//! 32 bytes are an HMAC-SHA256, under a secret key of this host
//! (`<state_dir>/compiled.key`, 32 random bytes, mode 0600, made on first
//! use), of the component's digest and the rest of the entry, which is what
//! [`Component::serialize`] produced. Only an entry whose tag verifies is
//! handed to wasmtime, which then checks version and engine compatibility
//! itself. Anything else (a torn write, a bit flip, an entry written by
//! anyone without the key, or one moved from another digest's name) is
//! [`CacheOutcome::Stale`]: removed and recompiled, never loaded. Writes
//! are atomic (temp file + rename) but not `fsync`ed.

use std::collections::BTreeSet;
use std::hash::{Hash as _, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ring::hmac;
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::digest::Digest;
use crate::store::file::{
    create_private_dir, is_temp_name, remove_abandoned_temps, remove_if_abandoned_temp,
    write_atomic,
};

/// Suffix of cache entries.
const EXT: &str = ".cwasm";
/// Length of the HMAC-SHA256 tag in front of each entry.
const TAG_LEN: usize = 32;
/// The host's cache key, in the state directory (not in `compiled/`).
const KEY_FILE: &str = "compiled.key";
/// Length of the cache key in bytes.
const KEY_LEN: usize = 32;

/// Where [`CompiledCache::load_or_compile`] got the component from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialized from an intact entry for this engine.
    Hit,
    /// No entry; compiled (and written to the cache).
    Miss,
    /// An entry existed but was for another engine or corrupt; it was
    /// removed and the component compiled anew.
    Stale,
}

impl CacheOutcome {
    /// The metric label and API spelling: `hit`, `miss` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
        }
    }
}

/// Compiled components on disk, keyed by digest and engine.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
    /// Authenticates entries; see the module docs.
    key: hmac::Key,
}

impl CompiledCache {
    /// Uses `<state_dir>/compiled/` (created, mode 0700 on unix, if missing)
    /// with the key in `<state_dir>/compiled.key` (created if missing), and
    /// removes temp files left there by a crash.
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        let dir = state_dir.join("compiled");
        create_private_dir(&dir)
            .with_context(|| format!("cannot create compiled cache {}", dir.display()))?;
        let key = load_or_create_key(state_dir)?;
        remove_abandoned_temps(&dir, is_temp_name);
        Ok(Self {
            dir,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The 16 hex digits naming `engine`'s entries: the first 64 bits of a
    /// SHA-256 over what [`Engine::precompile_compatibility_hash`] feeds to a
    /// [`Hasher`].
    ///
    /// SHA-256 rather than `DefaultHasher`, whose algorithm may change
    /// between Rust releases. The bytes fed are those of the std `Hash`
    /// impls (native-endian integers, etc.), so the key is stable for a
    /// given wasmtime version, target and toolchain, which is all that
    /// matters: a key that changes only costs a recompile, and wasmtime
    /// rejects an incompatible entry even if the key were to collide.
    pub fn engine_key(engine: &Engine) -> String {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Returns the component for `digest`, deserialized from the cache when an entry for this engine exists and is intact, else produced by `compile` and written to the cache (write failures are logged with tracing::warn and ignored: the cache is an optimisation).
    ///
    /// Blocking (file I/O, and compilation on a miss): call it from
    /// `spawn_blocking` or a compile thread.
    pub fn load_or_compile<E>(
        &self,
        engine: &Engine,
        digest: &Digest,
        compile: impl FnOnce() -> Result<Component, E>,
    ) -> Result<(Component, CacheOutcome), E> {
        let key = Self::engine_key(engine);
        let name = format!("{}-{key}{EXT}", digest.hex());
        let path = self.dir.join(&name);

        let mut outcome = CacheOutcome::Miss;
        match std::fs::read(&path) {
            Ok(bytes) => match deserialize_verified(engine, &self.key, digest, &bytes) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(
                        %digest, path = %path.display(), error = format!("{e:#}"),
                        "compiled cache entry unusable; recompiling"
                    );
                    outcome = CacheOutcome::Stale;
                    remove_quietly(&path);
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(
                    %digest, path = %path.display(), error = %e,
                    "cannot read compiled cache entry; recompiling"
                );
                outcome = CacheOutcome::Stale;
            }
        }

        let component = compile()?;

        if self.remove_other_engines(digest, &key) > 0 {
            outcome = CacheOutcome::Stale;
        }
        match component.serialize() {
            Ok(serialized) => {
                let mut entry = Vec::with_capacity(TAG_LEN + serialized.len());
                entry.extend_from_slice(tag(&self.key, digest, &serialized).as_ref());
                entry.extend_from_slice(&serialized);
                if let Err(e) = write_atomic(&self.dir, &name, &entry, false) {
                    tracing::warn!(
                        %digest, path = %path.display(), error = %e,
                        "cannot write compiled cache entry"
                    );
                }
            }
            Err(e) => tracing::warn!(
                %digest, error = format!("{e:#}"),
                "cannot serialize compiled component for the cache"
            ),
        }
        Ok((component, outcome))
    }

    /// Removes entries (for any engine) whose digest is not in `keep`, and
    /// temp files left by a crash; returns how many entries were removed.
    pub fn retain(&self, keep: &BTreeSet<Digest>) -> anyhow::Result<usize> {
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list compiled cache {}", self.dir.display()))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("cannot list compiled cache {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            match entry_digest(name) {
                Some(digest) if keep.contains(&digest) => {}
                Some(_) => match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("cannot remove compiled cache entry {}", path.display())
                        });
                    }
                },
                None => {
                    remove_if_abandoned_temp(&path, name);
                }
            }
        }
        Ok(removed)
    }

    /// Removes entries for `digest` under engine keys other than `key`;
    /// returns how many there were.
    fn remove_other_engines(&self, digest: &Digest, key: &str) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let prefix = format!("{}-", digest.hex());
        let mine = format!("{prefix}{key}{EXT}");
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name != mine && name.starts_with(&prefix) && name.ends_with(EXT) {
                tracing::debug!(%digest, file = name, "removing compiled cache entry of another engine");
                remove_quietly(&entry.path());
                removed += 1;
            }
        }
        removed
    }
}

/// The digest an entry file name (`<hex>-<key>.cwasm`) is for.
fn entry_digest(name: &str) -> Option<Digest> {
    let stem = name.strip_suffix(EXT)?;
    let (hex, _key) = stem.split_once('-')?;
    hex.parse().ok()
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove compiled cache entry");
    }
}

/// The host's cache key: read from `<state_dir>/compiled.key`, or made
/// from the system's random source and written there (mode 0600) when
/// missing or not a key. A new key only costs recompiling every entry.
fn load_or_create_key(state_dir: &Path) -> anyhow::Result<[u8; KEY_LEN]> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            if let Ok(key) = <[u8; KEY_LEN]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
            tracing::warn!(path = %path.display(), "compiled cache key is damaged; making a new one");
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
    }
    let mut key = [0u8; KEY_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    write_atomic(state_dir, KEY_FILE, &key, true)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// The tag of an entry: HMAC-SHA256 over the digest it is filed under and
/// its compiled code, so an entry cannot be forged nor moved to another
/// component's name.
fn tag(key: &hmac::Key, digest: &Digest, serialized: &[u8]) -> hmac::Tag {
    let mut context = hmac::Context::with_key(key);
    context.update(digest.as_bytes());
    context.update(serialized);
    context.sign()
}

/// Verifies an entry's tag, then has wasmtime deserialize the rest.
#[allow(unsafe_code)]
fn deserialize_verified(
    engine: &Engine,
    key: &hmac::Key,
    digest: &Digest,
    entry: &[u8],
) -> anyhow::Result<Component> {
    let Some((received, serialized)) = entry.split_first_chunk::<TAG_LEN>() else {
        anyhow::bail!("entry is truncated ({} bytes)", entry.len());
    };
    let mut message = Vec::with_capacity(digest.as_bytes().len() + serialized.len());
    message.extend_from_slice(digest.as_bytes());
    message.extend_from_slice(serialized);
    if hmac::verify(key, &message, received).is_err() {
        anyhow::bail!("entry is not authenticated by this host's key");
    }
    // SAFETY: `Component::deserialize` requires bytes produced by
    // `Component::serialize` (or `Engine::precompile_component`), unaltered.
    // These bytes are exactly what `load_or_compile` wrote: an entry is only
    // ever written from `Component::serialize` output, together with an
    // HMAC-SHA256 of it under this host's secret key, and we just verified
    // that tag over the bytes, which were read fully into memory first (not
    // mapped: the file cannot change under wasmtime after the check). A
    // torn, bit-flipped or planted entry therefore fails the tag above and
    // never reaches wasmtime. Wasmtime itself verifies the version and
    // engine configuration the bytes were compiled for and returns an error
    // (which the caller treats as stale) on any mismatch. The remaining
    // trust is in whoever can read the key, which is private (0600) to the
    // host's user in a state directory no grant may reach.
    let component = unsafe { Component::deserialize(engine, serialized) }?;
    Ok(component)
}

/// Feeds everything a `Hash` impl writes into SHA-256.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use wasmtime::{Config, OptLevel};

    use super::*;

    const WAT: &str = "(component)";

    fn load(
        cache: &CompiledCache,
        engine: &Engine,
        digest: &Digest,
        compiles: &Cell<u32>,
    ) -> CacheOutcome {
        let (_component, outcome) = cache
            .load_or_compile(engine, digest, || {
                compiles.set(compiles.get() + 1);
                Component::new(engine, WAT)
            })
            .unwrap();
        outcome
    }

    fn entries(cache: &CompiledCache) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn other_engine() -> Engine {
        let mut config = Config::new();
        config.cranelift_opt_level(OptLevel::None);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn miss_then_hit() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let digest = Digest::of(WAT.as_bytes());
        let compiles = Cell::new(0);

        assert_eq!(
            load(&cache, &engine, &digest, &compiles),
            CacheOutcome::Miss
        );
        assert_eq!(load(&cache, &engine, &digest, &compiles), CacheOutcome::Hit);
        assert_eq!(compiles.get(), 1);
        let key = CompiledCache::engine_key(&engine);
        assert_eq!(key.len(), 16);
        assert_eq!(entries(&cache), [format!("{}-{key}.cwasm", digest.hex())]);

        // A restart (a new cache and engine with the same config) hits too.
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        assert_eq!(CompiledCache::engine_key(&engine), key);
        assert_eq!(load(&cache, &engine, &digest, &compiles), CacheOutcome::Hit);
        assert_eq!(compiles.get(), 1);
    }

    #[test]
    fn compile_error_is_returned_and_nothing_cached() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let err = cache
            .load_or_compile(&engine, &Digest::of(b"bad"), || {
                Component::new(&engine, "(component (bogus))")
            })
            .unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(entries(&cache).is_empty());
    }

    #[test]
    fn corrupt_entries_are_stale_and_recompiled() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let digest = Digest::of(WAT.as_bytes());
        let compiles = Cell::new(0);
        assert_eq!(
            load(&cache, &engine, &digest, &compiles),
            CacheOutcome::Miss
        );
        let path = cache.dir().join(&entries(&cache)[0]);
        let good = std::fs::read(&path).unwrap();

        // A flipped byte in the compiled code, in the checksum, a truncated
        // entry and an empty one.
        let mut flipped_body = good.clone();
        let last = flipped_body.len() - 1;
        flipped_body[last] ^= 0x01;
        let mut flipped_sum = good.clone();
        flipped_sum[3] ^= 0x80;
        let damaged = [
            flipped_body,
            flipped_sum,
            good[..good.len() / 2].to_vec(),
            Vec::new(),
        ];
        for (i, bad) in damaged.into_iter().enumerate() {
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(
                load(&cache, &engine, &digest, &compiles),
                CacheOutcome::Stale,
                "case {i}"
            );
            assert_eq!(compiles.get(), 2 + i as u32, "case {i}");
            // Rewritten intact.
            assert_eq!(std::fs::read(&path).unwrap(), good, "case {i}");
            assert_eq!(load(&cache, &engine, &digest, &compiles), CacheOutcome::Hit);
        }
    }

    #[test]
    fn planted_entries_are_stale_and_recompiled_never_loaded() {
        // An entry as another host (another key) wrote it, one in the old
        // format (SHA-256 checksum, no key), and one moved from another
        // component's name: none is handed to wasmtime.
        let (planter, victim) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let other = CompiledCache::open(planter.path()).unwrap();
        let cache = CompiledCache::open(victim.path()).unwrap();
        let engine = Engine::default();
        let digest = Digest::of(WAT.as_bytes());
        let compiles = Cell::new(0);
        load(&other, &engine, &digest, &compiles);
        let name = entries(&other)[0].clone();
        let foreign = std::fs::read(other.dir().join(&name)).unwrap();
        let serialized = Component::new(&engine, WAT).unwrap().serialize().unwrap();
        let mut old_format = Digest::of(&serialized).as_bytes().to_vec();
        old_format.extend_from_slice(&serialized);
        for (i, planted) in [foreign, old_format].into_iter().enumerate() {
            std::fs::write(cache.dir().join(&name), &planted).unwrap();
            assert_eq!(
                load(&cache, &engine, &digest, &compiles),
                CacheOutcome::Stale,
                "case {i}"
            );
            assert_ne!(std::fs::read(cache.dir().join(&name)).unwrap(), planted);
        }
        let moved = Digest::of(b"another component");
        let moved_name = name.replacen(&digest.hex(), &moved.hex(), 1);
        std::fs::copy(cache.dir().join(&name), cache.dir().join(&moved_name)).unwrap();
        assert_eq!(
            load(&cache, &engine, &moved, &compiles),
            CacheOutcome::Stale
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let key = std::fs::metadata(victim.path().join(KEY_FILE)).unwrap();
            assert_eq!(key.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn other_engine_config_is_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let other = other_engine();
        let key = CompiledCache::engine_key(&engine);
        let other_key = CompiledCache::engine_key(&other);
        assert_ne!(key, other_key);
        let digest = Digest::of(WAT.as_bytes());
        let compiles = Cell::new(0);

        assert_eq!(
            load(&cache, &engine, &digest, &compiles),
            CacheOutcome::Miss
        );
        assert_eq!(
            load(&cache, &other, &digest, &compiles),
            CacheOutcome::Stale
        );
        assert_eq!(compiles.get(), 2);
        // The old engine's entry made way for the new one's.
        assert_eq!(
            entries(&cache),
            [format!("{}-{other_key}.cwasm", digest.hex())]
        );
        assert_eq!(load(&cache, &other, &digest, &compiles), CacheOutcome::Hit);
        assert_eq!(compiles.get(), 2);
    }

    #[test]
    fn entry_under_the_wrong_engine_key_is_rejected_by_wasmtime() {
        // Bytes with a valid checksum but compiled by an incompatible engine
        // configuration (as if the key had collided): wasmtime's own
        // compatibility check refuses them. (Not every difference is an
        // incompatibility: code from another opt level loads fine.)
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let mut config = Config::new();
        config.consume_fuel(true);
        let other = Engine::new(&config).unwrap();
        let digest = Digest::of(WAT.as_bytes());
        let compiles = Cell::new(0);

        assert_eq!(load(&cache, &other, &digest, &compiles), CacheOutcome::Miss);
        let other_name = &entries(&cache)[0];
        let name = format!(
            "{}-{}.cwasm",
            digest.hex(),
            CompiledCache::engine_key(&engine)
        );
        std::fs::rename(cache.dir().join(other_name), cache.dir().join(&name)).unwrap();

        assert_eq!(
            load(&cache, &engine, &digest, &compiles),
            CacheOutcome::Stale
        );
        assert_eq!(compiles.get(), 2);
        assert_eq!(load(&cache, &engine, &digest, &compiles), CacheOutcome::Hit);
    }

    #[test]
    fn retain_keeps_listed_digests() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CompiledCache::open(tmp.path()).unwrap();
        let engine = Engine::default();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let compiles = Cell::new(0);
        load(&cache, &engine, &a, &compiles);
        load(&cache, &engine, &b, &compiles);
        std::fs::write(cache.dir().join("notes.txt"), b"").unwrap();
        let leftover = format!("x.cwasm.tmp-{}-777777", std::process::id());
        std::fs::write(cache.dir().join(&leftover), b"").unwrap();

        assert_eq!(cache.retain(&[a].into()).unwrap(), 1);
        let key = CompiledCache::engine_key(&engine);
        assert_eq!(
            entries(&cache),
            [format!("{}-{key}.cwasm", a.hex()), "notes.txt".to_string()]
        );
    }
}
