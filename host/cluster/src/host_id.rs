//! A host's stable identity in the cluster: generated once, kept in the
//! state directory (`host-id`), so a restarted host is the same host in
//! `wharf ps --cluster` and replaces its own heartbeat.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// File name of the host ID inside the state directory.
pub const HOST_ID_FILE: &str = "host-id";

/// The ID kept in `state_dir`, created (16 hex digits, mode 0600) on
/// first use.
pub fn load_or_create(state_dir: &Path) -> anyhow::Result<String> {
    let path = state_dir.join(HOST_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_string();
            if is_valid(&id) {
                return Ok(id);
            }
            anyhow::bail!(
                "{} does not hold a host ID (1 to 64 letters, digits, `-` or `_`); fix or remove it",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let bytes: [u8; 8] = rand::random();
    let id = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(format!("{id}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(state_dir),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Host IDs are NATS key-value keys: letters, digits, `-`, `_`.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let id = load_or_create(&state).unwrap();
        assert_eq!(id.len(), 16);
        assert!(is_valid(&id));
        assert_eq!(load_or_create(&state).unwrap(), id);
        std::fs::write(state.join(HOST_ID_FILE), "not valid!\n").unwrap();
        let err = load_or_create(&state).unwrap_err().to_string();
        assert!(err.contains("host-id"), "{err}");
    }
}
