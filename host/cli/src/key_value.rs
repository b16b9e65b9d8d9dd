//! Which key-value backend `wharf up` serves `wasi:keyvalue` from: NATS
//! JetStream key-value buckets with `--nats` (shared by every host on that
//! NATS), else the embedded redb database in the state directory.

use std::path::Path;
use std::sync::Arc;

use wharf_keyvalue::{Backend, EmbeddedOnFirstUse, NatsBackend};
use wharf_messaging::Namespace;

/// The backend for a host connected to NATS through `nats` (the broker's
/// connection, if any, with buckets named by the app's `namespace`), else
/// with its state in `state_dir`.
pub fn open(
    nats: Option<async_nats::Client>,
    namespace: &Namespace,
    state_dir: &Path,
) -> Arc<dyn Backend> {
    match nats {
        Some(client) => {
            println!("Key-value stores in NATS JetStream");
            Arc::new(NatsBackend::new(client, namespace.clone()))
        }
        // Opened when a guest first uses a store, so a host whose services
        // have none never locks the database file.
        None => Arc::new(EmbeddedOnFirstUse::new(state_dir.to_path_buf())),
    }
}
