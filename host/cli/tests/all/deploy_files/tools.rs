//! The outside checkers the deploy/ tests run, and running them.
//!
//! The PyPI ones (`kubernetes-validate`, `kubectl` for kustomize,
//! `dockerfile-parse`, `hadolint`) live in the virtualenv
//! `target/deploy-tools` that `scripts/test.sh` creates from
//! `scripts/deploy-tools.txt` (`WHARF_DEPLOY_TOOLS` points elsewhere);
//! `systemd-analyze` and `nats-server` come from Debian's packages. A missing
//! tool fails the test, never skips it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `bin/<name>` of the deploy-tools virtualenv.
pub fn venv_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("WHARF_DEPLOY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/deploy-tools"));
    let path = dir.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test.sh, which installs scripts/deploy-tools.txt \
         from PyPI into target/deploy-tools (or set WHARF_DEPLOY_TOOLS to such a virtualenv)",
        path.display()
    );
    path
}

/// A program from Debian's packages: on PATH or in the sbin/bin folders
/// (sbin is not on every PATH).
pub fn system_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
                .into_iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: install the Debian package `{package}` \
                 (scripts/test.sh does so when it is missing)"
            )
        })
}

/// Runs `program args…` to completion.
pub fn run<I, S>(program: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    Command::new(program)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", program.display()))
}

/// Stdout and stderr of `out`, for failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails with the tool's output unless it exited 0.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        output_text(out)
    );
}
