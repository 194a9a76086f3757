//! Runs the compiler on every case of the conformance corpus's `check` suite and compares
//! the diagnostics with the cases' `# expect:` headers, the way the conformance runner does:
//! every expected (code, file, line) must appear, no other error or warning may, and every
//! `# expect-suppressed:` code must appear suppressed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::{RealFs, Severity, compile, load_project};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var("PARRY_CONFORMANCE").ok().map(PathBuf::from),
        Some(PathBuf::from("/work/shared/spec/conformance")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/conformance")),
    ];
    candidates.into_iter().flatten().find(|p| p.join("check").is_dir())
}

fn play_files(case: &Path) -> Vec<PathBuf> {
    if case.is_file() {
        return vec![case.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![case.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "play") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

struct Expect {
    code: String,
    file: String,
    line: Option<usize>,
}

fn headers(case: &Path) -> (Vec<Expect>, Vec<String>) {
    let mut exp = Vec::new();
    let mut sup = Vec::new();
    for f in play_files(case) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let t = line.trim_start();
            let Some(rest) = t.strip_prefix('#') else { continue };
            let rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("expect-suppressed:") {
                sup.push(r.trim().to_string());
            } else if let Some(r) = rest.strip_prefix("expect:") {
                let mut words = r.split_whitespace();
                let code = words.next().unwrap().to_string();
                let line = match (words.next(), words.next()) {
                    (Some("at"), Some(n)) => Some(n.parse().unwrap()),
                    _ => None,
                };
                exp.push(Expect { code, file: name.clone(), line });
            }
        }
    }
    (exp, sup)
}

/// Problems with one case, as the conformance runner would report them.
fn check_case(case: &Path, must_pass: bool) -> Vec<String> {
    let (exp, sup) = headers(case);
    let project = match load_project(case, &RealFs) {
        Ok(p) => p,
        Err(e) => return vec![format!("project error: {e}")],
    };
    let c = compile(&project, &RealFs);
    let mut got: HashMap<(String, String, usize), usize> = HashMap::new();
    let mut got_sup: HashMap<String, usize> = HashMap::new();
    for d in &c.diagnostics {
        if d.suppressed.is_some() {
            *got_sup.entry(d.code.clone()).or_default() += 1;
        } else if d.severity != Severity::Note {
            let f = c.sources.get(d.primary.span.file).unwrap();
            let name = f.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let line = f.line_col(d.primary.span.start as usize).0;
            *got.entry((d.code.clone(), name, line)).or_default() += 1;
        }
    }
    let mut problems = Vec::new();
    for e in &exp {
        let key = got
            .iter()
            .find(|(k, n)| **n > 0 && k.0 == e.code && e.line.is_none_or(|l| k.1 == e.file && k.2 == l))
            .map(|(k, _)| k.clone());
        match key {
            Some(k) => *got.get_mut(&k).unwrap() -= 1,
            None => problems.push(format!(
                "missing {}{}",
                e.code,
                e.line.map(|l| format!(" at {}:{l}", e.file)).unwrap_or_default()
            )),
        }
    }
    for (k, n) in &got {
        for _ in 0..*n {
            let d = c.diagnostics.iter().find(|d| d.code == k.0).unwrap();
            problems.push(format!("unexpected {} at {}:{} ({})", k.0, k.1, k.2, d.message));
        }
    }
    for s in &sup {
        match got_sup.get_mut(s) {
            Some(n) if *n > 0 => *n -= 1,
            _ => problems.push(format!("missing suppressed {s}")),
        }
    }
    let warnings = ["approval-in-loop", "no-disposition", "unreachable-code", "unused-variable"];
    let errors_expected = exp.iter().any(|e| !warnings.contains(&e.code.as_str()));
    if must_pass && errors_expected {
        problems.push("an ok case may not expect errors".into());
    }
    if c.has_errors() != errors_expected {
        problems.push(format!("has_errors() = {}, expected {}", c.has_errors(), errors_expected));
    }
    problems
}

#[test]
fn conformance_check_suite() {
    let Some(root) = corpus() else {
        eprintln!("conformance corpus not found; set PARRY_CONFORMANCE");
        return;
    };
    let mut failures = Vec::new();
    let mut passed = 0;
    for (sub, must_pass) in [("check/ok", true), ("check/err", false)] {
        let dir = root.join(sub);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "play"))
            .collect();
        cases.sort();
        for case in cases {
            let problems = check_case(&case, must_pass);
            if problems.is_empty() {
                passed += 1;
            } else {
                failures.push(format!(
                    "FAIL {sub}/{}: {}",
                    case.file_name().unwrap().to_string_lossy(),
                    problems.join("; ")
                ));
            }
        }
    }
    eprintln!("{passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
