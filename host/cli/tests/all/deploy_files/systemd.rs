//! `deploy/systemd/wharf.service`: `systemd-analyze verify` accepts it
//! (on a copy whose `ExecStart` runs the `wharf` built for these tests, since
//! verify checks that the binary exists; no systemd needs to be running), it
//! carries the hardening we promise and scores as `systemd-analyze security
//! --offline` says, and its `ExecStart` line, run here with its directories
//! moved into a temporary folder, serves an app.

use super::local::{self, Process, Rewrite};
use super::tools;

const UNIT: &str = "systemd/wharf.service";

/// Where the unit expects the binary (deploy/README.md installs it there).
const INSTALLED_BINARY: &str = "/usr/local/bin/wharf";

/// The unit's `(section, key, value)` settings in order, with `\`
/// continuation lines joined and comments dropped.
fn settings(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';') || line.is_empty())
        {
            continue;
        }
        if let Some(joined) = line.strip_suffix('\\') {
            pending.push_str(joined);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        if let Some(name) = entry.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, value)) = entry.split_once('=') {
            out.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        } else {
            panic!("not a setting: {entry}");
        }
    }
    out
}

fn unit_text() -> String {
    let path = super::deploy_path(UNIT);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The last value of `[Service] key` (systemd's rule for single values).
fn service_value(settings: &[(String, String, String)], key: &str) -> Option<String> {
    settings
        .iter()
        .rev()
        .find(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v.clone())
}

fn exec_start(settings: &[(String, String, String)]) -> Vec<String> {
    service_value(settings, "ExecStart")
        .expect("no ExecStart")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The unit, with `ExecStart` running this build's `wharf`, in a temporary
/// folder under the unit's own name.
fn unit_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let text = unit_text();
    let command = exec_start(&settings(&text));
    assert_eq!(
        command[0], INSTALLED_BINARY,
        "ExecStart runs {}",
        command[0]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wharf.service");
    let text = text.replace(
        &format!("ExecStart={INSTALLED_BINARY} "),
        &format!("ExecStart={} ", crate::common::wharf_bin()),
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let (_dir, path) = unit_copy();
    let analyze = tools::system_tool("systemd-analyze", "systemd");
    let out = tools::run(
        &analyze,
        ["verify".as_ref(), "--man=no".as_ref(), path.as_os_str()],
    );
    tools::assert_success(&out, "systemd-analyze verify");
    // verify exits 0 on an unknown key or a bad value, which it only warns
    // about ("Unknown key …, ignoring"): any word from it is a failure.
    let said = tools::output_text(&out);
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned:\n{said}"
    );
}

#[test]
fn systemd_unit_is_hardened() {
    let settings = settings(&unit_text());
    let value = |key: &str| service_value(&settings, key);
    for (key, expected) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
        ("StateDirectory", "wharf"),
        ("LimitAS", "infinity"),
    ] {
        assert_eq!(value(key).as_deref(), Some(expected), "[Service] {key}");
    }
    // Only IP and the journal's socket.
    let families = value("RestrictAddressFamilies").expect("no RestrictAddressFamilies");
    let mut families: Vec<&str> = families.split_whitespace().collect();
    families.sort_unstable();
    assert_eq!(families, ["AF_INET", "AF_INET6", "AF_UNIX"]);
    // A system call allow list, minus the privileged group.
    let filters: Vec<&str> = settings
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == "SystemCallFilter")
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert!(
        filters.contains(&"@system-service"),
        "SystemCallFilter: {filters:?}"
    );
    assert!(
        filters
            .iter()
            .any(|f| f.starts_with('~') && f.contains("@privileged"))
    );
    // wasmtime writes machine code and then makes it executable.
    assert!(
        value("MemoryDenyWriteExecute").is_none_or(|v| v == "no"),
        "MemoryDenyWriteExecute breaks wasmtime's compiler"
    );
    // The state directory the host uses is the one systemd creates.
    let command = exec_start(&settings);
    let state = command
        .iter()
        .position(|w| w == "--state-dir")
        .map(|i| command[i + 1].as_str());
    assert_eq!(
        state,
        Some("%S/wharf"),
        "--state-dir must be StateDirectory's"
    );

    // systemd's own score (0 = fully locked down, 10 = unprotected):
    // at most 2.0, i.e. "OK". The threshold is in tenths.
    let (_dir, path) = unit_copy();
    let analyze = tools::system_tool("systemd-analyze", "systemd");
    let out = tools::run(
        &analyze,
        [
            "security".as_ref(),
            "--offline=yes".as_ref(),
            "--threshold=20".as_ref(),
            "--no-pager".as_ref(),
            path.as_os_str(),
        ],
    );
    let text = tools::output_text(&out);
    let score = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(out.status.success(), "exposure above 2.0: {score}\n{text}");
}

/// `ExecStart`, run here under `strace`: `%S` (`/var/lib` for a system
/// unit), the state and configuration directories moved into a temporary
/// folder, listen addresses onto loopback, and the environment as systemd
/// would set it (no `wharf.env`). With the admin API on loopback the host
/// needs no token and writes one into its state directory. It starts,
/// compiles, serves, is scraped and stops on SIGTERM; every system call it
/// made on the way must pass the unit's `SystemCallFilter`, so a dependency
/// that starts using a filtered call (which would then fail with EPERM in
/// production) fails here.
#[test]
fn systemd_exec_start_serves_within_the_units_system_call_filter() {
    let settings = settings(&unit_text());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etc");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let mut rewrite = Rewrite::default();
    let config_dir =
        service_value(&settings, "ConfigurationDirectory").expect("no ConfigurationDirectory");
    let state_dir = service_value(&settings, "StateDirectory").unwrap();
    rewrite.path(&format!("/etc/{config_dir}"), &config);
    rewrite.path(&format!("/var/lib/{state_dir}"), &state);
    std::fs::copy(
        wharf_test_artifacts::EXAMPLE_HELLO_COMPONENT,
        config.join("hello.wasm"),
    )
    .unwrap();
    std::fs::write(
        config.join("wharf.toml"),
        "[service.hello]\ncomponent = \"hello.wasm\"\nroutes = [\"/...\"]\n",
    )
    .unwrap();

    let command = exec_start(&settings);
    let address = |flag: &str| -> std::net::SocketAddr {
        command
            .iter()
            .position(|w| w == flag)
            .map(|i| command[i + 1].parse().unwrap())
            .unwrap_or_else(|| panic!("ExecStart has no {flag}"))
    };
    let admin = address("--admin");
    assert!(
        admin.ip().is_loopback(),
        "the admin API must stay on loopback without a token: {admin}"
    );
    let listen = address("--listen");
    let trace = dir.path().join("strace.txt");
    let mut args = vec![
        "-f".to_owned(),
        "-qq".to_owned(),
        "-o".to_owned(),
        trace.display().to_string(),
        crate::common::wharf_bin().to_owned(),
    ];
    args.extend(
        local::wharf_up_args(&command[1..])
            .iter()
            .map(|w| rewrite.arg(&w.replace("%S", "/var/lib"))),
    );
    let mut host = Process::spawn(
        &tools::system_tool("strace", "strace"),
        &args,
        &[],
        dir.path().join("wharf.log"),
    );
    // If the test fails before wharf exits, kill it too: killing strace
    // alone would leave it running, detached.
    let mut traced_guard = KillTraced(Some(trace.clone()));
    let admin_port = rewrite.port(admin.port());
    let http_port = rewrite.port(listen.port());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let admin = format!("http://127.0.0.1:{admin_port}");
            local::wait_for_status(&mut host, &format!("{admin}/readyz"), 200).await;
            let (status, body) = local::get(&format!("http://127.0.0.1:{http_port}/"), None).await;
            assert_eq!((status, body.as_str()), (200, "Hello from Wharf!\n"));
            assert_eq!(local::get(&format!("{admin}/metrics"), None).await.0, 200);
        });
    assert!(
        state.join("admin-token").is_file(),
        "no admin token in the state directory; log:\n{}",
        host.log()
    );

    // SIGTERM to wharf itself (the first process in the trace), as systemd
    // sends it; strace exits with its status.
    let traced = std::fs::read_to_string(&trace).unwrap();
    let pid = traced
        .split_whitespace()
        .next()
        .expect("empty trace")
        .to_owned();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = host.wait_exit(std::time::Duration::from_secs(90));
    // Exited: its PID may be reused now.
    traced_guard.0 = None;
    assert!(
        status.success(),
        "wharf did not exit 0 on SIGTERM ({status}):\n{}",
        host.log()
    );

    let used = syscalls_in(&read_trace(&trace));
    // Not vacuous: the trace covers the host's real work.
    for call in [
        "execve",
        "mmap",
        "mprotect",
        "accept4",
        "epoll_wait",
        "rename",
    ] {
        assert!(
            used.contains(call),
            "{call} missing from the trace: {used:?}"
        );
    }
    // ProtectSystem=strict: the file system is read-only but for the
    // StateDirectory (and PrivateTmp's /tmp, which the host does not use).
    let state_prefix = format!("{}/", state.display());
    let writes = writes_in(&read_trace(&trace));
    assert!(
        writes.iter().any(|p| p.ends_with("/admin-token")),
        "the trace shows no write of the admin token: {writes:?}"
    );
    let outside: Vec<String> = writes
        .into_iter()
        .filter(|path| *path != state.display().to_string() && !path.starts_with(&state_prefix))
        .filter(|path| path != "/dev/null")
        .collect();
    assert!(
        outside.is_empty(),
        "wharf wrote outside its StateDirectory, which ProtectSystem=strict makes read-only: {outside:?}"
    );

    let allowed = allowed_syscalls(&settings);
    let refused: Vec<&String> = used.iter().filter(|c| !allowed.contains(*c)).collect();
    assert!(
        refused.is_empty(),
        "wharf made system calls the unit's SystemCallFilter refuses: {refused:?}"
    );
}

/// On drop, SIGKILLs the first process of an `strace -f` log, if still set.
struct KillTraced(Option<std::path::PathBuf>);

impl Drop for KillTraced {
    fn drop(&mut self) {
        let Some(trace) = self.0.take() else { return };
        let text = std::fs::read_to_string(trace).unwrap_or_default();
        if let Some(pid) = text.split_whitespace().next() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid])
                .status();
        }
    }
}

/// Names of the system calls in an `strace -f` log (`PID name(args…`).
fn syscalls_in(trace: &str) -> std::collections::BTreeSet<String> {
    trace
        .lines()
        .filter_map(|line| {
            let rest = line.split_once(' ')?.1.trim_start();
            let name = &rest[..rest.find('(')?];
            (!name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
            .then(|| name.to_owned())
        })
        .collect()
}

fn read_trace(trace: &std::path::Path) -> String {
    std::fs::read_to_string(trace).unwrap()
}

/// Paths an `strace -f` log shows being created, written, renamed or
/// removed (every quoted argument of such a call).
fn writes_in(trace: &str) -> Vec<String> {
    const MODIFYING: &[&str] = &[
        "creat",
        "mkdir",
        "mkdirat",
        "rename",
        "renameat",
        "renameat2",
        "unlink",
        "unlinkat",
        "rmdir",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "truncate",
        "chmod",
        "fchmodat",
        "mknod",
        "mknodat",
    ];
    let mut out = Vec::new();
    for line in trace.lines() {
        let Some((_, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(open) = rest.find('(') else { continue };
        let (name, args) = (&rest[..open], &rest[open..]);
        let writes = MODIFYING.contains(&name)
            || (matches!(name, "open" | "openat" | "openat2")
                && ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                    .iter()
                    .any(|flag| args.contains(flag)));
        if !writes {
            continue;
        }
        // The quoted arguments: `"path"`.
        let mut parts = args.split('"');
        parts.next();
        while let (Some(path), _) = (parts.next(), parts.next()) {
            out.push(path.to_owned());
        }
    }
    out
}

/// What the unit's `SystemCallFilter=` lines let through: the union of the
/// allow lists minus every `~` deny list, with `@groups` expanded by
/// `systemd-analyze syscall-filter` (so by this systemd's definitions).
fn allowed_syscalls(settings: &[(String, String, String)]) -> std::collections::BTreeSet<String> {
    let analyze = tools::system_tool("systemd-analyze", "systemd");
    let expand = |entry: &str| -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut todo = vec![entry.to_owned()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(item) = todo.pop() {
            if !item.starts_with('@') {
                out.insert(item);
                continue;
            }
            if !seen.insert(item.clone()) {
                continue;
            }
            let listing = tools::run(&analyze, ["syscall-filter", item.as_str()]);
            tools::assert_success(&listing, "systemd-analyze syscall-filter");
            for line in String::from_utf8_lossy(&listing.stdout).lines() {
                let word = line.trim();
                if !word.is_empty() && !word.starts_with('#') && word != item {
                    todo.push(word.to_owned());
                }
            }
        }
        out
    };
    let mut allowed = std::collections::BTreeSet::new();
    let mut denied = std::collections::BTreeSet::new();
    for (_, _, value) in settings
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == "SystemCallFilter")
    {
        match value.strip_prefix('~') {
            Some(deny) => deny
                .split_whitespace()
                .for_each(|e| denied.extend(expand(e))),
            None => value
                .split_whitespace()
                .for_each(|e| allowed.extend(expand(e))),
        }
    }
    assert!(
        allowed.len() > 100,
        "the allow list looks wrong: {allowed:?}"
    );
    allowed.retain(|call| !denied.contains(call));
    allowed
}
