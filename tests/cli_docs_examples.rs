//! Every page of `docs/diagnostics/` holds a failing and a fixed example. This test writes each
//! example to a temporary project, runs `parry check --format json` on it, and checks that the
//! failing example produces the page's code and the fixed example produces no error or warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PARRY: &str = env!("CARGO_BIN_EXE_parry");

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics")
}

/// The fenced blocks of `lang` in the section under the heading `## {heading}`.
fn blocks(page: &str, heading: &str, lang: &str) -> Vec<String> {
    let mut in_section = false;
    let mut in_block = false;
    let mut current = String::new();
    let mut out = Vec::new();
    for line in page.lines() {
        if !in_block && line.starts_with("## ") {
            in_section = line.trim_start_matches("## ").trim() == heading;
            continue;
        }
        if !in_section {
            continue;
        }
        if in_block {
            if line.trim_end() == "```" {
                out.push(std::mem::take(&mut current));
                in_block = false;
            } else {
                current.push_str(line);
                current.push('\n');
            }
        } else if line.trim_end() == format!("```{lang}") {
            in_block = true;
        }
    }
    out
}

struct Example {
    play: String,
    toml: Option<String>,
}

fn example(code: &str, page: &str, heading: &str) -> Example {
    let plays = blocks(page, heading, "parry");
    assert_eq!(plays.len(), 1, "{code}.md: `## {heading}` must hold exactly one ```parry block");
    let tomls = blocks(page, heading, "toml");
    assert!(tomls.len() <= 1, "{code}.md: `## {heading}` holds more than one ```toml block");
    Example { play: plays.into_iter().next().unwrap(), toml: tomls.into_iter().next() }
}

/// Writes the example as a project (`main.play`, and `parry.toml` when the page gives one) and
/// returns the diagnostics of `parry check` and its exit status.
fn check(code: &str, which: &str, ex: &Example) -> (Vec<Value>, i32, String) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-examples").join(format!("{code}-{which}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.play"), &ex.play).unwrap();
    std::fs::write(dir.join("parry.toml"), ex.toml.as_deref().unwrap_or("")).unwrap();
    let out = Command::new(PARRY).arg("check").arg(&dir).args(["--format", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{code} {which}: stdout is not a JSON report ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let diags = report["diagnostics"].as_array().cloned().unwrap_or_default();
    (diags, out.status.code().unwrap_or(-1), stdout)
}

fn active(diags: &[Value]) -> Vec<&Value> {
    diags.iter().filter(|d| d["suppressed"] != true && d["severity"] != "note").collect()
}

#[test]
fn failing_examples_produce_their_code_and_fixed_examples_are_clean() {
    let mut problems = Vec::new();
    for (code, severity) in parry_syntax::diagnostic::CODES {
        let path = docs_dir().join(format!("{code}.md"));
        let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

        let failing = example(code, &page, "Failing example");
        let (diags, status, out) = check(code, "failing", &failing);
        if !active(&diags).iter().any(|d| d["code"] == *code) {
            problems.push(format!("{code}: the failing example does not produce `{code}`:\n{out}"));
        }
        let want = if *severity == parry_syntax::Severity::Error { 1 } else { 0 };
        let has_other_errors = active(&diags).iter().any(|d| d["severity"] == "error");
        if status != want && !(has_other_errors && status == 1) {
            problems.push(format!("{code}: the failing example exits {status}, expected {want}"));
        }

        let fixed = example(code, &page, "Fixed example");
        let (diags, status, out) = check(code, "fixed", &fixed);
        if !active(&diags).is_empty() || status != 0 {
            problems.push(format!("{code}: the fixed example is not clean (exit {status}):\n{out}"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n\n{}", problems.len(), problems.join("\n\n"));
}

#[test]
fn extraction_finds_blocks_per_section() {
    let page = "# x\n## Failing example\n```toml\n[policy]\n```\n```parry\nbad\n```\n## Fixed example\n```parry\ngood\n```\n## Suppressing it\n```parry\nno\n```\n";
    assert_eq!(blocks(page, "Failing example", "parry"), vec!["bad\n"]);
    assert_eq!(blocks(page, "Failing example", "toml"), vec!["[policy]\n"]);
    assert_eq!(blocks(page, "Fixed example", "parry"), vec!["good\n"]);
    assert!(blocks(page, "Fixed example", "toml").is_empty());
}

/// The tour in README.md is a complete project file; it must check without findings.
#[test]
fn readme_tour_checks_clean() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```parry\n").expect("README.md has a ```parry block") + "```parry\n".len();
    let len = readme[start..].find("```").unwrap();
    let ex = Example { play: readme[start..start + len].to_string(), toml: None };
    let (diags, status, out) = check("readme", "tour", &ex);
    assert!(active(&diags).is_empty() && status == 0, "README tour is not clean (exit {status}):\n{out}");
}
