//! One request → one fresh instance → one response.
//!
//! The per-request path does only what must be done per request: pick the
//! service, create a store, instantiate from the service's pre-instantiated
//! template, hand the request to the guest and wait for it to set the
//! response. The guest runs inline in the request's task until the head is
//! set; if it is still writing its body then, it moves to a task of its own
//! so it can keep writing after the head has gone out. Its store (and so the
//! instance and its pool slot) is dropped when the guest returns, after it
//! has written its last body chunk. A service that opts into
//! `limits.instance_reuse` gets an idle instance of an earlier request
//! instead when one is ready, and hands its instance back when the guest
//! returns cleanly (see [`wharf_core::reuse`]).
//!
//! Both WASI releases take this path; only the call itself differs, chosen
//! by the version's [`GuestAbi`] (decided at load). A WASI 0.2 guest answers
//! through a `response-outparam` from one synchronous call. A WASI 0.3 guest
//! runs inside the store's concurrent event loop (`run_concurrent`): its
//! async `handle` returns the response, and the loop keeps running until
//! every task of the instance has exited, which is how a body it is still
//! writing reaches the client. Permit, limits, timeout, body limits,
//! outcome and metrics are the same code for both.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use wasmtime::Store;
use wasmtime::component::Resource;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::{
    ErrorCode as P2ErrorCode, IncomingRequest, ResponseOutparam, Scheme,
};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wharf_core::component::GuestAbi;
use wharf_core::concurrency::Rejected;
use wharf_core::outbound::{
    InternalDispatch, InternalResponse, OutboundContext, Propagate, internal_service,
};
use wharf_core::reuse::Instance;
use wharf_core::{InstanceState, LimitHit, ServiceTemplate};

use wharf_metrics::{EndReason, Metrics, RequestMetrics};
use wharf_telemetry::{Telemetry, TraceContext};

use crate::body_limit::LimitedBody;
use crate::observe::{ObservedBody, RequestRecord};
use crate::table::{RouteTable, Serving};

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
    /// Replaced whole on every deploy; read once per request.
    table: arc_swap::ArcSwap<RouteTable>,
    /// Hands `http://<service>.internal` calls of this app's instances back
    /// to this app; built once, cloned into every request's context.
    internal: InternalDispatch,
    /// The message broker guests publish through.
    broker: Option<Arc<dyn wharf_messaging::Broker>>,
    /// Where this app's subjects live on the broker.
    namespace: Arc<wharf_messaging::Namespace>,
    /// The (empty) message metadata of an HTTP request, shared so the
    /// per-request path allocates nothing for it.
    no_metadata: Arc<Vec<(String, String)>>,
    /// Source of host-generated request IDs; unique per process.
    next_request_id: AtomicU64,
    metrics: Arc<Metrics>,
    /// Handles for requests no route matched, resolved once.
    unrouted: RequestMetrics,
    telemetry: Telemetry,
}

/// Counts service-to-service hops of one request chain.
const HOPS_HEADER: &str = "x-wharf-hops";

/// Longest chain of in-process service calls before the next is refused
/// with `loop-detected`.
const MAX_INTERNAL_HOPS: u32 = 16;

/// Label used for requests no route matched.
const UNROUTED: &str = "unrouted";

impl HttpApp {
    /// An app serving `table`, counting into `metrics`, exporting spans
    /// through `telemetry`, and letting guests publish through `broker`,
    /// in `namespace`.
    pub fn new(
        table: RouteTable,
        metrics: Arc<Metrics>,
        telemetry: Telemetry,
        broker: Option<Arc<dyn wharf_messaging::Broker>>,
        namespace: wharf_messaging::Namespace,
    ) -> Arc<Self> {
        Arc::new_cyclic(|app: &std::sync::Weak<HttpApp>| Self {
            broker,
            namespace: Arc::new(namespace),
            no_metadata: Arc::default(),
            internal: {
                let app = app.clone();
                Arc::new(move |req, hops| {
                    let app = app.clone();
                    Box::pin(async move {
                        match app.upgrade() {
                            Some(app) => app.call_internal(req, hops).await,
                            None => Err(wasmtime_wasi_http::Error::DestinationNotFound),
                        }
                    })
                })
            },
            table: arc_swap::ArcSwap::from_pointee(table),
            next_request_id: AtomicU64::new(1),
            unrouted: metrics.requests(UNROUTED, ""),
            metrics,
            telemetry,
        })
    }

    /// The table serving now.
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// The broker guests publish through.
    pub fn broker(&self) -> Option<&Arc<dyn wharf_messaging::Broker>> {
        self.broker.as_ref()
    }

    /// Where this app's subjects live on the broker.
    pub fn namespace(&self) -> &Arc<wharf_messaging::Namespace> {
        &self.namespace
    }

    /// The context of an instance that calls out: `propagate` for its
    /// messages and requests, this app for `.internal` calls, the broker,
    /// and the inbox and headers of the message it handles.
    pub fn outbound_context(
        &self,
        propagate: Propagate,
        reply_to: Option<String>,
        message_metadata: Arc<Vec<(String, String)>>,
    ) -> OutboundContext {
        OutboundContext {
            propagate,
            internal: Some(self.internal.clone()),
            broker: self.broker.clone(),
            namespace: self.namespace.clone(),
            reply_to,
            message_metadata,
            hops: 0,
        }
    }

    /// Puts `table` in service: requests that start after this call use
    /// it; requests already running finish on the table they started with.
    pub fn install(&self, table: RouteTable) {
        self.table.store(Arc::new(table));
    }

    /// Refreshes gauges that are read from the services rather than kept
    /// per request (the wait queues); called when metrics are scraped.
    pub fn observe(&self) {
        for target in self.table.load().services() {
            let queued: u32 = target
                .versions()
                .map(|v| v.template.concurrency().queued())
                .sum();
            self.metrics
                .requests_queued
                .with_label_values(&[&*target.stable.template.identity().name])
                .set(i64::from(queued));
        }
    }

    /// Serves one request. Generic over the request body so benchmarks and
    /// in-process callers can skip the network; the server passes hyper's
    /// `Incoming`.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ObservedBody<ResponseBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let target = self.table.load().lookup(req.uri().path()).cloned();
        self.serve(req, target, 0).await
    }

    /// A call from one of this app's instances to `http://<service>.internal/…`:
    /// served by a fresh instance of that service, with no network hop.
    /// `hops` is the caller's depth, as the host recorded it.
    async fn call_internal(
        &self,
        mut req: Request<wasmtime_wasi_http::WasiBody>,
        hops: u32,
    ) -> InternalResponse {
        // A → B → A → … would hold an instance per hop until the pool ran
        // dry; a bounded hop count turns it into a clear error. The count
        // travels with the instance's context, not in a header: a guest
        // controls its outgoing headers, and would reset it.
        if hops >= MAX_INTERNAL_HOPS {
            return Err(wasmtime_wasi_http::Error::LoopDetected);
        }
        let Some(target) =
            internal_service(req.uri()).and_then(|name| self.table.load().by_name(name).cloned())
        else {
            return Err(wasmtime_wasi_http::Error::DestinationNotFound);
        };
        // Informational for the callee; whatever the caller put there is
        // replaced.
        req.headers_mut()
            .insert(HOPS_HEADER, HeaderValue::from(hops + 1));
        let response = self.serve(req, Some(target), hops + 1).await;
        Ok(response.map(BodyExt::boxed_unsync))
    }

    async fn serve<B>(
        &self,
        req: Request<B>,
        target: Option<Arc<crate::table::ServiceTarget>>,
        hops: u32,
    ) -> Response<ObservedBody<ResponseBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let started = Instant::now();
        let request_id = self.request_id(&req);
        let trace = TraceContext::from_request_headers(req.headers());
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let span = self.telemetry.is_enabled().then(|| {
            let mut span = self
                .telemetry
                .start_span(&trace, &format!("{method} {path}"));
            span.set_attribute("http.request.method", method.as_str());
            span.set_attribute("url.path", path.clone());
            span.set_attribute("wharf.request_id", &*request_id);
            span
        });
        let request_bytes = Arc::new(AtomicU64::new(0));

        let has_authority =
            req.uri().authority().is_some() || req.headers().contains_key(header::HOST);
        // Held for the whole request: a swap meanwhile does not move it.
        let serving = target.map(|target| target.pick(&request_id, req.headers()).clone());
        let (service, version, handles): (Arc<str>, Arc<str>, &RequestMetrics) = match &serving {
            Some(s) => (
                s.template.identity().name.clone(),
                s.template.identity().version.clone(),
                &s.template.service_metrics().requests,
            ),
            None => (Arc::from(UNROUTED), Arc::from(""), &self.unrouted),
        };
        let handles = handles.clone();
        // Decremented when the response ends, or when this future is
        // dropped first because the client went away.
        let in_flight = InFlight::new(handles.http_in_flight.clone());

        let mut response = match serving {
            // wasi:http requires an authority; without one the request is
            // malformed (HTTP/1.1 makes Host mandatory).
            _ if !has_authority => text(StatusCode::BAD_REQUEST, "missing Host header\n"),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
            Some(serving) => {
                let mut outbound = self.outbound_context(
                    propagation(&trace, &request_id),
                    None,
                    self.no_metadata.clone(),
                );
                outbound.hops = hops;
                self.run(
                    serving,
                    req,
                    request_id.clone(),
                    outbound,
                    request_bytes.clone(),
                )
                .await
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let record = RequestRecord {
            metrics: self.metrics.clone(),
            service,
            version,
            method,
            path,
            status: response.status().as_u16(),
            request_id,
            trace_id: trace.trace_id_hex(),
            started,
            request_bytes,
            span,
            _in_flight: in_flight,
            handles,
        };
        let expected = content_length(response.headers());
        response.map(|body| ObservedBody::new(body, expected, record))
    }

    async fn run<B>(
        &self,
        serving: Serving,
        req: Request<B>,
        request_id: Arc<str>,
        outbound: OutboundContext,
        request_bytes: Arc<AtomicU64>,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let template = &serving.template;
        let identity = template.identity();
        let call = Call {
            template,
            retire: serving.retire.clone(),
            request_id: request_id.clone(),
            outbound,
            request_bytes,
        };
        match call.run(req).await {
            Ok(response) => response,
            Err(failure) => {
                if let Some(reason) = failure.rejection() {
                    self.metrics
                        .requests_rejected
                        .with_label_values(&[&*identity.name, reason])
                        .inc();
                }
                match &failure {
                    Failure::Guest(error) | Failure::Memory(error) => tracing::error!(
                        service = %identity.name,
                        version = %identity.version,
                        request_id = %request_id,
                        reason = failure.reason(),
                        // A trap message carries the guest's own function
                        // names (and a multi-line backtrace).
                        error = %wharf_telemetry::guest_text_within(&format!("{error:#}"), 4096),
                        "service failed to produce a response"
                    ),
                    other => tracing::warn!(
                        service = %identity.name,
                        version = %identity.version,
                        request_id = %request_id,
                        reason = other.reason(),
                        "request refused or cut off"
                    ),
                }
                failure.into_response()
            }
        }
    }

    fn request_id<B>(&self, req: &Request<B>) -> Arc<str> {
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
    /// The service's concurrency limit and wait queue are full.
    Busy(Rejected),
    /// The request body is larger than the service accepts.
    BodyTooLarge,
    /// The guest used up its CPU-time budget.
    CpuTime,
    /// The request ran past its wall-clock timeout.
    Timeout,
    /// The request outlived its version's drain timeout after a swap.
    Retired,
    /// The guest tried to grow memory past its limit and then failed.
    Memory(anyhow::Error),
    /// The guest trapped, panicked, or returned without a response.
    Guest(anyhow::Error),
}

impl Failure {
    /// The `wharf_requests_rejected_total` reason, for refusals that
    /// happened before the guest ran.
    fn rejection(&self) -> Option<&'static str> {
        match self {
            Failure::PoolExhausted => Some("pool_exhausted"),
            Failure::Busy(Rejected::QueueFull) => Some("queue_full"),
            Failure::Busy(Rejected::QueueTimeout) => Some("queue_timeout"),
            Failure::BodyTooLarge => Some("body_too_large"),
            _ => None,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Failure::PoolExhausted => "host instance pool exhausted",
            Failure::Busy(Rejected::QueueFull) => "concurrency limit reached and queue full",
            Failure::Busy(Rejected::QueueTimeout) => "waited too long for an instance slot",
            Failure::BodyTooLarge => "request body over the service's limit",
            Failure::CpuTime => "cpu time limit exceeded",
            Failure::Timeout => "request timeout exceeded",
            Failure::Retired => "version retired and drain timeout passed",
            Failure::Memory(_) => "memory limit exceeded",
            Failure::Guest(_) => "guest failed",
        }
    }

    fn into_response(self) -> Response<ResponseBody> {
        match self {
            Failure::PoolExhausted => retry_later("host at capacity\n"),
            Failure::Busy(_) => retry_later("service at capacity\n"),
            Failure::BodyTooLarge => {
                text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
            }
            Failure::CpuTime => text(StatusCode::GATEWAY_TIMEOUT, "cpu time limit exceeded\n"),
            Failure::Timeout => text(StatusCode::GATEWAY_TIMEOUT, "request timed out\n"),
            Failure::Retired => retry_later("service version replaced\n"),
            Failure::Memory(_) => {
                text(StatusCode::INTERNAL_SERVER_ERROR, "memory limit exceeded\n")
            }
            Failure::Guest(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
        }
    }
}

fn retry_later(body: &'static str) -> Response<ResponseBody> {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// How the guest's task ended.
enum TaskEnd {
    /// `handle` returned (or trapped); the limit that ended it, if any.
    Returned(Result<(), wasmtime::Error>, Option<LimitHit>),
    /// The wall-clock timeout fired first.
    TimedOut,
    /// The version was retired and its drain timeout passed first.
    Retired,
}

/// One call into a service: the request's per-call context.
struct Call<'a> {
    template: &'a Arc<ServiceTemplate>,
    /// Fired when this version has been retired and drained.
    retire: crate::table::RetireSignal,
    request_id: Arc<str>,
    outbound: OutboundContext,
    request_bytes: Arc<AtomicU64>,
}

impl Call<'_> {
    async fn run<B>(self, req: Request<B>) -> Result<Response<ResponseBody>, Failure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let Call {
            template,
            retire,
            request_id,
            outbound,
            request_bytes,
        } = self;
        let limits = &template.policy().limits;
        let declared_len = content_length(req.headers());
        if declared_len.is_some_and(|len| len > limits.max_request_body_bytes) {
            return Err(Failure::BodyTooLarge);
        }
        let permit = template
            .concurrency()
            .acquire()
            .await
            .map_err(Failure::Busy)?;

        let body_exceeded = Arc::new(AtomicBool::new(false));
        let req = req.map(|body| {
            LimitedBody::request(
                body,
                limits.max_request_body_bytes,
                body_exceeded.clone(),
                request_bytes,
            )
        });
        let Instance {
            mut store,
            proxy,
            served,
        } = template
            .checkout(request_id, outbound)
            .map_err(Failure::Guest)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let call = GuestCall::prepare(template, &mut store, req, sender)
            .map_err(|e| Failure::Guest(anyhow::Error::from(e)))?;

        let timeout = limits.timeout;
        let task_template = template.clone();
        let mut lifecycle = InstanceLifecycle::start(template);
        // The guest runs inline in this request's task until it has set the
        // response head: a small answer is usually written, finished and
        // the instance dropped (or handed back) in the same poll, with no
        // task spawned and no cross-task wake-up. A guest still writing its
        // body then carries on in a task of its own.
        let mut guest: Pin<Box<dyn Future<Output = TaskEnd> + Send>> = Box::pin(async move {
            // Held until the guest is done, body included.
            let _permit = permit;
            let run = async {
                let result = async {
                    let proxy = match proxy {
                        Some(proxy) => {
                            lifecycle.reused();
                            proxy
                        }
                        None => {
                            let started = Instant::now();
                            let Some(abi) = task_template.http() else {
                                return Err(wasmtime::Error::msg(
                                    "the service exports no HTTP handler",
                                ));
                            };
                            let proxy = abi.instantiate(&mut store).await?;
                            lifecycle.instantiated(started.elapsed());
                            proxy
                        }
                    };
                    call.run(&mut store, &proxy).await?;
                    Ok(proxy)
                }
                .await;
                let limit = store.data().limit_hit();
                let (result, proxy) = match result {
                    Ok(proxy) => (Ok(()), Some(proxy)),
                    Err(e) => (Err(e), None),
                };
                lifecycle.ended(&result, limit, store.data().peak_memory());
                // Only an instance whose request ended cleanly may serve
                // another; a trapped or limited one is dropped here.
                if let (Some(proxy), None) = (proxy, limit) {
                    task_template.check_in(store, proxy, served + 1);
                }
                (result, limit)
            };
            tokio::select! {
                ended = tokio::time::timeout(timeout, run) => match ended {
                    Ok((result, limit)) => TaskEnd::Returned(result, limit),
                    Err(_) => {
                        lifecycle.timed_out();
                        TaskEnd::TimedOut
                    }
                },
                () = retire.cancelled() => {
                    lifecycle.retired();
                    TaskEnd::Retired
                }
            }
        });

        // Dropping `guest` before the head (the client went away) stops the
        // guest at its next yield and drops its instance.
        let mut receiver = receiver;
        let mut end = None;
        let head = std::future::poll_fn(|cx| {
            if end.is_none()
                && let Poll::Ready(ended) = guest.as_mut().poll(cx)
            {
                end = Some(ended);
            }
            match Pin::new(&mut receiver).poll(cx) {
                Poll::Ready(head) => Poll::Ready(Some(head)),
                // The guest is done, so the answer, if any, is already in
                // the channel: `poll` can still say Pending when this task
                // has used up its tokio budget running the guest, and
                // `try_recv` does not ask the budget. Nothing there means
                // the guest ended without a response.
                Poll::Pending if end.is_some() => Poll::Ready(receiver.try_recv().ok().map(Ok)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        // The guest answered but is not done (a streamed body, work after
        // the response): let it finish on its own, as before.
        let finish_alone = |end: &Option<TaskEnd>, guest| {
            if end.is_none() {
                tokio::spawn(guest);
            }
        };

        match head {
            Some(Ok(Ok(response))) => {
                finish_alone(&end, guest);
                // A guest that failed because we cut its oversized body off
                // answers 5xx; the client needs to hear why.
                if body_exceeded.load(Ordering::Acquire) && response.status().is_server_error() {
                    return Err(Failure::BodyTooLarge);
                }
                let response = match limits.max_response_body_bytes {
                    Some(max) => {
                        let declared = content_length(response.headers());
                        if declared.is_some_and(|len| len > max) {
                            return Err(Failure::Guest(anyhow::anyhow!(
                                "response declares {} bytes, over the service's limit of {max}",
                                declared.unwrap_or_default()
                            )));
                        }
                        response.map(|body| LimitedBody::response(body, max).boxed_unsync())
                    }
                    // wasmtime-wasi-http's body already is a `ResponseBody`.
                    None => response,
                };
                Ok(response)
            }
            Some(Ok(Err(code))) => {
                finish_alone(&end, guest);
                if body_exceeded.load(Ordering::Acquire) {
                    return Err(Failure::BodyTooLarge);
                }
                Err(Failure::Guest(anyhow::anyhow!(
                    "guest answered with error code {code:?}"
                )))
            }
            // The sender was dropped without a response: how the guest
            // ended tells why.
            Some(Err(_)) | None => {
                let end = match end {
                    Some(end) => end,
                    None => guest.await,
                };
                if body_exceeded.load(Ordering::Acquire) {
                    return Err(Failure::BodyTooLarge);
                }
                match end {
                    TaskEnd::TimedOut => Err(Failure::Timeout),
                    TaskEnd::Retired => Err(Failure::Retired),
                    TaskEnd::Returned(_, Some(LimitHit::CpuTime)) => Err(Failure::CpuTime),
                    TaskEnd::Returned(result, Some(LimitHit::Memory)) => {
                        Err(Failure::Memory(result.err().map_or_else(
                            || anyhow::anyhow!("returned without a response"),
                            anyhow::Error::from,
                        )))
                    }
                    TaskEnd::Returned(Ok(()), None) => Err(Failure::Guest(anyhow::anyhow!(
                        "guest returned without setting a response"
                    ))),
                    TaskEnd::Returned(Err(e), None) => {
                        if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                            .is_some()
                        {
                            return Err(Failure::PoolExhausted);
                        }
                        Err(Failure::Guest(anyhow::Error::from(e)))
                    }
                }
            }
        }
    }
}

/// Where a guest's answer goes: the response head (its body streams on), or
/// the error code it answered with.
type Answer = tokio::sync::oneshot::Sender<Result<Response<HyperOutgoingBody>, P2ErrorCode>>;

/// One request made ready for its guest's ABI, before the guest runs.
enum GuestCall {
    /// `wasi:http/incoming-handler@0.2.x`: the request and the outparam the
    /// guest answers through, already in the store's table.
    P2 {
        request: Resource<IncomingRequest>,
        out: Resource<ResponseOutparam>,
    },
    /// `wasi:http/handler@0.3.x`: the request, the future that reports how
    /// its body was consumed, and where the answer goes.
    P3 {
        request: wasmtime_wasi_http::p3::Request,
        request_io: Pin<Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>>,
        answer: Answer,
    },
}

impl GuestCall {
    fn prepare<B>(
        template: &ServiceTemplate,
        store: &mut Store<InstanceState>,
        req: Request<B>,
        answer: Answer,
    ) -> wasmtime::Result<Self>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        match template.http() {
            Some(GuestAbi::HttpP2(_)) => {
                let mut http = store.data_mut().http();
                let request = http.new_incoming_request(Scheme::Http, req)?;
                let out = http.new_response_outparam(answer)?;
                Ok(GuestCall::P2 { request, out })
            }
            Some(GuestAbi::HttpP3(_)) => {
                let http = store.data_mut().http();
                let (request, request_io) =
                    wasmtime_wasi_http::p3::Request::from_http(http.hooks, req);
                Ok(GuestCall::P3 {
                    request,
                    request_io: Box::pin(request_io),
                    answer,
                })
            }
            None => Err(wasmtime::Error::msg("the service exports no HTTP handler")),
        }
    }

    /// Calls the guest's handler and runs it until it has returned (WASI
    /// 0.2) or until every task of the instance has exited (WASI 0.3).
    async fn run(self, store: &mut Store<InstanceState>, proxy: &Proxy) -> wasmtime::Result<()> {
        match (self, proxy) {
            (GuestCall::P2 { request, out }, Proxy::P2(proxy)) => {
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(store, request, out)
                    .await
            }
            (
                GuestCall::P3 {
                    request,
                    request_io,
                    answer,
                },
                Proxy::P3(service),
            ) => {
                store
                    .run_concurrent(async |accessor| {
                        let head = match service.handle(accessor, request).await? {
                            Ok(response) => Ok(accessor
                                .with(|mut access| response.into_http(&mut access, request_io))?),
                            Err(code) => Err(P2ErrorCode::InternalError(Some(format!("{code:?}")))),
                        };
                        _ = answer.send(head);
                        // A guest may keep running after it answered
                        // (writing the body, work after the response): its
                        // tasks run only while this loop does.
                        std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                        wasmtime::Result::Ok(())
                    })
                    .await?
            }
            _ => Err(wasmtime::Error::msg(
                "the instance and the request belong to different WASI releases",
            )),
        }
    }
}

/// Counts one instance from creation to end. Dropped after creation
/// without an end reason (the guest was dropped because its client left),
/// it counts as `aborted`. An instance that was never created (no pool
/// slot) is not counted at all: that request is counted as rejected.
struct InstanceLifecycle {
    template: Arc<ServiceTemplate>,
    created: bool,
    reason: Option<EndReason>,
    peak_memory: usize,
}

impl InstanceLifecycle {
    fn start(template: &Arc<ServiceTemplate>) -> Self {
        Self {
            template: template.clone(),
            created: false,
            reason: None,
            peak_memory: 0,
        }
    }

    /// The request runs on an idle instance of an earlier request.
    fn reused(&mut self) {
        self.created = true;
        let m = self.template.service_metrics();
        m.instance_reuses.inc();
        m.instances_live.inc();
    }

    fn instantiated(&mut self, took: std::time::Duration) {
        self.created = true;
        let m = self.template.service_metrics();
        m.instantiations.inc();
        m.instantiation_duration.observe(took.as_secs_f64());
        m.instances_live.inc();
    }

    fn timed_out(&mut self) {
        self.reason = Some(EndReason::Timeout);
    }

    fn retired(&mut self) {
        self.reason = Some(EndReason::Aborted);
    }

    fn ended(
        &mut self,
        result: &Result<(), wasmtime::Error>,
        limit: Option<LimitHit>,
        peak_memory: usize,
    ) {
        self.peak_memory = peak_memory;
        self.reason = Some(match (result, limit) {
            (_, Some(LimitHit::CpuTime)) => EndReason::CpuLimit,
            (_, Some(LimitHit::Memory)) => EndReason::MemoryLimit,
            (Ok(()), None) => EndReason::Completed,
            (Err(_), None) => EndReason::Trap,
        });
    }
}

impl Drop for InstanceLifecycle {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        let m = self.template.service_metrics();
        m.instances_live.dec();
        m.instance_ends(self.reason.unwrap_or(EndReason::Aborted))
            .inc();
        if self.peak_memory > 0 {
            m.instance_peak_memory.observe(self.peak_memory as f64);
        }
    }
}

/// One request counted in `wharf_http_requests_in_flight` until dropped.
pub(crate) struct InFlight(wharf_metrics::IntGauge);

impl InFlight {
    fn new(gauge: wharf_metrics::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What every outbound request of this instance carries: the trace
/// context (with this host's span as parent) and the request ID. Built only
/// when the guest actually sends a request.
pub fn propagation(trace: &TraceContext, request_id: &Arc<str>) -> Propagate {
    let trace = trace.clone();
    let request_id = request_id.clone();
    Arc::new(move |headers: &mut http::HeaderMap| {
        if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
            headers.insert(HeaderName::from_static("traceparent"), value);
        }
        if let Some(state) = trace.tracestate()
            && let Ok(value) = HeaderValue::from_str(state)
        {
            headers.insert(HeaderName::from_static("tracestate"), value);
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
    })
}

/// The `content-length` a message declares, if it declares a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
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
