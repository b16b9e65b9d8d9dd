//! The admin API's bearer token.
//!
//! Taken from `WHARF_ADMIN_TOKEN` when set; otherwise generated on first
//! start, written to `<state dir>/admin-token` with mode 0600, and printed
//! once. `wharf ps` and later admin commands read it from the same place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Environment variable that overrides the stored token.
pub const TOKEN_ENV: &str = "WHARF_ADMIN_TOKEN";

const TOKEN_FILE: &str = "admin-token";

/// Whether the operator chose a token through the environment.
pub fn from_env() -> bool {
    std::env::var(TOKEN_ENV).is_ok_and(|t| !t.is_empty())
}

/// The token to check, creating one in `state_dir` if there is none.
/// Returns the token and, if it was just created, the file it went to.
pub fn load_or_create(state_dir: &Path) -> anyhow::Result<(String, Option<PathBuf>)> {
    if let Ok(token) = std::env::var(TOKEN_ENV)
        && !token.is_empty()
    {
        return Ok((token, None));
    }
    let path = state_dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim().to_string();
        if !token.is_empty() {
            return Ok((token, None));
        }
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = match options.open(&path) {
        Ok(file) => file,
        // Another host process sharing this state directory won the race;
        // use its token.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok((read(state_dir)?, None));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(token.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((token, Some(path)))
}

/// The token for a client command: the environment, else the state dir.
pub fn read(state_dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var(TOKEN_ENV)
        && !token.is_empty()
    {
        return Ok(token);
    }
    let path = state_dir.join(TOKEN_FILE);
    let token = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no admin token: set {TOKEN_ENV} or point --state-dir at the host's state directory ({} not readable)",
            path.display()
        )
    })?;
    Ok(token.trim().to_string())
}
