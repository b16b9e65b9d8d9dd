//! Components in OCI registries, end to end: a real registry (Debian's
//! `docker-registry`, the CNCF distribution registry) on a loopback port
//! with its storage in a temp dir, real `wharf push` / `wharf deploy` CLI
//! processes, and real `wharf up` hosts answering real HTTP requests.
//!
//! The registry's access log (its stdout) tells which blobs were
//! downloaded, so a cache hit is seen from the registry's side too; its
//! storage directory lets a test damage a blob the way a broken or hostile
//! registry would.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use wharf_test_artifacts as art;

use crate::common::{ChildHost, assert_ok, client, run_wharf_env};

use crate::common::ADMIN_TOKEN as TOKEN;
const V1_BODY: &str = "hello from http_hello\n";
const V2_BODY: &str = "Hello from Wharf!\n";

/// A running `docker-registry` on a free loopback port; killed on drop.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, as written in references.
    addr: String,
    /// Its storage root (`storage.filesystem.rootdirectory`).
    root: PathBuf,
    /// Everything it printed (access log included).
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

/// A user the authenticated registry knows: `REGISTRY_USER` with the
/// password `REGISTRY_PASSWORD`, whose bcrypt hash (cost 5, made with
/// libxcrypt's `crypt(3)`) is `REGISTRY_HTPASSWD`.
const REGISTRY_USER: &str = "wharf";
const REGISTRY_PASSWORD: &str = "s3cret-pass";
const REGISTRY_HTPASSWD: &str = "$2b$05$abcdefghijklmnopqrstuuV7fpPozvyqJfnY19y0802WTlXUm6Rjy";

impl Registry {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// A registry that wants `REGISTRY_USER`'s credentials (HTTP Basic,
    /// from an htpasswd file) for every request.
    fn start_with_auth() -> Self {
        Self::start_with(true)
    }

    fn start_with(auth: bool) -> Self {
        let binary = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "`docker-registry` is not installed, and the OCI tests need a real registry: \
                     run scripts/test.sh (which installs it) or `apt-get install -y docker-registry`"
                )
            });
        let mut last_error = String::new();
        // The port is free when we look but could be taken before the
        // registry binds it; try a few times.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("storage");
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = dir.path().join("config.yml");
            let auth_section = if auth {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{REGISTRY_USER}:{REGISTRY_HTPASSWD}\n"))
                    .unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                    htpasswd.display()
                )
            } else {
                String::new()
            };
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: info\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n{auth_section}",
                    root.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let log = Arc::new(Mutex::new(String::new()));
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            capture(stdout, log.clone());
            capture(stderr, log.clone());
            let mut registry = Registry {
                child,
                addr: format!("127.0.0.1:{port}"),
                root,
                log,
                _dir: dir,
            };
            match registry.wait_until_ready(port) {
                Ok(()) => return registry,
                Err(e) => last_error = format!("{e}\n{}", registry.log()),
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    /// Waits for `GET /v2/` to answer (the registry's API version check:
    /// 200, or 401 when it wants credentials).
    fn wait_until_ready(&mut self, port: u16) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200))
            {
                use std::io::Write as _;
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let request =
                    format!("GET /v2/ HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && (answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 401"))
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("GET /v2/ on {address} did not answer within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `oci://<registry>/<repo>:<tag>`.
    fn url(&self, repo_and_tag: &str) -> String {
        format!("oci://{}/{repo_and_tag}", self.addr)
    }

    /// How many times the blob `digest` was downloaded (GET, not HEAD).
    fn blob_downloads(&self, digest: &str) -> usize {
        let needle = format!("\"GET /v2/wharf/hello/blobs/{digest} ");
        self.log().matches(&needle).count()
    }

    /// The file holding the blob `digest` in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `GET /v2/<path>` on the registry: (status, headers, body).
    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = client()
            .get(format!("http://{}/v2/{path}", self.addr))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/json",
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capture(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap();
            if log.len() < 16 << 20 {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
}

fn sha256_of_file(path: &str) -> String {
    format!(
        "sha256:{:x}",
        sha2::Sha256::digest(std::fs::read(path).unwrap())
    )
}

/// A host serving `http_hello` (v1) as the service `web` on every path.
fn start_host(dir: &Path) -> ChildHost {
    std::fs::write(
        dir.join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    ChildHost::start(dir, &[])
}

/// `wharf <args>` with the test's component cache.
fn wharf(cache: &Path, args: &[&str]) -> (i32, String, String) {
    run_wharf_env(
        args,
        &[
            ("WHARF_ADMIN_TOKEN", TOKEN),
            ("WHARF_CACHE_DIR", cache.to_str().unwrap()),
        ],
    )
}

/// `wharf deploy web <component> --admin <host>`.
fn deploy(
    host: &ChildHost,
    cache: &Path,
    component: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let admin = format!("http://{}", host.admin);
    let mut args = vec!["deploy", "web", component, "--admin", &admin];
    args.extend_from_slice(extra);
    wharf(cache, &args)
}

fn push(registry: &Registry, cache: &Path, component: &str, tag: &str) -> String {
    let target = format!("{}/wharf/hello:{tag}", registry.addr);
    let (code, out, err) = wharf(cache, &["push", component, &target]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    out.trim().to_owned()
}

async fn body(host: &ChildHost) -> (u16, String) {
    let r = client().get(host.url("/")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_deploy_from_the_registry_serves_the_new_version() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let host = start_host(dir.path());
    assert_eq!(body(&host).await, (200, V1_BODY.to_owned()));

    let printed = push(&registry, &cache, art::EXAMPLE_HELLO_COMPONENT, "v2");

    // The registry holds the Wasm OCI layout, under the printed digest.
    let (status, headers, manifest) = registry.get("wharf/hello/manifests/v2").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&manifest));
    let manifest_digest = format!("sha256:{:x}", sha2::Sha256::digest(&manifest));
    assert_eq!(printed, manifest_digest);
    assert_eq!(headers["docker-content-digest"], manifest_digest.as_str());
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let component_digest = sha256_of_file(art::EXAMPLE_HELLO_COMPONENT);
    assert_eq!(layers[0]["digest"], component_digest.as_str());
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let (status, _, config) = registry
        .get(&format!("wharf/hello/blobs/{config_digest}"))
        .await;
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], component_digest.as_str());
    assert!(
        config["component"]["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e
                .as_str()
                .unwrap()
                .starts_with("wasi:http/incoming-handler@")),
        "{config}"
    );

    // Deploy by tag: the host gets exactly the pushed bytes and serves them.
    let out = deploy(
        &host,
        &cache,
        &registry.url("wharf/hello:v2"),
        &["--version", "v2"],
    );
    assert_ok(&out);
    assert!(out.1.contains("Deployed web v2"), "{}", out.1);
    assert!(out.2.contains(&component_digest), "{}", out.2);
    assert_eq!(body(&host).await, (200, V2_BODY.to_owned()));

    // And back to v1 by digest: push v1, deploy it pinned to its manifest.
    let v1_manifest = push(&registry, &cache, art::HTTP_HELLO_COMPONENT, "v1");
    let pinned = registry.url(&format!("wharf/hello@{v1_manifest}"));
    let out = deploy(&host, &cache, &pinned, &["--version", "v1-again"]);
    assert_ok(&out);
    assert_eq!(body(&host).await, (200, V1_BODY.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_component_from_a_registry_serves() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    push(
        &registry,
        &dir.path().join("push-cache"),
        art::EXAMPLE_HELLO_COMPONENT,
        "v2",
    );
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v2\"\n",
            registry.url("wharf/hello:v2")
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let host = ChildHost::start(&app, &["--state-dir", state.to_str().unwrap()]);
    assert_eq!(body(&host).await, (200, V2_BODY.to_owned()));

    // Pulled into the state directory's content-addressed cache.
    let digest = sha256_of_file(art::EXAMPLE_HELLO_COMPONENT);
    let cached = state
        .join("oci-cache/components/sha256")
        .join(format!("{}.wasm", digest.strip_prefix("sha256:").unwrap()));
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(art::EXAMPLE_HELLO_COMPONENT).unwrap()
    );
    assert_eq!(registry.blob_downloads(&digest), 1, "{}", registry.log());

    // A restart asks the registry what the tag names, and finds the bytes
    // in the cache.
    drop(host);
    let host = ChildHost::start(&app, &["--state-dir", state.to_str().unwrap()]);
    assert_eq!(body(&host).await, (200, V2_BODY.to_owned()));
    assert_eq!(registry.blob_downloads(&digest), 1, "{}", registry.log());
    assert!(
        host.stderr().contains("from the cache"),
        "{}",
        host.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_a_tag_again_hits_the_cache() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let host = start_host(dir.path());
    push(&registry, &cache, art::EXAMPLE_HELLO_COMPONENT, "v2");
    let digest = sha256_of_file(art::EXAMPLE_HELLO_COMPONENT);
    let reference = registry.url("wharf/hello:v2");

    let first = deploy(&host, &cache, &reference, &["--version", "v2"]);
    assert_ok(&first);
    assert!(first.2.contains("downloaded"), "{}", first.2);
    assert_eq!(registry.blob_downloads(&digest), 1, "{}", registry.log());

    // Back to v1 from the file, then the same tag again: the manifest is
    // asked for again (tags move), the component is not downloaded again.
    assert_ok(&deploy(
        &host,
        &cache,
        art::HTTP_HELLO_COMPONENT,
        &["--version", "v1"],
    ));
    let second = deploy(&host, &cache, &reference, &["--version", "v2-again"]);
    assert_ok(&second);
    assert!(second.2.contains("from the cache"), "{}", second.2);
    assert_eq!(registry.blob_downloads(&digest), 1, "{}", registry.log());
    assert_eq!(
        registry
            .log()
            .matches("\"GET /v2/wharf/hello/manifests/v2 ")
            .count(),
        2,
        "{}",
        registry.log()
    );
    assert_eq!(body(&host).await, (200, V2_BODY.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_mismatch_is_refused_and_the_old_version_keeps_serving() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let host = start_host(dir.path());
    push(&registry, &cache, art::EXAMPLE_HELLO_COMPONENT, "v2");
    let digest = sha256_of_file(art::EXAMPLE_HELLO_COMPONENT);

    // Damage the component in the registry's storage (same length, one
    // byte changed), as a broken or hostile registry would serve it.
    let blob = registry.blob_file(&digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let (code, out, err) = deploy(&host, &cache, &registry.url("wharf/hello:v2"), &[]);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&digest), "{err}");
    assert!(err.contains("nothing was cached"), "{err}");
    assert!(err.contains("the active version keeps serving"), "{err}");
    // Nothing cached, nothing deployed.
    let cached = std::fs::read_dir(cache.join("components/sha256"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(cached, 0);
    assert_eq!(body(&host).await, (200, V1_BODY.to_owned()));

    // A manifest digest the registry does not have is refused as well.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let (code, _, err) = deploy(
        &host,
        &cache,
        &registry.url(&format!("wharf/hello@{wrong}")),
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("was not found in the registry"), "{err}");
    assert!(err.contains(&wrong), "{err}");
    assert_eq!(body(&host).await, (200, V1_BODY.to_owned()));

    // The same damaged registry behind `component = "oci://…"`: `wharf up`
    // refuses to start rather than run the wrong bytes.
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\n",
            registry.url("wharf/hello:v2")
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let (code, _, err) = wharf(
        &cache,
        &[
            "up",
            app.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("service `web`: cannot pull its component"),
        "{err}"
    );
    assert!(err.contains("digest mismatch"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_what_is_not_a_component_is_refused() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "not wasm at all\n").unwrap();
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let target = format!("{}/wharf/hello:v1", registry.addr);

    let (code, _, err) = wharf(&cache, &["push", text.to_str().unwrap(), &target]);
    assert_ne!(code, 0);
    assert!(err.contains("not a WebAssembly file"), "{err}");
    let (code, _, err) = wharf(&cache, &["push", module.to_str().unwrap(), &target]);
    assert_ne!(code, 0);
    assert!(
        err.contains("a core WebAssembly module, not a component"),
        "{err}"
    );

    // Refused before anything was sent.
    let (status, _, catalog) = registry.get("_catalog").await;
    assert_eq!(status, 200);
    let catalog: serde_json::Value = serde_json::from_slice(&catalog).unwrap();
    assert_eq!(catalog["repositories"], serde_json::json!([]));
    assert!(!registry.log().contains("/v2/wharf/"), "{}", registry.log());

    // A reference without a registry or a tag is refused too.
    let (code, _, err) = wharf(
        &cache,
        &["push", art::HTTP_HELLO_COMPONENT, "wharf/hello:v1"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("is not a registry"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tag_gives_a_clear_error() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let host = start_host(dir.path());
    push(&registry, &cache, art::EXAMPLE_HELLO_COMPONENT, "v2");

    for reference in [
        registry.url("wharf/hello:nope"),
        registry.url("wharf/nothing-here:v2"),
    ] {
        let (code, out, err) = deploy(&host, &cache, &reference, &[]);
        assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains(&reference), "{err}");
        assert!(err.contains("was not found in the registry"), "{err}");
        assert!(err.contains("the active version keeps serving"), "{err}");
    }
    assert_eq!(body(&host).await, (200, V1_BODY.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_environment_reach_a_registry_that_wants_them() {
    let registry = Registry::start_with_auth();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let host = start_host(dir.path());
    let target = format!("{}/wharf/hello:v2", registry.addr);
    let credentials = [
        ("WHARF_REGISTRY_USER", REGISTRY_USER),
        ("WHARF_REGISTRY_PASSWORD", REGISTRY_PASSWORD),
        ("WHARF_ADMIN_TOKEN", TOKEN),
        ("WHARF_CACHE_DIR", cache.to_str().unwrap()),
    ];

    // Anonymous: refused, with the variables to set.
    let (code, _, err) = wharf(&cache, &["push", art::EXAMPLE_HELLO_COMPONENT, &target]);
    assert_ne!(code, 0);
    assert!(err.contains("WHARF_REGISTRY_USER"), "{err}");
    // A wrong password: refused too.
    let (code, _, _) = run_wharf_env(
        &["push", art::EXAMPLE_HELLO_COMPONENT, &target],
        &[
            ("WHARF_REGISTRY_USER", REGISTRY_USER),
            ("WHARF_REGISTRY_PASSWORD", "wrong"),
        ],
    );
    assert_ne!(code, 0);

    // With the credentials: pushed, and deployed from the registry.
    let out = run_wharf_env(
        &["push", art::EXAMPLE_HELLO_COMPONENT, &target],
        &credentials,
    );
    assert_ok(&out);
    let admin = format!("http://{}", host.admin);
    let reference = registry.url("wharf/hello:v2");
    let (code, _, err) = wharf(&cache, &["deploy", "web", &reference, "--admin", &admin]);
    assert_ne!(code, 0, "an anonymous pull must be refused");
    assert!(err.contains("WHARF_REGISTRY_USER"), "{err}");
    let out = run_wharf_env(
        &["deploy", "web", &reference, "--admin", &admin],
        &credentials,
    );
    assert_ok(&out);
    assert_eq!(body(&host).await, (200, V2_BODY.to_owned()));
}
