//! The standard library: connector interfaces written in `.play` (`stdlib/*.play`),
//! embedded at build time and always in scope. A user declaration with the same name as a
//! standard-library declaration shadows it.

include!(concat!(env!("OUT_DIR"), "/stdlib_files.rs"));

/// The path shown in reports for an embedded file.
pub fn display_path(file_name: &str) -> String {
    format!("<stdlib>/{file_name}")
}
