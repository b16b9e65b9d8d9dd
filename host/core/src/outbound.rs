//! The outbound HTTP allowlist, and service-to-service calls.
//!
//! Every request a guest sends through `wasi:http/outgoing-handler` passes
//! through [`OutboundHooks::send_request`]. A request whose origin is not on
//! the service's allowlist never leaves the host: the guest receives the
//! standard `HTTP-request-denied` error code and the host logs the attempt
//! with the service's name. The allowlist is computed once per service
//! version ([`OutboundPolicy`]) and shared by its instances.
//!
//! A granted request to `http://<service>.internal/...` never touches the
//! network either: it goes to [`InternalDispatch`], which hands it to a
//! fresh instance of that service of the same app, in-process. Calling
//! another service needs the same grant as any origin
//! (`outbound = ["http://inventory.internal"]`).

use std::sync::Arc;

use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_send_request,
};

use wharf_manifest::AllowedOrigin;
use wharf_metrics::Metrics;

/// The origins one service version may call. Empty means none: deny by
/// default.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedOrigin>,
}

impl OutboundPolicy {
    /// A policy that allows exactly `allowed`.
    pub fn new(allowed: Vec<AllowedOrigin>) -> Self {
        Self { allowed }
    }

    /// The grant that lets a request to `uri` leave the host, if any.
    pub fn grant_for(&self, uri: &http::Uri) -> Option<&AllowedOrigin> {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return None;
        };
        self.allowed
            .iter()
            .find(|o| o.allows(scheme, host, uri.port_u16()))
    }
}

/// Writes the headers that carry a request's context (trace context,
/// request ID) onto an outbound request. A closure, so the header values are
/// only built for instances that actually call out.
pub type Propagate = Arc<dyn Fn(&mut http::HeaderMap) + Send + Sync>;

/// The host suffix that names a service of the same app.
pub const INTERNAL_SUFFIX: &str = ".internal";

/// What an in-process service call returns.
pub type InternalResponse = wasmtime_wasi_http::Result<http::Response<WasiBody>>;

/// Sends a request to the service named by its `<name>.internal` host,
/// in-process, with the caller's hop count (see [`OutboundContext::hops`]);
/// set by the HTTP trigger, which knows the app's services.
pub type InternalDispatch = Arc<
    dyn Fn(
            http::Request<WasiBody>,
            u32,
        ) -> std::pin::Pin<Box<dyn Future<Output = InternalResponse> + Send>>
        + Send
        + Sync,
>;

/// The per-request side of outbound calls: what every outbound request of
/// the instance carries, and where service-to-service calls go.
#[derive(Clone)]
pub struct OutboundContext {
    /// Adds the request's trace context and ID to an outbound request.
    pub propagate: Propagate,
    /// Dispatches `http://<service>.internal` calls; `None` where there is
    /// no app to call into (they are then refused as unknown).
    pub internal: Option<InternalDispatch>,
    /// The host's message broker; `None` where messaging is off.
    pub broker: Option<Arc<dyn wharf_messaging::Broker>>,
    /// Where the app's subjects live on the broker.
    pub namespace: Arc<wharf_messaging::Namespace>,
    /// When the instance handles a message: its reply inbox, as on the
    /// broker (the one subject outside the namespace it may publish to).
    pub reply_to: Option<String>,
    /// When the instance handles a message: its headers.
    pub message_metadata: Arc<Vec<(String, String)>>,
    /// How many `.internal` calls deep the request this instance serves
    /// is (0 for one from a client or a message). Kept by the host, never
    /// read from a header a guest could forge, and handed to the
    /// dispatcher, which refuses a call past its limit.
    pub hops: u32,
}

/// The service a `<name>.internal` host names, if it is one.
pub fn internal_service(uri: &http::Uri) -> Option<&str> {
    uri.host()?
        .strip_suffix(INTERNAL_SUFFIX)
        .filter(|name| !name.is_empty() && !name.contains('.'))
}

/// The `wasi:http` hooks of one instance: the allowlist, then in-process
/// dispatch for `.internal` services or wasmtime's default client.
pub struct OutboundHooks {
    /// Name of the service, for the denial log line.
    pub service: Arc<str>,
    /// The allowlist of the service's version.
    pub policy: Arc<OutboundPolicy>,
    /// Where outcomes are counted.
    pub metrics: Arc<Metrics>,
    /// The request's context and the in-process dispatcher.
    pub context: OutboundContext,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let Some(grant) = self.policy.grant_for(request.uri()) else {
            tracing::warn!(
                service = %self.service,
                uri = %wharf_telemetry::guest_text(&request.uri().to_string()),
                "outbound request denied: origin not granted to the service"
            );
            self.metrics
                .outbound_denied
                .with_label_values(&[&*self.service, "http"])
                .inc();
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        };
        let mut request = request;
        (self.context.propagate)(request.headers_mut());
        let counter = |outcome| {
            self.metrics.outbound_requests.with_label_values(&[
                &*self.service,
                &grant.to_string(),
                outcome,
            ])
        };
        let ok = counter("ok");
        let error = counter("error");
        if internal_service(request.uri()).is_some() {
            let dispatch = self.context.internal.clone();
            let hops = self.context.hops;
            let first_byte = options.and_then(|o| o.first_byte_timeout);
            return Box::new(async move {
                let Some(dispatch) = dispatch else {
                    error.inc();
                    return Err(HttpError::DestinationNotFound);
                };
                // The callee runs in a task of its own: polled inside the
                // caller's store (a WASI 0.3 caller polls this from its
                // store's event loop), its own store would be entered
                // recursively, which wasmtime refuses.
                // Dropped with the caller, it stops the callee as before.
                let call = async move {
                    let mut task = AbortOnDrop(tokio::spawn(dispatch(request, hops)));
                    (&mut task.0).await.unwrap_or_else(|_| {
                        Err(HttpError::InternalError(Some(
                            "the called service's task failed".to_string(),
                        )))
                    })
                };
                let response = match first_byte {
                    Some(limit) => match tokio::time::timeout(limit, call).await {
                        Ok(response) => response,
                        Err(_) => Err(HttpError::HttpResponseTimeout),
                    },
                    None => call.await,
                };
                match &response {
                    Ok(_) => ok.inc(),
                    Err(_) => error.inc(),
                }
                // Nothing to drive: the callee's instance runs in its own task.
                response.map(|r| {
                    (
                        r,
                        Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                    )
                })
            });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            match default_send_request(request, options).await {
                Ok((response, io)) => {
                    ok.inc();
                    Ok((
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as Box<dyn Future<Output = _> + Send>,
                    ))
                }
                Err(e) => {
                    error.inc();
                    Err(e)
                }
            }
        })
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
