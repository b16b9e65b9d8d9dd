//! SHA-256 content digests, the names components are stored and deployed by.
//!
//! The canonical text form is `sha256:<64 lowercase hex digits>`; that is
//! what `Display`, `Debug` and serde produce. Parsing also accepts the bare
//! 64 hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The prefix of a digest's text form.
pub const PREFIX: &str = "sha256:";

/// A SHA-256 digest of some bytes (in practice, a component's).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Wraps 32 raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not `sha256:<64 lowercase hex digits>` (or bare hex).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: expected sha256:<64 lowercase hex digits>")]
pub struct ParseDigestError {
    /// The rejected input, truncated to a sensible length for messages.
    pub input: String,
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s.strip_prefix(PREFIX).unwrap_or(s);
        // Lowercase only: one digest, one spelling (file names, map keys).
        let canonical = hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut bytes = [0u8; 32];
        if canonical && hex::decode_to_slice(hex_part, &mut bytes).is_ok() {
            return Ok(Self(bytes));
        }
        Err(ParseDigestError {
            input: s.chars().take(80).collect(),
        })
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental SHA-256 for data that arrives in pieces (uploads, files read
/// in chunks). Also an [`std::io::Write`] sink, so `std::io::copy` works.
#[derive(Clone, Default)]
pub struct DigestWriter(Sha256);

impl DigestWriter {
    /// A hasher that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for DigestWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestWriter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("abc")
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_value_and_forms() {
        let d = Digest::of(b"abc");
        assert_eq!(d.hex(), ABC);
        assert_eq!(d.short(), &ABC[..12]);
        assert_eq!(d.to_string(), format!("sha256:{ABC}"));
        assert_eq!(format!("{d:?}"), format!("sha256:{ABC}"));
        assert_eq!(Digest::from_bytes(*d.as_bytes()), d);
    }

    #[test]
    fn parse() {
        let d = Digest::of(b"abc");
        assert_eq!(format!("sha256:{ABC}").parse::<Digest>().unwrap(), d);
        assert_eq!(ABC.parse::<Digest>().unwrap(), d);
        for bad in [
            "",
            "sha256:",
            &format!("sha256:{}", ABC.to_uppercase()),
            &format!("sha256:{}", &ABC[..63]),
            &format!("sha256:{ABC}0"),
            &format!("sha512:{ABC}"),
            &format!("sha256:{}g", &ABC[..63]),
            &format!(" {ABC}"),
        ] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains("invalid digest"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::of(b"abc");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn streaming_matches_one_shot() {
        let mut w = DigestWriter::new();
        w.update(b"a");
        std::io::Write::write_all(&mut w, b"bc").unwrap();
        assert_eq!(w.finish(), Digest::of(b"abc"));
    }
}
