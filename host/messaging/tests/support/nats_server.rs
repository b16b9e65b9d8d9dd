//! A real `nats-server` process on a free loopback port, for tests and the
//! throughput example; killed when the guard is dropped.
//!
//! Shared by `tests/nats.rs` and `examples/throughput.rs` through `#[path]`.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`; killed on drop.
pub struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    /// The JetStream store directory, when started with JetStream.
    store: Option<tempfile::TempDir>,
    /// Extra command-line arguments (authentication, TLS).
    args: Vec<String>,
}

impl NatsServer {
    /// Starts a plain (core NATS) server.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a server with JetStream enabled (`-js`), its store in a
    /// temporary directory (`-sd`) removed on drop.
    pub fn start_with_jetstream() -> Self {
        Self::start_with(true)
    }

    /// Starts a server with extra command-line arguments, such as
    /// `--user u --pass p` or `--tls --tlscert …`.
    pub fn start_with_args(jetstream: bool, args: &[&str]) -> Self {
        Self::start_full(jetstream, args.iter().map(|a| (*a).to_owned()).collect())
    }

    fn start_with(jetstream: bool) -> Self {
        Self::start_full(jetstream, Vec::new())
    }

    fn start_full(jetstream: bool, args: Vec<String>) -> Self {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "`nats-server` is not installed, and the NATS tests need a real server: \
                 run scripts/test.sh (which installs it), or `apt-get install -y nats-server`, \
                 or set NATS_SERVER_BIN to its path"
            )
        });
        let mut last_error = String::new();
        // The port is free when we look but could be taken before the server
        // binds it; try a few times.
        for _ in 0..5 {
            let port = free_port();
            let store = jetstream.then(|| {
                tempfile::tempdir().unwrap_or_else(|e| panic!("creating a JetStream dir: {e}"))
            });
            let child = spawn(&binary, port, store.as_ref().map(|d| d.path()), &args);
            let mut server = NatsServer {
                child,
                url: format!("nats://127.0.0.1:{port}"),
                store,
                args: args.clone(),
            };
            match server.wait_until_accepting(port) {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("nats-server did not start: {last_error}");
    }

    fn wait_until_accepting(&mut self, port: u16) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nothing accepted connections on {address} within 10 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and starts it again on the same port (and the same
    /// JetStream store directory), as after a crash.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.url));
        let binary = find_binary().unwrap_or_else(|| panic!("`nats-server` is gone"));
        self.child = spawn(
            &binary,
            port,
            self.store.as_ref().map(|d| d.path()),
            &self.args,
        );
        if let Err(e) = self.wait_until_accepting(port) {
            panic!("nats-server did not restart: {e}");
        }
    }

    /// The JetStream store directory, if JetStream is on.
    pub fn store_dir(&self) -> Option<&std::path::Path> {
        self.store.as_ref().map(|d| d.path())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on `127.0.0.1:port`, with JetStream in `store` if given.
fn spawn(
    binary: &std::path::Path,
    port: u16,
    store: Option<&std::path::Path>,
    args: &[String],
) -> Child {
    let mut command = Command::new(binary);
    command
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = store {
        command.arg("-js").arg("-sd").arg(dir);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
}

/// `NATS_SERVER_BIN`, else `nats-server` on PATH or in the sbin/bin
/// directories Debian's package uses (sbin is not on every user's PATH).
fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
                .into_iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("binding 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}
