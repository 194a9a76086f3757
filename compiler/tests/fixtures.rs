//! Snapshot tests of the checker: every case under `tests/fixtures/check/` (a `.play` file,
//! or a directory project with its `parry.toml`) is compiled, and the snapshot holds the
//! case's sources followed by its diagnostics, so a reviewer reads both at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::{Compilation, RealFs, compile, load_project};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `file:line:col severity code: message`, then the labels, notes and help.
fn render(c: &Compilation, root: &Path) -> String {
    let mut out = String::new();
    let name = |id| {
        c.sources
            .get(id)
            .map(|f| {
                let p = f.path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| f.path.clone());
                let p = if p.as_os_str().is_empty() {
                    f.path.file_name().map(PathBuf::from).unwrap_or_default()
                } else {
                    p
                };
                p.display().to_string()
            })
            .unwrap_or_default()
    };
    let at = |span: parry_syntax::ast::Span| {
        let (l, col) = c.sources.get(span.file).map(|f| f.line_col(span.start as usize)).unwrap_or((0, 0));
        format!("{}:{l}:{col}", name(span.file))
    };
    for d in &c.diagnostics {
        let sev = if d.suppressed.is_some() { "note (suppressed)" } else { d.severity.as_str() };
        writeln!(out, "{} {sev} {}: {}", at(d.primary.span), d.code, d.message).unwrap();
        writeln!(out, "    = {}", d.primary.message).unwrap();
        for s in &d.secondary {
            writeln!(out, "    - {}: {}", at(s.span), s.message).unwrap();
        }
        for n in &d.notes {
            writeln!(out, "    note: {n}").unwrap();
        }
        if let Some(h) = &d.help {
            writeln!(out, "    help: {h}").unwrap();
        }
        if let Some(r) = &d.suppressed {
            writeln!(out, "    suppressed: {r}").unwrap();
        }
    }
    if c.diagnostics.is_empty() {
        out.push_str("(no diagnostics)\n");
    }
    out
}

fn case_files(case: &Path) -> Vec<PathBuf> {
    if case.is_file() {
        return vec![case.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(case)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "play" || x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn check_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let project = load_project(&case, &RealFs).unwrap();
        let c = compile(&project, &RealFs);
        let root = if case.is_dir() { case.clone() } else { case.parent().unwrap().to_path_buf() };
        let mut snap = String::new();
        for f in case_files(&case) {
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            writeln!(snap, "==> {rel}").unwrap();
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, line) in text.lines().enumerate() {
                writeln!(snap, "{:>3} | {line}", i + 1).unwrap();
            }
        }
        writeln!(snap, "==> diagnostics").unwrap();
        snap.push_str(&render(&c, &root));
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(format!("check__{name}"), snap);
        });
    }
}

/// The IR serializes and deserializes without loss (the interpreter may cache it).
#[test]
fn ir_round_trips_through_json() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/unbounded_containment_pass.play");
    let project = load_project(&dir, &RealFs).unwrap();
    let c = compile(&project, &RealFs);
    let json = serde_json::to_string(&c.program).unwrap();
    let back: parry_compiler::ir::Program = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.program);
}
