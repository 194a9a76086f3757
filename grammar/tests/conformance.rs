//! Every `.play` file of the shared conformance corpus parses; `syntax_error.play` gives
//! exactly one syntax error and every other file none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::play_files;

use std::path::{Path, PathBuf};

fn conformance_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/conformance");
    let mut files = Vec::new();
    play_files(&dir, &mut files);
    files.sort();
    files
}

#[test]
fn conformance_files_parse() {
    let files = conformance_files();
    if files.is_empty() {
        eprintln!("conformance corpus not found; skipping");
        return;
    }
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let (file, diags) = parry_syntax::parse(common::FILE, &src);
        common::check_spans(&src, &file);
        let syntax: Vec<_> = diags.iter().filter(|d| d.code == "syntax-error").collect();
        if path.file_name().is_some_and(|n| n == "syntax_error.play") {
            assert_eq!(syntax.len(), 1, "{}: {}", path.display(), common::render_diagnostics(&src, &diags));
            let (line, _) = common::line_col(&src, syntax[0].primary.span.start);
            assert!((5..=6).contains(&line), "syntax error reported on line {line}");
            assert_eq!(file.items.len(), 1, "the good item is still returned");
        } else {
            assert!(diags.is_empty(), "{}:\n{}", path.display(), common::render_diagnostics(&src, &diags));
            assert!(!file.items.is_empty());
        }
    }
}

#[test]
fn language_tour_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/spec/conformance/check/ok/language_tour.play");
    let Ok(src) = std::fs::read_to_string(path) else { return };
    insta::assert_snapshot!(common::parse_and_render(&src));
}
