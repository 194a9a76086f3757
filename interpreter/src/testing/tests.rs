#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use parry_compiler::compile_sources;

fn compile(src: &str) -> Compilation {
    let c = compile_sources(
        vec![(PathBuf::from("/tmp/parry-test-runner/t.play"), src.to_string())],
        Config::default(),
    );
    let errors: Vec<String> = c
        .diagnostics
        .iter()
        .filter(|d| d.effective_severity() == parry_compiler::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "unexpected compile errors: {errors:#?}");
    c
}

fn run(src: &str) -> TestReport {
    run_tests_blocking(&compile(src), None).unwrap()
}

fn failures_of<'r>(report: &'r TestReport, name: &str) -> &'r [String] {
    &report.tests.iter().find(|t| t.name == name).unwrap().failures
}

const BASE: &str = r#"
connector ti {
  action lookup(u: url) -> Verdict effect read
  action lookup_all(u: url, deep: bool = false) -> Verdict effect read
}
connector fw {
  action block(addr: ip) effect reversible(undo: unblock)
  action unblock(addr: ip) effect reversible(undo: block)
  action wipe(addr: ip) effect destructive
}
type A = { u: url, addr: ip, targets: list<ip> }

playbook check_url(a: A) {
  let v = ti.lookup(a.u)
  note "verdict {v}"
  if v == malicious {
    approve "Block {a.addr}?" by "soc" within 10m {
      fw.block(a.addr)
      resolve "Blocked"
    } else {
      escalate "Not blocked"
    }
  }
  resolve "Clean"
}

playbook many(a: A) {
  let blocked = for t in a.targets limit 2 { fw.block(t) }
  resolve "Blocked {len(blocked)}"
}

const ALERT: A = { u: "http://bad.example/", addr: "192.0.2.10", targets: ["192.0.2.1", "192.0.2.2"] }
const BIG: A = { u: "http://bad.example/", addr: "192.0.2.10", targets: ["192.0.2.1", "192.0.2.2", "192.0.2.3"] }
"#;

#[test]
fn conformance_style_phishing_flow_passes() {
    let src = include_str!("fixtures/phishing_flow.play");
    let report = run(src);
    assert_eq!(report.summary(), "5 passed, 0 failed", "{}", report.render());
}

#[test]
fn conformance_style_failing_expectations() {
    let src = include_str!("fixtures/failing_expectations.play");
    let report = run(src);
    assert_eq!(report.summary(), "1 passed, 3 failed", "{}", report.render());
    let wrong = failures_of(&report, "fails: the expectation is wrong");
    assert!(wrong[0].contains("expect run.disposition == escalated"), "{wrong:?}");
    assert!(wrong[0].contains("left:  resolved") && wrong[0].contains("right: escalated"), "{wrong:?}");
    let unmocked = failures_of(&report, "fails: an action nobody mocked is called");
    assert!(
        unmocked.iter().any(|f| f.contains("unmocked action ti.lookup(u: url(\"http://bad.example/\"))")),
        "{unmocked:?}"
    );
    let approval = failures_of(&report, "fails: an approval is reached with no decision");
    assert!(approval.iter().any(|f| f.contains("no decision")), "{approval:?}");
}

#[test]
fn a_mock_that_does_not_match_is_an_unmocked_call() {
    let src = format!(
        "{BASE}\ntest \"t\" {{\n  mock ti.lookup(\"http://other.example/\") = malicious\n  let run = check_url(ALERT)\n  expect run.disposition == failed\n  expect contains(run.error ?? \"\", \"unmocked action ti.lookup\")\n}}\n"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "0 passed, 1 failed", "{}", report.render());
    assert!(failures_of(&report, "t")[0].contains("unmocked action ti.lookup"));
}

#[test]
fn first_matching_mock_wins_and_rest_patterns_match() {
    let src = format!(
        "{BASE}\ntest \"t\" {{\n  mock ti.lookup_all(\"http://bad.example/\", true) = malicious\n  mock ti.lookup_all(..) = benign\n  mock ti.lookup_all(_, _) = suspicious\n  expect ti.lookup_all(\"http://bad.example/\", deep: true) == malicious\n  expect ti.lookup_all(\"http://bad.example/\") == benign\n  expect len(calls(ti.lookup_all)) == 2\n  expect calls(ti.lookup_all)[1].deep == false\n}}\n"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "1 passed, 0 failed", "{}", report.render());
}

#[test]
fn a_failing_mock_is_caught_by_try() {
    let src = format!(
        "{BASE}\ntest \"t\" {{\n  mock ti.lookup(_) = fail \"feed down\"\n  let r = try {{ ti.lookup(\"http://x.example/\") }} catch err {{ if err.message == \"feed down\" and err.action == \"ti.lookup\" {{ benign }} else {{ malicious }} }}\n  expect r == benign\n}}\n"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "1 passed, 0 failed", "{}", report.render());
}

#[test]
fn a_failing_mock_fails_the_run_not_the_test() {
    let src = format!(
        "{BASE}\ntest \"t\" {{\n  mock ti.lookup(_) = fail \"feed down\"\n  let run = check_url(ALERT)\n  expect run.disposition == failed\n  expect run.error == \"ti.lookup: feed down\"\n  expect run.notes == []\n}}\n"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "1 passed, 0 failed", "{}", report.render());
}

#[test]
fn approvals_in_every_decision() {
    let src = format!(
        "{BASE}
test \"granted\" {{
  mock ti.lookup(_) = malicious
  mock fw.block(_)
  approvals granted
  let run = check_url(ALERT)
  expect run.disposition == resolved
  expect len(run.approvals) == 1
  expect len(calls(fw.block)) == 1
  expect run.notes == [\"verdict malicious\"]
}}
test \"denied\" {{
  mock ti.lookup(_) = malicious
  approvals denied
  let run = check_url(ALERT)
  expect run.disposition == escalated
  expect len(calls(fw.block)) == 0
}}
test \"expired\" {{
  mock ti.lookup(_) = malicious
  approvals expired
  let run = check_url(ALERT)
  expect run.disposition == escalated
}}
test \"undecided\" {{
  mock ti.lookup(_) = malicious
  let run = check_url(ALERT)
  expect run.disposition == awaiting_approval
}}
"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "3 passed, 1 failed", "{}", report.render());
    assert!(failures_of(&report, "undecided")[0].contains("reached with no decision"));
}

#[test]
fn limit_exceeded_fails_the_run_before_any_iteration() {
    let src = format!(
        "{BASE}
test \"within\" {{
  mock fw.block(_)
  let run = many(ALERT)
  expect run.disposition == resolved
  expect len(calls(fw.block)) == 2
}}
test \"over\" {{
  mock fw.block(_)
  let run = many(BIG)
  expect run.disposition == failed
  expect contains(run.error ?? \"\", \"limit 2\")
  expect len(calls(fw.block)) == 0
}}
"
    );
    let report = run(&src);
    assert_eq!(report.summary(), "2 passed, 0 failed", "{}", report.render());
}

#[test]
fn load_decodes_relative_to_the_test_file_with_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.json"),
        r#"{"u": "http://bad.example/", "addr": "192.0.2.1", "targets": []}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.json"), r#"{"u": "not a url", "addr": "192.0.2.1", "targets": [7]}"#)
        .unwrap();
    let src = format!(
        "{BASE}
test \"good\" {{
  let a: A = load(\"good.json\")
  expect a.addr == \"192.0.2.1\"
}}
test \"bad\" {{
  let a: A = load(\"bad.json\")
  expect a.addr == \"192.0.2.1\"
}}
"
    );
    let c = compile_sources(vec![(dir.path().join("t.play"), src)], Config::default());
    assert!(!c.has_errors());
    let report = run_tests_blocking(&c, None).unwrap();
    assert_eq!(report.summary(), "1 passed, 1 failed", "{}", report.render());
    let f = &failures_of(&report, "bad")[0];
    assert!(f.contains("$.u") && f.contains("$.targets[0]"), "{f}");
}

#[test]
fn filter_selects_tests_and_render_ends_with_summary() {
    let src = format!(
        "{BASE}\ntest \"alpha\" {{ expect 1 + 1 == 2 }}\ntest \"beta\" {{ expect [1, 2] == [1, 3] }}\n"
    );
    let c = compile(&src);
    let report = run_tests_blocking(&c, Some("alp")).unwrap();
    assert_eq!(report.summary(), "1 passed, 0 failed");
    let all = run_tests_blocking(&c, None).unwrap();
    let text = all.render();
    assert!(text.lines().next().unwrap().starts_with("ok"), "{text}");
    assert!(text.contains("FAILED beta"), "{text}");
    assert!(text.contains("left:  [1, 2]") && text.contains("right: [1, 3]"), "{text}");
    assert_eq!(text.lines().last().unwrap(), "1 passed, 1 failed");
}
