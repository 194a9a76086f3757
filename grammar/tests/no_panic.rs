//! Parsing truncated input never panics and always yields spans that satisfy the
//! invariants: every prefix (at char boundaries) of every fixture, and of every top-level
//! declaration of the conformance corpus (items are parsed independently, so a file's
//! prefixes exercise exactly the prefixes of its last item; parsing whole multi-item
//! prefixes again and again would only repeat work).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::play_files;

use std::path::Path;

/// Parses every prefix of `src`, checking invariants.
fn every_prefix(name: &str, src: &str) {
    for (i, _) in src.char_indices().skip(1).chain(std::iter::once((src.len(), ' '))) {
        let prefix = &src[..i];
        let (file, diags) = parry_syntax::parse(common::FILE, prefix);
        common::check_spans(prefix, &file);
        for d in &diags {
            assert!(d.primary.span.end as usize <= prefix.len(), "{name}: bad span at prefix {i}");
            assert!(!d.message.is_empty());
        }
    }
}

/// The top-level declarations of a file: cut before each line starting in column 0 with a
/// letter, `@` or `#`, after a line that closed a block or was blank.
fn declarations(src: &str) -> Vec<&str> {
    let mut cuts = vec![0];
    let mut offset = 0;
    let mut previous_blank = false;
    for line in src.split_inclusive('\n') {
        let starts_decl = line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '@' || c == '#');
        if offset > 0 && starts_decl && previous_blank {
            cuts.push(offset);
        }
        previous_blank = line.trim().is_empty() || line.trim_end() == "}";
        offset += line.len();
    }
    cuts.push(src.len());
    cuts.windows(2).map(|w| &src[w[0]..w[1]]).collect()
}

#[test]
fn every_prefix_of_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    play_files(&root.join("tests/fixtures"), &mut files);
    assert!(files.len() > 20, "fixtures not found");
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        every_prefix(&path.display().to_string(), &src);
    }
}

#[test]
fn every_prefix_of_every_conformance_declaration() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/conformance");
    let mut files = Vec::new();
    play_files(&root, &mut files);
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let decls = declarations(&src);
        assert!(decls.len() > 1 || src.len() < 200, "{}: not split", path.display());
        for decl in decls {
            every_prefix(&path.display().to_string(), decl);
        }
    }
}
