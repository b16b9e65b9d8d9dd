//! Messaging: publish, request/reply, and handling messages.
//!
//! Sending goes through the host's broker with the
//! `wasmcloud:messaging/consumer@0.2.0` import (world
//! `wharf:platform/message-producer`):
//!
//! - [`publish`] / [`publish_json`] send a message and return at once;
//! - [`request`] / [`request_json`] send one and wait for the first reply.
//!
//! A service may only send to subjects its manifest's `publish` patterns
//! cover (`publish = ["orders.>"]`); anything else fails with
//! [`Error::Messaging`] naming the subject. Every message carries the trace
//! context and request ID of the request or message being handled, added by
//! the host.
//!
//! Receiving is one function marked
//! [`#[message_handler]`](crate::message_handler), which the host calls for
//! every message the service's `subscriptions` deliver (world
//! `wharf:platform/message-handler`). It gets a [`Message`] — subject, body,
//! reply subject and the metadata (headers) the message arrived with — and
//! answers a request with [`Message::reply`].
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use serde::{Deserialize, Serialize};
//! use wharf_sdk::messaging::{self, Message};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Check {
//!     sku: String,
//!     qty: u32,
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Availability {
//!     available: bool,
//! }
//!
//! // The caller (e.g. inside an `#[http_service]`):
//! # fn caller() -> Result<(), wharf_sdk::Error> {
//! let answer: Availability = messaging::request_json(
//!     "inventory.check",
//!     &Check { sku: "widget".into(), qty: 2 },
//!     Duration::from_secs(2),
//! )?;
//! if answer.available {
//!     messaging::publish_json("orders.created", &serde_json::json!({ "sku": "widget" }))?;
//! }
//! # Ok(())
//! # }
//!
//! // The responder, in another service subscribed to `inventory.check`:
//! #[wharf_sdk::message_handler]
//! fn on_message(msg: Message) -> Result<(), wharf_sdk::Error> {
//!     let check: Check = msg.json()?;
//!     msg.reply_json(&Availability { available: check.qty <= 10 })
//! }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::producer_bindings::wasmcloud::messaging::consumer;
use crate::producer_bindings::wasmcloud::messaging::types::BrokerMessage;

/// A message: one the handler received, or the reply to a [`request`].
///
/// ```
/// use wharf_sdk::messaging::Message;
///
/// let mut msg = Message::new("orders.created", r#"{"id":"o-1"}"#);
/// msg.metadata.push(("x-request-id".into(), "req-7".into()));
/// assert_eq!(msg.text().unwrap(), r#"{"id":"o-1"}"#);
/// assert_eq!(msg.json::<serde_json::Value>().unwrap()["id"], "o-1");
/// assert_eq!(msg.metadata("X-Request-Id"), Some("req-7"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject the message was published to (for a reply, the inbox it
    /// was sent to).
    pub topic: String,
    /// The payload.
    pub body: Vec<u8>,
    /// Where the publisher waits for an answer, when the message is a
    /// request; [`Message::reply`] publishes there.
    pub reply_to: Option<String>,
    /// The headers the message arrived with, in order: the publisher's
    /// trace context (`traceparent`) and request ID (`x-request-id`), and on
    /// a dead letter `wharf-error`, `wharf-attempts` and
    /// `wharf-original-subject`. Empty on the reply to a [`request`] (the
    /// host does not pass a reply's headers on).
    pub metadata: Vec<(String, String)>,
}

impl Message {
    /// A message on `topic` with `body`, no reply subject and no metadata.
    pub fn new(topic: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            reply_to: None,
            metadata: Vec::new(),
        }
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String, Error> {
        Ok(String::from_utf8(self.body.clone())?)
    }

    /// The body deserialised from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The first value of metadata entry `name`, compared
    /// case-insensitively (like an HTTP header).
    pub fn metadata(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Answers this message: publishes `body` to its
    /// [`reply_to`](Self::reply_to) subject. Answering needs no `publish`
    /// grant. Fails with [`Error::NoReplyTo`] when the message is not a
    /// request, and with [`Error::Messaging`] when the broker refuses.
    pub fn reply(&self, body: impl Into<Vec<u8>>) -> Result<(), Error> {
        let reply_to = self.reply_to.as_deref().ok_or(Error::NoReplyTo)?;
        publish(reply_to, body)
    }

    /// Answers this message with `value` serialised as JSON (see
    /// [`reply`](Self::reply)).
    pub fn reply_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        if self.reply_to.is_none() {
            return Err(Error::NoReplyTo);
        }
        self.reply(serde_json::to_vec(value)?)
    }
}

/// Publishes `body` to `topic` and returns once the host's broker has
/// taken it; nobody needs to be listening.
///
/// Fails with [`Error::Messaging`] when `topic` is not a valid subject, is
/// not covered by the service's `publish` grant, or the broker is
/// unavailable. Delivery is at most once: a message nobody is subscribed to
/// is gone.
///
/// ```no_run
/// # fn demo() -> Result<(), wharf_sdk::Error> {
/// wharf_sdk::messaging::publish("audit.login", "user 42 logged in")?;
/// # Ok(())
/// # }
/// ```
pub fn publish(topic: &str, body: impl Into<Vec<u8>>) -> Result<(), Error> {
    consumer::publish(&BrokerMessage {
        subject: topic.to_owned(),
        body: body.into(),
        reply_to: None,
    })
    .map_err(Error::Messaging)
}

/// Publishes `value`, serialised as JSON, to `topic` (see [`publish`]).
pub fn publish_json<T: Serialize + ?Sized>(topic: &str, value: &T) -> Result<(), Error> {
    publish(topic, serde_json::to_vec(value)?)
}

/// Sends `body` to `topic` as a request and waits up to `timeout` for the
/// first reply. Sub-millisecond parts of `timeout` are rounded up; the host
/// caps it at 60 seconds.
///
/// Fails with [`Error::Messaging`] when nobody is subscribed to `topic`
/// ("no responders", reported at once), when no reply arrives in time, or
/// for the reasons [`publish`] fails. The returned [`Message`]'s
/// [`topic`](Message::topic) is the inbox the reply came to.
///
/// ```no_run
/// use std::time::Duration;
///
/// # fn demo() -> Result<(), wharf_sdk::Error> {
/// let reply = wharf_sdk::messaging::request("time.now", "", Duration::from_millis(500))?;
/// println!("it is {}", reply.text()?);
/// # Ok(())
/// # }
/// ```
pub fn request(topic: &str, body: impl Into<Vec<u8>>, timeout: Duration) -> Result<Message, Error> {
    let body = body.into();
    let reply = consumer::request(topic, &body, timeout_ms(timeout)).map_err(Error::Messaging)?;
    Ok(Message {
        topic: reply.subject,
        body: reply.body,
        reply_to: reply.reply_to,
        metadata: Vec::new(),
    })
}

/// Sends `value` as a JSON request to `topic` and deserialises the JSON
/// reply (see [`request`]). A reply that is not valid JSON for `R` is
/// [`Error::Json`].
pub fn request_json<T: Serialize + ?Sized, R: DeserializeOwned>(
    topic: &str,
    value: &T,
    timeout: Duration,
) -> Result<R, Error> {
    request(topic, serde_json::to_vec(value)?, timeout)?.json()
}

/// `timeout` in whole milliseconds for `consumer.request`: rounded up (so a
/// non-zero timeout never becomes 0) and saturated at `u32::MAX`.
fn timeout_ms(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Order {
        id: String,
        qty: u32,
    }

    #[test]
    fn reads_text_and_json() {
        let msg = Message::new("orders.created", r#"{"id":"o-1","qty":3}"#);
        assert_eq!(msg.text().unwrap(), r#"{"id":"o-1","qty":3}"#);
        assert_eq!(
            msg.json::<Order>().unwrap(),
            Order {
                id: "o-1".into(),
                qty: 3
            }
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        let msg = Message::new("t", vec![0xff, 0xfe]);
        assert!(matches!(msg.text(), Err(Error::InvalidUtf8(_))));
        let msg = Message::new("t", "{not json");
        let err = msg.json::<Order>().unwrap_err();
        assert!(matches!(err, Error::Json(_)));
        assert!(err.to_string().starts_with("invalid JSON"), "{err}");
        // Valid JSON of the wrong shape.
        let msg = Message::new("t", r#"{"id": 1}"#);
        assert!(matches!(msg.json::<Order>(), Err(Error::Json(_))));
    }

    #[test]
    fn metadata_is_case_insensitive_and_first_wins() {
        let mut msg = Message::new("t", "");
        msg.metadata = vec![
            ("X-Request-Id".into(), "a".into()),
            ("x-request-id".into(), "b".into()),
        ];
        assert_eq!(msg.metadata("x-request-id"), Some("a"));
        assert_eq!(msg.metadata("X-REQUEST-ID"), Some("a"));
        assert_eq!(msg.metadata("traceparent"), None);
    }

    #[test]
    fn replying_without_a_reply_subject_is_an_error() {
        let msg = Message::new("t", "x");
        assert!(matches!(msg.reply("y"), Err(Error::NoReplyTo)));
        assert!(matches!(
            msg.reply_json(&serde_json::json!({"ok": true})),
            Err(Error::NoReplyTo)
        ));
        assert_eq!(
            Error::NoReplyTo.to_string(),
            "the message has no reply-to subject to answer"
        );
    }

    #[test]
    fn timeouts_round_up_and_saturate() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(250)), 250);
        assert_eq!(timeout_ms(Duration::from_micros(250_001)), 251);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}
