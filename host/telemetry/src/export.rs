//! Optional OTLP export of one span per request.
//!
//! Spans are built directly as the SDK's [`SpanData`] rather than through a
//! tracer: the host has already chosen the span's id (it is on the wire in
//! `traceparent` before the span ends), and a tracer would mint its own.
//!
//! Ending a span only `try_send`s it into a bounded queue, so a slow or
//! absent collector never slows a request; when the queue is full, spans
//! are dropped and counted. A background thread with its own single-thread
//! tokio runtime drains the queue in batches into the official
//! `opentelemetry-otlp` exporter (OTLP/HTTP, protobuf). Owning the runtime
//! makes [`Telemetry::shutdown`] safe to call from anywhere — from async
//! code on any tokio runtime flavour, or after the host's runtime is gone —
//! without deadlocking on the runtime it would be blocking.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use http::Uri;
use hyper_rustls::HttpsConnectorBuilder;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use tokio::sync::{mpsc, oneshot};

use crate::TraceContext;

/// Spans waiting for export. At a few hundred bytes each this bounds the
/// memory a stalled collector can cost; past it, spans are dropped.
const QUEUE_CAPACITY: usize = 2048;

/// Most spans in one OTLP request (the SDK's default batch size).
const MAX_BATCH: usize = 512;

/// How long a finished span may wait for a batch to fill.
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Deadline for one OTLP request, so an unresponsive collector cannot
/// stall the exporter indefinitely (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time the final flush at shutdown may spend sending.
const FLUSH_BUDGET: Duration = Duration::from_secs(4);

/// Longest [`Telemetry::shutdown`] blocks its caller: the flush budget plus
/// slack for the exporter thread to notice and report back.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Most attributes kept on one span (the SDK's default limit); more are
/// counted as dropped.
const MAX_ATTRIBUTES: usize = 128;

/// Span export: disabled, or OTLP. Cheap to clone (an `Arc` inside); every
/// clone feeds the same exporter.
#[derive(Clone)]
pub struct Telemetry {
    /// `None` when disabled: spans are then empty structs.
    exporter: Option<Arc<Exporter>>,
}

/// The sending side of an OTLP exporter, shared by every [`Telemetry`]
/// clone and every in-flight [`RequestSpan`].
struct Exporter {
    /// Finished spans, drained by the exporter thread. When the last
    /// `Exporter` is dropped the channel closes and the thread flushes and
    /// exits on its own.
    spans: mpsc::Sender<SpanData>,
    /// Names this crate as the producer of the spans.
    scope: InstrumentationScope,
    /// Where spans go, for `Debug`.
    traces_url: String,
    /// Spans lost to a full queue; the first loss is logged.
    dropped: AtomicU64,
    /// Taken by the first [`Telemetry::shutdown`]; `None` afterwards.
    control: Mutex<Option<Control>>,
}

/// What [`Telemetry::shutdown`] needs to stop the exporter thread.
struct Control {
    /// Asks the thread to flush and stop.
    stop: oneshot::Sender<()>,
    /// Signalled by the thread once it has flushed.
    done: std_mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

impl Telemetry {
    /// No export. Trace context still propagates; spans do nothing.
    pub fn disabled() -> Self {
        Self { exporter: None }
    }

    /// OTLP/HTTP (protobuf) export to `endpoint`, with resource attribute
    /// `service.name` = `service_name`.
    ///
    /// `endpoint` is an `http://` or `https://` URL. If it has a path (say
    /// `http://collector:4318/custom/traces`) that is the traces URL;
    /// otherwise `/v1/traces` is appended, as for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    /// Other resource attributes come from `OTEL_RESOURCE_ATTRIBUTES`, and
    /// `OTEL_EXPORTER_OTLP_HEADERS` adds request headers (e.g. auth).
    ///
    /// Export runs on a background thread with its own tokio runtime, so
    /// this may be called inside or outside a runtime. Nothing is sent
    /// until a span ends; an unreachable collector shows up later as
    /// `warn` logs, not as an error here.
    ///
    /// # Errors
    ///
    /// If `endpoint` is not a valid http(s) URL, or the exporter or its
    /// thread cannot be set up.
    pub fn otlp(endpoint: &str, service_name: &str) -> anyhow::Result<Self> {
        let traces_url = traces_url(endpoint)?;

        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .context("setting up TLS for the OTLP exporter")?
            .https_or_http()
            .enable_http1()
            .build();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(HyperClient::new(connector, EXPORT_TIMEOUT, None))
            .with_endpoint(traces_url.clone())
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .context("building the OTLP span exporter")?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        );

        let (spans_tx, spans_rx) = mpsc::channel(QUEUE_CAPACITY);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = std_mpsc::sync_channel(1);
        let (ready_tx, ready_rx) = std_mpsc::sync_channel(1);
        // The runtime is built on the thread that drops it: dropping a
        // runtime inside another runtime's async context panics.
        let thread = std::thread::Builder::new()
            .name("wharf-otlp-export".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(run_exporter(exporter, spans_rx, stop_rx));
                // Don't wait on stray blocking tasks (a hung DNS lookup).
                runtime.shutdown_background();
                let _ = done_tx.send(());
            })
            .context("spawning the OTLP exporter thread")?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                return Err(error).context("building the OTLP exporter's tokio runtime");
            }
            Err(_) => bail!("the OTLP exporter thread exited during start-up"),
        }

        let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(Self {
            exporter: Some(Arc::new(Exporter {
                spans: spans_tx,
                scope,
                traces_url,
                dropped: AtomicU64::new(0),
                control: Mutex::new(Some(Control {
                    stop: stop_tx,
                    done: done_rx,
                    thread,
                })),
            })),
        })
    }

    /// Whether spans are exported.
    pub fn is_enabled(&self) -> bool {
        self.exporter.is_some()
    }

    /// Starts the request's span with exactly `ctx`'s trace id and span id
    /// (so what the host propagates outbound is the exported span's id),
    /// `ctx`'s parent span id as a remote parent, and kind server.
    ///
    /// A no-op — nothing allocated beyond the returned struct — when
    /// disabled, and when `ctx` is not [sampled](TraceContext::sampled):
    /// the caller decided not to record this trace.
    pub fn start_span(&self, ctx: &TraceContext, name: &str) -> RequestSpan {
        let active = match &self.exporter {
            Some(exporter) if ctx.sampled() => Some(ActiveSpan {
                exporter: Arc::clone(exporter),
                ctx: ctx.clone(),
                name: name.to_owned(),
                start_time: SystemTime::now(),
                started: Instant::now(),
                attributes: Vec::new(),
                dropped_attributes: 0,
            }),
            _ => None,
        };
        RequestSpan { active }
    }

    /// Flushes queued spans and stops the exporter, blocking the calling
    /// thread for at most 5 s. Spans ended afterwards are discarded.
    ///
    /// Safe to call when disabled, more than once, and from any thread;
    /// from async code it ties up that task's thread while it waits, which
    /// is fine at process exit.
    pub fn shutdown(&self) {
        let Some(exporter) = &self.exporter else {
            return;
        };
        let control = exporter
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(control) = control else {
            return;
        };
        // An error means the thread already stopped; `done` then reports it.
        let _ = control.stop.send(());
        match control.done.recv_timeout(SHUTDOWN_TIMEOUT) {
            Ok(()) => {
                // The thread's last act was to signal `done`.
                let _ = control.thread.join();
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    traces_url = %exporter.traces_url,
                    "OTLP exporter did not finish flushing within {SHUTDOWN_TIMEOUT:?}; \
                     remaining spans are lost"
                );
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                tracing::warn!("OTLP exporter thread stopped unexpectedly");
            }
        }
        let dropped = exporter.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "OTLP export queue overflowed; spans were dropped");
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.exporter {
            None => f.write_str("Telemetry::Disabled"),
            Some(exporter) => f
                .debug_struct("Telemetry::Otlp")
                .field("traces_url", &exporter.traces_url)
                .finish_non_exhaustive(),
        }
    }
}

/// An in-progress span; ended on [`end`](Self::end) or, without a status
/// code, on drop (e.g. when the request is cancelled).
pub struct RequestSpan {
    /// `None` when export is disabled or the trace is unsampled.
    active: Option<ActiveSpan>,
}

/// A span being recorded.
struct ActiveSpan {
    exporter: Arc<Exporter>,
    ctx: TraceContext,
    name: String,
    /// Wall-clock start, for the exported timestamp.
    start_time: SystemTime,
    /// Monotonic start, so the duration survives wall-clock jumps.
    started: Instant,
    attributes: Vec<KeyValue>,
    dropped_attributes: u32,
}

impl RequestSpan {
    /// Sets attribute `key` to `value`, replacing an earlier value for the
    /// same key. A no-op when the span is not recorded (`value` is not even
    /// converted).
    pub fn set_attribute(&mut self, key: &'static str, value: impl Into<String>) {
        if let Some(active) = &mut self.active {
            active.set(KeyValue::new(key, value.into()));
        }
    }

    /// Sets `http.response.status_code`, marks the span as an error for a
    /// 5xx status (with `error.type` = the code, per the HTTP semantic
    /// conventions for servers; a 4xx is the client's error, not this
    /// server's), and ends the span.
    pub fn end(mut self, status: u16) {
        if let Some(active) = self.active.take() {
            active.finish(Some(status));
        }
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        if let Some(active) = self.active.take() {
            active.finish(None);
        }
    }
}

impl fmt::Debug for RequestSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RequestSpan");
        if let Some(active) = &self.active {
            debug
                .field("name", &active.name)
                .field("trace_id", &active.ctx.trace_id_hex())
                .field("span_id", &active.ctx.span_id_hex());
        }
        debug.field("recording", &self.active.is_some()).finish()
    }
}

impl ActiveSpan {
    fn set(&mut self, attribute: KeyValue) {
        if let Some(existing) = self
            .attributes
            .iter_mut()
            .find(|kv| kv.key == attribute.key)
        {
            *existing = attribute;
        } else if self.attributes.len() < MAX_ATTRIBUTES {
            self.attributes.push(attribute);
        } else {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
        }
    }

    /// Builds the span and queues it for export.
    fn finish(mut self, status_code: Option<u16>) {
        let mut status = Status::Unset;
        if let Some(code) = status_code {
            self.set(KeyValue::new("http.response.status_code", i64::from(code)));
            if code >= 500 {
                self.set(KeyValue::new("error.type", code.to_string()));
                status = Status::error("");
            }
        }
        let ctx = &self.ctx;
        let trace_state = ctx
            .tracestate()
            .and_then(|value| TraceState::from_str(value).ok())
            .unwrap_or_default();
        let span = SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(ctx.trace_id()),
                SpanId::from_bytes(ctx.span_id()),
                TraceFlags::new(ctx.flags()),
                false,
                trace_state,
            ),
            parent_span_id: ctx
                .parent_span_id()
                .map_or(SpanId::INVALID, SpanId::from_bytes),
            parent_span_is_remote: ctx.parent_span_id().is_some(),
            span_kind: SpanKind::Server,
            name: Cow::Owned(self.name),
            start_time: self.start_time,
            end_time: self.start_time + self.started.elapsed(),
            attributes: self.attributes,
            dropped_attributes_count: self.dropped_attributes,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.exporter.scope.clone(),
        };
        match self.exporter.spans.try_send(span) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.exporter.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        capacity = QUEUE_CAPACITY,
                        "OTLP export queue full; dropping spans until it drains"
                    );
                }
            }
            // After shutdown: documented as discarded.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The exporter thread: batch spans from `spans` and export them, until
/// `stop` fires or every sender is gone; then flush what is queued, all
/// within [`FLUSH_BUDGET`] of being stopped.
async fn run_exporter(
    exporter: opentelemetry_otlp::SpanExporter,
    mut spans: mpsc::Receiver<SpanData>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut ticker = tokio::time::interval(EXPORT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let flush_deadline = loop {
        let due = tokio::select! {
            // Fires on `send` and on the sender being dropped alike.
            _ = &mut stop => break Instant::now() + FLUSH_BUDGET,
            span = spans.recv() => match span {
                Some(span) => {
                    batch.push(span);
                    batch.len() >= MAX_BATCH
                }
                None => break Instant::now() + FLUSH_BUDGET,
            },
            _ = ticker.tick() => !batch.is_empty(),
        };
        if due && let Some(deadline) = export_unless_stopped(&exporter, &mut batch, &mut stop).await
        {
            break deadline;
        }
    };

    // Everything ended before `shutdown` was called is already queued.
    spans.close();
    loop {
        while batch.len() < MAX_BATCH {
            match spans.try_recv() {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let left = flush_deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::warn!(
                spans = batch.len() + spans.len(),
                "OTLP flush ran out of time; dropping spans"
            );
            break;
        }
        export(&exporter, &mut batch, left).await;
    }
    let _ = exporter.shutdown();
}

/// Exports `batch`; if `stop` fires meanwhile, the export in flight may
/// only run until the flush deadline, which is returned so the final flush
/// shares it.
async fn export_unless_stopped(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    stop: &mut oneshot::Receiver<()>,
) -> Option<Instant> {
    let in_flight = export(exporter, batch, EXPORT_TIMEOUT);
    tokio::pin!(in_flight);
    tokio::select! {
        () = &mut in_flight => None,
        _ = stop => {
            let deadline = Instant::now() + FLUSH_BUDGET;
            if tokio::time::timeout_at(deadline.into(), in_flight).await.is_err() {
                tracing::warn!("OTLP export in flight at shutdown ran out of time");
            }
            Some(deadline)
        }
    }
}

/// Sends `batch` (emptying it) in one OTLP request; failures are logged and
/// the spans dropped — retrying would only grow the backlog.
async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    timeout: Duration,
) {
    let spans = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH));
    let count = spans.len();
    match tokio::time::timeout(timeout, exporter.export(spans)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, spans = count, "OTLP span export failed"),
        Err(_) => tracing::warn!(
            spans = count,
            "OTLP span export timed out after {timeout:?}"
        ),
    }
}

/// The OTLP/HTTP traces URL for `endpoint`: as given if it has a path,
/// else with `/v1/traces` appended.
fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim();
    let uri =
        Uri::from_str(endpoint).with_context(|| format!("invalid OTLP endpoint {endpoint:?}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("invalid OTLP endpoint {endpoint:?}: expected an http:// or https:// URL"),
    }
    if uri.host().is_none_or(str::is_empty) {
        bail!("invalid OTLP endpoint {endpoint:?}: no host");
    }
    let has_path = !matches!(uri.path(), "" | "/");
    if has_path {
        Ok(endpoint.to_owned())
    } else if uri.query().is_some() {
        bail!("invalid OTLP endpoint {endpoint:?}: a query needs an explicit path");
    } else {
        Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_without_a_path_gets_v1_traces() {
        for endpoint in ["http://127.0.0.1:4318", "http://127.0.0.1:4318/"] {
            assert_eq!(
                traces_url(endpoint).unwrap(),
                "http://127.0.0.1:4318/v1/traces"
            );
        }
        assert_eq!(
            traces_url("https://collector.example").unwrap(),
            "https://collector.example/v1/traces"
        );
    }

    #[test]
    fn endpoint_with_a_path_is_the_traces_url() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318/custom/traces").unwrap(),
            "http://127.0.0.1:4318/custom/traces"
        );
        assert_eq!(
            traces_url("http://127.0.0.1:4318/v1/traces?tenant=a").unwrap(),
            "http://127.0.0.1:4318/v1/traces?tenant=a"
        );
    }

    #[test]
    fn endpoint_that_is_not_an_http_url_is_rejected() {
        for endpoint in [
            "",
            "not a url",
            "127.0.0.1:4318",
            "localhost:4318",
            "/v1/traces",
            "grpc://127.0.0.1:4317",
            "ftp://127.0.0.1/v1/traces",
            "http://",
        ] {
            assert!(traces_url(endpoint).is_err(), "{endpoint:?} accepted");
        }
    }

    #[test]
    fn otlp_rejects_an_invalid_endpoint() {
        let error = Telemetry::otlp("127.0.0.1:4318", "svc").unwrap_err();
        assert!(error.to_string().contains("127.0.0.1:4318"), "{error:#}");
    }

    #[test]
    fn otlp_works_outside_a_tokio_runtime() {
        let telemetry = Telemetry::otlp("http://127.0.0.1:9/v1/traces", "svc").unwrap();
        assert!(telemetry.is_enabled());
        // Nothing queued: shutdown returns without touching the network.
        let started = Instant::now();
        telemetry.shutdown();
        telemetry.shutdown();
        assert!(started.elapsed() < SHUTDOWN_TIMEOUT);
    }

    #[test]
    fn unsampled_context_records_nothing() {
        let telemetry = Telemetry::otlp("http://127.0.0.1:9", "svc").unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            crate::TRACEPARENT,
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        );
        let ctx = TraceContext::from_request_headers(&headers);
        let span = telemetry.start_span(&ctx, "GET /");
        assert!(span.active.is_none());
        telemetry.shutdown();
    }

    #[test]
    fn disabled_span_is_empty() {
        let span = Telemetry::disabled().start_span(&TraceContext::new_root(), "GET /");
        assert!(span.active.is_none());
    }

    #[test]
    fn setting_an_attribute_twice_keeps_the_last_value() {
        let telemetry = Telemetry::otlp("http://127.0.0.1:9", "svc").unwrap();
        let mut span = telemetry.start_span(&TraceContext::new_root(), "GET /");
        span.set_attribute("k", "first");
        span.set_attribute("k", "second");
        let active = span.active.take().unwrap();
        assert_eq!(active.attributes.len(), 1);
        assert_eq!(active.attributes[0].value.as_str(), "second");
        telemetry.shutdown();
    }
}
