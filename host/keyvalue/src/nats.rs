//! The cluster backend: NATS JetStream key-value buckets, used when the
//! host runs with `--nats`.
//!
//! Each store is one bucket, named per app and cluster by the app's
//! [`Namespace`] (`wharf-kv-local-<app>-<store>`, see
//! [`Namespace::bucket`]), created on first use
//! (file storage, one value per key, no history), so every host pointed at
//! the same NATS server (or cluster) sees the same data. `set` returns once
//! JetStream has acknowledged the write.
//!
//! Keys: NATS KV keys are limited to `[-/_=.a-zA-Z0-9]` (no leading or
//! trailing `.`). A guest key made of those characters, not starting with
//! `=` and with no empty `.`-separated token, is stored as it is, so other
//! NATS tools see readable keys; any other key is stored as `=` followed by
//! its unpadded base64url encoding. No plain key starts with `=`, so the
//! two never collide, and listing decodes both.
//!
//! Atomics use JetStream revisions: `compare_and_swap` reads the entry and
//! its revision, then writes with "expected last revision" (`update`); a
//! concurrent writer makes the server refuse it, which is a conflict.
//! `increment` retries that read-modify-write until it wins.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt as _;
use tokio::sync::Mutex;

use wharf_messaging::Namespace;

use crate::backend::{Backend, KeyPage, Swap, add_delta, counter_value};

/// Attempts of an `increment` that keeps losing to concurrent writers
/// before it gives up (bounded, so a hot key cannot hang a request).
const MAX_INCREMENT_ATTEMPTS: usize = 64;

/// The NATS JetStream key-value [`Backend`].
pub struct NatsBackend {
    jetstream: async_nats::jetstream::Context,
    /// Names the buckets, so apps and clusters on one NATS never share one.
    namespace: Namespace,
    /// Bucket handles by store name, opened once.
    buckets: Mutex<HashMap<String, kv::Store>>,
}

impl NatsBackend {
    /// Connects to the NATS server at `url` (JetStream must be enabled), for
    /// the stores of the app whose namespace is `namespace`.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached.
    pub async fn connect(url: &str, namespace: Namespace) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("wharf key-value")
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url} for key-value storage"))?;
        Ok(Self::new(client, namespace))
    }

    /// Uses an existing connection.
    pub fn new(client: async_nats::Client, namespace: Namespace) -> Self {
        Self {
            jetstream: async_nats::jetstream::new(client),
            namespace,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    async fn bucket(&self, store: &str) -> anyhow::Result<kv::Store> {
        let mut buckets = self.buckets.lock().await;
        if let Some(bucket) = buckets.get(store) {
            return Ok(bucket.clone());
        }
        let name = self.namespace.bucket("kv", store);
        let bucket = wharf_messaging::jetstream::open_key_value(
            &self.jetstream,
            kv::Config {
                bucket: name,
                description: format!("Wharf key-value store `{store}`"),
                history: 1,
                ..Default::default()
            },
        )
        .await?;
        buckets.insert(store.to_owned(), bucket.clone());
        Ok(bucket)
    }

    /// The entry of `key`: its value (if not deleted) and revision (0 when
    /// the key never existed).
    async fn entry(bucket: &kv::Store, key: &str) -> anyhow::Result<(Option<Vec<u8>>, u64)> {
        let entry = bucket
            .entry(key)
            .await
            .with_context(|| format!("cannot read `{key}`"))?;
        Ok(match entry {
            Some(entry) if entry.operation == Operation::Put => {
                (Some(entry.value.to_vec()), entry.revision)
            }
            Some(entry) => (None, entry.revision),
            None => (None, 0),
        })
    }
}

/// The NATS key a guest key is stored under (see the module docs).
pub fn encode_key(key: &str) -> String {
    let plain = !key.is_empty()
        && !key.starts_with('=')
        && key.split('.').all(|token| !token.is_empty())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'=' | b'.'));
    if plain {
        key.to_owned()
    } else {
        format!("={}", URL_SAFE_NO_PAD.encode(key.as_bytes()))
    }
}

/// The guest key of a NATS key; `None` for a key no guest could have
/// written (it is skipped when listing).
pub fn decode_key(stored: &str) -> Option<String> {
    match stored.strip_prefix('=') {
        Some(encoded) => String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok(),
        None => Some(stored.to_owned()),
    }
}

#[async_trait]
impl Backend for NatsBackend {
    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn open(&self, store: &str) -> anyhow::Result<()> {
        self.bucket(store).await.map(drop)
    }

    async fn get(&self, store: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let bucket = self.bucket(store).await?;
        let value = bucket
            .get(encode_key(key))
            .await
            .with_context(|| format!("cannot read `{key}`"))?;
        Ok(value.map(|v| v.to_vec()))
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let bucket = self.bucket(store).await?;
        bucket
            .put(encode_key(key), bytes::Bytes::copy_from_slice(value))
            .await
            .with_context(|| format!("cannot write `{key}`"))?;
        Ok(())
    }

    async fn delete(&self, store: &str, key: &str) -> anyhow::Result<()> {
        let bucket = self.bucket(store).await?;
        bucket
            .delete(encode_key(key))
            .await
            .with_context(|| format!("cannot delete `{key}`"))?;
        Ok(())
    }

    async fn list_keys(&self, store: &str, cursor: u64, limit: usize) -> anyhow::Result<KeyPage> {
        let bucket = self.bucket(store).await?;
        let mut stream = bucket.keys().await.context("cannot list keys")?;
        let skip = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut seen = 0usize;
        let mut keys = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        // The consumer delivers the latest entry per key once and ends;
        // a bounded wait keeps a stalled server from hanging the guest.
        loop {
            let next = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .context("listing keys timed out")?;
            let Some(stored) = next else { break };
            let stored = stored.context("cannot list keys")?;
            let Some(key) = decode_key(&stored) else {
                continue;
            };
            if seen < skip {
                seen += 1;
                continue;
            }
            if keys.len() == limit {
                more = true;
                break;
            }
            keys.push(key);
        }
        let next = cursor.saturating_add(keys.len() as u64);
        Ok(KeyPage {
            keys,
            cursor: more.then_some(next),
        })
    }

    async fn increment(&self, store: &str, key: &str, delta: u64) -> anyhow::Result<u64> {
        let bucket = self.bucket(store).await?;
        let stored_key = encode_key(key);
        for _ in 0..MAX_INCREMENT_ATTEMPTS {
            let (value, revision) = Self::entry(&bucket, &stored_key).await?;
            let next = add_delta(key, counter_value(key, value.as_deref())?, delta)?;
            match bucket
                .update(&stored_key, next.to_string().into(), revision)
                .await
            {
                Ok(_) => return Ok(next),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot increment `{key}`")),
            }
        }
        anyhow::bail!(
            "incrementing `{key}` lost to concurrent writers {MAX_INCREMENT_ATTEMPTS} times in a row"
        )
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        let bucket = self.bucket(store).await?;
        let stored_key = encode_key(key);
        let (value, revision) = Self::entry(&bucket, &stored_key).await?;
        if value.as_deref() != expected {
            return Ok(Swap::Conflict);
        }
        match bucket
            .update(&stored_key, bytes::Bytes::copy_from_slice(new), revision)
            .await
        {
            Ok(_) => Ok(Swap::Swapped),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(Swap::Conflict),
            Err(e) => Err(e).with_context(|| format!("cannot write `{key}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_stay_readable_and_others_round_trip() {
        for key in ["counter", "user.42", "links/abc", "a=b", "A-Z_0-9"] {
            assert_eq!(encode_key(key), key);
            assert_eq!(decode_key(&encode_key(key)).as_deref(), Some(key));
        }
        for key in [
            "",
            "=x",
            "has space",
            ".lead",
            "trail.",
            "a..b",
            "ünï",
            "*",
            ">",
        ] {
            let stored = encode_key(key);
            assert!(stored.starts_with('='), "{key:?} -> {stored}");
            assert_eq!(decode_key(&stored).as_deref(), Some(key));
        }
    }
}
