//! What happens when a response is finished: metrics, access log, span.
//!
//! A response is only done when its last body byte has gone out (or the
//! client went away), so request duration, response bytes and the access
//! log line are recorded by [`ObservedBody`] when its stream ends or it is
//! dropped, whichever comes first, exactly once.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wharf_metrics::{Metrics, RequestMetrics, method_class, status_class};
use wharf_telemetry::RequestSpan;

/// Everything needed to record one finished request.
pub struct RequestRecord {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) service: Arc<str>,
    pub(crate) version: Arc<str>,
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) request_id: Arc<str>,
    pub(crate) trace_id: String,
    pub(crate) started: Instant,
    pub(crate) request_bytes: Arc<AtomicU64>,
    pub(crate) span: Option<RequestSpan>,
    /// Leaves the in-flight gauge when the record is finished or dropped.
    pub(crate) _in_flight: crate::handler::InFlight,
    /// The service's (or the unrouted) per-request handles.
    pub(crate) handles: RequestMetrics,
}

impl RequestRecord {
    fn finish(mut self, response_bytes: u64, complete: bool) {
        let m = &self.metrics;
        let method = method_class(self.method.as_str());
        let service = &*self.service;
        let version = &*self.version;
        let elapsed = self.started.elapsed();
        let request_bytes = self.request_bytes.load(Ordering::Relaxed);
        m.http_requests
            .with_label_values(&[service, version, method, status_class(self.status)])
            .inc();
        m.http_request_duration
            .with_label_values(&[service, version, method])
            .observe(elapsed.as_secs_f64());
        // A client that leaves early is not the version's fault, so only
        // the status counts against it.
        self.handles.health.record(self.status >= 500, elapsed);
        self.handles.http_response_body_bytes.inc_by(response_bytes);
        self.handles.http_request_body_bytes.inc_by(request_bytes);
        tracing::info!(
            target: "wharf::access",
            service,
            version,
            method = %self.method,
            path = %self.path,
            status = self.status,
            duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            request_bytes,
            response_bytes,
            complete,
            request_id = %self.request_id,
            trace_id = %self.trace_id,
            "request"
        );
        if let Some(span) = self.span.take() {
            span.end(self.status);
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its request when it ends.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        bytes: u64,
        // The declared content-length, if any: hyper stops polling once it
        // has been sent, so reaching it is how the end is recognised.
        expected: Option<u64>,
        record: Option<RequestRecord>,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(record) = this.record.take() {
                // Complete if the declared length went out; otherwise the
                // client went away or the stream failed.
                let complete = *this.expected == Some(*this.bytes);
                record.finish(*this.bytes, complete);
            }
        }
    }
}

impl<B> ObservedBody<B> {
    /// Wraps `inner`, whose response declared `expected` bytes (if it
    /// did); `record` is written when it ends.
    pub fn new(inner: B, expected: Option<u64>, record: RequestRecord) -> Self {
        Self {
            inner,
            bytes: 0,
            expected,
            record: Some(record),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for ObservedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.len() as u64;
                }
                if (this.inner.is_end_stream() || *this.expected == Some(*this.bytes))
                    && let Some(record) = this.record.take()
                {
                    record.finish(*this.bytes, true);
                }
            }
            Poll::Ready(None) => {
                if let Some(record) = this.record.take() {
                    record.finish(*this.bytes, true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(record) = this.record.take() {
                    record.finish(*this.bytes, false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
