//! The accept loop and graceful shutdown.
//!
//! [`serve`] takes a bound listener and a shutdown future from its caller
//! (the CLI binds the address and wires Ctrl-C/SIGTERM; tests bind port 0
//! and use a oneshot), serves HTTP/1.1 with keep-alive and HTTP/2 cleartext
//! on the same port, and on shutdown stops accepting, lets in-flight
//! requests finish within a grace period, then returns.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::handler::HttpApp;

/// Server settings that are not per-service.
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
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
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
        // Small response chunks from a guest must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req).await) }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
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
