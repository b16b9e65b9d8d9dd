//! The outbound HTTP allowlist.
//!
//! Every request a guest sends through `wasi:http/outgoing-handler` passes
//! through [`OutboundHooks::send_request`]. A request whose origin is not on
//! the service's allowlist never leaves the host: the guest receives the
//! standard `HTTP-request-denied` error code and the host logs the attempt
//! with the service's name. The allowlist is computed once per service
//! version ([`OutboundPolicy`]) and shared by its instances.

use std::sync::Arc;

use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_send_request,
};
use wharf_manifest::AllowedOrigin;

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

    /// Whether a request to `uri` may leave the host.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|o| o.allows(scheme, host, uri.port_u16()))
    }
}

/// The `wasi:http` hooks of one instance: the allowlist, then wasmtime's
/// default client.
pub struct OutboundHooks {
    /// Name of the service, for the denial log line.
    pub service: Arc<str>,
    /// The allowlist of the service's version.
    pub policy: Arc<OutboundPolicy>,
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
        if !self.policy.allows(request.uri()) {
            tracing::warn!(
                service = %self.service,
                uri = %request.uri(),
                "outbound request denied: origin not granted to the service"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
