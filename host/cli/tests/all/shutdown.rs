//! Graceful shutdown: stop accepting, let in-flight requests finish, exit 0.

use std::time::Duration;

use wharf_test_artifacts as art;

use crate::common::{ChildHost, InProcessHost, client, service};

#[tokio::test]
async fn in_process_shutdown_lets_an_in_flight_request_finish() {
    let (mut host, _app) =
        InProcessHost::start(&service("sleep", art::HTTP_SLEEP_COMPONENT, &["/..."])).await;
    let client = client();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = host.url("/sleep?ms=1500");
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let server = host.begin_shutdown();
    assert_eq!(in_flight.await.unwrap(), "slept 1500\n");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server drains and returns")
        .unwrap()
        .unwrap();
    // Nobody is listening any more.
    let fresh = reqwest::Client::new();
    assert!(fresh.get(host.url("/sleep?ms=1")).send().await.is_err());
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_zero() {
    let mut host = ChildHost::start(std::path::Path::new(art::HTTP_SLEEP_COMPONENT), &[]);
    let in_flight = tokio::spawn({
        let url = host.url("/sleep?ms=1500");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    host.terminate();
    assert_eq!(in_flight.await.unwrap(), "slept 1500\n");
    let status = tokio::task::spawn_blocking(move || {
        let status = host.child.wait().unwrap();
        (status, host)
    })
    .await
    .unwrap()
    .0;
    assert_eq!(status.code(), Some(0));
}
