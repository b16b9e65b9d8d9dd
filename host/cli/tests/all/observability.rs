//! Metrics, trace context, admin API and span export, observed from the
//! outside: the `wharf` binary serves a known mix of traffic, and the test
//! scrapes `/metrics` over HTTP and parses it with a real Prometheus
//! text-format parser.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use wharf_test_artifacts as art;

use crate::common::{ChildHost, Recorder, TestApp, client, fetch, run_wharf_env};

use crate::common::ADMIN_TOKEN as TOKEN;

pub async fn scrape(host: &ChildHost) -> Scrape {
    let text = client()
        .get(host.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `metric` with exactly these labels (0 if absent). For a
/// histogram, its observation count.
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| s.labels.len() == labels.len())
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
        .unwrap_or(0.0)
}

fn series_count(scrape: &Scrape, metric: &str) -> usize {
    scrape.samples.iter().filter(|s| s.metric == metric).count()
}

fn traffic_app() -> TestApp {
    TestApp::new(&format!(
        "[service.hello]\ncomponent = {:?}\nroutes = [\"/hello/...\"]\nversion = \"1.0.0\"\n\n\
         [service.trap]\ncomponent = {:?}\nroutes = [\"/panic\"]\nversion = \"2\"\n\n\
         [service.spin]\ncomponent = {:?}\nroutes = [\"/spin/...\"]\nversion = \"3\"\n\n\
         [service.spin.limits]\ncpu_time = \"200ms\"\n\n\
         [service.slow]\ncomponent = {:?}\nroutes = [\"/sleep\"]\nversion = \"4\"\n\n\
         [service.slow.limits]\nmax_concurrent = 1\nmax_queued = 0\n",
        art::EXAMPLE_HELLO_COMPONENT,
        art::HTTP_TRAP_COMPONENT,
        art::HOSTILE_LOOP_COMPONENT,
        art::HTTP_SLEEP_COMPONENT,
    ))
}

#[tokio::test]
async fn metrics_count_a_known_mix_of_traffic_exactly() {
    let app = traffic_app();
    let host = ChildHost::start_with_env(app.dir.path(), &[], &[("WHARF_ADMIN_TOKEN", TOKEN)]);
    let client = client();
    let status = |url: String| {
        let client = client.clone();
        // Read every body to the end: a response dropped unread may never
        // have been sent, and its bytes would (rightly) not be counted.
        async move { fetch(&client, &url).await.0 }
    };
    for i in 0..5 {
        assert_eq!(status(host.url(&format!("/hello/{i}"))).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(status(host.url("/nowhere")).await, 404);
    }
    for _ in 0..2 {
        assert_eq!(status(host.url("/panic")).await, 500);
    }
    assert_eq!(status(host.url("/spin/")).await, 504);
    // One slow request holds the only slot; the next is turned away.
    let slow = tokio::spawn(status(host.url("/sleep?ms=1500")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(host.url("/sleep?ms=1")).await, 503);
    assert_eq!(slow.await.unwrap(), 200);

    // Responses are recorded when their bodies end; give the last one a
    // moment to be counted.
    let mut s = scrape(&host).await;
    for _ in 0..50 {
        if value(
            &s,
            "wharf_http_requests_total",
            &[
                ("service", "slow"),
                ("version", "4"),
                ("method", "GET"),
                ("status", "2xx"),
            ],
        ) == 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        s = scrape(&host).await;
    }
    let req = |svc, ver, status| {
        value(
            &s,
            "wharf_http_requests_total",
            &[
                ("service", svc),
                ("version", ver),
                ("method", "GET"),
                ("status", status),
            ],
        )
    };
    assert_eq!(req("hello", "1.0.0", "2xx"), 5.0);
    assert_eq!(req("unrouted", "", "4xx"), 3.0);
    assert_eq!(req("trap", "2", "5xx"), 2.0);
    assert_eq!(req("spin", "3", "5xx"), 1.0);
    assert_eq!(req("slow", "4", "2xx"), 1.0);
    assert_eq!(req("slow", "4", "5xx"), 1.0);
    assert_eq!(
        value(
            &s,
            "wharf_http_request_duration_seconds",
            &[
                ("service", "hello"),
                ("version", "1.0.0"),
                ("method", "GET")
            ]
        ),
        5.0
    );
    let ends = |svc, ver, reason| {
        value(
            &s,
            "wharf_instance_ends_total",
            &[("service", svc), ("version", ver), ("reason", reason)],
        )
    };
    assert_eq!(ends("hello", "1.0.0", "completed"), 5.0);
    assert_eq!(ends("trap", "2", "trap"), 2.0);
    assert_eq!(ends("spin", "3", "cpu_limit"), 1.0);
    assert_eq!(
        value(
            &s,
            "wharf_requests_rejected_total",
            &[("service", "slow"), ("reason", "queue_full")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_instantiations_total",
            &[("service", "hello"), ("version", "1.0.0")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_instantiation_duration_seconds",
            &[("service", "hello"), ("version", "1.0.0")]
        ),
        5.0
    );
    assert_eq!(
        value(&s, "wharf_instances_live", &[("service", "hello")]),
        0.0
    );
    assert_eq!(
        value(&s, "wharf_http_requests_in_flight", &[("service", "hello")]),
        0.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_http_response_body_bytes_total",
            &[("service", "hello"), ("version", "1.0.0")]
        ),
        5.0 * "Hello from Wharf!\n".len() as f64
    );
    assert_eq!(
        value(
            &s,
            "wharf_instance_peak_memory_bytes",
            &[("service", "hello"), ("version", "1.0.0")]
        ),
        5.0
    );
    assert_eq!(value(&s, "wharf_components_loaded", &[]), 4.0);
    assert_eq!(
        value(
            &s,
            "wharf_component_cache_requests_total",
            &[("result", "miss")]
        ),
        4.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_component_compile_duration_seconds",
            &[("service", "hello")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_pool_slots_capacity",
            &[("kind", "component_instances")]
        ),
        1000.0
    );
    assert_eq!(
        value(
            &s,
            "wharf_pool_slots_used",
            &[("kind", "component_instances")]
        ),
        0.0
    );
    assert_eq!(value(&s, "wharf_ready", &[]), 1.0);
    assert_eq!(
        value(
            &s,
            "wharf_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("wasmtime_version", "48.0.8")
            ]
        ),
        1.0
    );
    assert!(value(&s, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&s, "process_open_fds", &[]) > 0.0);
}

#[tokio::test]
async fn label_cardinality_stays_fixed_across_a_thousand_paths() {
    let app = traffic_app();
    let host = ChildHost::start_with_env(app.dir.path(), &[], &[("WHARF_ADMIN_TOKEN", TOKEN)]);
    let client = client();
    fetch(&client, &host.url("/hello/first")).await;
    fetch(&client, &host.url("/missing-first")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = scrape(&host).await;
    for i in 0..500 {
        fetch(&client, &host.url(&format!("/hello/item/{i}?q={i}"))).await;
        fetch(&client, &host.url(&format!("/missing/{i}"))).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = scrape(&host).await;
    assert_eq!(
        after.samples.len(),
        before.samples.len(),
        "new series appeared"
    );
    for metric in [
        "wharf_http_requests_total",
        "wharf_http_request_duration_seconds",
        "wharf_instance_ends_total",
    ] {
        assert_eq!(
            series_count(&after, metric),
            series_count(&before, metric),
            "{metric}"
        );
    }
    assert!(
        !after
            .samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains("item")))
    );
}

#[tokio::test]
async fn trace_context_and_request_id_propagate_to_outbound_calls() {
    let upstream = Recorder::start("ok").await;
    let origin = upstream.origin.clone();
    let app = TestApp::new(&format!(
        "[service.caller]\ncomponent = {:?}\nroutes = [\"/...\"]\noutbound = [{origin:?}]\n",
        art::SDK_FEATURES_COMPONENT
    ));
    let host = ChildHost::start_with_env(app.dir.path(), &[], &[("WHARF_ADMIN_TOKEN", TOKEN)]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let r = client()
        .get(host.url(&format!("/fetch?url={origin}/x")))
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .header("tracestate", "vendor=abc")
        .header("x-request-id", "req-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-trace-1");
    // Without a traceparent the host starts a trace of its own.
    let r = client()
        .get(host.url(&format!("/fetch?url={origin}/y")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let seen: Vec<http::HeaderMap> = upstream.requests().into_iter().map(|r| r.headers).collect();
    assert_eq!(seen.len(), 2);
    let tp = seen[0]["traceparent"].to_str().unwrap().to_string();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[1], trace_id, "same trace");
    assert_ne!(parts[2], parent, "a new span, the host's own");
    assert_ne!(parts[2], "0000000000000000");
    assert_eq!(seen[0]["tracestate"], "vendor=abc");
    assert_eq!(seen[0]["x-request-id"], "req-trace-1");
    let fresh = seen[1]["traceparent"].to_str().unwrap();
    assert!(
        fresh.starts_with("00-") && !fresh.contains(trace_id),
        "{fresh}"
    );
    assert!(seen[1].contains_key("x-request-id"));
}

#[tokio::test]
async fn admin_routes_need_the_token_except_health_and_metrics() {
    let app = traffic_app();
    let host = ChildHost::start_with_env(app.dir.path(), &[], &[("WHARF_ADMIN_TOKEN", TOKEN)]);
    let client = client();
    let get = |path: &str, token: Option<&str>| {
        let mut req = client.get(host.admin_url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
    assert_eq!(get("/readyz", None).await.unwrap().status(), 200);
    assert_eq!(get("/metrics", None).await.unwrap().status(), 200);
    assert_eq!(get("/v1/services", None).await.unwrap().status(), 401);
    assert_eq!(
        get("/v1/services", Some("wrong")).await.unwrap().status(),
        401
    );
    let listing: serde_json::Value = get("/v1/services", Some(TOKEN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // Listed by name, whatever order they were deployed in.
    assert_eq!(names, ["hello", "slow", "spin", "trap"]);
    // The public listener never serves admin routes.
    assert_eq!(
        client
            .get(host.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    fetch(&client, &host.url("/hello/x")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let admin = format!("http://{}", host.admin);
    let (code, stdout, stderr) =
        run_wharf_env(&["ps", "--admin", &admin], &[("WHARF_ADMIN_TOKEN", TOKEN)]);
    assert_eq!(code, 0, "{stderr}");
    let hello = stdout
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        hello.contains("1.0.0") && hello.contains("/hello/..."),
        "{hello}"
    );
    let (code, stdout, stderr) = run_wharf_env(
        &["ps", "--json", "--admin", &admin],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "{stderr}");
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let hello = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "hello")
        .unwrap();
    assert_eq!(hello["requests_total"], 1, "one request served: {hello}");
    assert_eq!(hello["state"], "ready");
    let (code, _, stderr) =
        run_wharf_env(&["ps", "--admin", &admin], &[("WHARF_ADMIN_TOKEN", "nope")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("refused the token"), "{stderr}");
}

#[tokio::test]
async fn metrics_can_also_be_served_on_a_separate_address() {
    let app = traffic_app();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let host = ChildHost::start_with_env(
        app.dir.path(),
        &["--metrics", &addr],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    let r = client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("wharf_build_info"));
    let r = client()
        .get(format!("http://{addr}/v1/services"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the metrics address serves no admin API");
    drop(host);
}

/// One request the fake collector received: path and body.
type Export = (String, Vec<u8>);

#[tokio::test]
async fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    let collector = Recorder::start("").await;
    let endpoint = collector.origin.clone();
    let app = traffic_app();
    let mut host = ChildHost::start_with_env(
        app.dir.path(),
        &["--otlp-endpoint", &endpoint],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let r = client()
        .get(host.url("/hello/span"))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    // Shutdown flushes the exporter.
    host.terminate();
    let status = tokio::task::spawn_blocking(move || host.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let bodies: Vec<Export> = collector
        .requests()
        .into_iter()
        .map(|r| (r.path, r.body))
        .collect();
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|(path, body)| path == "/v1/traces" && body.windows(16).any(|w| w == trace_bytes)),
        "no exported span carried the request's trace id ({} exports)",
        bodies.len()
    );
}

#[tokio::test]
async fn json_logs_carry_one_access_event_per_request() {
    let app = traffic_app();
    let host = ChildHost::start(app.dir.path(), &["--log-format", "json"]);
    let r = client()
        .get(host.url("/hello/json"))
        .header("x-request-id", "json-req-1")
        .send()
        .await
        .unwrap();
    r.bytes().await.unwrap();
    let line = crate::outbound::wait_for_log(&host, "json-req-1").await;
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    let fields = &event["fields"];
    assert_eq!(event["target"], "wharf::access");
    assert_eq!(fields["service"], "hello");
    assert_eq!(fields["version"], "1.0.0");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["path"], "/hello/json");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["response_bytes"], "Hello from Wharf!\n".len());
    assert!(fields["duration_us"].is_u64());
    assert_eq!(fields["complete"], true);
    assert!(fields["trace_id"].as_str().is_some_and(|t| t.len() == 32));
}

#[tokio::test]
async fn readiness_flips_to_ready_only_after_every_service_is_loaded() {
    use std::io::{BufRead as _, BufReader};
    // Enough distinct components that compiling them takes a noticeable
    // while (copies of one would compile once: the compiled-code cache).
    let components = [
        art::EXAMPLE_HELLO_COMPONENT,
        art::EXAMPLE_JSON_API_COMPONENT,
        art::EXAMPLE_HELLO_WASI_COMPONENT,
        art::HTTP_HELLO_COMPONENT,
        art::HTTP_CONFIG_COMPONENT,
        art::HTTP_ENV_COMPONENT,
        art::HTTP_SLEEP_COMPONENT,
        art::HTTP_STREAM_COMPONENT,
        art::HTTP_TRAP_COMPONENT,
        art::HTTP_WSTD_COMPONENT,
        art::SDK_FEATURES_COMPONENT,
        art::HOSTILE_LOOP_COMPONENT,
    ];
    let manifest: String = components
        .iter()
        .enumerate()
        .map(|(i, component)| {
            format!("[service.s{i}]\ncomponent = {component:?}\nroutes = [\"/s{i}/...\"]\n\n")
        })
        .collect();
    let app = TestApp::new(&manifest);
    let mut child = std::process::Command::new(crate::common::wharf_bin())
        .arg("up")
        .arg(app.dir.path())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env("WHARF_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let admin = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(url) = line.strip_prefix("Admin API on ") {
            break url.trim_end_matches('/').to_string();
        }
    };
    let before = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    let health = client()
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap();
    let serving = tokio::task::spawn_blocking(move || {
        let serving = lines.any(|l| l.is_ok_and(|l| l.starts_with("Serving ")));
        // Keep reading: the host prints its routes after the banner, and a
        // closed pipe would make that println fail (EPIPE) and the host exit.
        std::thread::spawn(move || lines.for_each(drop));
        serving
    })
    .await
    .unwrap();
    let after = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health.status(), 200, "alive while loading");
    assert_eq!(before.status(), 503, "not ready while services compile");
    assert!(serving);
    assert_eq!(after.status(), 200);
}
