//! Why a deployment operation was refused. The admin API maps each kind to
//! an HTTP status and the CLI prints the message, so callers branch on the
//! variant: a typed error, not `anyhow`.

use wharf_core::LoadError;
use wharf_manifest::{CapabilityDiff, ManifestError};
use wharf_trust::TrustError;

use crate::digest::Digest;

/// A refused or failed deployment operation. Nothing changed on the host
/// when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The deploy names a component the host has not stored.
    #[error("this host has no component {digest}: upload it first (PUT /v1/components/{digest})")]
    UnknownComponent {
        /// The digest asked for.
        digest: Digest,
    },
    /// The operation names a service the host does not run.
    #[error("no service `{0}` on this host")]
    UnknownService(String),
    /// The service's manifest section is invalid.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// The component cannot run here (not Wasm, wrong world, missing import…).
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The host's trust policy refuses the component.
    #[error("{0}")]
    Trust(#[from] TrustError),
    /// The new version asks for more than the active one and the deploy did
    /// not allow it.
    #[error(
        "version `{candidate}` of `{service}` asks for capabilities that the active version `{active}` does not have; deploy again with --allow-new-grants if this is intended:\n{diff}"
    )]
    NewGrants {
        /// The service.
        service: String,
        /// Active version label.
        active: String,
        /// Refused version label.
        candidate: String,
        /// What changed.
        diff: CapabilityDiff,
    },
    /// A route is already served by another service.
    #[error("route `{route}` of `{service}` is already served by `{other}`")]
    RouteConflict {
        /// The service being deployed.
        service: String,
        /// The route.
        route: String,
        /// The service that has it.
        other: String,
    },
    /// The operation does not fit the service's current state (no canary
    /// to promote, nothing to roll back to, …).
    #[error("{0}")]
    Conflict(String),
    /// Other hosts of the cluster kept changing the deployment record while
    /// this operation was retried; nothing changed.
    #[error("{0}")]
    Concurrent(String),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The host failed (storage, a task); the deployment is unchanged.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

impl DeployError {
    /// A stable, machine-readable name for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            DeployError::UnknownComponent { .. } => "unknown-component",
            DeployError::UnknownService(_) => "unknown-service",
            DeployError::Manifest(_) => "invalid-manifest",
            DeployError::Load(_) => "component-refused",
            DeployError::Trust(_) => "untrusted",
            DeployError::NewGrants { .. } => "new-grants",
            DeployError::RouteConflict { .. } => "route-conflict",
            DeployError::Conflict(_) => "conflict",
            DeployError::Concurrent(_) => "concurrent-change",
            DeployError::BadRequest(_) => "bad-request",
            DeployError::Internal(_) => "internal",
        }
    }
}
