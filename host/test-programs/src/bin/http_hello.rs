//! `http_hello`: answers every request with `200 text/plain` and the body
//! `hello from http_hello\n`. The smallest wasi:http component we test with.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Hello;

wasi::http::proxy::export!(Hello);

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        wharf_test_programs::respond(out, 200, "hello from http_hello\n");
    }
}
