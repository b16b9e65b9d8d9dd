//! Messaging for Wharf services: publish/subscribe, queue groups and
//! request/reply over NATS-style subjects.
//!
//! This crate owns the broker layer that the host binds `wasi:messaging`
//! (`0.2.0-draft`) and `wasmcloud:messaging@0.2.0` to. It knows nothing of
//! wasmtime or of components, so the delivery rules can be tested on their
//! own and the WIT bindings stay a thin translation.
//!
//! - [`subject`]: what a valid subject, pattern and queue group are, how
//!   patterns match, and whether a subscription fits within a grant;
//! - [`Message`]: the one message type every broker carries;
//! - [`Broker`], [`Subscription`], [`BrokerError`]: the object-safe
//!   interface the host uses (`Arc<dyn Broker>`);
//! - [`durable`]: durable, at-least-once subscriptions (`durable = true`):
//!   their spec, the one function naming their storage, deliveries to ack;
//! - [`EmbeddedBroker`]: the default, in-process broker (at most once, in
//!   memory, per process);
//! - [`NatsBroker`]: a NATS server through the official `async-nats`
//!   client, for `wharf up --nats nats://...`, so services on different
//!   hosts talk.

pub mod broker;
pub mod durable;
pub mod embedded;
pub mod embedded_durable;
pub mod jetstream;
pub mod message;
pub mod nats;
pub mod subject;

pub use broker::{Broker, BrokerError, Subscription};
pub use durable::{Delivery, DurableLimits, DurableSpec, DurableSubscription, durable_names};
pub use embedded::EmbeddedBroker;
pub use message::Message;
pub use nats::{NatsBroker, NatsSecurity};
pub use subject::{Namespace, SubjectError};
