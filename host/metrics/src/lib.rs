//! # wharf-metrics: every metric the host exports
//!
//! One [`Metrics`] per host process holds a Prometheus registry and a typed
//! handle for each metric, so instrumentation sites never build names or
//! label sets by hand. Conventions (see the README's metrics table):
//!
//! - every name starts with `wharf_` (process metrics aside) and uses base
//!   units: `_seconds`, `_bytes`, `_total` for counters;
//! - labels are bounded: service, version, method class, status class,
//!   reason enums, and outbound *grants* (as written in the manifest) —
//!   never raw paths, hosts, IDs or topics. [`method_class`] and
//!   [`status_class`] fold the unbounded values.
//!
//! Registration happens once in [`Metrics::new`]; [`Metrics::metric_names`]
//! lists what is registered (even before any sample), which is what the
//! dashboard and alert-rule tests check their queries against.
#![deny(missing_docs)]

/// Re-exported so callers can read metric families.
mod health;

use std::sync::Arc;

pub use health::{HealthSnapshot, VersionHealth};
pub use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
/// Re-exported so callers can name metric handle types.
pub use prometheus::{Histogram, IntCounter, IntGauge, IntGaugeVec};

/// Latency buckets for request and instantiation durations, in seconds:
/// fine-grained below a millisecond, where instance-per-request lives.
const DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Compile-time buckets, in seconds.
const COMPILE_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Linear-memory buckets, in bytes: 64 KiB pages up to 1 GiB.
const MEMORY_BUCKETS: &[f64] = &[
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Every metric the host exports.
#[allow(
    missing_docs,
    reason = "each field is documented by its help text below"
)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_request_duration: HistogramVec,
    pub http_in_flight: IntGaugeVec,
    pub http_request_body_bytes: IntCounterVec,
    pub http_response_body_bytes: IntCounterVec,
    pub instantiations: IntCounterVec,
    pub instance_reuses: IntCounterVec,
    pub instantiation_duration: HistogramVec,
    pub instances_live: IntGaugeVec,
    pub instance_ends: IntCounterVec,
    pub instance_peak_memory: HistogramVec,
    pub pool_slots_used: IntGaugeVec,
    pub pool_slots_capacity: IntGaugeVec,
    pub requests_queued: IntGaugeVec,
    pub requests_rejected: IntCounterVec,
    pub outbound_requests: IntCounterVec,
    pub outbound_denied: IntCounterVec,
    pub compile_duration: HistogramVec,
    pub component_cache: IntCounterVec,
    pub components_loaded: IntGauge,
    pub deployments: IntCounterVec,
    pub messages: IntCounterVec,
    pub broker_dropped: IntGauge,
    pub durable_pending: IntGaugeVec,
    pub durable_lag: IntGaugeVec,
    pub durable_refused: IntCounterVec,
    pub rollbacks: IntCounterVec,
    pub build_info: GaugeVec,
    pub ready: IntGauge,
    names: Vec<String>,
}

impl Metrics {
    /// Registers every metric (and the process collector).
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let mut names = Vec::new();
        macro_rules! register {
            ($metric:expr) => {{
                let metric = $metric;
                for desc in prometheus::core::Collector::desc(&metric) {
                    names.push(desc.fq_name.clone());
                }
                registry.register(Box::new(metric.clone()))?;
                metric
            }};
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
        };
        const SV: &[&str] = &["service", "version"];

        let metrics = Self {
            http_requests: register!(counter(
                "wharf_http_requests_total",
                "HTTP requests answered, by service, version, method class and status class.",
                &["service", "version", "method", "status"],
            )?),
            http_request_duration: register!(histogram(
                "wharf_http_request_duration_seconds",
                "Time from request head to the last byte of the response body.",
                &["service", "version", "method"],
                DURATION_BUCKETS,
            )?),
            http_in_flight: register!(gauge(
                "wharf_http_requests_in_flight",
                "HTTP requests being served right now.",
                &["service"],
            )?),
            http_request_body_bytes: register!(counter(
                "wharf_http_request_body_bytes_total",
                "Request body bytes read by services.",
                SV,
            )?),
            http_response_body_bytes: register!(counter(
                "wharf_http_response_body_bytes_total",
                "Response body bytes sent.",
                SV,
            )?),
            instantiations: register!(counter(
                "wharf_instantiations_total",
                "Component instances created (one per request).",
                SV,
            )?),
            instance_reuses: register!(counter(
                "wharf_instance_reuses_total",
                "Requests served by a reused instance (services with limits.instance_reuse > 1).",
                SV,
            )?),
            instantiation_duration: register!(histogram(
                "wharf_instantiation_duration_seconds",
                "Time to create an instance from its pre-instantiated template.",
                SV,
                DURATION_BUCKETS,
            )?),
            instances_live: register!(gauge(
                "wharf_instances_live",
                "Component instances alive right now.",
                &["service"],
            )?),
            instance_ends: register!(counter(
                "wharf_instance_ends_total",
                "Instances ended, by reason: completed, trap, cpu_limit, memory_limit, timeout, aborted.",
                &["service", "version", "reason"],
            )?),
            instance_peak_memory: register!(histogram(
                "wharf_instance_peak_memory_bytes",
                "Largest linear memory each instance reached.",
                SV,
                MEMORY_BUCKETS,
            )?),
            pool_slots_used: register!(gauge(
                "wharf_pool_slots_used",
                "Pooling allocator slots in use, by kind.",
                &["kind"],
            )?),
            pool_slots_capacity: register!(gauge(
                "wharf_pool_slots_capacity",
                "Pooling allocator slots available in total, by kind.",
                &["kind"],
            )?),
            requests_queued: register!(gauge(
                "wharf_requests_queued",
                "Requests waiting for a free instance slot of their service.",
                &["service"],
            )?),
            requests_rejected: register!(counter(
                "wharf_requests_rejected_total",
                "Requests refused before running, by reason: queue_full, queue_timeout, pool_exhausted, body_too_large.",
                &["service", "reason"],
            )?),
            outbound_requests: register!(counter(
                "wharf_outbound_requests_total",
                "Outbound HTTP requests that passed the allowlist, by the grant that allowed them and outcome (ok, error).",
                &["service", "target", "outcome"],
            )?),
            outbound_denied: register!(counter(
                "wharf_outbound_denied_total",
                "Outbound calls refused for lack of a grant, by grant kind (http, socket).",
                &["service", "grant"],
            )?),
            compile_duration: register!(histogram(
                "wharf_component_compile_duration_seconds",
                "Time to compile, link and pre-instantiate a component.",
                &["service"],
                COMPILE_BUCKETS,
            )?),
            component_cache: register!(counter(
                "wharf_component_cache_requests_total",
                "Compiled-code cache lookups, by result (hit, miss, stale: an entry for another engine or damaged, recompiled).",
                &["result"],
            )?),
            components_loaded: register!(IntGauge::new(
                "wharf_components_loaded",
                "Components compiled and ready to serve.",
            )?),
            messages: register!(counter(
                "wharf_messages_total",
                "Message deliveries, by service, subscription pattern and outcome (handled, retried, dead_lettered, dropped; durable subscriptions also acked, redelivered).",
                &["service", "subscription", "outcome"],
            )?),
            broker_dropped: register!(IntGauge::new(
                "wharf_broker_dropped_messages",
                "Messages the broker dropped because a subscriber's buffer stayed full (embedded) or the client fell behind (NATS).",
            )?),
            durable_pending: register!(gauge(
                "wharf_durable_pending",
                "Messages a durable subscription keeps and has not acknowledged yet (not yet delivered plus in flight).",
                &["service", "subscription"],
            )?),
            durable_lag: register!(gauge(
                "wharf_durable_consumer_lag",
                "Messages a durable subscription keeps and has not delivered yet.",
                &["service", "subscription"],
            )?),
            durable_refused: register!(counter(
                "wharf_durable_limit_refused_total",
                "Messages a durable subscription's queue refused or expired because a limit (messages, bytes, age) was reached (embedded broker; on NATS the server enforces the limits).",
                &["service", "subscription"],
            )?),
            deployments: register!(counter(
                "wharf_deployments_total",
                "Deploy requests, by service and outcome (ok, refused).",
                &["service", "outcome"],
            )?),
            rollbacks: register!(counter(
                "wharf_rollbacks_total",
                "Rollbacks, by service and trigger (manual, automatic).",
                &["service", "trigger"],
            )?),
            build_info: register!(GaugeVec::new(
                Opts::new(
                    "wharf_build_info",
                    "Always 1; labels carry the build's versions."
                ),
                &["version", "wasmtime_version"],
            )?),
            ready: register!(IntGauge::new(
                "wharf_ready",
                "1 once every service is compiled and accepting requests.",
            )?),
            names: Vec::new(),
            registry,
        };
        let process = prometheus::process_collector::ProcessCollector::for_self();
        for desc in prometheus::core::Collector::desc(&process) {
            names.push(desc.fq_name.clone());
        }
        metrics.registry.register(Box::new(process))?;
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), WASMTIME_VERSION])
            .set(1.0);
        Ok(Self { names, ..metrics })
    }

    /// The registry, for extra collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Names of every registered metric family (histograms without their
    /// `_bucket`/`_sum`/`_count` suffixes).
    pub fn metric_names(&self) -> &[String] {
        &self.names
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}

/// Why an instance ended: the `reason` label of
/// `wharf_instance_ends_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `handle` returned normally.
    Completed,
    /// The guest trapped or panicked.
    Trap,
    /// The CPU-time budget ran out.
    CpuLimit,
    /// Memory growth past the limit was refused and the guest failed.
    MemoryLimit,
    /// The wall-clock timeout fired.
    Timeout,
    /// The request was abandoned (its client left) and the guest stopped.
    Aborted,
}

impl EndReason {
    const ALL: [EndReason; 6] = [
        EndReason::Completed,
        EndReason::Trap,
        EndReason::CpuLimit,
        EndReason::MemoryLimit,
        EndReason::Timeout,
        EndReason::Aborted,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Trap => "trap",
            EndReason::CpuLimit => "cpu_limit",
            EndReason::MemoryLimit => "memory_limit",
            EndReason::Timeout => "timeout",
            EndReason::Aborted => "aborted",
        }
    }
}

/// The metric handles of one service version, resolved once when it is
/// loaded, so the per-request path does no label lookups for them.
#[allow(
    missing_docs,
    reason = "each field is the labelled child of the Metrics field of the same name"
)]
pub struct ServiceMetrics {
    pub requests: RequestMetrics,
    pub instantiations: IntCounter,
    pub instance_reuses: IntCounter,
    pub instantiation_duration: Histogram,
    pub instances_live: IntGauge,
    pub instance_peak_memory: Histogram,
    instance_ends: [IntCounter; 6],
}

/// The per-request handles of one service version (also used, without the
/// instance handles, for requests no route matched).
#[allow(
    missing_docs,
    reason = "each field is the labelled child of the Metrics field of the same name"
)]
#[derive(Clone)]
pub struct RequestMetrics {
    pub http_in_flight: IntGauge,
    pub http_request_body_bytes: IntCounter,
    pub http_response_body_bytes: IntCounter,
    /// Not a Prometheus metric: the counters the host compares versions by.
    pub health: Arc<VersionHealth>,
}

impl ServiceMetrics {
    /// The counter of instances ended for `reason`.
    pub fn instance_ends(&self, reason: EndReason) -> &IntCounter {
        let index = EndReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        &self.instance_ends[index]
    }
}

impl Metrics {
    /// Resolves the per-request handles of `service` at `version`.
    pub fn requests(&self, service: &str, version: &str) -> RequestMetrics {
        let sv = [service, version];
        RequestMetrics {
            http_in_flight: self.http_in_flight.with_label_values(&[service]),
            http_request_body_bytes: self.http_request_body_bytes.with_label_values(&sv),
            http_response_body_bytes: self.http_response_body_bytes.with_label_values(&sv),
            health: Arc::new(VersionHealth::default()),
        }
    }

    /// Resolves every per-service handle of `service` at `version`.
    pub fn service(&self, service: &str, version: &str) -> ServiceMetrics {
        let sv = [service, version];
        ServiceMetrics {
            requests: self.requests(service, version),
            instantiations: self.instantiations.with_label_values(&sv),
            instance_reuses: self.instance_reuses.with_label_values(&sv),
            instantiation_duration: self.instantiation_duration.with_label_values(&sv),
            instances_live: self.instances_live.with_label_values(&[service]),
            instance_peak_memory: self.instance_peak_memory.with_label_values(&sv),
            instance_ends: EndReason::ALL.map(|r| {
                self.instance_ends
                    .with_label_values(&[service, version, r.as_str()])
            }),
        }
    }
}

/// The wasmtime version the host is built with.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Folds an HTTP method into a bounded label value.
pub fn method_class(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Folds a status code into its class (`2xx`, `4xx`, …).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_family_and_renders() {
        let m = Metrics::new().unwrap();
        for name in [
            "wharf_http_requests_total",
            "wharf_instance_ends_total",
            "wharf_build_info",
            "process_resident_memory_bytes",
        ] {
            assert!(m.metric_names().iter().any(|n| n == name), "{name}");
        }
        let text = m.render().unwrap();
        assert!(text.contains("wharf_build_info{version=\""));
    }

    #[test]
    fn classes_are_bounded() {
        assert_eq!(method_class("BREW"), "other");
        assert_eq!(status_class(418), "4xx");
        assert_eq!(status_class(599), "5xx");
    }
}
