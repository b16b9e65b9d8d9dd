//! `wharf push`: put a component in an OCI registry, in the Wasm OCI
//! artifact layout other Wasm tooling uses, so `wharf deploy … oci://…`,
//! `component = "oci://…"` and other tools can pull it.
//!
//! Anything that is not a valid WebAssembly component is refused before a
//! byte is sent.

use std::path::PathBuf;

use anyhow::Context as _;
use wharf_manifest::OciReference;
use wharf_oci::{Credentials, Registry};

use crate::admin_client::block_on;

/// Arguments of `wharf push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The component `.wasm` to push.
    pub component: PathBuf,

    /// Where to: `<registry>/<repository>:<tag>`, e.g.
    /// `ghcr.io/acme/hello:1.0` or `127.0.0.1:5000/hello:dev` (`oci://` may
    /// be written in front). Registries on localhost are spoken to over
    /// plain HTTP, others over HTTPS. Credentials come from
    /// `WHARF_REGISTRY_USER` and `WHARF_REGISTRY_PASSWORD`; anonymous
    /// without them.
    pub reference: String,
}

/// Runs `wharf push`.
pub fn run(args: PushArgs) -> anyhow::Result<()> {
    let reference: OciReference = args.reference.parse()?;
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let registry = Registry::new(Credentials::from_env()?);
    let pushed = block_on(async { registry.push(bytes, &reference).await }).with_context(|| {
        format!(
            "cannot push {} to {}",
            args.component.display(),
            reference.url()
        )
    })?;
    eprintln!(
        "Pushed {} ({}, {} bytes) to {}",
        args.component.display(),
        pushed.component_digest,
        pushed.size,
        reference.url()
    );
    println!("{}", pushed.manifest_digest);
    eprintln!(
        "Deploy it with: wharf deploy <service> {}",
        pushed.pinned.url()
    );
    Ok(())
}
