//! JetStream key-value buckets, opened the same way by every part of the
//! host that keeps state in NATS (the cluster's deployment record and
//! heartbeats, `wasi:keyvalue` stores).
//!
//! One place for one workaround: async-nats 0.51's `create_key_value` first
//! reads the account's JetStream info, whose format changed in NATS server
//! 2.10, and fails against a 2.9 server (Debian's `nats-server`). The
//! bucket's stream is created directly instead, with the settings
//! `create_key_value` would use.

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};

/// Opens bucket `config.bucket`, creating it if it does not exist. Safe to
/// race: when another host creates it first, that bucket is opened.
///
/// # Errors
///
/// When the bucket neither opens nor can be created (JetStream is off on
/// the server, or the server refuses the stream).
pub async fn open_key_value(
    js: &jetstream::Context,
    config: kv::Config,
) -> anyhow::Result<kv::Store> {
    let bucket = config.bucket.clone();
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    let stream = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(config.description),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: config.history.max(1),
        max_age: config.max_age,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    match js.create_stream(stream).await {
        Ok(_) => js
            .get_key_value(&bucket)
            .await
            .with_context(|| format!("cannot open the key-value bucket `{bucket}`")),
        // Another host created it first.
        Err(create) => js.get_key_value(&bucket).await.map_err(|_| {
            anyhow::Error::new(create).context(format!(
                "cannot open or create the key-value bucket `{bucket}` (is JetStream enabled on the NATS server?)"
            ))
        }),
    }
}
