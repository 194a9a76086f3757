use std::process::ExitCode;

#[derive(clap::Args)]
pub struct UndoArgs {}
#[derive(clap::Args)]
pub struct CasesArgs {}
#[derive(clap::Args)]
pub struct StatsArgs {}

pub fn undo(_args: UndoArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
pub fn cases(_args: CasesArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
pub fn stats(_args: StatsArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
