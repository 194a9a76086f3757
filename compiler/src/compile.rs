//! The compiler's entry points: from a project (or in-memory sources) to a [`Compilation`].

use crate::analysis;
use crate::check;
use crate::ir;
use crate::project::{Config, FileSystem, Project};
use crate::source::SourceMap;
use crate::{Diagnostic, Severity};
use parry_syntax::ast::{FileId, Span};
use std::collections::HashMap;
use std::path::PathBuf;

/// The result of compiling a project: the files, the typed program (built best-effort even
/// when there are errors), every diagnostic sorted by file and position, and the config.
#[derive(Clone, Debug)]
pub struct Compilation {
    pub sources: SourceMap,
    pub program: ir::Program,
    pub diagnostics: Vec<Diagnostic>,
    pub config: Config,
}

impl Compilation {
    /// Whether any diagnostic is an error that no `@allow` suppressed. A program with
    /// errors must not be run.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.effective_severity() == Severity::Error)
    }

    /// The diagnostics of one file.
    pub fn diagnostics_for(&self, file: FileId) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(move |d| d.primary.span.file == file)
    }

    /// The id of a file of the compilation by its path.
    pub fn file_id(&self, path: &std::path::Path) -> Option<FileId> {
        self.sources.files().iter().find(|f| f.path == path).map(|f| f.id)
    }
}

/// Compiles every file of a project (and the standard library), reading through `fs`.
pub fn compile(project: &Project, fs: &dyn FileSystem) -> Compilation {
    let mut files = Vec::new();
    let mut io_errors = Vec::new();
    for path in &project.files {
        match fs.read_to_string(path) {
            Ok(text) => files.push((path.clone(), text)),
            Err(e) => {
                io_errors.push((path.clone(), e.to_string()));
                files.push((path.clone(), String::new()));
            }
        }
    }
    let mut c = compile_sources(files, project.config.clone());
    for (path, message) in io_errors {
        if let Some(id) = c.file_id(&path) {
            c.diagnostics.insert(
                0,
                Diagnostic::error(
                    "io-error",
                    format!("cannot read {}: {message}", path.display()),
                    Span::new(id, 0, 0),
                    "this file could not be read",
                )
                .with_help("check that the file exists and is readable"),
            );
        }
    }
    sort_diagnostics(&mut c.diagnostics);
    c
}

/// By file (in source-map order), then position, then code.
fn sort_diagnostics(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let (x, y) = (a.primary.span, b.primary.span);
        (x.file, x.start, x.end, &a.code).cmp(&(y.file, y.start, y.end, &b.code))
    });
}

/// Compiles in-memory sources (user files, in the order given) with the standard library.
pub fn compile_sources(files: Vec<(PathBuf, String)>, config: Config) -> Compilation {
    let mut sources = SourceMap::new();
    let mut parsed = Vec::new();
    let mut diagnostics = Vec::new();
    for (path, text) in files {
        let id = sources.add(&path, text);
        if let Some(f) = sources.get(id) {
            let (ast, diags) = parry_syntax::parse(id, &f.text);
            parsed.push((ast, false));
            diagnostics.extend(diags);
        }
    }
    for (name, text) in crate::stdlib::FILES {
        let id = sources.add(crate::stdlib::display_path(name), *text);
        let (ast, diags) = parry_syntax::parse(id, text);
        parsed.push((ast, true));
        diagnostics.extend(diags);
    }
    let (mut program, diags, allows) = check::check(&parsed, &sources, &config);
    diagnostics.extend(diags);
    let mut findings: Vec<(Diagnostic, Vec<Span>, Vec<ir::CallSiteId>)> =
        diagnostics.into_iter().map(|d| (d, Vec::new(), Vec::new())).collect();
    for f in analysis::analyze(&mut program, &config) {
        findings.push((f.diag, f.also_covered_by, f.sites));
    }
    // `@allow`: a finding whose primary span (or call chain) lies inside the statement or
    // declaration the attribute is on is kept, marked suppressed with the reason.
    let mut allowed_sites: HashMap<ir::CallSiteId, String> = HashMap::new();
    let mut diagnostics = Vec::with_capacity(findings.len());
    for (mut d, also, sites) in findings {
        if !matches!(
            d.code.as_str(),
            "syntax-error" | "allow-without-reason" | "override-forbidden" | "io-error"
        ) {
            let hit = allows.iter().find(|a| {
                a.valid
                    && a.code == d.code
                    && (a.covers.contains(&d.primary.span) || also.iter().any(|s| a.covers.contains(s)))
            });
            if let Some(a) = hit {
                d.suppressed = Some(a.reason.clone());
                for s in sites {
                    allowed_sites.insert(s, a.reason.clone());
                }
            }
        }
        diagnostics.push(d);
    }
    analysis::allow_sites(&mut program, &allowed_sites);
    sort_diagnostics(&mut diagnostics);
    diagnostics.dedup();
    Compilation { sources, program, diagnostics, config }
}
