//! The `wharf` command. See the `wharf` library crate for the layout.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = wharf::cli::Cli::parse();
    // Before any HTTP client exists (see `install_crypto_provider`).
    wharf_oci::install_crypto_provider();
    if let Err(error) = wharf::logging::init(cli.log_format) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    match wharf::commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line and never a
            // backtrace: a refused component is a user error, not a crash.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
