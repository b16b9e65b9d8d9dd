//! `hostile_loop`: burns CPU forever without calling the host, so only
//! fuel or epoch interruption can stop it.
//!
//! - `/ok` → `200 text/plain` `ok\n` at once (a sanity check on the same
//!   component).
//! - any other request → spins in a busy loop the optimiser cannot remove
//!   (`black_box` on a counter) and never responds.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Loop;

wasi::http::proxy::export!(Loop);

impl wasi::exports::http::incoming_handler::Guest for Loop {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) == "/ok" {
            return wharf_test_programs::respond(out, 200, "ok\n");
        }
        spin();
    }
}

/// Never returns and never calls the host.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}
