//! One request → one fresh instance → one response.
//!
//! The per-request path does only what must be done per request: pick the
//! service, create a store, instantiate from the service's pre-instantiated
//! template, hand the request to the guest and wait for it to set the
//! response. The guest runs in its own task so it can keep writing the body
//! after the head has gone out; its store (and so the instance and its pool
//! slot) is dropped when the guest returns, after it has written its last
//! body chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wharf_core::HttpServiceTemplate;

use crate::router::Router;

/// Body of every response the server sends: a guest's streamed body or a
/// short host-generated one.
pub type ResponseBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Header carrying the request ID, accepted from the client when sane and
/// echoed on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest client-supplied request ID the host accepts; longer ones are
/// replaced so a client cannot bloat every log line.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The services of one app and the table that routes to them.
pub struct HttpApp {
    router: Router,
    services: Vec<Arc<HttpServiceTemplate>>,
    /// Source of host-generated request IDs; unique per process.
    next_request_id: AtomicU64,
}

impl HttpApp {
    /// An app serving `services`, routed by `router` (whose indices point
    /// into `services`).
    pub fn new(router: Router, services: Vec<Arc<HttpServiceTemplate>>) -> Self {
        Self {
            router,
            services,
            next_request_id: AtomicU64::new(1),
        }
    }

    /// Serves one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ResponseBody> {
        let started = Instant::now();
        let request_id = self.request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_string();

        let (response, service) = match self.router.lookup(&path) {
            None => (text(StatusCode::NOT_FOUND, "not found\n"), None),
            Some(index) => match self.services.get(index) {
                Some(template) => (
                    self.run(template, req, request_id.clone()).await,
                    Some(template.identity()),
                ),
                None => (
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
                    None,
                ),
            },
        };
        let mut response = response;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        tracing::info!(
            target: "wharf::access",
            service = service.map(|s| &*s.name).unwrap_or("-"),
            version = service.map(|s| &*s.version).unwrap_or("-"),
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            duration_us = started.elapsed().as_micros() as u64,
            request_id = %request_id,
            "request"
        );
        response
    }

    async fn run(
        &self,
        template: &Arc<HttpServiceTemplate>,
        req: Request<Incoming>,
        request_id: Arc<str>,
    ) -> Response<ResponseBody> {
        let identity = template.identity();
        match instantiate_and_call(template, req, request_id.clone()).await {
            Ok(response) => response,
            Err(failure) => {
                match &failure {
                    Failure::PoolExhausted => tracing::warn!(
                        service = %identity.name,
                        request_id = %request_id,
                        "no instance slot free: answering 503"
                    ),
                    Failure::Guest(error) => tracing::error!(
                        service = %identity.name,
                        version = %identity.version,
                        request_id = %request_id,
                        error = %format!("{error:#}"),
                        "service failed to produce a response"
                    ),
                }
                failure.into_response()
            }
        }
    }

    fn request_id(&self, req: &Request<Incoming>) -> Arc<str> {
        let supplied = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= MAX_REQUEST_ID_LEN
                    && v.bytes().all(|b| b.is_ascii_graphic())
            });
        match supplied {
            Some(id) => Arc::from(id),
            None => {
                let n = self.next_request_id.fetch_add(1, Ordering::Relaxed);
                Arc::from(format!("{n:016x}"))
            }
        }
    }
}

/// Why a request got no response from its guest.
enum Failure {
    /// Every pooling-allocator slot is in use.
    PoolExhausted,
    /// The guest trapped, panicked, or returned without a response.
    Guest(anyhow::Error),
}

impl Failure {
    fn into_response(self) -> Response<ResponseBody> {
        match self {
            Failure::PoolExhausted => {
                let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "host at capacity\n");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Failure::Guest(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
        }
    }
}

async fn instantiate_and_call(
    template: &Arc<HttpServiceTemplate>,
    req: Request<Incoming>,
    request_id: Arc<str>,
) -> Result<Response<ResponseBody>, Failure> {
    let mut store = template.new_store(request_id);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let guest_req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(|e| Failure::Guest(anyhow::Error::from(e)))?;
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(sender)
        .map_err(|e| Failure::Guest(anyhow::Error::from(e)))?;

    let template = template.clone();
    let task = tokio::task::spawn(async move {
        let proxy = template.pre().instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, guest_req, out)
            .await
    });

    match receiver.await {
        Ok(Ok(response)) => Ok(response.map(|body| body.boxed_unsync())),
        Ok(Err(code)) => Err(Failure::Guest(anyhow::anyhow!(
            "guest answered with error code {code:?}"
        ))),
        // The sender is dropped with the store without a response: the task
        // tells why.
        Err(_) => {
            let error = match task.await {
                Ok(Ok(())) => anyhow::anyhow!("guest returned without setting a response"),
                Ok(Err(e)) => {
                    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                        .is_some()
                    {
                        return Err(Failure::PoolExhausted);
                    }
                    anyhow::Error::from(e)
                }
                Err(join) => anyhow::Error::from(join).context("guest task failed"),
            };
            Err(Failure::Guest(error))
        }
    }
}

/// A short host-generated text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
