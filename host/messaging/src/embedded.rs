//! The in-process broker used when no NATS server is configured.
//!
//! It owns the subscription table and the delivery rules for services that
//! run in one `wharf` process, so messaging works with no infrastructure.
//!
//! # Guarantee
//!
//! **At most once, in memory, per process.** Nothing is persisted or
//! replicated; services on another host never see these messages (use
//! [`NatsBroker`](crate::NatsBroker) for that). A message published while
//! nobody subscribes is discarded. Messages from one publisher arrive at a
//! subscription in the order they were published.
//!
//! # Delivery
//!
//! - every plain subscription whose pattern matches the subject gets a copy;
//! - for each queue group with a matching member, exactly one member gets it,
//!   chosen round-robin (NATS picks at random; round-robin is easier to test
//!   and just as fair);
//! - each subscription has a bounded buffer. When it is full, `publish`
//!   waits asynchronously up to the full-wait bound (1 s by default, see
//!   [`EmbeddedBroker::with_full_wait`]) for room; if there is still none,
//!   that one delivery is dropped, a warning is logged and
//!   [`EmbeddedBroker::dropped`] is incremented. Other subscriptions are not
//!   held up by the wait beyond that bound: all full ones are waited on
//!   together.
//!
//! Matching is a linear scan of the subscriptions, which is fine for the
//! tens to hundreds of subscriptions one host has.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use tokio::sync::mpsc;

use crate::broker::{Broker, BrokerError, Subscription};
use crate::message::Message;
use crate::subject::{pattern_matches, validate_pattern, validate_queue_group, validate_subject};

/// How long `publish` waits for room in a full subscription buffer by default.
pub const DEFAULT_FULL_WAIT: Duration = Duration::from_secs(1);

/// An in-memory broker for the services of one process.
///
/// Cloning is cheap and gives another handle to the same broker.
#[derive(Clone)]
pub struct EmbeddedBroker {
    shared: Arc<Shared>,
}

struct Shared {
    registry: Mutex<Registry>,
    /// Durable queues, once a state directory is given.
    durable: std::sync::OnceLock<crate::embedded_durable::DurableQueues>,
    dropped: AtomicU64,
    full_wait: Duration,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    subscriptions: Vec<Entry>,
    /// Round-robin position per queue group name.
    next_member: HashMap<String, usize>,
}

struct Entry {
    id: u64,
    pattern: String,
    queue_group: Option<String>,
    sender: mpsc::Sender<Message>,
}

impl EmbeddedBroker {
    /// A broker whose `publish` waits up to [`DEFAULT_FULL_WAIT`] for a full subscriber.
    pub fn new() -> Self {
        Self::with_full_wait(DEFAULT_FULL_WAIT)
    }

    /// A broker whose `publish` waits up to `full_wait` for room in a full
    /// subscription buffer before dropping that delivery.
    pub fn with_full_wait(full_wait: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                registry: Mutex::new(Registry::default()),
                durable: std::sync::OnceLock::new(),
                dropped: AtomicU64::new(0),
                full_wait,
            }),
        }
    }

    /// Keeps durable subscriptions' messages in `<state_dir>/messaging.redb`
    /// (see [`embedded_durable`](crate::embedded_durable)); without it,
    /// durable subscriptions are refused.
    ///
    /// # Errors
    ///
    /// When the database cannot be opened (another process holds it), or
    /// when called twice.
    pub fn keep_durable_in(&self, state_dir: &std::path::Path) -> anyhow::Result<()> {
        let queues = crate::embedded_durable::DurableQueues::open(state_dir)?;
        self.shared
            .durable
            .set(queues)
            .map_err(|_| anyhow::anyhow!("the durable queues are already open"))
    }

    /// Deliveries dropped so far because a subscription's buffer stayed full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// How many subscriptions are active (queue group members included).
    pub fn subscription_count(&self) -> usize {
        self.shared.lock().subscriptions.len()
    }

    /// Whether any subscription (plain or queue) matches `subject`.
    fn has_interest(&self, subject: &str) -> bool {
        self.shared
            .lock()
            .subscriptions
            .iter()
            .any(|e| pattern_matches(&e.pattern, subject))
    }

    /// The senders a message on `subject` goes to: every matching plain
    /// subscription and one member per matching queue group.
    fn targets(&self, subject: &str) -> Vec<(u64, mpsc::Sender<Message>)> {
        let mut registry = self.shared.lock();
        let Registry {
            subscriptions,
            next_member,
            ..
        } = &mut *registry;
        let mut targets = Vec::new();
        // Matching members per group, in subscription order; few groups, so a Vec.
        let mut groups: Vec<(&str, Vec<&Entry>)> = Vec::new();
        for entry in subscriptions.iter() {
            if !pattern_matches(&entry.pattern, subject) {
                continue;
            }
            match entry.queue_group.as_deref() {
                None => targets.push((entry.id, entry.sender.clone())),
                Some(group) => match groups.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, members)) => members.push(entry),
                    None => groups.push((group, vec![entry])),
                },
            }
        }
        for (group, members) in groups {
            let position = next_member.entry(group.to_owned()).or_insert(0);
            let chosen = members[*position % members.len()];
            *position = position.wrapping_add(1);
            targets.push((chosen.id, chosen.sender.clone()));
        }
        targets
    }
}

impl Default for EmbeddedBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("subscriptions", &self.subscription_count())
            .field("dropped", &self.dropped())
            .field("full_wait", &self.shared.full_wait)
            .finish()
    }
}

impl Shared {
    /// The registry; a panic while holding the lock cannot leave it
    /// half-updated (every update is a single push/remove), so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unsubscribe(&self, id: u64) {
        let mut registry = self.lock();
        let Some(index) = registry.subscriptions.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = registry.subscriptions.swap_remove(index);
        if let Some(group) = entry.queue_group {
            let still_used = registry
                .subscriptions
                .iter()
                .any(|e| e.queue_group.as_deref() == Some(group.as_str()));
            if !still_used {
                registry.next_member.remove(&group);
            }
        }
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        validate_subject(&message.subject)?;
        // Durable first: once a durable subscriber's copy is on disk, the
        // publisher may be told the message was accepted.
        if let Some(durable) = self.shared.durable.get() {
            durable.store(&message).await?;
        }
        let mut targets = self.targets(&message.subject);
        let Some(last) = targets.pop() else {
            return Ok(());
        };
        let mut full = Vec::new();
        let mut deliveries: Vec<_> = targets
            .into_iter()
            .map(|target| (target, message.clone()))
            .collect();
        deliveries.push((last, message));
        for ((id, sender), message) in deliveries {
            match sender.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(message)) => full.push((id, sender, message)),
                // Unsubscribed after we looked it up.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if full.is_empty() {
            return Ok(());
        }
        let wait = self.shared.full_wait;
        let waits = full.into_iter().map(|(id, sender, message)| async move {
            let subject = message.subject.clone();
            match tokio::time::timeout(wait, sender.send(message)).await {
                Ok(_) => {}
                Err(_) => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        subject,
                        subscription = id,
                        waited_ms = wait.as_millis() as u64,
                        "subscriber buffer full; message dropped"
                    );
                }
            }
        });
        futures::future::join_all(waits).await;
        Ok(())
    }

    async fn subscribe_durable(
        &self,
        spec: &crate::durable::DurableSpec,
    ) -> Result<crate::durable::DurableSubscription, BrokerError> {
        validate_pattern(&spec.topic)?;
        match self.shared.durable.get() {
            Some(durable) => durable.subscribe(spec),
            None => Err(BrokerError::Rejected(format!(
                "durable subscriptions (`{}`) need a state directory for the embedded broker",
                spec.topic
            ))),
        }
    }

    async fn subscribe(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
        capacity: usize,
    ) -> Result<Subscription, BrokerError> {
        validate_pattern(pattern)?;
        if let Some(group) = queue_group {
            validate_queue_group(group)?;
        }
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let id = {
            let mut registry = self.shared.lock();
            let id = registry.next_id;
            registry.next_id += 1;
            registry.subscriptions.push(Entry {
                id,
                pattern: pattern.to_owned(),
                queue_group: queue_group.map(str::to_owned),
                sender,
            });
            id
        };
        Ok(Subscription::from_stream(Deliveries {
            receiver,
            id,
            broker: Arc::downgrade(&self.shared),
        }))
    }

    async fn request(
        &self,
        mut message: Message,
        timeout: Duration,
    ) -> Result<Message, BrokerError> {
        validate_subject(&message.subject)?;
        let subject = message.subject.clone();
        if !self.has_interest(&subject) {
            return Err(BrokerError::NoResponders { subject });
        }
        let inbox = new_inbox();
        let mut replies = self.subscribe(&inbox, None, 1).await?;
        message.reply_to = Some(inbox);
        let exchange = async {
            self.publish(message).await?;
            replies.next().await.ok_or(BrokerError::Closed)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(reply) => reply,
            Err(_) => Err(BrokerError::Timeout {
                subject,
                after: timeout,
            }),
        }
    }

    fn dropped(&self) -> u64 {
        EmbeddedBroker::dropped(self)
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

/// A fresh, unguessable reply subject.
pub(crate) fn new_inbox() -> String {
    format!("_INBOX.{:032x}", rand::random::<u128>())
}

/// The receiving end of one embedded subscription; unsubscribes on drop.
struct Deliveries {
    receiver: mpsc::Receiver<Message>,
    id: u64,
    broker: Weak<Shared>,
}

impl Stream for Deliveries {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        if let Some(shared) = self.broker.upgrade() {
            shared.unsubscribe(self.id);
        }
    }
}
