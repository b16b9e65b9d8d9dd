//! A guest that traps or panics fails its own request with a 500; the host
//! and every other request go on.

use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, service};

#[tokio::test]
async fn a_trap_is_a_500_for_that_request_only() {
    let (host, _app) =
        InProcessHost::start(&service("trap", art::HTTP_TRAP_COMPONENT, &["/..."])).await;
    let client = client();
    for path in ["/panic", "/unreachable"] {
        let response = client.get(host.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 500, "GET {path}");
        let body = response.text().await.unwrap();
        // The client learns that it failed, not how.
        assert_eq!(body, "internal error\n");
        let ok = client.get(host.url("/ok")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), "ok\n");
    }
    let ends = |reason| {
        host.metrics
            .instance_ends
            .with_label_values(&["trap", "1.0.0", reason])
            .get()
    };
    assert_eq!((ends("trap"), ends("completed")), (2, 2));
}

#[tokio::test]
async fn a_panic_after_the_headers_aborts_the_body_and_the_host_goes_on() {
    let (host, _app) =
        InProcessHost::start(&service("trap", art::HTTP_TRAP_COMPONENT, &["/..."])).await;
    let client = client();
    let response = client.get(host.url("/after-headers")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // The body is cut short: either an error or a truncated body, never a
    // clean complete response that pretends all went well.
    if let Ok(body) = response.text().await {
        assert!(body.len() <= "partial".len(), "{body:?}");
    }
    let ok = client.get(host.url("/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn concurrent_traps_do_not_disturb_healthy_requests() {
    let (host, _app) =
        InProcessHost::start(&service("trap", art::HTTP_TRAP_COMPONENT, &["/..."])).await;
    let client = client();
    let tasks = (0..100).map(|i| {
        let client = client.clone();
        let url = host.url(if i % 2 == 0 { "/panic" } else { "/ok" });
        async move {
            let status = client.get(&url).send().await.unwrap().status();
            (i, status.as_u16())
        }
    });
    for (i, status) in futures::future::join_all(tasks).await {
        assert_eq!(status, if i % 2 == 0 { 500 } else { 200 });
    }
}
