//! `hostile_socket_flood`: tries to exhaust the host's file descriptors by
//! creating sockets (`wasi:sockets` `create-tcp-socket` and
//! `create-udp-socket`, which allocate an OS socket each) and holding them.
//!
//! `GET /?n=<count>&hold_ms=<ms>` creates up to `n` TCP sockets, then up to
//! `n` UDP sockets, keeps every one it got open for `hold_ms` milliseconds,
//! and answers `200 text/plain`, two lines:
//! - `tcp: created <k> of <n>[, then denied: <error>]`
//! - `udp: created <k> of <n>[, then denied: <error>]`
//!
//! It stops at the first refusal of each kind. A missing `n` is a 400; any
//! other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::clocks::monotonic_clock;
use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wasi::sockets::network::IpAddressFamily;
use wasi::sockets::{tcp_create_socket, udp_create_socket};

struct Flood;

wasi::http::proxy::export!(Flood);

impl wasi::exports::http::incoming_handler::Guest for Flood {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/" {
            return wharf_test_programs::respond(out, 404, "not found\n");
        }
        let number = |name: &str| {
            wharf_test_programs::query_param(&request, name).and_then(|v| v.parse::<u64>().ok())
        };
        let Some(n) = number("n") else {
            return wharf_test_programs::respond(out, 400, "expected ?n=<count>\n");
        };
        let hold_ms = number("hold_ms").unwrap_or(0);

        let mut tcp = Vec::new();
        let mut tcp_error = None;
        for _ in 0..n {
            match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
                Ok(socket) => tcp.push(socket),
                Err(e) => {
                    tcp_error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        let mut udp = Vec::new();
        let mut udp_error = None;
        for _ in 0..n {
            match udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
                Ok(socket) => udp.push(socket),
                Err(e) => {
                    udp_error = Some(format!("{e:?}"));
                    break;
                }
            }
        }
        monotonic_clock::subscribe_duration(hold_ms.saturating_mul(1_000_000)).block();
        let line = |kind: &str, created: usize, error: Option<String>| {
            let tail = error
                .map(|e| format!(", then denied: {e}"))
                .unwrap_or_default();
            format!("{kind}: created {created} of {n}{tail}\n")
        };
        let body = line("tcp", tcp.len(), tcp_error) + &line("udp", udp.len(), udp_error);
        drop((tcp, udp));
        wharf_test_programs::respond(out, 200, &body);
    }
}
