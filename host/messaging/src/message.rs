//! The message that travels through a [`Broker`](crate::Broker).
//!
//! One plain struct shared by every broker and by the host's WIT bindings
//! (`wasi:messaging` messages and `wasmcloud:messaging` broker-messages both
//! map onto it), so converting between interfaces never depends on which
//! broker is running.

use bytes::Bytes;

/// A message: subject, opaque body, headers and an optional reply subject.
///
/// Headers are an ordered list of name/value pairs; a name may repeat. Over
/// NATS, values for the same name keep their order but the order between
/// different names is not preserved (the client keeps headers in a map).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Where the message is published (no wildcards), or where it was received.
    pub subject: String,
    /// The payload, uninterpreted.
    pub body: Bytes,
    /// Name/value pairs (NATS headers, `wasi:messaging` metadata).
    pub headers: Vec<(String, String)>,
    /// Where a reply should be published, for request/reply.
    pub reply_to: Option<String>,
}

impl Message {
    /// A message with no headers and no reply subject.
    pub fn new(subject: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            subject: subject.into(),
            body: body.into(),
            headers: Vec::new(),
            reply_to: None,
        }
    }

    /// Appends a header (builder style).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the reply subject (builder style).
    #[must_use]
    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// The first value of header `name` (exact, case-sensitive name match,
    /// as NATS compares header names).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let m = Message::new("a.b", "hi")
            .with_header("X-Id", "1")
            .with_header("X-Id", "2")
            .with_header("Other", "x")
            .with_reply_to("_INBOX.1");
        assert_eq!(m.header("X-Id"), Some("1"));
        assert_eq!(m.header("x-id"), None);
        assert_eq!(m.header_values("X-Id").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(m.header("missing"), None);
        assert_eq!(m.reply_to.as_deref(), Some("_INBOX.1"));
        assert_eq!(m.body, Bytes::from_static(b"hi"));
    }
}
