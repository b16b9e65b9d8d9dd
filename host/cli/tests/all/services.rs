//! Service-to-service HTTP: a service calls another of the same app at
//! `http://<name>.internal/...` through the standard outgoing handler. The
//! call is dispatched in-process to a fresh instance of the target, needs
//! the same grant as any outbound origin, carries the request ID and trace
//! context, and ends with the caller's timeout.

use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, service};

/// `gateway` (sdk_features) with `outbound`, `inventory` (sdk_features)
/// and `sleepy` (http_sleep).
fn app(outbound: &[&str], gateway_limits: &str) -> String {
    let outbound: Vec<String> = outbound.iter().map(|o| format!("{o:?}")).collect();
    format!(
        "{}\noutbound = [{}]\n{gateway_limits}\n{}{}",
        service("gateway", art::SDK_FEATURES_COMPONENT, &["/..."]).trim_end_matches('\n'),
        outbound.join(", "),
        service(
            "inventory",
            art::SDK_FEATURES_COMPONENT,
            &["/inventory/..."]
        ),
        service("sleepy", art::HTTP_SLEEP_COMPONENT, &["/sleepy/..."]),
    )
}

async fn fetch(host: &InProcessHost, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = client().get(host.url(&format!("/fetch?url={}", encode(url))));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_granted_service_is_called_in_process_with_the_request_context() {
    let (host, _app) = InProcessHost::start(&app(&["http://inventory.internal"], "")).await;
    let (status, body) = fetch(
        &host,
        "http://inventory.internal/header?name=x-request-id",
        &[("x-request-id", "chain-42")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "status=200\nchain-42"));

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, body) = fetch(
        &host,
        "http://inventory.internal/header?name=traceparent",
        &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains(trace_id),
        "the callee did not see the trace: {body}"
    );

    // The callee ran as its own service: it is counted under its name.
    let metrics = host.metrics.render().unwrap();
    assert!(
        metrics.contains("wharf_http_requests_total{method=\"GET\",service=\"inventory\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_service_without_the_grant_is_refused() {
    let (host, _app) = InProcessHost::start(&app(&["http://sleepy.internal"], "")).await;
    let (status, body) = fetch(&host, "http://inventory.internal/header", &[]).await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let metrics = host.metrics.render().unwrap();
    assert!(
        metrics.contains("wharf_outbound_denied_total{grant=\"http\",service=\"gateway\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unknown_service_is_a_clear_error() {
    let (host, _app) = InProcessHost::start(&app(&["http://nowhere.internal"], "")).await;
    let (status, body) = fetch(&host, "http://nowhere.internal/x", &[]).await;
    assert_eq!(status, 502);
    assert!(body.to_lowercase().contains("destination"), "{body}");
}

#[tokio::test]
async fn the_callers_timeout_ends_the_call() {
    let limits = "[service.gateway.limits]\ntimeout = \"1s\"\n";
    let (host, _app) = InProcessHost::start(&app(&["http://sleepy.internal"], limits)).await;
    let started = Instant::now();
    let (status, _) = fetch(&host, "http://sleepy.internal/sleep?ms=10000", &[]).await;
    assert_eq!(status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
