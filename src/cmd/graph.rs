//! `parry graph PATH --playbook NAME [--format mermaid|dot]`: draw a playbook's control flow,
//! with each action's effect, gate and bound, as Mermaid (default) or Graphviz DOT on stdout.
//!
//! A project with syntax, name or type errors is not drawn (its program is incomplete): the
//! errors go to stderr and the exit status is 1. Safety findings do not prevent the drawing —
//! the graph is how you see which call is ungated — but are summarised on stderr.

use parry_compiler::project::PROJECT_FILE;
use parry_compiler::render::{Summary, render_human, sort_diagnostics};
use parry_compiler::{Diagnostic, GraphFormat, RealFs, Severity, compile, load_project, render_graph};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// Mermaid flowchart (renders in GitHub, GitLab and most Markdown viewers).
    Mermaid,
    /// Graphviz DOT (`parry graph ... --format dot | dot -Tsvg > flow.svg`).
    Dot,
}

#[derive(clap::Args)]
pub struct Args {
    /// A `.play` file or a project directory.
    path: PathBuf,
    /// The playbook to draw.
    #[arg(long)]
    playbook: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: OutputFormat,
}

/// The codes that describe what the program may do, not whether it is well-formed: the program
/// is complete despite them, and the graph shows where they are.
const SAFETY: &[&str] = parry_syntax::diagnostic::SAFETY_CODES;

pub fn run(args: Args) -> ExitCode {
    let fs = RealFs;
    if !args.path.exists() {
        eprintln!("error: {}: no such file or directory", args.path.display());
        eprintln!("  help: give a .play file or a directory containing a {PROJECT_FILE}");
        return ExitCode::from(2);
    }
    let project = match load_project(&args.path, &fs) {
        Ok(p) => p,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            return ExitCode::from(2);
        }
    };
    if project.files.is_empty() {
        return super::usage_error(format!("no .play files found in {}", args.path.display()));
    }
    let compilation = compile(&project, &fs);
    let mut blocking: Vec<Diagnostic> = compilation
        .diagnostics
        .iter()
        .filter(|d| d.effective_severity() == Severity::Error && !SAFETY.contains(&d.code.as_str()))
        .cloned()
        .collect();
    if !blocking.is_empty() {
        sort_diagnostics(&mut blocking);
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render_human(&compilation.sources, &blocking, color));
        eprintln!("error: cannot draw `{}` until these errors are fixed", args.playbook);
        return ExitCode::from(1);
    }
    let format = match args.format {
        OutputFormat::Mermaid => GraphFormat::Mermaid,
        OutputFormat::Dot => GraphFormat::Dot,
    };
    let text = match render_graph(&compilation.program, &args.playbook, format) {
        Ok(t) => t,
        Err(message) => return super::usage_error(message),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return super::usage_error(format!("cannot write the graph: {e}"));
    }
    let summary = Summary::of(&compilation.diagnostics);
    if summary.errors > 0 {
        eprintln!(
            "note: the project has {} safety error(s); run `parry check {}` for details",
            summary.errors,
            args.path.display()
        );
    }
    ExitCode::SUCCESS
}
