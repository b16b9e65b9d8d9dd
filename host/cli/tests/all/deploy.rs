//! Deployments end to end: a real `wharf up` process, `wharf deploy` /
//! `rollback` / `promote` / `rm` as real CLI processes against its admin
//! API, and real HTTP clients measuring what the public listener answers
//! while versions swap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{ChildHost, assert_ok, client, run_wharf_env, wharf_admin};

use crate::common::ADMIN_TOKEN as TOKEN;
const V1_BODY: &str = "hello from http_hello\n";
const V2_BODY: &str = "Hello from Wharf!\n";

/// A host serving `http_hello` as the service `web` (all paths), with its
/// state in `state`.
fn start_host(dir: &Path, state: &Path, extra: &[&str]) -> ChildHost {
    let manifest = dir.join("wharf.toml");
    if !manifest.exists() {
        std::fs::write(
            &manifest,
            format!(
                "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
                art::HTTP_HELLO_COMPONENT
            ),
        )
        .unwrap();
    }
    let mut args = vec!["--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    ChildHost::start(dir, &args)
}

/// Runs a `wharf` admin command against `host`.
fn deploy(host: &ChildHost, component: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["deploy", "web", component];
    args.extend_from_slice(extra);
    wharf_admin(host, &args)
}

async fn body(host: &ChildHost, path: &str) -> (u16, String) {
    let r = client().get(host.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn services(host: &ChildHost) -> serde_json::Value {
    client()
        .get(host.admin_url("/v1/services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Bounded load: `clients` loops of GET `/` until `stop` or `max` requests
/// in all. Returns per-body counts and every failure.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Result<String, String>>>>,
}

impl Load {
    fn start(host: &ChildHost, clients: usize, max: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let url = host.url("/");
                let stop = stop.clone();
                let sent = sent.clone();
                tokio::spawn(async move {
                    let client = client();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed)
                        && sent.fetch_add(1, Ordering::Relaxed) < max
                    {
                        let outcome = match client.get(&url).send().await {
                            Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
                            Ok(r) => Err(format!("status {}", r.status())),
                            Err(e) => Err(e.to_string()),
                        };
                        seen.push(outcome);
                    }
                    seen
                })
            })
            .collect();
        Self { stop, tasks }
    }

    async fn finish(self) -> Vec<Result<String, String>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap());
        }
        all
    }
}

fn count(results: &[Result<String, String>], body: &str) -> usize {
    results.iter().filter(|r| r.as_deref() == Ok(body)).count()
}

fn failures(results: &[Result<String, String>]) -> Vec<&String> {
    results
        .iter()
        .filter_map(|r| match r {
            Ok(b) if b == V1_BODY || b == V2_BODY => None,
            Ok(b) => Some(b),
            Err(e) => Some(e),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swap_under_load_has_no_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    assert_eq!(body(&host, "/").await, (200, V1_BODY.to_string()));

    let load = Load::start(&host, 8, 6_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let host_ref = &host;
    let out = tokio::task::block_in_place(|| {
        deploy(host_ref, art::EXAMPLE_HELLO_COMPONENT, &["--version", "v2"])
    });
    assert_ok(&out);
    assert!(out.1.contains("Deployed web v2"), "{}", out.1);
    // Traffic after the swap.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let results = load.finish().await;
    assert!(failures(&results).is_empty(), "{:?}", failures(&results));
    assert!(count(&results, V1_BODY) > 0, "no request saw v1");
    assert!(count(&results, V2_BODY) > 0, "no request saw v2");
    assert_eq!(
        count(&results, V1_BODY) + count(&results, V2_BODY),
        results.len()
    );
    // After the swap, only v2 answers.
    for _ in 0..20 {
        assert_eq!(body(&host, "/").await, (200, V2_BODY.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_swaps_under_load_have_no_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &["--drain-timeout", "5"]);
    let load = Load::start(&host, 8, 20_000);
    let host_ref = &host;
    let mut compiled = Vec::new();
    for i in 0..20 {
        let (component, label) = if i % 2 == 0 {
            (art::EXAMPLE_HELLO_COMPONENT, "v2")
        } else {
            (art::HTTP_HELLO_COMPONENT, "v1")
        };
        let out =
            tokio::task::block_in_place(|| deploy(host_ref, component, &["--version", label]));
        assert_ok(&out);
        compiled.push(out.1.clone());
    }
    let results = load.finish().await;
    assert!(failures(&results).is_empty(), "{:?}", failures(&results));
    assert!(results.len() > 500, "only {} requests ran", results.len());
    // After the first two deploys every version comes from the
    // compiled-code cache.
    for out in &compiled[2..] {
        assert!(out.contains("compiled code: hit"), "{out}");
    }
    assert_eq!(body(&host, "/").await, (200, V1_BODY.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_on_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"sleepy\"\n",
            art::HTTP_SLEEP_COMPONENT
        ),
    )
    .unwrap();
    let host = start_host(dir.path(), &state, &["--drain-timeout", "2"]);
    let slow = {
        let url = host.url("/sleep?ms=1200");
        tokio::spawn(async move {
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let cut = {
        let url = host.url("/sleep?ms=8000");
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let host_ref = &host;
    let out = tokio::task::block_in_place(|| {
        deploy(host_ref, art::HTTP_HELLO_COMPONENT, &["--version", "v1"])
    });
    assert_ok(&out);
    assert_eq!(body(&host, "/").await, (200, V1_BODY.to_string()));
    // Started on the old version, finished on it.
    assert_eq!(slow.await.unwrap(), (200, "slept 1200\n".to_string()));
    // Outlived the drain timeout: cut off, well before its 8 s.
    let (status, took) = cut.await.unwrap();
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deploys_are_refused_and_the_old_version_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();

    let (code, _, err) = deploy(&host, garbage.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a WebAssembly file"), "{err}");
    assert!(err.contains("the active version keeps serving"), "{err}");

    let (code, _, err) = deploy(&host, art::CLI_COMMAND_COMPONENT, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not export `wasi:http/incoming-handler"),
        "{err}"
    );

    let (code, _, err) = deploy(&host, art::HTTP_UNKNOWN_IMPORT_COMPONENT, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("which this host does not provide"), "{err}");

    assert_eq!(body(&host, "/").await, (200, V1_BODY.to_string()));
    let listed = services(&host).await;
    assert_eq!(listed[0]["version"], "v1");
    assert!(listed[0]["history"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_returns_to_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    assert_ok(&deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &["--version", "v2"],
    ));
    assert_eq!(body(&host, "/").await.1, V2_BODY);

    let out = wharf_admin(&host, &["rollback", "web"]);
    assert_ok(&out);
    assert!(out.1.contains("serving v1"), "{}", out.1);
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    // Nothing earlier than v1.
    let (code, _, err) = wharf_admin(&host, &["rollback", "web"]);
    assert_eq!(code, 1);
    assert!(err.contains("no earlier version"), "{err}");
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    let (code, _, err) = wharf_admin(&host, &["rollback", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no service `nope`"), "{err}");

    // `wharf ps` shows the table.
    let (code, out, _) = wharf_admin(&host, &["ps"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("SERVICE") && out.contains("web") && out.contains("v1"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ten_percent_canary_gets_about_ten_percent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    let out = deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &["--version", "v2", "--canary", "10"],
    );
    assert_ok(&out);
    assert!(out.1.contains("canary at 10%"), "{}", out.1);
    let listed = services(&host).await;
    assert_eq!(listed[0]["canary"]["version"], "v2");
    assert_eq!(listed[0]["canary"]["weight"], 10);

    let load = Load::start(&host, 8, 2_000);
    let results = load.finish_after_all().await;
    assert_eq!(results.len(), 2_000);
    assert!(failures(&results).is_empty(), "{:?}", failures(&results));
    let canary = count(&results, V2_BODY);
    // Binomial(2000, 0.1): mean 200, sd ≈ 13.4; ±6 sd.
    assert!(
        (120..=280).contains(&canary),
        "canary served {canary} of 2000"
    );

    // Metrics carry the version label.
    let metrics = client()
        .get(host.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("service=\"web\",version=\"v2\""),
        "no v2 series"
    );

    let (code, out, _) = wharf_admin(&host, &["ps"]);
    assert_eq!(code, 0);
    assert!(out.contains("v2 10%"), "{out}");

    assert_ok(&wharf_admin(&host, &["promote", "web"]));
    for _ in 0..10 {
        assert_eq!(body(&host, "/").await.1, V2_BODY);
    }
}

impl Load {
    /// Waits for every request of the budget to run.
    async fn finish_after_all(self) -> Vec<Result<String, String>> {
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap());
        }
        all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_canary_is_rolled_back_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    let out = deploy(
        &host,
        art::HTTP_TRAP_COMPONENT,
        &[
            "--version",
            "broken",
            "--canary",
            "50",
            "--auto-rollback",
            "--rollback-window",
            "1",
            "--min-requests",
            "5",
        ],
    );
    assert_ok(&out);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rolled_back = false;
    while Instant::now() < deadline {
        // The canary (http_trap) panics on this path; stable answers it.
        let _ = body(&host, "/panic").await;
        let listed = services(&host).await;
        if listed[0]["canary"].is_null() {
            let event = listed[0]["last_event"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                event.contains("rolled back") && event.contains("error rate"),
                "{event}"
            );
            rolled_back = true;
            break;
        }
    }
    assert!(rolled_back, "the canary was not rolled back");
    // The log line may reach the captured stderr a moment after the record
    // changed (the host logs after committing; a thread copies its output).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.stderr().contains("canary rolled back automatically") {
        assert!(
            Instant::now() < deadline,
            "no rollback log line in:\n{}",
            host.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        assert_eq!(body(&host, "/").await, (200, V1_BODY.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_grants_need_allow_new_grants_and_show_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    let wider = dir.path().join("wider.toml");
    std::fs::write(
        &wider,
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\noutbound = [\"https://api.example.com\"]\n",
            art::EXAMPLE_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let manifest = wider.to_str().unwrap();
    let (code, _, err) = deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &["--version", "v2", "--manifest", manifest],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--allow-new-grants"), "{err}");
    assert!(
        err.contains("+ outbound https://api.example.com:443"),
        "{err}"
    );
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    let out = deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &[
            "--version",
            "v2",
            "--manifest",
            manifest,
            "--allow-new-grants",
        ],
    );
    assert_ok(&out);
    assert!(
        out.1.contains("+ outbound https://api.example.com:443"),
        "{}",
        out.1
    );
    assert_eq!(body(&host, "/").await.1, V2_BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_committed_deployment_survives_restarts_and_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    assert_ok(&deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &["--version", "v2"],
    ));
    assert_ok(&wharf_admin(
        &host,
        &["deploy", "api", art::EXAMPLE_JSON_API_COMPONENT],
    ));
    drop(host); // SIGKILL

    let host = start_host(dir.path(), &state, &[]);
    assert_eq!(body(&host, "/").await.1, V2_BODY);
    let (status, text) = body(&host, "/api/health").await;
    assert_eq!(
        status, 200,
        "the deployed service `api` did not come back: {text}"
    );
    // Restored from the compiled-code cache, not recompiled.
    let metrics = client()
        .get(host.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wharf_component_cache_requests_total{result=\"hit\"}"),
        "{metrics}"
    );
    // The previous version comes back on rollback after a restart, too.
    assert_ok(&wharf_admin(&host, &["rollback", "web"]));
    assert_eq!(body(&host, "/").await.1, V1_BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_deploys_never_loses_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for (round, delay_ms) in [10u64, 60, 150, 300].into_iter().enumerate() {
        let host = start_host(dir.path(), &state, &[]);
        let before = services(&host).await;
        let label = format!("round{round}");
        let admin = format!("http://{}", host.admin);
        let component = if round % 2 == 0 {
            art::EXAMPLE_HELLO_COMPONENT
        } else {
            art::HTTP_HELLO_COMPONENT
        };
        let mut deploy = std::process::Command::new(crate::common::wharf_bin())
            .args([
                "deploy",
                "web",
                component,
                "--version",
                &label,
                "--admin",
                &admin,
            ])
            .env("WHARF_ADMIN_TOKEN", TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &host.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let _ = deploy.wait();
        drop(host);

        // The next start restores either the old or the new deployment,
        // whole, and serves it.
        let host = start_host(dir.path(), &state, &[]);
        let after = services(&host).await;
        let version = after[0]["version"].as_str().unwrap().to_string();
        let old = before[0]["version"].as_str().unwrap();
        assert!(
            version == old || version == label,
            "{version} is neither {old} nor {label}"
        );
        let (status, text) = body(&host, "/").await;
        assert_eq!(status, 200);
        assert!(text == V1_BODY || text == V2_BODY, "{text}");
        drop(host);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_takes_a_service_out_of_service() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    assert_ok(&wharf_admin(
        &host,
        &["deploy", "api", art::EXAMPLE_JSON_API_COMPONENT],
    ));
    assert_eq!(body(&host, "/api/health").await.0, 200);
    assert_ok(&wharf_admin(&host, &["rm", "api"]));
    // `/...` of `web` catches it now.
    assert_eq!(body(&host, "/api/health").await.1, V1_BODY);
    let (code, _, err) = wharf_admin(&host, &["rm", "api"]);
    assert_eq!(code, 1);
    assert!(err.contains("no service `api`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_refuses_missing_and_wrong_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    let c = client();
    let routes = [
        (reqwest::Method::GET, "/v1/services"),
        (reqwest::Method::POST, "/v1/services/web/rollback"),
        (reqwest::Method::POST, "/v1/services/web/deployments"),
        (reqwest::Method::DELETE, "/v1/services/web"),
        (
            reqwest::Method::PUT,
            "/v1/components/sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ];
    for (method, path) in routes {
        let none = c
            .request(method.clone(), host.admin_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), 401, "{method} {path} without a token");
        let wrong = c
            .request(method.clone(), host.admin_url(path))
            .bearer_auth("test-admin-tokeN")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
    }
    let (code, _, err) = run_wharf_env(
        &["ps", "--admin", &format!("http://{}", host.admin)],
        &[("WHARF_ADMIN_TOKEN", "wrong")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("refused the token"), "{err}");
    // The service still runs.
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    // An upload whose bytes do not match the digest in its URL is refused
    // and stores nothing.
    let bogus = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let r = c
        .put(host.admin_url(&format!("/v1/components/{bogus}")))
        .bearer_auth(TOKEN)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = c
        .head(host.admin_url(&format!("/v1/components/{bogus}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn admin_on_a_public_address_needs_a_chosen_token() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_wharf_env(
        &[
            "up",
            art::HTTP_HELLO_COMPONENT,
            "--admin",
            "0.0.0.0:0",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            dir.path().to_str().unwrap(),
        ],
        &[("WHARF_ADMIN_TOKEN", "")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("not a loopback address"), "{err}");
}

fn signed_copy(dir: &Path, component: &str, key: &Path) -> PathBuf {
    let copy = dir.join(Path::new(component).file_name().unwrap());
    std::fs::copy(component, &copy).unwrap();
    let (code, out, err) = run_wharf_env(
        &[
            "sign",
            copy.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_policy_refuses_unsigned_and_wrongly_signed_components() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let trusted = keys.join("trusted");
    let other = keys.join("other");
    for prefix in [&trusted, &other] {
        let (code, out, err) = run_wharf_env(&["keygen", prefix.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let public = keys.join("trusted.pub");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let v1 = signed_copy(&app, art::HTTP_HELLO_COMPONENT, &keys.join("trusted.key"));
    std::fs::write(
        app.join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
            v1
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let host = start_host(&app, &state, &["--trusted-key", public.to_str().unwrap()]);
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    // Unsigned.
    let unsigned = dir.path().join("unsigned.wasm");
    std::fs::copy(art::EXAMPLE_HELLO_COMPONENT, &unsigned).unwrap();
    let (code, _, err) = deploy(&host, unsigned.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is not signed") && err.contains("sha256:"),
        "{err}"
    );

    // Signed by a key the host does not trust.
    let other_dir = dir.path().join("other-signed");
    std::fs::create_dir(&other_dir).unwrap();
    let by_other = signed_copy(
        &other_dir,
        art::EXAMPLE_HELLO_COMPONENT,
        &keys.join("other.key"),
    );
    let (code, _, err) = deploy(&host, by_other.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("sha256:"), "{err}");

    // A trusted signature over other bytes.
    let forged = dir.path().join("forged.wasm");
    std::fs::copy(art::EXAMPLE_HELLO_COMPONENT, &forged).unwrap();
    std::fs::copy(
        format!("{}.sig", v1.display()),
        format!("{}.sig", forged.display()),
    )
    .unwrap();
    let (code, _, err) = deploy(&host, forged.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(body(&host, "/").await.1, V1_BODY);

    // Signed by the trusted key: accepted.
    let good_dir = dir.path().join("good");
    std::fs::create_dir(&good_dir).unwrap();
    let good = signed_copy(
        &good_dir,
        art::EXAMPLE_HELLO_COMPONENT,
        &keys.join("trusted.key"),
    );
    assert_ok(&deploy(&host, good.to_str().unwrap(), &["--version", "v2"]));
    assert_eq!(body(&host, "/").await.1, V2_BODY);
    drop(host);

    // `wharf up` refuses an unsigned component in the manifest.
    let unsigned_app = dir.path().join("unsigned-app");
    std::fs::create_dir(&unsigned_app).unwrap();
    std::fs::write(
        unsigned_app.join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\n",
            unsigned
        ),
    )
    .unwrap();
    let (code, _, err) = run_wharf_env(
        &[
            "up",
            unsigned_app.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--state-dir",
            dir.path().join("state2").to_str().unwrap(),
            "--trusted-key",
            public.to_str().unwrap(),
        ],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("is not signed") && err.contains("sha256:"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_watch_rebuilds_and_swaps_on_source_change() {
    let dir = tempfile::tempdir().unwrap();
    let service_dir = dir.path().join("watched");
    let (code, out, err) = crate::common::run_wharf(&[
        "new",
        "http-rust",
        "watched",
        "--dir",
        service_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The guests' target dir already holds the SDK's dependencies.
    let host = ChildHost::start_with_env(
        &service_dir,
        &["--watch"],
        &[("CARGO_TARGET_DIR", art::GUEST_TARGET_DIR)],
    );
    assert_eq!(body(&host, "/").await, (200, V2_BODY.to_string()));

    // A request running across the swap.
    let load = Load::start(&host, 2, 1_000_000);
    let source = service_dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(
        &source,
        text.replace("Hello from Wharf!\\n", "Hello again!\\n"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, text) = body(&host, "/").await;
        assert_eq!(status, 200);
        if text == "Hello again!\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no swap after the source changed; host log:\n{}",
            host.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let results = load.finish().await;
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r.as_deref(), Ok("Hello from Wharf!\n" | "Hello again!\n")))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(host.stderr().contains("rebuilt and swapped"));

    // A change that does not compile leaves the running version serving.
    std::fs::write(&source, "this is not rust").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !host.stderr().contains("rebuild failed") {
        assert!(Instant::now() < deadline, "{}", host.stderr());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(body(&host, "/").await.1, "Hello again!\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_canary_keeps_each_client_on_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = start_host(dir.path(), &state, &[]);
    assert_ok(&deploy(
        &host,
        art::EXAMPLE_HELLO_COMPONENT,
        &[
            "--version",
            "v2",
            "--canary",
            "50",
            "--sticky-header",
            "x-user",
        ],
    ));
    let c = client();
    let mut versions_seen = std::collections::BTreeSet::new();
    for user in 0..40 {
        let mut bodies = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let body = c
                .get(host.url("/"))
                .header("x-user", format!("user-{user}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            bodies.insert(body);
        }
        assert_eq!(bodies.len(), 1, "user-{user} saw both versions: {bodies:?}");
        versions_seen.extend(bodies);
    }
    assert_eq!(versions_seen.len(), 2, "40 users all landed on one version");
}
