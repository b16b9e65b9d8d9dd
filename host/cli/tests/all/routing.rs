//! Routing: exact and prefix routes across several services, longest match
//! wins, and unmatched paths get a short 404.

use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, service};

#[tokio::test]
async fn routes_to_the_longest_match_and_404s_the_rest() {
    let manifest = [
        service("hello", art::EXAMPLE_HELLO_COMPONENT, &["/", "/hello/..."]),
        service("stats", art::EXAMPLE_JSON_API_COMPONENT, &["/api/..."]),
        service(
            "plain",
            art::EXAMPLE_HELLO_WASI_COMPONENT,
            &["/hello/plain/..."],
        ),
    ]
    .concat();
    let (host, _app) = InProcessHost::start(&manifest).await;
    let client = client();

    for (path, status, body_prefix) in [
        ("/", 200, "Hello from Wharf!\n"),
        ("/hello", 200, "Hello from Wharf!\n"),
        ("/hello/anything/deep", 200, "Hello from Wharf!\n"),
        (
            "/hello/plain",
            200,
            "Hello from a plain wasi:http component!\n",
        ),
        (
            "/hello/plain/x",
            200,
            "Hello from a plain wasi:http component!\n",
        ),
        ("/api/health", 200, "{"),
        ("/nope", 404, "not found\n"),
        ("/hellox", 404, "not found\n"),
        ("/apifoo", 404, "not found\n"),
    ] {
        let response = client.get(host.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "GET {path}");
        assert!(
            response.headers().contains_key("x-request-id"),
            "GET {path} has a request id"
        );
        let body = response.text().await.unwrap();
        assert!(body.starts_with(body_prefix), "GET {path}: body {body:?}");
    }
}

#[tokio::test]
async fn echoes_a_client_request_id_and_generates_one_otherwise() {
    let manifest = service("hello", art::EXAMPLE_HELLO_COMPONENT, &["/..."]);
    let (host, _app) = InProcessHost::start(&manifest).await;
    let client = client();
    let response = client
        .get(host.url("/"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let a = client.get(host.url("/")).send().await.unwrap();
    let b = client.get(host.url("/")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn serves_http2_cleartext_with_prior_knowledge() {
    let manifest = service("hello", art::EXAMPLE_HELLO_COMPONENT, &["/..."]);
    let (host, _app) = InProcessHost::start(&manifest).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client.get(host.url("/")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "Hello from Wharf!\n");
}

#[tokio::test]
async fn reuses_one_keep_alive_connection_for_many_requests() {
    // A single-connection pool: every request must go over the same socket,
    // which only works if the server keeps it alive.
    let manifest = service("hello", art::EXAMPLE_HELLO_COMPONENT, &["/..."]);
    let (host, _app) = InProcessHost::start(&manifest).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for _ in 0..20 {
        let response = client.get(host.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
}

#[tokio::test]
async fn a_request_without_host_is_a_400_not_a_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let manifest = service("hello", art::EXAMPLE_HELLO_COMPONENT, &["/..."]);
    let (host, _app) = InProcessHost::start(&manifest).await;
    let mut stream = tokio::net::TcpStream::connect(host.addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 400"), "{response}");
}

/// The guest runs inline in the request's task until it answers. A guest
/// that makes many host calls can use up that task's tokio budget, after
/// which polling the (already filled) answer channel says Pending; the
/// answer must still be taken, never turned into "no response". Driving
/// the app directly, as the in-process bench does, found this once every
/// hundred or so requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn every_answer_is_taken_even_when_the_guest_used_the_task_budget() {
    use http_body_util::BodyExt;

    let metrics = std::sync::Arc::new(wharf_metrics::Metrics::new().unwrap());
    let runtime = wharf_core::Runtime::new(wharf_core::RuntimeConfig::default(), metrics).unwrap();
    let manifest = wharf_manifest::Manifest::single_component(std::path::Path::new(
        wharf_test_artifacts::EXAMPLE_HELLO_COMPONENT,
    ))
    .unwrap();
    let app = wharf::app::load(&runtime, manifest, wharf_telemetry::Telemetry::disabled())
        .unwrap()
        .http;
    for i in 0..1000 {
        let req = http::Request::get("/")
            .header("host", "test")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let res = app.handle(req).await;
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            200,
            "request {i}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}
