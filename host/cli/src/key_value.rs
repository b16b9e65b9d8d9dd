//! Which key-value backend `wharf up` serves `wasi:keyvalue` from: NATS
//! JetStream key-value buckets with `--nats` (shared by every host on that
//! NATS), else the embedded redb database in the state directory.

use std::path::Path;
use std::sync::Arc;

use wharf_keyvalue::{Backend, EmbeddedOnFirstUse, NatsBackend};

/// Opens the backend for a host with `nats` (its URL, if any) and
/// `state_dir`.
///
/// # Errors
///
/// When NATS cannot be reached. The embedded database is opened on first
/// use; failing to open it (another host has the same state directory open)
/// fails that guest call, with the reason in the host log.
pub async fn open(nats: Option<&str>, state_dir: &Path) -> anyhow::Result<Arc<dyn Backend>> {
    Ok(match nats {
        Some(url) => {
            let backend = NatsBackend::connect(url).await?;
            println!("Key-value stores in NATS JetStream at {url}");
            Arc::new(backend)
        }
        // Opened when a guest first uses a store, so a host whose services
        // have none never locks the database file.
        None => Arc::new(EmbeddedOnFirstUse::new(state_dir.to_path_buf())),
    })
}
