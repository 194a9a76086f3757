//! Renderers for compiler diagnostics: human (codespan-reporting), JSON (LANGUAGE.md §8) and
//! SARIF 2.1.0. All three take the same `SourceMap` and `Diagnostic`s, so every output format
//! describes exactly the same findings.

mod codes;
pub mod human;
pub mod json;
pub mod sarif;

#[cfg(test)]
mod tests;

pub use codes::{code_summary, docs_path};
pub use human::render_human;
pub use json::{render_json, to_json};
pub use sarif::{render_sarif, to_sarif};

use crate::source::{SourceFile, SourceMap};
use parry_syntax::ast::{FileId, Span};
use parry_syntax::{Diagnostic, Severity};
use std::fmt;

/// The output formats of `parry check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

/// Counts of the findings in a report. Suppressed findings count only as `suppressed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    pub suppressed: usize,
}

impl Summary {
    pub fn of(diagnostics: &[Diagnostic]) -> Summary {
        let mut s = Summary::default();
        for d in diagnostics {
            if d.suppressed.is_some() {
                s.suppressed += 1;
                continue;
            }
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Note => s.notes += 1,
            }
        }
        s
    }

    /// Whether the report counts as "findings" (exit status 1): any error, or any warning when
    /// warnings are denied. Suppressed findings never count.
    pub fn has_findings(&self, deny_warnings: bool) -> bool {
        self.errors > 0 || (deny_warnings && self.warnings > 0)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Summary {
    /// `2 errors, 1 warning`, then `, 1 allowed` when some findings were suppressed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}",
            plural(self.errors, "error", "errors"),
            plural(self.warnings, "warning", "warnings")
        )?;
        if self.notes > 0 {
            write!(f, ", {}", plural(self.notes, "note", "notes"))?;
        }
        if self.suppressed > 0 {
            write!(f, ", {} allowed", self.suppressed)?;
        }
        Ok(())
    }
}

/// Where a span lies, 1-based, columns in Unicode scalar values. `end_column` is the column
/// just after the last character (exclusive), as in SARIF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Location {
    /// The location of a span; a span whose file is not in the map yields an empty location
    /// at 1:1 (never a panic).
    pub fn of(sources: &SourceMap, span: Span) -> Location {
        match sources.get(span.file) {
            Some(file) => {
                let start = span.start as usize;
                let end = (span.end as usize).max(start);
                let (line, column) = file.line_col(start);
                let (end_line, end_column) = file.line_col(end);
                Location { file: file.name(), line, column, end_line, end_column }
            }
            None => Location { file: String::new(), line: 1, column: 1, end_line: 1, end_column: 1 },
        }
    }
}

/// Orders diagnostics by file, then position, so reports read top to bottom. Stable: findings at
/// the same place keep the order the compiler produced them in.
pub fn sort_diagnostics(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.primary.span.file, d.primary.span.start, d.primary.span.end));
}

/// Merges the results of several compilations (one per project) into one source map and one
/// list of diagnostics, re-numbering file ids so every span points into the merged map.
pub fn merge(reports: Vec<(SourceMap, Vec<Diagnostic>)>) -> (SourceMap, Vec<Diagnostic>) {
    let mut merged = SourceMap::new();
    let mut diagnostics = Vec::new();
    for (sources, diags) in reports {
        let ids: Vec<FileId> =
            sources.files().iter().map(|f: &SourceFile| merged.add(&f.path, f.text.clone())).collect();
        let remap = |span: Span| Span {
            file: ids.get(span.file.0 as usize).copied().unwrap_or(FileId(u32::MAX)),
            ..span
        };
        for mut d in diags {
            d.primary.span = remap(d.primary.span);
            for label in &mut d.secondary {
                label.span = remap(label.span);
            }
            diagnostics.push(d);
        }
    }
    (merged, diagnostics)
}
