//! Which key-value backend `wharf up` serves `wasi:keyvalue` from: NATS
//! JetStream key-value buckets with `--nats` (shared by every host on that
//! NATS), else the embedded redb database in the state directory.

use std::path::Path;
use std::sync::Arc;

use wharf_keyvalue::{Backend, EmbeddedBackend, NatsBackend};

/// Opens the backend for a host with `nats` (its URL, if any) and
/// `state_dir`.
///
/// # Errors
///
/// When NATS cannot be reached, or the database cannot be opened (for
/// instance because another host has the same state directory open).
pub async fn open(nats: Option<&str>, state_dir: &Path) -> anyhow::Result<Arc<dyn Backend>> {
    Ok(match nats {
        Some(url) => {
            let backend = NatsBackend::connect(url).await?;
            println!("Key-value stores in NATS JetStream at {url}");
            Arc::new(backend)
        }
        None => {
            let dir = state_dir.to_path_buf();
            let backend =
                tokio::task::spawn_blocking(move || EmbeddedBackend::open(&dir)).await??;
            Arc::new(backend)
        }
    })
}
