//! `hostile_read_passwd`: tries to read the host's `/etc/passwd` through
//! `wasi:filesystem` (Rust `std::fs`).
//!
//! Any request → `200 text/plain`, one line per attempt, in this order:
//! `/etc/passwd`, `/static/../etc/passwd`, `../../etc/passwd`. Each line is
//! `<path>: denied: <error>` or `<path>: LEAKED <first 20 bytes, lossy>`.
//! The file is read with `std::fs::read` (not `read_to_string`) so a file that
//! is not UTF-8 still counts as leaked.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::read_attempt;

/// The paths tried, in order.
const PATHS: &[&str] = &["/etc/passwd", "/static/../etc/passwd", "../../etc/passwd"];

struct ReadPasswd;

wasi::http::proxy::export!(ReadPasswd);

impl wasi::exports::http::incoming_handler::Guest for ReadPasswd {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut text = String::new();
        for path in PATHS {
            let _ = writeln!(text, "{}", read_attempt(path, false));
        }
        wharf_test_programs::respond(out, 200, &text);
    }
}
