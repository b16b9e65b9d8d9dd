//! `bench-native ADDR`: the benchmark's native baseline. Serves, on `ADDR`
//! (e.g. `127.0.0.1:8090`), the same two workloads as the guests, with the
//! same hyper + tokio stack Wharf uses (multi-threaded runtime, hyper-util's
//! auto HTTP/1 + HTTP/2 connection builder, `TCP_NODELAY`) and no
//! WebAssembly:
//!
//! - `POST` any path: [`wharf_bench_work::handle`] on the body (`200
//!   application/json`, or `400 text/plain`), as `bench/work-guest` does.
//! - Anything else: `200 text/plain` with [`wharf_bench_work::HELLO`], as the
//!   `http_hello` test program does.
//!
//! Runs until killed (`bench/compare.sh` stops it by its PID).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fixture: failing loudly at startup is the right thing"
)]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string())
        .parse()
        .expect("usage: bench-native ADDR (e.g. 127.0.0.1:8090)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(addr));
}

async fn serve(addr: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        return Ok(response(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(wharf_bench_work::HELLO.as_bytes()),
        ));
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Ok(response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                Bytes::from(format!("reading the body: {e}")),
            ));
        }
    };
    Ok(match wharf_bench_work::handle(&body) {
        Ok(json) => response(StatusCode::OK, "application/json", Bytes::from(json)),
        Err(reason) => response(StatusCode::BAD_REQUEST, "text/plain", Bytes::from(reason)),
    })
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
