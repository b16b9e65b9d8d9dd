//! Key-value storage: named stores the host keeps for the service.
//!
//! A [`Store`] is opened by name; the service's manifest must grant it
//! (`key_value_stores = ["default"]`), or [`Store::open`] fails with
//! [`Error::KeyValue`]. Stores are shared by every service granted the same
//! name; they live in the host's state directory, or in NATS JetStream when
//! the host runs with `--nats` (then every host of the cluster sees the
//! same data). Values are bytes; [`Store::get_json`] and [`Store::set_json`]
//! store any `serde` type as JSON, and [`Store::increment`] keeps an atomic
//! counter.
//!
//! This is a thin layer over the standard `wasi:keyvalue@0.2.0-draft`
//! imports (world `wharf:platform/key-value`), which a component only
//! imports when it uses this module.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use wharf_sdk::keyvalue::Store;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Profile {
//!     name: String,
//! }
//!
//! # fn demo() -> Result<(), wharf_sdk::Error> {
//! let store = Store::open("default")?;
//! store.set("greeting", "hello")?;
//! assert_eq!(store.get("greeting")?.as_deref(), Some(&b"hello"[..]));
//!
//! store.set_json("user:42", &Profile { name: "Ada".into() })?;
//! let profile: Option<Profile> = store.get_json("user:42")?;
//! assert_eq!(profile.map(|p| p.name).as_deref(), Some("Ada"));
//!
//! let visits = store.increment("visits", 1)?; // atomic, starts at 0
//! println!("visit number {visits}");
//! for key in store.list_keys()? {
//!     println!("{key}");
//! }
//! store.delete("greeting")?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Limits
//!
//! Keys are non-empty and at most 512 bytes, values at most 512 KiB, and a
//! batch holds at most 1000 keys; past that the host answers with an
//! [`Error::KeyValue`] naming the limit.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::keyvalue_bindings::wasi::keyvalue::{atomics, batch, store};

/// Most pages [`Store::list_keys`] follows (a page holds up to 1000 keys).
const MAX_PAGES: usize = 10_000;

/// An open key-value store.
pub struct Store {
    name: String,
    bucket: store::Bucket,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("name", &self.name).finish()
    }
}

impl Store {
    /// Opens the store `name`.
    ///
    /// Fails with [`Error::KeyValue`] when the service's manifest does not
    /// grant it (`key_value_stores`), or the host cannot reach its storage.
    pub fn open(name: &str) -> Result<Store, Error> {
        let bucket = store::open(name).map_err(|e| describe(name, e))?;
        Ok(Store {
            name: name.to_owned(),
            bucket,
        })
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn fail(&self, error: store::Error) -> Error {
        describe(&self.name, error)
    }

    /// The value of `key`, or `None` when it has none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.bucket.get(key).map_err(|e| self.fail(e))
    }

    /// Sets `key` to `value`, replacing any value it had. When this returns
    /// `Ok`, the write is durable.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.bucket
            .set(key, value.as_ref())
            .map_err(|e| self.fail(e))
    }

    /// Removes `key`; removing a key that has no value is not an error.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.bucket.delete(key).map_err(|e| self.fail(e))
    }

    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        self.bucket.exists(key).map_err(|e| self.fail(e))
    }

    /// Every key of the store, in no particular order, following the
    /// host's pages. For large stores prefer [`keys_page`](Self::keys_page).
    pub fn list_keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let (page, next) = self.keys_page(cursor)?;
            keys.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(keys)
    }

    /// One page of keys starting at `cursor` (`None`: the first page), and
    /// the cursor of the next page (`None` after the last).
    pub fn keys_page(&self, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), Error> {
        let response = self.bucket.list_keys(cursor).map_err(|e| self.fail(e))?;
        Ok((response.keys, response.cursor))
    }

    /// Adds `delta` to the counter at `key` and returns the new value,
    /// atomically, even with other instances and hosts incrementing at the
    /// same time. A key without a value counts as 0. The counter is stored
    /// as decimal text (`get` returns `b"42"`); incrementing a key holding
    /// anything else fails.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| self.fail(e))
    }

    /// The value of `key` deserialised from JSON, or `None` when it has
    /// none. Fails with [`Error::Json`] when the value is not that JSON.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.get(key)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value` serialised as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        self.set(key, serde_json::to_vec(value)?)
    }

    /// The values of `keys`, in the same order (`None` where a key has
    /// none), in one call to the host.
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let values = batch::get_many(&self.bucket, &owned).map_err(|e| self.fail(e))?;
        Ok(values
            .into_iter()
            .map(|v| v.map(|(_, value)| value))
            .collect())
    }

    /// Sets every pair in one call to the host. Not atomic: on an error,
    /// some pairs may have been written.
    pub fn set_many(&self, pairs: &[(&str, &[u8])]) -> Result<(), Error> {
        let owned: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect();
        batch::set_many(&self.bucket, &owned).map_err(|e| self.fail(e))
    }

    /// Removes every key in one call to the host.
    pub fn delete_many(&self, keys: &[&str]) -> Result<(), Error> {
        let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        batch::delete_many(&self.bucket, &owned).map_err(|e| self.fail(e))
    }
}

/// A store error as the SDK's [`Error::KeyValue`].
fn describe(store: &str, error: store::Error) -> Error {
    Error::KeyValue(match error {
        store::Error::AccessDenied => format!(
            "access to key-value store `{store}` denied (grant it in the manifest's `key_value_stores`)"
        ),
        store::Error::NoSuchStore => format!("no key-value store `{store}`"),
        store::Error::Other(message) => format!("key-value store `{store}`: {message}"),
    })
}
