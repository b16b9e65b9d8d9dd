//! `bench_work`: the guest of the benchmark's `work` workload, a plain
//! `wasi`-crate wasi:http component (no SDK), so Wharf and `wasmtime serve`
//! run the very same bytes.
//!
//! - `POST` any path: reads the whole body and answers `200
//!   application/json` with [`wharf_bench_work::handle`]'s summary, or `400
//!   text/plain` when the body is not a valid document.
//! - Anything else: `200 text/plain` with [`wharf_bench_work::HELLO`].
#![no_main]
// A panic in a guest is a trap the host survives; the benchmark treats the
// resulting 500 as an error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a guest panic is a trap, reported by the host as a 500"
)]

use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{OutputStream, StreamError};

struct Work;

wasi::http::proxy::export!(Work);

impl wasi::exports::http::incoming_handler::Guest for Work {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if !matches!(request.method(), Method::Post) {
            respond(out, 200, "text/plain", wharf_bench_work::HELLO.as_bytes());
            return;
        }
        let body = read_body(request);
        match wharf_bench_work::handle(&body) {
            Ok(json) => respond(out, 200, "application/json", &json),
            Err(reason) => respond(out, 400, "text/plain", reason.as_bytes()),
        }
    }
}

/// The whole request body.
fn read_body(request: IncomingRequest) -> Vec<u8> {
    let incoming = request.consume().expect("request body");
    let stream = incoming.stream().expect("request body stream");
    let mut body = Vec::with_capacity(2048);
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                panic!("reading the request body: {}", e.to_debug_string())
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(incoming));
    body
}

/// Sends a complete response with a `content-length`.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, bytes: &[u8]) {
    let headers = Fields::new();
    headers
        .append("content-type", content_type.as_bytes())
        .expect("content-type header");
    headers
        .append("content-length", bytes.len().to_string().as_bytes())
        .expect("content-length header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("status code");
    let body = response.body().expect("response body");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("response body stream");
    write_all(&stream, bytes);
    stream.blocking_flush().expect("flush");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish body");
}

/// Writes all of `bytes`, never more than `check-write` permits per call.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let permit = stream.check_write().expect("check-write");
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        stream.write(&bytes[..n]).expect("write");
        bytes = &bytes[n..];
    }
}
