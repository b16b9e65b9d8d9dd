//! # wharf-oci: components in OCI registries
//!
//! `wharf push` puts a component in a registry; `wharf deploy … oci://…`
//! and `component = "oci://…"` in `wharf.toml` take one from there. This
//! crate owns the registry side of both, so the CLI and the host only see
//! verified component bytes.
//!
//! - [`layout`]: the Wasm OCI artifact layout that other Wasm tooling
//!   (wkg, wash, `oci-wasm`) uses, and the check that bytes are a component.
//! - [`registry`]: [`Registry::push`] and [`Registry::pull`] over
//!   `oci-client`, with every digest verified, and registry credentials.
//! - [`cache`]: pulled bytes kept by sha256, so pulling a tag whose
//!   component is already here downloads nothing.
//!
//! References (`oci://registry/repo:tag`, `…@sha256:…`) are parsed by
//! [`wharf_manifest::OciReference`], since the manifest accepts them too.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use wharf_oci::{ComponentCache, Credentials, Registry};
//!
//! let registry = Registry::new(Credentials::from_env()?);
//! let cache = ComponentCache::open(std::path::Path::new("/tmp/wharf-cache"))?;
//! let reference = "oci://127.0.0.1:5000/wharf/hello:v1".parse()?;
//! let pulled = registry.pull(&reference, &cache).await?;
//! println!("{} ({} bytes)", pulled.digest, pulled.bytes.len());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod cache;
pub mod layout;
pub mod registry;

pub use cache::ComponentCache;

/// Makes ring the process's rustls crypto provider, if none is yet.
///
/// The workspace builds `reqwest` with rustls but without a bundled crypto
/// provider (`oci-client`'s `rustls-tls-no-provider`), so HTTPS to
/// registries uses ring, which the NATS and OTLP clients already link,
/// instead of adding aws-lc-rs. The price: `reqwest` panics when it builds a
/// client before a provider is installed. Every process that makes a
/// `reqwest::Client` calls this first (`wharf`'s `main`, its admin client,
/// the tests' HTTP clients); [`Registry`] does it itself. Idempotent.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is the goal.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use registry::{
    Credentials, MAX_COMPONENT_BYTES, MAX_MANIFEST_BYTES, PASSWORD_ENV, Pulled, Pushed,
    REGISTRY_ENV, Registry, USER_ENV,
};
