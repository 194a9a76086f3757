//! The formatter and `parry fmt`: snapshots of `tests/fixtures/fmt/*.play` (ugly input,
//! canonical output), idempotency and meaning preservation over every `.play` file of the
//! project and the conformance corpus, and the command line's behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::fmt::{format_source, same_syntax};
use parry_syntax::ast::FileId;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn play_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                play_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "play") {
            out.push(path);
        }
    }
}

/// Every `.play` file the formatter must handle: fixtures, the standard library, the
/// examples, the editor grammar samples and the shared conformance corpus.
fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["tests/fixtures", "stdlib", "examples", "editors", "docs"] {
        play_files(&root().join(dir), &mut files);
    }
    play_files(&root().join("../shared/spec/conformance"), &mut files);
    files
}

#[test]
fn formatting_is_idempotent_and_preserves_the_syntax_tree() {
    let files = corpus();
    assert!(!files.is_empty(), "no .play files found");
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in &files {
        let src = std::fs::read_to_string(path).unwrap();
        let (before, diags) = parry_syntax::parse(FileId(0), &src);
        if diags.iter().any(|d| d.severity == parry_syntax::Severity::Error) {
            // Syntax-error cases: the formatter must refuse them.
            assert!(format_source(&src).is_err(), "{} has syntax errors but was formatted", path.display());
            continue;
        }
        let once = match format_source(&src) {
            Ok(text) => text,
            Err(d) => {
                failures.push(format!("{}: refused: {:?}", path.display(), d.first().map(|d| &d.message)));
                continue;
            }
        };
        let (after, diags) = parry_syntax::parse(FileId(0), &once);
        if !diags.is_empty() || !same_syntax(&before, &after) {
            failures.push(format!("{}: formatting changed the syntax tree", path.display()));
            continue;
        }
        let twice = format_source(&once).unwrap_or_default();
        if twice != once {
            let diff = similar::TextDiff::from_lines(&once, &twice).unified_diff().to_string();
            failures.push(format!("{}: not idempotent:\n{diff}", path.display()));
            continue;
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 0);
}

#[test]
fn formatting_fixtures() {
    let mut files = Vec::new();
    play_files(&root().join("tests/fixtures/fmt"), &mut files);
    assert!(!files.is_empty());
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let formatted = match format_source(&src) {
            Ok(text) => text,
            Err(diags) => {
                let lines: Vec<String> = diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
                format!("refused:\n{}\n", lines.join("\n"))
            }
        };
        // The snapshot shows the input and the canonical output, so a reviewer reads both.
        let shown = format!("{src}\n---------------- formatted ----------------\n{formatted}");
        insta::with_settings!({ snapshot_path => root().join("tests/snapshots/fmt"), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, shown);
        });
    }
}

// ---------------------------------------------------------------- the command line

fn parry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parry"))
}

/// A fresh directory, removed when the test ends.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("parry-fmt-").tempdir().unwrap()
}

const UGLY: &str = "playbook p(a: {x: int}) {\n    note   a.x+1\n\n\n    resolve \"done\"\n}\n";
const CANONICAL: &str = "playbook p(a: { x: int }) {\n  note a.x + 1\n\n  resolve \"done\"\n}\n";

#[test]
fn fmt_rewrites_files_in_place_recursively() {
    let scratch = scratch();
    let dir = scratch.path();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.play"), UGLY).unwrap();
    std::fs::write(dir.join("b.play"), CANONICAL).unwrap();
    std::fs::write(dir.join("notes.txt"), UGLY).unwrap();
    let out = parry().arg("fmt").arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("sub/a.play")).unwrap(), CANONICAL);
    assert_eq!(std::fs::read_to_string(dir.join("b.play")).unwrap(), CANONICAL);
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), UGLY);
}

#[test]
fn fmt_check_prints_a_diff_and_changes_nothing() {
    let scratch = scratch();
    let dir = scratch.path();
    let file = dir.join("a.play");
    std::fs::write(&file, UGLY).unwrap();
    let out = parry().args(["fmt", "--check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-    note   a.x+1"), "{stdout}");
    assert!(stdout.contains("+  note a.x + 1"), "{stdout}");
    assert!(stdout.contains("@@"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UGLY);

    std::fs::write(&file, CANONICAL).unwrap();
    let out = parry().args(["fmt", "--check"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn fmt_refuses_files_with_syntax_errors() {
    let scratch = scratch();
    let dir = scratch.path();
    let file = dir.join("broken.play");
    let broken = "playbook p(a: int) {\n  let = 3\n}\n";
    std::fs::write(&file, broken).unwrap();
    let out = parry().arg("fmt").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("syntax-error"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
}

#[test]
fn fmt_reports_missing_paths() {
    let out = parry().args(["fmt", "/nonexistent/parry/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/parry/dir"));
}
