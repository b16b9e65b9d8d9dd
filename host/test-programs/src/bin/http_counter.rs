//! `http_counter`: counts the requests its instance has served and answers
//! `200 text/plain` with the count (`1` for the first), so a test can see
//! whether requests share an instance. `?trap` counts, then traps; `?leak`
//! counts, answers, and leaves a resource (a `fields`) open on purpose.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use wasi::http::types::{Fields, IncomingRequest, ResponseOutparam};

static SERVED: AtomicU32 = AtomicU32::new(0);

struct Counter;

wasi::http::proxy::export!(Counter);

impl wasi::exports::http::incoming_handler::Guest for Counter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let query = request
            .path_with_query()
            .and_then(|p| p.split_once('?').map(|(_, q)| q.to_string()))
            .unwrap_or_default();
        if query == "trap" {
            panic!("trapping after request {served}");
        }
        if query == "leak" {
            std::mem::forget(Fields::new());
        }
        wharf_test_programs::respond(out, 200, &format!("{served}\n"));
    }
}
