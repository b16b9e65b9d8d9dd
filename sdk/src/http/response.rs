use std::fmt;
use std::io::Read;

use serde::Serialize;

use super::find_header;

/// `content-type` used by [`Response::text`].
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// `content-type` used by [`Response::json`].
const APPLICATION_JSON: &str = "application/json";

/// An HTTP response returned by a handler.
///
/// Build one with [`Response::new`], [`Response::text`], [`Response::json`]
/// or [`Response::stream`], then add headers with
/// [`with_header`](Self::with_header).
///
/// A response with an in-memory body is sent with a `content-length`. A
/// [streaming](Self::stream) response is sent without one (the host uses
/// chunked transfer encoding). Any `content-length` header you set yourself
/// is replaced accordingly, and headers the host reserves for itself
/// (hop-by-hop headers such as `connection` or `transfer-encoding`) are
/// dropped with a warning on stderr. An invalid header name or value, or a
/// status outside `100..=599`, makes the SDK send a `500` instead.
///
/// ```
/// use wharf_sdk::http::Response;
///
/// let resp = Response::text(201, "created\n").with_header("location", "/items/7");
/// assert_eq!(resp.status(), 201);
/// assert_eq!(resp.header("Content-Type"), Some("text/plain; charset=utf-8"));
/// assert_eq!(resp.body(), Some(&b"created\n"[..]));
/// ```
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

pub(crate) enum Body {
    Bytes(Vec<u8>),
    Stream(Box<dyn Read>),
}

impl Response {
    /// A response with the given status code, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("content-type", TEXT_PLAIN)
            .with_body(body.into())
    }

    /// An `application/json` response with `value` serialised by `serde_json`.
    ///
    /// If `value` cannot be serialised (e.g. a map with non-string keys) the
    /// error is written to stderr and a plain `500 internal error` response is
    /// returned instead.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => Response::new(status)
                .with_header("content-type", APPLICATION_JSON)
                .with_body(bytes),
            Err(e) => {
                eprintln!("wharf-sdk: failed to serialise JSON response: {e}");
                Response::internal_error()
            }
        }
    }

    /// A response whose body is streamed from `reader`.
    ///
    /// After the status and headers are sent, the SDK reads `reader` in chunks
    /// of at most 64 KiB and writes each chunk to the client (waiting for the
    /// host to accept it), so the body never has to fit in memory. No
    /// `content-length` is sent. If `reader` fails part-way, the error is
    /// written to stderr and the response is aborted (the client sees a
    /// truncated body rather than a complete one).
    ///
    /// ```no_run
    /// use wharf_sdk::http::Response;
    ///
    /// let data: Vec<u8> = vec![b'x'; 10 * 1024 * 1024];
    /// let resp = Response::stream(200, std::io::Cursor::new(data))
    ///     .with_header("content-type", "application/octet-stream");
    /// ```
    pub fn stream(status: u16, reader: impl Read + 'static) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Stream(Box::new(reader)),
        }
    }

    /// Sets header `name` to `value`, replacing any existing values of that
    /// header (names are compared case-insensitively).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a value for header `name`, keeping existing ones (for headers that
    /// may repeat, such as `set-cookie`).
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body with `body` (this also replaces a streaming body).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    /// Replaces the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// All headers set on the response, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The in-memory body, or `None` for a [streaming](Self::stream) response.
    pub fn body(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes),
            Body::Stream(_) => None,
        }
    }

    /// The fixed response sent when a handler fails: `500`, `internal error\n`.
    pub(crate) fn internal_error() -> Self {
        Response::text(500, "internal error\n")
    }

    pub(crate) fn into_parts(self) -> (u16, Vec<(String, String)>, Body) {
        (self.status, self.headers, self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Body::Stream(_) => "stream".to_owned(),
        };
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .finish()
    }
}
