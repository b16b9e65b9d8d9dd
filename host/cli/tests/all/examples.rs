//! The JSON API example: real work on valid input, precise 4xx on bad input,
//! and 200 concurrent requests each answered with its own result.

use serde_json::{Value, json};
use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, service};

async fn json_host() -> (InProcessHost, crate::common::TestApp) {
    InProcessHost::start(&service(
        "stats",
        art::EXAMPLE_JSON_API_COMPONENT,
        &["/api/..."],
    ))
    .await
}

#[tokio::test]
async fn json_api_computes_statistics() {
    let (host, _app) = json_host().await;
    let response = client()
        .post(host.url("/api/stats"))
        .json(&json!({"label": "t", "numbers": [3, 1, 2, 10]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["label"], "t");
    assert_eq!(body["count"], 4);
    assert_eq!(body["sum"], 16.0);
    assert_eq!(body["mean"], 4.0);
    assert_eq!(body["median"], 2.5);
    assert_eq!(body["min"], 1.0);
    assert_eq!(body["max"], 10.0);
    assert_eq!(body["sorted"], json!([1.0, 2.0, 3.0, 10.0]));
}

#[tokio::test]
async fn json_api_rejects_bad_input_with_the_right_4xx() {
    let (host, _app) = json_host().await;
    let client = client();
    let url = host.url("/api/stats");

    let r = client.post(&url).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("invalid JSON"));

    for bad in [
        json!({}),
        json!({"numbers": []}),
        json!({"numbers": [1, "x"]}),
    ] {
        let r = client.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string());
    }

    let many: Vec<u32> = (0..10_001).collect();
    let r = client
        .post(&url)
        .json(&json!({ "numbers": many }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");

    let r = client.get(host.url("/api/unknown")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "not found"})
    );
}

#[tokio::test]
async fn answers_200_concurrent_requests_each_with_its_own_result() {
    let (host, _app) = json_host().await;
    let client = client();
    let url = host.url("/api/stats");
    let requests = (0..200u32).map(|i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let numbers = [f64::from(i), f64::from(i) * 2.0, 1.0];
            let r = client
                .post(&url)
                .json(&json!({ "label": format!("req-{i}"), "numbers": numbers }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["label"], format!("req-{i}"));
            assert_eq!(body["sum"], f64::from(i) * 3.0 + 1.0);
        }
    });
    futures::future::join_all(requests).await;
}
