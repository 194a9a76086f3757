//! `parry graph` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const PARRY: &str = env!("CARGO_BIN_EXE_parry");

const WIPE: &str = r#"type Alert = { hostname: host }

playbook contain(a: Alert) {
  let h = edr.get_host(a.hostname)
  edr.isolate_host(h)
  approve "Wipe {a.hostname}?" by "ir-oncall" {
    edr.wipe_host(h)
    resolve "Wiped"
  } else {
    escalate "Isolated only"
  }
}
"#;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-graph").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("main.play");
    std::fs::write(&path, text).unwrap();
    path
}

fn graph(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(PARRY).arg("graph").args(args).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mermaid_shows_each_action_with_its_effect_and_gate() {
    let path = file("mermaid", WIPE);
    let (status, stdout, stderr) = graph(&[path.to_str().unwrap(), "--playbook", "contain"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.starts_with("flowchart"), "{stdout}");
    assert!(stdout.contains("edr.isolate_host"), "{stdout}");
    assert!(stdout.contains("edr.wipe_host"), "{stdout}");
    assert!(stdout.contains("destructive"), "{stdout}");
}

#[test]
fn dot_format() {
    let path = file("dot", WIPE);
    let (status, stdout, _) = graph(&[path.to_str().unwrap(), "--playbook", "contain", "--format", "dot"]);
    assert_eq!(status, 0);
    assert!(stdout.starts_with("digraph"), "{stdout}");
    assert!(stdout.trim_end().ends_with('}'));
}

#[test]
fn unknown_playbook_suggests_the_close_name() {
    let path = file("unknown", WIPE);
    let (status, stdout, stderr) = graph(&[path.to_str().unwrap(), "--playbook", "contian"]);
    assert_eq!(status, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("contain"), "{stderr}");
}

#[test]
fn a_program_with_type_errors_is_not_drawn() {
    let path =
        file("broken", "type A = { x: int }\n\nplaybook p(a: A) {\n  let y: string = a.x\n  resolve y\n}\n");
    let (status, stdout, stderr) = graph(&[path.to_str().unwrap(), "--playbook", "p"]);
    assert_eq!(status, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("type-mismatch"), "{stderr}");
}

#[test]
fn safety_findings_are_drawn_and_mentioned() {
    let path =
        file("unsafe", &WIPE.replace("approve \"Wipe {a.hostname}?\" by \"ir-oncall\" {", "if true {"));
    let (status, stdout, stderr) = graph(&[path.to_str().unwrap(), "--playbook", "contain"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("edr.wipe_host"));
    assert!(stderr.contains("parry check"), "{stderr}");
}

#[test]
fn missing_path_is_a_usage_error() {
    let (status, _, stderr) = graph(&["/no/such/project", "--playbook", "x"]);
    assert_eq!(status, 2);
    assert!(stderr.contains("/no/such/project"), "{stderr}");
}
