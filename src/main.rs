//! The `parry` command line. Thin: each subcommand parses its arguments and calls one
//! library function; see `src/cmd/`.

// jemalloc: a run allocates many small, short-lived values (decoded results, journal
// entries, case records), and its free lists serve them markedly faster than the system
// allocator's (`cargo bench -p parry-interpreter --bench engine`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

/// Parry: check, test and run security-automation playbooks.
#[derive(Parser)]
#[command(name = "parry", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check playbooks: syntax, types and the safety rules (approvals, blast radius, secrets).
    Check(cmd::check::Args),
    /// Format .play files in the canonical style.
    Fmt(cmd::fmt::Args),
    /// Run the `test` blocks of a project, offline, with mocked connectors.
    Test(cmd::test::Args),
    /// Run the matching playbooks on an alert and print the case.
    Run(cmd::run::Args),
    /// List the approvals that runs are waiting for.
    Approvals(cmd::approvals::ListArgs),
    /// Grant or deny a pending approval.
    Approve(cmd::approvals::ApproveArgs),
    /// Resume runs whose approvals were decided (or one run).
    Resume(cmd::approvals::ResumeArgs),
    /// Undo the reversible actions of a run, newest first.
    Undo(cmd::cases::UndoArgs),
    /// List the cases of past runs.
    Cases(cmd::cases::CasesArgs),
    /// Runs, dispositions, automation rate and analyst time saved, per playbook.
    Stats(cmd::cases::StatsArgs),
    /// Draw a playbook's control flow with each action's effect and gate.
    Graph(cmd::graph::Args),
    /// Explain a diagnostic code, with a failing and a fixed example.
    Explain(cmd::explain::Args),
    /// Start the language server on stdin/stdout.
    Lsp(cmd::lsp::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(a) => cmd::check::run(a),
        Command::Fmt(a) => cmd::fmt::run(a),
        Command::Test(a) => cmd::test::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Approvals(a) => cmd::approvals::list(a),
        Command::Approve(a) => cmd::approvals::approve(a),
        Command::Resume(a) => cmd::approvals::resume(a),
        Command::Undo(a) => cmd::cases::undo(a),
        Command::Cases(a) => cmd::cases::cases(a),
        Command::Stats(a) => cmd::cases::stats(a),
        Command::Graph(a) => cmd::graph::run(a),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Lsp(a) => cmd::lsp::run(a),
    }
}
