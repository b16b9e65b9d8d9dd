//! `hostile_big_response`: streams an enormous response body.
//!
//! `GET /?mb=N` (default 1024) → `200 application/octet-stream` with no
//! `content-length`, then N MiB of `x` bytes in 64 KiB chunks, each written
//! only as far as `check-write` permits. If a write fails (the host cut the
//! body off), it stops and returns without finishing the body. A non-numeric
//! `mb` is a 400; any other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{IncomingRequest, OutgoingBody, ResponseOutparam};
use wharf_test_programs::{CHUNK, respond, start_response, try_write_all};

/// Size of the body when `mb` is absent, in MiB.
const DEFAULT_MB: u64 = 1024;

struct BigResponse;

wasi::http::proxy::export!(BigResponse);

impl wasi::exports::http::incoming_handler::Guest for BigResponse {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/" {
            return respond(out, 404, "not found\n");
        }
        let mb = match wharf_test_programs::query_param(&request, "mb") {
            None => DEFAULT_MB,
            Some(mb) => match mb.parse::<u64>() {
                Ok(mb) => mb,
                Err(_) => return respond(out, 400, "expected ?mb=<MiB>\n"),
            },
        };
        let body = start_response(out, 200, Some("application/octet-stream"));
        let stream = body.write().expect("body stream");
        let chunk = vec![b'x'; CHUNK];
        let chunks = mb.saturating_mul((1024 * 1024 / CHUNK) as u64);
        for _ in 0..chunks {
            if try_write_all(&stream, &chunk).is_err() {
                return; // cut off by the host
            }
        }
        if stream.blocking_flush().is_err() {
            return;
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}
