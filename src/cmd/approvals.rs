//! `parry approvals [--json]`, `parry approve RUN [APPROVAL] --as USER [--deny]` and
//! `parry resume [RUN] [--interrupted]`. Each works on one project (`--project PATH`, default
//! `.`) and its state database (`--state DB`, default `PROJECT/.parry/state.db`).
//!
//! Exit status: `approvals` 0; `approve` 0 when decided, 1 when refused (not an approver of the
//! group, already decided, expired), 2 for an unknown run or approval; `resume` 0 when every
//! resumed run ended well, 1 when one failed (or the named run still waits), 2 on usage errors.

use super::run::{report_error, use_color};
use parry_interpreter::ops::{self, OpsError, Workspace, render};
use parry_interpreter::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Where the project and its state live (shared by the run-time commands).
#[derive(clap::Args, Clone)]
pub struct ProjectArgs {
    /// The project directory (holding parry.toml).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub project: PathBuf,
    /// The state database (default: PROJECT/.parry/state.db).
    #[arg(long, value_name = "DB")]
    pub state: Option<PathBuf>,
}

impl ProjectArgs {
    /// `--project P --state S` as the user must repeat them, empty for the defaults.
    pub fn repeat(&self) -> String {
        let mut out = String::new();
        if self.project != Path::new(".") {
            out.push_str(&format!(" --project {}", self.project.display()));
        }
        if let Some(s) = &self.state {
            out.push_str(&format!(" --state {}", s.display()));
        }
        out
    }

    /// The state database path, without loading the project.
    pub fn state_path(&self) -> PathBuf {
        self.state.clone().unwrap_or_else(|| {
            let root = parry_compiler::load_project(&self.project, &parry_compiler::RealFs)
                .map_or_else(|_| self.project.clone(), |p| p.root);
            parry_interpreter::store::default_path(&root)
        })
    }
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Print the approvals as a JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The run waiting for the approval.
    run: String,
    /// The approval id (`parry approvals` lists them); optional when the run waits for one.
    approval: Option<i64>,
    /// Who decides: must be a member of the approval's group in `[approvers]` of parry.toml.
    #[arg(long = "as", value_name = "USER")]
    user: String,
    /// Deny instead of granting: the run takes the `else` branch when resumed.
    #[arg(long)]
    deny: bool,
    #[command(flatten)]
    project: ProjectArgs,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The run to resume (default: every run whose approvals are decided or expired).
    run: Option<String>,
    /// Also resume the runs left `running` by a process that stopped (a crash, a kill). Make
    /// sure no other parry process is running them.
    #[arg(long)]
    interrupted: bool,
    #[command(flatten)]
    project: ProjectArgs,
}

/// Opens the state database for a read-only listing. When no run was ever recorded there,
/// prints what an empty listing looks like (`empty_json` with `--json`, else `empty_text`
/// and the path) and returns the exit status to end with; likewise on an open error.
pub fn open_for_listing(
    path: &Path,
    json: bool,
    empty_json: &str,
    empty_text: &str,
) -> Result<Arc<dyn Store>, ExitCode> {
    match ops::open_existing_store(path) {
        Ok(Some(store)) => Ok(store),
        Ok(None) => {
            if json {
                println!("{empty_json}");
            } else {
                println!("{empty_text} (no run recorded in {}).", path.display());
            }
            Err(ExitCode::SUCCESS)
        }
        Err(e) => Err(report_error(e)),
    }
}

pub fn list(args: ListArgs) -> ExitCode {
    let path = args.project.state_path();
    let store = match open_for_listing(&path, args.json, "[]", "No pending approvals") {
        Ok(store) => store,
        Err(exit) => return exit,
    };
    print_listing(
        ops::pending_approvals(store.as_ref(), &args.project.repeat()),
        args.json,
        render::approvals,
    )
}

/// Prints a listing as JSON (`--json`) or as text, or reports why it could not be read.
pub fn print_listing<T: serde::Serialize>(
    listing: Result<Vec<T>, OpsError>,
    json: bool,
    text: impl Fn(&[T]) -> String,
) -> ExitCode {
    match listing {
        Ok(list) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into()));
            } else {
                print!("{}", text(&list));
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error(e),
    }
}

pub fn approve(args: ApproveArgs) -> ExitCode {
    let ws = match Workspace::load_lenient(&args.project.project) {
        Ok(ws) => ws,
        Err(e) => return report_error(e),
    };
    let path = ws.state_path(args.project.state.as_deref());
    let store = match ops::open_existing_store(&path) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return report_error(OpsError::Usage(format!(
                "no run recorded in {}; give the project of the run with --project PATH",
                path.display()
            )));
        }
        Err(e) => return report_error(e),
    };
    match ops::decide(ws.config(), store.as_ref(), &args.run, args.approval, &args.user, args.deny) {
        Ok(row) => {
            println!("Approval {} of run {} {} by {}.", row.id, row.run_id, row.status.name(), args.user);
            println!("Continue the run: parry resume {}{}", row.run_id, args.project.repeat());
            ExitCode::SUCCESS
        }
        Err(e) => report_error(e),
    }
}

pub fn resume(args: ResumeArgs) -> ExitCode {
    let ws = match Workspace::load(&args.project.project) {
        Ok(ws) => ws,
        Err(e) => return report_error(e),
    };
    let path = ws.state_path(args.project.state.as_deref());
    let store = match ops::open_existing_store(&path) {
        Ok(Some(s)) => s,
        Ok(None) => {
            if args.run.is_some() {
                return report_error(OpsError::Usage(format!("no run recorded in {}", path.display())));
            }
            println!("No run to resume (no run recorded in {}).", path.display());
            return ExitCode::SUCCESS;
        }
        Err(e) => return report_error(e),
    };
    match ops::resume(&ws, store, args.run.as_deref(), args.interrupted) {
        Ok(report) => {
            print!("{}", render::resume(&report, &args.project.repeat(), use_color()));
            let named_still_waits = args.run.is_some() && !report.waiting.is_empty();
            if report.resumed.iter().any(ops::RunResult::failed) || named_still_waits {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => report_error(e),
    }
}
