//! From the compiler's diagnostics and spans to LSP values.

use crate::analysis::Snapshot;
use crate::position::{Encoding, LineIndex};
use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location, NumberOrString, Url,
};
use parry_syntax::ast::Span;
use parry_syntax::{Diagnostic, Severity};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The LSP form of a diagnostic of the file `text` (indexed by `index`). A finding an
/// `@allow` suppressed is shown as a hint that gives the reason; secondary labels (such as
/// the chain of calls that reaches an unapproved destructive action) become related
/// information.
pub fn diagnostic(
    snap: &Snapshot,
    d: &Diagnostic,
    index: &LineIndex,
    text: &str,
    enc: Encoding,
) -> lsp_types::Diagnostic {
    let range = index.range(text, d.primary.span.start as usize, d.primary.span.end as usize, enc);
    let severity = match (&d.suppressed, d.severity) {
        (Some(_), _) => DiagnosticSeverity::HINT,
        (None, Severity::Error) => DiagnosticSeverity::ERROR,
        (None, Severity::Warning) => DiagnosticSeverity::WARNING,
        (None, Severity::Note) => DiagnosticSeverity::INFORMATION,
    };
    let mut message = d.message.clone();
    if let Some(reason) = &d.suppressed {
        message.push_str(&format!("\nallowed by @allow: {reason}"));
    }
    if !d.primary.message.is_empty() && d.primary.message != d.message {
        message.push_str(&format!("\n{}", d.primary.message));
    }
    for note in &d.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: location(snap, l.span, enc)?,
                message: l.message.clone(),
            })
        })
        .collect();
    let tags = match d.code.as_str() {
        "unused-variable" | "unreachable-code" => Some(vec![DiagnosticTag::UNNECESSARY]),
        _ => None,
    };
    lsp_types::Diagnostic {
        range,
        severity: Some(severity),
        code: Some(NumberOrString::String(d.code.clone())),
        // Each code is explained by `parry explain CODE`; there is no page URL to link.
        code_description: None,
        source: Some("parry".to_string()),
        message,
        related_information: if related.is_empty() { None } else { Some(related) },
        tags,
        data: None,
    }
}

/// Where a span of any file of the snapshot is (standard-library files are written to a
/// cache directory so editors can open them).
pub fn location(snap: &Snapshot, span: Span, enc: Encoding) -> Option<Location> {
    let file = snap.sources.get(span.file)?;
    let uri = snap.uris.get(&span.file)?.clone();
    let index = LineIndex::new(&file.text);
    Some(Location { uri, range: index.range(&file.text, span.start as usize, span.end as usize, enc) })
}

/// A readable copy of an embedded standard-library file (`<stdlib>/mail.play`) in the
/// temporary directory, for go-to-definition into the standard library.
pub fn stdlib_uri(display: &Path, text: &str) -> Option<Url> {
    static CACHE: Mutex<Option<HashMap<PathBuf, Url>>> = Mutex::new(None);
    let mut cache = CACHE.lock().ok()?;
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(uri) = cache.get(display) {
        return Some(uri.clone());
    }
    let name = display.file_name()?;
    let dir = std::env::temp_dir().join(format!("parry-stdlib-{}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(name);
    let current = std::fs::read_to_string(&path).ok();
    if current.as_deref() != Some(text) {
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(&path, text).ok()?;
    }
    let uri = Url::from_file_path(&path).ok()?;
    cache.insert(display.to_path_buf(), uri.clone());
    Some(uri)
}
