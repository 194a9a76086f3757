//! Project discovery and loading through the real file system and the overlay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::{OverlayFs, RealFs, compile, load_project};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parry-compiler-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn nearest_parry_toml_makes_the_project() {
    let root = scratch("discovery");
    std::fs::write(root.join("parry.toml"), "[policy]\nmax_auto_targets = 3\n").unwrap();
    for d in ["sub", ".hidden", "target"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("a.play"), "type A = { x: int }\n").unwrap();
    std::fs::write(root.join("sub/b.play"), "playbook p(a: A) { resolve \"ok\" }\n").unwrap();
    std::fs::write(root.join(".hidden/c.play"), "garbage").unwrap();
    std::fs::write(root.join("target/d.play"), "garbage").unwrap();
    let p = load_project(&root.join("sub/b.play"), &RealFs).unwrap();
    assert_eq!(p.root, root);
    assert_eq!(p.config.policy.max_auto_targets, 3);
    assert_eq!(p.files, vec![root.join("a.play"), root.join("sub/b.play")]);
    let c = compile(&p, &RealFs);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_lone_file_uses_the_default_config_and_overlays_win() {
    let root = scratch("lone");
    let file = root.join("one.play");
    std::fs::write(&file, "type A = { x: int }\nplaybook p(a: A) { resolve \"ok\" }\n").unwrap();
    let p = load_project(&file, &RealFs).unwrap();
    assert_eq!(p.files, vec![file.clone()]);
    assert_eq!(p.config.policy.max_auto_targets, 25);
    // An unsaved buffer replaces the file on disk.
    let mut fs = OverlayFs::new(RealFs);
    fs.set(file.clone(), "type A = { x: int }\nplaybook p(a: A) { resolve \"{a.y}\" }\n");
    let c = compile(&p, &fs);
    assert_eq!(c.diagnostics.len(), 1, "{:?}", c.diagnostics);
    assert_eq!(c.diagnostics[0].code, "unknown-name");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_bad_parry_toml_is_an_error_pointing_into_it() {
    let root = scratch("badtoml");
    std::fs::write(root.join("parry.toml"), "[policy]\napproval_timeout = \"soon\"\n").unwrap();
    std::fs::write(root.join("a.play"), "").unwrap();
    let err = load_project(&root, &RealFs).unwrap_err();
    assert!(err.to_string().contains("approval_timeout"), "{err}");
    let missing = load_project(&root.join("nope.play"), &RealFs).unwrap_err();
    assert!(missing.to_string().contains("nope.play"), "{missing}");
    std::fs::remove_dir_all(&root).unwrap();
}
