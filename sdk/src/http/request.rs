use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};

use serde::de::DeserializeOwned;

use super::{Method, find_header, header_from_wasi};
use crate::Error;
use crate::bindings::wasi::http::types::{IncomingBody, IncomingRequest};
use crate::bindings::wasi::io::streams::InputStream;
use crate::io::{CHUNK, read_chunk, read_to_end};

/// An incoming HTTP request, as passed to an [`http_service`](crate::http_service)
/// handler.
///
/// The request line and headers are available immediately. The body is read
/// lazily: either all at once with [`body_bytes`](Self::body_bytes),
/// [`body_text`](Self::body_text) or [`json`](Self::json) (the first call
/// reads and buffers it; later calls reuse the buffer), or incrementally with
/// [`into_body_reader`](Self::into_body_reader) for payloads too large to
/// hold in memory.
pub struct Request {
    method: Method,
    authority: Option<String>,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: RefCell<BodyState>,
}

enum BodyState {
    /// Not read yet: the request resource still owns the body.
    Unread(IncomingRequest),
    /// Read completely.
    Buffered(Vec<u8>),
    /// Taken or lost (a read failed part-way).
    Gone,
}

impl Request {
    /// Builds a request in memory, with an empty body.
    ///
    /// This is meant for unit-testing handlers natively: real requests are
    /// created by the SDK from the incoming `wasi:http` request.
    /// `path_and_query` is e.g. `"/api/items?page=2"`.
    ///
    /// ```
    /// use wharf_sdk::http::{Method, Request};
    ///
    /// let req = Request::new(Method::Post, "/echo?x=1")
    ///     .with_header("content-type", "text/plain")
    ///     .with_body("hi");
    /// assert_eq!(req.path(), "/echo");
    /// assert_eq!(req.query_param("x").as_deref(), Some("1"));
    /// assert_eq!(req.body_text().unwrap(), "hi");
    /// ```
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = split_path_and_query(path_and_query);
        Request {
            method,
            authority: None,
            path,
            query,
            headers: Vec::new(),
            body: RefCell::new(BodyState::Buffered(Vec::new())),
        }
    }

    /// Appends a header (builder style; for tests, see [`Request::new`]).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body (builder style; for tests, see [`Request::new`]).
    pub fn with_body(self, body: impl Into<Vec<u8>>) -> Self {
        *self.body.borrow_mut() = BodyState::Buffered(body.into());
        self
    }

    pub(crate) fn from_wasi(request: IncomingRequest) -> Self {
        let method = Method::from_wasi(request.method());
        let authority = request.authority();
        let (path, query) =
            split_path_and_query(request.path_with_query().as_deref().unwrap_or("/"));
        let headers = {
            let fields = request.headers();
            fields.entries().into_iter().map(header_from_wasi).collect()
        };
        Request {
            method,
            authority,
            path,
            query,
            headers,
            body: RefCell::new(BodyState::Unread(request)),
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request path, e.g. `"/api/items"` (always starts with `/`; still
    /// percent-encoded, exactly as received).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string without the leading `?` (empty if there is none),
    /// still percent-encoded.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is
    /// decoded as a space), or `None` if it is absent.
    ///
    /// ```
    /// # use wharf_sdk::http::{Method, Request};
    /// let req = Request::new(Method::Get, "/search?q=wasm%20host&page=2");
    /// assert_eq!(req.query_param("q").as_deref(), Some("wasm host"));
    /// assert_eq!(req.query_param("missing"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// All query parameters in order, percent-decoded. Repeated names appear
    /// once per occurrence.
    pub fn query_params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The `Host` of the request (the URI authority), if the host passed one.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The first value of header `name` (matched case-insensitively), or
    /// `None` if it is absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// All request headers as `(name, value)` pairs, in the order received.
    /// Names are lower-case; a value that is not valid UTF-8 has the invalid
    /// bytes replaced by `U+FFFD`.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Reads the whole request body.
    ///
    /// The first call reads the body from the host and buffers it; later
    /// calls return a copy of the buffer. Fails with
    /// [`Error::BodyConsumed`] after [`into_body_reader`](Self::into_body_reader)
    /// or a failed read, and with [`Error::Io`] if the stream breaks.
    pub fn body_bytes(&self) -> Result<Vec<u8>, Error> {
        self.with_buffered_body(None, <[u8]>::to_vec)
    }

    /// Like [`body_bytes`](Self::body_bytes), but stops reading and fails with
    /// [`Error::BodyTooLarge`] as soon as the body exceeds `limit` bytes, so a
    /// client cannot make the service buffer an arbitrarily large body.
    pub fn body_bytes_limited(&self, limit: usize) -> Result<Vec<u8>, Error> {
        self.with_buffered_body(Some(limit), <[u8]>::to_vec)
    }

    /// Reads the whole body as UTF-8 text.
    pub fn body_text(&self) -> Result<String, Error> {
        Ok(String::from_utf8(self.body_bytes()?)?)
    }

    /// Reads the whole body and deserialises it from JSON.
    ///
    /// ```no_run
    /// # use wharf_sdk::http::Request;
    /// #[derive(serde::Deserialize)]
    /// struct NewItem { name: String }
    ///
    /// fn create(req: &Request) -> Result<String, wharf_sdk::Error> {
    ///     let item: NewItem = req.json()?;
    ///     Ok(item.name)
    /// }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.with_buffered_body(None, |bytes| serde_json::from_slice(bytes))?
            .map_err(Error::Json)
    }

    /// Turns the request into a streaming [`std::io::Read`] over its body.
    ///
    /// The body is pulled from the host in chunks as you read, so arbitrarily
    /// large uploads can be processed in constant memory. If the body was
    /// already buffered (by `body_bytes` and friends) the reader yields the
    /// buffer.
    ///
    /// ```no_run
    /// # use wharf_sdk::http::{Request, Response};
    /// use std::io::Read;
    ///
    /// fn count_bytes(req: Request) -> Result<Response, wharf_sdk::Error> {
    ///     let mut reader = req.into_body_reader()?;
    ///     let mut buf = [0u8; 8192];
    ///     let mut total = 0usize;
    ///     loop {
    ///         let n = reader.read(&mut buf)?;
    ///         if n == 0 { break; }
    ///         total += n;
    ///     }
    ///     Ok(Response::text(200, format!("{total}\n")))
    /// }
    /// ```
    pub fn into_body_reader(self) -> Result<BodyReader, Error> {
        match self.body.into_inner() {
            BodyState::Unread(request) => {
                let body = request.consume().map_err(|()| Error::BodyConsumed)?;
                let stream = body.stream().map_err(|()| Error::BodyConsumed)?;
                Ok(BodyReader {
                    inner: ReaderInner::Stream {
                        stream,
                        _body: body,
                        _request: request,
                    },
                })
            }
            BodyState::Buffered(bytes) => Ok(BodyReader {
                inner: ReaderInner::Buffered(io::Cursor::new(bytes)),
            }),
            BodyState::Gone => Err(Error::BodyConsumed),
        }
    }

    /// Runs `f` on the buffered body, reading it from the host first if needed.
    fn with_buffered_body<R>(
        &self,
        limit: Option<usize>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let mut state = self.body.borrow_mut();
        if let BodyState::Unread(_) = &*state {
            let BodyState::Unread(request) = std::mem::replace(&mut *state, BodyState::Gone) else {
                return Err(Error::BodyConsumed);
            };
            *state = BodyState::Buffered(read_incoming(&request, limit)?);
        }
        match &*state {
            BodyState::Buffered(bytes) => match limit {
                Some(limit) if bytes.len() > limit => Err(Error::BodyTooLarge { limit }),
                _ => Ok(f(bytes)),
            },
            BodyState::Unread(_) | BodyState::Gone => Err(Error::BodyConsumed),
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Reads the whole body of `request` (which must not have been consumed).
fn read_incoming(request: &IncomingRequest, limit: Option<usize>) -> Result<Vec<u8>, Error> {
    let body = request.consume().map_err(|()| Error::BodyConsumed)?;
    let bytes = {
        let stream = body.stream().map_err(|()| Error::BodyConsumed)?;
        read_to_end(&stream, limit)?
    };
    drop(body);
    Ok(bytes)
}

/// Splits `"/p?q"` into `("/p", "q")`, defaulting the path to `/`.
fn split_path_and_query(s: &str) -> (String, String) {
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    let path = if path.is_empty() { "/" } else { path };
    (path.to_owned(), query.to_owned())
}

/// A streaming reader over a request body; see [`Request::into_body_reader`].
///
/// Each `read` pulls at most 64 KiB from the host. Returns `Ok(0)` at the end
/// of the body, and an [`io::Error`] if the stream fails (for example the
/// client disconnected).
pub struct BodyReader {
    inner: ReaderInner,
}

enum ReaderInner {
    // Field order matters: the stream must be dropped before its body, and
    // the body before the request it came from.
    Stream {
        stream: InputStream,
        _body: IncomingBody,
        _request: IncomingRequest,
    },
    Buffered(io::Cursor<Vec<u8>>),
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.inner {
            ReaderInner::Stream { stream, .. } => match read_chunk(stream, buf.len().min(CHUNK))? {
                Some(chunk) => {
                    // `read_chunk` never returns more than requested; copy
                    // defensively anyway.
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    Ok(n)
                }
                None => Ok(0),
            },
            ReaderInner::Buffered(cursor) => cursor.read(buf),
        }
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader").finish_non_exhaustive()
    }
}
