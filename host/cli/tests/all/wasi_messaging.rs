//! The standard `wasi:messaging@0.2.0-draft` end to end: real `wharf up`
//! processes running `msg_wasi` (bindings generated from the vendored
//! `wit/deps/messaging`), on the embedded broker and on a real
//! `nats-server`. The handler records what it receives in a granted
//! `/data/received.log`: `<topic> <body> <x-test metadata> <content type>
//! <wharf-error metadata>`, `-` for an absent value.

use std::path::Path;
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{ChildHost, run_wharf};
use crate::common::{eventually, metric};
use crate::messaging::{App, get, nats_server, received};

/// The app's name, which outside NATS clients need for its subjects.
const APP: &str = "wasi-msg";

/// `subject` as an outside NATS client names it: in the app's namespace.
fn outside(subject: &str) -> String {
    wharf_messaging::Namespace::for_app(APP, None).to_broker(subject)
}

/// One service, `wm`: HTTP driver on every route, may publish under
/// `wm.>`, handles `wm.*` (one retry, dead letters to `dead.wm`) and its
/// own dead letters.
fn manifest(data: &Path) -> String {
    format!(
        "[app]\nname = \"{APP}\"\n\n[service.wm]\ncomponent = {:?}\nroutes = [\"/...\"]\npublish = [\"wm.>\"]\n\
         subscriptions = [{{ topic = \"wm.*\", retries = 1, dead_letter = \"dead.wm\" }}, {{ topic = \"dead.wm\" }}]\n\
         files = [{{ source = {:?}, path = \"/data\", mode = \"rw\" }}]\n",
        art::MSG_WASI_COMPONENT,
        data
    )
}

fn start(extra: &[&str]) -> (App, std::path::PathBuf, ChildHost) {
    let app = App::new("");
    let data = app.data("wm");
    std::fs::write(app.dir.path().join("wharf.toml"), manifest(&data)).unwrap();
    let host = ChildHost::start(app.dir.path(), extra);
    (app, data, host)
}

/// What every broker must do the same way.
async fn common_behaviour(host: &ChildHost, data: &Path) {
    // Within the grant, with metadata and a content type: handled by the
    // service's own subscription, which sees both.
    assert_eq!(
        get(
            host,
            "/publish?topic=wm.note&body=n1&meta=m1&ct=application/json"
        )
        .await,
        (200, "published\n".to_string())
    );
    eventually(10, "the note", || {
        received(data).contains(&"wm.note n1 m1 application/json -".to_string())
    })
    .await;

    // Outside the grant: `permission-denied`, and nothing is handled.
    let (status, body) = get(host, "/publish?topic=pay.done&body=x").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("error: permission-denied:"), "{body}");
    let (status, body) = get(host, "/request?topic=pay.done&body=x").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("error: permission-denied:"), "{body}");

    // A connection name the host does not know: the `connection` error.
    let (status, body) = get(host, "/connect?connection=kafka").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("error: connection: unknown messaging connection `kafka`"),
        "{body}"
    );
    assert_eq!(get(host, "/connect").await.0, 200);

    // Request/reply answered by the service's own handler, with the
    // reply's content type and metadata.
    assert_eq!(
        get(host, "/request?topic=wm.echo&body=r1&timeout=5000").await,
        (200, "reply:r1 text/plain msg_wasi\n".to_string())
    );
    // Waiting for two replies when one responder exists: the one that came.
    assert_eq!(
        get(host, "/request?topic=wm.echo&body=r2&timeout=500&expect=2").await,
        (200, "reply:r2 text/plain msg_wasi\n".to_string())
    );
    // Nobody subscribes: an error at once, not after the timeout.
    let started = Instant::now();
    let (status, body) = get(host, "/request?topic=wm.no.one&body=x&timeout=5000").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("no responders"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A handler that traps, or fails, is retried once and dead-lettered;
    // the dead letter carries the error as metadata.
    assert_eq!(get(host, "/publish?topic=wm.trap&body=t1").await.0, 200);
    assert_eq!(get(host, "/publish?topic=wm.fail&body=f1").await.0, 200);
    eventually(20, "two dead letters", || {
        let lines = received(data);
        let dead = |body: &str| {
            lines
                .iter()
                .any(|l| l.starts_with(&format!("dead.wm {body} - - ")))
        };
        dead("t1") && dead("f1")
    })
    .await;
    let lines = received(data);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("dead.wm f1 ") && l.contains("failing on purpose")),
        "{lines:?}"
    );
    let dead = metric(
        host,
        "wharf_messages_total{outcome=\"dead_lettered\",service=\"wm\",subscription=\"wm.*\"}",
    )
    .await;
    assert_eq!(dead, 2.0);
    let retried = metric(
        host,
        "wharf_messages_total{outcome=\"retried\",service=\"wm\",subscription=\"wm.*\"}",
    )
    .await;
    assert!(retried >= 2.0, "{retried}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_messaging_on_the_embedded_broker() {
    let (_app, data, host) = start(&[]);
    common_behaviour(&host, &data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_messaging_on_nats_maps_metadata_to_headers_and_handles_each_message_once() {
    let nats = nats_server::NatsServer::start();
    let (_app, data, host) = start(&["--nats", nats.url.as_str()]);
    common_behaviour(&host, &data).await;

    // A guest's metadata and content type are NATS headers.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let mut notes = client.subscribe(outside("wm.note")).await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(
        get(&host, "/publish?topic=wm.note&body=n2&meta=m2&ct=text/csv")
            .await
            .0,
        200
    );
    let note = tokio::time::timeout(
        Duration::from_secs(10),
        futures::StreamExt::next(&mut notes),
    )
    .await
    .unwrap()
    .unwrap();
    let headers = note.headers.unwrap();
    assert_eq!(headers.get("x-test").map(|v| v.as_str()), Some("m2"));
    assert_eq!(
        headers.get("content-type").map(|v| v.as_str()),
        Some("text/csv")
    );
    assert!(
        headers.get("x-request-id").is_some(),
        "trace context travels"
    );

    // 200 messages from an outside NATS client, with headers: each handled
    // once, its headers seen as metadata.
    for i in 0..200 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("x-test", format!("h{i}").as_str());
        client
            .publish_with_headers(outside("wm.ext"), headers, format!("{i}").into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let external = || -> Vec<String> {
        received(&data)
            .into_iter()
            .filter(|l| l.starts_with("wm.ext "))
            .collect()
    };
    eventually(60, "200 external messages", || external().len() >= 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = external();
    assert_eq!(lines.len(), 200, "a message was handled twice");
    let mut seen: Vec<u32> = lines
        .iter()
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            assert_eq!(fields[2], format!("h{}", fields[1]), "{l}");
            fields[1].parse().unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[test]
fn refuses_a_component_built_against_an_older_wasi_messaging_text() {
    let (code, _stdout, stderr) = run_wharf(&[
        "up",
        art::MSG_WASI_OLD_TEXT_COMPONENT,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("older, incompatible text of `wasi:messaging@0.2.0-draft`"),
        "{stderr}"
    );
    assert!(stderr.contains("wasi:messaging/"), "{stderr}");
}
