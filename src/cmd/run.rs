//! `parry run PATH --alert FILE [--playbook NAME] [--dry-run] [--json] [--state DB]`: run the
//! playbooks that take an alert and print each case. The work is done by
//! `parry_interpreter::ops`; see its module docs for the decisions (validation before any
//! write, no matching playbook is not an error, dry runs write nothing).
//!
//! Exit status: 0 when every run ended resolved, escalated, completed or awaiting approval
//! (or no playbook takes the alert), 1 when a run failed or the project has errors, 2 for a
//! usage or I/O error, including a rejected alert.

use parry_interpreter::ops::{self, RunRequest, Workspace, render};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The project: its directory (holding parry.toml) or one of its .play files.
    path: PathBuf,
    /// The alert, a JSON file (at most 10 MiB).
    #[arg(long, value_name = "FILE")]
    alert: PathBuf,
    /// Run this playbook, whatever its `when` condition says (default: every playbook whose
    /// `when` holds).
    #[arg(long, value_name = "NAME")]
    playbook: Option<String>,
    /// Perform the reads only; record what every write would do; change nothing on disk.
    #[arg(long)]
    dry_run: bool,
    /// Print the cases as a JSON array instead of text.
    #[arg(long)]
    json: bool,
    /// The state database (default: PROJECT/.parry/state.db).
    #[arg(long, value_name = "DB")]
    state: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let ws = match Workspace::load(&args.path) {
        Ok(ws) => ws,
        Err(e) => return report_error(e),
    };
    let request =
        RunRequest { alert: args.alert, playbook: args.playbook, dry_run: args.dry_run, state: args.state };
    let report = match ops::run_alert(&ws, &request) {
        Ok(r) => r,
        Err(e) => return report_error(e),
    };
    if args.json {
        let cases: Vec<serde_json::Value> = report
            .runs
            .iter()
            .map(|r| match &r.outcome {
                Ok(o) => serde_json::to_value(&o.case).unwrap_or_default(),
                Err(e) => serde_json::json!({ "playbook": r.playbook, "disposition": "failed", "error": e }),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&cases).unwrap_or_else(|_| "[]".to_string()));
        if report.no_match.is_some() {
            eprintln!("note: no playbook's `when` holds for this alert; nothing ran");
        }
    } else {
        print!("{}", render::run_report(&report, use_color()));
    }
    if report.any_failed() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Prints an error of the run-time commands the way the rest of the CLI does and returns its
/// exit status: compile errors with the compiler's renderer, `parry.toml` problems with
/// miette, everything else as `error: ...`.
pub fn report_error(e: ops::OpsError) -> ExitCode {
    let code = e.exit_code();
    match e {
        ops::OpsError::Compile(c) => {
            let errors: Vec<_> = c
                .diagnostics
                .iter()
                .filter(|d| d.effective_severity() == parry_compiler::Severity::Error)
                .cloned()
                .collect();
            let color = std::io::stderr().is_terminal() && no_color_unset();
            eprint!("{}", parry_compiler::render::render_human(&c.sources, &errors, color));
            eprintln!("error: {}", ops::OpsError::Compile(c));
        }
        ops::OpsError::Project(p) => eprintln!("{:?}", miette::Report::new(p)),
        other => eprintln!("error: {other}"),
    }
    ExitCode::from(code)
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Colour only for a terminal, and never when `NO_COLOR` is set.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && no_color_unset()
}
