//! `hostile_recursion`: overflows the stack.
//!
//! - `GET /` → unbounded, non-tail recursion, each frame holding a 1 KiB
//!   local array passed through `black_box` (so the frames live on the
//!   linear-memory stack and the optimiser can turn nothing into a loop).
//!   It ends in a trap (stack exhaustion); there is no response.
//! - `GET /ok` → `200 text/plain` `ok\n`.
//! - any other path: 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::respond;

struct Recursion;

wasi::http::proxy::export!(Recursion);

impl wasi::exports::http::incoming_handler::Guest for Recursion {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match wharf_test_programs::path(&request).as_str() {
            "/" => {
                let total = recurse(0);
                // Only reached if the stack were infinite.
                respond(out, 200, &format!("returned {total}\n"));
            }
            "/ok" => respond(out, 200, "ok\n"),
            _ => respond(out, 404, "not found\n"),
        }
    }
}

/// Calls itself twice per frame; the base case is opaque to the optimiser
/// and never true in practice.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(depth % 1024) as usize] = depth as u8;
    let frame = black_box(&mut frame);
    if black_box(depth) == u64::MAX {
        return u64::from(frame[0]);
    }
    let left = recurse(depth + 1);
    let right = recurse(depth + 2);
    left.wrapping_add(right)
        .wrapping_add(u64::from(frame[(depth % 7) as usize]))
}
