//! Parry's syntax: the pest grammar, the owned AST with spans, and syntax diagnostics.

pub mod ast;
pub mod diagnostic;

pub use diagnostic::{Diagnostic, Label, Severity};
