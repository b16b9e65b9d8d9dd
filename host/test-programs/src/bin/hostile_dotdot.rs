//! `hostile_dotdot`: tries to climb out of the `/static` preopen with `..`
//! (Rust `std::fs`, i.e. `wasi:filesystem`), and to list the root.
//!
//! Any request → `200 text/plain`, one line per attempt, in this order:
//! - `/static/../../../../etc/passwd`, `/static/../secret.txt`,
//!   `/static/sub/../../secret.txt`: `<path>: denied: <error>` or
//!   `<path>: LEAKED <first 20 bytes, lossy>`;
//! - `/static/./ok.txt` (a legitimate file the test creates):
//!   `<path>: read <n> bytes` or `<path>: denied: <error>`;
//! - `std::fs::read_dir("/")`: `readdir /: <names, sorted, comma-separated>`
//!   or `readdir /: denied: <error>`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{one_line, read_attempt};

/// Paths that escape the preopen: reading any of them is a leak.
const ESCAPES: &[&str] = &[
    "/static/../../../../etc/passwd",
    "/static/../secret.txt",
    "/static/sub/../../secret.txt",
];

/// A legitimate path inside the preopen.
const LEGIT: &str = "/static/./ok.txt";

struct DotDot;

wasi::http::proxy::export!(DotDot);

impl wasi::exports::http::incoming_handler::Guest for DotDot {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut text = String::new();
        for path in ESCAPES {
            let _ = writeln!(text, "{}", read_attempt(path, false));
        }
        let _ = writeln!(text, "{}", read_attempt(LEGIT, true));
        let _ = writeln!(text, "readdir /: {}", list_root());
        wharf_test_programs::respond(out, 200, &text);
    }
}

/// The names in `/`, sorted and comma-separated, or `denied: <error>` (also
/// when reading an entry fails part-way).
fn list_root() -> String {
    let entries = match std::fs::read_dir("/") {
        Ok(entries) => entries,
        Err(e) => return format!("denied: {}", one_line(&e.to_string())),
    };
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => names.push(one_line(&entry.file_name().to_string_lossy())),
            Err(e) => return format!("denied: {}", one_line(&e.to_string())),
        }
    }
    names.sort();
    names.join(",")
}
