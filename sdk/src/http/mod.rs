//! HTTP types: the incoming [`Request`], the [`Response`] a handler returns,
//! and a small client ([`send`], [`OutgoingRequest`]) for outbound calls.

mod client;
mod method;
mod request;
mod response;

pub use client::{IncomingResponse, OutgoingRequest, send};
pub use method::Method;
pub use request::{BodyReader, Request};
pub use response::Response;

pub(crate) use response::Body;

/// First value of header `name`, compared case-insensitively.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Converts a `wasi:http` field entry into a `(name, value)` string pair.
fn header_from_wasi((name, value): (String, Vec<u8>)) -> (String, String) {
    let value = match String::from_utf8(value) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    (name, value)
}
