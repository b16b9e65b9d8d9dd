//! `wharf deploy`: hash, upload (only if the host lacks it) and put in
//! service a new version of a service on a running host.
//!
//! The component is a `.wasm` file, a Cargo package (built first, like
//! `wharf build`), or an `oci://` reference, pulled (verified, through the
//! user's cache) and then uploaded like a file, so the host applies the
//! same digest, trust and compile checks. The grants come from
//! `--manifest` (the service's table in a `wharf.toml`, validated here
//! first so mistakes point at the file), else the host keeps the active
//! version's. Everything else — compiling,
//! the capability diff, the trust policy, the swap — happens on the host,
//! which either answers with the version in service or refuses with the
//! reason and keeps the old version serving.

use std::path::PathBuf;

use anyhow::Context as _;
use bytes::Bytes;
use wharf_deploy::api::DeployRequest;
use wharf_deploy::digest::Digest;
use wharf_deploy::record::AutoRollback;
use wharf_manifest::Manifest;

use crate::admin_client::{AdminClient, block_on};
use crate::cli::DeployArgs;
use crate::commands::{build, sign};

/// Runs `wharf deploy`.
pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    // `wasm` is the local file, beside which a signature may lie; a pulled
    // component has none.
    let (bytes, wasm) = match crate::oci::reference_arg(&args.component)? {
        Some(reference) => {
            let cache_dir = crate::oci::user_cache_dir()?;
            let pulled = block_on(crate::oci::pull(&reference, &cache_dir)).with_context(|| {
                format!(
                    "deploy of `{}` failed; the active version keeps serving",
                    args.service
                )
            })?;
            (pulled.bytes, None)
        }
        None => {
            let wasm = component_file(&args.component)?;
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            (bytes, Some(wasm))
        }
    };
    let digest = Digest::of(&bytes);
    let (section, base_dir) = match &args.manifest {
        Some(path) => {
            let manifest = Manifest::load(path)?;
            let source = std::fs::read_to_string(&manifest.file)
                .with_context(|| format!("cannot read {}", manifest.file.display()))?;
            let section = wharf_manifest::extract_service_section(&source, &args.service)
                .with_context(|| {
                    format!(
                        "{} has no [service.{}] table",
                        manifest.file.display(),
                        args.service
                    )
                })?;
            (Some(section), Some(manifest.dir))
        }
        None => (None, None),
    };
    let signature = match &args.signature {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => match &wasm {
            Some(wasm) => sign::read_signature_beside(wasm)?,
            None => None,
        },
    };
    let auto_rollback = args.auto_rollback.then_some(AutoRollback {
        window_secs: args.rollback_window,
        max_error_rate_increase: args.max_error_increase,
        max_p99_ratio: args.max_p99_ratio,
        min_requests: args.min_requests,
    });
    let request = DeployRequest {
        digest,
        version: args.version.clone(),
        section,
        base_dir,
        canary: args.canary,
        sticky_header: args.sticky_header.clone(),
        auto_rollback,
        allow_new_grants: args.allow_new_grants,
        signature,
    };
    let client = AdminClient::new(&args.admin)?;
    let size = bytes.len();
    let outcome = block_on(async {
        let uploaded = client.upload(&digest, Bytes::from(bytes)).await?;
        if uploaded {
            eprintln!("Uploaded {} ({size} bytes)", digest.short());
        } else {
            eprintln!("The host already has {}", digest.short());
        }
        client.deploy(&args.service, &request).await
    })
    .with_context(|| {
        format!(
            "deploy of `{}` failed; the active version keeps serving",
            args.service
        )
    })?;
    if !outcome.diff.is_empty() {
        println!("Capability changes:\n{}", outcome.diff);
    }
    let role = if outcome.role == "canary" {
        format!("canary at {}%", outcome.weight)
    } else {
        "stable".to_string()
    };
    println!(
        "Deployed {} {} ({}) as {role}: serving after {} ms (compiled code: {})",
        outcome.service,
        outcome.version,
        outcome.digest.short(),
        outcome.activate_ms,
        outcome.compiled
    );
    Ok(())
}

/// The `.wasm` to deploy: the file itself, or a Cargo package built now.
fn component_file(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    if path.is_dir() {
        anyhow::ensure!(
            path.join("Cargo.toml").is_file(),
            "{} is a folder without a Cargo.toml; give a .wasm file or a Cargo package",
            path.display()
        );
        build::ensure_wasm_target()?;
        return build::build_package(path);
    }
    Ok(path.to_path_buf())
}
