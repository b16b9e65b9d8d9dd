//! `hostile_symlink`: follows symlinks the test plants in the `/static`
//! preopen (Rust `std::fs`, i.e. `wasi:filesystem`).
//!
//! Any request → `200 text/plain`, one line per attempt, in this order:
//! - `/static/link-out` (absolute symlink to a host path outside the
//!   directory) and `/static/link-rel` (relative symlink `../secret.txt`):
//!   `<path>: denied: <error>` or `<path>: LEAKED <first 20 bytes, lossy>`;
//! - `/static/link-in` (symlink to `ok.txt`, inside the directory):
//!   `<path>: read <n> bytes` or `<path>: denied: <error>`.
//!
//! Whether the legitimate link may be followed is for the test to decide.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::read_attempt;

/// Symlinks pointing outside the preopen: reading through them is a leak.
const ESCAPES: &[&str] = &["/static/link-out", "/static/link-rel"];

/// A symlink that stays inside the preopen.
const LEGIT: &str = "/static/link-in";

struct Symlink;

wasi::http::proxy::export!(Symlink);

impl wasi::exports::http::incoming_handler::Guest for Symlink {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut text = String::new();
        for path in ESCAPES {
            let _ = writeln!(text, "{}", read_attempt(path, false));
        }
        let _ = writeln!(text, "{}", read_attempt(LEGIT, true));
        wharf_test_programs::respond(out, 200, &text);
    }
}
