//! `http_stream`: moves bodies through the guest in chunks, never holding a
//! whole body in memory.
//!
//! - `POST /upload`: reads the request body with `blocking_read` (at most
//!   64 KiB per call) and answers `200 text/plain`
//!   `bytes=<n> sha256=<lowercase hex>\n`.
//! - `GET /download?size=N`: answers `200 application/octet-stream` without a
//!   `content-length` and streams N bytes, byte `i` being `(i % 251) as u8`, in
//!   64 KiB chunks, each written only as far as `check-write` permits.
//! - `POST /echo`: answers `200 application/octet-stream` without a
//!   `content-length` and writes each request-body chunk back as it arrives.
//! - anything else: 404 (a bad `size` is a 400).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use wasi::http::types::{IncomingBody, IncomingRequest, Method, OutgoingBody, ResponseOutparam};
use wharf_test_programs::{CHUNK, read_chunk, respond, start_response, write_all};

struct Stream;

wasi::http::proxy::export!(Stream);

impl wasi::exports::http::incoming_handler::Guest for Stream {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = wharf_test_programs::path(&request);
        match (request.method(), path.as_str()) {
            (Method::Post, "/upload") => upload(request, out),
            (Method::Get, "/download") => {
                match wharf_test_programs::query_param(&request, "size")
                    .and_then(|size| size.parse::<u64>().ok())
                {
                    Some(size) => download(size, out),
                    None => respond(out, 400, "expected ?size=<bytes>\n"),
                }
            }
            (Method::Post, "/echo") => echo(request, out),
            _ => respond(out, 404, "not found\n"),
        }
    }
}

fn upload(request: IncomingRequest, out: ResponseOutparam) {
    let body = request.consume().expect("request body");
    let stream = body.stream().expect("request body stream");
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    loop {
        match read_chunk(&stream) {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                hasher.update(&chunk);
            }
            Ok(None) => break,
            Err(e) => return respond(out, 500, &format!("reading the body failed: {e}\n")),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    respond(out, 200, &format!("bytes={total} sha256={hex}\n"));
}

fn download(size: u64, out: ResponseOutparam) {
    let body = start_response(out, 200, Some("application/octet-stream"));
    let stream = body.write().expect("body stream");
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut offset: u64 = 0;
    while offset < size {
        let len = (size - offset).min(CHUNK as u64);
        chunk.clear();
        chunk.extend((offset..offset + len).map(|i| (i % 251) as u8));
        write_all(&stream, &chunk);
        offset += len;
    }
    stream.blocking_flush().expect("flush");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish body");
}

fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let incoming = request.consume().expect("request body");
    let input = incoming.stream().expect("request body stream");
    let body = start_response(out, 200, Some("application/octet-stream"));
    let output = body.write().expect("body stream");
    // Headers are already out, so a read error can only cut the body short.
    while let Ok(Some(chunk)) = read_chunk(&input) {
        write_all(&output, &chunk);
        output.flush().expect("flush");
    }
    drop(input);
    drop(IncomingBody::finish(incoming));
    output.blocking_flush().expect("flush");
    drop(output);
    OutgoingBody::finish(body, None).expect("finish body");
}
