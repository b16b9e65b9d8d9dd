//! The storage a host's key-value stores live in, behind one trait.
//!
//! A [`Backend`] holds every named store of the host. Guests never talk to
//! it directly: [`crate::host`] checks the service's grants and the
//! [`limits`](crate::limits) first, so a backend sees only valid store
//! names, keys and values within bounds. Operational failures (I/O, a lost
//! NATS connection) are `anyhow` errors; the guest gets them as
//! `error::other`.

use async_trait::async_trait;

/// One page of a store's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys of this page, in the backend's order.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<u64>,
}

/// Whether a compare-and-swap took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The value was what the caller expected and has been replaced.
    Swapped,
    /// Someone else changed (or created, or deleted) the value first;
    /// nothing was written.
    Conflict,
}

/// The storage behind every key-value store of one host.
///
/// Stores are named; a store that does not exist yet is created by its
/// first write and reads as empty. Every method acts on one store. A write
/// that returns `Ok` is durable to the backend's guarantee (see the
/// implementations).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics (`embedded`, `nats`).
    fn kind(&self) -> &'static str;

    /// Makes sure `store` exists, creating it if needed.
    async fn open(&self, store: &str) -> anyhow::Result<()>;

    /// The value of `key`, if any.
    async fn get(&self, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`.
    async fn set(&self, store: &str, key: &str, value: &[u8]) -> anyhow::Result<()>;

    /// Removes `key`; absent keys are not an error.
    async fn delete(&self, store: &str, key: &str) -> anyhow::Result<()>;

    /// Whether `key` has a value.
    async fn exists(&self, store: &str, key: &str) -> anyhow::Result<bool> {
        Ok(self.get(store, key).await?.is_some())
    }

    /// At most `limit` keys, starting `cursor` keys into the store's order.
    async fn list_keys(&self, store: &str, cursor: u64, limit: usize) -> anyhow::Result<KeyPage>;

    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns
    /// the new value, atomically. The counter is stored as its decimal
    /// text, so other readers see `42`, not bytes; a value that is not a
    /// decimal `u64`, or an overflow, is an error and changes nothing.
    async fn increment(&self, store: &str, key: &str, delta: u64) -> anyhow::Result<u64>;

    /// Replaces the value of `key` with `new` only if it currently is
    /// `expected` (`None`: only if the key is absent), atomically.
    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap>;

    /// The values of `keys`, in order.
    async fn get_many(&self, store: &str, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(store, key).await?);
        }
        Ok(values)
    }

    /// Sets every pair; not atomic (the draft does not require it), but
    /// every pair is durable once this returns `Ok`.
    async fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        for (key, value) in pairs {
            self.set(store, key, value).await?;
        }
        Ok(())
    }

    /// Removes every key.
    async fn delete_many(&self, store: &str, keys: &[String]) -> anyhow::Result<()> {
        for key in keys {
            self.delete(store, key).await?;
        }
        Ok(())
    }
}

/// An `increment` the guest asked for that cannot be done, whatever the
/// backend: safe to show the guest as is (it names only the guest's own
/// key), unlike storage errors, which stay in the host log.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The stored value is not a decimal u64.
    #[error("the value of `{0}` is not a counter (a decimal u64 written by increment)")]
    NotACounter(String),
    /// The sum does not fit a u64.
    #[error("incrementing `{key}` by {delta} overflows u64")]
    Overflow {
        /// The counter's key.
        key: String,
        /// What was to be added.
        delta: u64,
    },
}

/// Parses a stored counter; absent is 0.
pub(crate) fn counter_value(key: &str, stored: Option<&[u8]>) -> anyhow::Result<u64> {
    let Some(bytes) = stored else {
        return Ok(0);
    };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| CounterError::NotACounter(shorten_key(key)).into())
}

/// `current + delta`, or an error naming the key on overflow.
pub(crate) fn add_delta(key: &str, current: u64, delta: u64) -> anyhow::Result<u64> {
    current.checked_add(delta).ok_or_else(|| {
        CounterError::Overflow {
            key: shorten_key(key),
            delta,
        }
        .into()
    })
}

/// A key as shown in an error: escaped and at most 128 characters.
fn shorten_key(key: &str) -> String {
    key.chars()
        .take(128)
        .collect::<String>()
        .escape_debug()
        .to_string()
}
