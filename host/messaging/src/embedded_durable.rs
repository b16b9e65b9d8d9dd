//! Durable subscriptions on the embedded broker: a queue per subscription
//! in a redb database in the host's state directory
//! (`<state dir>/messaging.redb`).
//!
//! It owns the stored form of a pending message and the queue rules:
//!
//! - a publish whose subject matches a durable subscription is written to
//!   that subscription's queue and committed (redb's `Durability::Immediate`:
//!   on disk, crash-safe) *before* `publish` returns, so whatever a
//!   publisher was told was accepted survives a crash of the host;
//! - a message stays until its delivery is acknowledged; at start the
//!   queue is read back, so what was pending or in flight when the host
//!   died is delivered again;
//! - a `nak` makes the message ready again after its delay; attempts are
//!   counted in memory (they restart at 1 after a host restart);
//! - limits: a queue at its message or byte limit refuses the publish (an
//!   error to the publisher, a warning in the log, and a count in
//!   [`DurableStatus::refused`]); a message older than the age limit is
//!   removed unhandled when it would be delivered, logged and counted
//!   (`expired`).
//!
//! Only this process reads the queue, so there is no ack wait: a delivery
//! is in flight until acknowledged or `nak`ed (the trigger's handler
//! timeout bounds that).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use tokio::sync::Notify;

use crate::broker::BrokerError;
use crate::durable::{
    Acknowledge, Delivery, DurableLimits, DurableSpec, DurableStatus, DurableSubscription,
    durable_names,
};
use crate::message::Message;
use crate::subject::pattern_matches;

/// The database file in the state directory.
pub const DATABASE_FILE: &str = "messaging.redb";

/// `(queue name, sequence)` → stored message.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("durable_messages");

/// The durable queues of one embedded broker.
pub(crate) struct DurableQueues {
    db: Arc<redb::Database>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
}

struct Queue {
    name: String,
    pattern: String,
    limits: DurableLimits,
    db: Arc<redb::Database>,
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    next_seq: u64,
    /// Stored, not in flight, deliverable now.
    waiting: BTreeSet<u64>,
    /// Nak'ed: deliverable again at the instant.
    delayed: Vec<(tokio::time::Instant, u64)>,
    in_flight: BTreeSet<u64>,
    attempts: HashMap<u64, u32>,
    sizes: HashMap<u64, u64>,
    bytes: u64,
    refused: u64,
}

impl DurableQueues {
    /// Opens (or creates) `<state_dir>/messaging.redb`.
    pub(crate) fn open(state_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let path = state_dir.join(DATABASE_FILE);
        let db = redb::Database::create(&path)
            .with_context(|| format!("cannot open the durable message queue {}", path.display()))?;
        // Queued messages are the app's data: readable by the host's user
        // only, whatever the umask (like every file in the state directory).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", path.display()))?;
        }
        let write = db.begin_write()?;
        write.open_table(MESSAGES)?;
        write.commit()?;
        Ok(Self {
            db: Arc::new(db),
            queues: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Queue>>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `message` in every queue whose pattern matches, in one
    /// committed transaction. Refuses (storing nothing) when a queue is at
    /// a limit.
    pub(crate) async fn store(&self, message: &Message) -> Result<(), BrokerError> {
        let targets: Vec<Arc<Queue>> = self
            .lock()
            .values()
            .filter(|q| pattern_matches(&q.pattern, &message.subject))
            .cloned()
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let encoded = encode(message, now_ms());
        let size = encoded.len() as u64;
        let mut entries = Vec::with_capacity(targets.len());
        for queue in &targets {
            let mut state = queue.lock();
            let count = state.waiting.len() + state.delayed.len() + state.in_flight.len();
            let over = if count as u64 >= queue.limits.max_messages {
                Some("messages")
            } else if state.bytes + size > queue.limits.max_bytes {
                Some("bytes")
            } else {
                None
            };
            if let Some(limit) = over {
                state.refused += 1;
                tracing::warn!(queue = %queue.name, subject = %message.subject, limit, "durable queue full; publish refused");
                return Err(BrokerError::Rejected(format!(
                    "the durable queue for `{}` is full (its {limit} limit is reached)",
                    queue.pattern
                )));
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            entries.push((queue.clone(), seq));
        }
        let db = self.db.clone();
        let names: Vec<(String, u64)> = entries.iter().map(|(q, s)| (q.name.clone(), *s)).collect();
        let commit = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let write = db.begin_write()?;
            {
                let mut table = write.open_table(MESSAGES)?;
                for (name, seq) in &names {
                    table.insert((name.as_str(), *seq), encoded.as_slice())?;
                }
            }
            write.commit()?;
            Ok(())
        })
        .await;
        match commit {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(error = %format!("{error:#}"), "cannot store a durable message");
                return Err(BrokerError::Rejected(
                    "the durable queue could not store the message".into(),
                ));
            }
            Err(_) => return Err(BrokerError::Closed),
        }
        for (queue, seq) in entries {
            {
                let mut state = queue.lock();
                state.waiting.insert(seq);
                state.sizes.insert(seq, size);
                state.bytes += size;
            }
            queue.ready.notify_one();
        }
        Ok(())
    }

    /// The subscription's queue, registered (and read back from disk) on
    /// first use.
    pub(crate) fn subscribe(&self, spec: &DurableSpec) -> Result<DurableSubscription, BrokerError> {
        let names = durable_names(
            &spec.app,
            &spec.service,
            &spec.topic,
            spec.queue_group.as_deref(),
        );
        let queue = {
            let mut queues = self.lock();
            match queues.get(&names.consumer) {
                Some(queue) => queue.clone(),
                None => {
                    let queue = Arc::new(Queue::load(self.db.clone(), names.consumer.clone(), spec).map_err(
                        |error| {
                            tracing::error!(error = %format!("{error:#}"), "cannot read a durable queue");
                            BrokerError::Rejected(format!("cannot read the durable queue for `{}`", spec.topic))
                        },
                    )?);
                    queues.insert(names.consumer.clone(), queue.clone());
                    queue
                }
            }
        };
        let status_queue = queue.clone();
        let deliveries = futures::stream::unfold(queue, |queue| async move {
            let delivery = queue.next().await;
            Some((delivery, queue))
        });
        Ok(DurableSubscription::new(deliveries, move || {
            let state = status_queue.lock();
            let status = DurableStatus {
                pending: (state.waiting.len() + state.delayed.len()) as u64,
                in_flight: state.in_flight.len() as u64,
                refused: state.refused,
            };
            Box::pin(async move { Some(status) })
        }))
    }
}

impl Queue {
    /// Reads back what `name` kept: everything stored is waiting again.
    fn load(db: Arc<redb::Database>, name: String, spec: &DurableSpec) -> anyhow::Result<Self> {
        let mut state = QueueState::default();
        {
            let read = db.begin_read()?;
            let table = read.open_table(MESSAGES)?;
            for entry in table.range((name.as_str(), 0)..=(name.as_str(), u64::MAX))? {
                let (key, value) = entry?;
                let seq = key.value().1;
                let size = value.value().len() as u64;
                state.waiting.insert(seq);
                state.sizes.insert(seq, size);
                state.bytes += size;
                state.next_seq = state.next_seq.max(seq + 1);
            }
        }
        if !state.waiting.is_empty() {
            tracing::info!(queue = %name, pending = state.waiting.len(), "durable queue read back");
        }
        Ok(Self {
            name,
            pattern: spec.topic.clone(),
            limits: spec.limits,
            db,
            state: Mutex::new(state),
            ready: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next deliverable message, waiting for one.
    async fn next(self: &Arc<Self>) -> Delivery {
        loop {
            let (seq, wake_at) = {
                let mut state = self.lock();
                let now = tokio::time::Instant::now();
                let due: Vec<u64> = state
                    .delayed
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .map(|(_, seq)| *seq)
                    .collect();
                state.delayed.retain(|(at, _)| *at > now);
                state.waiting.extend(due);
                let first = state.waiting.pop_first();
                if let Some(seq) = first {
                    state.in_flight.insert(seq);
                    *state.attempts.entry(seq).or_insert(0) += 1;
                }
                (first, state.delayed.iter().map(|(at, _)| *at).min())
            };
            if let Some(seq) = seq {
                match self.read(seq).await {
                    Some((message, stored_ms)) => {
                        let age = Duration::from_millis(now_ms().saturating_sub(stored_ms));
                        if age > self.limits.max_age {
                            tracing::warn!(queue = %self.name, subject = %message.subject, age_s = age.as_secs(), "durable message expired (age limit); removed unhandled");
                            self.lock().refused += 1;
                            self.remove(seq).await;
                            continue;
                        }
                        let attempt = self.lock().attempts.get(&seq).copied().unwrap_or(1);
                        return Delivery::new(
                            message,
                            attempt,
                            format!("{}.{seq}", self.name),
                            Box::new(EmbeddedAck {
                                queue: self.clone(),
                                seq,
                            }),
                        );
                    }
                    None => {
                        // Unreadable: drop it rather than loop on it.
                        tracing::error!(queue = %self.name, seq, "durable message unreadable; removed");
                        self.remove(seq).await;
                        continue;
                    }
                }
            }
            match wake_at {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, self.ready.notified()).await;
                }
                None => self.ready.notified().await,
            }
        }
    }

    async fn read(&self, seq: u64) -> Option<(Message, u64)> {
        let db = self.db.clone();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || -> Option<(Message, u64)> {
            let read = db.begin_read().ok()?;
            let table = read.open_table(MESSAGES).ok()?;
            let value = table.get((name.as_str(), seq)).ok()??;
            decode(value.value())
        })
        .await
        .ok()?
    }

    /// Deletes `seq` from disk and from the queue.
    async fn remove(&self, seq: u64) {
        let db = self.db.clone();
        let name = self.name.clone();
        let removed = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let write = db.begin_write()?;
            {
                let mut table = write.open_table(MESSAGES)?;
                table.remove((name.as_str(), seq))?;
            }
            write.commit()?;
            Ok(())
        })
        .await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::error!(queue = %self.name, seq, "cannot remove an acknowledged durable message; it may be delivered again after a restart");
        }
        let mut state = self.lock();
        state.in_flight.remove(&seq);
        state.attempts.remove(&seq);
        if let Some(size) = state.sizes.remove(&seq) {
            state.bytes = state.bytes.saturating_sub(size);
        }
    }
}

struct EmbeddedAck {
    queue: Arc<Queue>,
    seq: u64,
}

#[async_trait]
impl Acknowledge for EmbeddedAck {
    async fn ack(&self) -> Result<(), BrokerError> {
        self.queue.remove(self.seq).await;
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<(), BrokerError> {
        {
            let mut state = self.queue.lock();
            if state.in_flight.remove(&self.seq) {
                state
                    .delayed
                    .push((tokio::time::Instant::now() + delay, self.seq));
            }
        }
        self.queue.ready.notify_one();
        Ok(())
    }

    async fn in_progress(&self) -> Result<(), BrokerError> {
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The stored form: stored-at milliseconds, subject, reply-to, headers,
/// body; strings and the body length-prefixed (u32, little-endian), an
/// absent reply-to as length `u32::MAX`.
fn encode(message: &Message, stored_ms: u64) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(64 + message.body.len());
    out.extend_from_slice(&stored_ms.to_le_bytes());
    put(&mut out, message.subject.as_bytes());
    match &message.reply_to {
        Some(reply) => put(&mut out, reply.as_bytes()),
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
    out.extend_from_slice(
        &u32::try_from(message.headers.len())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    for (name, value) in &message.headers {
        put(&mut out, name.as_bytes());
        put(&mut out, value.as_bytes());
    }
    put(&mut out, &message.body);
    out
}

/// The inverse of [`encode`]; `None` for anything malformed.
fn decode(bytes: &[u8]) -> Option<(Message, u64)> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Some(head)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn bytes(&mut self) -> Option<&'a [u8]> {
            let n = self.u32()?;
            self.take(usize::try_from(n).ok()?)
        }
        fn string(&mut self) -> Option<String> {
            String::from_utf8(self.bytes()?.to_vec()).ok()
        }
    }
    let mut r = Reader(bytes);
    let stored_ms = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let subject = r.string()?;
    let reply_to = match r.u32()? {
        u32::MAX => None,
        n => Some(String::from_utf8(r.take(usize::try_from(n).ok()?)?.to_vec()).ok()?),
    };
    let count = r.u32()?;
    let mut headers = Vec::new();
    for _ in 0..count {
        headers.push((r.string()?, r.string()?));
    }
    let body = Bytes::copy_from_slice(r.bytes()?);
    Some((
        Message {
            subject,
            body,
            headers,
            reply_to,
        },
        stored_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_refuses_garbage() {
        let m = Message::new("a.b", "body")
            .with_header("x", "1")
            .with_header("x", "2")
            .with_reply_to("_INBOX.1");
        assert_eq!(decode(&encode(&m, 42)), Some((m.clone(), 42)));
        let plain = Message::new("a", Bytes::new());
        assert_eq!(decode(&encode(&plain, 0)), Some((plain, 0)));
        let bytes = encode(&m, 1);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
    }

    fn spec(topic: &str, limits: DurableLimits) -> DurableSpec {
        DurableSpec {
            app: "app".into(),
            service: "svc".into(),
            topic: topic.into(),
            queue_group: None,
            ack_wait: Duration::from_secs(30),
            max_in_flight: 4,
            limits,
        }
    }

    #[tokio::test]
    async fn kept_until_acked_across_a_reopen_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let limits = DurableLimits {
            max_messages: 3,
            ..DurableLimits::default()
        };
        {
            let queues = DurableQueues::open(dir.path()).unwrap();
            let mut sub = queues.subscribe(&spec("jobs.*", limits)).unwrap();
            for i in 0..3 {
                queues
                    .store(&Message::new(format!("jobs.{i}"), "x"))
                    .await
                    .unwrap();
            }
            // Not matching: not stored, not refused.
            queues.store(&Message::new("other", "x")).await.unwrap();
            // At the message limit: refused, with an error.
            assert!(queues.store(&Message::new("jobs.9", "x")).await.is_err());
            let first = sub.next().await.unwrap();
            assert_eq!(
                (first.message.subject.as_str(), first.attempt),
                ("jobs.0", 1)
            );
            first.ack().await.unwrap();
            let second = sub.next().await.unwrap();
            second.nak(Duration::from_millis(10)).await.unwrap();
            let third = sub.next().await.unwrap();
            assert_eq!(third.message.subject, "jobs.2");
            let again = sub.next().await.unwrap();
            assert_eq!(
                (again.message.subject.as_str(), again.attempt),
                ("jobs.1", 2)
            );
            // jobs.1 and jobs.2 are never acked: a "crash".
        }
        let queues = DurableQueues::open(dir.path()).unwrap();
        let mut sub = queues.subscribe(&spec("jobs.*", limits)).unwrap();
        let mut back = vec![
            sub.next().await.unwrap().message.subject,
            sub.next().await.unwrap().message.subject,
        ];
        back.sort();
        assert_eq!(back, ["jobs.1", "jobs.2"]);
    }
}
