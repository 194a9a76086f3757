//! The compiler never panics: every prefix of every fixture (broken declarations,
//! unclosed blocks, half-written expressions) compiles to some program and diagnostics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::{Config, compile_sources};
use std::path::{Path, PathBuf};

fn play_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            play_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "play") {
            out.push(p);
        }
    }
}

#[test]
fn every_prefix_compiles_without_panicking() {
    let mut files = Vec::new();
    play_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check"), &mut files);
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(47).chain([text.len()]).collect();
        for cut in cuts {
            let src = text[..cut].to_string();
            let c = compile_sources(vec![(PathBuf::from("case.play"), src)], Config::default());
            // Every diagnostic points into a known file.
            for d in &c.diagnostics {
                assert!(c.sources.get(d.primary.span.file).is_some(), "{}: {d:?}", f.display());
            }
        }
    }
}
