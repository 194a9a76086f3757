//! The one diagnostic type every phase produces. Renderers (human, JSON, SARIF) and the
//! language server all convert this struct; nothing else describes a finding.

use crate::ast::Span;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A span with a message, e.g. "the chain of calls passes here".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Kebab-case code from LANGUAGE.md, e.g. `unapproved-destructive`.
    pub code: String,
    pub severity: Severity,
    /// One sentence: what is wrong.
    pub message: String,
    /// Where, and a short label shown under it.
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// Extra facts ("the policy allows 25 automatic targets").
    pub notes: Vec<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// Set when an `@allow` silenced this finding; holds the reason given.
    pub suppressed: Option<String>,
}

impl Diagnostic {
    pub fn new(
        code: &str,
        severity: Severity,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code: code.to_string(),
            severity,
            message: message.into(),
            primary: Label { span, message: label.into() },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
            suppressed: None,
        }
    }

    pub fn error(code: &str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, Severity::Error, message, span, label)
    }

    pub fn warning(
        code: &str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(code, Severity::Warning, message, span, label)
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The severity a report shows: a suppressed finding is reported as a note.
    pub fn effective_severity(&self) -> Severity {
        if self.suppressed.is_some() { Severity::Note } else { self.severity }
    }
}

/// The codes of LANGUAGE.md §5, with their default severity.
pub const CODES: &[(&str, Severity)] = &[
    ("syntax-error", Severity::Error),
    ("unknown-name", Severity::Error),
    ("duplicate-definition", Severity::Error),
    ("type-mismatch", Severity::Error),
    ("wrong-arguments", Severity::Error),
    ("invalid-literal", Severity::Error),
    ("non-exhaustive-match", Severity::Error),
    ("recursive-function", Severity::Error),
    ("test-only", Severity::Error),
    ("unapproved-destructive", Severity::Error),
    ("unbounded-containment", Severity::Error),
    ("missing-undo", Severity::Error),
    ("secret-leak", Severity::Error),
    ("allow-without-reason", Severity::Error),
    ("override-forbidden", Severity::Error),
    ("approval-in-loop", Severity::Warning),
    ("no-disposition", Severity::Warning),
    ("unreachable-code", Severity::Warning),
    ("unused-variable", Severity::Warning),
];

/// Codes that `policy.allow_overrides = false` forbids silencing.
pub const SAFETY_CODES: &[&str] =
    &["unapproved-destructive", "unbounded-containment", "missing-undo", "secret-leak"];
