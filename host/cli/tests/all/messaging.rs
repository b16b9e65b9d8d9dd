//! Messaging end to end: real `wharf up` processes, a component built
//! against `wasmcloud:messaging@0.2.0` (`msg_wasmcloud`), the embedded
//! broker, and a real `nats-server` for the cross-host cases. Handlers
//! record what they receive in a granted `/data` directory, which the test
//! reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{ChildHost, client, eventually, metric};

#[path = "../../../messaging/tests/support/nats_server.rs"]
pub(crate) mod nats_server;

/// A service running `msg_wasmcloud` with `extra` manifest keys and, when
/// `data` is set, that directory granted read-write as `/data`.
fn svc(name: &str, extra: &str, data: Option<&Path>) -> String {
    let files = match data {
        Some(dir) => format!(
            "files = [{{ source = {:?}, path = \"/data\", mode = \"rw\" }}]\n",
            dir
        ),
        None => String::new(),
    };
    format!(
        "[service.{name}]\ncomponent = {:?}\n{extra}\n{files}\n",
        art::MSG_WASMCLOUD_COMPONENT
    )
}

/// Lines of `<dir>/received.log`.
pub(crate) fn received(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("received.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

pub(crate) async fn get(host: &ChildHost, path: &str) -> (u16, String) {
    let r = client().get(host.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

pub(crate) struct App {
    pub(crate) dir: tempfile::TempDir,
}

impl App {
    pub(crate) fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wharf.toml"), manifest).unwrap();
        Self { dir }
    }

    pub(crate) fn data(&self, name: &str) -> std::path::PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

fn embedded_app() -> (App, BTreeMap<&'static str, std::path::PathBuf>) {
    let staging = App::new("");
    let dirs: BTreeMap<&str, _> = ["audit-a", "audit-b", "dead"]
        .into_iter()
        .map(|n| (n, staging.data(n)))
        .collect();
    let manifest = [
        svc(
            "front",
            "routes = [\"/...\"]\npublish = [\"orders.>\", \"inventory.check\", \"work.>\", \"nobody.>\"]",
            None,
        ),
        svc(
            "audit-a",
            "subscriptions = [{ topic = \"orders.created\" }]",
            Some(&dirs["audit-a"]),
        ),
        svc(
            "audit-b",
            "subscriptions = [{ topic = \"orders.*\" }]",
            Some(&dirs["audit-b"]),
        ),
        svc("checker", "subscriptions = [{ topic = \"inventory.check\" }]", None),
        svc(
            "flaky",
            "subscriptions = [{ topic = \"work.fail\", retries = 2 }, { topic = \"work.trap\", retries = 1 }]",
            None,
        ),
        svc(
            "dead",
            "subscriptions = [{ topic = \"work.*.dlq\" }]",
            Some(&dirs["dead"]),
        ),
    ]
    .concat();
    std::fs::write(staging.dir.path().join("wharf.toml"), manifest).unwrap();
    (staging, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_fan_out_request_reply_grants_and_dead_letters() {
    let (app, dirs) = embedded_app();
    let host = ChildHost::start(app.dir.path(), &[]);

    // Fan-out: every subscribing service gets the message.
    assert_eq!(
        get(&host, "/publish?topic=orders.created&body=o1").await,
        (200, "published\n".to_string())
    );
    eventually(10, "both audit services", || {
        received(&dirs["audit-a"]) == ["orders.created o1"]
            && received(&dirs["audit-b"]) == ["orders.created o1"]
    })
    .await;

    // Request/reply.
    assert_eq!(
        get(&host, "/request?topic=inventory.check&body=sku-1").await,
        (200, "reply:sku-1".to_string())
    );
    // No responder: a clear error, at once.
    let started = Instant::now();
    let (status, body) = get(&host, "/request?topic=nobody.home&body=x&timeout=5000").await;
    assert_eq!(status, 502);
    assert!(body.contains("no responders"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A responder that never answers: the request times out.
    let started = Instant::now();
    let (status, body) = get(&host, "/request?topic=work.fail&body=x&timeout=300").await;
    assert_eq!(status, 502);
    assert!(
        body.contains("no reply") && body.contains("within 300ms"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // Outside the grant: refused, and nothing published.
    let (status, body) = get(&host, "/publish?topic=payments.done&body=x").await;
    assert_eq!(status, 502);
    assert!(body.contains("not granted"), "{body}");

    // A failing handler is retried, then dead-lettered with the error.
    assert_eq!(get(&host, "/publish?topic=work.fail&body=w1").await.0, 200);
    assert_eq!(get(&host, "/publish?topic=work.trap&body=w2").await.0, 200);
    eventually(20, "dead letters", || {
        let dead = received(&dirs["dead"]);
        dead.contains(&"work.fail.dlq w1".to_string())
            && dead.contains(&"work.trap.dlq w2".to_string())
    })
    .await;
    let retried = metric(
        &host,
        "wharf_messages_total{outcome=\"retried\",service=\"flaky\",subscription=\"work.fail\"}",
    )
    .await;
    // Two retries for w1 (and one for the timed-out request above).
    assert!(retried >= 2.0, "{retried}");
    let dead = metric(
        &host,
        "wharf_messages_total{outcome=\"dead_lettered\",service=\"flaky\",subscription=\"work.trap\"}",
    )
    .await;
    assert_eq!(dead, 1.0);
    let log = host.stderr();
    assert!(
        log.contains("message dead-lettered") && log.contains("failing on purpose"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_group_across_two_hosts_on_nats_handles_each_message_once() {
    let nats = nats_server::NatsServer::start();
    let staging = App::new("");
    let dirs: Vec<_> = (1..=3).map(|i| staging.data(&format!("w{i}"))).collect();
    let worker = |name: &str, dir: &Path| {
        svc(
            name,
            "subscriptions = [{ topic = \"jobs.*\", queue_group = \"workers\", max_in_flight = 32 }]",
            Some(dir),
        )
    };
    // Host A runs two members of the group, host B the third: two hosts
    // of one app (`jobs`), so in one namespace on the broker.
    let named = "[app]\nname = \"jobs\"\n";
    let app_a = App::new(
        &[
            named.to_owned(),
            worker("w1", &dirs[0]),
            worker("w2", &dirs[1]),
        ]
        .concat(),
    );
    let app_b = App::new(&[named.to_owned(), worker("w3", &dirs[2])].concat());
    let namespace = wharf_messaging::Namespace::for_app("jobs", None);
    let nats_args = ["--nats", nats.url.as_str()];
    let host_a = ChildHost::start(app_a.dir.path(), &nats_args);
    let host_b = ChildHost::start(app_b.dir.path(), &nats_args);

    let publisher = async_nats::connect(&nats.url).await.unwrap();
    for i in 0..1000 {
        publisher
            .publish(
                namespace.to_broker(&format!("jobs.{}", i % 7)),
                format!("{i}").into(),
            )
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();

    let all = || -> Vec<String> { dirs.iter().flat_map(|d| received(d)).collect() };
    eventually(60, "1000 handled messages", || all().len() >= 1000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = all();
    assert_eq!(lines.len(), 1000, "some message was handled twice");
    let mut ids: Vec<u32> = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    // Both hosts took part.
    assert!(!received(&dirs[2]).is_empty(), "host B handled nothing");
    assert!(
        !received(&dirs[0]).is_empty() || !received(&dirs[1]).is_empty(),
        "host A handled nothing"
    );
    drop((host_a, host_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_over_nats_carry_the_error_in_their_headers() {
    let nats = nats_server::NatsServer::start();
    let app = App::new(&format!(
        "[app]\nname = \"flaky-app\"\n{}",
        svc(
            "flaky",
            "subscriptions = [{ topic = \"work.fail\", retries = 1 }]",
            None,
        )
    ));
    let _host = ChildHost::start(app.dir.path(), &["--nats", nats.url.as_str()]);
    // Outside clients use the app's namespaced subjects.
    let namespace = wharf_messaging::Namespace::for_app("flaky-app", None);
    let client = async_nats::connect(&nats.url).await.unwrap();
    let mut dead = client
        .subscribe(namespace.to_broker("work.fail.dlq"))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("x-request-id", "req-77");
    client
        .publish_with_headers(namespace.to_broker("work.fail"), headers, "payload".into())
        .await
        .unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(20), futures::StreamExt::next(&mut dead))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&letter.payload[..], b"payload");
    let headers = letter.headers.unwrap();
    let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(
        header("wharf-original-subject").as_deref(),
        Some("work.fail")
    );
    assert_eq!(header("wharf-attempts").as_deref(), Some("2"));
    assert!(
        header("wharf-error")
            .unwrap()
            .contains("failing on purpose")
    );
    // Metadata travels end to end.
    assert_eq!(header("x-request-id").as_deref(), Some("req-77"));
}

/// Publish→handle throughput through a real host: one request publishes
/// `N` messages; a subscriber service handles each in a fresh instance.
/// Messages per second from the first publish until the last is handled,
/// on the embedded broker and on NATS, in the same run. A measurement, not
/// a check: `cargo test -p wharf --release --test all -- --ignored
/// messaging::publish_to_handle_throughput --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; run on demand"]
async fn publish_to_handle_throughput() {
    const N: u32 = 20_000;
    let nats = nats_server::NatsServer::start();
    let manifest = [
        svc("front", "routes = [\"/...\"]\npublish = [\"load.>\"]", None),
        svc(
            "sink",
            "subscriptions = [{ topic = \"load.*\", max_in_flight = 64 }]",
            None,
        ),
    ]
    .concat();
    let mut results = Vec::new();
    for (label, extra) in [
        ("embedded", vec![]),
        ("nats", vec!["--nats", nats.url.as_str()]),
    ] {
        let app = App::new(&manifest);
        let host = ChildHost::start_with_env(app.dir.path(), &extra, &[("RUST_LOG", "warn")]);
        let handled =
            "wharf_messages_total{outcome=\"handled\",service=\"sink\",subscription=\"load.*\"}";
        let started = Instant::now();
        let (status, body) = get(&host, &format!("/burst?topic=load.x&n={N}")).await;
        assert_eq!(status, 200, "{body}");
        let deadline = Instant::now() + Duration::from_secs(300);
        while metric(&host, handled).await < f64::from(N) {
            assert!(Instant::now() < deadline, "not all handled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        results.push((label, f64::from(N) / secs));
    }
    for (label, rate) in &results {
        println!(
            "publish→handle, {label}: {rate:.0} messages/s ({N} messages, fresh instance each)"
        );
    }
}
