//! Outbound HTTP from a guest: allowed only to granted origins. A denied
//! request never reaches the network (the upstream sees zero hits), the
//! guest gets an error it can report, and the host logs the denial.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wharf_test_artifacts as art;

use crate::common::{ChildHost, InProcessHost, TestApp, client, service};

/// A loopback HTTP server that counts the requests it receives.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(
                            "upstream says hi",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (origin, hits)
}

#[tokio::test]
async fn a_granted_origin_is_reachable() {
    let (origin, hits) = upstream().await;
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
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_ungranted_origin_is_denied_before_it_leaves_the_host() {
    let (origin, hits) = upstream().await;
    let (other_origin, _) = upstream().await;
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
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the upstream saw no request"
    );
    // The host logs the denial with the service's name.
    let log = wait_for_log(&host, "outbound request denied").await;
    assert!(log.contains("fetcher"), "{log}");
}

#[tokio::test]
async fn no_grant_means_no_outbound_at_all() {
    let (origin, hits) = upstream().await;
    let (host, _app) =
        InProcessHost::start(&service("fetcher", art::SDK_FEATURES_COMPONENT, &["/..."])).await;
    let response = client()
        .get(host.url(&format!("/fetch?url={origin}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
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
