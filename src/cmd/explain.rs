//! `parry explain CODE`: print the documentation page of a diagnostic code (what it means, why
//! it matters, a failing and a fixed example, how to suppress it).

use parry_compiler::render::code_summary;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A diagnostic code, e.g. `unapproved-destructive` (as printed in brackets by `parry check`).
    code: String,
}

/// Every code's page, embedded at build time from `docs/diagnostics/CODE.md`.
pub const PAGES: &[(&str, &str)] = &[
    ("syntax-error", include_str!("../../docs/diagnostics/syntax-error.md")),
    ("unknown-name", include_str!("../../docs/diagnostics/unknown-name.md")),
    ("duplicate-definition", include_str!("../../docs/diagnostics/duplicate-definition.md")),
    ("type-mismatch", include_str!("../../docs/diagnostics/type-mismatch.md")),
    ("wrong-arguments", include_str!("../../docs/diagnostics/wrong-arguments.md")),
    ("invalid-literal", include_str!("../../docs/diagnostics/invalid-literal.md")),
    ("non-exhaustive-match", include_str!("../../docs/diagnostics/non-exhaustive-match.md")),
    ("recursive-function", include_str!("../../docs/diagnostics/recursive-function.md")),
    ("test-only", include_str!("../../docs/diagnostics/test-only.md")),
    ("unapproved-destructive", include_str!("../../docs/diagnostics/unapproved-destructive.md")),
    ("unbounded-containment", include_str!("../../docs/diagnostics/unbounded-containment.md")),
    ("missing-undo", include_str!("../../docs/diagnostics/missing-undo.md")),
    ("secret-leak", include_str!("../../docs/diagnostics/secret-leak.md")),
    ("allow-without-reason", include_str!("../../docs/diagnostics/allow-without-reason.md")),
    ("override-forbidden", include_str!("../../docs/diagnostics/override-forbidden.md")),
    ("approval-in-loop", include_str!("../../docs/diagnostics/approval-in-loop.md")),
    ("no-disposition", include_str!("../../docs/diagnostics/no-disposition.md")),
    ("unreachable-code", include_str!("../../docs/diagnostics/unreachable-code.md")),
    ("unused-variable", include_str!("../../docs/diagnostics/unused-variable.md")),
];

pub fn run(args: Args) -> ExitCode {
    // Accept the code as printed in a report: `error[unapproved-destructive]`, any case.
    let wanted = normalize(&args.code);
    if let Some((_, page)) = PAGES.iter().find(|(code, _)| *code == wanted) {
        print!("{page}");
        if !page.ends_with('\n') {
            println!();
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("error: unknown diagnostic code `{}`", args.code);
    if let Some(close) = closest(&wanted) {
        eprintln!("  help: did you mean `{close}`?");
    }
    eprintln!("\nknown codes:");
    for (code, _) in PAGES {
        eprintln!("  {code:<24} {}", code_summary(code));
    }
    ExitCode::from(2)
}

fn normalize(code: &str) -> String {
    let code = code.trim();
    let code = match (code.find('['), code.rfind(']')) {
        (Some(open), Some(close)) if open < close => code.get(open + 1..close).unwrap_or(code),
        _ => code,
    };
    code.trim().to_ascii_lowercase().replace('_', "-")
}

/// The known code nearest to `code` by edit distance, if it is plausibly a typo.
fn closest(code: &str) -> Option<&'static str> {
    PAGES
        .iter()
        .map(|(known, _)| (*known, edit_distance(code, known)))
        .filter(|(known, d)| *d <= 3.max(known.len() / 4) || known.contains(code) && code.len() >= 4)
        .min_by_key(|(_, d)| *d)
        .map(|(known, _)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
