//! The SDK end to end through a real host: query decoding, headers, JSON,
//! streamed responses, handler errors and guest output in the host log.

use serde_json::{Value, json};
use wharf_test_artifacts as art;

use crate::common::{ChildHost, InProcessHost, client, service};
use crate::outbound::wait_for_log;

async fn sdk_host() -> (InProcessHost, crate::common::TestApp) {
    InProcessHost::start(&service("sdk", art::SDK_FEATURES_COMPONENT, &["/..."])).await
}

#[tokio::test]
async fn reads_query_headers_and_json() {
    let (host, _app) = sdk_host().await;
    let client = client();
    let r = client
        .get(host.url("/query?a=hello%20world&b=%E2%9C%93"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "a=hello world b=\u{2713}\n");
    let r = client
        .get(host.url("/header"))
        .header("X-Test", "v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "v1");
    let r = client
        .post(host.url("/echo-json"))
        .json(&json!({"k": [1, 2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"method": "POST", "received": {"k": [1, 2]}})
    );
    let r = client
        .post(host.url("/echo-json"))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn streams_a_response_body_chunked() {
    let (host, _app) = sdk_host().await;
    let size = 5 * 1024 * 1024 + 3;
    let r = client()
        .get(host.url(&format!("/stream?size={size}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), size);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

#[tokio::test]
async fn a_handler_error_is_a_500_and_is_logged_with_tags() {
    let host = ChildHost::start(std::path::Path::new(art::SDK_FEATURES_COMPONENT), &[]);
    let client = client();
    let r = client
        .get(host.url("/fail"))
        .header("x-request-id", "req-fail-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), "internal error\n");
    let line = wait_for_log(&host, "deliberate failure from sdk_features").await;
    assert!(
        line.contains("sdk-features"),
        "tagged with the service: {line}"
    );
    assert!(
        line.contains("req-fail-1"),
        "tagged with the request id: {line}"
    );
    assert!(line.contains("stderr"), "{line}");

    let r = client.get(host.url("/print")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "printed\n");
    let line = wait_for_log(&host, "line from sdk_features").await;
    assert!(line.contains("stdout"), "{line}");
    // A last line without a newline is still logged when the instance ends.
    wait_for_log(&host, "unterminated stderr line").await;
}
