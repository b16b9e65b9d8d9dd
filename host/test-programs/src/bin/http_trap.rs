//! `http_trap`: traps in the ways a real guest can fail.
//!
//! - `/panic`: `panic!("guest panic on purpose")` before any response is set.
//! - `/unreachable`: executes the wasm `unreachable` instruction.
//! - `/after-headers`: sets a 200 response, writes `partial` to the body,
//!   then panics.
//! - anything else: `200 text/plain` `ok\n`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Trap;

wasi::http::proxy::export!(Trap);

impl wasi::exports::http::incoming_handler::Guest for Trap {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match wharf_test_programs::path(&request).as_str() {
            "/panic" => panic!("guest panic on purpose"),
            "/unreachable" => core::arch::wasm32::unreachable(),
            "/after-headers" => {
                let body = wharf_test_programs::start_response(out, 200, Some("text/plain"));
                let stream = body.write().expect("body stream");
                wharf_test_programs::write_all(&stream, b"partial");
                stream.blocking_flush().expect("flush");
                panic!("guest panic after sending headers");
            }
            _ => wharf_test_programs::respond(out, 200, "ok\n"),
        }
    }
}
