//! Where `wharf up` keeps an app's state, and how that directory is made.
//!
//! The state directory holds the admin token, the deployment record, the
//! components, the key-value database and compiled native code: whoever
//! can read it can drive the admin API, and whoever can write it can make
//! the host run code of their choosing. So by default it lives *outside*
//! the app folder (which `files` grants commonly cover), in a per-app
//! directory under `$XDG_STATE_HOME/wharf/apps/` (else
//! `~/.local/state/wharf/apps/`), keyed by the app's canonical path: the
//! folder holding `wharf.toml`, or the `.wasm` file for `wharf up x.wasm`,
//! so two components served from one folder do not share a record.
//! `--state-dir` still picks any directory. Either way the directory is
//! made mode 0700 whatever the umask, and the deployer refuses a `files`
//! grant that reaches it ([`wharf_deploy::DeployerConfig::state_dir`]).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

/// Environment variable naming the base of per-user state (XDG).
const XDG_STATE_HOME: &str = "XDG_STATE_HOME";

/// The default state directory of the app at `app` (a folder or a
/// `.wasm` file): `<base>/wharf/apps/<name>-<16 hex digits of the
/// SHA-256 of its canonical path>`.
///
/// # Errors
///
/// When `app` cannot be canonicalized, or neither `XDG_STATE_HOME` nor
/// `HOME` names an absolute directory.
pub fn default_for(app: &Path) -> anyhow::Result<PathBuf> {
    let canonical = std::fs::canonicalize(app)
        .with_context(|| format!("cannot resolve the app path {}", app.display()))?;
    let hash = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let key = format!("{name}-{}", hex16(&hash));
    Ok(base()?.join("wharf").join("apps").join(key))
}

/// `$XDG_STATE_HOME`, else `$HOME/.local/state` (relative values are
/// ignored, as the XDG spec says).
fn base() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(XDG_STATE_HOME).map(PathBuf::from)
        && dir.is_absolute()
    {
        return Ok(dir);
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local").join("state")),
        _ => bail!(
            "no place for the state directory: set {XDG_STATE_HOME} or HOME, or pass --state-dir"
        ),
    }
}

fn hex16(hash: &[u8]) -> String {
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Creates `dir` (and missing parents) and makes it mode 0700, also when
/// it already existed or the umask would have left it wider; returns its
/// canonical path, which is what grants are checked against.
///
/// # Errors
///
/// When it cannot be created, restricted or resolved.
pub fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create state directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make state directory {} private", dir.display()))?;
    }
    std::fs::canonicalize(dir)
        .with_context(|| format!("cannot resolve state directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_the_canonical_path() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("my app")).unwrap();
        std::fs::write(tmp.path().join("a.wasm"), b"").unwrap();
        let a = default_for(&tmp.path().join("my app")).unwrap();
        let b = default_for(&tmp.path().join("my app/../my app")).unwrap();
        assert_eq!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("my_app-") && name.len() == "my_app-".len() + 16);
        let wasm = default_for(&tmp.path().join("a.wasm")).unwrap();
        assert_ne!(wasm, a);
        assert!(default_for(&tmp.path().join("missing")).is_err());
    }
}
