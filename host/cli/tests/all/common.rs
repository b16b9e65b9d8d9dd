//! Harness: start a host in-process or as a child process on an ephemeral
//! loopback port.
//!
//! `reqwest` is built without a bundled rustls crypto provider (see
//! `wharf_oci::install_crypto_provider`): [`client`] and the host starters
//! install ring, so tests may build clients of their own after either.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf_core::limits::InstanceLimits;
use wharf_core::{Runtime, RuntimeConfig};
use wharf_http::ServeOptions;
use wharf_manifest::Manifest;
use wharf_metrics::Metrics;
use wharf_telemetry::Telemetry;

/// The admin token every [`ChildHost`] is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A manifest written to a temporary folder.
pub struct TestApp {
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wharf.toml"), manifest).unwrap();
        Self { dir }
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("wharf.toml")
    }
}

/// TOML for one service serving `component` at `routes`.
pub fn service(name: &str, component: &str, routes: &[&str]) -> String {
    let routes: Vec<String> = routes.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "[service.{name}]\ncomponent = {component:?}\nroutes = [{}]\nversion = \"1.0.0\"\n\n",
        routes.join(", ")
    )
}

/// A host running in this process.
pub struct InProcessHost {
    pub addr: SocketAddr,
    /// The host's metrics registry (what its admin `/metrics` would serve).
    pub metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: instances must be gone before the engine is.
    _runtime: Arc<Runtime>,
}

impl InProcessHost {
    pub async fn start(manifest: &str) -> (Self, TestApp) {
        let app = TestApp::new(manifest);
        let host = Self::start_manifest(Manifest::load(&app.manifest_path()).unwrap()).await;
        (host, app)
    }

    pub async fn start_manifest(manifest: Manifest) -> Self {
        Self::start_with(manifest, ServeOptions::default()).await
    }

    pub async fn start_with(manifest: Manifest, options: ServeOptions) -> Self {
        Self::start_full(manifest, options, Telemetry::disabled()).await
    }

    pub async fn start_full(
        manifest: Manifest,
        options: ServeOptions,
        telemetry: Telemetry,
    ) -> Self {
        Self::start_with_pool(manifest, options, telemetry, 300).await
    }

    /// Like [`start_full`](Self::start_full) with a pool of `max_instances`.
    pub async fn start_with_pool(
        manifest: Manifest,
        options: ServeOptions,
        telemetry: Telemetry,
        max_instances: u32,
    ) -> Self {
        // Tests build their own reqwest clients once a host runs.
        wharf_oci::install_crypto_provider();
        let metrics = Arc::new(Metrics::new().unwrap());
        let runtime = Arc::new(
            Runtime::new(
                RuntimeConfig {
                    // Small pools: several tests run at once, each with its own
                    // engine, and each pool reserves address space up front.
                    limits: InstanceLimits {
                        max_instances,
                        ..InstanceLimits::default()
                    },
                    ..RuntimeConfig::default()
                },
                metrics.clone(),
            )
            .unwrap(),
        );
        let loaded = wharf::app::load(&runtime, manifest, telemetry).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(wharf_http::serve(listener, loaded.http, options, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            metrics,
            shutdown: Some(tx),
            task: Some(task),
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts graceful shutdown and returns the server task.
    pub fn begin_shutdown(&mut self) -> JoinHandle<anyhow::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap()
    }
}

impl Drop for InProcessHost {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The `wharf` binary running as a child process.
pub struct ChildHost {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    stderr: Arc<std::sync::Mutex<String>>,
    _state: Option<tempfile::TempDir>,
}

pub fn wharf_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wharf")
}

impl ChildHost {
    /// Runs `wharf up <path> --listen 127.0.0.1:0` and waits for its banner.
    pub fn start(path: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(path, extra, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables for
    /// the host process.
    pub fn start_with_env(path: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        // Tests build their own reqwest clients once a host runs.
        wharf_oci::install_crypto_provider();
        // Each host gets its own state directory unless the test shares
        // one on purpose: hosts started from the same example must not
        // share a deployment record. A test that sets `XDG_STATE_HOME`
        // tests the default location (under it) instead.
        let default_state = envs.iter().any(|(name, _)| *name == "XDG_STATE_HOME");
        let state = (!extra.contains(&"--state-dir") && !default_state)
            .then(|| tempfile::tempdir().unwrap());
        let state_args: Vec<&std::ffi::OsStr> = match &state {
            Some(dir) => vec!["--state-dir".as_ref(), dir.path().as_os_str()],
            None => Vec::new(),
        };
        let mut child = Command::new(wharf_bin())
            .arg("up")
            .arg(path)
            .args(["--listen", "127.0.0.1:0"])
            .args(if extra.contains(&"--admin") {
                &[][..]
            } else {
                &["--admin", "127.0.0.1:0"][..]
            })
            .args(extra)
            .args(state_args)
            .env("RUST_LOG", "info")
            // A fixed token keeps concurrent hosts from racing to create one
            // in a shared state directory; tests that need another pass it.
            .env("WHARF_ADMIN_TOKEN", ADMIN_TOKEN)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        {
            let stderr_pipe = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                    let mut s = stderr.lock().unwrap();
                    // Keep the captured log bounded.
                    if s.len() < 16 << 20 {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut admin = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Admin API on http://") {
                    admin = url.trim_end_matches('/').parse::<SocketAddr>().ok();
                }
                if let Some(rest) = line.strip_prefix("Serving ")
                    && let Some((_, url)) = rest.split_once(" on http://")
                    && let Some(t) = tx.take()
                {
                    let addr: SocketAddr = url.trim_end_matches('/').parse().unwrap();
                    let _ = t.send((addr, admin.unwrap()));
                }
            }
        });
        let (addr, admin) = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addrs) => addrs,
            Err(_) => {
                let _ = child.kill();
                let output = stderr.lock().unwrap().clone();
                panic!("wharf did not start serving; stderr:\n{output}");
            }
        };
        Self {
            child,
            addr,
            admin,
            stderr,
            _state: state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// CPU time (user + system) the host process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line, in clock ticks.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        let hz = 100; // USER_HZ on Linux
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// Peak resident set size of the host process so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        read_status_kib(self.pid(), "VmHWM:") * 1024
    }
}

impl Drop for ChildHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs `wharf <args>` to completion; returns (exit code, stdout, stderr).
pub fn run_wharf(args: &[&str]) -> (i32, String, String) {
    run_wharf_env(args, &[])
}

/// Like [`run_wharf`], with extra environment variables.
pub fn run_wharf_env(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(wharf_bin())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn client() -> reqwest::Client {
    // reqwest has no bundled crypto provider (see wharf_oci).
    wharf_oci::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// One request a [`Recorder`] received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// A loopback HTTP/1 server that records every request it receives and
/// answers each with a fixed body: the far end of outbound calls and the
/// fake OTLP collector.
pub struct Recorder {
    pub origin: String,
    requests: Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start(answer: &'static str) -> Self {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<std::sync::Mutex<Vec<Recorded>>> = Arc::default();
        let record = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let record = record.clone();
                            async move {
                                let path = req.uri().path().to_string();
                                let headers = req.headers().clone();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                record.lock().unwrap().push(Recorded {
                                    path,
                                    headers,
                                    body,
                                });
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                    http_body_util::Full::new(bytes::Bytes::from_static(
                                        answer.as_bytes(),
                                    )),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { origin, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// GETs `url` and reads the whole body; returns status and body.
pub async fn fetch(client: &reqwest::Client, url: &str) -> (u16, bytes::Bytes) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap())
}

/// Whether the component at `path` names `interface` anywhere (imports and
/// exports are listed by name in the component's binary).
pub fn mentions(path: &str, interface: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .windows(interface.len())
        .any(|w| w == interface.as_bytes())
}

/// Asserts that a [`run_wharf`] result exited 0, showing its output if not.
#[track_caller]
pub fn assert_ok((code, out, err): &(i32, String, String)) {
    assert_eq!(*code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

/// `wharf <args> --admin <host's admin address>` with the host's token.
pub fn wharf_admin(host: &ChildHost, args: &[&str]) -> (i32, String, String) {
    let admin = format!("http://{}", host.admin);
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--admin", &admin]);
    run_wharf_env(&all, &[("WHARF_ADMIN_TOKEN", ADMIN_TOKEN)])
}

/// Waits until `check` holds (or fails after `secs`).
pub async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the first `/metrics` line of `host` that starts with
/// `needle` (a metric name with its labels), or 0 when there is none yet.
pub async fn metric(host: &ChildHost, needle: &str) -> f64 {
    let text = client()
        .get(host.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
