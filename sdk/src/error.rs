//! The SDK's error type.

use std::fmt;

/// Errors returned by the Wharf SDK.
///
/// Every variant renders a short, human-readable message through
/// [`Display`](fmt::Display), so an `Error` can be returned straight from a
/// handler (`Result<Response, wharf_sdk::Error>`) or wrapped by `anyhow`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to a body stream failed (for example the peer
    /// went away). The payload is the host's description of the failure.
    Io(String),
    /// The request body was already taken by [`Request::into_body_reader`]
    /// or a previous read failed part-way.
    ///
    /// [`Request::into_body_reader`]: crate::http::Request::into_body_reader
    BodyConsumed,
    /// The body is larger than the limit passed to
    /// [`Request::body_bytes_limited`](crate::http::Request::body_bytes_limited).
    BodyTooLarge {
        /// The limit, in bytes, that was exceeded.
        limit: usize,
    },
    /// The body is not valid UTF-8.
    InvalidUtf8(std::string::FromUtf8Error),
    /// The body is not valid JSON, or does not match the requested type; or
    /// a value could not be serialised to JSON.
    Json(serde_json::Error),
    /// An outgoing request could not be built (bad URL, method or header).
    InvalidRequest(String),
    /// An outgoing HTTP request failed (DNS, connection, TLS, timeout, a
    /// protocol error, or the host denied it).
    Http(String),
    /// Publishing or a request failed: the subject is invalid or not
    /// covered by the service's `publish` grant, nobody answered a request
    /// (no responders, or no reply in time), or the broker is unavailable.
    /// The payload is the host's description.
    Messaging(String),
    /// [`Message::reply`](crate::messaging::Message::reply) on a message
    /// that has no `reply-to` subject (it was published, not sent as a
    /// request).
    NoReplyTo,
    /// A key-value operation failed: the store is not granted to the
    /// service, a key or value is past the host's limits, a counter
    /// overflowed or is not a number, or the storage is unavailable. The
    /// payload names the store and says which.
    KeyValue(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(msg) => write!(f, "body stream error: {msg}"),
            Error::BodyConsumed => f.write_str("request body was already consumed"),
            Error::BodyTooLarge { limit } => {
                write!(f, "body is larger than the limit of {limit} bytes")
            }
            Error::InvalidUtf8(e) => write!(f, "body is not valid UTF-8: {e}"),
            Error::Json(e) => write!(f, "invalid JSON: {e}"),
            Error::InvalidRequest(msg) => write!(f, "invalid outgoing request: {msg}"),
            Error::Http(msg) => write!(f, "outgoing HTTP request failed: {msg}"),
            Error::Messaging(msg) => write!(f, "messaging failed: {msg}"),
            Error::NoReplyTo => f.write_str("the message has no reply-to subject to answer"),
            Error::KeyValue(msg) => write!(f, "key-value storage failed: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidUtf8(e) => Some(e),
            Error::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Self {
        Error::InvalidUtf8(e)
    }
}

impl From<std::io::Error> for Error {
    /// Wraps an I/O error (e.g. from reading a
    /// [`BodyReader`](crate::http::BodyReader)) as [`Error::Io`].
    fn from(e: std::io::Error) -> Self {
        // Unwrap an SDK error that was converted into an `io::Error` (as
        // `BodyReader` does) instead of nesting it.
        match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => Error::Io(e.to_string()),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::other(e)
    }
}
