use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Method, find_header, header_from_wasi};
use crate::Error;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    Fields, IncomingResponse as WasiIncomingResponse, OutgoingBody,
    OutgoingRequest as WasiOutgoingRequest, RequestOptions, Scheme,
};
use crate::io::{flush, read_to_end, write_all};

/// An outbound HTTP request, sent with [`send`] (or [`OutgoingRequest::send`])
/// through the host's `wasi:http/outgoing-handler`.
///
/// ```no_run
/// use wharf_sdk::http::{self, OutgoingRequest};
///
/// # fn demo() -> Result<(), wharf_sdk::Error> {
/// let resp = http::send(
///     OutgoingRequest::post("https://api.example.com/v1/items")
///         .with_header("authorization", "Bearer abc")
///         .with_json(&serde_json::json!({ "name": "widget" }))?,
/// )?;
/// if resp.status() == 201 {
///     let created: serde_json::Value = resp.json()?;
///     println!("{created}");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl OutgoingRequest {
    /// A request with `method` to the absolute `url` (`http://` or
    /// `https://`, e.g. `"https://example.com/path?x=1"`).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        OutgoingRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        OutgoingRequest::new(Method::Get, url)
    }

    /// A `POST` request to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        OutgoingRequest::new(Method::Post, url)
    }

    /// Adds a header. Repeated calls with the same name send several values.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the request body. A `content-length` header is added when the
    /// request is sent (unless you set one).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body (serialised with `serde_json`) and
    /// `content-type: application/json`.
    pub fn with_json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self
            .with_header("content-type", "application/json")
            .with_body(body))
    }

    /// Sets a timeout applied separately to connecting, to waiting for the
    /// first response byte, and to each gap between response body bytes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the request; shorthand for [`send(self)`](send).
    pub fn send(self) -> Result<IncomingResponse, Error> {
        send(self)
    }
}

/// A response to an [`OutgoingRequest`], with its body read completely.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl IncomingResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// All response headers in order (names lower-case; invalid UTF-8 in
    /// values replaced by `U+FFFD`).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The response body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the response body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String, Error> {
        Ok(String::from_utf8(self.body.clone())?)
    }

    /// The body deserialised from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// Sends `request` through the host's `wasi:http/outgoing-handler` and waits
/// for the complete response (status, headers and the whole body).
///
/// Non-2xx statuses are *not* errors: check [`IncomingResponse::status`].
/// Errors are [`Error::InvalidRequest`] for a request that cannot be
/// expressed (bad URL, method or header), [`Error::Http`] when the host
/// refuses or fails the request, and [`Error::Io`] if a body stream breaks.
pub fn send(request: OutgoingRequest) -> Result<IncomingResponse, Error> {
    let OutgoingRequest {
        method,
        url,
        mut headers,
        body,
        timeout,
    } = request;
    let target = Target::parse(&url)?;

    if !body.is_empty() && find_header(&headers, "content-length").is_none() {
        headers.push(("content-length".to_owned(), body.len().to_string()));
    }
    let fields = header_fields(&headers)?;

    let wasi_request = WasiOutgoingRequest::new(fields);
    wasi_request
        .set_method(&method.to_wasi())
        .map_err(|()| Error::InvalidRequest(format!("invalid method `{method}`")))?;
    wasi_request
        .set_scheme(Some(&target.scheme))
        .map_err(|()| Error::InvalidRequest(format!("invalid scheme in `{url}`")))?;
    wasi_request
        .set_authority(Some(&target.authority))
        .map_err(|()| Error::InvalidRequest(format!("invalid authority in `{url}`")))?;
    wasi_request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| Error::InvalidRequest(format!("invalid path in `{url}`")))?;

    let options = timeout.map(request_options).transpose()?;
    let outgoing_body = wasi_request
        .body()
        .map_err(|()| Error::Http("request body already taken".to_owned()))?;

    let future = outgoing_handler::handle(wasi_request, options)
        .map_err(|code| Error::Http(code.to_string()))?;

    // Write the body, then wait for the response. If both fail, the
    // response error is the more telling one (e.g. the host denied the
    // request, which also closes the body stream).
    let body_result = write_request_body(outgoing_body, &body);
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(Error::Http(code.to_string())),
            Some(Err(())) => return Err(Error::Http("response already taken".to_owned())),
            None => future.subscribe().block(),
        }
    };
    body_result?;
    read_response(response)
}

/// Writes and finishes the request body. On failure the body is dropped
/// unfinished, which tells the host the request is incomplete (so the
/// response future resolves with an error rather than waiting forever).
fn write_request_body(outgoing_body: OutgoingBody, body: &[u8]) -> Result<(), Error> {
    if !body.is_empty() {
        let stream = outgoing_body
            .write()
            .map_err(|()| Error::Http("request body stream unavailable".to_owned()))?;
        write_all(&stream, body)?;
        flush(&stream)?;
    }
    OutgoingBody::finish(outgoing_body, None).map_err(|code| Error::Http(code.to_string()))
}

fn read_response(response: WasiIncomingResponse) -> Result<IncomingResponse, Error> {
    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields.entries().into_iter().map(header_from_wasi).collect()
    };
    let body = response
        .consume()
        .map_err(|()| Error::Http("response body already taken".to_owned()))?;
    let bytes = {
        let stream = body
            .stream()
            .map_err(|()| Error::Http("response body stream unavailable".to_owned()))?;
        read_to_end(&stream, None)?
    };
    drop(body);
    Ok(IncomingResponse {
        status,
        headers,
        body: bytes,
    })
}

fn request_options(timeout: Duration) -> Result<RequestOptions, Error> {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    let unsupported =
        |what: &str| Error::InvalidRequest(format!("host does not support a {what} timeout"));
    options
        .set_connect_timeout(Some(nanos))
        .map_err(|()| unsupported("connect"))?;
    options
        .set_first_byte_timeout(Some(nanos))
        .map_err(|()| unsupported("first-byte"))?;
    options
        .set_between_bytes_timeout(Some(nanos))
        .map_err(|()| unsupported("between-bytes"))?;
    Ok(options)
}

/// Converts headers to a `wasi:http` `fields`, rejecting invalid or forbidden
/// names and values.
fn header_fields(headers: &[(String, String)]) -> Result<Fields, Error> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    Fields::from_list(&list).map_err(|e| Error::InvalidRequest(format!("bad header: {e}")))
}

/// The parts of an absolute URL that `wasi:http` wants separately.
struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidRequest(format!("invalid URL `{url}`: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected an absolute URL like `https://host/path`"))?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            Scheme::Other(scheme.to_owned())
        } else {
            return Err(bad("invalid scheme"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err(bad("missing host"));
        }
        // The fragment is never sent to the server.
        let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
        let path_with_query = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Target {
            scheme,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("authority", &self.authority)
            .field("path_with_query", &self.path_with_query)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("https://example.com:8443/a/b?c=d#frag").unwrap();
        assert!(matches!(t.scheme, Scheme::Https));
        assert_eq!(t.authority, "example.com:8443");
        assert_eq!(t.path_with_query, "/a/b?c=d");

        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(t.path_with_query, "/");
        let t = Target::parse("http://localhost?x=1").unwrap();
        assert_eq!(t.path_with_query, "/?x=1");

        assert!(Target::parse("example.com/x").is_err());
        assert!(Target::parse("http:///x").is_err());
    }
}
