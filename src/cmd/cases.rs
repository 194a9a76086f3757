//! `parry undo RUN`, `parry cases [--json]` and `parry stats [--json]`, on one project
//! (`--project PATH`, default `.`) and its state database.
//!
//! Exit status: `undo` 0 when every undo succeeded (or nothing was left to undo), 1 when one
//! failed, 2 for an unknown run; `cases` and `stats` 0 (2 when the database cannot be read).

use super::approvals::{ProjectArgs, open_for_listing, print_listing};
use super::run::report_error;
use parry_interpreter::ops::{self, OpsError, Workspace, render};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct UndoArgs {
    /// The run whose reversible actions to undo.
    run: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    project: ProjectArgs,
}

#[derive(clap::Args)]
pub struct CasesArgs {
    /// Print the cases (with every field) as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    project: ProjectArgs,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Print the statistics as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    project: ProjectArgs,
}

pub fn undo(args: UndoArgs) -> ExitCode {
    let ws = match Workspace::load(&args.project.project) {
        Ok(ws) => ws,
        Err(e) => return report_error(e),
    };
    let path = ws.state_path(args.project.state.as_deref());
    let store = match ops::open_existing_store(&path) {
        Ok(Some(s)) => s,
        Ok(None) => return report_error(OpsError::Usage(format!("no run recorded in {}", path.display()))),
        Err(e) => return report_error(e),
    };
    match ops::undo(&ws, store, &args.run) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", render::undo(&report));
            }
            if report.undone.iter().any(|u| u.error.is_some()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => report_error(e),
    }
}

pub fn cases(args: CasesArgs) -> ExitCode {
    let path = args.project.state_path();
    let store = match open_for_listing(&path, args.json, "[]", "No cases yet") {
        Ok(store) => store,
        Err(exit) => return exit,
    };
    print_listing(ops::list_cases(store.as_ref()), args.json, render::cases)
}

pub fn stats(args: StatsArgs) -> ExitCode {
    // `saves` comes from the playbooks; a project that no longer compiles still has stats.
    let ws = Workspace::load_lenient(&args.project.project).ok();
    let path = match &ws {
        Some(ws) => ws.state_path(args.project.state.as_deref()),
        None => args.project.state_path(),
    };
    let empty = serde_json::to_string_pretty(&ops::Stats::default()).unwrap_or_default();
    let store = match open_for_listing(&path, args.json, &empty, "No runs yet") {
        Ok(store) => store,
        Err(exit) => return exit,
    };
    match ops::stats(ws.as_ref(), store.as_ref()) {
        Ok(s) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                print!("{}", render::stats(&s));
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error(e),
    }
}
