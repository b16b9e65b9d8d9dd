//! Wharf's optional trust policy: ed25519 signatures over component digests.
//!
//! `wharf keygen` makes a key pair, `wharf sign` signs a component's sha256
//! digest with the secret half, and a host started with one or more trusted
//! public keys (`wharf up --trusted-key prod.pub`) refuses every component
//! that is not signed by one of them. A host started without trusted keys
//! does not check signatures at all; this crate only decides, for a host
//! that does, whether one component may run.
//!
//! The caller hashes the component (this crate does not depend on `sha2`):
//! every digest here is a raw sha256 value, `[u8; 32]`, shown in messages as
//! `sha256:<64 lowercase hex digits>` ([`format_digest`]).
//!
//! # What is signed
//!
//! The signature is ed25519 over [`SIGNATURE_CONTEXT`] followed by the 32
//! digest bytes. The context string keeps a Wharf signature from being valid
//! for anything else the same key might sign, and versions the scheme.
//! Verification uses `verify_strict`, which rejects weak keys and
//! non-canonical signatures, so one signature has one encoding.
//!
//! # File formats
//!
//! Each file is one line ending in a newline, so it can be pasted into a
//! secret store or a chat message and diffed:
//!
//! ```text
//! wharf-ed25519-secret-v1 <base64 of the 32-byte seed>               # prod.key
//! wharf-ed25519-public-v1 <base64 of the 32-byte public key>         # prod.pub
//! wharf-ed25519-signature-v1 <key id> <base64 of the 64-byte signature>   # hello.wasm.sig
//! ```
//!
//! Base64 is the standard alphabet with padding. The key id is the lowercase
//! hex of the first 8 bytes of the public key ([`PublicKey::key_id`]); it
//! only tells the verifier which trusted key to try and is not trusted
//! itself. Parsers accept surrounding whitespace and reject anything else
//! with a [`TrustError::Malformed`] that says what was expected; they never
//! echo the text they were given, which may be a secret key in the wrong
//! place.
//!
//! # Errors
//!
//! Callers branch on [`TrustError`]: every variant means "this component may
//! not run here" (an admin API answers `403 Forbidden`), and every message
//! about a component names its digest. Reading and writing key files is
//! operational and returns [`anyhow::Error`] with the file named.
//!
//! # Layout
//!
//! - `keys.rs`: [`SigningKeyPair`], [`PublicKey`] and [`write_key_pair`].
//! - `signature.rs`: [`Signature`].
//! - `policy.rs`: [`TrustPolicy`], which verifies.
//! - `text.rs`: the one-line file format shared by the three.
//! - `error.rs`: [`TrustError`].
//!
//! # Example
//!
//! ```
//! use wharf_trust::{SigningKeyPair, TrustError, TrustPolicy};
//!
//! # fn main() -> anyhow::Result<()> {
//! let signer = SigningKeyPair::generate()?;
//! let digest = [7u8; 32]; // sha256 of the component, computed by the caller
//! let signature = signer.sign_digest(&digest).to_text();
//!
//! let policy = TrustPolicy::new(vec![signer.public_key()]);
//! let key_id = policy.verify(&digest, Some(&signature))?;
//! assert_eq!(key_id, signer.public_key().key_id());
//!
//! let unsigned = policy.verify(&digest, None);
//! assert!(matches!(unsigned, Err(TrustError::Unsigned { .. })));
//! # Ok(())
//! # }
//! ```

mod error;
mod keys;
mod policy;
mod signature;
mod text;

pub use error::TrustError;
pub use keys::{PublicKey, SigningKeyPair, write_key_pair};
pub use policy::TrustPolicy;
pub use signature::Signature;

/// Prefix of every signed message; the 32 digest bytes follow it.
///
/// It separates Wharf component signatures from anything else the same key
/// might sign, and `v1` leaves room to change the scheme.
pub const SIGNATURE_CONTEXT: &[u8] = b"wharf-component-signature-v1\0";

/// A digest as messages show it: `sha256:` and 64 lowercase hex digits.
pub fn format_digest(digest: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(digest))
}

/// The bytes an ed25519 signature covers: [`SIGNATURE_CONTEXT`] then the
/// digest.
fn signed_message(digest: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + digest.len());
    message.extend_from_slice(SIGNATURE_CONTEXT);
    message.extend_from_slice(digest);
    message
}
