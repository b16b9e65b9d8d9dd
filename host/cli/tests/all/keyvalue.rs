//! Key-value storage end to end: real `wharf up` processes serving
//! `http_keyvalue` (raw `wasi:keyvalue@0.2.0-draft` bindings), the embedded
//! redb backend in the host's state directory, and a real `nats-server`
//! with JetStream for the NATS backend.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{ChildHost, client, mentions};

// `messaging.rs` loads the same file, but keeps its module private.
#[allow(clippy::duplicate_mod)]
#[path = "../../../messaging/tests/support/nats_server.rs"]
mod nats_server;

/// A service `name` running `http_keyvalue` under `/<name>/...` with
/// `grants` as its `key_value_stores` (`None`: the key left out).
fn svc(name: &str, grants: Option<&str>) -> String {
    let grants = grants
        .map(|g| format!("key_value_stores = {g}\n"))
        .unwrap_or_default();
    format!(
        "[service.{name}]\ncomponent = {:?}\nroutes = [\"/{name}/...\"]\n{grants}\n",
        art::HTTP_KEYVALUE_COMPONENT
    )
}

fn app(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wharf.toml"), manifest).unwrap();
    dir
}

async fn get(host: &ChildHost, path: &str) -> (u16, String) {
    let r = client().get(host.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// GETs `path` and insists on a 200.
async fn ok(host: &ChildHost, path: &str) -> String {
    let (status, body) = get(host, path).await;
    assert_eq!(
        status,
        200,
        "{path}: {body}\nhost stderr:\n{}",
        host.stderr()
    );
    body
}

fn start(dir: &Path, state: &Path, extra: &[&str]) -> ChildHost {
    let mut args = vec!["--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    ChildHost::start(dir, &args)
}

/// The whole `store`, `atomics` and `batch` surface on one backend.
async fn exercise_every_operation(host: &ChildHost) {
    // store: get/set/exists/delete.
    assert_eq!(ok(host, "/a/get?key=greeting").await, "absent\n");
    assert_eq!(ok(host, "/a/exists?key=greeting").await, "false\n");
    assert_eq!(
        ok(host, "/a/set?key=greeting&value=hello%20world").await,
        "ok\n"
    );
    assert_eq!(ok(host, "/a/get?key=greeting").await, "value=hello world\n");
    assert_eq!(ok(host, "/a/exists?key=greeting").await, "true\n");
    assert_eq!(ok(host, "/a/set?key=greeting&value=again").await, "ok\n");
    assert_eq!(ok(host, "/a/get?key=greeting").await, "value=again\n");
    // Keys with characters NATS subjects cannot hold.
    assert_eq!(
        ok(host, "/a/set?key=a%20b%2A%3E.%C3%BC&value=odd").await,
        "ok\n"
    );
    assert_eq!(
        ok(host, "/a/get?key=a%20b%2A%3E.%C3%BC").await,
        "value=odd\n"
    );
    assert_eq!(ok(host, "/a/delete?key=greeting").await, "ok\n");
    assert_eq!(ok(host, "/a/get?key=greeting").await, "absent\n");
    assert_eq!(ok(host, "/a/exists?key=greeting").await, "false\n");
    assert_eq!(ok(host, "/a/delete?key=never-written").await, "ok\n");

    // Stores are separate: `cache` does not see `default`'s keys.
    assert_eq!(
        ok(host, "/a/get?store=cache&key=a%20b%2A%3E.%C3%BC").await,
        "absent\n"
    );

    // atomics: increment creates, adds, and refuses a non-counter.
    assert_eq!(ok(host, "/a/increment?key=hits&delta=5").await, "5\n");
    assert_eq!(ok(host, "/a/increment?key=hits&delta=3").await, "8\n");
    assert_eq!(ok(host, "/a/get?key=hits").await, "value=8\n");
    let (status, body) = get(host, "/a/increment?key=a%20b%2A%3E.%C3%BC").await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("error: other: ") && body.contains("not a counter"),
        "{body}"
    );
    // Concurrent increments: none is lost.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let url = host.url("/a/increment?key=together&delta=1");
            tokio::spawn(async move { client().get(url).send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(ok(host, "/a/get?key=together").await, "value=20\n");

    // batch: set-many, get-many (absent keys are none), delete-many.
    assert_eq!(
        ok(host, "/a/set-many?store=cache&prefix=b&n=5").await,
        "ok\n"
    );
    assert_eq!(
        ok(host, "/a/get-many?store=cache&keys=b0,b4,nope,b2").await,
        "b0=v0\nb4=v4\nnope absent\nb2=v2\n"
    );
    assert_eq!(
        ok(host, "/a/delete-many?store=cache&keys=b0,b2,nope").await,
        "ok\n"
    );
    assert_eq!(
        ok(host, "/a/get-many?store=cache&keys=b0,b1,b2,b3,b4").await,
        "b0 absent\nb1=v1\nb2 absent\nb3=v3\nb4=v4\n"
    );

    // list-keys with a cursor: 1203 keys are two pages of at most 1000.
    assert_eq!(
        ok(host, "/a/set-many?store=cache&prefix=k&n=600").await,
        "ok\n"
    );
    assert_eq!(
        ok(host, "/a/set-many?store=cache&prefix=k&from=600&n=600").await,
        "ok\n"
    );
    let first = ok(host, "/a/list?store=cache").await;
    let mut lines = first.lines();
    assert_eq!(
        lines.next(),
        Some("cursor=1000"),
        "{}",
        &first[..first.len().min(200)]
    );
    let first_keys: Vec<&str> = lines.collect();
    assert_eq!(first_keys.len(), 1000);
    let second = ok(host, "/a/list?store=cache&cursor=1000").await;
    let mut lines = second.lines();
    assert_eq!(lines.next(), Some("cursor=none"));
    let second_keys: Vec<&str> = lines.collect();
    assert_eq!(second_keys.len(), 203);
    let all: BTreeSet<&str> = first_keys.iter().chain(&second_keys).copied().collect();
    let expected: BTreeSet<String> = (0..1200)
        .map(|i| format!("k{i}"))
        .chain(["b1", "b3", "b4"].map(String::from))
        .collect();
    assert_eq!(all, expected.iter().map(String::as_str).collect());
    let listed = ok(host, "/a/list-all?store=cache").await;
    assert!(listed.starts_with("pages=2\n"), "{}", &listed[..20]);
    assert_eq!(listed.lines().count(), 1 + 1203);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_on_the_embedded_store() {
    let dir = app(&svc("a", Some(r#"["default", "cache"]"#)));
    let state = tempfile::tempdir().unwrap();
    let host = start(dir.path(), state.path(), &[]);
    exercise_every_operation(&host).await;
    assert!(state.path().join("keyvalue.redb").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_not_granted_is_access_denied_and_the_host_keeps_serving() {
    let manifest = format!("{}{}", svc("a", Some(r#"["default"]"#)), svc("none", None));
    let dir = app(&manifest);
    let state = tempfile::tempdir().unwrap();
    let host = start(dir.path(), state.path(), &[]);
    assert_eq!(ok(&host, "/a/set?key=k&value=v").await, "ok\n");
    // Another name than the grant, a service without grants, a name no
    // manifest could grant: the standard error, not a trap.
    for path in [
        "/a/get?store=cache&key=k",
        "/none/get?key=k",
        "/none/open?store=cache",
        "/a/open?store=..%2Fetc",
    ] {
        assert_eq!(
            get(&host, path).await,
            (500, "error: access-denied\n".to_owned()),
            "{path}"
        );
    }
    assert!(
        host.stderr().contains("key-value store denied"),
        "{}",
        host.stderr()
    );
    assert_eq!(ok(&host, "/a/get?key=k").await, "value=v\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_keys_values_and_batches_are_refused_with_the_limit() {
    let dir = app(&svc("a", Some(r#"["default"]"#)));
    let state = tempfile::tempdir().unwrap();
    let host = start(dir.path(), state.path(), &[]);
    let long_key = "k".repeat(513);
    let (status, body) = get(&host, &format!("/a/set?key={long_key}&value=v")).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "error: other: key is 513 bytes long; the limit is 512 bytes\n"
    );
    let (status, body) = get(&host, &format!("/a/get?key={long_key}")).await;
    assert_eq!(
        (status, body.contains("the limit is 512 bytes")),
        (500, true)
    );
    assert_eq!(
        ok(&host, &format!("/a/set?key={}&value=v", &long_key[1..])).await,
        "ok\n"
    );
    let (status, body) = get(&host, "/a/set?key=big&size=524289").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "error: other: value of `big` is 524289 bytes; the limit is 524288 bytes\n"
    );
    assert_eq!(ok(&host, "/a/get?key=big").await, "absent\n");
    assert_eq!(ok(&host, "/a/set?key=big&size=524288").await, "ok\n");
    let (status, body) = get(&host, "/a/set-many?prefix=x&n=1001").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "error: other: batch has 1001 keys; the limit is 1000 per call\n"
    );
    let (status, body) = get(&host, "/a/set?key=&value=v").await;
    assert_eq!(
        (status, body.as_str()),
        (500, "error: other: key must not be empty\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_are_shared_by_services_and_persist_across_a_restart() {
    let manifest = format!(
        "{}{}",
        svc("a", Some(r#"["default", "cache"]"#)),
        svc("b", Some(r#"["default"]"#))
    );
    let dir = app(&manifest);
    let state = tempfile::tempdir().unwrap();
    {
        let host = start(dir.path(), state.path(), &[]);
        assert_eq!(ok(&host, "/a/set?key=shared&value=from-a").await, "ok\n");
        assert_eq!(ok(&host, "/b/get?key=shared").await, "value=from-a\n");
        assert_eq!(ok(&host, "/b/increment?key=n&delta=41").await, "41\n");
        assert_eq!(
            ok(&host, "/a/set?store=cache&key=c&value=only-a").await,
            "ok\n"
        );
        host.terminate();
    }
    let host = start(dir.path(), state.path(), &[]);
    assert_eq!(ok(&host, "/b/get?key=shared").await, "value=from-a\n");
    assert_eq!(ok(&host, "/a/increment?key=n").await, "42\n");
    assert_eq!(
        ok(&host, "/a/get?store=cache&key=c").await,
        "value=only-a\n"
    );
}

/// Writes `key-<round>-<i>` through the host from several clients until
/// `stop`, recording each key whose `200` arrived.
async fn write_until_stopped(
    url: String,
    round: usize,
    acknowledged: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (url, acknowledged, stop, next) = (
                url.clone(),
                acknowledged.clone(),
                stop.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let client = client();
                // Bounded: a round never writes more than 10_000 keys.
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= 10_000 {
                        break;
                    }
                    let key = format!("key-{round}-{i}");
                    let Ok(response) = client
                        .get(format!("{url}/a/set?key={key}&value=v{i}"))
                        .send()
                        .await
                    else {
                        break; // the host is gone
                    };
                    let Ok(body) = response.text().await else {
                        break;
                    };
                    if body == "ok\n" {
                        acknowledged.lock().unwrap().push(key);
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        let _ = writer.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill_of_the_host() {
    let dir = app(&svc("a", Some(r#"["default"]"#)));
    let state = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..4 {
        let mut host = start(dir.path(), state.path(), &[]);
        // Everything acknowledged before every earlier SIGKILL is there.
        for chunk in acknowledged.chunks(200) {
            let body = ok(&host, &format!("/a/get-many?keys={}", chunk.join(","))).await;
            for (key, line) in chunk.iter().zip(body.lines()) {
                let i = key.rsplit('-').next().unwrap();
                assert_eq!(line, format!("{key}=v{i}"), "round {round}: lost {key}");
            }
        }
        // Write while the host is killed: every `200` counts.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writing = tokio::spawn(write_until_stopped(
            host.url(""),
            round,
            acked.clone(),
            stop.clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < 25 {
            assert!(Instant::now() < deadline, "no writes acknowledged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        host.child.kill().unwrap(); // SIGKILL, mid-stream
        host.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writing.await.unwrap();
        acknowledged.extend(acked.lock().unwrap().drain(..));
    }
    assert!(acknowledged.len() >= 100);
    let host = start(dir.path(), state.path(), &[]);
    for chunk in acknowledged.chunks(200) {
        let body = ok(&host, &format!("/a/get-many?keys={}", chunk.join(","))).await;
        assert!(!body.contains("absent"), "lost writes:\n{body}");
        assert_eq!(body.lines().count(), chunk.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_on_nats_and_hosts_share_the_data() {
    let nats = nats_server::NatsServer::start_with_jetstream();
    let dir = app(&svc("a", Some(r#"["default", "cache"]"#)));
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let nats_args = ["--nats", nats.url.as_str()];
    let host_a = start(dir.path(), state_a.path(), &nats_args);
    let host_b = start(dir.path(), state_b.path(), &nats_args);
    exercise_every_operation(&host_a).await;

    // Written through A, read through B.
    assert_eq!(ok(&host_b, "/a/get?key=hits").await, "value=8\n");
    assert_eq!(ok(&host_a, "/a/set?key=from-a&value=1").await, "ok\n");
    assert_eq!(ok(&host_b, "/a/get?key=from-a").await, "value=1\n");
    assert_eq!(ok(&host_b, "/a/delete?key=from-a").await, "ok\n");
    assert_eq!(ok(&host_a, "/a/exists?key=from-a").await, "false\n");
    // Increments on both hosts at once race through JetStream revisions
    // and none is lost.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let host = if i % 2 == 0 { &host_a } else { &host_b };
            let url = host.url("/a/increment?key=both&delta=1");
            tokio::spawn(async move { client().get(url).send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(ok(&host_b, "/a/get?key=both").await, "value=30\n");
    // Nothing went to the embedded database.
    assert!(!state_a.path().join("keyvalue.redb").exists());

    // The buckets are real JetStream key-value buckets.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    // Named for the app, so apps sharing a NATS server never share a bucket.
    let app_name = dir.path().file_name().unwrap().to_str().unwrap();
    let bucket = wharf_messaging::Namespace::for_app(app_name, None).bucket("kv", "default");
    let bucket = js.get_key_value(&bucket).await.unwrap();
    assert_eq!(&bucket.get("both").await.unwrap().unwrap()[..], b"30");
}

/// `examples/url-shortener/wharf.toml` with its `component = { cargo = "." }`
/// replaced by the component the test artifacts built, so the test runs the
/// example's real routes and grants.
fn url_shortener_manifest() -> String {
    let path = Path::new(art::EXAMPLES_DIR).join("url-shortener/wharf.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("component = { cargo = \".\" }"));
    text.replace(
        "component = { cargo = \".\" }",
        &format!("component = {:?}", art::EXAMPLE_URL_SHORTENER_COMPONENT),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_shortener_example_keeps_links_across_a_restart() {
    let dir = app(&url_shortener_manifest());
    let state = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut ids = Vec::new();
    {
        let host = start(dir.path(), state.path(), &[]);
        for url in ["https://example.com/a", "https://example.com/b?x=1"] {
            let r = http
                .post(host.url("/links"))
                .json(&serde_json::json!({ "url": url }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["url"], url);
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids, ["1", "2"]);
        for _ in 0..3 {
            let r = http.get(host.url("/l/1")).send().await.unwrap();
            assert_eq!(r.status(), 302);
            assert_eq!(r.headers()["location"], "https://example.com/a");
        }
        let r = http
            .post(host.url("/links"))
            .json(&serde_json::json!({ "url": "ftp://nope" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            http.get(host.url("/l/zz")).send().await.unwrap().status(),
            404
        );
        host.terminate();
    }
    let host = start(dir.path(), state.path(), &[]);
    let show: serde_json::Value = http
        .get(host.url("/links/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        show,
        serde_json::json!({ "id": "1", "url": "https://example.com/a", "hits": 3 })
    );
    let list: serde_json::Value = http
        .get(host.url("/links"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, serde_json::json!({ "ids": ["1", "2"] }));
    assert_eq!(
        http.delete(host.url("/links/2"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(host.url("/l/2")).send().await.unwrap().status(),
        404
    );
    // The counter continues after the restart.
    let r = http
        .post(host.url("/links"))
        .json(&serde_json::json!({ "url": "https://example.com/c" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["id"], "3");
}

#[test]
fn sdk_components_import_keyvalue_only_when_they_use_it() {
    const KEYVALUE: &str = "wasi:keyvalue/";
    for component in [
        art::EXAMPLE_HELLO_COMPONENT,
        art::EXAMPLE_JSON_API_COMPONENT,
        art::SDK_FEATURES_COMPONENT,
        art::SDK_MESSAGING_COMPONENT,
        art::EXAMPLE_ORDER_PIPELINE_ORDERS_COMPONENT,
    ] {
        assert!(!mentions(component, KEYVALUE), "{component}");
    }
    for interface in ["store", "atomics", "batch"] {
        let name = format!("wasi:keyvalue/{interface}@0.2.0-draft");
        assert!(
            mentions(art::EXAMPLE_URL_SHORTENER_COMPONENT, &name),
            "the url-shortener does not import {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_adding_a_store_needs_allow_new_grants() {
    let dir = app(&svc("a", Some(r#"["default"]"#)));
    let state = tempfile::tempdir().unwrap();
    let host = start(dir.path(), state.path(), &[]);
    assert_eq!(
        get(&host, "/a/open?store=cache").await,
        (500, "error: access-denied\n".to_owned())
    );
    let wider = dir.path().join("wider.toml");
    std::fs::write(&wider, svc("a", Some(r#"["default", "cache"]"#))).unwrap();
    let deploy = |extra: &[&str]| {
        let admin = format!("http://{}", host.admin);
        let mut args = vec![
            "deploy",
            "a",
            art::HTTP_KEYVALUE_COMPONENT,
            "--version",
            "v2",
            "--manifest",
            wider.to_str().unwrap(),
            "--admin",
            &admin,
        ];
        args.extend_from_slice(extra);
        crate::common::run_wharf_env(&args, &[("WHARF_ADMIN_TOKEN", "test-admin-token")])
    };
    let (code, _, err) = deploy(&[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("+ key_value_stores cache"), "{err}");
    assert_eq!(get(&host, "/a/open?store=cache").await.0, 500);

    let (code, out, err) = deploy(&["--allow-new-grants"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("+ key_value_stores cache"), "{out}");
    assert_eq!(ok(&host, "/a/open?store=cache").await, "opened\n");
}
