//! Parry's interpreter: runtime values, built-ins, the journal and case store, connectors and
//! the engine that runs playbooks.

pub mod builtins;
pub mod connectors;
pub mod engine;
pub mod extract;
pub mod ops;
pub mod store;
pub mod testing;
pub mod value;
