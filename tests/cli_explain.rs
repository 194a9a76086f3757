//! `parry explain CODE` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const PARRY: &str = env!("CARGO_BIN_EXE_parry");

fn explain(code: &str) -> (i32, String, String) {
    let out = Command::new(PARRY).args(["explain", code]).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_code_has_a_page_with_both_examples() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics");
    for (code, severity) in parry_syntax::diagnostic::CODES {
        let page = std::fs::read_to_string(docs.join(format!("{code}.md")))
            .unwrap_or_else(|e| panic!("docs/diagnostics/{code}.md: {e}"));
        assert!(page.starts_with(&format!("# `{code}`\n")), "{code}.md must start with its title");
        assert!(page.contains(&format!("**Severity:** {}", severity.as_str())), "{code}.md: wrong severity");
        for section in ["## Why it matters", "## Failing example", "## Fixed example", "## Suppressing it"] {
            assert!(page.contains(section), "{code}.md lacks `{section}`");
        }
    }
}

#[test]
fn explain_prints_the_embedded_page_for_every_code() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics");
    for (code, _) in parry_syntax::diagnostic::CODES {
        let (status, stdout, _) = explain(code);
        assert_eq!(status, 0, "parry explain {code}");
        let page = std::fs::read_to_string(docs.join(format!("{code}.md"))).unwrap();
        assert_eq!(stdout.trim_end(), page.trim_end(), "parry explain {code} is not its page");
    }
}

#[test]
fn explain_accepts_the_code_as_printed_in_a_report() {
    let (status, stdout, _) = explain("error[Unapproved_Destructive]");
    assert_eq!(status, 0);
    assert!(stdout.starts_with("# `unapproved-destructive`"));
}

#[test]
fn unknown_code_lists_the_known_codes_and_exits_2() {
    let (status, stdout, stderr) = explain("unaproved-destructive");
    assert_eq!(status, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("unknown diagnostic code `unaproved-destructive`"), "{stderr}");
    assert!(stderr.contains("did you mean `unapproved-destructive`?"), "{stderr}");
    for (code, _) in parry_syntax::diagnostic::CODES {
        assert!(stderr.contains(code), "{code} not listed:\n{stderr}");
    }
}

#[test]
fn no_suggestion_for_unrelated_input() {
    let (status, _, stderr) = explain("xyzzy");
    assert_eq!(status, 2);
    assert!(!stderr.contains("did you mean"), "{stderr}");
}

#[test]
fn the_index_lists_every_code() {
    let index =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics/README.md"))
            .unwrap();
    for (code, severity) in parry_syntax::diagnostic::CODES {
        assert!(
            index.contains(&format!("| [`{code}`]({code}.md) | {} |", severity.as_str())),
            "docs/diagnostics/README.md does not list {code}"
        );
    }
}
