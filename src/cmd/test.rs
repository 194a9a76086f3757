//! `parry test [PATH...] [--filter TEXT] [--json]`: runs the `test` blocks of projects.

use parry_compiler::{RealFs, compile, load_project, render};
use parry_interpreter::testing::{TestReport, run_tests_blocking};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directories or `.play` files (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Run only the tests whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let mut report = TestReport::default();
    let mut broken = false;
    for path in &paths {
        let project = match load_project(path, &RealFs) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                return ExitCode::from(2);
            }
        };
        let compilation = compile(&project, &RealFs);
        if compilation.has_errors() {
            broken = true;
            let color = std::io::stderr().is_terminal();
            eprint!("{}", render::render_human(&compilation.sources, &compilation.diagnostics, color));
            eprintln!(
                "error: {} has errors; no test ran there (fix them, `parry check {}` lists them)",
                path.display(),
                path.display()
            );
            continue;
        }
        match run_tests_blocking(&compilation, args.filter.as_deref()) {
            Ok(r) => {
                for t in r.tests {
                    report.push(t);
                }
            }
            Err(e) => return super::usage_error(e),
        }
    }
    if args.json {
        let value = serde_json::json!({
            "tests": report.tests,
            "passed": report.passed,
            "failed": report.failed,
            "errors": broken,
        });
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print!("{}", report.render());
    }
    if broken {
        ExitCode::from(2)
    } else if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
