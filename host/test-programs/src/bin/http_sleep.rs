//! `http_sleep`: `GET /sleep?ms=N` blocks for N milliseconds on a
//! `wasi:clocks/monotonic-clock.subscribe-duration` pollable, then answers
//! `200 text/plain` `slept <N>\n`. A missing or non-numeric `ms` is a 400;
//! any other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::clocks::monotonic_clock;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Sleep;

wasi::http::proxy::export!(Sleep);

impl wasi::exports::http::incoming_handler::Guest for Sleep {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/sleep" {
            return wharf_test_programs::respond(out, 404, "not found\n");
        }
        let Some(ms) =
            wharf_test_programs::query_param(&request, "ms").and_then(|ms| ms.parse::<u64>().ok())
        else {
            return wharf_test_programs::respond(out, 400, "expected ?ms=<milliseconds>\n");
        };
        monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
        wharf_test_programs::respond(out, 200, &format!("slept {ms}\n"));
    }
}
