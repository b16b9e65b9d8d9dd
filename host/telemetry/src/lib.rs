//! # wharf-telemetry: trace context and span export
//!
//! A guest's outbound HTTP calls are how a request fans out across
//! services, so the host — not the guest — owns distributed tracing: the
//! guest never sees or forges trace ids, and a request is traceable even
//! when its guest knows nothing about OpenTelemetry.
//!
//! Two pieces, deliberately separate:
//!
//! - [`TraceContext`] is the [W3C Trace Context] of one request. It is
//!   always on and costs a few random bytes per request: the host continues
//!   the caller's trace (or starts one) and puts [`TraceContext::traceparent`]
//!   on every outbound request, so traces join up downstream even when this
//!   host exports nothing itself.
//! - [`Telemetry`] optionally exports one span per request over OTLP. It is
//!   off by default ([`Telemetry::disabled`]), and then a [`RequestSpan`] is
//!   an empty struct: no allocation, no clock read, no channel.
//!
//! The exported span carries *exactly* the context's trace id and span id,
//! so the parent id a downstream service sees is the span this host
//! exported, and its parent is the caller's span.
//!
//! ## Lifecycle, as the host uses it
//!
//! ```no_run
//! # fn demo(headers: &http::HeaderMap) -> anyhow::Result<()> {
//! use wharf_telemetry::{Telemetry, TraceContext};
//!
//! // Once per process (inside or outside a tokio runtime).
//! let telemetry = Telemetry::otlp("http://127.0.0.1:4318", "wharf")?;
//!
//! // Per request.
//! let ctx = TraceContext::from_request_headers(headers);
//! let mut span = telemetry.start_span(&ctx, "GET /hello");
//! span.set_attribute("http.request.method", "GET");
//! // ... every outbound request gets `traceparent: {ctx.traceparent()}`
//! //     and, if present, `tracestate: {ctx.tracestate()}` ...
//! span.end(200);
//!
//! // At exit: flush what is queued (waits at most a few seconds).
//! telemetry.shutdown();
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! - `context`: parsing and formatting `traceparent` / `tracestate`, id
//!   generation. No I/O.
//! - `export`: [`Telemetry`], [`RequestSpan`] and the background exporter
//!   (a bounded queue drained in batches to the official
//!   `opentelemetry-otlp` HTTP/protobuf exporter).
//! - `guest_text`: [`guest_text`], how guest-chosen strings go into log
//!   fields (escaped, capped), used by every crate that logs them.
//!
//! [W3C Trace Context]: https://www.w3.org/TR/trace-context/
#![deny(missing_docs)]

mod context;
mod export;
mod guest_text;

pub use context::{TRACEPARENT, TRACESTATE, TraceContext};
pub use export::{RequestSpan, Telemetry};
pub use guest_text::{GuestText, MAX_GUEST_TEXT_BYTES, guest_text, guest_text_within};
