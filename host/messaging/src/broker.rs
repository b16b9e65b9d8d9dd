//! The broker abstraction the host binds `wasi:messaging` and
//! `wasmcloud:messaging` to.
//!
//! A single object-safe trait (`Arc<dyn Broker>`) so the host does not care
//! whether messages stay in this process ([`EmbeddedBroker`](crate::EmbeddedBroker))
//! or go through a NATS server ([`NatsBroker`](crate::NatsBroker)). This
//! module also owns [`Subscription`] (what a subscriber reads from) and
//! [`BrokerError`] (what callers branch on, e.g. to map to a WIT error case).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::message::Message;
use crate::subject::SubjectError;

/// Publish/subscribe and request/reply over NATS-style subjects.
///
/// Delivery is at most once for every implementation: a message can be lost
/// (no subscriber yet, a full subscriber buffer, a dropped connection) but is
/// never delivered twice to the same subscription.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Publishes `message` to `message.subject` (no wildcards). Returning Ok
    /// means the broker accepted it, not that anyone received it.
    async fn publish(&self, message: Message) -> Result<(), BrokerError>;

    /// Subscribe to `pattern`; with `queue_group`, each message goes to exactly one subscriber of the group (per broker), otherwise every subscriber gets it. `capacity` bounds the deliveries buffered for this subscription (back-pressure: the embedded broker makes publish wait up to a short bound, then counts a drop — see [`EmbeddedBroker`](crate::EmbeddedBroker); the NATS broker uses the client's per-subscription buffer, see [`NatsBroker`](crate::NatsBroker)).
    ///
    /// The subscription is active when this returns: a message published
    /// afterwards (through any client of the same broker) is delivered.
    /// Dropping the [`Subscription`] unsubscribes.
    async fn subscribe(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
        capacity: usize,
    ) -> Result<Subscription, BrokerError>;

    /// Request/reply: publish with a fresh reply inbox and wait for the first reply.
    ///
    /// `message.reply_to` is replaced by the inbox. Fails with
    /// [`BrokerError::NoResponders`] when nothing subscribes to the subject,
    /// and [`BrokerError::Timeout`] when nothing replied within `timeout`.
    async fn request(&self, message: Message, timeout: Duration) -> Result<Message, BrokerError>;

    /// A durable, at-least-once subscription to `spec.topic` (see
    /// [`durable`](crate::durable)): messages are kept until a delivery is
    /// acknowledged, across restarts of this host.
    ///
    /// The default refuses: a broker that cannot keep messages says so.
    async fn subscribe_durable(
        &self,
        spec: &crate::durable::DurableSpec,
    ) -> Result<crate::durable::DurableSubscription, BrokerError> {
        Err(BrokerError::Rejected(format!(
            "durable subscriptions (`{}`) are not available on the {} broker here",
            spec.topic,
            self.name()
        )))
    }

    /// Waits until the broker has processed everything this handle sent
    /// so far (for NATS: a round trip through the server). The embedded
    /// broker delivers synchronously, so the default does nothing.
    async fn flush(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Messages this broker dropped because a subscriber's buffer was full
    /// (the host exports it as a metric).
    fn dropped(&self) -> u64;

    /// `"embedded"` or `"nats"`.
    fn name(&self) -> &'static str;
}

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A request found no subscriber for its subject.
    #[error("no responders for subject {subject:?}")]
    NoResponders {
        /// The request's subject.
        subject: String,
    },
    /// A request got no reply in time.
    #[error("no reply on subject {subject:?} within {after:?}")]
    Timeout {
        /// The request's subject.
        subject: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The subject, pattern or queue group is not valid.
    #[error(transparent)]
    InvalidSubject(#[from] SubjectError),
    /// A header name or value cannot be carried (NATS refuses `:`, control
    /// characters and non-ASCII in names, and CR/LF in values).
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker refused the message, e.g. a body larger than the NATS
    /// server's `max_payload`.
    #[error("the broker refused the message: {0}")]
    Rejected(String),
    /// The connection to the broker failed.
    #[error("broker connection error: {0}")]
    Connection(String),
    /// The broker or the subscription has been closed.
    #[error("the broker is closed")]
    Closed,
}

/// Messages delivered to one subscription, in order; dropping it unsubscribes.
///
/// Read with [`next`](Self::next), or use it as a [`Stream`].
pub struct Subscription {
    stream: BoxStream<'static, Message>,
}

impl Subscription {
    /// Wraps a stream of deliveries. The stream's drop must unsubscribe;
    /// for broker implementations.
    pub fn from_stream(stream: impl Stream<Item = Message> + Send + 'static) -> Self {
        Self {
            stream: stream.boxed(),
        }
    }

    /// The next message; `None` once the subscription is closed (the
    /// broker shut down or the connection was lost for good).
    pub async fn next(&mut self) -> Option<Message> {
        self.stream.next().await
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}
