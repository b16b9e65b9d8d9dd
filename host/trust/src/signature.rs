//! A signature over a component digest, and its file format.

use crate::TrustError;
use crate::text::{self, Format, SIGNATURE_HEADER};

const SIGNATURE_FORMAT: Format = Format {
    header: SIGNATURE_HEADER,
    shape: "wharf-ed25519-signature-v1 <key id> <base64 signature>",
    noun: "a Wharf signature",
};

/// An ed25519 signature over a component digest, with the id of the key
/// that claims to have made it.
///
/// Made by [`SigningKeyPair::sign_digest`](crate::SigningKeyPair::sign_digest)
/// and checked by [`TrustPolicy::verify`](crate::TrustPolicy::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// 16 lowercase hex digits (checked when parsed).
    key_id: String,
    signature: ed25519_dalek::Signature,
}

impl Signature {
    /// Pairs a signature with the id of the key that made it.
    pub(crate) fn new(key_id: String, signature: ed25519_dalek::Signature) -> Self {
        Self { key_id, signature }
    }

    /// Id of the key the signature says it was made with (see
    /// [`PublicKey::key_id`](crate::PublicKey::key_id)). Only a claim until
    /// the signature verifies.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw ed25519 signature.
    pub(crate) fn ed25519(&self) -> &ed25519_dalek::Signature {
        &self.signature
    }

    /// The signature file's text: `wharf-ed25519-signature-v1 <key id>
    /// <base64 signature>` and a newline.
    pub fn to_text(&self) -> String {
        format!(
            "{SIGNATURE_HEADER} {} {}\n",
            self.key_id,
            text::encode_base64(&self.signature.to_bytes())
        )
    }

    /// Parses [`to_text`](Self::to_text)'s format; surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`TrustError::Malformed`] (`what` is `signature`) for anything else,
    /// including a key id that is not 16 lowercase hex digits.
    pub fn from_text(text: &str) -> Result<Self, TrustError> {
        Self::parse(text).map_err(|reason| TrustError::Malformed {
            what: "signature".to_owned(),
            reason,
        })
    }

    /// [`from_text`](Self::from_text) with a bare reason, so a caller can
    /// say which signature it was.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let [key_id, signature] = SIGNATURE_FORMAT.fields(text)?;
        let id_ok = key_id.len() == 16
            && key_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_ok {
            return Err(
                "the key id is not 16 lowercase hex digits (the first 8 bytes of the public key)"
                    .to_owned(),
            );
        }
        let bytes = text::decode_base64::<64>(signature, "signature")?;
        Ok(Self::new(
            key_id.to_owned(),
            ed25519_dalek::Signature::from_bytes(&bytes),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::SigningKeyPair;

    #[test]
    fn text_round_trips() {
        let pair = SigningKeyPair::generate().unwrap();
        let signature = pair.sign_digest(&[1; 32]);
        assert_eq!(signature.key_id(), pair.public_key().key_id());
        let text = signature.to_text();
        assert!(text.starts_with(&format!(
            "wharf-ed25519-signature-v1 {} ",
            pair.public_key().key_id()
        )));
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        assert_eq!(Signature::from_text(&text).unwrap(), signature);
        assert_eq!(
            Signature::from_text(&format!("\t{text}\n\n")).unwrap(),
            signature
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let good = SigningKeyPair::generate()
            .unwrap()
            .sign_digest(&[1; 32])
            .to_text();
        let [_, id, b64] =
            <[&str; 3]>::try_from(good.split_whitespace().collect::<Vec<_>>()).unwrap();
        for (text, expected) in [
            (String::new(), "empty"),
            ("garbage".to_owned(), "expected a line starting with"),
            (
                format!("wharf-ed25519-signature-v1 {b64}"),
                "found 1 field(s)",
            ),
            (
                format!("wharf-ed25519-signature-v1 {} {b64}", id.to_uppercase()),
                "key id",
            ),
            (format!("wharf-ed25519-signature-v1 {id}00 {b64}"), "key id"),
            (
                format!("wharf-ed25519-signature-v1 {id} AAAA"),
                "is 3 bytes, expected 64",
            ),
            (
                format!("wharf-ed25519-public-v1 {b64}"),
                "this is a Wharf public key, not a Wharf signature",
            ),
        ] {
            match Signature::from_text(&text) {
                Err(TrustError::Malformed { what, reason }) => {
                    assert_eq!(what, "signature");
                    assert!(reason.contains(expected), "{text:?}: {reason}");
                }
                other => panic!("{text:?}: expected Malformed, got {other:?}"),
            }
        }
    }
}
