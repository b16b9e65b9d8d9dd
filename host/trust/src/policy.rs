//! The set of keys a host trusts, and the check a component must pass.

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::signature::Signature;
use crate::{PublicKey, TrustError, format_digest, signed_message};

/// The public keys a host trusts: a component runs only if one of them
/// signed its digest.
///
/// A host started without trusted keys has no policy and checks nothing. An
/// empty `TrustPolicy` is different: it trusts no key, so
/// [`verify`](Self::verify) refuses every component.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Distinct keys, in the order given.
    keys: Vec<PublicKey>,
}

impl TrustPolicy {
    /// A policy trusting these keys. A key given twice is kept once.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        let mut distinct: Vec<PublicKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !distinct.contains(&key) {
                distinct.push(key);
            }
        }
        Self { keys: distinct }
    }

    /// Reads public key files (`wharf up --trusted-key prod.pub …`).
    ///
    /// # Errors
    ///
    /// If a file cannot be read or is not a public key file; the message
    /// names the file.
    pub fn from_public_key_files(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut keys = Vec::with_capacity(paths.len());
        for path in paths {
            let text = fs::read_to_string(path)
                .with_context(|| format!("cannot read the trusted key {}", path.display()))?;
            let key = PublicKey::from_text(&text)
                .with_context(|| format!("{} is not a usable trusted key", path.display()))?;
            keys.push(key);
        }
        Ok(Self::new(keys))
    }

    /// Whether the policy trusts no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many distinct keys the policy trusts.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The trusted keys, in the order given.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Ids of the trusted keys, in the order given, e.g. for a startup log.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(PublicKey::key_id).collect()
    }

    /// Checks that `signature` (a signature file's text, or `None` when the
    /// component came without one) is a signature of `digest` (the
    /// component's sha256) by a trusted key, and returns that key's id.
    ///
    /// The signature's key id only picks which trusted key to try; the
    /// ed25519 check (`verify_strict`) is what decides.
    ///
    /// # Errors
    ///
    /// - [`TrustError::Unsigned`] if `signature` is `None`;
    /// - [`TrustError::Malformed`] if it cannot be parsed (`what` names the
    ///   digest);
    /// - [`TrustError::UnknownKey`] if it names a key the policy does not
    ///   hold;
    /// - [`TrustError::BadSignature`] if it does not verify with that key.
    pub fn verify(&self, digest: &[u8; 32], signature: Option<&str>) -> Result<String, TrustError> {
        let Some(text) = signature else {
            return Err(TrustError::Unsigned {
                digest: *digest,
                trusted: self.key_ids(),
            });
        };
        let signature = Signature::parse(text).map_err(|reason| TrustError::Malformed {
            what: format!("signature for component {}", format_digest(digest)),
            reason,
        })?;
        let candidates: Vec<&PublicKey> = self
            .keys
            .iter()
            .filter(|key| key.key_id() == signature.key_id())
            .collect();
        if candidates.is_empty() {
            return Err(TrustError::UnknownKey {
                digest: *digest,
                key_id: signature.key_id().to_owned(),
                trusted: self.key_ids(),
            });
        }
        let message = signed_message(digest);
        // Two trusted keys share an id only if their first 8 bytes collide,
        // which takes deliberate effort; trying each costs nothing.
        let verified = candidates
            .iter()
            .any(|key| key.key.verify_strict(&message, signature.ed25519()).is_ok());
        if verified {
            Ok(signature.key_id().to_owned())
        } else {
            Err(TrustError::BadSignature {
                digest: *digest,
                key_id: signature.key_id().to_owned(),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use ed25519_dalek::Signer as _;

    use super::*;
    use crate::SigningKeyPair;

    const DIGEST: [u8; 32] = [0xab; 32];
    const DIGEST_TEXT: &str =
        "sha256:abababababababababababababababababababababababababababababababab";

    fn pair(byte: u8) -> SigningKeyPair {
        SigningKeyPair::from_seed([byte; 32])
    }

    #[test]
    fn a_signature_by_a_trusted_key_verifies() {
        let (a, b) = (pair(1), pair(2));
        let policy = TrustPolicy::new(vec![a.public_key(), b.public_key()]);
        let signature = b.sign_digest(&DIGEST).to_text();
        assert_eq!(
            policy.verify(&DIGEST, Some(&signature)).unwrap(),
            b.public_key().key_id()
        );
    }

    #[test]
    fn a_flipped_digest_bit_is_a_bad_signature() {
        let a = pair(1);
        let policy = TrustPolicy::new(vec![a.public_key()]);
        let signature = a.sign_digest(&DIGEST).to_text();
        let mut changed = DIGEST;
        changed[31] ^= 1;
        let err = policy.verify(&changed, Some(&signature)).unwrap_err();
        assert!(
            matches!(&err, TrustError::BadSignature { digest, key_id } if *digest == changed && *key_id == a.public_key().key_id()),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "signature for {} does not verify with trusted key {}: the component or the signature was changed",
                format_digest(&changed),
                a.public_key().key_id()
            )
        );
    }

    #[test]
    fn a_changed_signature_is_a_bad_signature() {
        let a = pair(1);
        let policy = TrustPolicy::new(vec![a.public_key()]);
        let text = a.sign_digest(&DIGEST).to_text();
        // Swap one base64 character of the signature for another.
        let mut chars: Vec<char> = text.trim_end().chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let changed: String = chars.into_iter().collect();
        let err = policy.verify(&DIGEST, Some(&changed)).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn a_signature_by_an_untrusted_key_is_an_unknown_key() {
        let (trusted, stranger) = (pair(1), pair(2));
        let policy = TrustPolicy::new(vec![trusted.public_key()]);
        let signature = stranger.sign_digest(&DIGEST).to_text();
        let err = policy.verify(&DIGEST, Some(&signature)).unwrap_err();
        let message = err.to_string();
        match err {
            TrustError::UnknownKey {
                digest,
                key_id,
                trusted: ids,
            } => {
                assert_eq!(digest, DIGEST);
                assert_eq!(key_id, stranger.public_key().key_id());
                assert_eq!(ids, vec![trusted.public_key().key_id()]);
            }
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        assert!(message.contains(DIGEST_TEXT), "{message}");
        assert!(
            message.contains(&format!(
                "its trusted key (id: {})",
                trusted.public_key().key_id()
            )),
            "{message}"
        );
    }

    #[test]
    fn a_forged_key_id_does_not_help() {
        // A stranger's signature relabelled with the trusted key's id.
        let (trusted, stranger) = (pair(1), pair(2));
        let policy = TrustPolicy::new(vec![trusted.public_key()]);
        let forged = stranger.sign_digest(&DIGEST).to_text().replace(
            &stranger.public_key().key_id(),
            &trusted.public_key().key_id(),
        );
        let err = policy.verify(&DIGEST, Some(&forged)).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn no_signature_is_unsigned_and_names_the_digest_and_keys() {
        let (a, b) = (pair(1), pair(2));
        let policy = TrustPolicy::new(vec![a.public_key(), b.public_key()]);
        let err = policy.verify(&DIGEST, None).unwrap_err();
        assert!(matches!(err, TrustError::Unsigned { digest, .. } if digest == DIGEST));
        assert_eq!(
            err.to_string(),
            format!(
                "component {DIGEST_TEXT} is not signed; this host only accepts components signed by one of its 2 trusted keys (ids: {}, {})",
                a.public_key().key_id(),
                b.public_key().key_id()
            )
        );
    }

    #[test]
    fn garbage_signature_text_is_malformed_and_names_the_digest() {
        let policy = TrustPolicy::new(vec![pair(1).public_key()]);
        for text in [
            "",
            "garbage",
            "wharf-ed25519-signature-v1 0011223344556677 AAAA",
        ] {
            let err = policy.verify(&DIGEST, Some(text)).unwrap_err();
            match &err {
                TrustError::Malformed { what, .. } => {
                    assert_eq!(what, &format!("signature for component {DIGEST_TEXT}"));
                }
                other => panic!("{text:?}: expected Malformed, got {other:?}"),
            }
            assert!(err.to_string().contains(DIGEST_TEXT));
        }
    }

    #[test]
    fn the_signed_message_is_domain_separated() {
        // A valid ed25519 signature over the bare digest is not a Wharf
        // signature.
        let seed = [1u8; 32];
        let raw = ed25519_dalek::SigningKey::from_bytes(&seed).sign(&DIGEST);
        let key = pair(1).public_key();
        let text = Signature::new(key.key_id(), raw).to_text();
        let policy = TrustPolicy::new(vec![key]);
        let err = policy.verify(&DIGEST, Some(&text)).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn an_empty_policy_refuses_everything() {
        let policy = TrustPolicy::new(Vec::new());
        assert!(policy.is_empty());
        let err = policy.verify(&DIGEST, None).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("signed by a trusted key, and it has none")
        );
        let signature = pair(1).sign_digest(&DIGEST).to_text();
        let err = policy.verify(&DIGEST, Some(&signature)).unwrap_err();
        assert!(matches!(err, TrustError::UnknownKey { .. }), "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_kept_once() {
        let (a, b) = (pair(1), pair(2));
        let policy = TrustPolicy::new(vec![a.public_key(), b.public_key(), a.public_key()]);
        assert_eq!(policy.len(), 2);
        assert_eq!(
            policy.key_ids(),
            vec![a.public_key().key_id(), b.public_key().key_id()]
        );
    }

    #[test]
    fn from_public_key_files_reads_keys_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.pub");
        fs::write(&good, pair(1).public_key().to_text()).unwrap();
        let policy = TrustPolicy::from_public_key_files(std::slice::from_ref(&good)).unwrap();
        assert_eq!(policy.keys(), &[pair(1).public_key()]);

        let secret = dir.path().join("oops.key");
        fs::write(&secret, pair(2).to_secret_text()).unwrap();
        let err = format!(
            "{:#}",
            TrustPolicy::from_public_key_files(&[good.clone(), secret]).unwrap_err()
        );
        assert!(
            err.contains("oops.key is not a usable trusted key"),
            "{err}"
        );
        assert!(err.contains("this is a Wharf secret key"), "{err}");

        let missing = dir.path().join("missing.pub");
        let err = format!(
            "{:#}",
            TrustPolicy::from_public_key_files(&[missing]).unwrap_err()
        );
        assert!(
            err.contains("cannot read the trusted key") && err.contains("missing.pub"),
            "{err}"
        );
    }
}
