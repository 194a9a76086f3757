//! One module per subcommand (or family of subcommands). Each owns its clap arguments.

pub mod approvals;
pub mod cases;
pub mod check;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod lsp;
pub mod run;
pub mod test;

use std::process::ExitCode;

/// Exit status 2: a usage or I/O error (LANGUAGE.md §8).
pub fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
