#![allow(clippy::unwrap_used)]

use super::*;
use parry_syntax::ast::Span;

const PLAYBOOK: &str = r#"connector mail {
  action purge(id: string) effect destructive
}

fn wipe(id: string) {
  mail.purge(id)
}

playbook phishing(alert: { id: string, subject: string }) {
  let résumé = "Café ☕ {alert.subject}"
  wipe(alert.id)
  @allow("unused-variable", reason: "kept for the next release")
  let spare = 1
}
"#;

/// The span of the first occurrence of `needle` in the fixture playbook.
fn span_of(needle: &str) -> Span {
    let start = PLAYBOOK.find(needle).unwrap();
    Span::new(FileId(0), start, start + needle.len())
}

fn fixture() -> (SourceMap, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    sources.add("playbooks/phishing.play", PLAYBOOK);
    let unapproved = Diagnostic::error(
        "unapproved-destructive",
        "destructive action `mail.purge` can run without an approval",
        span_of("wipe(alert.id)"),
        "this call reaches `mail.purge` with no `approve` around it",
    )
    .with_secondary(span_of("mail.purge(id)"), "`wipe` calls `mail.purge` here")
    .with_note("`mail.purge` is declared `effect destructive`")
    .with_help("wrap the call in `approve \"Purge?\" by \"soc-tier2\" { ... }`");
    let unused = Diagnostic::warning(
        "unused-variable",
        "variable `résumé` is never read",
        span_of("résumé"),
        "declared here",
    )
    .with_help("use it, or rename it `_résumé`");
    let mut allowed = Diagnostic::warning(
        "unused-variable",
        "variable `spare` is never read",
        span_of("spare"),
        "declared here",
    );
    allowed.suppressed = Some("kept for the next release".into());
    let mut diags = vec![unused, allowed, unapproved];
    sort_diagnostics(&mut diags);
    (sources, diags)
}

#[test]
fn human_report() {
    let (sources, diags) = fixture();
    insta::assert_snapshot!(render_human(&sources, &diags, false));
}

#[test]
fn human_report_in_color_has_escapes() {
    let (sources, diags) = fixture();
    let colored = render_human(&sources, &diags, true);
    assert!(colored.contains("\u{1b}["));
    assert!(!render_human(&sources, &diags, false).contains('\u{1b}'));
}

#[test]
fn json_report() {
    let (sources, diags) = fixture();
    insta::assert_snapshot!(render_json(&sources, &diags));
}

#[test]
fn sarif_report() {
    let (sources, diags) = fixture();
    insta::assert_snapshot!(render_sarif(&sources, &diags));
}

#[test]
fn json_columns_count_scalar_values() {
    let (sources, diags) = fixture();
    let v: serde_json::Value = serde_json::from_str(&render_json(&sources, &diags)).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "unused-variable");
    assert_eq!(d["line"], 10);
    assert_eq!(d["column"], 7);
    // `résumé` is 6 characters (8 bytes): the end column is 7 + 6.
    assert_eq!(d["end_column"], 13);
    for key in
        ["code", "severity", "message", "file", "line", "column", "end_line", "end_column", "suppressed"]
    {
        assert!(d.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn suppressed_findings_are_notes_that_keep_their_code() {
    let (sources, diags) = fixture();
    let v: serde_json::Value = serde_json::from_str(&render_json(&sources, &diags)).unwrap();
    let s = v["diagnostics"].as_array().unwrap().iter().find(|d| d["suppressed"] == true).unwrap();
    assert_eq!(s["code"], "unused-variable");
    assert_eq!(s["severity"], "note");
    assert_eq!(s["reason"], "kept for the next release");
    let sarif = to_sarif(&sources, &diags);
    let r = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r.get("suppressions").is_some())
        .unwrap();
    assert_eq!(r["suppressions"][0]["kind"], "inSource");
    assert_eq!(r["suppressions"][0]["justification"], "kept for the next release");
}

#[test]
fn sarif_rules_match_results() {
    let (sources, diags) = fixture();
    let sarif = to_sarif(&sources, &diags);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    for r in run["results"].as_array().unwrap() {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
    }
}

#[test]
fn summary_line_counts() {
    let (_, diags) = fixture();
    let s = Summary::of(&diags);
    assert_eq!(s.to_string(), "1 error, 1 warning, 1 allowed");
    assert!(s.has_findings(false));
    let only_warning: Vec<Diagnostic> =
        diags.into_iter().filter(|d| d.severity == Severity::Warning).collect();
    let s = Summary::of(&only_warning);
    assert!(!s.has_findings(false));
    assert!(s.has_findings(true));
    assert_eq!(Summary::default().to_string(), "0 errors, 0 warnings");
}

#[test]
fn spans_out_of_range_or_inside_characters_never_panic() {
    let mut sources = SourceMap::new();
    sources.add("a.play", "é\n");
    let diags = vec![
        Diagnostic::error("syntax-error", "bad", Span::new(FileId(0), 1, 999), "here"),
        Diagnostic::error("syntax-error", "bad", Span::new(FileId(7), 0, 1), "no such file"),
        Diagnostic::error("syntax-error", "bad", Span::new(FileId(0), 5, 2), "reversed"),
    ];
    let human = render_human(&sources, &diags, false);
    assert_eq!(human.matches("error[syntax-error]").count(), 3);
    let _ = render_json(&sources, &diags);
    let _ = render_sarif(&sources, &diags);
}

#[test]
fn merge_renumbers_files() {
    let mut a = SourceMap::new();
    a.add("a.play", "x\n");
    let mut b = SourceMap::new();
    b.add("b.play", "\ny\n");
    let da = vec![Diagnostic::error("unknown-name", "a", Span::new(FileId(0), 0, 1), "")];
    let db = vec![Diagnostic::error("unknown-name", "b", Span::new(FileId(0), 1, 2), "")];
    let (sources, diags) = merge(vec![(a, da), (b, db)]);
    assert_eq!(sources.files().len(), 2);
    let at = Location::of(&sources, diags[1].primary.span);
    assert_eq!((at.file.as_str(), at.line), ("b.play", 2));
}

#[test]
fn file_uris_are_relative_or_file_scheme() {
    assert_eq!(sarif::file_uri("./playbooks/a b.play"), "playbooks/a%20b.play");
    assert_eq!(sarif::file_uri("/srv/soc/x.play"), "file:///srv/soc/x.play");
    assert_eq!(sarif::file_uri("<stdlib>/mail.play"), "%3Cstdlib%3E/mail.play");
}

#[test]
fn every_code_has_a_summary() {
    for (code, _) in parry_syntax::diagnostic::CODES {
        assert_ne!(code_summary(code), code_summary("no-such-code"), "{code}");
    }
}
