//! `parry check` end to end: formats, exit statuses, paths and projects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PARRY: &str = env!("CARGO_BIN_EXE_parry");

const CLEAN: &str = r#"type Alert = { src: ip }

playbook triage(a: Alert) {
  let rep = intel.ip_reputation(a.src)
  if rep.verdict >= suspicious {
    escalate "{a.src} is {rep.verdict}"
  }
  resolve "{a.src} looks fine"
}
"#;

const UNAPPROVED: &str = r#"type Alert = { hostname: host }

playbook wipe(a: Alert) {
  let h = edr.get_host(a.hostname)
  edr.wipe_host(h)
  resolve "Wiped"
}
"#;

const WARNING: &str = r#"type Alert = { src: ip }

playbook triage(a: Alert) {
  let rep = intel.ip_reputation(a.src)
  resolve "Triaged {a.src}"
}
"#;

const ALLOWED: &str = r#"type Alert = { hostname: host }

playbook wipe(a: Alert) {
  let h = edr.get_host(a.hostname)
  @allow("unapproved-destructive", reason: "lab hosts are re-imaged nightly")
  edr.wipe_host(h)
  resolve "Wiped"
}
"#;

/// A fresh directory for one test, holding the given files.
fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-check").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Out {
    status: i32,
    stdout: String,
    stderr: String,
}

fn parry(args: &[&str], cwd: Option<&Path>) -> Out {
    let mut cmd = Command::new(PARRY);
    cmd.args(args).env("NO_COLOR", "1");
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let out = cmd.output().unwrap();
    Out {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(out: &Out) -> Vec<Value> {
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", out.stdout, out.stderr));
    v["diagnostics"].as_array().cloned().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn clean_file_exits_0_with_a_summary() {
    let dir = project("clean", &[("triage.play", CLEAN)]);
    let out = parry(&["check", s(&dir.join("triage.play"))], None);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.trim_end().lines().last(), Some("0 errors, 0 warnings"));
}

#[test]
fn error_exits_1_and_is_rendered_with_its_code_and_source() {
    let dir = project("error", &[("wipe.play", UNAPPROVED)]);
    let out = parry(&["check", s(&dir)], None);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("error[unapproved-destructive]"), "{}", out.stdout);
    assert!(out.stdout.contains("wipe.play:5:"), "{}", out.stdout);
    assert!(out.stdout.contains("edr.wipe_host(h)"), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "no colour when stdout is not a terminal");
    assert!(out.stdout.trim_end().ends_with("1 error, 0 warnings"), "{}", out.stdout);
}

#[test]
fn json_report_is_alone_on_stdout() {
    let dir = project("json", &[("wipe.play", UNAPPROVED)]);
    let out = parry(&["check", s(&dir), "--format", "json"], None);
    assert_eq!(out.status, 1);
    let diags = json(&out);
    let d = diags.iter().find(|d| d["code"] == "unapproved-destructive").expect("the finding");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 5);
    assert_eq!(d["column"], 3);
    assert_eq!(d["suppressed"], false);
    assert!(d["file"].as_str().unwrap().ends_with("wipe.play"));
    for key in ["message", "end_line", "end_column"] {
        assert!(d.get(key).is_some(), "{key}");
    }
}

#[test]
fn sarif_report_has_rules_results_and_regions() {
    let dir = project("sarif", &[("wipe.play", UNAPPROVED)]);
    let out = parry(&["check", s(&dir), "--format", "sarif"], None);
    assert_eq!(out.status, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "parry");
    let results = run["results"].as_array().unwrap();
    let r = results.iter().find(|r| r["ruleId"] == "unapproved-destructive").unwrap();
    assert_eq!(r["level"], "error");
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startLine"], 5);
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules.iter().any(|rule| rule["id"] == "unapproved-destructive" && rule["help"]["text"].is_string())
    );
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = project("warn", &[("triage.play", WARNING)]);
    let out = parry(&["check", s(&dir)], None);
    assert_eq!(out.status, 0, "{}", out.stdout);
    assert!(out.stdout.contains("warning[unused-variable]"), "{}", out.stdout);
    assert!(out.stdout.trim_end().ends_with("0 errors, 1 warning"), "{}", out.stdout);
    let out = parry(&["check", s(&dir), "--deny-warnings"], None);
    assert_eq!(out.status, 1);
}

#[test]
fn suppressed_findings_are_notes_and_never_fail() {
    let dir = project("allowed", &[("wipe.play", ALLOWED)]);
    let out = parry(&["check", s(&dir), "--format", "json", "--deny-warnings"], None);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    let diags = json(&out);
    let d = diags.iter().find(|d| d["code"] == "unapproved-destructive").expect("reported as suppressed");
    assert_eq!(d["suppressed"], true);
    assert_eq!(d["severity"], "note");
    let human = parry(&["check", s(&dir)], None);
    assert!(human.stdout.contains("note[unapproved-destructive]"), "{}", human.stdout);
    assert!(human.stdout.contains("lab hosts are re-imaged nightly"), "{}", human.stdout);
    let sarif = parry(&["check", s(&dir), "--format", "sarif"], None);
    let v: Value = serde_json::from_str(&sarif.stdout).unwrap();
    let r = &v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "unapproved-destructive")
        .cloned()
        .unwrap();
    assert_eq!(r["suppressions"][0]["kind"], "inSource");
    assert_eq!(r["suppressions"][0]["justification"], "lab hosts are re-imaged nightly");
}

#[test]
fn missing_path_is_a_usage_error() {
    let out = parry(&["check", "/no/such/dir/playbooks", "--format", "json"], None);
    assert_eq!(out.status, 2);
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", out.stdout);
    assert!(out.stderr.contains("/no/such/dir/playbooks"), "{}", out.stderr);
}

#[test]
fn bad_parry_toml_is_a_usage_error_rendered_on_stderr() {
    let dir =
        project("badtoml", &[("parry.toml", "[policy]\nmax_auto_target = 5\n"), ("triage.play", CLEAN)]);
    let out = parry(&["check", s(&dir), "--format", "json"], None);
    assert_eq!(out.status, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("max_auto_target"), "{}", out.stderr);
}

#[test]
fn directory_without_play_files_is_a_usage_error() {
    let dir = project("empty", &[("README.md", "nothing here\n")]);
    let out = parry(&["check", s(&dir)], None);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("no .play files found"), "{}", out.stderr);
}

#[test]
fn a_file_that_is_not_a_playbook_is_a_usage_error() {
    let dir = project("notplay", &[("alert.json", "{}")]);
    let out = parry(&["check", s(&dir.join("alert.json"))], None);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("not a .play file"), "{}", out.stderr);
}

#[test]
fn several_projects_merge_into_one_report() {
    let a = project("multi-a", &[("parry.toml", ""), ("wipe.play", UNAPPROVED)]);
    let b = project("multi-b", &[("parry.toml", ""), ("triage.play", WARNING)]);
    let out = parry(&["check", s(&a), s(&b), "--format", "json"], None);
    assert_eq!(out.status, 1);
    let diags = json(&out);
    assert!(
        diags
            .iter()
            .any(|d| d["code"] == "unapproved-destructive"
                && d["file"].as_str().unwrap().ends_with("wipe.play"))
    );
    assert!(
        diags
            .iter()
            .any(|d| d["code"] == "unused-variable" && d["file"].as_str().unwrap().ends_with("triage.play"))
    );
}

#[test]
fn the_same_project_given_twice_is_checked_once() {
    let dir = project("twice", &[("parry.toml", ""), ("playbooks/wipe.play", UNAPPROVED)]);
    let out = parry(&["check", s(&dir), s(&dir.join("playbooks/wipe.play")), "--format", "json"], None);
    let n = json(&out).iter().filter(|d| d["code"] == "unapproved-destructive").count();
    assert_eq!(n, 1);
}

#[test]
fn a_file_inside_a_project_uses_the_project_policy() {
    let dir = project(
        "policy",
        &[
            ("parry.toml", "[policy]\nrequire_approval = [\"identity.disable_account\"]\n"),
            (
                "playbooks/lock.play",
                "type A = { who: user }\n\nplaybook lock(a: A) {\n  identity.disable_account(a.who)\n  resolve \"Locked\"\n}\n",
            ),
        ],
    );
    let out = parry(&["check", s(&dir.join("playbooks/lock.play")), "--format", "json"], None);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(json(&out).iter().any(|d| d["code"] == "unapproved-destructive" && d["line"] == 4));
}

#[test]
fn default_path_is_the_current_directory() {
    let dir = project("cwd", &[("parry.toml", ""), ("wipe.play", UNAPPROVED)]);
    let out = parry(&["check", "--format", "json"], Some(&dir));
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(json(&out).iter().any(|d| d["code"] == "unapproved-destructive"));
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out = parry(&["check", "--format", "xml"], None);
    assert_eq!(out.status, 2);
    assert!(out.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_makes_the_check_incomplete() {
    let dir = project("unreadable", &[("parry.toml", ""), ("triage.play", CLEAN)]);
    std::os::unix::fs::symlink(dir.join("does-not-exist.play"), dir.join("dangling.play")).unwrap();
    let out = parry(&["check", s(&dir), "--format", "json"], None);
    assert_eq!(out.status, 2, "{}{}", out.stdout, out.stderr);
    assert!(json(&out).iter().any(|d| d["file"].as_str().unwrap().ends_with("dangling.play")));
    assert!(out.stderr.contains("could not be read"), "{}", out.stderr);
}

#[test]
fn a_directory_of_projects_checks_each_with_its_own_policy() {
    let lock = "type A = { who: user }\n\nplaybook lock(a: A) {\n  identity.disable_account(a.who)\n  resolve \"Locked\"\n}\n";
    let dir = project(
        "nested",
        &[
            // Same playbook name in both projects: separate namespaces, no duplicate-definition.
            ("strict/parry.toml", "[policy]\nrequire_approval = [\"identity.disable_account\"]\n"),
            ("strict/lock.play", lock),
            ("lenient/parry.toml", ""),
            ("lenient/lock.play", lock),
            ("loose/triage.play", WARNING),
        ],
    );
    let out = parry(&["check", s(&dir), "--format", "json"], None);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    let diags = json(&out);
    assert!(!diags.iter().any(|d| d["code"] == "duplicate-definition"), "{}", out.stdout);
    let unapproved: Vec<&str> = diags
        .iter()
        .filter(|d| d["code"] == "unapproved-destructive")
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(unapproved.len(), 1, "{}", out.stdout);
    assert!(unapproved[0].contains("strict"), "{unapproved:?}");
    assert!(
        diags.iter().any(|d| d["code"] == "unused-variable" && d["file"].as_str().unwrap().contains("loose"))
    );
}
