//! Instance reuse (`limits.instance_reuse`): off by default; when a service
//! opts in, one instance serves at most that many requests of that service,
//! and only after requests that ended cleanly.
//!
//! The `http_counter` guest answers with the number of requests its instance
//! has served, so each test reads reuse off the response bodies.

use std::time::Duration;

use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, fetch};

fn counter(name: &str, route: &str, reuse: Option<u32>) -> String {
    let limits = reuse
        .map(|n| format!("\n[service.{name}.limits]\ninstance_reuse = {n}\n"))
        .unwrap_or_default();
    format!(
        "[service.{name}]\ncomponent = {:?}\nroutes = [\"{route}\"]\nversion = \"1.0.0\"\n{limits}\n",
        art::HTTP_COUNTER_COMPONENT
    )
}

async fn count(client: &reqwest::Client, url: &str) -> String {
    let (status, body) = fetch(client, url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    String::from_utf8(body.to_vec()).unwrap().trim().to_owned()
}

#[tokio::test]
async fn every_request_gets_a_fresh_instance_by_default() {
    // Every request gets a fresh instance unless the service says otherwise.
    let (host, _app) = InProcessHost::start(&counter("c", "/...", None)).await;
    let client = client();
    for _ in 0..5 {
        assert_eq!(count(&client, &host.url("/")).await, "1");
    }
    let reuses = host
        .metrics
        .instance_reuses
        .with_label_values(&["c", "1.0.0"]);
    assert_eq!(reuses.get(), 0);
}

#[tokio::test]
async fn a_reused_instance_serves_at_most_instance_reuse_requests() {
    let (host, _app) = InProcessHost::start(&counter("c", "/...", Some(3))).await;
    let client = client();
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(count(&client, &host.url("/")).await);
    }
    assert_eq!(seen, ["1", "2", "3", "1", "2", "3", "1", "2", "3"]);
    let sv = ["c", "1.0.0"];
    assert_eq!(host.metrics.instance_reuses.with_label_values(&sv).get(), 6);
    assert_eq!(host.metrics.instantiations.with_label_values(&sv).get(), 3);
}

#[tokio::test]
async fn a_trap_or_a_leaked_resource_ends_the_instance() {
    let (host, _app) = InProcessHost::start(&counter("c", "/...", Some(100))).await;
    let client = client();
    assert_eq!(count(&client, &host.url("/")).await, "1");
    assert_eq!(count(&client, &host.url("/")).await, "2");
    let (status, _) = fetch(&client, &host.url("/?trap")).await;
    assert_eq!(status, 500);
    // The trapped instance is gone: a fresh one starts counting again.
    assert_eq!(count(&client, &host.url("/")).await, "1");
    assert_eq!(count(&client, &host.url("/?leak")).await, "2");
    // It left a resource open, so it is not reused either.
    assert_eq!(count(&client, &host.url("/")).await, "1");
    assert_eq!(count(&client, &host.url("/")).await, "2");
}

#[tokio::test]
async fn instances_are_never_shared_between_services() {
    let manifest = counter("a", "/a/...", Some(100)) + &counter("b", "/b/...", Some(100));
    let (host, _app) = InProcessHost::start(&manifest).await;
    let client = client();
    for expected in ["1", "2", "3"] {
        assert_eq!(count(&client, &host.url("/a/")).await, expected);
        assert_eq!(count(&client, &host.url("/b/")).await, expected);
    }
}

#[tokio::test]
async fn idle_instances_are_dropped_after_the_idle_timeout() {
    let (host, _app) = InProcessHost::start(&counter("c", "/...", Some(100))).await;
    let client = client();
    assert_eq!(count(&client, &host.url("/")).await, "1");
    assert_eq!(count(&client, &host.url("/")).await, "2");
    tokio::time::sleep(wharf_core::reuse::IDLE_TIMEOUT + Duration::from_millis(600)).await;
    assert_eq!(count(&client, &host.url("/")).await, "1");
}

#[tokio::test]
async fn concurrent_requests_never_share_an_instance() {
    // 32 requests at once on a reusing service: each body is a count, and
    // no instance may run two requests at once, so every count from 1 up is
    // seen at most as often as there are instances, and all succeed.
    let (host, _app) = InProcessHost::start(&counter("c", "/...", Some(1000))).await;
    let client = client();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = client.clone();
        let url = host.url("/");
        tasks.push(tokio::spawn(async move { count(&client, &url).await }));
    }
    let mut counts: Vec<u32> = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().parse().unwrap());
    }
    let sv = ["c", "1.0.0"];
    let instances = host.metrics.instantiations.with_label_values(&sv).get();
    // Instance k's i-th request answers i: the answers are exactly the
    // multiset {1..=n_k for each instance k}, so there are as many 1s as
    // instances and the counts add up.
    let ones = counts.iter().filter(|&&c| c == 1).count() as u64;
    assert_eq!(ones, instances, "counts: {counts:?}");
    let reuses = host.metrics.instance_reuses.with_label_values(&sv).get();
    assert_eq!(instances + reuses, 32);
}
