//! The one error type of this crate.

use std::fmt;

use crate::format_digest;

/// Why a component may not run under a [`TrustPolicy`](crate::TrustPolicy),
/// or why key or signature text could not be read.
///
/// Callers branch on it: every variant returned by
/// [`TrustPolicy::verify`](crate::TrustPolicy::verify) means the component is
/// refused (an admin API answers `403 Forbidden`). Every message is meant to
/// be shown to the user as it is, and every message about a component names
/// its digest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The component came with no signature.
    #[error(
        "component {} is not signed; this host only accepts components signed by {}",
        format_digest(digest),
        TrustedKeys(trusted)
    )]
    Unsigned {
        /// sha256 of the component.
        digest: [u8; 32],
        /// Ids of the host's trusted keys, in policy order.
        trusted: Vec<String>,
    },

    /// The signature names a key the host does not trust.
    #[error(
        "component {} is signed by key {key_id}, which this host does not trust; it only accepts components signed by {}",
        format_digest(digest),
        TrustedKeys(trusted)
    )]
    UnknownKey {
        /// sha256 of the component.
        digest: [u8; 32],
        /// The key id the signature claims.
        key_id: String,
        /// Ids of the host's trusted keys, in policy order.
        trusted: Vec<String>,
    },

    /// The signature names a trusted key but does not verify with it: the
    /// component is not the one that was signed, or the signature was edited.
    #[error(
        "signature for {} does not verify with trusted key {key_id}: the component or the signature was changed",
        format_digest(digest)
    )]
    BadSignature {
        /// sha256 of the component.
        digest: [u8; 32],
        /// The trusted key the signature was checked against.
        key_id: String,
    },

    /// Key or signature text that cannot be parsed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed: `public key`, `secret key`, `signature`,
        /// or `signature for component sha256:…` when a signature given to
        /// [`TrustPolicy::verify`](crate::TrustPolicy::verify) is unreadable.
        what: String,
        /// What is wrong, and what was expected. Never contains the text
        /// itself, which may be a secret.
        reason: String,
    },
}

/// Lists trusted key ids as the tail of a sentence: "its trusted key (id:
/// …)" or "one of its N trusted keys (ids: …, …)".
struct TrustedKeys<'a>(&'a [String]);

impl fmt::Display for TrustedKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("a trusted key, and it has none"),
            [id] => write!(f, "its trusted key (id: {id})"),
            ids => write!(
                f,
                "one of its {} trusted keys (ids: {})",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
}
