//! `hostile_print_flood`: floods the host's log capture.
//!
//! `GET /` → writes 8 MiB of `x` to stdout with no newline, in 64 KiB writes,
//! then 20000 short lines `line <i>\n` (i from 0) to stderr, then answers
//! `200 text/plain` `flooded\n`. Write errors are ignored (unlike `print!`,
//! which would panic), so a host that closes or fails the streams still gets
//! the response. Any other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{CHUNK, respond};

/// Bytes written to stdout.
const STDOUT_BYTES: usize = 8 * 1024 * 1024;

/// Lines written to stderr.
const STDERR_LINES: u32 = 20_000;

struct PrintFlood;

wasi::http::proxy::export!(PrintFlood);

impl wasi::exports::http::incoming_handler::Guest for PrintFlood {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/" {
            return respond(out, 404, "not found\n");
        }
        let chunk = vec![b'x'; CHUNK];
        let mut stdout = std::io::stdout().lock();
        for _ in 0..STDOUT_BYTES / CHUNK {
            let _ = stdout.write_all(&chunk);
        }
        let _ = stdout.flush();
        drop(stdout);
        let mut stderr = std::io::stderr().lock();
        for i in 0..STDERR_LINES {
            let _ = writeln!(stderr, "line {i}");
        }
        drop(stderr);
        respond(out, 200, "flooded\n");
    }
}
