use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ListArgs {}
#[derive(clap::Args)]
pub struct ApproveArgs {}
#[derive(clap::Args)]
pub struct ResumeArgs {}

pub fn list(_args: ListArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
pub fn approve(_args: ApproveArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
pub fn resume(_args: ResumeArgs) -> ExitCode {
    super::usage_error("this command is not available in this build yet")
}
