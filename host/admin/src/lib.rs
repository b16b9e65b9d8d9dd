//! # wharf-admin: the admin listener
//!
//! A separate listener (never the public one) for operators. Health and
//! metrics are open; everything under `/v1/` needs the bearer token,
//! compared in constant time (missing or wrong: `401`).
//!
//! The routes are the table in [`routes`], which the OpenAPI document
//! (`host/admin/openapi.yaml`, also served at `/v1/openapi.yaml`) describes
//! and a test holds the two equal. The handlers are thin: they parse, call
//! the [`Deployer`], and map its typed errors to statuses.
//!
//! The same listener serves the operator console at `/ui/` ([`console`]),
//! which reads only the API documented here.
#![deny(missing_docs)]

pub mod console;
pub mod routes;
pub mod series;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::convert::Infallible;

use bytes::Bytes;
use futures::TryStreamExt as _;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, BodyStream, Full, Limited};
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use wharf_deploy::api::{ActivateRequest, ClusterStatus, DeployRequest, ErrorBody, TrafficRequest};
use wharf_deploy::digest::Digest;
use wharf_deploy::store::PutError;
use wharf_deploy::{DeployError, Deployer};
use wharf_metrics::Metrics;

pub use wharf_http::ServeOptions;

pub use routes::Endpoint;
pub use wharf_deploy::api::ServiceStatus;

/// The OpenAPI document of this listener.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// Largest JSON request body the admin API reads.
const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Largest component upload.
pub const MAX_COMPONENT_BYTES: u64 = 512 * 1024 * 1024;

/// Called before each scrape, to refresh gauges read from elsewhere (the
/// pooling allocator, the wait queues).
pub type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// Answers `GET /v1/cluster` (set when the host is part of a cluster).
pub type ClusterStatusFn = Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, anyhow::Result<ClusterStatus>> + Send + Sync,
>;

/// A response body of the admin listener: whole, or streamed (log events).
pub type AdminBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// Shared state of the admin listener(s).
pub struct AdminState {
    console: Arc<console::Console>,
    metrics: Arc<Metrics>,
    token: String,
    ready: AtomicBool,
    deployer: std::sync::RwLock<Option<Arc<Deployer>>>,
    before_scrape: std::sync::RwLock<Option<ScrapeHook>>,
    cluster: std::sync::RwLock<Option<ClusterStatusFn>>,
}

impl AdminState {
    /// Admin state guarded by `token`; not ready until [`set_ready`](Self::set_ready).
    pub fn new(metrics: Arc<Metrics>, token: String) -> Self {
        Self {
            console: Arc::new(console::Console::new(&token)),
            metrics,
            token,
            ready: AtomicBool::new(false),
            deployer: std::sync::RwLock::new(None),
            before_scrape: std::sync::RwLock::new(None),
            cluster: std::sync::RwLock::new(None),
        }
    }

    /// Serves `GET /v1/cluster` with `status` (a host in a cluster).
    pub fn set_cluster(&self, status: ClusterStatusFn) {
        if let Ok(mut slot) = self.cluster.write() {
            *slot = Some(status);
        }
    }

    /// Marks the host ready and installs the deployer behind `/v1/`.
    pub fn set_ready(&self, deployer: Arc<Deployer>, before_scrape: ScrapeHook) {
        if let Ok(mut slot) = self.deployer.write() {
            *slot = Some(deployer);
        }
        if let Ok(mut slot) = self.before_scrape.write() {
            *slot = Some(before_scrape);
        }
        self.ready.store(true, Ordering::Release);
        self.metrics.ready.set(1);
    }

    /// Starts the console's sampler and log collector over `http`'s
    /// services (see [`console`]).
    pub fn start_console(&self, http: Arc<wharf_http::HttpApp>) {
        self.console.start(http);
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

    fn deployer(&self) -> Option<Arc<Deployer>> {
        self.deployer.read().ok().and_then(|d| d.clone())
    }

    /// Answers one admin request. `metrics_only` listeners serve only the
    /// unauthenticated health and metrics routes.
    pub async fn handle<B>(&self, req: Request<B>, metrics_only: bool) -> Response<AdminBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        // The log stream is the one answer that is not a whole body.
        if req.method() == http::Method::GET
            && let Ok((endpoint, params)) = routes::resolve(req.method(), req.uri().path())
            && endpoint.id == "service-logs"
            && !metrics_only
            && self.authorized(&req)
            && let Some(deployer) = self.deployer()
        {
            let name = params.first().map(String::as_str).unwrap_or_default();
            if deployer.status().iter().any(|s| s.name == name) {
                return self.console.log_stream(name);
            }
        }
        self.handle_whole(req, metrics_only)
            .await
            .map(BodyExt::boxed_unsync)
    }

    async fn handle_whole<B>(&self, req: Request<B>, metrics_only: bool) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (endpoint, params) = match routes::resolve(req.method(), req.uri().path()) {
            Ok(found) => found,
            Err(routes::Miss::NotFound) => return text(StatusCode::NOT_FOUND, "not found\n"),
            Err(routes::Miss::Method(allowed)) => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                if let Ok(value) = HeaderValue::from_str(&allowed) {
                    r.headers_mut().insert(header::ALLOW, value);
                }
                return r;
            }
        };
        if metrics_only && (endpoint.authenticated || endpoint.id.starts_with("console-")) {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if endpoint.authenticated && !self.authorized(&req) {
            let mut r = text(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        match endpoint.id {
            "healthz" => text(StatusCode::OK, "ok\n"),
            "console-redirect" => console::redirect(),
            "console-index" => console::asset(""),
            "console-asset" => {
                console::asset(params.first().map(String::as_str).unwrap_or_default())
            }
            "readyz" if self.is_ready() => text(StatusCode::OK, "ready\n"),
            "readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
            "metrics" => self.metrics_response(),
            "openapi" => {
                let mut r = Response::new(Full::new(Bytes::from_static(OPENAPI_YAML.as_bytes())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/yaml"),
                );
                r
            }
            _ => {
                let Some(deployer) = self.deployer() else {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "starting",
                        "the host is still starting".into(),
                    );
                };
                self.v1(endpoint.id, &params, req, &deployer).await
            }
        }
    }

    async fn v1<B>(
        &self,
        id: &str,
        params: &[String],
        req: Request<B>,
        deployer: &Deployer,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let param = |i: usize| params.get(i).map(String::as_str).unwrap_or_default();
        match id {
            "list-services" => json(StatusCode::OK, &deployer.status()),
            "host-status" => json(
                StatusCode::OK,
                &serde_json::json!({
                    "ready": self.is_ready(),
                    "uptime_seconds": self.console.uptime().as_secs(),
                    "version": env!("CARGO_PKG_VERSION"),
                    "services": deployer.status().len(),
                }),
            ),
            "service-series" => match deployer.status().into_iter().find(|s| s.name == param(0)) {
                Some(status) => {
                    // A service newer than the last sample has no points yet.
                    let series = self
                        .console
                        .series(param(0))
                        .unwrap_or_else(|| series::Series::empty(&status.name, &status.version));
                    json(StatusCode::OK, &series)
                }
                None => deploy_error(&DeployError::UnknownService(param(0).to_string())),
            },
            // Reached only when the stream could not start: the service is
            // unknown.
            "service-logs" => deploy_error(&DeployError::UnknownService(param(0).to_string())),
            "get-service" => match deployer.status().into_iter().find(|s| s.name == param(0)) {
                Some(status) => json(StatusCode::OK, &status),
                None => deploy_error(&DeployError::UnknownService(param(0).to_string())),
            },
            "remove-service" => match deployer.remove(param(0)).await {
                Ok(()) => no_content(),
                Err(e) => deploy_error(&e),
            },
            "deploy" => {
                let request: DeployRequest = match read_json(req).await {
                    Ok(request) => request,
                    Err(refused) => return refused.into_response(),
                };
                match deployer.deploy(param(0), request).await {
                    Ok(outcome) => json(StatusCode::OK, &outcome),
                    Err(e) => deploy_error(&e),
                }
            }
            "cluster-status" => {
                let status = self.cluster.read().ok().and_then(|c| c.clone());
                match status {
                    None => error(
                        StatusCode::NOT_FOUND,
                        "not-clustered",
                        "this host is not part of a cluster (start it with --nats and --cluster)"
                            .into(),
                    ),
                    Some(status) => match status().await {
                        Ok(status) => json(StatusCode::OK, &status),
                        Err(e) => {
                            tracing::error!(error = %format!("{e:#}"), "cannot read the cluster's state");
                            error(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "cluster-unavailable",
                                format!("cannot read the cluster's state: {e:#}"),
                            )
                        }
                    },
                }
            }
            "rollback" => respond(deployer.rollback(param(0)).await),
            "promote" => respond(deployer.promote(param(0)).await),
            "activate" => {
                let request: ActivateRequest = match read_json(req).await {
                    Ok(request) => request,
                    Err(refused) => return refused.into_response(),
                };
                respond(deployer.activate(param(0), &request.version).await)
            }
            "set-traffic" => {
                let request: TrafficRequest = match read_json(req).await {
                    Ok(request) => request,
                    Err(refused) => return refused.into_response(),
                };
                respond(deployer.set_traffic(param(0), request).await)
            }
            "head-component" => {
                let digest = match parse_digest(param(0)) {
                    Ok(digest) => digest,
                    Err(refused) => return refused.into_response(),
                };
                match deployer.components().contains(&digest).await {
                    Ok(true) => no_content_status(StatusCode::OK),
                    Ok(false) => no_content_status(StatusCode::NOT_FOUND),
                    Err(e) => internal(&e),
                }
            }
            "put-component" => {
                let digest = match parse_digest(param(0)) {
                    Ok(digest) => digest,
                    Err(refused) => return refused.into_response(),
                };
                let stream = BodyStream::new(req.into_body())
                    .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
                    .map_err(std::io::Error::other);
                match deployer
                    .components()
                    .put_stream(Some(digest), MAX_COMPONENT_BYTES, Box::pin(stream))
                    .await
                {
                    Ok(stored) => json(
                        StatusCode::CREATED,
                        &serde_json::json!({ "digest": stored }),
                    ),
                    Err(e) => put_error(&e),
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn metrics_response(&self) -> Response<Full<Bytes>> {
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
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "failed to render metrics");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        }
    }
}

/// The HTTP status for a refused deployment operation.
pub fn status_of(error: &DeployError) -> StatusCode {
    match error {
        DeployError::UnknownService(_) => StatusCode::NOT_FOUND,
        DeployError::UnknownComponent { .. } | DeployError::Manifest(_) | DeployError::Load(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DeployError::Trust(_) => StatusCode::FORBIDDEN,
        DeployError::NewGrants { .. }
        | DeployError::RouteConflict { .. }
        | DeployError::Conflict(_)
        | DeployError::Concurrent(_) => StatusCode::CONFLICT,
        DeployError::BadRequest(_) => StatusCode::BAD_REQUEST,
        DeployError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn respond(result: Result<ServiceStatus, DeployError>) -> Response<Full<Bytes>> {
    match result {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => deploy_error(&e),
    }
}

fn deploy_error(e: &DeployError) -> Response<Full<Bytes>> {
    let status = status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e, "admin operation failed");
    }
    let body = ErrorBody {
        error: e.to_string(),
        kind: e.kind().to_string(),
        diff: match e {
            DeployError::NewGrants { diff, .. } => Some(diff.clone()),
            _ => None,
        },
    };
    json(status, &body)
}

fn put_error(e: &PutError) -> Response<Full<Bytes>> {
    let (status, kind) = match e {
        PutError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        PutError::DigestMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "digest-mismatch"),
        PutError::Body(_) => (StatusCode::BAD_REQUEST, "bad-request"),
        PutError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "component upload failed");
    }
    error(status, kind, e.to_string())
}

fn internal(e: &anyhow::Error) -> Response<Full<Bytes>> {
    tracing::error!(error = %format!("{e:#}"), "admin operation failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("{e:#}"),
    )
}

/// A request refused before it reached the deployer.
struct BadRequest(String);

impl BadRequest {
    fn into_response(self) -> Response<Full<Bytes>> {
        error(StatusCode::BAD_REQUEST, "bad-request", self.0)
    }
}

fn parse_digest(text: &str) -> Result<Digest, BadRequest> {
    text.parse().map_err(|_| {
        BadRequest(format!(
            "`{text}` is not a digest (expected sha256:<64 hex digits>)"
        ))
    })
}

async fn read_json<B, T>(req: Request<B>) -> Result<T, BadRequest>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
    T: serde::de::DeserializeOwned,
{
    let bytes = Limited::new(req.into_body(), MAX_JSON_BYTES)
        .collect()
        .await
        .map_err(|e| {
            BadRequest(format!(
                "cannot read the request body (at most {MAX_JSON_BYTES} bytes): {e}"
            ))
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| BadRequest(format!("invalid JSON body: {e}")))
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
    }
}

fn error(status: StatusCode, kind: &str, message: String) -> Response<Full<Bytes>> {
    json(
        status,
        &ErrorBody {
            error: message,
            kind: kind.to_string(),
            diff: None,
        },
    )
}

fn no_content() -> Response<Full<Bytes>> {
    no_content_status(StatusCode::NO_CONTENT)
}

fn no_content_status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
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

/// Serves the admin routes on `listener` until `shutdown` completes, with
/// the admin listener's limits ([`ServeOptions::admin`]).
pub async fn serve_admin(
    listener: TcpListener,
    state: Arc<AdminState>,
    metrics_only: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_admin_with(
        listener,
        state,
        metrics_only,
        ServeOptions::admin(),
        shutdown,
    )
    .await
}

/// Like [`serve_admin`] with explicit listener limits. The accept loop,
/// head timeout, head-size limit, idle timeout and connection cap are the
/// public listener's ([`wharf_http::serve_with`]): one implementation.
pub async fn serve_admin_with(
    listener: TcpListener,
    state: Arc<AdminState>,
    metrics_only: bool,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    wharf_http::serve_with(listener, options, shutdown, move |req| {
        let state = state.clone();
        async move { state.handle(req, metrics_only).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::Empty;

    fn get(path: &str, token: Option<&str>) -> Request<Empty<Bytes>> {
        let mut b = Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Empty::new()).unwrap()
    }

    #[tokio::test]
    async fn readiness_starts_false() {
        let state = AdminState::new(Arc::new(Metrics::new().unwrap()), "t".into());
        assert_eq!(
            state.handle(get("/readyz", None), false).await.status(),
            503
        );
        assert_eq!(
            state.handle(get("/healthz", None), false).await.status(),
            200
        );
    }

    #[tokio::test]
    async fn v1_needs_the_exact_token() {
        let state = AdminState::new(Arc::new(Metrics::new().unwrap()), "secret".into());
        for token in [None, Some("secre"), Some("secrets"), Some("Secret")] {
            let status = state
                .handle(get("/v1/services", token), false)
                .await
                .status();
            assert_eq!(status, 401, "{token:?}");
        }
        // Right token, but no deployer yet: starting.
        let status = state
            .handle(get("/v1/services", Some("secret")), false)
            .await
            .status();
        assert_eq!(status, 503);
        let status = state
            .handle(get("/v1/services", Some("secret")), true)
            .await
            .status();
        assert_eq!(status, 404);
        assert_eq!(
            state.handle(get("/metrics", None), true).await.status(),
            200
        );
        let post = Request::post("/v1/services/x/rollback")
            .body(Empty::<Bytes>::new())
            .unwrap();
        assert_eq!(state.handle(post, false).await.status(), 401);
    }
}
