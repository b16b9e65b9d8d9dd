//! The CLI's side of OCI registries: where pulled components are cached,
//! registry credentials from the environment, and pulling the `oci://`
//! components of a manifest before `wharf up` loads it.
//!
//! The registry work itself (layout, verification, caching) is `wharf-oci`'s.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wharf_manifest::{ComponentSource, Manifest, OciReference};
use wharf_oci::{ComponentCache, Credentials, Pulled, Registry};

/// Environment variable naming the cache of pulled components for
/// `wharf deploy` (default `$XDG_CACHE_HOME/wharf`, else `~/.cache/wharf`).
pub const CACHE_DIR_ENV: &str = "WHARF_CACHE_DIR";

/// Folder, in a host's state directory, where `wharf up` caches the
/// components it pulls.
pub const STATE_CACHE_DIR: &str = "oci-cache";

/// The reference in a component argument that starts with `oci://`;
/// `None` for anything else (a file or folder).
///
/// # Errors
///
/// When the text starts with `oci://` but is not a valid reference.
pub fn reference_arg(arg: &Path) -> anyhow::Result<Option<OciReference>> {
    let Some(text) = arg.to_str() else {
        return Ok(None);
    };
    if OciReference::strip_scheme(text).is_none() {
        return Ok(None);
    }
    Ok(Some(text.parse()?))
}

/// The user's cache of pulled components: `$WHARF_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wharf`, else `$HOME/.cache/wharf`.
///
/// # Errors
///
/// When none of those variables is set.
pub fn user_cache_dir() -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("wharf"));
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("wharf"));
    }
    bail!("no cache folder for pulled components: set {CACHE_DIR_ENV} (or HOME)")
}

/// Pulls `reference` through the cache in `cache_dir`, saying on stderr
/// where the bytes came from.
///
/// # Errors
///
/// See [`Registry::pull`].
pub async fn pull(reference: &OciReference, cache_dir: &Path) -> anyhow::Result<Pulled> {
    let cache = ComponentCache::open(cache_dir)?;
    let registry = Registry::new(Credentials::from_env()?);
    let pulled = registry.pull(reference, &cache).await?;
    let source = if pulled.from_cache {
        "from the cache"
    } else {
        "downloaded"
    };
    eprintln!(
        "Pulled {} ({}, {} bytes, {source})",
        reference.url(),
        pulled.digest,
        pulled.bytes.len()
    );
    Ok(pulled)
}

/// `manifest` with every `oci://` component pulled into the cache under
/// `state_dir` and replaced by the cached file, so the rest of `wharf up`
/// loads it like any prebuilt component.
///
/// # Errors
///
/// When a component cannot be pulled; the service is named.
pub async fn pull_manifest_components(
    mut manifest: Manifest,
    state_dir: &Path,
) -> anyhow::Result<Manifest> {
    let cache_dir = state_dir.join(STATE_CACHE_DIR);
    for service in &mut manifest.services {
        let ComponentSource::Oci(reference) = &service.component else {
            continue;
        };
        let pulled = pull(reference, &cache_dir)
            .await
            .with_context(|| format!("service `{}`: cannot pull its component", service.name))?;
        let cache = ComponentCache::open(&cache_dir)?;
        service.component = ComponentSource::File(cache.path_of(&pulled.digest));
    }
    Ok(manifest)
}
