//! Parry's compiler: project loading, resolution, types, the typed IR, the safety analyses,
//! and the diagnostic renderers.

pub mod source;

pub use parry_syntax::{Diagnostic, Label, Severity};
