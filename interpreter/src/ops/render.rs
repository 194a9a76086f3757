//! Text output of the run-time commands: what an analyst reads in a terminal.
//!
//! Colour is optional (the caller decides: a terminal, and no `NO_COLOR`); without it the
//! output is plain text that tests and scripts can match.

use super::{CaseSummary, PendingApproval, ResumeReport, RunReport, RunResult, Stats, format_ms};
use crate::engine::{ActionRecord, ActionStatus, ApprovalState, Case, Disposition, UndoReport};
use serde_json::Value as Json;
use std::fmt::Write as _;

/// Longest JSON value printed inline before it is cut (the full value is in `--json`).
const MAX_INLINE: usize = 160;

struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
    fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }
    fn disposition(&self, d: Disposition) -> String {
        let code = match d {
            Disposition::Resolved => "1;32",
            Disposition::Escalated => "1;33",
            Disposition::AwaitingApproval => "1;36",
            Disposition::Failed => "1;31",
            Disposition::Completed => "1;34",
        };
        self.wrap(code, d.name())
    }
    fn status(&self, s: ActionStatus) -> String {
        let (code, text) = match s {
            ActionStatus::Done => ("32", "done"),
            ActionStatus::Failed => ("31", "failed"),
            ActionStatus::Skipped => ("2", "skipped"),
            ActionStatus::Unconfirmed => ("1;31", "unconfirmed"),
        };
        self.wrap(code, text)
    }
}

/// Compact one-line JSON, cut at [`MAX_INLINE`] characters.
pub fn compact(value: &Json) -> String {
    let text = match value {
        Json::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    cut(&text, MAX_INLINE)
}

fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let head: String = one_line.chars().take(max).collect();
        format!("{head}…")
    }
}

/// The output of `parry run`.
pub fn run_report(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    if let Some(decodable) = &report.no_match {
        let _ = writeln!(
            out,
            "No playbook takes this alert: it is well-formed for {}, but no `when` condition holds. Nothing ran.",
            decodable.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        );
        let _ = writeln!(out, "Use `--playbook NAME` to run a playbook whatever its `when` says.");
        return out;
    }
    for (i, run) in report.runs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&run_result(run, &report.project_args, color));
    }
    out
}

/// One run: the case, or the error that stopped the engine.
pub fn run_result(run: &RunResult, project_args: &str, color: bool) -> String {
    let p = Paint { color };
    match &run.outcome {
        Ok(outcome) => {
            let mut out = case(&outcome.case, color);
            if !run.pending.is_empty() {
                let _ = writeln!(out, "  {}", p.bold("Waiting for approval"));
                for a in &run.pending {
                    let _ = writeln!(
                        out,
                        "    approval {} (group {}, expires {}): {}",
                        a.id,
                        a.group.as_deref().unwrap_or("any approver"),
                        format_ms(a.expires_at),
                        a.prompt
                    );
                    let _ = writeln!(
                        out,
                        "      grant: parry approve {} {} --as USER{project_args}",
                        a.run_id, a.id
                    );
                    let _ = writeln!(
                        out,
                        "      deny:  parry approve {} {} --as USER --deny{project_args}",
                        a.run_id, a.id
                    );
                }
                let _ = writeln!(out, "      then:  parry resume {}{project_args}", outcome.run_id);
            }
            out
        }
        Err(e) => {
            let mut out = String::new();
            let _ = writeln!(out, "{} {}", p.bold(&run.playbook), p.disposition(Disposition::Failed));
            for line in e.lines() {
                let _ = writeln!(out, "  {line}");
            }
            out
        }
    }
}

/// A case in full: header, summary, notes, evidence, recommendation, actions, approvals.
pub fn case(case: &Case, color: bool) -> String {
    let p = Paint { color };
    let mut out = String::new();
    let run =
        if case.dry_run { "dry run (nothing changed)".to_string() } else { format!("run {}", case.run_id) };
    let _ = writeln!(out, "{}  {}  {}", p.bold(&case.playbook), p.dim(&run), p.disposition(case.disposition));
    if let Some(s) = &case.summary {
        let _ = writeln!(out, "  {s}");
    }
    if let Some(e) = &case.error {
        for (i, line) in e.lines().enumerate() {
            let _ = writeln!(out, "  {}{line}", if i == 0 { "error: " } else { "  " });
        }
    }
    if !case.notes.is_empty() {
        let _ = writeln!(out, "  {}", p.bold("Notes"));
        for n in &case.notes {
            let _ = writeln!(out, "    - {n}");
        }
    }
    if !case.evidence.is_empty() {
        let _ = writeln!(out, "  {}", p.bold("Evidence"));
        for e in &case.evidence {
            let _ = writeln!(out, "    {}: {}", e.label, compact(&e.value.json()));
        }
    }
    if let Some(r) = &case.recommendation {
        let _ = writeln!(out, "  {}", p.bold("Recommendation"));
        let _ = writeln!(out, "    {r}");
    }
    if !case.actions.is_empty() {
        let _ = writeln!(out, "  {} ({})", p.bold("Actions"), case.actions.len());
        for a in &case.actions {
            out.push_str(&action(a, &p));
        }
    }
    if !case.approvals.is_empty() {
        let _ = writeln!(out, "  {}", p.bold("Approvals"));
        for a in &case.approvals {
            let who = a.decided_by.as_deref().map(|u| format!(" by {u}")).unwrap_or_default();
            let group = a.group.as_deref().unwrap_or("any approver");
            let state = if case.dry_run && a.state == ApprovalState::Pending {
                "would be requested".to_string()
            } else {
                a.state.name().to_string()
            };
            let _ = writeln!(out, "    [{}] {}{who} (group {group}): {}", a.id, state, a.prompt);
        }
    }
    out
}

fn action(a: &ActionRecord, p: &Paint) -> String {
    let mut out = String::new();
    let duration = a.duration_ms.map(|d| format!(" {d} ms")).unwrap_or_default();
    let replayed = if a.replayed { " (journaled earlier)" } else { "" };
    let _ = writeln!(
        out,
        "    {}.{} [{}] {}{duration}{replayed}",
        a.names.connector(),
        a.names.action(),
        a.names.effect(),
        p.status(a.status)
    );
    let _ = writeln!(out, "      args: {}", compact(&a.arguments.json()));
    if let Some(r) = a.result.as_ref().filter(|r| !r.is_null()) {
        let _ = writeln!(out, "      result: {}", compact(&r.json()));
    }
    if let Some(e) = &a.error {
        let _ = writeln!(out, "      error: {}", cut(e, 400));
    }
    if let Some(ap) = &a.approval {
        let _ = writeln!(out, "      ran inside a granted approval ({ap})");
    }
    out
}

/// The output of `parry approvals`.
pub fn approvals(list: &[PendingApproval]) -> String {
    if list.is_empty() {
        return "No pending approvals.\n".to_string();
    }
    let mut out = String::new();
    for a in list {
        let expired = if a.expired { " EXPIRED (`parry resume` takes the else branch)" } else { "" };
        let _ = writeln!(
            out,
            "run {} approval {}  {}  group {}  expires {}{expired}",
            a.run_id,
            a.approval,
            a.playbook,
            a.group.as_deref().unwrap_or("(any approver)"),
            a.expires_at
        );
        let _ = writeln!(out, "    {}", a.prompt);
        if !a.expired {
            let _ = writeln!(out, "    {}", a.command);
        }
    }
    out
}

/// The output of `parry resume`.
pub fn resume(report: &ResumeReport, project_args: &str, color: bool) -> String {
    let mut out = String::new();
    if report.resumed.is_empty() && report.waiting.is_empty() {
        out.push_str("No run to resume: no run awaits a decided or expired approval.\n");
    }
    for (i, run) in report.resumed.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&run_result(run, project_args, color));
    }
    for (run, why) in &report.waiting {
        let _ = writeln!(out, "run {run} still {why}");
    }
    out
}

/// The output of `parry undo`.
pub fn undo(report: &UndoReport) -> String {
    let mut out = String::new();
    if report.undone.is_empty() {
        if report.already_undone > 0 {
            let _ = writeln!(
                out,
                "Run {}: nothing left to undo ({} reversible action(s) already undone).",
                report.run_id, report.already_undone
            );
        } else {
            let _ = writeln!(out, "Run {}: no reversible action completed; nothing to undo.", report.run_id);
        }
        return out;
    }
    let _ = writeln!(out, "Run {}: undoing {} action(s), newest first", report.run_id, report.undone.len());
    for item in &report.undone {
        let status = match &item.error {
            None => "undone".to_string(),
            Some(e) => format!("FAILED: {e}"),
        };
        let undo = if item.undo_action.is_empty() {
            String::new()
        } else {
            format!(" with {}.{}", item.connector, item.undo_action)
        };
        let _ = writeln!(
            out,
            "  {}.{}{undo} {}: {status}",
            item.connector,
            item.action,
            compact(&item.arguments)
        );
    }
    if report.already_undone > 0 {
        let _ = writeln!(out, "  ({} action(s) were already undone earlier)", report.already_undone);
    }
    out
}

/// The output of `parry cases`.
pub fn cases(list: &[CaseSummary]) -> String {
    if list.is_empty() {
        return "No cases yet: `parry run PROJECT --alert FILE` creates one.\n".to_string();
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<6} {:<24} {:<18} {:<20} SUMMARY", "RUN", "PLAYBOOK", "DISPOSITION", "CREATED");
    for c in list {
        let disposition = c.disposition.clone().unwrap_or_else(|| c.status.clone());
        let summary =
            c.summary.clone().or_else(|| c.error.clone()).unwrap_or_else(|| match c.status.as_str() {
                "awaiting_approval" => "waiting for an approval (`parry approvals`)".to_string(),
                "running" => "unfinished (`parry resume --interrupted` continues it)".to_string(),
                _ => String::new(),
            });
        let _ = writeln!(
            out,
            "{:<6} {:<24} {:<18} {:<20} {}",
            c.run_id,
            c.playbook,
            disposition,
            c.created,
            cut(&summary, 100)
        );
    }
    out
}

/// Milliseconds as `2h 30m`, `45m`, `0m`.
pub fn human_duration(ms: u64) -> String {
    let minutes = ms / 60_000;
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// The output of `parry stats`.
pub fn stats(s: &Stats) -> String {
    if s.total.runs == 0 {
        return "No runs yet.\n".to_string();
    }
    let mut out = String::new();
    let t = &s.total;
    let _ = writeln!(
        out,
        "{} runs: {} resolved, {} escalated, {} awaiting approval, {} failed, {} completed, {} unfinished",
        t.runs, t.resolved, t.escalated, t.awaiting_approval, t.failed, t.completed, t.running
    );
    let _ = writeln!(
        out,
        "Automation rate: {:.0}% ({} of {} runs resolved without a human)",
        s.automation_rate * 100.0,
        t.automated,
        t.runs
    );
    let _ = writeln!(out, "Analyst time saved: {}", human_duration(t.saved_ms));
    let _ = writeln!(out, "Errors: {}", t.failed);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:>5} {:>8} {:>9} {:>8} {:>6} {:>9} {:>10} {:>8}",
        "PLAYBOOK", "RUNS", "RESOLVED", "ESCALATED", "AWAITING", "FAILED", "AUTOMATED", "RATE", "SAVED"
    );
    for p in &s.playbooks {
        let _ = writeln!(
            out,
            "{:<24} {:>5} {:>8} {:>9} {:>8} {:>6} {:>9} {:>9.0}% {:>8}",
            p.playbook,
            p.runs,
            p.resolved,
            p.escalated,
            p.awaiting_approval,
            p.failed,
            p.automated,
            p.automation_rate() * 100.0,
            human_duration(p.saved_ms)
        );
    }
    if !s.without_saves.is_empty() {
        let _ = writeln!(
            out,
            "\nNo `saves` known for {}: their time saved counts as 0 (add `saves DURATION` to the playbook).",
            s.without_saves.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0m");
        assert_eq!(human_duration(30 * 60_000), "30m");
        assert_eq!(human_duration(90 * 60_000), "1h 30m");
        assert_eq!(human_duration(120 * 60_000), "2h");
    }

    #[test]
    fn long_values_are_cut() {
        let long = Json::String("x".repeat(500));
        let shown = compact(&long);
        assert_eq!(shown.chars().count(), MAX_INLINE + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(compact(&serde_json::json!({"a": 1})), "{\"a\":1}");
    }
}
