//! Parry's compiler: project loading, resolution, types, the typed IR, the safety analyses,
//! and the diagnostic renderers.

mod analysis;
mod check;
mod compile;
pub mod fmt;
pub mod graph;
pub mod ir;
pub mod project;
pub mod render;
pub mod security;
pub mod source;
pub mod stdlib;
pub mod suggest;
pub mod visit;

pub use check::action_signature;
pub use compile::{Compilation, compile, compile_sources};
pub use graph::{GraphFormat, render_graph};
pub use parry_syntax::{Diagnostic, Label, Severity};
pub use project::{Config, FileSystem, OverlayFs, Project, ProjectError, RealFs, load_project};
