//! End-to-end tests of `parry run`, `approvals`, `approve`, `resume`, `undo`, `cases` and
//! `stats`, driving the real binary on copies of the example projects in temporary
//! directories (the repository's examples are never modified).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

const PHISH_URL: &str =
    "https://login.microsoftonline-secure.example/common/oauth2/authorize?client=o365&invoice=8841";
const PHISH_SENDER: &str = "billing@microsoftonline-secure.example";

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "parry-cli-run-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of `examples/NAME` (without any `.parry` state) in a fresh temporary directory.
struct Project {
    _tmp: TempDir,
    root: PathBuf,
}

impl Project {
    fn copy(name: &str) -> Project {
        let tmp = TempDir::new();
        let root = tmp.0.join(name);
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name), &root);
        Project { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn alert(&self, name: &str) -> String {
        self.path(&format!("alerts/{name}")).display().to_string()
    }

    fn run(&self, alert: &str, extra: &[&str]) -> Output {
        let root = self.root.display().to_string();
        let mut args = vec!["run", root.as_str(), "--alert", alert];
        args.extend_from_slice(extra);
        parry(&args, &self.root)
    }

    /// `parry CMD ... --project ROOT`.
    fn cmd(&self, args: &[&str]) -> Output {
        let root = self.root.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--project", root.as_str()]);
        parry(&all, self.root.parent().unwrap())
    }

    fn cases(&self) -> Vec<Value> {
        let out = self.cmd(&["cases", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }

    /// Every file below the project (except `.parry/`) with its contents.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        snapshot_into(&self.root, &self.root, &mut out);
        out
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// The files of `mailboxes/.quarantine`, relative to it.
    fn quarantined(&self) -> Vec<PathBuf> {
        let q = self.path("mailboxes/.quarantine");
        let mut out = BTreeMap::new();
        if q.exists() {
            snapshot_into(&q, &q, &mut out);
        }
        out.into_keys().collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".parry" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            // Keep modification times: the maildir connector reads delivery times from them.
            let mtime = entry.metadata().unwrap().modified().unwrap();
            std::fs::File::options().write(true).open(&target).unwrap().set_modified(mtime).unwrap();
        }
    }
}

fn snapshot_into(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name() == ".parry" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            snapshot_into(base, &path, out);
        } else {
            out.insert(path.strip_prefix(base).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
        }
    }
}

fn parry(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parry"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("PARRY_TEST_CRASH_AFTER")
        .env_remove("PARRY_TEST_CRASH_BEFORE")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", stdout(o), stderr(o))
}

fn run_json(p: &Project, alert: &str, extra: &[&str]) -> (Output, Vec<Value>) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = p.run(&p.alert(alert), &args);
    let cases = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", both(&out)))
        .as_array()
        .unwrap()
        .clone();
    (out, cases)
}

fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn the_readme_command_resolves_contains_and_undo_restores() {
    let p = Project::copy("phishing");
    let before = p.snapshot();
    let out = p.run(&p.alert("reported.json"), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(text.contains("phishing_triage"), "{text}");
    assert!(text.contains("resolved"), "{text}");
    assert!(text.contains("Phishing: quarantined 3 copies"), "{text}");
    assert!(text.contains("mail.quarantine [reversible] done"), "{text}");
    assert!(text.contains("Evidence"), "{text}");
    assert!(text.contains("Recommendation"), "{text}");
    assert!(p.path(".parry/state.db").exists());

    // Every copy was moved into the quarantine, none is left in a mailbox.
    let quarantined = p.quarantined();
    assert_eq!(quarantined.len(), 3, "{quarantined:?}");
    for q in &quarantined {
        assert!(before.contains_key(&Path::new("mailboxes").join(q)), "{q:?} was not a mailbox file");
        assert!(!p.path("mailboxes").join(q).exists(), "{q:?} is still in its mailbox");
    }
    assert_eq!(count_lines(&p.read("blocklists/proxy-urls.txt"), PHISH_URL), 1);
    assert_eq!(count_lines(&p.read("blocklists/blocked-senders.txt"), PHISH_SENDER), 1);

    let cases = p.cases();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["disposition"], "resolved");
    let run = cases[0]["run_id"].as_str().unwrap().to_string();

    let undo = p.cmd(&["undo", &run]);
    assert_eq!(undo.status.code(), Some(0), "{}", both(&undo));
    let undone = stdout(&undo);
    assert!(undone.contains("mail.quarantine with mail.release"), "{undone}");
    assert!(undone.contains("proxy.block_url with proxy.unblock_url"), "{undone}");
    // Newest first: the sender block (last reversible call) is undone before the quarantines.
    let sender_at = undone.find("mail.block_sender").unwrap();
    let quarantine_at = undone.find("mail.quarantine").unwrap();
    assert!(sender_at < quarantine_at, "{undone}");
    assert!(p.quarantined().is_empty());
    for q in &quarantined {
        let original = Path::new("mailboxes").join(q);
        assert_eq!(
            std::fs::read(p.root.join(&original)).unwrap(),
            before[&original],
            "{original:?} restored"
        );
    }
    assert_eq!(count_lines(&p.read("blocklists/proxy-urls.txt"), PHISH_URL), 0);
    assert_eq!(count_lines(&p.read("blocklists/blocked-senders.txt"), PHISH_SENDER), 0);

    // Once: a second undo has nothing left to do.
    let again = p.cmd(&["undo", &run]);
    assert_eq!(again.status.code(), Some(0), "{}", both(&again));
    assert!(stdout(&again).contains("nothing left to undo"), "{}", both(&again));
    assert!(p.quarantined().is_empty());

    let unknown = p.cmd(&["undo", "999"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", both(&unknown));
    assert!(stderr(&unknown).contains("no run `999`"), "{}", both(&unknown));
}

#[test]
fn a_suspicious_email_waits_for_a_member_of_the_group() {
    let p = Project::copy("phishing");
    let out = p.run(&p.alert("suspicious.json"), &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(text.contains("awaiting_approval"), "{text}");
    assert!(text.contains("parry approve "), "{text}");
    assert!(p.quarantined().is_empty(), "nothing is quarantined before the approval");

    let list = p.cmd(&["approvals", "--json"]);
    assert_eq!(list.status.code(), Some(0), "{}", both(&list));
    let pending: Value = serde_json::from_slice(&list.stdout).unwrap();
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["group"], "soc-tier2");
    assert_eq!(pending[0]["expired"], false);
    let run = pending[0]["run_id"].as_str().unwrap().to_string();
    let approval = pending[0]["approval"].as_i64().unwrap().to_string();
    let human = p.cmd(&["approvals"]);
    assert!(stdout(&human).contains(&format!("run {run} approval {approval}")), "{}", both(&human));

    // Resuming before a decision leaves the run waiting.
    let early = p.cmd(&["resume", &run]);
    assert_eq!(early.status.code(), Some(1), "{}", both(&early));
    assert!(stdout(&early).contains("waits for approval"), "{}", both(&early));

    let outsider = p.cmd(&["approve", &run, &approval, "--as", "mallory"]);
    assert_eq!(outsider.status.code(), Some(1), "{}", both(&outsider));
    assert!(stderr(&outsider).contains("not a member of approver group `soc-tier2`"), "{}", both(&outsider));
    let unknown = p.cmd(&["approve", &run, "424242", "--as", "marta"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", both(&unknown));

    // The approval id is optional when the run waits for exactly one.
    let member = p.cmd(&["approve", &run, "--as", "marta"]);
    assert_eq!(member.status.code(), Some(0), "{}", both(&member));
    assert!(stdout(&member).contains("granted by marta"), "{}", both(&member));
    let twice = p.cmd(&["approve", &run, &approval, "--as", "yusuf", "--deny"]);
    assert_eq!(twice.status.code(), Some(1), "{}", both(&twice));
    assert!(stderr(&twice).contains("already granted by marta"), "{}", both(&twice));

    let resumed = p.cmd(&["resume"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", both(&resumed));
    let text = stdout(&resumed);
    assert!(text.contains("resolved"), "{text}");
    assert!(text.contains("quarantined 2 copies after approval"), "{text}");
    assert_eq!(p.quarantined().len(), 2);
    let cases = p.cases();
    assert_eq!(cases[0]["disposition"], "resolved");
    assert_eq!(cases[0]["case"]["approvals"][0]["decided_by"], "marta");
    // Every quarantine ran inside the granted approval.
    for action in cases[0]["case"]["actions"].as_array().unwrap() {
        if action["action"] == "quarantine" {
            assert!(action["approval"].is_string(), "{action}");
        }
    }
    let none_left = p.cmd(&["approvals"]);
    assert!(stdout(&none_left).contains("No pending approvals"), "{}", both(&none_left));
    let finished = p.cmd(&["resume", &run]);
    assert_eq!(finished.status.code(), Some(2), "{}", both(&finished));
    assert!(stderr(&finished).contains("finished"), "{}", both(&finished));

    // Statistics: one run, resolved after a human decision, so not automated.
    let stats = p.cmd(&["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["total"]["runs"], 1);
    assert_eq!(stats["total"]["resolved"], 1);
    assert_eq!(stats["total"]["automated"], 0);
    assert_eq!(stats["total"]["saved_ms"], 0);
}

#[test]
fn a_denied_approval_takes_the_else_branch() {
    let p = Project::copy("phishing");
    let (out, cases) = run_json(&p, "suspicious.json", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(cases[0]["disposition"], "awaiting_approval");
    let run = cases[0]["run_id"].as_str().unwrap().to_string();
    let deny = p.cmd(&["approve", &run, "--as", "yusuf", "--deny"]);
    assert_eq!(deny.status.code(), Some(0), "{}", both(&deny));
    let resumed = p.cmd(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", both(&resumed));
    assert!(stdout(&resumed).contains("escalated"), "{}", both(&resumed));
    assert!(p.quarantined().is_empty());
    assert_eq!(count_lines(&p.read(".parry/tickets.jsonl"), "Suspicious email"), 1);
}

#[test]
fn the_benign_alert_resolves_without_containment() {
    let p = Project::copy("phishing");
    let before = p.snapshot();
    let (out, cases) = run_json(&p, "benign.json", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["disposition"], "resolved");
    assert_eq!(cases[0]["summary"], "No malicious indicators");
    let effects: Vec<&str> = cases[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["effect"] != "read")
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(effects, vec!["send"], "only the reply to the reporter is written");
    assert!(p.quarantined().is_empty());
    let after = p.snapshot();
    for (path, bytes) in &before {
        assert_eq!(after.get(path), Some(bytes), "{path:?} changed");
    }

    // A resolved run without a human counts as automated, with the playbook's `saves 30m`.
    let stats = p.cmd(&["stats"]);
    let text = stdout(&stats);
    assert!(text.contains("Automation rate: 100%"), "{text}");
    assert!(text.contains("Analyst time saved: 30m"), "{text}");
}

#[test]
fn bad_alerts_are_rejected_with_json_paths_and_nothing_is_written() {
    let p = Project::copy("phishing");
    let before = p.snapshot();
    let bad = p.path("alerts/bad");
    std::fs::create_dir_all(&bad).unwrap();
    let write = |name: &str, text: &[u8]| {
        let path = bad.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let invalid = write("invalid.json", b"{\n  \"kind\": \"phishing_report\",\n  \"reporter\": \n}");
    let types = write(
        "types.json",
        br#"{"kind": 7, "message_id": ["x"], "reporter": "not an address", "comment": 3}"#,
    );
    let missing = write("missing.json", br#"{"kind": "phishing_report"}"#);
    let not_object = write("array.json", b"[1, 2, 3]");
    let huge = bad.join("huge.json");
    {
        let mut text = String::from("{\"kind\": \"phishing_report\", \"pad\": \"");
        text.push_str(&"x".repeat(11 * 1024 * 1024));
        text.push_str("\"}");
        std::fs::write(&huge, text).unwrap();
    }
    let huge = huge.display().to_string();
    let before_bad = p.snapshot();

    let cases: Vec<(&str, Vec<&str>)> = vec![
        (invalid.as_str(), vec!["invalid.json:4:1", "not valid JSON"]),
        (types.as_str(), vec!["$.kind", "$.message_id", "$.reporter", "$.comment", "phishing_triage"]),
        (missing.as_str(), vec!["$.message_id", "$.reporter"]),
        (not_object.as_str(), vec!["$"]),
        (huge.as_str(), vec!["more than the limit", "10 MiB"]),
    ];
    for (alert, expected) in &cases {
        for extra in [&[][..], &["--json"][..], &["--playbook", "phishing_triage"][..]] {
            let out = p.run(alert, extra);
            assert_eq!(out.status.code(), Some(2), "{alert} {extra:?}\n{}", both(&out));
            for e in expected {
                assert!(stderr(&out).contains(e), "{alert} {extra:?}: missing {e}\n{}", both(&out));
            }
            assert!(stdout(&out).is_empty(), "{}", both(&out));
            assert!(!p.path(".parry").exists(), "a rejected alert created the state directory");
        }
    }
    assert_eq!(p.snapshot(), before_bad);
    assert!(before_bad.len() == before.len() + 5);
    let missing_file = p.run("/nonexistent/alert.json", &[]);
    assert_eq!(missing_file.status.code(), Some(2), "{}", both(&missing_file));
    assert!(stderr(&missing_file).contains("cannot read the alert"), "{}", both(&missing_file));
    let unknown_playbook = p.run(&p.alert("reported.json"), &["--playbook", "nope"]);
    assert_eq!(unknown_playbook.status.code(), Some(2), "{}", both(&unknown_playbook));
    assert!(stderr(&unknown_playbook).contains("phishing_triage"), "{}", both(&unknown_playbook));
    assert!(!p.path(".parry").exists());
}

#[test]
fn an_alert_no_playbook_takes_runs_nothing() {
    let p = Project::copy("phishing");
    let other = p.path("alerts/other.json");
    std::fs::write(&other, br#"{"kind": "spam_report", "message_id": "x", "reporter": "dave@corp.example"}"#)
        .unwrap();
    let out = p.run(&other.display().to_string(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout(&out).contains("No playbook takes this alert"), "{}", both(&out));
    assert!(!p.path(".parry").exists());
    let json = p.run(&other.display().to_string(), &["--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", both(&json));
    assert_eq!(serde_json::from_slice::<Value>(&json.stdout).unwrap(), serde_json::json!([]));
}

#[test]
fn a_dry_run_changes_nothing_on_disk() {
    let p = Project::copy("phishing");
    let before = p.snapshot();
    let (out, cases) = run_json(&p, "reported.json", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(cases[0]["dry_run"], true);
    let skipped: Vec<&str> = cases[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "skipped")
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"quarantine"), "{skipped:?}");
    assert!(skipped.contains(&"block_url"), "{skipped:?}");
    let text = p.run(&p.alert("suspicious.json"), &["--dry-run"]);
    assert_eq!(text.status.code(), Some(0), "{}", both(&text));
    assert!(stdout(&text).contains("dry run"), "{}", both(&text));
    assert!(stdout(&text).contains("would be requested"), "{}", both(&text));
    assert_eq!(p.snapshot(), before);
    assert!(!p.path(".parry").exists(), "a dry run created the state directory");
}

#[test]
fn a_project_with_errors_is_refused() {
    let p = Project::copy("phishing");
    let play = p.path("phishing.play");
    let mut text = std::fs::read_to_string(&play).unwrap();
    text.push_str("\nplaybook broken(alert: PhishReport) { mail.purge(nothing) }\n");
    std::fs::write(&play, text).unwrap();
    let out = p.run(&p.alert("reported.json"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stderr(&out).contains("error["), "{}", both(&out));
    assert!(stderr(&out).contains("parry check"), "{}", both(&out));
    assert!(p.quarantined().is_empty());
    assert!(!p.path(".parry").exists());
}

#[test]
fn commands_default_to_the_current_directory_and_a_custom_state_file() {
    let p = Project::copy("phishing");
    let state = p.root.parent().unwrap().join("elsewhere.db");
    let state_arg = state.display().to_string();
    let out = parry(&["run", ".", "--alert", "alerts/suspicious.json", "--state", &state_arg], &p.root);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout(&out).contains(&format!("--state {state_arg}")), "{}", both(&out));
    assert!(state.exists());
    assert!(!p.path(".parry/state.db").exists());
    let list = parry(&["approvals", "--state", &state_arg], &p.root);
    assert!(stdout(&list).contains("soc-tier2"), "{}", both(&list));
    let default_list = parry(&["approvals"], &p.root);
    assert!(stdout(&default_list).contains("No pending approvals"), "{}", both(&default_list));
    let cases = parry(&["cases", "--state", &state_arg], &p.root);
    assert!(stdout(&cases).contains("awaiting_approval"), "{}", both(&cases));
}

/// Counts, on disk, the effects of the reported-phish run: each must have happened once.
fn assert_effects_once(p: &Project, context: &str) {
    assert_eq!(p.quarantined().len(), 3, "{context}: {:?}", p.quarantined());
    assert_eq!(count_lines(&p.read("blocklists/proxy-urls.txt"), PHISH_URL), 1, "{context}");
    assert_eq!(count_lines(&p.read("blocklists/blocked-senders.txt"), PHISH_SENDER), 1, "{context}");
    assert_eq!(count_lines(&p.read(".parry/notifications.jsonl"), "Phishing from"), 1, "{context}");
    let replies = std::fs::read_dir(p.path("mailboxes/alice@corp.example/new")).unwrap().count();
    assert_eq!(replies, 1, "{context}: one reply to the reporter");
}

#[test]
fn runs_killed_after_an_effect_resume_without_repeating_it() {
    // The phishing run makes 7 effectful calls: 3 quarantines, a URL and a sender block, a
    // notification and a reply. Stop the process after each one in turn, then resume.
    for n in 1..=7 {
        let p = Project::copy("phishing");
        let root = p.root.display().to_string();
        let alert = p.alert("reported.json");
        let crashed = Command::new(env!("CARGO_BIN_EXE_parry"))
            .args(["run", &root, "--alert", &alert])
            .env("PARRY_TEST_CRASH_AFTER", n.to_string())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "n={n}: the hook did not stop the run\n{}", both(&crashed));
        assert!(stderr(&crashed).contains("stopping after"), "n={n}\n{}", both(&crashed));
        let cases = p.cases();
        assert_eq!(cases.len(), 1, "n={n}");
        assert_eq!(cases[0]["status"], "running", "n={n}");

        let resumed = p.cmd(&["resume", "--interrupted"]);
        assert_eq!(resumed.status.code(), Some(0), "n={n}\n{}", both(&resumed));
        assert!(stdout(&resumed).contains("resolved"), "n={n}\n{}", both(&resumed));
        assert!(stdout(&resumed).contains("(journaled earlier)"), "n={n}\n{}", both(&resumed));
        assert_effects_once(&p, &format!("n={n}"));
        let cases = p.cases();
        assert_eq!(cases[0]["disposition"], "resolved", "n={n}");
        let replayed = cases[0]["case"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["effect"] != "read" && a["replayed"] == true)
            .count();
        assert_eq!(replayed, n, "n={n}: the effects done before the crash come from the journal");
    }
}

#[test]
fn a_run_killed_between_intent_and_outcome_is_never_retried() {
    let p = Project::copy("phishing");
    let root = p.root.display().to_string();
    let alert = p.alert("reported.json");
    // Stop right after the intent of the 2nd quarantine is journaled, before the call.
    let crashed = Command::new(env!("CARGO_BIN_EXE_parry"))
        .args(["run", &root, "--alert", &alert])
        .env("PARRY_TEST_CRASH_BEFORE", "2")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "{}", both(&crashed));
    assert_eq!(p.quarantined().len(), 1);
    let cases = p.cases();
    let run = cases[0]["run_id"].as_str().unwrap().to_string();
    let resumed = p.cmd(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(1), "{}", both(&resumed));
    let text = stdout(&resumed);
    assert!(text.contains("failed"), "{text}");
    assert!(text.contains("unconfirmed"), "{text}");
    // Nothing after the unconfirmed call ran, and nothing ran twice.
    assert_eq!(p.quarantined().len(), 1);
    assert_eq!(count_lines(&p.read("blocklists/proxy-urls.txt"), PHISH_URL), 0);
    let cases = p.cases();
    assert_eq!(cases[0]["disposition"], "failed");
    let stats = p.cmd(&["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["total"]["failed"], 1);
}

#[test]
fn runs_killed_at_random_points_never_repeat_an_effect() {
    // SIGKILL at increasing delays: wherever the kill lands, a resumed run either finishes
    // with every effect exactly once, or stops at an unconfirmed call without repeating it.
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 160] {
        let p = Project::copy("phishing");
        let root = p.root.display().to_string();
        let alert = p.alert("reported.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_parry"))
            .args(["run", &root, "--alert", &alert])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let cases = p.cases();
        if cases.is_empty() {
            // Killed before the run was recorded: nothing may have happened.
            assert!(p.quarantined().is_empty(), "delay {delay_ms}");
            continue;
        }
        if cases[0]["status"] != "finished" {
            let resumed = p.cmd(&["resume", "--interrupted"]);
            assert!(matches!(resumed.status.code(), Some(0 | 1)), "delay {delay_ms}\n{}", both(&resumed));
        }
        let cases = p.cases();
        assert_eq!(cases[0]["status"], "finished", "delay {delay_ms}");
        match cases[0]["disposition"].as_str().unwrap() {
            "resolved" => assert_effects_once(&p, &format!("delay {delay_ms}")),
            "failed" => {
                assert!(
                    cases[0]["error"].as_str().unwrap().contains("not retried"),
                    "delay {delay_ms}: {}",
                    cases[0]
                );
                assert!(p.quarantined().len() <= 3);
                assert!(count_lines(&p.read("blocklists/proxy-urls.txt"), PHISH_URL) <= 1);
                assert!(count_lines(&p.read("blocklists/blocked-senders.txt"), PHISH_SENDER) <= 1);
            }
            other => panic!("delay {delay_ms}: unexpected disposition {other}"),
        }
    }
}

#[test]
fn the_other_examples_run_end_to_end() {
    for (example, alerts) in [
        (
            "malware",
            &["qakbot-workstation.json", "false-positive.json", "unknown-binary.json", "webshell-on-dc.json"]
                [..],
        ),
        ("brute_force", &["vpn-spray.json", "partner-lockout.json", "compromised-service-account.json"][..]),
    ] {
        let p = Project::copy(example);
        for alert in alerts {
            let (out, cases) = run_json(&p, alert, &[]);
            assert_eq!(out.status.code(), Some(0), "{example}/{alert}\n{}", both(&out));
            assert!(!cases.is_empty(), "{example}/{alert}: no playbook ran");
            for case in &cases {
                let d = case["disposition"].as_str().unwrap();
                assert!(
                    matches!(d, "resolved" | "escalated" | "awaiting_approval" | "completed"),
                    "{example}/{alert}: {d}\n{case}"
                );
            }
        }
        let stats = p.cmd(&["stats"]);
        assert_eq!(stats.status.code(), Some(0), "{}", both(&stats));
        assert!(stdout(&stats).contains(&format!("{} runs", alerts.len())), "{}", both(&stats));
    }
}

#[test]
fn an_expired_approval_cannot_be_decided_and_resume_takes_the_else_branch() {
    let p = Project::copy("phishing");
    let play = p.path("phishing.play");
    let text = std::fs::read_to_string(&play).unwrap();
    assert!(text.contains("within 30m"));
    std::fs::write(&play, text.replace("within 30m", "within 1s")).unwrap();
    let (out, cases) = run_json(&p, "suspicious.json", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(cases[0]["disposition"], "awaiting_approval");
    let run = cases[0]["run_id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));

    let list = p.cmd(&["approvals", "--json"]);
    let pending: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(pending[0]["expired"], true, "{pending}");
    let late = p.cmd(&["approve", &run, "--as", "marta"]);
    assert_eq!(late.status.code(), Some(1), "{}", both(&late));
    assert!(stderr(&late).contains("expired"), "{}", both(&late));

    let resumed = p.cmd(&["resume"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", both(&resumed));
    assert!(stdout(&resumed).contains("escalated"), "{}", both(&resumed));
    assert!(p.quarantined().is_empty());
    let cases = p.cases();
    assert_eq!(cases[0]["case"]["approvals"][0]["state"], "expired");
}
