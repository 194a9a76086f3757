//! Embeds the standard library: every `stdlib/*.play` file of the workspace is compiled in
//! with `include_str!`, in name order. A missing directory embeds nothing.

use std::path::Path;

fn main() {
    // Read when the script runs, not when it is compiled: a build script compiled for one
    // checkout may be reused by cargo for another.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
    let dir = Path::new(&manifest_dir).join("..").join("stdlib");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "play"))
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        println!(
            "cargo:warning=no standard-library files in {}: the built-in connectors will be missing",
            dir.display()
        );
    }
    let mut out = String::from("/// `(file name, contents)` of every embedded standard-library file.\n");
    out.push_str("pub const FILES: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(e) = std::fs::write(Path::new(&out_dir).join("stdlib_files.rs"), out) {
        println!("cargo:warning=cannot write the stdlib table: {e}");
        std::process::exit(1);
    }
}
