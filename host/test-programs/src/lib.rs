//! Shared helpers for the guest test programs in `src/bin/`.
//!
//! Every `src/bin/<suite>_<name>.rs` is compiled for `wasm32-wasip2` into its
//! own component by `host/test-programs/artifacts/build.rs`; see this crate's
//! `README.md` for the naming scheme and each program's contract. These
//! helpers wrap the raw `wasi:http` 0.2.4 bindings (the `wasi` crate) that most
//! programs use, so each program only spells out the behaviour it tests; a
//! few ([`read_attempt`], [`one_line`]) format the reports of the
//! `hostile_*` programs.
//!
//! Test programs are allowed to panic: a panic turns into a trap, which the
//! host must survive, and several programs trap on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Largest chunk the streaming programs read or write at once (64 KiB).
pub const CHUNK: usize = 64 * 1024;

/// Sets a response with `status`, an optional `content-type` and no
/// `content-length`, and returns its body for the caller to stream into.
pub fn start_response(
    out: ResponseOutparam,
    status: u16,
    content_type: Option<&str>,
) -> OutgoingBody {
    let headers = Fields::new();
    if let Some(content_type) = content_type {
        headers
            .append("content-type", content_type.as_bytes())
            .expect("content-type header");
    }
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("status code");
    let body = response.body().expect("response body");
    ResponseOutparam::set(out, Ok(response));
    body
}

/// Sends a complete `text/plain` response.
pub fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let body = start_response(out, status, Some("text/plain"));
    let stream = body.write().expect("body stream");
    write_all(&stream, text.as_bytes());
    stream.blocking_flush().expect("flush");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish body");
}

/// Like [`write_all`], but returns the stream's error instead of panicking
/// (the host may close the body, e.g. when it cuts off an over-long
/// response).
pub fn try_write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permit = stream.check_write()?;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Writes all of `bytes`, never more than `check-write` permits per call,
/// blocking on the stream's pollable while the host applies backpressure.
pub fn write_all(stream: &OutputStream, bytes: &[u8]) {
    try_write_all(stream, bytes).expect("write to the outgoing stream");
}

/// Reads the next chunk (at most [`CHUNK`] bytes) of `stream`, blocking until
/// one is available; `Ok(None)` once the stream is closed.
pub fn read_chunk(stream: &InputStream) -> Result<Option<Vec<u8>>, String> {
    match stream.blocking_read(CHUNK as u64) {
        Ok(chunk) => Ok(Some(chunk)),
        Err(StreamError::Closed) => Ok(None),
        Err(StreamError::LastOperationFailed(e)) => Err(e.to_debug_string()),
    }
}

/// The request's path without its query, e.g. `/download`.
pub fn path(request: &IncomingRequest) -> String {
    let full = request.path_with_query().unwrap_or_default();
    match full.split_once('?') {
        Some((path, _)) => path.to_string(),
        None => full,
    }
}

/// The value of query parameter `name`, if present, as written in the URL
/// (no percent-decoding; pass it through [`percent_decode`] when needed).
pub fn query_param(request: &IncomingRequest, name: &str) -> Option<String> {
    let full = request.path_with_query()?;
    let (_, query) = full.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_string())
    })
}

/// `text` made safe to put on one line of a report: `\n` and `\r` become
/// the two-character escapes `\\n` and `\\r`.
pub fn one_line(text: &str) -> String {
    text.replace('\n', "\\n").replace('\r', "\\r")
}

/// Tries `std::fs::read(path)` and describes the outcome as one report line
/// (without the newline): `<path>: denied: <error>` on failure; on success
/// `<path>: read <n> bytes` when the read is `legit`, otherwise
/// `<path>: LEAKED <first 20 bytes, lossy UTF-8>`.
pub fn read_attempt(path: &str, legit: bool) -> String {
    match std::fs::read(path) {
        Err(e) => format!("{path}: denied: {}", one_line(&e.to_string())),
        Ok(bytes) if legit => format!("{path}: read {} bytes", bytes.len()),
        Ok(bytes) => {
            let head = &bytes[..bytes.len().min(20)];
            format!(
                "{path}: LEAKED {}",
                one_line(&String::from_utf8_lossy(head))
            )
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space) in a query value; invalid
/// escapes are kept as they are.
pub fn percent_decode(value: &str) -> String {
    fn hex(digit: u8) -> Option<u8> {
        char::from(digit)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
