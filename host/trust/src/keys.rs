//! Key pairs, public keys, and writing them to disk.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::signature::Signature;
use crate::text::{self, Format, PUBLIC_HEADER, SECRET_HEADER};
use crate::{TrustError, signed_message};

const SECRET_FORMAT: Format = Format {
    header: SECRET_HEADER,
    shape: "wharf-ed25519-secret-v1 <base64 seed>",
    noun: "a Wharf secret key",
};

const PUBLIC_FORMAT: Format = Format {
    header: PUBLIC_HEADER,
    shape: "wharf-ed25519-public-v1 <base64 public key>",
    noun: "a Wharf public key",
};

/// An ed25519 key pair that signs component digests.
///
/// Its secret is the 32-byte seed, which the underlying key wipes from
/// memory when dropped. `Debug` shows only the key id.
pub struct SigningKeyPair {
    key: SigningKey,
}

impl SigningKeyPair {
    /// A new key pair from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// If the operating system cannot supply random bytes.
    pub fn generate() -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|err| anyhow!("cannot get random bytes for a new key: {err}"))?;
        Ok(Self::from_seed(seed))
    }

    /// The key pair with this 32-byte seed (the secret part of an ed25519
    /// key, as in RFC 8032). Mostly for tests that need a fixed key.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half, to give to hosts.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// Signs a component's sha256 digest (the message is
    /// [`SIGNATURE_CONTEXT`](crate::SIGNATURE_CONTEXT) then the digest).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Signature {
        Signature::new(
            self.public_key().key_id(),
            self.key.sign(&signed_message(digest)),
        )
    }

    /// The secret key file's text: `wharf-ed25519-secret-v1 <base64 seed>`
    /// and a newline. Whoever has it can sign as this key.
    pub fn to_secret_text(&self) -> String {
        format!(
            "{SECRET_HEADER} {}\n",
            text::encode_base64(self.key.as_bytes())
        )
    }

    /// Parses [`to_secret_text`](Self::to_secret_text)'s format; surrounding
    /// whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`TrustError::Malformed`] for anything else, including a public key
    /// or signature given by mistake. The message never quotes the text.
    pub fn from_secret_text(text: &str) -> Result<Self, TrustError> {
        let malformed = |reason| TrustError::Malformed {
            what: "secret key".to_owned(),
            reason,
        };
        let [seed] = SECRET_FORMAT.fields(text).map_err(malformed)?;
        let seed = text::decode_base64::<32>(seed, "seed").map_err(malformed)?;
        Ok(Self::from_seed(seed))
    }

    /// Writes this pair as `<prefix>.key` and `<prefix>.pub`; see
    /// [`write_key_pair`], which generates the pair and calls this.
    ///
    /// # Errors
    ///
    /// As [`write_key_pair`].
    pub fn write_files(&self, prefix: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        let name_ok = prefix.file_name().is_some()
            && !prefix
                .as_os_str()
                .to_string_lossy()
                .ends_with(std::path::is_separator);
        if !name_ok {
            bail!(
                "`{}` is not a usable key file prefix: it must end in a file name, like `keys/prod`",
                prefix.display()
            );
        }
        let secret_path = with_suffix(prefix, ".key");
        let public_path = with_suffix(prefix, ".pub");
        // Checked first so that an existing `.pub` does not leave a fresh
        // `.key` behind; `create_new` below closes the race either way.
        for path in [&secret_path, &public_path] {
            if path.exists() {
                bail!(refuse_overwrite(path));
            }
        }
        write_new(&secret_path, &self.to_secret_text(), 0o600, "secret key")?;
        if let Err(err) = write_new(
            &public_path,
            &self.public_key().to_text(),
            0o644,
            "public key",
        ) {
            // Best effort: a half-written pair would make the retry refuse.
            let _ = fs::remove_file(&secret_path);
            return Err(err);
        }
        Ok((secret_path, public_path))
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// An ed25519 public key: what a host trusts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    pub(crate) key: VerifyingKey,
}

impl PublicKey {
    /// The key's id: lowercase hex of its first 8 bytes, e.g.
    /// `d75a980182b10ab7`. Signatures carry it so a host knows which trusted
    /// key to check; it is a hint, not a proof.
    pub fn key_id(&self) -> String {
        hex::encode(&self.key.as_bytes()[..8])
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public key file's text: `wharf-ed25519-public-v1 <base64 key>`
    /// and a newline.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_HEADER} {}\n",
            text::encode_base64(self.key.as_bytes())
        )
    }

    /// Parses [`to_text`](Self::to_text)'s format; surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`TrustError::Malformed`] for anything else, including a secret key
    /// given by mistake, bytes that are not a point on the curve, and weak
    /// (small-order) keys, which anyone could forge signatures for.
    pub fn from_text(text: &str) -> Result<Self, TrustError> {
        let malformed = |reason| TrustError::Malformed {
            what: "public key".to_owned(),
            reason,
        };
        let [key] = PUBLIC_FORMAT.fields(text).map_err(malformed)?;
        let bytes = text::decode_base64::<32>(key, "key").map_err(malformed)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| malformed("the 32 bytes are not an ed25519 public key".to_owned()))?;
        if key.is_weak() {
            return Err(malformed(
                "it is a weak (small-order) ed25519 key, which cannot be trusted".to_owned(),
            ));
        }
        Ok(Self { key })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Generates a key pair and writes it as `<prefix>.key` and `<prefix>.pub`,
/// returning those two paths in that order.
///
/// The suffixes are appended, not substituted: prefix `keys/prod.v2` gives
/// `keys/prod.v2.key`. The secret file is created with mode `0600` on Unix
/// (elsewhere it gets the platform's default permissions), the public one
/// with `0644` (both narrowed by the umask). Neither file is ever
/// overwritten: replacing a signing key is a decision, not a side effect.
///
/// # Errors
///
/// If either file already exists (nothing is written then), the prefix does
/// not end in a file name, the directory does not exist, or writing fails.
/// Messages name the file.
pub fn write_key_pair(prefix: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    SigningKeyPair::generate()?.write_files(prefix)
}

/// `prefix` with `suffix` appended to its last component.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut path = OsString::from(prefix.as_os_str());
    path.push(suffix);
    PathBuf::from(path)
}

/// The message for a key file that already exists.
fn refuse_overwrite(path: &Path) -> String {
    format!(
        "refusing to overwrite {}: it already exists (move it away or choose another prefix)",
        path.display()
    )
}

/// Creates `path`, which must not exist, with `mode` on Unix, and writes
/// `contents`. `what` names the file in messages.
fn write_new(path: &Path, contents: &str, mode: u32, what: &str) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let context = || format!("cannot write the {what} {}", path.display());
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => bail!(refuse_overwrite(path)),
        Err(err) => return Err(err).with_context(context),
    };
    if let Err(err) = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // The file is ours (`create_new`); a partial one would block a retry.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(err).with_context(context);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, test 1.
    const RFC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_SECRET_TEXT: &str =
        "wharf-ed25519-secret-v1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n";
    const RFC_PUBLIC_TEXT: &str =
        "wharf-ed25519-public-v1 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n";

    fn rfc_pair() -> SigningKeyPair {
        let seed: [u8; 32] = hex::decode(RFC_SEED).unwrap().try_into().unwrap();
        SigningKeyPair::from_seed(seed)
    }

    fn malformed_reason(err: TrustError) -> (String, String) {
        match err {
            TrustError::Malformed { what, reason } => (what, reason),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn texts_match_the_rfc_8032_test_key() {
        let pair = rfc_pair();
        assert_eq!(pair.to_secret_text(), RFC_SECRET_TEXT);
        assert_eq!(pair.public_key().to_text(), RFC_PUBLIC_TEXT);
        assert_eq!(pair.public_key().key_id(), "d75a980182b10ab7");
    }

    #[test]
    fn secret_text_round_trips() {
        let pair = SigningKeyPair::generate().unwrap();
        let text = pair.to_secret_text();
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        let back = SigningKeyPair::from_secret_text(&text).unwrap();
        assert_eq!(back.public_key(), pair.public_key());
        assert_eq!(back.to_secret_text(), text);
    }

    #[test]
    fn public_text_round_trips_with_surrounding_whitespace() {
        let key = SigningKeyPair::generate().unwrap().public_key();
        let text = key.to_text();
        assert_eq!(PublicKey::from_text(&text).unwrap(), key);
        let padded = format!("  \n{}\r\n\n", text.trim());
        assert_eq!(PublicKey::from_text(&padded).unwrap(), key);
    }

    #[test]
    fn garbage_public_key_text_is_malformed() {
        for (text, expected) in [
            ("", "empty"),
            ("   \n", "empty"),
            (
                "hello",
                "expected a line starting with `wharf-ed25519-public-v1`",
            ),
            ("wharf-ed25519-public-v1", "found 0 field(s)"),
            (
                "wharf-ed25519-public-v1 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= extra",
                "found 2 field(s)",
            ),
            (
                "wharf-ed25519-public-v1 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\nmore",
                "one line",
            ),
            ("wharf-ed25519-public-v1 not*base64", "not valid base64"),
            ("wharf-ed25519-public-v1 AAAA", "is 3 bytes, expected 32"),
            // The identity point: small order.
            (
                "wharf-ed25519-public-v1 AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "weak",
            ),
        ] {
            let (what, reason) = malformed_reason(PublicKey::from_text(text).unwrap_err());
            assert_eq!(what, "public key");
            assert!(reason.contains(expected), "{text:?}: {reason}");
        }
    }

    #[test]
    fn a_secret_key_given_as_public_key_is_named_and_not_echoed() {
        let err = PublicKey::from_text(RFC_SECRET_TEXT).unwrap_err();
        let message = err.to_string();
        assert_eq!(
            message,
            "malformed public key: this is a Wharf secret key, not a Wharf public key"
        );
        assert!(!message.contains("nWGx"));
    }

    #[test]
    fn garbage_secret_key_text_is_malformed() {
        for text in [
            "",
            RFC_PUBLIC_TEXT,
            "wharf-ed25519-secret-v1 AAAA",
            "wharf-ed25519-secret-v1 !!",
        ] {
            let (what, _) = malformed_reason(SigningKeyPair::from_secret_text(text).unwrap_err());
            assert_eq!(what, "secret key");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let shown = format!("{:?}", rfc_pair());
        assert!(shown.contains("d75a980182b10ab7"), "{shown}");
        assert!(!shown.contains("9d61") && !shown.contains("157"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn write_key_pair_writes_a_0600_secret_and_a_matching_public_key() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prod.v2");
        let (secret, public) = write_key_pair(&prefix).unwrap();
        assert_eq!(secret, dir.path().join("prod.v2.key"));
        assert_eq!(public, dir.path().join("prod.v2.pub"));
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(&public) & 0o600, 0o600, "owner can read and write");
        assert_eq!(mode(&public) & 0o022, 0, "nobody else can write");

        let pair = SigningKeyPair::from_secret_text(&fs::read_to_string(&secret).unwrap()).unwrap();
        let key = PublicKey::from_text(&fs::read_to_string(&public).unwrap()).unwrap();
        assert_eq!(pair.public_key(), key);
    }

    #[test]
    fn write_key_pair_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prod");
        let (secret, public) = write_key_pair(&prefix).unwrap();
        let before = (
            fs::read_to_string(&secret).unwrap(),
            fs::read_to_string(&public).unwrap(),
        );
        let err = write_key_pair(&prefix).unwrap_err().to_string();
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert!(err.contains("prod.key"), "{err}");
        let after = (
            fs::read_to_string(&secret).unwrap(),
            fs::read_to_string(&public).unwrap(),
        );
        assert_eq!(before, after);
    }

    #[test]
    fn write_key_pair_leaves_no_secret_when_the_public_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prod");
        fs::write(dir.path().join("prod.pub"), "someone else's key\n").unwrap();
        let err = write_key_pair(&prefix).unwrap_err().to_string();
        assert!(
            err.contains("refusing to overwrite") && err.contains("prod.pub"),
            "{err}"
        );
        assert!(!dir.path().join("prod.key").exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("prod.pub")).unwrap(),
            "someone else's key\n"
        );
    }

    #[test]
    fn write_key_pair_needs_a_file_name_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let with_slash = format!("{}/", dir.path().display());
        for prefix in [Path::new(&with_slash), Path::new("."), Path::new("")] {
            let err = write_key_pair(prefix).unwrap_err().to_string();
            assert!(err.contains("not a usable key file prefix"), "{err}");
        }
    }

    #[test]
    fn write_key_pair_names_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("missing/prod");
        let err = format!("{:#}", write_key_pair(&prefix).unwrap_err());
        assert!(err.contains("cannot write the secret key"), "{err}");
        assert!(err.contains("missing/prod.key"), "{err}");
    }
}
