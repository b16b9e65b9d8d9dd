//! # wharf-admin: the admin listener
//!
//! A separate listener (never the public one) for operators:
//!
//! | route | auth | answers |
//! |---|---|---|
//! | `GET /metrics` | none | Prometheus text exposition |
//! | `GET /healthz` | none | `200 ok` while the process runs |
//! | `GET /readyz` | none | `200 ready` once every service is compiled and accepting, else `503` |
//! | `GET /v1/services` | bearer token | JSON list of services with their state |
//!
//! Authenticated routes compare the bearer token in constant time; a
//! missing or wrong token is `401`. The HTTP handling is a thin adapter
//! over [`AdminState`], so later deploy endpoints slot in beside
//! `/v1/services`.
#![deny(missing_docs)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use wharf_metrics::Metrics;

/// One service as `/v1/services` and `wharf ps` show it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Active version label.
    pub version: String,
    /// Routes as written in the manifest.
    pub routes: Vec<String>,
    /// `ready` once compiled and accepting.
    pub state: String,
    /// Instances alive right now.
    pub live_instances: i64,
    /// Requests answered since start.
    pub requests_total: u64,
}

/// Produces the current service list.
pub type StatusFn = Box<dyn Fn() -> Vec<ServiceStatus> + Send + Sync>;

/// Called before each scrape, to refresh gauges read from elsewhere (the
/// pooling allocator).
pub type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// Shared state of the admin listener(s).
pub struct AdminState {
    metrics: Arc<Metrics>,
    token: String,
    ready: AtomicBool,
    services: std::sync::RwLock<Option<StatusFn>>,
    before_scrape: std::sync::RwLock<Option<ScrapeHook>>,
}

impl AdminState {
    /// Admin state guarded by `token`; not ready until [`set_ready`](Self::set_ready).
    pub fn new(metrics: Arc<Metrics>, token: String) -> Self {
        Self {
            metrics,
            token,
            ready: AtomicBool::new(false),
            services: std::sync::RwLock::new(None),
            before_scrape: std::sync::RwLock::new(None),
        }
    }

    /// Marks the host ready (or not) and installs the service listing.
    pub fn set_ready(&self, services: StatusFn, before_scrape: ScrapeHook) {
        if let Ok(mut slot) = self.services.write() {
            *slot = Some(services);
        }
        if let Ok(mut slot) = self.before_scrape.write() {
            *slot = Some(before_scrape);
        }
        self.ready.store(true, Ordering::Release);
        self.metrics.ready.set(1);
    }

    /// Whether every service is compiled and accepting.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(presented) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        bool::from(presented.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// Answers one admin request. `metrics_only` listeners serve only the
    /// unauthenticated routes.
    pub fn handle<B>(&self, req: &Request<B>, metrics_only: bool) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        let known = matches!(path, "/metrics" | "/healthz" | "/readyz")
            || (!metrics_only && path == "/v1/services");
        if !known {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if req.method() != Method::GET {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return r;
        }
        match path {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" if self.is_ready() => text(StatusCode::OK, "ready\n"),
            "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
            "/metrics" => {
                if let Ok(hook) = self.before_scrape.read()
                    && let Some(hook) = hook.as_ref()
                {
                    hook();
                }
                match self.metrics.render() {
                    Ok(body) => {
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                        );
                        r
                    }
                    Err(error) => {
                        tracing::error!(error = %format!("{error:#}"), "failed to render metrics");
                        text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                    }
                }
            }
            _ => {
                if !self.authorized(req) {
                    let mut r = text(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return r;
                }
                let services = match self.services.read() {
                    Ok(slot) => slot.as_ref().map(|f| f()).unwrap_or_default(),
                    Err(_) => Vec::new(),
                };
                match serde_json::to_vec(&services) {
                    Ok(body) => {
                        let mut r = Response::new(Full::new(Bytes::from(body)));
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        );
                        r
                    }
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
                }
            }
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    state: Arc<AdminState>,
    metrics_only: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin listener failed to accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let response = state.handle(&req, metrics_only);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, token: Option<&str>) -> Request<()> {
        let mut b = Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(()).unwrap()
    }

    #[test]
    fn readiness_flips_only_when_set_ready() {
        let state = AdminState::new(Arc::new(Metrics::new().unwrap()), "t".into());
        assert_eq!(state.handle(&get("/readyz", None), false).status(), 503);
        assert_eq!(state.handle(&get("/healthz", None), false).status(), 200);
        state.set_ready(Box::new(Vec::new), Box::new(|| {}));
        assert_eq!(state.handle(&get("/readyz", None), false).status(), 200);
    }

    #[test]
    fn services_need_the_exact_token() {
        let state = AdminState::new(Arc::new(Metrics::new().unwrap()), "secret".into());
        assert_eq!(
            state.handle(&get("/v1/services", None), false).status(),
            401
        );
        assert_eq!(
            state
                .handle(&get("/v1/services", Some("secre")), false)
                .status(),
            401
        );
        assert_eq!(
            state
                .handle(&get("/v1/services", Some("secrets")), false)
                .status(),
            401
        );
        assert_eq!(
            state
                .handle(&get("/v1/services", Some("secret")), false)
                .status(),
            200
        );
        assert_eq!(
            state
                .handle(&get("/v1/services", Some("secret")), true)
                .status(),
            404
        );
        assert_eq!(state.handle(&get("/metrics", None), true).status(), 200);
    }
}
