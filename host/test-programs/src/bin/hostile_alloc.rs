//! `hostile_alloc`: grows linear memory until the host's memory limit stops
//! it.
//!
//! - `GET /` → allocates 1 MiB `Vec<u8>` chunks, writes a byte to every
//!   4 KiB page of each (so the memory is really committed) and keeps them
//!   all, forever, with no host call between allocations. When an allocation
//!   fails, Rust's allocation-error handler aborts: a trap, no response.
//! - `GET /ok` → `200 text/plain` `ok\n`.
//! - `GET /some?mb=N` → allocates exactly N MiB the same way, then answers
//!   `200` `allocated <N> MiB\n` (a legitimate request under the limit).
//!   A missing or invalid `mb` is a 400.
//! - any other path: 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::respond;

/// Size of one allocation.
const MIB: usize = 1024 * 1024;

/// Stride of the writes that commit each chunk (a host page).
const PAGE: usize = 4096;

struct Alloc;

wasi::http::proxy::export!(Alloc);

impl wasi::exports::http::incoming_handler::Guest for Alloc {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match wharf_test_programs::path(&request).as_str() {
            "/" => {
                let mut kept = Vec::new();
                loop {
                    kept.push(committed_chunk());
                    black_box(&mut kept);
                }
            }
            "/ok" => respond(out, 200, "ok\n"),
            "/some" => {
                let Some(mb) = wharf_test_programs::query_param(&request, "mb")
                    .and_then(|mb| mb.parse::<usize>().ok())
                else {
                    return respond(out, 400, "expected ?mb=<MiB>\n");
                };
                let mut kept = Vec::with_capacity(mb);
                for _ in 0..mb {
                    kept.push(committed_chunk());
                }
                black_box(&mut kept);
                respond(out, 200, &format!("allocated {mb} MiB\n"));
            }
            _ => respond(out, 404, "not found\n"),
        }
    }
}

/// A fresh 1 MiB chunk with a non-zero byte written to every page.
fn committed_chunk() -> Vec<u8> {
    let mut chunk = vec![0u8; MIB];
    for offset in (0..MIB).step_by(PAGE) {
        chunk[offset] = 1;
    }
    black_box(chunk)
}
