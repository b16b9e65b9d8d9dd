//! The `examples/order-pipeline` app end to end (HTTP gateway →
//! service-to-service HTTP → request/reply and publish → message handlers),
//! on the embedded broker and across two hosts sharing a real
//! `nats-server`; and the SDK's messaging API (`sdk_messaging`). Every host
//! is a real `wharf up` process.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wharf_test_artifacts as art;

use crate::common::{ChildHost, TestApp, client, eventually, mentions, metric};

// `messaging.rs` loads the same file, but keeps its module private.
#[allow(clippy::duplicate_mod)]
#[path = "../../../messaging/tests/support/nats_server.rs"]
mod nats_server;

/// The example's services and the components built from them.
const SERVICES: &[(&str, &str)] = &[
    ("gateway", art::EXAMPLE_ORDER_PIPELINE_GATEWAY_COMPONENT),
    ("orders", art::EXAMPLE_ORDER_PIPELINE_ORDERS_COMPONENT),
    ("inventory", art::EXAMPLE_ORDER_PIPELINE_INVENTORY_COMPONENT),
    (
        "notifications",
        art::EXAMPLE_ORDER_PIPELINE_NOTIFICATIONS_COMPONENT,
    ),
];

/// The example's own `wharf.toml`, keeping only the services in `keep`,
/// each `component = { cargo = "services/<name>" }` replaced by the path of
/// the component the test artifacts built from that package. So the tests
/// run the example's real routes, grants and subscriptions.
fn example_manifest(keep: &[&str]) -> String {
    let path = Path::new(art::EXAMPLES_DIR).join("order-pipeline/wharf.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    // `None` before the first service table; then whether to keep it.
    let mut keeping: Option<bool> = None;
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("[service.")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            keeping = Some(keep.contains(&name));
        }
        if keeping == Some(false) {
            continue;
        }
        if let Some(dir) = line
            .strip_prefix("component = { cargo = \"services/")
            .and_then(|rest| rest.strip_suffix("\" }"))
        {
            let component = SERVICES
                .iter()
                .find(|(name, _)| *name == dir)
                .map(|(_, component)| *component)
                .unwrap_or_else(|| panic!("no test artifact for services/{dir}"));
            out.push_str(&format!("component = {component:?}\n"));
            continue;
        }
        assert!(
            !line.starts_with("component"),
            "unexpected component line in the example manifest: {line}"
        );
        out.push_str(line);
        out.push('\n');
    }
    for name in keep {
        assert!(
            out.contains(&format!("[service.{name}]")),
            "the example has no service `{name}`"
        );
    }
    out
}

/// `POST /shop/orders` with `order`; returns the status and JSON body.
async fn place_order(host: &ChildHost, order: &Value) -> (u16, Value) {
    let r = client()
        .post(host.url("/shop/orders"))
        .json(order)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.unwrap();
    (status, body)
}

/// Places an order, retrying while the inventory is not reachable yet
/// (`503`: on NATS, the other host's subscription may still be on its way
/// to the server).
async fn place_order_when_ready(host: &ChildHost, order: &Value) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = place_order(host, order).await;
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks a `201` answer and returns the order's ID.
fn created(status: u16, body: &Value, sku: &str, qty: u64) -> String {
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sku"], sku, "{body}");
    assert_eq!(body["qty"], qty, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ord-"), "{id}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_pipeline_runs_end_to_end_on_the_embedded_broker() {
    let app = TestApp::new(&example_manifest(&[
        "gateway",
        "orders",
        "inventory",
        "notifications",
    ]));
    let host = ChildHost::start(app.dir.path(), &[]);

    let (status, body) = place_order(&host, &json!({"sku": "widget", "qty": 2})).await;
    let id = created(status, &body, "widget", 2);
    // `orders.created` reaches both subscribers; their stdout is in the
    // host's log.
    let notification = format!("order {id} created: 2 x widget");
    let reservation = format!("reserved 2 x widget for order {id}");
    eventually(20, "the notification and the reservation", || {
        let log = host.stderr();
        log.contains(&notification) && log.contains(&reservation)
    })
    .await;
    let line = host
        .stderr()
        .lines()
        .find(|l| l.contains(&notification))
        .unwrap()
        .to_string();
    assert!(line.contains("notifications"), "tagged: {line}");
    assert!(line.contains("stdout"), "tagged: {line}");

    // More than in stock, or an unknown SKU: the inventory says no.
    let (status, body) = place_order(&host, &json!({"sku": "widget", "qty": 500})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "not enough stock");
    let (status, _) = place_order(&host, &json!({"sku": "unobtainium", "qty": 1})).await;
    assert_eq!(status, 409);
    // Bad input is refused by `orders` before any messaging.
    let (status, body) = place_order(&host, &json!({"sku": "widget"})).await;
    assert_eq!(status, 422, "{body}");

    // The gateway's routes only; `orders` is also reachable directly.
    let r = client().get(host.url("/shop/orders")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = client()
        .post(host.url("/orders"))
        .json(&json!({"sku": "gadget", "qty": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let handled = |service: &str, subscription: &str| {
        format!(
            "wharf_messages_total{{outcome=\"handled\",service=\"{service}\",subscription=\"{subscription}\"}}"
        )
    };
    eventually(10, "the second notification", || {
        host.stderr().contains("created: 3 x gadget")
    })
    .await;
    // Two accepted orders → two notifications; four checks (two accepted,
    // two refused). A delivery is counted just after its handler returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let notified = metric(&host, &handled("notifications", "orders.created")).await;
        let checked = metric(&host, &handled("inventory", "inventory.check")).await;
        if (notified, checked) == (2.0, 4.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "handled: {notified} notifications, {checked} checks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_pipeline_spans_two_hosts_sharing_nats() {
    let nats = nats_server::NatsServer::start();
    let nats_args = ["--nats", nats.url.as_str()];
    // Host A: the HTTP side. Host B: the message handlers.
    let app_a = TestApp::new(&example_manifest(&["gateway", "orders"]));
    let app_b = TestApp::new(&example_manifest(&["inventory", "notifications"]));
    let host_b = ChildHost::start(app_b.dir.path(), &nats_args);
    let host_a = ChildHost::start(app_a.dir.path(), &nats_args);

    let (status, body) = place_order_when_ready(&host_a, &json!({"sku": "gadget", "qty": 3})).await;
    let id = created(status, &body, "gadget", 3);
    let notification = format!("order {id} created: 3 x gadget");
    let reservation = format!("reserved 3 x gadget for order {id}");
    eventually(20, "the notification and the reservation on host B", || {
        let log = host_b.stderr();
        log.contains(&notification) && log.contains(&reservation)
    })
    .await;
    assert!(!host_a.stderr().contains(&notification));

    let (status, body) = place_order(&host_a, &json!({"sku": "gadget", "qty": 4})).await;
    assert_eq!(status, 409, "{body}");

    // Host B serves no HTTP route of the app.
    let r = client()
        .post(host_b.url("/shop/orders"))
        .json(&json!({"sku": "widget", "qty": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    drop((host_a, host_b));
}

/// Lines of `<dir>/received.log`.
fn received(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("received.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn get(host: &ChildHost, path: &str, request_id: &str) -> (u16, String) {
    let r = client()
        .get(host.url(path))
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_publishes_requests_replies_and_reads_metadata() {
    let data = tempfile::tempdir().unwrap();
    let app = TestApp::new(&format!(
        "[service.sdk-msg]\n\
         component = {:?}\n\
         routes = [\"/...\"]\n\
         publish = [\"sdk.>\"]\n\
         subscriptions = [\n\
         {{ topic = \"sdk.*\", retries = 0, dead_letter = \"dead.sdk\" }},\n\
         {{ topic = \"dead.sdk\" }},\n\
         ]\n\
         files = [{{ source = {:?}, path = \"/data\", mode = \"rw\" }}]\n",
        art::SDK_MESSAGING_COMPONENT,
        data.path()
    ));
    let host = ChildHost::start(app.dir.path(), &[]);
    let log = || received(data.path());

    // publish; the handler sees the publisher's request ID as metadata.
    assert_eq!(
        get(&host, "/publish?topic=sdk.hello&body=hi", "req-pub-1").await,
        (200, "published\n".to_string())
    );
    eventually(10, "the published message", || {
        log().contains(&"sdk.hello hi req-pub-1".to_string())
    })
    .await;
    assert_eq!(
        get(&host, "/publish-json?topic=sdk.pj&n=5", "req-pj-1").await,
        (200, "published\n".to_string())
    );
    eventually(10, "the JSON message", || {
        log().contains(&r#"sdk.pj {"n":5} req-pj-1"#.to_string())
    })
    .await;

    // request / reply.
    assert_eq!(
        get(&host, "/request?topic=sdk.ask&body=q", "req-ask-1").await,
        (200, "reply:q".to_string())
    );
    let (status, body) = get(&host, "/request-json?topic=sdk.json&n=41", "req-json-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"n": 42, "request_id": "req-json-1"})
    );

    // Errors are `wharf_sdk::Error::Messaging` with the host's reason.
    let (status, body) = get(&host, "/publish?topic=elsewhere.x&body=x", "r").await;
    assert_eq!(status, 502);
    assert!(
        body.starts_with("error: messaging failed:") && body.contains("not granted"),
        "{body}"
    );
    let (status, body) = get(&host, "/request?topic=sdk.no.one&body=x", "r").await;
    assert_eq!(status, 502);
    assert!(body.contains("no responders"), "{body}");

    // A handler `Err` is dead-lettered with the error in its metadata.
    assert_eq!(
        get(&host, "/publish?topic=sdk.fail&body=f", "req-fail-1")
            .await
            .0,
        200
    );
    eventually(20, "the dead letter", || {
        log().iter().any(|l| {
            l.starts_with("dead.sdk f req-fail-1 error=") && l.contains("failing on purpose")
        })
    })
    .await;
}

#[test]
fn sdk_components_import_messaging_only_when_they_use_it() {
    const CONSUMER: &str = "wasmcloud:messaging/consumer@0.2.0";
    const HANDLER: &str = "wasmcloud:messaging/handler@0.2.0";
    const CONTEXT: &str = "wharf:platform/message-context@0.1.0";
    const HTTP: &str = "wasi:http/incoming-handler@0.2.";
    // (component, [consumer, handler, message-context, HTTP handler])
    let cases = [
        (art::EXAMPLE_HELLO_COMPONENT, [false, false, false, true]),
        (art::EXAMPLE_JSON_API_COMPONENT, [false, false, false, true]),
        (art::SDK_FEATURES_COMPONENT, [false, false, false, true]),
        (
            art::EXAMPLE_ORDER_PIPELINE_GATEWAY_COMPONENT,
            [false, false, false, true],
        ),
        (
            art::EXAMPLE_ORDER_PIPELINE_ORDERS_COMPONENT,
            [true, false, false, true],
        ),
        (
            art::EXAMPLE_ORDER_PIPELINE_INVENTORY_COMPONENT,
            [true, true, true, false],
        ),
        (
            art::EXAMPLE_ORDER_PIPELINE_NOTIFICATIONS_COMPONENT,
            [false, true, true, false],
        ),
        (art::SDK_MESSAGING_COMPONENT, [true, true, true, true]),
    ];
    for (component, expected) in cases {
        let found = [CONSUMER, HANDLER, CONTEXT, HTTP].map(|i| mentions(component, i));
        assert_eq!(found, expected, "{component}");
    }
}
