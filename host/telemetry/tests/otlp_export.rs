//! End-to-end span export: `Telemetry::otlp` against a fake OTLP/HTTP
//! collector on loopback, decoding what arrives the way a real collector
//! would (`opentelemetry-proto`'s `ExportTraceServiceRequest`).
// Test helpers outside `#[test]` fns are not covered by clippy.toml.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;
use tokio::net::TcpListener;
use wharf_telemetry::{TRACEPARENT, TRACESTATE, Telemetry, TraceContext};

const INCOMING_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING_PARENT_ID: &str = "00f067aa0ba902b7";

/// One POST the collector received.
#[derive(Debug)]
struct Post {
    path: String,
    content_type: Option<String>,
    body: Bytes,
}

/// A fake OTLP/HTTP collector: records every request and answers 200 with
/// an empty (valid) `ExportTraceServiceResponse`, optionally after a delay.
struct Collector {
    addr: SocketAddr,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Collector {
    async fn start() -> Self {
        Self::start_with_delay(Duration::ZERO).await
    }

    /// Records each request as soon as its body is in, then waits `delay`
    /// before answering.
    async fn start_with_delay(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&posts);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let recorded = Arc::clone(&recorded);
                        async move {
                            let path = request.uri().path().to_owned();
                            let content_type = request
                                .headers()
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            recorded.lock().unwrap().push(Post {
                                path,
                                content_type,
                                body,
                            });
                            tokio::time::sleep(delay).await;
                            let response = Response::builder()
                                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, posts }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn post_count(&self) -> usize {
        self.posts.lock().unwrap().len()
    }

    fn take_posts(&self) -> Vec<Post> {
        std::mem::take(&mut *self.posts.lock().unwrap())
    }
}

/// Every span in every recorded request, with its request decoded.
fn decode(posts: &[Post]) -> Vec<ExportTraceServiceRequest> {
    posts
        .iter()
        .map(|post| ExportTraceServiceRequest::decode(post.body.clone()).unwrap())
        .collect()
}

fn spans(requests: &[ExportTraceServiceRequest]) -> Vec<&Span> {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attributes.iter().find(|kv| kv.key == key)?.value.as_ref()? {
        AnyValue {
            value: Some(Value::StringValue(s)),
        } => Some(s),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attributes.iter().find(|kv| kv.key == key)?.value.as_ref()? {
        AnyValue {
            value: Some(Value::IntValue(i)),
        } => Some(*i),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn incoming(traceparent: &str, tracestate: Option<&str>) -> TraceContext {
    let mut headers = HeaderMap::new();
    headers.insert(TRACEPARENT, HeaderValue::from_str(traceparent).unwrap());
    if let Some(tracestate) = tracestate {
        headers.insert(TRACESTATE, HeaderValue::from_str(tracestate).unwrap());
    }
    TraceContext::from_request_headers(&headers)
}

/// The collector runs on this test's runtime while `shutdown` blocks a
/// thread, so the runtime needs a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_span_carries_the_propagated_ids_status_and_resource() {
    let collector = Collector::start().await;
    let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();
    assert!(telemetry.is_enabled());

    let ctx = incoming(
        &format!("00-{INCOMING_TRACE_ID}-{INCOMING_PARENT_ID}-01"),
        Some("congo=t61rcWkgMzE"),
    );
    let mut span = telemetry.start_span(&ctx, "GET /hello");
    span.set_attribute("wharf.service", "hello");
    span.end(503);
    telemetry.shutdown();

    let posts = collector.take_posts();
    assert_eq!(posts.len(), 1, "one batch: {posts:?}");
    assert_eq!(posts[0].path, "/v1/traces");
    assert_eq!(
        posts[0].content_type.as_deref(),
        Some("application/x-protobuf")
    );

    let requests = decode(&posts);
    let spans = spans(&requests);
    assert_eq!(spans.len(), 1);
    let span = spans[0];

    // The exported span is the one the host propagated outbound.
    assert_eq!(hex(&span.trace_id), INCOMING_TRACE_ID);
    assert_eq!(hex(&span.trace_id), ctx.trace_id_hex());
    assert_eq!(hex(&span.span_id), ctx.span_id_hex());
    assert_eq!(hex(&span.parent_span_id), INCOMING_PARENT_ID);
    assert!(ctx.traceparent().contains(&hex(&span.span_id)));
    assert_eq!(span.trace_state, "congo=t61rcWkgMzE");

    assert_eq!(span.name, "GET /hello");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    assert!(span.start_time_unix_nano > 0);
    assert_eq!(
        string_attr(&span.attributes, "wharf.service"),
        Some("hello")
    );
    assert_eq!(
        int_attr(&span.attributes, "http.response.status_code"),
        Some(503)
    );
    assert_eq!(string_attr(&span.attributes, "error.type"), Some("503"));
    let status = span.status.as_ref().expect("status is set");
    assert_eq!(status.code, StatusCode::Error as i32);

    let resource = requests[0].resource_spans[0]
        .resource
        .as_ref()
        .expect("resource is sent");
    assert_eq!(
        string_attr(&resource.attributes, "service.name"),
        Some("wharf-test")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_and_dropped_spans_are_not_errors() {
    let collector = Collector::start().await;
    let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();

    let root = TraceContext::new_root();
    telemetry.start_span(&root, "GET /ok").end(404);
    // Dropped without `end`, e.g. a cancelled request.
    drop(telemetry.start_span(&TraceContext::new_root(), "GET /cancelled"));
    telemetry.shutdown();

    let requests = decode(&collector.take_posts());
    let mut spans = spans(&requests);
    spans.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(spans.len(), 2);

    let cancelled = spans[0];
    assert_eq!(cancelled.name, "GET /cancelled");
    assert_eq!(
        int_attr(&cancelled.attributes, "http.response.status_code"),
        None
    );
    assert!(
        cancelled
            .status
            .as_ref()
            .is_none_or(|s| s.code == StatusCode::Unset as i32)
    );

    let ok = spans[1];
    assert_eq!(ok.name, "GET /ok");
    assert_eq!(hex(&ok.trace_id), root.trace_id_hex());
    assert_eq!(hex(&ok.span_id), root.span_id_hex());
    assert!(ok.parent_span_id.is_empty(), "a root span has no parent");
    assert_eq!(
        int_attr(&ok.attributes, "http.response.status_code"),
        Some(404)
    );
    assert!(
        ok.status
            .as_ref()
            .is_none_or(|s| s.code != StatusCode::Error as i32),
        "4xx is the client's error, not the server's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_with_a_path_is_used_as_the_traces_url() {
    let collector = Collector::start().await;
    let telemetry = Telemetry::otlp(
        &format!("{}/custom/traces", collector.endpoint()),
        "wharf-test",
    )
    .unwrap();
    telemetry
        .start_span(&TraceContext::new_root(), "GET /")
        .end(200);
    telemetry.shutdown();

    let posts = collector.take_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/custom/traces");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_request_is_not_exported() {
    let collector = Collector::start().await;
    let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();

    let ctx = incoming(
        &format!("00-{INCOMING_TRACE_ID}-{INCOMING_PARENT_ID}-00"),
        None,
    );
    telemetry.start_span(&ctx, "GET /").end(200);
    telemetry.shutdown();

    assert!(collector.take_posts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_exporter_and_shutdown_is_idempotent() {
    let collector = Collector::start().await;
    let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();
    let clone = telemetry.clone();

    clone.start_span(&TraceContext::new_root(), "a").end(200);
    telemetry
        .start_span(&TraceContext::new_root(), "b")
        .end(200);
    telemetry.shutdown();
    clone.shutdown();
    // Ended after shutdown: discarded, not an error.
    clone.start_span(&TraceContext::new_root(), "late").end(200);

    let requests = decode(&collector.take_posts());
    let mut names: Vec<_> = spans(&requests).iter().map(|s| s.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
}

/// `shutdown` blocks its thread; the exporter has its own runtime, so even
/// a current-thread runtime (the `#[tokio::test]` default) cannot deadlock it.
#[test]
fn shutdown_inside_a_current_thread_runtime_still_flushes() {
    let collector_runtime = tokio::runtime::Runtime::new().unwrap();
    let collector = collector_runtime.block_on(Collector::start());
    let app_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    app_runtime.block_on(async {
        let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();
        telemetry
            .start_span(&TraceContext::new_root(), "GET /")
            .end(200);
        telemetry.shutdown();
    });
    assert_eq!(spans(&decode(&collector.take_posts())).len(), 1);
}

/// A collector that accepts connections but never answers must not hold
/// up the host's exit for longer than the documented bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_the_collector_never_answers() {
    // Bound but never accepted: the kernel completes the handshake and the
    // request sits unread.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let telemetry = Telemetry::otlp(&endpoint, "wharf-test").unwrap();
    telemetry
        .start_span(&TraceContext::new_root(), "GET /")
        .end(200);

    let started = Instant::now();
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited <= Duration::from_millis(5500), "{waited:?}");
    drop(silent);
}

/// Shutdown while a batch is on the wire lets that export finish, then
/// flushes what was queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_export_in_flight_then_flushes_the_rest() {
    let collector = Collector::start_with_delay(Duration::from_millis(1000)).await;
    let telemetry = Telemetry::otlp(&collector.endpoint(), "wharf-test").unwrap();

    telemetry
        .start_span(&TraceContext::new_root(), "first")
        .end(200);
    // The periodic export picks it up; the collector then holds the answer.
    let waiting = Instant::now();
    while collector.post_count() == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(5), "no export");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    telemetry
        .start_span(&TraceContext::new_root(), "second")
        .end(200);
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let requests = decode(&collector.take_posts());
    let names: Vec<_> = spans(&requests).iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["first", "second"]);
}

#[test]
fn disabled_telemetry_does_nothing() {
    let telemetry = Telemetry::disabled();
    assert!(!telemetry.is_enabled());

    let ctx = TraceContext::new_root();
    let mut span = telemetry.start_span(&ctx, "GET /");
    span.set_attribute("wharf.service", "hello");
    span.end(500);
    drop(telemetry.start_span(&ctx, "GET /dropped"));

    telemetry.shutdown();
    telemetry.shutdown();
    // Trace context still works without export.
    assert_eq!(ctx.traceparent().len(), 55);
}
