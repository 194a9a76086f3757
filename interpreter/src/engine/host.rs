//! The engine's [`Host`]: journaled connector calls, stored approvals, journaled `now()`.

use super::case::{ActionRecord, ActionStatus, ApprovalRecord, ApprovalState, CallId, RecordedJson, Stamp};
use super::eval::{ActionCall, ApprovalAsk, Flow, Host, R, RunError, RunState};
use super::{Engine, Labels, now_ms};
use crate::store::{
    ApprovalRow, ApprovalStatus, CallKey, Decision, EntryState, Intent, JournalJson, JournalWrite,
    NewApproval, Outcome, StoreError, compact_text, value_text_with,
};
use crate::value::{self, Decoded, Value};
use parry_compiler::ir::{ApprovalDecision, EffectKind, Type};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What is journaled when a call ends.
enum Later {
    /// Nothing (a dry run).
    Nothing,
    /// The outcome of this effectful call, whose intent is committed.
    Complete(CallKey),
    /// A read, with its outcome.
    Done(Intent),
}

/// The starting size of the buffer a run writes journal text in.
const SCRATCH_START: usize = 4096;

pub(super) struct EngineHost<'e> {
    engine: &'e Engine,
    run_id: Arc<str>,
    /// Approval key -> store id, for the journal's `approval_id`.
    approvals: Mutex<HashMap<String, i64>>,
    /// The first store failure: the run cannot be trusted past it.
    store_failure: Mutex<Option<StoreError>>,
    /// A run just created has an empty journal: no need to look anything up.
    fresh: bool,
    /// Journal writes not committed yet (see [`EngineHost::action`] for when they are).
    pending: Mutex<Vec<JournalWrite>>,
    /// Where arguments and results are written as JSON text for the journal.
    scratch: Mutex<String>,
    /// The wall clock (ms since the epoch) and the monotonic clock read together when the
    /// attempt began: a call's times are the wall time then plus the monotonic time since,
    /// one clock read per stamp, and its duration cannot go negative when the wall clock
    /// is set back.
    epoch: (i64, Instant),
}

impl<'e> EngineHost<'e> {
    pub(super) fn new(engine: &'e Engine, run_id: &str, fresh: bool) -> EngineHost<'e> {
        EngineHost {
            engine,
            run_id: Arc::from(run_id),
            approvals: Mutex::new(HashMap::new()),
            store_failure: Mutex::new(None),
            fresh,
            pending: Mutex::new(Vec::new()),
            // Room for most results from the start, rather than growing to it in every run.
            scratch: Mutex::new(String::with_capacity(SCRATCH_START)),
            epoch: (now_ms(), Instant::now()),
        }
    }

    /// Now: wall-clock milliseconds (see `epoch`) and the monotonic instant.
    fn clock(&self) -> (i64, Instant) {
        let at = Instant::now();
        let since = i64::try_from(at.duration_since(self.epoch.1).as_millis()).unwrap_or(i64::MAX);
        (self.epoch.0.saturating_add(since), at)
    }

    /// `json` as compact text, for the journal and the case, which share it.
    fn text(&self, json: &Json) -> Arc<str> {
        self.with_scratch(|scratch| compact_text(json, scratch))
    }

    /// `value` as compact JSON text (of [`Value::to_json`]), for the journal and the case.
    fn value_text(&self, value: &Value) -> Arc<str> {
        self.with_scratch(|scratch| value_text_with(value, scratch))
    }

    /// `write` with the run's text buffer (a fresh one if its lock is poisoned).
    fn with_scratch(&self, write: impl FnOnce(&mut String) -> Arc<str>) -> Arc<str> {
        match self.scratch.lock() {
            Ok(mut scratch) => write(&mut scratch),
            Err(_) => write(&mut String::new()),
        }
    }

    /// The journal writes not committed yet, for the commit that ends the run.
    pub(super) fn take_pending(&self) -> Vec<JournalWrite> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }

    fn push_pending(&self, write: JournalWrite) {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(write);
    }

    /// Commits the pending writes, with `then` (an intent) last in the same commit.
    fn flush(&self, then: Option<JournalWrite>) -> R<()> {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.extend(then);
        if pending.is_empty() {
            return Ok(());
        }
        // The buffer comes back empty, whatever the result, with its room kept.
        let result = self.engine.store.write_journal_from(&mut pending);
        drop(pending);
        result.map_err(|e| self.store_error(e))
    }

    /// Whether an effectful call's outcome is waiting to be committed.
    fn outcome_pending(&self) -> bool {
        self.pending
            .lock()
            .map(|p| p.iter().any(|w| matches!(w, JournalWrite::Complete { .. })))
            .unwrap_or(true)
    }

    pub(super) fn store_failure(&self) -> Option<StoreError> {
        self.store_failure.lock().ok().and_then(|mut f| f.take())
    }

    /// Records a store failure and turns it into a flow that stops the run.
    fn store_error(&self, e: StoreError) -> Flow {
        let message = format!("the journal could not be written: {e}");
        if let Ok(mut f) = self.store_failure.lock() {
            f.get_or_insert(e);
        }
        Flow::Halt(RunError::new("journal", message))
    }

    /// Queues how a call ended for the next commit: completes an effectful call's intent;
    /// records a read (which needed no intent beforehand) with its outcome.
    fn journal_outcome(&self, later: Later, outcome: impl FnOnce() -> Outcome, finished_at: i64) {
        match later {
            Later::Nothing => {}
            Later::Complete(key) => {
                self.push_pending(JournalWrite::Complete { key, outcome: outcome(), finished_at })
            }
            Later::Done(intent) => {
                self.push_pending(JournalWrite::Done { intent, outcome: outcome(), finished_at })
            }
        }
    }

    fn approval_id(&self, key: Option<&str>) -> Option<i64> {
        let key = key?;
        self.approvals.lock().ok().and_then(|m| m.get(key).copied())
    }
}

/// What a connector answered: JSON, or a value from a [`crate::connectors::ValueConnector`].
enum Returned {
    Json(Json),
    Value(Value),
}

fn decode_result(call: &ActionCall<'_>, json: &Json, engine: &Engine) -> R<Decoded> {
    if call.action.ret == Type::Unit {
        return Ok(Decoded { value: Value::Unit, exact: json.is_null() });
    }
    value::decode_names(json, &call.action.ret, &engine.program, &engine.names)
        .map_err(|errors| bad_result(call, &errors))
}

/// A value a typed connector returned, checked against the action's type (its own value:
/// the action's `unit` when it returns nothing).
fn check_result(call: &ActionCall<'_>, value: &Value, engine: &Engine) -> R<Value> {
    if call.action.ret == Type::Unit {
        return Ok(Value::Unit);
    }
    match value::check(value, &call.action.ret, &engine.program) {
        Ok(()) => Ok(value.clone()),
        Err(errors) => Err(bad_result(call, &errors)),
    }
}

fn bad_result(call: &ActionCall<'_>, errors: &[value::DecodeError]) -> Flow {
    let problems: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    let mut e = RunError::new(
        "bad_result",
        format!(
            "`{}` returned a result that is not a `{}`:\n{}",
            call.qualified(),
            call.action.ret,
            problems.join("\n")
        ),
    );
    e.action = Some(call.qualified());
    Flow::Error(e)
}

fn record(
    call: &ActionCall<'_>,
    call_id: CallId,
    labels: &Labels<'_>,
    arguments: RecordedJson,
    started_at: Stamp,
) -> ActionRecord {
    ActionRecord {
        call_id,
        names: labels.names().clone(),
        arguments,
        result: None,
        error: None,
        status: ActionStatus::Done,
        started_at,
        finished_at: None,
        duration_ms: None,
        approval: call.approval.clone(),
        replayed: false,
    }
}

#[async_trait::async_trait]
impl Host for EngineHost<'_> {
    async fn action(&self, run: &RunState, mut call: ActionCall<'_>) -> R<Value> {
        let engine = self.engine;
        let store = &engine.store;
        let key = CallKey::of_run(&self.run_id, call.site.id.0.clone(), call.path);
        let call_id = CallId::new(key.site.clone(), key.indices.clone());
        let effectful = call.effect > EffectKind::Read;
        let (started, clock) = self.clock();
        let labels = engine.labels.of(&call);
        // The arguments are recorded once, for the case and the journal, which share them:
        // as the call's own values for a store that keeps values, else as text. A connector
        // that takes JSON gets them as JSON, dropped after the call; one that takes values
        // ([`crate::connectors::ValueConnector`]) gets the values.
        let connector = engine.labels.connector(&call, &engine.connectors);
        let typed = connector.as_ref().ok().and_then(|c| c.values());
        let keep_values = store.keeps_values();
        let arguments = (typed.is_none() || !keep_values).then(|| Json::Object(call.args_json()));
        let recorded_args = match &arguments {
            Some(json) if !keep_values => RecordedJson::from_compact(self.text(json)),
            // The call's values themselves: the connector gets them from the record.
            _ => RecordedJson::of_args(labels.params().clone(), std::mem::take(&mut call.args)),
        };
        let mut rec = record(&call, call_id, &labels, recorded_args.clone(), Stamp(started));

        if engine.options.dry_run && effectful {
            rec.status = ActionStatus::Skipped;
            run.with_case(|c| c.actions.push(rec));
            return Ok(if call.action.ret == Type::Unit { Value::Unit } else { Value::None });
        }

        if !engine.options.dry_run && !self.fresh {
            match store.journal_entry(&key).map_err(|e| self.store_error(e))? {
                Some(entry) if entry.state == EntryState::Done => {
                    let json = entry.result.unwrap_or(Json::Null);
                    rec.result = Some(RecordedJson::of(&json));
                    rec.replayed = true;
                    rec.started_at = Stamp(entry.started_at);
                    rec.finished_at = entry.finished_at.map(Stamp);
                    rec.duration_ms =
                        entry.finished_at.map(|f| u64::try_from(f - entry.started_at).unwrap_or(0));
                    run.with_case(|c| c.actions.push(rec));
                    return decode_result(&call, &json, engine).map(|d| d.value);
                }
                Some(entry) if entry.state == EntryState::Failed => {
                    let message = entry.error.unwrap_or_default();
                    rec.status = ActionStatus::Failed;
                    rec.error = Some(message.as_str().into());
                    rec.replayed = true;
                    run.with_case(|c| c.actions.push(rec));
                    let mut e = RunError::new("action_failed", message);
                    e.action = Some(call.qualified());
                    return Err(Flow::Error(e));
                }
                Some(_) if effectful => {
                    rec.status = ActionStatus::Unconfirmed;
                    rec.replayed = true;
                    rec.error =
                        Some("intent journaled, no result: the call may or may not have happened".into());
                    run.with_case(|c| c.actions.push(rec));
                    let mut e = RunError::new(
                        "unconfirmed",
                        format!(
                            "`{}` was started in an earlier attempt of this run but its result was never \
                             journaled, so it may or may not have happened; it is not retried automatically. \
                             Check the target system, then handle the alert by hand or start a new run",
                            call.describe_with(recorded_args.arg_values().unwrap_or(&call.args))
                        ),
                    );
                    e.action = Some(call.qualified());
                    return Err(Flow::Halt(e));
                }
                _ => {}
            }
        }

        let args = JournalJson::Recorded(recorded_args);
        let intent = Intent {
            key,
            names: labels.names().clone(),
            args,
            started_at: started,
            approval_id: self.approval_id(call.approval.as_deref()),
        };
        // When journal writes are committed: a read's result can wait (a lost one is read
        // again on resume), so it rides along with the next commit; an effectful call's
        // intent is committed, with everything pending, before the call is made; its
        // outcome is committed before the run waits on anything else (the next call of
        // any kind, an approval) or ends. One commit per effectful call, not per call.
        let dry = engine.options.dry_run;
        // A call's duration is the connector's alone: after a commit, the clock is read again.
        let mut clock = clock;
        let later = if dry {
            Later::Nothing
        } else if effectful {
            let key = intent.key.clone();
            self.flush(Some(JournalWrite::Intent(intent)))?;
            clock = Instant::now();
            Later::Complete(key)
        } else {
            if self.outcome_pending() {
                self.flush(None)?;
                clock = Instant::now();
            }
            Later::Done(intent)
        };
        let result = match (connector, typed) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(typed)) => {
                let args = rec.arguments.arg_values().unwrap_or(&call.args);
                typed.call_values(&call.action.name, args).await.map(Returned::Value)
            }
            (Ok(connector), None) => {
                let no_args = serde_json::Map::new();
                let args = arguments.as_ref().and_then(Json::as_object).unwrap_or(&no_args);
                connector.call(&call.action.name, args).await.map(Returned::Json)
            }
        };
        let (finished, finished_clock) = self.clock();
        rec.finished_at = Some(Stamp(finished));
        rec.duration_ms =
            Some(u64::try_from(finished_clock.duration_since(clock).as_millis()).unwrap_or(u64::MAX));
        match result {
            Ok(returned) => {
                // As the arguments: recorded once, for the journal and the case. A decoded
                // value stands for the JSON where it is exactly that JSON; else (or for a
                // store that keeps text) the JSON is written as text.
                let (decoded, recorded) = match returned {
                    Returned::Json(json) => {
                        let decoded = decode_result(&call, &json, engine);
                        let recorded = match &decoded {
                            Ok(d) if keep_values && d.exact => RecordedJson::of_value(d.value.clone()),
                            _ => RecordedJson::from_compact(self.text(&json)),
                        };
                        (decoded.map(|d| d.value), recorded)
                    }
                    Returned::Value(value) => {
                        let checked = check_result(&call, &value, engine);
                        let recorded = if keep_values {
                            RecordedJson::of_value(value)
                        } else {
                            RecordedJson::from_compact(self.value_text(&value))
                        };
                        (checked, recorded)
                    }
                };
                let shared = recorded.clone();
                self.journal_outcome(later, || Outcome::Returned(JournalJson::Recorded(shared)), finished);
                rec.result = Some(recorded);
                run.with_case(|c| c.actions.push(rec));
                decoded
            }
            Err(err) => {
                self.journal_outcome(later, || Outcome::Failed(err.to_string()), finished);
                rec.status = ActionStatus::Failed;
                rec.error = Some(err.to_string().into_boxed_str());
                run.with_case(|c| c.actions.push(rec));
                let mut e = RunError::new(&err.kind, err.message);
                e.action = Some(call.qualified());
                Err(Flow::Error(e))
            }
        }
    }

    async fn approval(&self, run: &RunState, ask: ApprovalAsk) -> R<ApprovalDecision> {
        let engine = self.engine;
        let now = now_ms();
        if engine.options.dry_run {
            run.with_case(|c| {
                c.approvals.push(ApprovalRecord {
                    id: ask.key.clone(),
                    prompt: ask.prompt.clone(),
                    group: ask.group.clone(),
                    requested_at: value::format_time(now),
                    expires_at: value::format_time(now.saturating_add(ask.within_ms)),
                    state: ApprovalState::Pending,
                    decided_by: None,
                })
            });
            return Ok(ApprovalDecision::Granted);
        }
        let store = &engine.store;
        // Everything journaled so far is committed before the run may suspend here.
        self.flush(None)?;
        let existing = store.approval_by_key(&self.run_id, &ask.key).map_err(|e| self.store_error(e))?;
        let mut row: ApprovalRow = match existing {
            Some(row) => row,
            None => {
                let row = store
                    .add_approval(&NewApproval {
                        run_id: self.run_id.to_string(),
                        key: ask.key.clone(),
                        prompt: ask.prompt.clone(),
                        group: ask.group.clone(),
                        requested_at: now,
                        expires_at: now.saturating_add(ask.within_ms),
                    })
                    .map_err(|e| self.store_error(e))?;
                self.notify(&row).await;
                row
            }
        };
        if row.status == ApprovalStatus::Pending && now > row.expires_at {
            row = store
                .decide_approval(
                    row.id,
                    &Decision { status: ApprovalStatus::Expired, decided_by: None, decided_at: now },
                )
                .map_err(|e| self.store_error(e))?;
        }
        if let Ok(mut m) = self.approvals.lock() {
            m.insert(ask.key.clone(), row.id);
        }
        let state = match row.status {
            ApprovalStatus::Pending => ApprovalState::Pending,
            ApprovalStatus::Granted => ApprovalState::Granted,
            ApprovalStatus::Denied => ApprovalState::Denied,
            ApprovalStatus::Expired => ApprovalState::Expired,
        };
        run.with_case(|c| {
            c.approvals.push(ApprovalRecord {
                id: row.id.to_string(),
                prompt: row.prompt.clone(),
                group: row.group.clone(),
                requested_at: value::format_time(row.requested_at),
                expires_at: value::format_time(row.expires_at),
                state,
                decided_by: row.decided_by.clone(),
            })
        });
        match row.status {
            ApprovalStatus::Pending => Err(Flow::Suspend { approval: ask.key }),
            ApprovalStatus::Granted => Ok(ApprovalDecision::Granted),
            ApprovalStatus::Denied => Ok(ApprovalDecision::Denied),
            ApprovalStatus::Expired => Ok(ApprovalDecision::Expired),
        }
    }

    async fn now(&self, _run: &RunState, key: String) -> R<i64> {
        let now = now_ms();
        if self.engine.options.dry_run {
            return Ok(now);
        }
        let json = self
            .engine
            .store
            .journal_value(&self.run_id, &key, &Json::from(now))
            .map_err(|e| self.store_error(e))?;
        Ok(json.as_i64().unwrap_or(now))
    }
}

impl EngineHost<'_> {
    /// Tells the approvers: through `notify.send` when the project configures `notify`,
    /// else on the log (stderr). A failing notification does not stop the run.
    async fn notify(&self, row: &ApprovalRow) {
        let group = row.group.clone().unwrap_or_else(|| "approvers".to_string());
        let text = format!(
            "Approval {} requested by run {}: \"{}\" (group {group}, expires {}). Decide with `parry approve {} {} --as USER [--deny]`.",
            row.id,
            row.run_id,
            row.prompt,
            value::format_time(row.expires_at),
            row.run_id,
            row.id
        );
        if self.engine.config.connectors.contains_key("notify")
            && let Ok(connector) = self.engine.connectors.resolve("notify")
        {
            let mut args = serde_json::Map::new();
            args.insert("channel".to_string(), Json::String(group));
            args.insert("text".to_string(), Json::String(text.clone()));
            if connector.call("send", &args).await.is_ok() {
                return;
            }
        }
        if !self.engine.options.quiet {
            eprintln!("[parry] {text}");
        }
    }
}

/// The host used to evaluate `when` conditions: no effect is possible there.
pub(super) struct WhenHost;

#[async_trait::async_trait]
impl Host for WhenHost {
    async fn action(&self, _run: &RunState, call: ActionCall<'_>) -> R<Value> {
        Err(Flow::Error(RunError::runtime(format!("`when` cannot call `{}`", call.qualified()))))
    }

    async fn approval(&self, _run: &RunState, _ask: ApprovalAsk) -> R<ApprovalDecision> {
        Err(Flow::Error(RunError::runtime("`when` cannot ask for an approval")))
    }

    async fn now(&self, _run: &RunState, _key: String) -> R<i64> {
        Ok(now_ms())
    }
}
