//! `hostile_tcp`: tries to open network connections through
//! `wasi:sockets` (Rust `std::net`).
//!
//! `GET /?addr=<ip>:<port>` → `200 text/plain`, two lines:
//! - `connect <addr>: CONNECTED` or `connect <addr>: denied: <error>`:
//!   `TcpStream::connect_timeout(addr, 2 s)` (plain `TcpStream::connect` when
//!   `addr` is not a literal socket address), then writes
//!   `GET / HTTP/1.0\r\n\r\n` (the write's outcome is not reported: the
//!   connection alone is the breach);
//! - `udp <addr>: SENT` or `udp <addr>: denied: <error>`:
//!   `UdpSocket::bind("0.0.0.0:0")`, then `send_to(b"x", addr)`.
//!
//! A missing `addr` is a 400; any other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{one_line, percent_decode, respond};

/// How long a TCP connect may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

struct Tcp;

wasi::http::proxy::export!(Tcp);

impl wasi::exports::http::incoming_handler::Guest for Tcp {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/" {
            return respond(out, 404, "not found\n");
        }
        let Some(addr) = wharf_test_programs::query_param(&request, "addr")
            .map(|addr| percent_decode(&addr))
            .filter(|addr| !addr.is_empty())
        else {
            return respond(out, 400, "expected ?addr=<ip>:<port>\n");
        };
        let tcp = match tcp(&addr) {
            Ok(()) => "CONNECTED".to_string(),
            Err(e) => format!("denied: {}", one_line(&e.to_string())),
        };
        let udp = match udp(&addr) {
            Ok(()) => "SENT".to_string(),
            Err(e) => format!("denied: {}", one_line(&e.to_string())),
        };
        respond(
            out,
            200,
            &format!("connect {addr}: {tcp}\nudp {addr}: {udp}\n"),
        );
    }
}

/// Connects to `addr` and sends a request; `Ok` once connected.
fn tcp(addr: &str) -> std::io::Result<()> {
    let mut stream = match addr.parse::<SocketAddr>() {
        Ok(socket_addr) => TcpStream::connect_timeout(&socket_addr, CONNECT_TIMEOUT)?,
        Err(_) => TcpStream::connect(addr)?,
    };
    let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let _ = stream.flush();
    Ok(())
}

/// Sends one datagram to `addr` from an ephemeral port.
fn udp(addr: &str) -> std::io::Result<()> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.send_to(b"x", addr)?;
    Ok(())
}
