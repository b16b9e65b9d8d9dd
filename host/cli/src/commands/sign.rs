//! `wharf sign`: sign a component's sha256 digest with a key from
//! `wharf keygen`.
//!
//! The signature goes beside the component as `<component>.sig` unless
//! `--out` says otherwise; `wharf up` and deploys look for it there
//! ([`read_signature_beside`]).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::Digest as _;
use wharf_trust::{SigningKeyPair, format_digest};

/// Arguments of `wharf sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The component `.wasm` to sign.
    pub component: PathBuf,
    /// The secret key file written by `wharf keygen` (`<PREFIX>.key`).
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the signature. Default: `<COMPONENT>.sig`, beside the
    /// component (`hello.wasm` → `hello.wasm.sig`), where hosts look for it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `wharf sign`.
pub fn run(args: SignArgs) -> anyhow::Result<()> {
    let key_text = fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read the secret key {}", args.key.display()))?;
    let pair = SigningKeyPair::from_secret_text(&key_text)
        .with_context(|| format!("{} is not a usable secret key", args.key.display()))?;
    let component = fs::read(&args.component)
        .with_context(|| format!("cannot read the component {}", args.component.display()))?;
    let digest: [u8; 32] = sha2::Sha256::digest(&component).into();
    let signature = pair.sign_digest(&digest);
    let out = args
        .out
        .unwrap_or_else(|| default_signature_path(&args.component));
    fs::write(&out, signature.to_text())
        .with_context(|| format!("cannot write the signature {}", out.display()))?;
    println!(
        "Signed {} ({}) with key {}",
        args.component.display(),
        format_digest(&digest),
        signature.key_id()
    );
    println!("Wrote {}", out.display());
    Ok(())
}

/// Where a component's signature is expected by default: the component's
/// path with `.sig` appended (`hello.wasm` → `hello.wasm.sig`).
pub fn default_signature_path(component: &Path) -> PathBuf {
    let mut path = OsString::from(component.as_os_str());
    path.push(".sig");
    PathBuf::from(path)
}

/// The text of the signature beside `component`
/// ([`default_signature_path`]), or `None` if there is no such file.
///
/// The text is not checked here; `wharf_trust::TrustPolicy::verify` does
/// that and names the component's digest in its errors.
///
/// # Errors
///
/// If the file exists but cannot be read (or is not UTF-8); the message
/// names it.
pub fn read_signature_beside(component: &Path) -> anyhow::Result<Option<String>> {
    let path = default_signature_path(component);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => {
            Err(err).with_context(|| format!("cannot read the signature {}", path.display()))
        }
    }
}
