//! The JSON report of LANGUAGE.md §8:
//! `{"diagnostics": [{"code", "severity", "message", "file", "line", "column", "end_line",
//! "end_column", "suppressed", ...}]}`. The required fields come first, with exactly those
//! names; the fields after them (`label`, `labels`, `notes`, `help`, `reason`) add detail.

use super::{Location, Summary};
use crate::source::SourceMap;
use parry_syntax::Diagnostic;
use serde::Serialize;

#[derive(Serialize)]
pub struct JsonReport {
    pub diagnostics: Vec<JsonDiagnostic>,
    pub summary: JsonSummary,
}

#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    /// `error`, `warning` or `note`; a suppressed finding is a `note`.
    pub severity: &'static str,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub suppressed: bool,
    /// The severity the finding has when it is not suppressed.
    pub default_severity: &'static str,
    /// The message under the primary span.
    pub label: String,
    /// Secondary spans (e.g. the chain of calls that reaches a destructive action).
    pub labels: Vec<JsonLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The reason given by the `@allow` that suppressed this finding.
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[derive(Serialize)]
pub struct JsonSummary {
    pub errors: usize,
    pub warnings: usize,
    pub suppressed: usize,
}

/// The report as a serializable value.
pub fn to_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> JsonReport {
    let summary = Summary::of(diagnostics);
    JsonReport {
        diagnostics: diagnostics.iter().map(|d| diagnostic(sources, d)).collect(),
        summary: JsonSummary {
            errors: summary.errors,
            warnings: summary.warnings,
            suppressed: summary.suppressed,
        },
    }
}

/// The report as pretty-printed JSON text, ending with a newline.
pub fn render_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let mut text = serde_json::to_string_pretty(&to_json(sources, diagnostics))
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the report: {e}\"}}"));
    text.push('\n');
    text
}

fn diagnostic(sources: &SourceMap, d: &Diagnostic) -> JsonDiagnostic {
    let at = Location::of(sources, d.primary.span);
    JsonDiagnostic {
        code: d.code.clone(),
        severity: d.effective_severity().as_str(),
        message: d.message.clone(),
        file: at.file,
        line: at.line,
        column: at.column,
        end_line: at.end_line,
        end_column: at.end_column,
        suppressed: d.suppressed.is_some(),
        default_severity: d.severity.as_str(),
        label: d.primary.message.clone(),
        labels: d
            .secondary
            .iter()
            .map(|l| {
                let at = Location::of(sources, l.span);
                JsonLabel {
                    message: l.message.clone(),
                    file: at.file,
                    line: at.line,
                    column: at.column,
                    end_line: at.end_line,
                    end_column: at.end_column,
                }
            })
            .collect(),
        notes: d.notes.clone(),
        help: d.help.clone(),
        reason: d.suppressed.clone(),
    }
}
