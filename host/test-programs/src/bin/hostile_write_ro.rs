//! `hostile_write_ro`: tries to modify a `/static` preopen that the host
//! grants read-only (Rust `std::fs`, i.e. `wasi:filesystem`).
//!
//! Any request → `200 text/plain`, one line per attempt, in this order:
//! - `write /static/new.txt`: `std::fs::write(path, b"x")`;
//! - `append /static/ok.txt`: `OpenOptions::new().append(true).open(path)`,
//!   then `write_all(b"x")`;
//! - `remove /static/ok.txt`: `std::fs::remove_file(path)`;
//! - `mkdir /static/newdir`: `std::fs::create_dir(path)`.
//!
//! Each line is `<op> <path>: denied: <error>` or `<op> <path>: WROTE`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::io::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::one_line;

/// One write attempt on the given path.
type Attempt = fn(&str) -> std::io::Result<()>;

struct WriteRo;

wasi::http::proxy::export!(WriteRo);

impl wasi::exports::http::incoming_handler::Guest for WriteRo {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let attempts: [(&str, &str, Attempt); 4] = [
            ("write", "/static/new.txt", |path| {
                std::fs::write(path, b"x")
            }),
            ("append", "/static/ok.txt", |path| {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)?
                    .write_all(b"x")
            }),
            ("remove", "/static/ok.txt", |path| {
                std::fs::remove_file(path)
            }),
            ("mkdir", "/static/newdir", |path| std::fs::create_dir(path)),
        ];
        let mut text = String::new();
        for (op, path, attempt) in attempts {
            let _ = match attempt(path) {
                Ok(()) => writeln!(text, "{op} {path}: WROTE"),
                Err(e) => writeln!(text, "{op} {path}: denied: {}", one_line(&e.to_string())),
            };
        }
        wharf_test_programs::respond(out, 200, &text);
    }
}
