//! `wharf keygen`: make an ed25519 key pair for signing components.
//!
//! The pair is written as `<prefix>.key` (secret, mode 0600, never
//! overwritten) and `<prefix>.pub`; formats are documented in `wharf-trust`.

use std::path::PathBuf;

use wharf_trust::SigningKeyPair;

/// Arguments of `wharf keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Path prefix of the key files: writes `<PREFIX>.key` (the secret key,
    /// readable only by you) and `<PREFIX>.pub` (the public key, for hosts).
    /// Existing files are never overwritten.
    #[arg(default_value = "wharf-signing")]
    pub prefix: PathBuf,
}

/// Runs `wharf keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<()> {
    let pair = SigningKeyPair::generate()?;
    let (secret, public) = pair.write_files(&args.prefix)?;
    println!("Wrote secret key {}", secret.display());
    println!("Wrote public key {}", public.display());
    println!("Key id: {}", pair.public_key().key_id());
    println!();
    println!(
        "Sign components with:  wharf sign <component.wasm> --key {}",
        secret.display()
    );
    println!(
        "Start hosts with:      wharf up --trusted-key {}",
        public.display()
    );
    println!(
        "Keep {} secret: anyone who has it can sign components your hosts will run.",
        secret.display()
    );
    Ok(())
}
