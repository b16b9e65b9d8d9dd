//! # wharf-keyvalue: named key-value stores for services
//!
//! Guests use the standard `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`,
//! `batch`; vendored in `wit/deps/keyvalue`). A service may open only the
//! stores its manifest grants (`key_value_stores = ["default", "cache"]`;
//! absent = none): any other name gets `error::access-denied`, never a trap.
//! A store is shared by every service granted the same name, on this host
//! and, with the NATS backend, on every host of the cluster.
//!
//! ## Layout
//!
//! - [`backend`]: the [`Backend`] trait every storage implements.
//! - [`embedded`]: the default, a crash-safe redb database in the host's
//!   state directory (`keyvalue.redb`).
//! - [`nats`]: NATS JetStream key-value buckets (one per app and store, named by the app's `Namespace`), when
//!   the host runs with `--nats`.
//! - [`host`]: the `wasi:keyvalue` host traits and [`add_to_linker`].
//! - [`limits`]: key, value and batch sizes, checked before any backend
//!   sees a request.
//!
//! ## State
//!
//! The [`Backend`] lives as long as the host. Each service version gets a
//! [`KeyValueGrants`] (its store names and the backend), computed at load
//! and shared by its instances; an instance keeps its open buckets in its
//! own resource table, through a [`KeyValueView`].
//!
//! ## Example
//!
//! The host opens one backend and links the interfaces once; each
//! instance's state holds its version's [`KeyValueGrants`]:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use wharf_keyvalue::{Backend, EmbeddedBackend, KeyValueGrants};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let backend: Arc<dyn Backend> = Arc::new(EmbeddedBackend::open(".wharf".as_ref())?);
//! let grants = KeyValueGrants::new(vec!["default".into()]).with_backend(Some(backend.clone()));
//! assert!(grants.allows("default") && !grants.allows("cache"));
//!
//! backend.set("default", "greeting", b"hello").await?;
//! assert_eq!(backend.increment("default", "hits", 2).await?, 2);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::sync::Arc;

pub mod backend;
pub mod embedded;
pub mod host;
pub mod lazy;
pub mod nats;

pub use backend::{Backend, KeyPage, Swap};
pub use embedded::EmbeddedBackend;
pub use host::{KeyValueView, add_to_linker};
pub use lazy::EmbeddedOnFirstUse;
pub use nats::NatsBackend;

/// The sizes the host accepts; bigger requests get `error::other` naming
/// the limit.
pub mod limits {
    /// Longest key, in bytes. Keys are names, not data; NATS also needs
    /// room to encode them into subjects.
    pub const MAX_KEY_BYTES: usize = 512;
    /// Largest value, in bytes (512 KiB): well under NATS's default 1 MiB
    /// message size, so both backends take the same values, and small
    /// enough that a value never dominates host memory.
    pub const MAX_VALUE_BYTES: usize = 512 * 1024;
    /// Most keys in one `get-many`, `set-many` or `delete-many`.
    pub const MAX_BATCH_KEYS: usize = 1000;
    /// Most bytes (keys plus values) in one `set-many`, and in what one
    /// `get-many` returns (a key asked for twice counts twice: it is
    /// returned twice).
    pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
    /// Keys returned by one `list-keys` call; the `cursor` gives the next
    /// page.
    pub const LIST_PAGE_KEYS: usize = 1000;
}

/// The stores one service version may open, and where they live.
///
/// Built deny-by-default: [`KeyValueGrants::default`] allows nothing.
/// One `Arc` inside, so giving every instance its copy costs one
/// reference count.
#[derive(Clone, Default)]
pub struct KeyValueGrants(Arc<Grants>);

#[derive(Default)]
struct Grants {
    stores: Vec<String>,
    backend: Option<Arc<dyn Backend>>,
}

impl KeyValueGrants {
    /// Grants exactly `stores` (the manifest's `key_value_stores`), with no
    /// backend yet: opening a granted store fails until
    /// [`with_backend`](Self::with_backend) supplies one.
    pub fn new(stores: Vec<String>) -> Self {
        Self(Arc::new(Grants {
            stores,
            backend: None,
        }))
    }

    /// The same grants, served by `backend`.
    #[must_use]
    pub fn with_backend(self, backend: Option<Arc<dyn Backend>>) -> Self {
        Self(Arc::new(Grants {
            stores: self.0.stores.clone(),
            backend,
        }))
    }

    /// The backend, if the host has one.
    pub fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.0.backend.as_ref()
    }

    /// The granted store names.
    pub fn stores(&self) -> &[String] {
        &self.0.stores
    }

    /// Whether `store` is granted.
    pub fn allows(&self, store: &str) -> bool {
        self.0.stores.iter().any(|s| s == store)
    }
}

impl fmt::Debug for KeyValueGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValueGrants")
            .field("stores", &self.0.stores)
            .field("backend", &self.0.backend.as_ref().map(|b| b.kind()))
            .finish()
    }
}
