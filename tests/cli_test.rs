//! `parry test` end to end: output, closing line, exit statuses, `--filter`, `--json`,
//! projects with errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const PARRY: &str = env!("CARGO_BIN_EXE_parry");

const PLAYBOOK: &str = r#"connector ti {
  action lookup(u: url) -> Verdict effect read
}
connector fw {
  action block(addr: ip) effect reversible(undo: unblock)
  action unblock(addr: ip) effect reversible(undo: block)
}
type A = { u: url, addr: ip }

playbook check_url(a: A) {
  let v = ti.lookup(a.u)
  if v == malicious {
    approve "Block {a.addr}?" {
      fw.block(a.addr)
      resolve "Blocked"
    } else {
      escalate "Not blocked"
    }
  }
  resolve "Clean"
}
"#;

const PASSING: &str = r#"
test "clean URL is resolved" {
  mock ti.lookup(_) = benign
  let run = check_url(load("alert.json"))
  expect run.disposition == resolved
}

test "approved block" {
  mock ti.lookup(_) = malicious
  mock fw.block(_)
  approvals granted
  let run = check_url(load("alert.json"))
  expect run.disposition == resolved
  expect calls(fw.block)[0].addr == "192.0.2.10"
}
"#;

const FAILING: &str = r#"
test "wrong expectation" {
  mock ti.lookup(_) = benign
  let run = check_url(load("alert.json"))
  expect run.disposition == escalated
}
"#;

/// A fresh project directory with `files`, removed when the test ends.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("parry-cli-test-").tempdir().unwrap();
    for (path, text) in files {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    dir
}

const ALERT: &str = r#"{"u": "http://bad.example/", "addr": "192.0.2.10"}"#;

fn parry_test(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(PARRY).arg("test").args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn passing_project_exits_zero_with_one_line_per_test() {
    let dir = project(&[
        ("parry.toml", ""),
        ("main.play", PLAYBOOK),
        ("main_test.play", PASSING),
        ("alert.json", ALERT),
    ]);
    let (code, out, err) = parry_test(&[], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ok") && lines[0].contains("clean URL is resolved"), "{out}");
    assert!(lines[1].starts_with("ok") && lines[1].contains("approved block"), "{out}");
    assert_eq!(*lines.last().unwrap(), "2 passed, 0 failed");
}

#[test]
fn failing_test_exits_one_and_shows_both_sides() {
    let dir = project(&[
        ("parry.toml", ""),
        ("main.play", PLAYBOOK),
        ("main_test.play", &format!("{PASSING}{FAILING}")),
        ("alert.json", ALERT),
    ]);
    let (code, out, err) = parry_test(&[dir.path().to_str().unwrap()], Path::new("."));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAILED wrong expectation"), "{out}");
    assert!(out.contains("expect run.disposition == escalated"), "{out}");
    assert!(out.contains("left:  resolved") && out.contains("right: escalated"), "{out}");
    assert_eq!(out.lines().last().unwrap(), "2 passed, 1 failed");

    let (code, out, _) = parry_test(&["--filter", "approved"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().last().unwrap(), "1 passed, 0 failed");

    let (code, out, _) = parry_test(&["--json"], dir.path());
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["passed"], 2);
    assert_eq!(report["failed"], 1);
    let failed = report["tests"].as_array().unwrap().iter().find(|t| t["passed"] == false).unwrap();
    assert_eq!(failed["name"], "wrong expectation");
    assert!(failed["failures"][0].as_str().unwrap().contains("right: escalated"));
}

#[test]
fn type_errors_are_diagnostics_not_test_failures() {
    let broken = format!("{PLAYBOOK}\ntest \"t\" {{\n  let x: int = \"text\"\n  expect x == 1\n}}\n");
    let dir = project(&[("main.play", &broken)]);
    let (code, out, err) = parry_test(&["main.play"], dir.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("type-mismatch"), "{err}");
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn syntax_errors_are_diagnostics_not_test_failures() {
    let dir = project(&[("main.play", "playbook p(a: { x: int }) {\n  let = 3\n}\n")]);
    let (code, out, err) = parry_test(&["main.play"], dir.path());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("syntax-error"), "{err}");
    assert!(err.contains("main.play:2"), "{err}");
}

#[test]
fn missing_path_is_a_usage_error() {
    let dir = project(&[]);
    let (code, _, err) = parry_test(&["nowhere"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn conformance_cases_give_the_expected_summaries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("interpreter/src/testing/fixtures");
    let (code, out, _) = parry_test(&[root.join("phishing_flow.play").to_str().unwrap()], Path::new("."));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().last().unwrap(), "5 passed, 0 failed");
    let (code, out, _) =
        parry_test(&[root.join("failing_expectations.play").to_str().unwrap()], Path::new("."));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().last().unwrap(), "1 passed, 3 failed");
    assert!(out.contains("unmocked action ti.lookup"), "{out}");
}
