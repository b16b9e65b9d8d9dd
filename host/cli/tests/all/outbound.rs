//! Outbound HTTP from a guest: allowed only to granted origins. A denied
//! request never reaches the network (the upstream sees zero hits), the
//! guest gets an error it can report, and the host logs the denial.

use wharf_test_artifacts as art;

use crate::common::{ChildHost, InProcessHost, Recorder, TestApp, client, service};

#[tokio::test]
async fn a_granted_origin_is_reachable() {
    let upstream = Recorder::start("upstream says hi").await;
    let origin = upstream.origin.clone();
    let manifest = format!(
        "{}\noutbound = [{origin:?}]\n",
        service("fetcher", art::SDK_FEATURES_COMPONENT, &["/..."]).trim_end()
    );
    let (host, _app) = InProcessHost::start(&manifest).await;
    let response = client()
        .get(host.url(&format!("/fetch?url={origin}/hello")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "status=200\nupstream says hi"
    );
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn an_ungranted_origin_is_denied_before_it_leaves_the_host() {
    let upstream = Recorder::start("upstream says hi").await;
    let origin = upstream.origin.clone();
    let other_origin = Recorder::start("other").await.origin;
    // Granted a different port on the same host: still denied.
    let manifest = format!(
        "{}\noutbound = [{other_origin:?}]\n",
        service("fetcher", art::SDK_FEATURES_COMPONENT, &["/..."]).trim_end()
    );
    let app = TestApp::new(&manifest);
    let host = ChildHost::start(app.dir.path(), &[]);
    let response = client()
        .get(host.url(&format!("/fetch?url={origin}/secret")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(body.starts_with("error:"), "{body}");
    assert!(body.contains("denied") || body.contains("Denied"), "{body}");
    assert_eq!(upstream.count(), 0, "the upstream saw no request");
    // The host logs the denial with the service's name.
    let log = wait_for_log(&host, "outbound request denied").await;
    assert!(log.contains("fetcher"), "{log}");
}

#[tokio::test]
async fn no_grant_means_no_outbound_at_all() {
    let upstream = Recorder::start("upstream says hi").await;
    let origin = upstream.origin.clone();
    let (host, _app) =
        InProcessHost::start(&service("fetcher", art::SDK_FEATURES_COMPONENT, &["/..."])).await;
    let response = client()
        .get(host.url(&format!("/fetch?url={origin}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(upstream.count(), 0);
}

/// Waits (bounded) for a log line containing `needle`; returns that line.
pub async fn wait_for_log(host: &ChildHost, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(line) = host.stderr().lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no log line contains {needle:?}; log:\n{}", host.stderr());
}
