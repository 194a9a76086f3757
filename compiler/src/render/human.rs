//! The human report: codespan-reporting snippets with primary and secondary labels, notes and
//! help, and a closing summary line.

use super::Summary;
use crate::source::SourceMap;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel, Severity as CsSeverity};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::termcolor::{Ansi, NoColor, WriteColor};
use codespan_reporting::term::{self, Config};
use parry_syntax::ast::{FileId, Span};
use parry_syntax::{Diagnostic, Severity};
use std::ops::Range;

/// Renders every diagnostic, then the summary line (`2 errors, 1 warning`). With `color`, the
/// text carries ANSI escapes (use it only when writing to a terminal).
pub fn render_human(sources: &SourceMap, diagnostics: &[Diagnostic], color: bool) -> String {
    let mut out = if color {
        render_into(Ansi::new(Vec::new()), sources, diagnostics)
    } else {
        render_into(NoColor::new(Vec::new()), sources, diagnostics)
    };
    out.push_str(&Summary::of(diagnostics).to_string());
    out.push('\n');
    out
}

trait IntoBytes: WriteColor {
    fn into_bytes(self) -> Vec<u8>;
}
impl IntoBytes for Ansi<Vec<u8>> {
    fn into_bytes(self) -> Vec<u8> {
        self.into_inner()
    }
}
impl IntoBytes for NoColor<Vec<u8>> {
    fn into_bytes(self) -> Vec<u8> {
        self.into_inner()
    }
}

fn render_into<W: IntoBytes>(mut writer: W, sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let files = Sources(sources);
    let config = Config::default();
    for d in diagnostics {
        let cs = to_codespan(sources, d);
        if term::emit(&mut writer, &config, &files, &cs).is_err() {
            // The spans do not fit the files (should not happen once clamped); still report
            // the finding, without a snippet.
            let fallback = CsDiagnostic { labels: Vec::new(), ..cs };
            let _ = term::emit(&mut writer, &config, &files, &fallback);
        }
    }
    String::from_utf8_lossy(&writer.into_bytes()).into_owned()
}

fn to_codespan(sources: &SourceMap, d: &Diagnostic) -> CsDiagnostic<FileId> {
    let severity = match d.effective_severity() {
        Severity::Error => CsSeverity::Error,
        Severity::Warning => CsSeverity::Warning,
        Severity::Note => CsSeverity::Note,
    };
    let mut labels = Vec::with_capacity(1 + d.secondary.len());
    if let Some(range) = clamp(sources, d.primary.span) {
        labels.push(CsLabel::primary(d.primary.span.file, range).with_message(&d.primary.message));
    }
    for l in &d.secondary {
        if let Some(range) = clamp(sources, l.span) {
            labels.push(CsLabel::secondary(l.span.file, range).with_message(&l.message));
        }
    }
    let mut notes = Vec::new();
    if let Some(reason) = &d.suppressed {
        notes.push(format!(
            "allowed: this {} was silenced by @allow(\"{}\", reason: \"{}\")",
            d.severity.as_str(),
            d.code,
            reason
        ));
    }
    notes.extend(d.notes.iter().map(|n| format!("note: {n}")));
    if let Some(help) = &d.help {
        notes.push(format!("help: {help}"));
    }
    CsDiagnostic::new(severity)
        .with_code(&d.code)
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// The span's byte range, clamped to the file and to character boundaries; `None` when the
/// file is not in the map.
fn clamp(sources: &SourceMap, span: Span) -> Option<Range<usize>> {
    let text = &sources.get(span.file)?.text;
    let floor = |mut o: usize| {
        o = o.min(text.len());
        while o > 0 && !text.is_char_boundary(o) {
            o -= 1;
        }
        o
    };
    let start = floor(span.start as usize);
    let end = floor(span.end as usize).max(start);
    Some(start..end)
}

/// `SourceMap` seen as a codespan file database.
struct Sources<'a>(&'a SourceMap);

impl<'a> Files<'a> for Sources<'a> {
    type FileId = FileId;
    type Name = String;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<String, FilesError> {
        self.0.get(id).map(|f| f.name()).ok_or(FilesError::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        self.0.get(id).map(|f| f.text.as_str()).ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        let file = self.0.get(id).ok_or(FilesError::FileMissing)?;
        Ok(file.line_col(byte_index).0 - 1)
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, FilesError> {
        let file = self.0.get(id).ok_or(FilesError::FileMissing)?;
        let start_of = |line: usize| match line.cmp(&file.line_count()) {
            std::cmp::Ordering::Less => file.line_start(line).ok_or(FilesError::FileMissing),
            std::cmp::Ordering::Equal => Ok(file.text.len()),
            std::cmp::Ordering::Greater => {
                Err(FilesError::LineTooLarge { given: line, max: file.line_count().saturating_sub(1) })
            }
        };
        Ok(start_of(line_index)?..start_of(line_index + 1)?)
    }
}
