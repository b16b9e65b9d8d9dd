//! Get/set operations per second of both backends in one run, on loopback:
//! the embedded redb database (every `set` its own durable, fsynced
//! commit) and NATS JetStream key-value on a real local `nats-server -js`.
//!
//! Ignored by default (it measures, it does not check); run it with
//!
//! ```sh
//! cargo test -p wharf-keyvalue --test throughput -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wharf_keyvalue::{Backend, EmbeddedBackend, NatsBackend};

#[path = "../../messaging/tests/support/nats_server.rs"]
mod nats_server;

/// Concurrent clients, as several guest instances would be.
const CLIENTS: usize = 16;
/// How long each phase runs.
const PHASE: Duration = Duration::from_secs(3);
/// Keys written (and then read), cycled through.
const KEYS: u64 = 1000;
const VALUE: &[u8] = &[b'v'; 100];

/// Runs `CLIENTS` tasks doing `op` for `PHASE`; operations per second.
async fn phase(kv: Arc<dyn Backend>, set: bool) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS as u64)
        .map(|client| {
            let (kv, done) = (kv.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = client;
                while started.elapsed() < PHASE {
                    let key = format!("key-{}", i % KEYS);
                    if set {
                        kv.set("bench", &key, VALUE).await.unwrap();
                    } else {
                        assert!(kv.get("bench", &key).await.unwrap().is_some());
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += CLIENTS as u64;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn measure(name: &str, kv: Arc<dyn Backend>) {
    // Every key exists before the get phase, whatever the set phase did.
    let pairs: Vec<(String, Vec<u8>)> = (0..KEYS)
        .map(|i| (format!("key-{i}"), VALUE.to_vec()))
        .collect();
    for chunk in pairs.chunks(500) {
        kv.set_many("bench", chunk).await.unwrap();
    }
    let set = phase(kv.clone(), true).await;
    let get = phase(kv, false).await;
    println!(
        "{name:<9} set {set:>9.0} ops/s   get {get:>9.0} ops/s   ({CLIENTS} clients, {}-byte values, {PHASE:?} each)",
        VALUE.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn get_and_set_operations_per_second_for_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    measure(
        "embedded",
        Arc::new(EmbeddedBackend::open(dir.path()).unwrap()),
    )
    .await;
    let nats = nats_server::NatsServer::start_with_jetstream();
    measure(
        "nats",
        Arc::new(
            NatsBackend::connect(&nats.url, wharf_messaging::Namespace::for_app("test", None))
                .await
                .unwrap(),
        ),
    )
    .await;
}
