//! One module per subcommand; [`run`] dispatches.

pub mod build;
pub mod new;
pub mod ps;
pub mod up;

use crate::cli::Command;

/// Runs a parsed subcommand to completion.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up(args) => up::run(args),
        Command::Build(args) => build::run(&args.path),
        Command::New(args) => new::run(args),
        Command::Ps(args) => ps::run(args),
    }
}
