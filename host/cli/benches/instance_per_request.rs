//! In-process cost of one request on the instance-per-request path:
//! route + new store + instantiate from the pre-instantiated template +
//! `handle` + collect the response body + drop the instance. No network.
//! Cases: hello (SDK and plain `wasi` crate), hello with opt-in instance
//! reuse, JSON work, and a request that commits 1 MiB of heap.
//!
//! Run with `cargo bench -p wharf --bench instance_per_request`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty, Full};
use wharf_core::{Runtime, RuntimeConfig};
use wharf_http::HttpApp;
use wharf_manifest::Manifest;
use wharf_test_artifacts as art;

fn app(runtime: &Runtime, component: &str) -> Arc<HttpApp> {
    let manifest = Manifest::single_component(std::path::Path::new(component)).unwrap();
    wharf::app::load(runtime, manifest, wharf_telemetry::Telemetry::disabled())
        .unwrap()
        .http
}

fn bench(c: &mut Criterion) {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = std::sync::Arc::new(wharf_metrics::Metrics::new().unwrap());
    let runtime = Runtime::new(RuntimeConfig::default(), metrics).unwrap();

    let hello = app(&runtime, art::EXAMPLE_HELLO_COMPONENT);
    c.bench_function("hello (sdk): instantiate + handle + drop", |b| {
        b.to_async(&rt).iter(|| {
            let hello = hello.clone();
            async move {
                let req = http::Request::get("/")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let res = hello.handle(req).await;
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }
        })
    });

    let plain = app(&runtime, art::HTTP_HELLO_COMPONENT);
    c.bench_function("hello (wasi crate): instantiate + handle + drop", |b| {
        b.to_async(&rt).iter(|| {
            let plain = plain.clone();
            async move {
                let req = http::Request::get("/")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let res = plain.handle(req).await;
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }
        })
    });

    // The same component with `limits.instance_reuse = 128`: most requests
    // skip instantiation and the memory reset (the opt-in fast path).
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("wharf.toml");
    std::fs::write(
        &manifest_path,
        format!(
            "[service.hello]\ncomponent = {:?}\nroutes = [\"/...\"]\n\n\
             [service.hello.limits]\ninstance_reuse = 128\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let reused = {
        let _guard = rt.enter(); // the idle-instance sweeper runs on `rt`
        let manifest = Manifest::load(&manifest_path).unwrap();
        wharf::app::load(&runtime, manifest, wharf_telemetry::Telemetry::disabled())
            .unwrap()
            .http
    };
    c.bench_function("hello (wasi crate), instance_reuse = 128: handle", |b| {
        b.to_async(&rt).iter(|| {
            let reused = reused.clone();
            async move {
                let req = http::Request::get("/")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let res = reused.handle(req).await;
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }
        })
    });

    let json = app(&runtime, art::EXAMPLE_JSON_API_COMPONENT);
    let body = Bytes::from_static(br#"{"label":"bench","numbers":[5,3,9,1,7,2,8,6,4,10]}"#);
    c.bench_function("json-api: instantiate + parse + compute + drop", |b| {
        b.to_async(&rt).iter(|| {
            let json = json.clone();
            let body = body.clone();
            async move {
                let req = http::Request::post("/api/stats")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .unwrap();
                let res = json.handle(req).await;
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }
        })
    });

    // A request that commits 1 MiB of fresh heap (a write to every page):
    // what page faults and the pooling allocator's memory reset cost.
    let alloc = app(&runtime, art::HOSTILE_ALLOC_COMPONENT);
    c.bench_function("1 MiB heap: instantiate + touch 1 MiB + drop", |b| {
        b.to_async(&rt).iter(|| {
            let alloc = alloc.clone();
            async move {
                let req = http::Request::get("/some?mb=1")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let res = alloc.handle(req).await;
                assert_eq!(res.status(), 200);
                res.into_body().collect().await.unwrap();
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
