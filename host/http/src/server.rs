//! The accept loop and graceful shutdown, shared by every listener.
//!
//! [`serve_with`] takes a bound listener, the settings of that listener and
//! a shutdown future from its caller (the CLI binds the address and wires
//! Ctrl-C/SIGTERM; tests bind port 0 and use a oneshot), serves HTTP/1.1
//! with keep-alive and HTTP/2 cleartext on the same port, and on shutdown
//! stops accepting, lets in-flight requests finish within a grace period,
//! then returns. [`serve`] is the public listener (the app); the admin
//! listener (`wharf-admin`) calls [`serve_with`] with its own handler, so
//! both get the same limits from one implementation.
//!
//! # Limits every listener applies
//!
//! - **Head timeout** ([`ServeOptions::header_read_timeout`]): an HTTP/1
//!   client trickling a request head (slowloris) is cut off; hyper runs the
//!   same timer while a keep-alive connection waits for its next request.
//! - **Head size** ([`ServeOptions::max_header_bytes`]): larger heads get
//!   431.
//! - **Idle timeout** ([`ServeOptions::idle_timeout`]): a connection with
//!   no request in flight for this long is closed. This covers what hyper's
//!   head timer does not: a connection that sends nothing at all (the
//!   HTTP/1-or-2 sniff waits for bytes with no timer of its own), a
//!   half-sent HTTP/2 preface, and idle HTTP/2 connections. A response
//!   still streaming (a log stream, a slow download) counts as in flight.
//! - **Connection cap** ([`ServeOptions::max_connections`]): past it, new
//!   connections are accepted and closed at once, so a flood holds at most
//!   that many sockets (and file descriptors) and the kernel's backlog
//!   never fills with connections nobody will serve.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::handler::HttpApp;

/// Settings of one listener (none of them are per-service).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests may run after shutdown starts.
    pub grace_period: Duration,
    /// How long a client may take to send a request head (slowloris
    /// protection: a client trickling headers must not hold a connection
    /// forever).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) accepted; larger
    /// heads get 431. hyper's minimum is 8 KiB.
    pub max_header_bytes: usize,
    /// How long a connection may stay open with no request in flight
    /// (including before its first byte) before it is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once on this listener; more are closed as
    /// soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    /// The public listener's defaults: 30 s grace, 10 s head and idle
    /// timeouts, 64 KiB heads, 4,096 connections (the systemd unit allows
    /// 65,536 file descriptors; an unconfigured shell often 1,024 — lower
    /// the cap there with a smaller `ulimit -n` in mind).
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

impl ServeOptions {
    /// The admin (and metrics) listener's defaults: the public ones, with
    /// 64 connections (operators, scrapers and console tabs, not traffic)
    /// and a 1 s grace period (nothing there is worth holding shutdown
    /// for, and a console's log stream never ends on its own).
    pub fn admin() -> Self {
        Self {
            grace_period: Duration::from_secs(1),
            max_connections: 64,
            ..Self::default()
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
///
/// Returns once every connection has closed or the grace period has run out.
pub async fn serve(
    listener: TcpListener,
    app: Arc<HttpApp>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_with(listener, options, shutdown, move |req| {
        let app = app.clone();
        async move { app.handle(req).await }
    })
    .await
}

/// Serves `handle` on `listener` with the limits of `options` until
/// `shutdown` completes, then drains (see the module doc).
pub async fn serve_with<H, F, B>(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
    handle: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(options.max_connections));
    // Warn once per flood, not once per refused connection.
    let full_warned = AtomicBool::new(false);
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors must not end the
                    // server; back off briefly and keep accepting.
                    tracing::warn!(%error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full_warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_connections = options.max_connections,
                    "connection cap reached; closing new connections until some end"
                );
            }
            drop(stream);
            continue;
        };
        full_warned.store(false, Ordering::Relaxed);
        // Small response chunks from a guest must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = service_fn({
            let handle = handle.clone();
            let activity = activity.clone();
            move |req| {
                let busy = activity.begin();
                let response = handle(req);
                async move {
                    let response = response.await;
                    Ok::<_, Infallible>(response.map(|inner| Tracked { inner, _busy: busy }))
                }
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        let idle_timeout = options.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let mut deadline = Instant::now() + idle_timeout;
            loop {
                tokio::select! {
                    result = &mut connection => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, error = %error, "connection ended with an error");
                        }
                        return;
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        match activity.idle_deadline(idle_timeout) {
                            Some(next) => deadline = next,
                            None => {
                                tracing::debug!(%peer, "closing an idle connection");
                                return;
                            }
                        }
                    }
                }
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!("all connections closed");
        }
        () = tokio::time::sleep(options.grace_period) => {
            tracing::warn!(
                grace_period_s = options.grace_period.as_secs(),
                "grace period over; abandoning remaining connections"
            );
        }
    }
    Ok(())
}

/// What the idle timer of one connection reads: requests in flight (until
/// their response body ends) and when the last one ended.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` at which the last request ended.
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// When to look again, or `None` if the connection has been idle for
    /// `timeout` and should close.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Some(now + timeout);
        }
        let last = self.opened + Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
        let due = last + timeout;
        (due > now).then_some(due)
    }
}

/// One request in flight; ends when its response body is dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end_ms.fetch_max(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight.
    struct Tracked<B> {
        #[pin]
        inner: B,
        _busy: Busy,
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
