//! `parry test`: runs the `test` blocks of a compiled project, in memory, against mocks.
//!
//! Semantics (LANGUAGE.md §6):
//! - `mock C.A(PATTERNS) = EXPR | fail EXPR` registers a mock; patterns are `_` (one
//!   argument), `..` (the rest) or values compared by equality; the first registered mock
//!   that matches answers. Pattern and result expressions are evaluated where the `mock`
//!   statement stands.
//! - A call no mock matches never reaches a real service: the call raises an
//!   `unmocked_action` error (so a playbook run calling it ends `failed`, with the message in
//!   `run.error`) **and** the test is marked failed, naming the action and its arguments.
//! - A `fail` mock raises an error of kind `action_failed` at the call: `try` can catch it;
//!   in a playbook run it fails the run, not the test.
//! - `approvals granted|denied|expired` decides every approval the following playbook calls
//!   reach. An approval reached with no decision leaves that run `awaiting_approval` and
//!   fails the test.
//! - A playbook called like a function runs to its end and returns a `Run` record:
//!   `disposition notes evidence recommendation actions approvals error`.
//! - `calls(C.A)` lists the arguments of every call of `C.A` made so far in the test
//!   (directly or by the playbooks it ran), as records keyed by parameter name, in order.
//! - `load("file.json")` reads a file relative to the test's file and decodes it into the
//!   expected type; a problem names the file and the JSON path.
//! - The first `expect` that does not hold ends the test; a comparison shows both sides.

use crate::engine::case::{
    ActionRecord, ActionStatus, ApprovalRecord, ApprovalState, CallId, CallNames, Case, Disposition,
    RecordedJson, Stamp,
};
use crate::engine::eval::{
    ActionCall, ApprovalAsk, ConstCache, Flow, Frame, Host, Machine, MockDef, MockPatternValue, R, RunError,
    RunState,
};
use crate::engine::outcome_of;
use crate::value::{self, Value};
use parry_compiler::Compilation;
use parry_compiler::ir::{ActionId, ApprovalDecision, PlaybookId, Program, Type};
use parry_compiler::project::Config;
use serde::Serialize;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The result of one `test` block.
#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    pub name: String,
    /// The file declaring the test.
    pub file: String,
    /// 1-based line of the `test` keyword.
    pub line: usize,
    pub passed: bool,
    /// Why it failed (empty when it passed), in the order found.
    pub failures: Vec<String>,
    #[serde(rename = "duration_ms")]
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The results of every test run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TestReport {
    pub tests: Vec<TestResult>,
    pub passed: usize,
    pub failed: usize,
}

impl TestReport {
    /// The closing line: `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    pub fn push(&mut self, result: TestResult) {
        if result.passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.tests.push(result);
    }

    /// The human report: a line per test, then the details of each failure, then the
    /// closing line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for t in &self.tests {
            let status = if t.passed { "ok    " } else { "FAILED" };
            out.push_str(&format!("{status} {} ({})\n", t.name, format_elapsed(t.duration)));
        }
        let failed: Vec<&TestResult> = self.tests.iter().filter(|t| !t.passed).collect();
        if !failed.is_empty() {
            out.push_str("\nfailures:\n");
            for t in failed {
                out.push_str(&format!("\n---- {} ({}:{}) ----\n", t.name, t.file, t.line));
                for f in &t.failures {
                    for line in f.lines() {
                        out.push_str("  ");
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
            out.push('\n');
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }
}

fn format_elapsed(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 { format!("{ms:.2}ms") } else { format!("{ms:.0}ms") }
}

/// Runs every test of `compilation` whose name contains `filter` (all when `None`).
/// The compilation must have no errors (see [`Compilation::has_errors`]).
pub async fn run_tests(compilation: &Compilation, filter: Option<&str>) -> TestReport {
    let mut report = TestReport::default();
    let consts = ConstCache::default();
    for test in &compilation.program.tests {
        if filter.is_some_and(|f| !test.name.contains(f)) {
            continue;
        }
        let (file, line, dir) = match compilation.sources.get(test.span.file) {
            Some(f) => {
                let line = f.text.get(..test.span.start as usize).map_or(1, |t| t.matches('\n').count() + 1);
                let dir = f.path.parent().map(Path::to_path_buf).unwrap_or_default();
                (f.path.display().to_string(), line, dir)
            }
            None => (String::new(), 1, PathBuf::new()),
        };
        let started = Instant::now();
        let failures = run_one(&compilation.program, &compilation.config, &consts, test, dir).await;
        report.push(TestResult {
            name: test.name.clone(),
            file,
            line,
            passed: failures.is_empty(),
            failures,
            duration: started.elapsed(),
        });
    }
    report
}

/// [`run_tests`] on a fresh single-threaded runtime.
pub fn run_tests_blocking(compilation: &Compilation, filter: Option<&str>) -> Result<TestReport, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the test runtime: {e}"))?;
    Ok(rt.block_on(run_tests(compilation, filter)))
}

async fn run_one(
    program: &Program,
    config: &Config,
    consts: &ConstCache,
    test: &parry_compiler::ir::Test,
    dir: PathBuf,
) -> Vec<String> {
    let host = TestHost {
        program,
        config,
        consts,
        dir,
        state: Mutex::new(TestState::default()),
        runs: std::sync::atomic::AtomicU32::new(0),
    };
    let run = RunState::new(Case::new("test", &test.name, &Json::Null));
    let machine = Machine { program, config, host: &host, run: &run, consts };
    let mut frame = Frame::new(test.body.locals);
    let outcome = machine.run_block(&mut frame, &test.body.block).await;
    let mut failures = host.take_failures();
    match outcome {
        Ok(_) => {}
        Err(Flow::TestFailure(message)) => failures.push(message),
        Err(Flow::Error(e)) | Err(Flow::Halt(e)) => {
            let text = format!("error: {}", e.describe());
            // An unmocked call already reported itself.
            if e.kind != "unmocked_action" || failures.is_empty() {
                failures.push(text);
            }
        }
        Err(Flow::End { disposition, .. }) => failures
            .push(format!("the test body ended with `{}`, which only playbooks may do", disposition.name())),
        Err(Flow::Suspend { .. }) => {
            if failures.is_empty() {
                failures.push("the test body reached an `approve` with no decision".to_string());
            }
        }
    }
    failures
}

#[derive(Default)]
struct TestState {
    mocks: Vec<MockDef>,
    approvals: Option<ApprovalDecision>,
    calls: Vec<(ActionId, Value)>,
    failures: Vec<String>,
}

struct TestHost<'p> {
    program: &'p Program,
    config: &'p Config,
    consts: &'p ConstCache,
    /// The directory of the test's file (`load` paths are relative to it).
    dir: PathBuf,
    state: Mutex<TestState>,
    runs: std::sync::atomic::AtomicU32,
}

impl TestHost<'_> {
    fn with<T>(&self, f: impl FnOnce(&mut TestState) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn take_failures(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.failures))
    }
}

fn mock_matches(patterns: &[MockPatternValue], args: &[Value]) -> bool {
    let mut i = 0;
    for p in patterns {
        match p {
            MockPatternValue::Rest => return true,
            MockPatternValue::Any => {
                if i >= args.len() {
                    return false;
                }
            }
            MockPatternValue::Value(v) => match args.get(i) {
                Some(a) if a == v => {}
                _ => return false,
            },
        }
        i += 1;
    }
    i == args.len()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl Host for TestHost<'_> {
    async fn action(&self, run: &RunState, call: ActionCall<'_>) -> R<Value> {
        let qualified = call.qualified();
        // Kept for `calls(...)` and recorded in the case.
        let arguments = call.args_record();
        let answer = self.with(|s| {
            s.calls.push((call.site.action, arguments.clone()));
            s.mocks
                .iter()
                .find(|m| m.action == call.site.action && mock_matches(&m.patterns, &call.args))
                .map(|m| m.result.clone())
        });
        let started = Stamp(now_ms());
        let (result, record_result, record_error, status) = match answer {
            Some(Ok(v)) => {
                let json = v.to_json();
                (Ok(v), Some(json), None, ActionStatus::Done)
            }
            Some(Err(message)) => {
                let mut e = RunError::new("action_failed", message.clone());
                e.action = Some(qualified.clone());
                (Err(Flow::Error(e)), None, Some(message), ActionStatus::Failed)
            }
            None => {
                let message = format!(
                    "unmocked action {}: add `mock {qualified}(..) = ...` to the test",
                    call.describe()
                );
                self.with(|s| s.failures.push(message.clone()));
                let mut e = RunError::new("unmocked_action", message.clone());
                e.action = Some(qualified.clone());
                (Err(Flow::Error(e)), None, Some(message), ActionStatus::Failed)
            }
        };
        let record = ActionRecord {
            call_id: CallId::new(call.site.id.0.clone(), std::sync::Arc::from(call.path)),
            names: CallNames::new(call.connector, &call.action.name, call.effect.name()),
            arguments: RecordedJson::of_value(arguments),
            result: record_result.map(RecordedJson::from),
            error: record_error.map(String::into_boxed_str),
            status,
            started_at: started,
            finished_at: Some(started),
            duration_ms: Some(0),
            approval: call.approval.clone(),
            replayed: false,
        };
        run.with_case(|c| c.actions.push(record));
        result
    }

    async fn approval(&self, run: &RunState, ask: ApprovalAsk) -> R<ApprovalDecision> {
        let decision = self.with(|s| s.approvals);
        let now = now_ms();
        let state = match decision {
            Some(ApprovalDecision::Granted) => ApprovalState::Granted,
            Some(ApprovalDecision::Denied) => ApprovalState::Denied,
            Some(ApprovalDecision::Expired) => ApprovalState::Expired,
            None => ApprovalState::Pending,
        };
        run.with_case(|c| {
            c.approvals.push(ApprovalRecord {
                id: ask.key.clone(),
                prompt: ask.prompt.clone(),
                group: ask.group.clone(),
                requested_at: value::format_time(now),
                expires_at: value::format_time(now.saturating_add(ask.within_ms)),
                state,
                decided_by: decision.map(|_| "test".to_string()),
            })
        });
        match decision {
            Some(d) => Ok(d),
            None => {
                self.with(|s| {
                    s.failures.push(format!(
                        "approval \"{}\" was reached with no decision: add `approvals granted` (or `denied`, \
                         `expired`) before calling the playbook",
                        ask.prompt
                    ))
                });
                Err(Flow::Suspend { approval: ask.key })
            }
        }
    }

    async fn now(&self, _run: &RunState, _key: String) -> R<i64> {
        Ok(now_ms())
    }

    fn mock(&self, mock: MockDef) -> R<()> {
        self.with(|s| s.mocks.push(mock));
        Ok(())
    }

    fn set_approvals(&self, decision: ApprovalDecision) -> R<()> {
        self.with(|s| s.approvals = Some(decision));
        Ok(())
    }

    fn calls(&self, action: ActionId) -> R<Value> {
        Ok(Value::list(
            self.with(|s| s.calls.iter().filter(|(a, _)| *a == action).map(|(_, v)| v.clone()).collect()),
        ))
    }

    fn load(&self, path: &str, ty: &Type) -> R<Value> {
        let full = self.dir.join(path);
        let fail = |message: String| Err(Flow::Error(RunError::new("load", message)));
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) => return fail(format!("load(\"{path}\"): cannot read {}: {e}", full.display())),
        };
        let json: Json = match serde_json::from_str(&text) {
            Ok(j) => j,
            Err(e) => {
                return fail(format!(
                    "load(\"{path}\"): {} is not valid JSON: {e} (line {}, column {})",
                    full.display(),
                    e.line(),
                    e.column()
                ));
            }
        };
        let ty = match ty {
            Type::Unknown | Type::Never => &Type::Json,
            other => other,
        };
        match value::decode(&json, ty, self.program) {
            Ok(v) => Ok(v),
            Err(errors) => {
                let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
                fail(format!(
                    "load(\"{path}\"): {} does not decode as `{ty}`:\n{}",
                    full.display(),
                    lines.join("\n")
                ))
            }
        }
    }

    async fn run_playbook(&self, playbook: PlaybookId, alert: Value) -> R<Value> {
        let Some(pb) = self.program.playbooks.get(playbook.0 as usize) else {
            return Err(Flow::Error(RunError::runtime("unknown playbook")));
        };
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let run = RunState::new(Case::new(&format!("test-run-{n}"), &pb.name, &alert.to_json()));
        let machine = Machine {
            program: self.program,
            config: self.config,
            host: self,
            run: &run,
            consts: self.consts,
        };
        let mut frame = Frame::new(pb.body.locals);
        if let Some(param) = &pb.param {
            frame.slots.resize(frame.slots.len().max(param.slot.0 as usize + 1), Value::Unit);
            if let Some(slot) = frame.slots.get_mut(param.slot.0 as usize) {
                *slot = alert;
            }
        }
        let outcome = machine.run_block(&mut frame, &pb.body.block).await;
        if let Err(Flow::TestFailure(message)) = &outcome {
            return Err(Flow::TestFailure(message.clone()));
        }
        let (disposition, summary, error) = outcome_of(outcome);
        let case = run.with_case(|c| {
            c.disposition = disposition;
            c.summary = summary;
            c.error = error;
            c.clone()
        });
        Ok(run_value(&case))
    }
}

/// The `Run` record a playbook call returns in a test.
pub fn run_value(case: &Case) -> Value {
    let disposition: Disposition = case.disposition;
    Value::record([
        (
            "disposition",
            Value::Enum {
                enum_name: "Disposition".to_string().into(),
                variant: disposition.name().to_string().into(),
                ordinal: disposition.ordinal(),
            },
        ),
        ("notes", Value::list(case.notes.iter().map(|n| Value::str(n.clone())).collect())),
        ("evidence", Value::Json(case.evidence_json())),
        ("recommendation", case.recommendation.clone().map_or(Value::None, Value::str)),
        (
            "actions",
            Value::list(
                case.actions
                    .iter()
                    .map(|a| Value::Json(serde_json::to_value(a).unwrap_or(Json::Null)))
                    .collect(),
            ),
        ),
        (
            "approvals",
            Value::list(
                case.approvals
                    .iter()
                    .map(|a| Value::Json(serde_json::to_value(a).unwrap_or(Json::Null)))
                    .collect(),
            ),
        ),
        ("error", case.error.clone().map_or(Value::None, Value::str)),
    ])
}

#[cfg(test)]
mod tests;
