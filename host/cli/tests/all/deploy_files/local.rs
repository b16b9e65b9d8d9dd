//! Running what a deploy file describes on this machine, on loopback: its
//! listen addresses moved to free `127.0.0.1` ports, the paths it mounts or
//! configures moved into temporary folders, and its service names replaced
//! by local addresses. What the file says (flags, paths, ports, probes) is
//! otherwise used as written, so a wrong flag or port fails here.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the words of a command line are moved onto this machine.
#[derive(Default)]
pub struct Rewrite {
    /// Port in the file → free loopback port here.
    ports: BTreeMap<u16, u16>,
    /// Path prefix in the file → folder here.
    paths: Vec<(String, PathBuf)>,
    /// Whole words replaced as they are (e.g. `nats://nats:4222`).
    words: BTreeMap<String, String>,
}

impl Rewrite {
    /// The local port standing for `port` (allocated on first use).
    pub fn port(&mut self, port: u16) -> u16 {
        *self.ports.entry(port).or_insert_with(free_port)
    }

    /// Paths at or below `from` go below `to` instead.
    pub fn path(&mut self, from: &str, to: &Path) {
        self.paths
            .push((from.trim_end_matches('/').to_owned(), to.to_owned()));
    }

    /// The word `from` becomes `to`.
    pub fn word(&mut self, from: &str, to: &str) {
        self.words.insert(from.to_owned(), to.to_owned());
    }

    /// One word of a command line, moved.
    pub fn arg(&mut self, arg: &str) -> String {
        if let Some(to) = self.words.get(arg) {
            return to.clone();
        }
        if let Ok(addr) = arg.parse::<SocketAddr>() {
            return format!("127.0.0.1:{}", self.port(addr.port()));
        }
        for (from, to) in &self.paths {
            if arg == from {
                return to.display().to_string();
            }
            if let Some(rest) = arg.strip_prefix(&format!("{from}/")) {
                return to.join(rest).display().to_string();
            }
        }
        arg.to_owned()
    }

    /// Every path of `text` at or below a mapped prefix, moved (for
    /// configuration files).
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (from, to) in &self.paths {
            out = out.replace(from.as_str(), &to.display().to_string());
        }
        out
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// A child process, its stdout and stderr in a log file; killed on drop.
pub struct Process {
    child: Child,
    log: PathBuf,
    what: String,
}

impl Process {
    /// Starts `program args…` with `envs`, logging to `log`.
    pub fn spawn(program: &Path, args: &[String], envs: &[(String, String)], log: PathBuf) -> Self {
        let out = File::create(&log).expect("creating a log file");
        let err = out.try_clone().expect("cloning the log file handle");
        let child = Command::new(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} {args:?}: {e}", program.display()));
        Self {
            child,
            log,
            what: format!("{} {}", program.display(), args.join(" ")),
        }
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails, with the log, if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("`{}` exited ({status}):\n{}", self.what, self.log());
        }
    }

    /// Waits (at most `timeout`) for it to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for a child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "`{}` did not exit within {timeout:?}:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET url` until it answers `status` (generous deadline: the first
/// compile of a component on a loaded machine); fails with the process log
/// otherwise.
pub async fn wait_for_status(process: &mut Process, url: &str, status: u16) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        process.assert_running();
        match client.get(url).send().await {
            Ok(response) if response.status().as_u16() == status => return,
            Ok(response) => last = format!("status {}", response.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "GET {url} did not answer {status} within 180 s (last: {last}); log:\n{}",
        process.log()
    );
}

/// `GET url` with an optional bearer token: status and body.
pub async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// `args` (starting with `up`) checked against `wharf up --help`: every
/// `--flag` must be one the binary has (a typo fails here, as it would make
/// the pod crash-loop).
pub fn wharf_up_args(args: &[String]) -> Vec<String> {
    assert_eq!(
        args.first().map(String::as_str),
        Some("up"),
        "not a `wharf up`: {args:?}"
    );
    let out = std::process::Command::new(crate::common::wharf_bin())
        .args(["up", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let known = |flag: &str| {
        help.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
            .any(|word| word == flag)
    };
    for word in args {
        let name = word.split('=').next().unwrap_or(word);
        assert!(
            !name.starts_with("--") || known(name),
            "`wharf up` has no {name} (from {args:?}); `wharf up --help`:\n{help}"
        );
    }
    args.to_vec()
}
