//! `parry check [PATH...] [--format human|json|sarif] [--deny-warnings]`: syntax, types and the
//! safety rules over one or more projects, merged into one report.
//!
//! Exit status (LANGUAGE.md §8): 0 when there is no error (and no warning under
//! `--deny-warnings`), 1 when there are findings, 2 on a usage or I/O error (a missing path, an
//! unreadable file, an invalid `parry.toml`, no `.play` file to check). Suppressed findings never
//! count. With `--format json|sarif` stdout holds the report alone; everything else goes to stderr.

use parry_compiler::project::PROJECT_FILE;
use parry_compiler::render::{self, Format, Summary};
use parry_compiler::source::SourceMap;
use parry_compiler::{Diagnostic, compile};
use parry_compiler::{FileSystem, Project, ProjectError, RealFs, load_project};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The code of the diagnostic the compiler reports for a file it could not read.
const IO_ERROR: &str = "io-error";

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// Annotated source snippets and a summary line.
    Human,
    /// `{"diagnostics": [...]}`, one object per finding.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(clap::Args)]
pub struct Args {
    /// `.play` files or directories (searched recursively). The nearest `parry.toml` at or above
    /// a path makes it part of that project. Defaults to the current directory.
    paths: Vec<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
    /// Exit with status 1 when there are warnings, not only errors.
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(args: Args) -> ExitCode {
    let format = match args.format {
        OutputFormat::Human => Format::Human,
        OutputFormat::Json => Format::Json,
        OutputFormat::Sarif => Format::Sarif,
    };
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let fs = RealFs;
    let projects = match find_projects(&paths, &fs) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let reports: Vec<(SourceMap, Vec<Diagnostic>)> = projects
        .iter()
        .map(|project| {
            let compilation = compile(project, &fs);
            (compilation.sources, compilation.diagnostics)
        })
        .collect();
    let (sources, mut diagnostics) = render::merge(reports);
    render::sort_diagnostics(&mut diagnostics);

    let text = match format {
        Format::Human => render::render_human(&sources, &diagnostics, use_color()),
        Format::Json => render::render_json(&sources, &diagnostics),
        Format::Sarif => render::render_sarif(&sources, &diagnostics),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return super::usage_error(format!("cannot write the report: {e}"));
    }
    // A file that could not be read means the check is incomplete: a usage or I/O error, even
    // though the report (which names the file) was printed.
    if diagnostics.iter().any(|d| d.code == IO_ERROR) {
        eprintln!("error: some files could not be read; the check is incomplete");
        return ExitCode::from(2);
    }
    if Summary::of(&diagnostics).has_findings(args.deny_warnings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Colour only for a terminal, and never when `NO_COLOR` is set (https://no-color.org).
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Loads the project of every path, once per project root. Reports every bad path (not only the
/// first) on stderr before failing with exit status 2.
fn find_projects(paths: &[PathBuf], fs: &dyn FileSystem) -> Result<Vec<Project>, ExitCode> {
    let mut projects: Vec<Project> = Vec::new();
    let mut seen: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut failed = false;
    for path in paths {
        if !fs.is_file(path) && !fs.is_dir(path) {
            eprintln!("error: {}: no such file or directory", path.display());
            eprintln!("  help: give a .play file or a directory that contains .play files");
            failed = true;
            continue;
        }
        if fs.is_file(path) && !is_checkable_file(path) {
            eprintln!("error: {}: not a .play file", path.display());
            eprintln!("  help: `parry check` takes .play files, directories or a {PROJECT_FILE}");
            failed = true;
            continue;
        }
        let loaded = match projects_at(path, fs) {
            Ok(loaded) => loaded,
            Err(err) => {
                eprintln!("{:?}", miette::Report::new(err));
                failed = true;
                continue;
            }
        };
        if loaded.iter().all(|p| p.files.is_empty()) {
            eprintln!("error: no .play files found in {}", path.display());
            eprintln!("  help: run `parry check` in a project directory, or pass the files to check");
            failed = true;
            continue;
        }
        for project in loaded.into_iter().filter(|p| !p.files.is_empty()) {
            // Two paths in the same project are checked once.
            let key = (canonical(&project.root), project.files.iter().map(|f| canonical(f)).collect());
            if !seen.contains(&key) {
                seen.push(key);
                projects.push(project);
            }
        }
    }
    if failed { Err(ExitCode::from(2)) } else { Ok(projects) }
}

/// The projects a path stands for. A path inside a project (a `parry.toml` at or above it) is
/// that project. A directory that is in no project may hold several (say `examples/`, whose
/// subdirectories each have their own `parry.toml`): each is loaded on its own, with its own
/// policy and namespace, and the `.play` files outside all of them form one more project with
/// the default configuration.
fn projects_at(path: &Path, fs: &dyn FileSystem) -> Result<Vec<Project>, ProjectError> {
    let project = load_project(path, fs)?;
    if fs.is_file(&project.root.join(PROJECT_FILE)) || !fs.is_dir(path) {
        return Ok(vec![project]);
    }
    let mut roots = Vec::new();
    nested_roots(path, fs, &mut roots);
    if roots.is_empty() {
        return Ok(vec![project]);
    }
    let mut projects = Vec::with_capacity(roots.len() + 1);
    for root in &roots {
        projects.push(load_project(root, fs)?);
    }
    let loose: Vec<PathBuf> =
        project.files.iter().filter(|f| !roots.iter().any(|r| f.starts_with(r))).cloned().collect();
    projects.push(Project { files: loose, ..project });
    Ok(projects)
}

/// The directories below `dir` that hold a `parry.toml`, outermost only; hidden directories and
/// `target/` are skipped, as when collecting a project's files.
fn nested_roots(dir: &Path, fs: &dyn FileSystem, out: &mut Vec<PathBuf>) {
    let Ok(mut entries) = fs.read_dir(dir) else { return };
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    for entry in entries.into_iter().filter(|e| e.is_dir) {
        let name = entry.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if fs.is_file(&entry.path.join(PROJECT_FILE)) {
            out.push(entry.path);
        } else {
            nested_roots(&entry.path, fs, out);
        }
    }
}

fn is_checkable_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "play") || path.file_name().is_some_and(|n| n == PROJECT_FILE)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
