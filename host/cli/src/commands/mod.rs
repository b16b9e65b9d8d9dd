//! One module per subcommand; [`run`] dispatches.

pub mod build;
pub mod deploy;
pub mod keygen;
pub mod lifecycle;
pub mod new;
pub mod ps;
pub mod push;
pub mod sign;
pub mod up;

use crate::cli::Command;

/// Runs a parsed subcommand to completion.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up(args) => up::run(*args),
        Command::Build(args) => build::run(&args.path),
        Command::New(args) => new::run(args),
        Command::Ps(args) => ps::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Rollback(args) => lifecycle::rollback(args),
        Command::Promote(args) => lifecycle::promote(args),
        Command::Activate(args) => lifecycle::activate(args),
        Command::Traffic(args) => lifecycle::traffic(args),
        Command::Rm(args) => lifecycle::remove(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Push(args) => push::run(args),
    }
}
