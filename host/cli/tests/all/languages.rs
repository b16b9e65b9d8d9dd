//! Python and JavaScript services, with the real toolchains: `wharf new
//! http-python` / `http-js` scaffolds that build and serve with no edits,
//! the `examples/polyglot` app (a Python service publishing a message a
//! Rust service handles, a JavaScript service reading the keys the Rust
//! service wrote), build errors in guest source, a missing `python3` or
//! `node`, and `wharf up --watch` picking up an edit.
//!
//! componentize-py and componentize-js are installed by `wharf build`
//! itself on first use, into `target/toolchains` (see [`toolchain_env`]),
//! so a rerun does not download them again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wharf_test_artifacts as art;

use crate::common::{ChildHost, client, run_wharf, run_wharf_env, wharf_bin};

/// Held by each test of this module: a Python component takes tens of
/// seconds to build and as long again to compile on two cores, so these
/// tests run one at a time instead of starving each other past the
/// harness's start-up timeout.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `WHARF_TOOLCHAIN_DIR` for the tests: `target/toolchains`, shared by
/// every test and kept between runs.
fn toolchain_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("toolchains")
}

fn toolchain_env() -> [(&'static str, String); 2] {
    [
        (
            "WHARF_TOOLCHAIN_DIR",
            toolchain_dir().to_string_lossy().into_owned(),
        ),
        // The Rust service of the polyglot example shares the guests'
        // target dir, so its dependencies are not compiled again.
        ("CARGO_TARGET_DIR", art::GUEST_TARGET_DIR.to_string()),
    ]
}

/// Runs `wharf build <dir>` with the shared toolchains; (code, stderr).
fn build(dir: &Path) -> (i32, String) {
    let env = toolchain_env();
    let output = Command::new(wharf_bin())
        .arg("build")
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scaffold(template: &str, name: &str, root: &Path) -> PathBuf {
    let dir = root.join(name);
    let (code, stdout, stderr) =
        run_wharf(&["new", template, name, "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(dir.join("wharf.toml").is_file());
    dir
}

async fn get_text(url: &str) -> (u16, String) {
    let response = client().get(url).send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// Scaffold, build, serve: the page, a config variable, and key-value
/// state that outlives the per-request instance.
async fn scaffold_builds_and_serves(template: &str, language: &str) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    let dir = scaffold(template, "greeter", root.path());
    let (code, stderr) = build(&dir);
    assert_eq!(code, 0, "wharf build failed:\n{stderr}");
    assert!(dir.join(".wharf/build/greeter.wasm").is_file());

    let host = ChildHost::start(&dir, &[]);
    let (status, body) = get_text(&host.url("/hi")).await;
    assert_eq!(status, 200, "{body}\n{}", host.stderr());
    assert_eq!(
        body,
        format!("Hello from greeter ({language})! You asked for /hi\n")
    );
    for expected in [1, 2] {
        let (status, body) = get_text(&host.url("/count")).await;
        assert_eq!(status, 200, "{body}\n{}", host.stderr());
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["count"], expected, "{body}");
    }
}

#[tokio::test]
async fn python_scaffold_builds_and_serves_without_edits() {
    scaffold_builds_and_serves("http-python", "Python").await;
}

#[tokio::test]
async fn javascript_scaffold_builds_and_serves_without_edits() {
    scaffold_builds_and_serves("http-js", "JavaScript").await;
}

/// `examples/polyglot`: `POST /notes` to the Python service stores the note
/// and publishes `notes.created`; the Rust indexer handles it and writes
/// counts to key-value; the JavaScript service reads them.
#[tokio::test]
async fn polyglot_python_publishes_rust_indexes_javascript_reads() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let example = Path::new(art::EXAMPLES_DIR).join("polyglot");
    let (code, stderr) = build(&example);
    assert_eq!(code, 0, "wharf build failed:\n{stderr}");

    let host = ChildHost::start(&example, &[]);
    let http = client();
    let response = http
        .post(host.url("/notes"))
        .body(r#"{"text": "buy more milk"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", host.stderr());
    let note: Value = response.json().await.unwrap();
    let id = note["id"].as_str().unwrap().to_string();

    let response = http
        .post(host.url("/notes"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let (status, body) = get_text(&host.url(&format!("/notes/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), note);

    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let (status, body) = get_text(&host.url("/stats")).await;
        assert_eq!(status, 200, "{body}\n{}", host.stderr());
        let stats: Value = serde_json::from_str(&body).unwrap();
        // The indexer writes `stats:last` after the counts.
        if stats["last"] == id.as_str() || Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(stats["notes"], 1, "{stats}\n{}", host.stderr());
    assert_eq!(stats["words"], 3, "{stats}");
    assert_eq!(stats["last"], id.as_str(), "{stats}");
    assert_eq!(stats["title"], "Polyglot notes", "{stats}");
}

/// A mistake in the guest's source fails `wharf build` with the toolchain's
/// own message (file and error) and a non-zero exit, and leaves no
/// component to serve.
#[test]
fn a_syntax_error_in_guest_source_fails_the_build_clearly() {
    let _turn = ONE_AT_A_TIME.blocking_lock();
    let root = tempfile::tempdir().unwrap();
    let cases = [
        (
            "http-python",
            "app.py",
            "def on_request(self\n",
            "SyntaxError",
        ),
        (
            "http-js",
            "app.js",
            "addEventListener(\"fetch\", (e => {\n",
            "SyntaxError",
        ),
    ];
    for (template, file, broken, expected) in cases {
        let dir = scaffold(template, "broken", &root.path().join(template));
        std::fs::write(dir.join(file), broken).unwrap();
        let (code, stderr) = build(&dir);
        assert_ne!(code, 0, "{template}: the build succeeded:\n{stderr}");
        assert!(stderr.contains("SyntaxError"), "{template}:\n{stderr}");
        assert!(stderr.contains(expected), "{template}:\n{stderr}");
        assert!(
            stderr.contains("failed to build service `broken`"),
            "{template}:\n{stderr}"
        );
        assert!(!dir.join(".wharf/build/broken.wasm").exists());
    }
}

/// Without `python3` (or `node`) on PATH, `wharf build` says which tool is
/// missing and how to get it, before trying to install anything.
#[test]
fn a_missing_interpreter_is_named() {
    let root = tempfile::tempdir().unwrap();
    let empty_path = root.path().join("empty-bin");
    std::fs::create_dir(&empty_path).unwrap();
    let cache = root.path().join("cache");
    for (template, tool) in [("http-python", "python3"), ("http-js", "node")] {
        let dir = scaffold(template, "lonely", &root.path().join(template));
        let (code, _, stderr) = run_wharf_env(
            &["build", dir.to_str().unwrap()],
            &[
                ("PATH", empty_path.to_str().unwrap()),
                ("WHARF_TOOLCHAIN_DIR", cache.to_str().unwrap()),
            ],
        );
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(&format!("`{tool}` not found")), "{stderr}");
        assert!(stderr.contains("apt-get install"), "{stderr}");
    }
    assert!(
        !cache
            .join(format!(
                "componentize-py-{}",
                wharf::toolchain::COMPONENTIZE_PY_VERSION
            ))
            .exists()
    );
}

/// `wharf up --watch` rebuilds a Python service when `app.py` changes and
/// swaps it in.
#[tokio::test]
async fn watch_rebuilds_a_python_service_on_edit() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    let dir = scaffold("http-python", "watched", root.path());
    let env = toolchain_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let host = ChildHost::start_with_env(&dir, &["--watch"], &env);
    let (_, body) = get_text(&host.url("/")).await;
    assert!(body.starts_with("Hello from watched"), "{body}");

    let app = dir.join("app.py");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, source.replace("(Python)!", "(Python, edited)!")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = get_text(&host.url("/")).await;
        if body.contains("(Python, edited)!") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit was not served; last body: {body}\n{}",
            host.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(host.stderr().contains("rebuilt and swapped"));
}
