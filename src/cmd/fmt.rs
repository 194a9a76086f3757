//! `parry fmt [--check] [PATH...]`: rewrite `.play` files in the canonical style.

use parry_compiler::fmt::format_source;
use parry_compiler::render::render_human;
use parry_compiler::source::SourceMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Change nothing: print a diff for each file that is not formatted and exit 1 if any.
    #[arg(long)]
    check: bool,
    /// Files and directories to format (directories are searched for `*.play` files).
    /// Defaults to the current directory.
    paths: Vec<PathBuf>,
}

/// What happened to one file.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

pub fn run(args: Args) -> ExitCode {
    let roots = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths.clone() };
    let mut files = Vec::new();
    let mut failed = false;
    for root in &roots {
        if let Err(message) = collect(root, &mut files) {
            eprintln!("error: {message}");
            failed = true;
        }
    }
    let mut changed = 0usize;
    for file in &files {
        match format_file(file, args.check) {
            Outcome::Unchanged => {}
            Outcome::Changed => changed += 1,
            Outcome::Failed => failed = true,
        }
    }
    if args.check && changed > 0 {
        let s = if changed == 1 { "" } else { "s" };
        eprintln!("{changed} file{s} would be reformatted; run `parry fmt` to format them");
    }
    if failed {
        ExitCode::from(2)
    } else if args.check && changed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn format_file(path: &Path, check: bool) -> Outcome {
    let original = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return Outcome::Failed;
        }
    };
    let formatted = match format_source(&original) {
        Ok(text) => text,
        Err(diagnostics) => {
            let mut sources = SourceMap::new();
            sources.add(path, original);
            eprint!("{}", render_human(&sources, &diagnostics, std::io::stderr().is_terminal()));
            eprintln!("error: {} was not formatted: fix the syntax errors above first", path.display());
            return Outcome::Failed;
        }
    };
    if formatted == original {
        return Outcome::Unchanged;
    }
    if check {
        let name = path.display().to_string();
        let diff = similar::TextDiff::from_lines(&original, &formatted);
        print!("{}", diff.unified_diff().context_radius(3).header(&name, &name));
        return Outcome::Changed;
    }
    match std::fs::write(path, &formatted) {
        Ok(()) => Outcome::Changed,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            Outcome::Failed
        }
    }
}

/// The files to format under `root`: the file itself, or every `*.play` file below a
/// directory (hidden directories and `target` skipped), in a stable order.
fn collect(root: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    if meta.is_file() {
        out.push(root.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| format!("cannot list {}: {e}", root.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "play") {
            out.push(path);
        }
    }
    Ok(())
}
