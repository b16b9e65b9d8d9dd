//! Attacks on what a guest can reach beyond its own grants: the host's
//! state directory, the host's file descriptors through sockets, and the
//! host's instances through a self-calling loop. Each test really attempts
//! the attack (a `hostile_*` guest, or a manifest an attacker would write),
//! asserts that it fails, and that a well-behaved neighbour still answers.

use std::path::Path;
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{ChildHost, TestApp, client, run_wharf_env};

const TOKEN: &str = "test-admin-token";

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn assert_neighbour_ok(host: &ChildHost) {
    let (status, body) = get(&host.url("/neighbour/")).await;
    assert_eq!((status, body.as_str()), (200, "hello from http_hello\n"));
}

/// The hostile service `hostile` at `/...` with `extra` TOML in its table,
/// and `http_hello` as `neighbour` at `/neighbour/...`.
fn app(hostile_table: &str, hostile: &str, extra: &str) -> String {
    format!(
        "[service.{hostile_table}]\ncomponent = {hostile:?}\nroutes = [\"/...\"]\n{extra}\n\n\
         [service.neighbour]\ncomponent = {:?}\nroutes = [\"/neighbour/...\"]\n",
        art::HTTP_HELLO_COMPONENT
    )
}

/// Every file and directory under `dir`, with its mode.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = vec![(
        dir.to_path_buf(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    )];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(modes(&path));
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            out.push((path, mode));
        }
    }
    out
}

/// A guest granted the whole app folder read-write looks there for the
/// admin token and the compiled-code cache (where the state directory used
/// to live): it finds neither, the state lives under `XDG_STATE_HOME`, is
/// private to the host's user, and the token there is the one the admin
/// API takes.
#[tokio::test]
async fn a_guest_granted_the_app_folder_cannot_reach_the_state_directory() {
    let app_dir = TestApp::new(&app(
        "hostile",
        art::HOSTILE_STATE_DIR_COMPONENT,
        "files = [{ source = \".\", path = \"/app\", mode = \"rw\" }]",
    ));
    let xdg = tempfile::tempdir().unwrap();
    let host = ChildHost::start_with_env(
        app_dir.dir.path(),
        &[],
        // No token from the environment: the host writes one to a file.
        &[
            ("XDG_STATE_HOME", xdg.path().to_str().unwrap()),
            ("WHARF_ADMIN_TOKEN", ""),
        ],
    );
    let (status, body) = get(&host.url("/")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("LEAKED") && !body.contains("WROTE"),
        "the guest reached the state directory:\n{body}"
    );
    assert!(body.contains("searched "), "{body}");
    assert!(!app_dir.dir.path().join(".wharf").exists());
    assert_neighbour_ok(&host).await;

    // The state is in one per-app directory under XDG_STATE_HOME.
    let apps: Vec<_> = std::fs::read_dir(xdg.path().join("wharf/apps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(apps.len(), 1, "{apps:?}");
    let state = &apps[0];
    let token = std::fs::read_to_string(state.join("admin-token")).unwrap();
    let r = client()
        .get(host.admin_url("/v1/services"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // `wharf ps` run in the app folder finds that token by itself.
    let output = std::process::Command::new(crate::common::wharf_bin())
        .args(["ps", "--admin", &format!("http://{}", host.admin)])
        .current_dir(app_dir.dir.path())
        .env("XDG_STATE_HOME", xdg.path())
        .env_remove("WHARF_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("neighbour"));

    #[cfg(unix)]
    for (path, mode) in modes(state) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

/// A `files` grant that holds the state directory, or lies inside it, is
/// refused when the app loads and when a deploy asks for it, naming the
/// state directory; the host keeps serving.
#[tokio::test]
async fn a_files_grant_covering_the_state_directory_is_refused() {
    let app_dir = TestApp::new(&app(
        "greedy",
        art::HTTP_HELLO_COMPONENT,
        "files = [{ source = \".\", path = \"/app\", mode = \"ro\" }]",
    ));
    let state = app_dir.dir.path().join("state");
    let err = up_must_fail(app_dir.dir.path(), &state);
    let state = std::fs::canonicalize(&state).unwrap();
    assert!(
        err.contains("state directory") && err.contains(state.to_str().unwrap()),
        "{err}"
    );

    // At deploy: a host whose state is in `<dir>/state`, and a deploy that
    // grants `<dir>/state/compiled`.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let serving = TestApp::new(&format!(
        "[service.neighbour]\ncomponent = {:?}\nroutes = [\"/neighbour/...\"]\n",
        art::HTTP_HELLO_COMPONENT
    ));
    let host = ChildHost::start(
        serving.dir.path(),
        &["--state-dir", state.to_str().unwrap()],
    );
    let manifest = dir.path().join("deploy.toml");
    std::fs::write(
        &manifest,
        format!(
            "[service.greedy]\ncomponent = {:?}\nroutes = [\"/greedy/...\"]\n\
             files = [{{ source = \"state/compiled\", path = \"/c\", mode = \"rw\" }}]\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let (code, out, err) = run_wharf_env(
        &[
            "deploy",
            "greedy",
            art::HTTP_HELLO_COMPONENT,
            "--manifest",
            manifest.to_str().unwrap(),
            "--allow-new-grants",
            "--admin",
            &format!("http://{}", host.admin),
        ],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    assert_ne!(code, 0, "{out}");
    let state = std::fs::canonicalize(&state).unwrap();
    assert!(
        err.contains("state directory") && err.contains(state.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(get(&host.url("/greedy/")).await.0, 404);
    assert_neighbour_ok(&host).await;
}

/// Runs `wharf up app --state-dir state`, which must exit with an error
/// within a minute (a host that serves instead is killed and the test
/// fails); returns its stderr.
fn up_must_fail(app: &Path, state: &Path) -> String {
    use std::io::Read as _;
    let mut child = std::process::Command::new(crate::common::wharf_bin())
        .arg("up")
        .arg(app)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state)
        .env("WHARF_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`wharf up` served an app whose grant covers its state directory");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    err
}

/// `wharf up a.wasm`, stop, `wharf up b.wasm` in the same folder serves b:
/// each `.wasm` has its own state, so a's record does not come back.
#[tokio::test]
async fn serving_another_wasm_from_the_same_folder_serves_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.wasm"), dir.path().join("b.wasm"));
    std::fs::copy(art::HTTP_HELLO_COMPONENT, &a).unwrap();
    std::fs::copy(art::HTTP_SLEEP_COMPONENT, &b).unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let envs = [("XDG_STATE_HOME", xdg.path().to_str().unwrap())];
    let host = ChildHost::start_with_env(&a, &[], &envs);
    assert_eq!(
        get(&host.url("/")).await,
        (200, "hello from http_hello\n".into())
    );
    drop(host);
    let host = ChildHost::start_with_env(&b, &[], &envs);
    assert_eq!(
        get(&host.url("/sleep?ms=1")).await,
        (200, "slept 1\n".into())
    );
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Eight guests with no socket grant each try to create 3,000 TCP and
/// 3,000 UDP sockets and hold them: none is created (wasmtime-wasi would
/// allocate an OS socket before any address check), the host's descriptor
/// count stays flat, and the neighbour answers meanwhile.
#[tokio::test]
async fn a_guest_without_a_socket_grant_cannot_create_sockets() {
    let app_dir = TestApp::new(&app("hostile", art::HOSTILE_SOCKET_FLOOD_COMPONENT, ""));
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    let before = open_fds(host.pid());
    let floods: Vec<_> = (0..8)
        .map(|_| {
            let url = host.url("/?n=3000&hold_ms=1500");
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let during = open_fds(host.pid());
    assert_neighbour_ok(&host).await;
    for flood in floods {
        let (status, body) = flood.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("tcp: created 0 of 3000, then denied")
                && body.contains("udp: created 0 of 3000, then denied"),
            "{body}"
        );
    }
    assert!(
        during < before + 64,
        "open descriptors went from {before} to {during}"
    );
}

/// With a socket grant, one instance still cannot hold more sockets than
/// its resource table admits (1,024 handles): the flood ends there, with
/// an error or a trap, and the descriptors it held are released.
#[tokio::test]
async fn a_granted_guest_holds_at_most_the_resource_table_cap_of_sockets() {
    let app_dir = TestApp::new(&app(
        "hostile",
        art::HOSTILE_SOCKET_FLOOD_COMPONENT,
        "sockets = [\"127.0.0.1:*\"]",
    ));
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    let before = open_fds(host.pid());
    let flood = tokio::spawn({
        let url = host.url("/?n=5000&hold_ms=1500");
        async move { get(&url).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let during = open_fds(host.pid());
    let (status, body) = flood.await.unwrap();
    assert!(
        during < before + 1100,
        "open descriptors went from {before} to {during}"
    );
    // Either the guest saw the refusal, or pushing past the cap trapped it.
    assert!(
        (status == 200 && !body.contains("created 5000")) || status == 500,
        "{status} {body}"
    );
    assert_neighbour_ok(&host).await;
    let after = open_fds(host.pid());
    assert!(
        after < before + 64,
        "{after} descriptors after, {before} before"
    );
}

/// A service that calls itself through `http://self.internal`, resetting
/// the `x-wharf-hops` header on every call, is stopped by the host's own
/// hop count: the client gets `508 loop-detected` quickly, far before any
/// timeout.
#[tokio::test]
async fn a_self_calling_loop_ends_in_loop_detected() {
    let app_dir = TestApp::new(&app(
        "self",
        art::HOSTILE_SELF_LOOP_COMPONENT,
        "outbound = [\"http://self.internal\"]",
    ));
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    let started = Instant::now();
    let (status, body) = get(&host.url("/loop")).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 508, "{body}");
    assert!(body.ends_with("loop-detected\n"), "{body}");
    assert_eq!(body.matches("hop\n").count(), 16, "{body}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_neighbour_ok(&host).await;
}

/// Runs `wharf <args> --admin <host>` with the test token.
fn admin(host: &ChildHost, args: &[&str]) -> (i32, String, String) {
    let url = format!("http://{}", host.admin);
    let mut all = args.to_vec();
    all.extend_from_slice(&["--admin", &url]);
    run_wharf_env(&all, &[("WHARF_ADMIN_TOKEN", TOKEN)])
}

/// Two ways to hand a service a host secret without the operator's
/// consent: change a variable's value to `${env.…}`, or remove the
/// service and deploy it again as if it were new. Both need
/// `--allow-new-grants`.
#[tokio::test]
async fn host_secrets_need_consent_even_through_a_changed_value_or_a_removal() {
    let app_dir = TestApp::new(&format!(
        "[service.web]\ncomponent = {:?}\nroutes = [\"/web/...\"]\n\
         [service.web.variables]\nGREETING = \"hello\"\n\n\
         [service.neighbour]\ncomponent = {:?}\nroutes = [\"/neighbour/...\"]\n",
        art::HTTP_HELLO_COMPONENT,
        art::HTTP_HELLO_COMPONENT
    ));
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    let stealing = app_dir.dir.path().join("steal.toml");
    std::fs::write(
        &stealing,
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/web/...\"]\n\
             [service.web.variables]\nGREETING = \"${{env.WHARF_ADMIN_TOKEN}}\"\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let manifest = stealing.to_str().unwrap();
    let deploy = [
        "deploy",
        "web",
        art::HTTP_HELLO_COMPONENT,
        "--version",
        "v2",
        "--manifest",
        manifest,
    ];

    let (code, out, err) = admin(&host, &deploy);
    assert_ne!(code, 0, "deployed without consent:\n{out}");
    assert!(
        err.contains("variables.GREETING now reads host environment WHARF_ADMIN_TOKEN")
            && err.contains("--allow-new-grants"),
        "{err}"
    );

    let (code, _, err) = admin(&host, &["rm", "web"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = admin(&host, &deploy);
    assert_ne!(code, 0, "deployed after `wharf rm` without consent:\n{out}");
    assert!(
        err.contains("(removed)") && err.contains("WHARF_ADMIN_TOKEN"),
        "{err}"
    );
    assert_eq!(get(&host.url("/web/")).await.0, 404);

    // With consent it goes through, and the service is back.
    let mut consented = deploy.to_vec();
    consented.push("--allow-new-grants");
    let (code, _, err) = admin(&host, &consented);
    assert_eq!(code, 0, "{err}");
    assert_eq!(get(&host.url("/web/")).await.0, 200);
    assert_neighbour_ok(&host).await;
}

/// A key-value service (`http_keyvalue`, store `default`) at `/...`, with
/// the neighbour.
fn key_value_app() -> TestApp {
    TestApp::new(&app(
        "kv",
        art::HTTP_KEYVALUE_COMPONENT,
        "key_value_stores = [\"default\"]",
    ))
}

/// One 512 KiB value asked for 400 times in one `get-many`: the host
/// refuses before it holds 200 MiB of copies.
#[tokio::test]
async fn get_many_cannot_make_the_host_copy_one_value_hundreds_of_times() {
    let app_dir = key_value_app();
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    assert_eq!(
        get(&host.url("/set?key=big&size=524288")).await,
        (200, "ok\n".into())
    );
    let baseline = host.peak_rss();
    let keys = vec!["big"; 400].join(",");
    let (status, body) = get(&host.url(&format!("/get-many?keys={keys}"))).await;
    assert_eq!(status, 500, "{}", &body[..body.len().min(200)]);
    assert!(body.contains("get-many would return more than"), "{body}");
    let growth = host.peak_rss().saturating_sub(baseline);
    assert!(growth < 64 * 1024 * 1024, "peak RSS grew {growth} bytes");
    // A batch within the cap still works, duplicates and all.
    assert_eq!(get(&host.url("/get-many?keys=big,nope,big")).await.0, 200);
    assert_neighbour_ok(&host).await;
}

/// A store name with a newline and a terminal escape in it: the denial is
/// logged on one line, escaped; no forged line appears.
#[tokio::test]
async fn guest_chosen_strings_cannot_forge_log_lines() {
    let app_dir = key_value_app();
    let host = ChildHost::start(app_dir.dir.path(), &[]);
    let (status, body) = get(&host.url("/open?store=x%0AFORGED%20line%1B%5B31m")).await;
    assert_eq!((status, body.as_str()), (500, "error: access-denied\n"));
    let line = crate::outbound::wait_for_log(&host, "key-value store denied").await;
    assert!(line.contains("x\\u{a}FORGED line\\u{1b}[31m"), "{line}");
    let log = host.stderr();
    assert!(
        !log.lines().any(|l| l.trim_start().starts_with("FORGED")) && !log.contains('\x1b'),
        "{log}"
    );
    assert_neighbour_ok(&host).await;
}

/// A storage failure reaches the guest as "storage error", never with the
/// host's paths or error chain (those go to the host log).
#[tokio::test]
async fn key_value_errors_do_not_leak_host_paths_to_the_guest() {
    let app_dir = key_value_app();
    let state = tempfile::tempdir().unwrap();
    // The database file is a directory: every open fails.
    std::fs::create_dir(state.path().join("keyvalue.redb")).unwrap();
    let host = ChildHost::start(
        app_dir.dir.path(),
        &["--state-dir", state.path().to_str().unwrap()],
    );
    let (status, body) = get(&host.url("/set?key=a&value=b")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("storage error"), "{body}");
    for leak in [state.path().to_str().unwrap(), "keyvalue.redb", "/"] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
    assert_neighbour_ok(&host).await;
}
