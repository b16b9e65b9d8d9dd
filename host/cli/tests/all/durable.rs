//! Durable, at-least-once subscriptions (`durable = true`) with real host
//! processes: on a real `nats-server -js` (JetStream stream and durable
//! consumer) and on the embedded broker (a queue in the state directory).
//! The subscriber runs `msg_wasi`, which logs every message it handles to
//! a granted `/data/received.log` (`<topic> <body> …`) and sleeps 20 ms
//! on a topic ending in `.slow`, so a batch is still being handled when
//! the test kills the host.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use wharf_test_artifacts as art;

use crate::common::ChildHost;
use crate::common::{eventually, metric};
use crate::messaging::{App, get, nats_server, received};

/// The app's name, which outside NATS clients need for its subjects.
const APP: &str = "durable";

/// `subject` as an outside NATS client names it: in the app's namespace.
fn outside(subject: &str) -> String {
    wharf_messaging::Namespace::for_app(APP, None).to_broker(subject)
}

/// `sink` handles `dur.*` durably; `front` publishes under `dur.>` over
/// HTTP (used on the embedded broker, where only the host can publish).
/// The sink's short timeouts make its ack wait 13 s, so what a killed
/// host held comes back soon.
fn manifest(data: &Path) -> String {
    format!(
        "[app]\nname = \"{APP}\"\n\n[service.front]\ncomponent = {c:?}\nroutes = [\"/...\"]\npublish = [\"dur.>\"]\n\n\
         [service.sink]\ncomponent = {c:?}\n\
         subscriptions = [{{ topic = \"dur.*\", durable = true, retries = 2, max_in_flight = 4, dead_letter = \"dead.sink\" }}]\n\
         limits = {{ timeout = \"2s\", queue_timeout = \"1s\" }}\n\
         files = [{{ source = {data:?}, path = \"/data\", mode = \"rw\" }}]\n",
        c = art::MSG_WASI_COMPONENT,
    )
}

fn app() -> (App, std::path::PathBuf, tempfile::TempDir) {
    let app = App::new("");
    let data = app.data("sink");
    std::fs::write(app.dir.path().join("wharf.toml"), manifest(&data)).unwrap();
    (app, data, tempfile::tempdir().unwrap())
}

/// How many times each body of `topic` was handled.
fn handled(data: &Path, topic: &str) -> BTreeMap<u32, u32> {
    let mut seen = BTreeMap::new();
    for line in received(data) {
        let mut fields = line.split(' ');
        if fields.next() == Some(topic)
            && let Some(Ok(body)) = fields.next().map(str::parse)
        {
            *seen.entry(body).or_insert(0) += 1;
        }
    }
    seen
}

fn host(app: &App, state: &Path, extra: &[&str]) -> ChildHost {
    let mut args = vec!["--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    ChildHost::start(app.dir.path(), &args)
}

async fn publish_js(js: &async_nats::jetstream::Context, subject: &str, body: String) {
    js.publish(outside(subject), body.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_on_nats_keeps_messages_while_down_survives_sigkill_and_dead_letters_poison() {
    let nats = nats_server::NatsServer::start_with_jetstream();
    let (app, data, state) = app();
    let nats_args = ["--nats", nats.url.as_str()];
    let client = async_nats::connect(&nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());

    // The first start creates the stream and the durable consumer.
    drop(host(&app, state.path(), &nats_args));

    // 300 published while no host runs the service: all handled after it
    // starts.
    for i in 0..300 {
        publish_js(&js, "dur.down", i.to_string()).await;
    }
    let first = host(&app, state.path(), &nats_args);
    eventually(60, "300 messages published while down", || {
        handled(&data, "dur.down").len() == 300
    })
    .await;

    // A poison message is retried, dead-lettered with its headers, and
    // acknowledged; the messages after it are handled.
    let mut dead = client.subscribe(outside("dead.sink")).await.unwrap();
    client.flush().await.unwrap();
    publish_js(&js, "dur.fail", "poison".into()).await;
    for i in 0..20 {
        publish_js(&js, "dur.after", i.to_string()).await;
    }
    let letter = tokio::time::timeout(Duration::from_secs(30), futures::StreamExt::next(&mut dead))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&letter.payload[..], b"poison");
    let headers = letter.headers.unwrap();
    assert_eq!(headers.get("wharf-attempts").map(|v| v.as_str()), Some("3"));
    assert!(
        headers
            .get("wharf-error")
            .unwrap()
            .as_str()
            .contains("failing on purpose")
    );
    eventually(30, "the messages after the poison", || {
        handled(&data, "dur.after").len() == 20
    })
    .await;
    let service = "service=\"sink\",subscription=\"dur.*\"}";
    assert_eq!(
        metric(
            &first,
            &format!("wharf_messages_total{{outcome=\"dead_lettered\",{service}")
        )
        .await,
        1.0
    );
    assert!(
        metric(
            &first,
            &format!("wharf_messages_total{{outcome=\"acked\",{service}")
        )
        .await
            >= 320.0
    );
    assert!(
        metric(
            &first,
            &format!("wharf_messages_total{{outcome=\"redelivered\",{service}")
        )
        .await
            >= 2.0
    );

    // SIGKILL in the middle of a batch of 2,000: after a restart every
    // message is handled at least once.
    for i in 0..2000 {
        js.publish(outside("dur.slow"), i.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    eventually(60, "some of the batch handled", || {
        handled(&data, "dur.slow").len() >= 100
    })
    .await;
    drop(first); // SIGKILL
    let before = handled(&data, "dur.slow").len();
    assert!(before < 2000, "the kill came too late to test anything");
    let second = host(&app, state.path(), &nats_args);
    eventually(180, "all 2,000 after the restart", || {
        handled(&data, "dur.slow").len() == 2000
    })
    .await;
    let seen = handled(&data, "dur.slow");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!(
        "durable NATS SIGKILL: {before} of 2000 handled before the kill, all 2000 after the restart, {duplicates} handled twice or more"
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_on_the_embedded_broker_survives_sigkill() {
    let (app, data, state) = app();
    let first = host(&app, state.path(), &[]);
    let (status, body) = get(&first, "/burst?topic=dur.slow&n=2000").await;
    assert_eq!(status, 200, "{body}");
    let at_publish = handled(&data, "dur.slow").len();
    eventually(60, "some of the batch handled", || {
        handled(&data, "dur.slow").len() >= at_publish.max(100)
    })
    .await;
    drop(first); // SIGKILL
    let before = handled(&data, "dur.slow").len();
    assert!(before < 2000, "the kill came too late to test anything");
    let _second = host(&app, state.path(), &[]);
    eventually(180, "all 2,000 after the restart", || {
        handled(&data, "dur.slow").len() == 2000
    })
    .await;
    let seen = handled(&data, "dur.slow");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    println!(
        "durable embedded SIGKILL: {before} of 2000 handled before the kill, all 2000 after the restart, {duplicates} handled twice or more"
    );
}

/// Publish→handled throughput through a real host, in one run: core NATS
/// (at most once), durable NATS (JetStream) and durable embedded (redb).
/// One HTTP request publishes `N` messages with `wasi:messaging`; a
/// subscriber service handles each in a fresh instance. Messages per
/// second from the first publish until the last is handled. A measurement,
/// not a check: `cargo test -p wharf --release --test all -- --ignored
/// durable::publish_to_handle_throughput_durable --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; run on demand"]
async fn publish_to_handle_throughput_durable() {
    const N: u32 = 2_000;
    let nats = nats_server::NatsServer::start_with_jetstream();
    let manifest = |durable: bool| {
        format!(
            "[service.front]\ncomponent = {c:?}\nroutes = [\"/...\"]\npublish = [\"load.>\"]\n\n\
             [service.sink]\ncomponent = {c:?}\n\
             subscriptions = [{{ topic = \"load.*\", max_in_flight = 64, durable = {durable} }}]\n",
            c = art::MSG_WASI_COMPONENT,
        )
    };
    let mut results = Vec::new();
    for (label, durable, nats_args) in [
        ("core NATS", false, vec!["--nats", nats.url.as_str()]),
        ("durable NATS", true, vec!["--nats", nats.url.as_str()]),
        ("durable embedded", true, vec![]),
    ] {
        let app = App::new(&manifest(durable));
        let host = ChildHost::start_with_env(app.dir.path(), &nats_args, &[("RUST_LOG", "warn")]);
        let handled =
            "wharf_messages_total{outcome=\"handled\",service=\"sink\",subscription=\"load.*\"}";
        let started = std::time::Instant::now();
        let (status, body) = get(&host, &format!("/burst?topic=load.x&n={N}")).await;
        assert_eq!(status, 200, "{body}");
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        while metric(&host, handled).await < f64::from(N) {
            assert!(std::time::Instant::now() < deadline, "not all handled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        results.push((label, f64::from(N) / started.elapsed().as_secs_f64()));
    }
    for (label, rate) in &results {
        println!(
            "publish→handled, {label}: {rate:.0} messages/s ({N} messages, fresh instance each)"
        );
    }
}
