//! The engine: runs playbooks over the typed IR (LANGUAGE.md §7), journaling every action
//! call so a run can be resumed (after an approval, a crash or a restart) without repeating
//! an effect.
//!
//! # Use
//! ```no_run
//! # async fn demo(c: parry_compiler::Compilation, store: std::sync::Arc<dyn parry_interpreter::store::Store>)
//! # -> Result<(), parry_interpreter::engine::EngineError> {
//! use parry_interpreter::engine::{ConnectorSet, Engine, EngineOptions};
//! use std::sync::Arc;
//! let connectors = ConnectorSet::from_config(&c.program, &c.config, std::path::Path::new("."));
//! let engine = Engine::new(Arc::new(c.program), c.config, connectors, store, EngineOptions::default());
//! let alert = serde_json::json!({ "category": "phishing_report" });
//! for playbook in engine.matching_playbooks(&alert) {
//!     let outcome = engine.start(playbook, alert.clone()).await?;
//!     println!("run {}: {}", outcome.run_id, outcome.disposition);
//! }
//! # Ok(()) }
//! ```
//!
//! # Journal and replay
//! Every action call has a key: its call-site id (stable across unrelated edits) plus the
//! path of function-call sites and loop indices that led to it ([`store::CallKey`]).
//! - `read` calls are journaled after they return.
//! - `write`, `reversible` and `destructive` calls record an *intent* before the call and
//!   their outcome after it.
//! - On [`Engine::resume`] the run is replayed from the start: a journaled outcome (result or
//!   error) is returned without calling; a `read` with only an intent is simply called again;
//!   an effectful call with an intent but no outcome may or may not have happened, so it is
//!   **never retried**: the run stops with disposition `failed`, the action appears in the
//!   case with status `unconfirmed`, and the error says to check the target system. (The
//!   connector interface has no reconciliation hook yet.)
//! - `now()` is journaled per call site and loop path, so a replay sees the same times.
//! - A resume is refused when the playbook (or a function) changed since the run started.
//!
//! # Gates
//! The engine re-checks every gate: a destructive action, or one listed in
//! `policy.require_approval`, runs only inside the granted body of an `approve` (tracked
//! dynamically, through function calls), whatever the IR's call site says. Otherwise the
//! run fails with an `approval_required` error that `try` cannot catch.
//!
//! # Approvals
//! Reaching an `approve` with no decision records a pending request in the store (prompt,
//! group, expiry = `within` or `policy.approval_timeout`), notifies (through the `notify`
//! connector's `send` when `parry.toml` configures one, else a log line on stderr), and
//! suspends the run (`awaiting_approval`). Once decided in the store, [`Engine::resume`]
//! replays the run: granted takes the body, denied or expired (a pending request past its
//! expiry is marked expired on resume) the `else`.
//!
//! # Dry runs
//! With [`EngineOptions::dry_run`], reads are performed; `write`+ calls are recorded in the
//! case with status `skipped` and return `none` (`unit` for actions returning nothing);
//! every `approve` is recorded as pending and its body is taken, so the case shows all the
//! gated actions that would run. Nothing is journaled and no approval is stored.
//!
//! # Concurrency
//! Consecutive `let`s whose values only read and do not use each other's variables are
//! evaluated together; iterations of a `for` whose body only reads run concurrently (at
//! most `concurrency C`, default `policy.default_concurrency`); everything else, including
//! every `write`+ call, runs in program order. Results are those of sequential execution.

pub mod case;
pub mod eval;
mod host;
pub mod join;

pub use case::{
    ActionRecord, ActionStatus, ApprovalRecord, ApprovalState, CallId, CallNames, Case, Disposition,
    EvidenceItem, RecordedJson, Stamp,
};
pub use eval::RunError;

use crate::connectors::{self, Connector, ConnectorError};
use crate::store::{self, NewRun, RunRecord, RunStatus, RunUpdate, Store, StoreError};
use crate::value::{self, DecodeError, Value};
use eval::{ConstCache, Flow, Frame, Machine, R, RunState};
use parry_compiler::ir::{EffectKind, PlaybookId, Program};
use parry_compiler::project::Config;
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value as Json;
use sha2::Digest as _;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The connector implementations of a project, by connector name.
#[derive(Clone, Default)]
pub struct ConnectorSet {
    connectors: FxHashMap<String, Arc<dyn Connector>>,
    /// Connectors whose implementation could not be built: the reason, reported at the call.
    broken: FxHashMap<String, String>,
}

impl ConnectorSet {
    pub fn new() -> ConnectorSet {
        ConnectorSet::default()
    }

    /// Adds (or replaces) the implementation of connector `name`.
    pub fn insert(&mut self, name: impl Into<String>, connector: Arc<dyn Connector>) {
        let name = name.into();
        self.broken.remove(&name);
        self.connectors.insert(name, connector);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }

    /// Builds the embedded implementation of every connector the program declares, as
    /// chosen in `parry.toml` (`[connectors.NAME] impl = "..."`) or the default for the
    /// standard ones. A connector that cannot be built (bad table, `impl = "http"`, no
    /// implementation) is remembered with the reason, which a call to it reports.
    pub fn from_config(program: &Program, config: &Config, project_root: &Path) -> ConnectorSet {
        let mut set = ConnectorSet::new();
        for c in &program.connectors {
            let table = config.connector_json(&c.name);
            let impl_name = table
                .as_ref()
                .and_then(|t| t.get("impl"))
                .and_then(Json::as_str)
                .map(str::to_string)
                .or_else(|| connectors::default_impl(&c.name).map(str::to_string));
            let Some(impl_name) = impl_name else {
                set.broken.insert(
                    c.name.clone(),
                    format!(
                        "connector `{}` has no implementation: add `[connectors.{}]` with an `impl` to parry.toml",
                        c.name, c.name
                    ),
                );
                continue;
            };
            if !connectors::is_native_impl(&impl_name) {
                set.broken.insert(
                    c.name.clone(),
                    format!(
                        "connector `{}`: implementation `{impl_name}` is not available to this engine",
                        c.name
                    ),
                );
                continue;
            }
            let table = table.unwrap_or(Json::Null);
            let built =
                connectors::build_native(&c.name, &impl_name, &table, project_root).and_then(|native| {
                    // `timeout`, `retries` and `rate` apply around every call, whatever the
                    // implementation.
                    let policy = connectors::CallPolicy::from_table(&c.name, &table)?;
                    if policy.is_default() {
                        return Ok(native);
                    }
                    let reads = c
                        .actions
                        .iter()
                        .filter(|a| a.effect.kind == EffectKind::Read)
                        .map(|a| a.name.clone())
                        .collect();
                    Ok(Box::new(connectors::Policed::new(&c.name, native, policy, reads))
                        as Box<dyn Connector>)
                });
            match built {
                Ok(native) => set.insert(c.name.clone(), Arc::from(native)),
                Err(why) => {
                    set.broken.insert(c.name.clone(), why);
                }
            }
        }
        set
    }

    pub(crate) fn resolve(&self, name: &str) -> Result<&Arc<dyn Connector>, ConnectorError> {
        match self.connectors.get(name) {
            Some(c) => Ok(c),
            None => Err(ConnectorError::new(
                "not_configured",
                self.broken.get(name).cloned().unwrap_or_else(|| {
                    format!(
                        "connector `{name}` has no implementation: add `[connectors.{name}]` to parry.toml"
                    )
                }),
                false,
            )),
        }
    }
}

/// Options of an [`Engine`].
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Perform reads; only record what `write`+ calls would do (see the module docs).
    pub dry_run: bool,
    /// Silence the stderr log line of approval requests when no `notify` is configured.
    pub quiet: bool,
}

/// How a run (or an attempt of it) ended.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub run_id: String,
    pub disposition: Disposition,
    /// Shared with the store, where the store keeps cases in memory.
    pub case: Arc<Case>,
}

/// One reversible call undone by [`Engine::undo`].
#[derive(Clone, Debug, Serialize)]
pub struct UndoItem {
    /// The journal entry undone.
    pub seq: i64,
    pub connector: String,
    /// The action that ran.
    pub action: String,
    /// Its undo action.
    pub undo_action: String,
    pub arguments: Json,
    /// `None` when the undo succeeded.
    pub error: Option<String>,
}

/// Why an undo is not called again.
const UNCONFIRMED_UNDO: &str = "an earlier `parry undo` started this undo and did not record its end (the \
     process stopped during the call), so it may or may not have happened; it is not repeated. Check the \
     target system";

/// What [`Engine::undo`] did.
#[derive(Clone, Debug, Serialize)]
pub struct UndoReport {
    pub run_id: String,
    /// Newest first.
    pub undone: Vec<UndoItem>,
    /// Reversible calls already undone by an earlier `undo`.
    pub already_undone: usize,
}

/// Why the engine could not start, resume or undo a run.
#[derive(Debug)]
pub enum EngineError {
    /// No playbook has this id or name.
    UnknownPlaybook(String),
    /// The alert does not decode into the playbook's parameter type: every problem with
    /// its JSON path. Nothing ran.
    AlertRejected { playbook: String, problems: Vec<DecodeError> },
    /// No run has this id.
    RunNotFound(String),
    /// The run is over; there is nothing to resume.
    RunFinished { run_id: String, disposition: String },
    /// The playbook changed since the run started: replaying its journal could not be trusted.
    ProgramChanged { run_id: String, playbook: String },
    /// Another engine (this process or another) is executing the run now.
    RunBusy(String),
    /// The journal or case store failed.
    Store(StoreError),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::UnknownPlaybook(name) => {
                write!(f, "no playbook `{name}` in this project; `parry check` lists the declarations")
            }
            EngineError::AlertRejected { playbook, problems } => {
                write!(f, "the alert does not match the parameter type of playbook `{playbook}`:")?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                write!(f, "\nfix the alert (unknown fields are ignored) or the playbook's parameter type")
            }
            EngineError::RunNotFound(id) => {
                write!(f, "no run `{id}` in the store; `parry cases` lists the runs")
            }
            EngineError::RunFinished { run_id, disposition } => {
                write!(f, "run {run_id} is finished ({disposition}); there is nothing to resume")
            }
            EngineError::ProgramChanged { run_id, playbook } => write!(
                f,
                "playbook `{playbook}` changed since run {run_id} started, so its journal cannot be replayed \
                 safely; restore the version the run started with, or start a new run"
            ),
            EngineError::RunBusy(id) => write!(
                f,
                "run {id} is being run by another process right now; `parry cases` shows how it ends"
            ),
            EngineError::Store(e) => write!(f, "the run store failed: {e}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e)
    }
}

/// Runs playbooks of one compiled program. Cheap to share behind an `Arc`; every method
/// takes `&self` and runs may proceed concurrently.
pub struct Engine {
    program: Arc<Program>,
    config: Config,
    connectors: ConnectorSet,
    store: Arc<dyn Store>,
    options: EngineOptions,
    consts: ConstCache,
    /// Per playbook: a hash of its IR and of every function, so a resume can tell whether
    /// the code changed.
    hashes: Vec<String>,
    /// The number of action calls of the last run: how much room a new case makes up front.
    action_hint: AtomicUsize,
    /// Names decoded action results share.
    names: value::Names,
    /// Names every action call records, shared by its journal entry and its case record.
    labels: CallLabels,
}

/// The connector, action, effect and parameter names of every action of a program, and the
/// implementation of every connector, found once per engine: a call's journal entry and case
/// record share the names instead of copying them each time.
#[derive(Clone)]
pub(crate) struct CallLabels {
    /// Per connector, per action.
    actions: Vec<Vec<ActionLabels>>,
    /// Per connector, its implementation (`None`: not configured), found once rather than
    /// by name at every call.
    connectors: Vec<Option<Arc<dyn Connector>>>,
}

#[derive(Clone)]
pub(crate) struct ActionLabels {
    params: Arc<[value::Text]>,
    /// Indexed by [`EffectKind`] (declared in this order): a call site may raise the
    /// action's effect.
    names: [CallNames; 4],
}

impl ActionLabels {
    fn new(connector: &str, action: &parry_compiler::ir::Action) -> ActionLabels {
        ActionLabels {
            params: action.params.iter().map(|p| value::Text::from(p.name.as_str())).collect(),
            names: [EffectKind::Read, EffectKind::Write, EffectKind::Reversible, EffectKind::Destructive]
                .map(|e| CallNames::new(connector, &action.name, e.name())),
        }
    }
}

impl CallLabels {
    fn new(program: &Program, set: &ConnectorSet) -> CallLabels {
        let actions = program
            .connectors
            .iter()
            .map(|c| c.actions.iter().map(|a| ActionLabels::new(&c.name, a)).collect())
            .collect();
        let connectors = program.connectors.iter().map(|c| set.connectors.get(&c.name).cloned()).collect();
        CallLabels { actions, connectors }
    }

    /// The implementation of the connector `call` calls.
    pub(crate) fn connector<'s>(
        &'s self,
        call: &eval::ActionCall<'_>,
        set: &'s ConnectorSet,
    ) -> Result<&'s Arc<dyn Connector>, ConnectorError> {
        match self.connectors.get(call.site.action.connector.0 as usize) {
            Some(Some(found)) => Ok(found),
            // Not configured (or an action outside the program): as the set says, by name.
            _ => set.resolve(call.connector),
        }
    }

    /// The names `call` records (made afresh for an action not in the program), borrowed:
    /// each record takes its own copy.
    pub(crate) fn of(&self, call: &eval::ActionCall<'_>) -> Labels<'_> {
        let id = call.site.action;
        let action = match self.actions.get(id.connector.0 as usize).and_then(|c| c.get(id.index as usize)) {
            Some(labels) => std::borrow::Cow::Borrowed(labels),
            None => std::borrow::Cow::Owned(ActionLabels::new(call.connector, call.action)),
        };
        Labels { action, effect: call.effect }
    }
}

/// The names a call records: its connector's, its action's, its effect's and its parameters'.
pub(crate) struct Labels<'e> {
    action: std::borrow::Cow<'e, ActionLabels>,
    effect: EffectKind,
}

impl Labels<'_> {
    pub(crate) fn names(&self) -> &CallNames {
        &self.action.names[self.effect as usize]
    }

    pub(crate) fn params(&self) -> &Arc<[value::Text]> {
        &self.action.params
    }
}

impl Engine {
    /// An engine over `program` (which must have no error diagnostics).
    pub fn new(
        program: Arc<Program>,
        config: Config,
        connectors: ConnectorSet,
        store: Arc<dyn Store>,
        options: EngineOptions,
    ) -> Engine {
        let functions = serde_json::to_string(&program.functions).unwrap_or_default();
        let hashes = program
            .playbooks
            .iter()
            .map(|p| {
                let mut h = sha2::Sha256::new();
                h.update(serde_json::to_string(p).unwrap_or_default());
                h.update(&functions);
                h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
            })
            .collect();
        let labels = CallLabels::new(&program, &connectors);
        Engine {
            program,
            config,
            connectors,
            store,
            options,
            consts: ConstCache::default(),
            hashes,
            action_hint: AtomicUsize::new(0),
            names: value::Names::new(),
            labels,
        }
    }

    /// The same program, configuration, connectors and options over another store, without
    /// hashing the program again (const values, schedules and the names decoded values share
    /// are worked out afresh, as runs need them).
    pub fn with_store(&self, store: Arc<dyn Store>) -> Engine {
        Engine {
            program: self.program.clone(),
            config: self.config.clone(),
            connectors: self.connectors.clone(),
            store,
            options: self.options.clone(),
            consts: ConstCache::default(),
            hashes: self.hashes.clone(),
            action_hint: AtomicUsize::new(self.action_hint.load(Ordering::Relaxed)),
            names: value::Names::new(),
            labels: self.labels.clone(),
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The id of the playbook called `name`.
    pub fn playbook_id(&self, name: &str) -> Result<PlaybookId, EngineError> {
        self.program
            .playbook(name)
            .map(|(id, _)| id)
            .ok_or_else(|| EngineError::UnknownPlaybook(name.to_string()))
    }

    /// The playbooks that take this alert: it decodes into the parameter type and the
    /// `when` condition (if any) holds. An alert that does not decode matches nothing.
    pub fn matching_playbooks(&self, alert: &Json) -> Vec<PlaybookId> {
        let mut out = Vec::new();
        for (i, pb) in self.program.playbooks.iter().enumerate() {
            let Some(param) = &pb.param else { continue };
            let Ok(value) = value::decode(alert, &param.ty, &self.program) else { continue };
            let matches = match &pb.when {
                None => true,
                Some(cond) => {
                    let host = host::WhenHost;
                    let run = RunState::new(Case::new("", &pb.name, &Json::Null));
                    let machine = Machine {
                        program: &self.program,
                        config: &self.config,
                        host: &host,
                        run: &run,
                        consts: &self.consts,
                    };
                    let mut frame = Frame::new(pb.body.locals);
                    frame.slots.resize(frame.slots.len().max(param.slot.0 as usize + 1), Value::Unit);
                    if let Some(s) = frame.slots.get_mut(param.slot.0 as usize) {
                        *s = value;
                    }
                    let fut = machine.expr(&mut frame, cond, 0);
                    matches!(poll_once(fut), Some(Ok(v)) if v.as_bool() == Some(true))
                }
            };
            if matches {
                out.push(PlaybookId(i as u32));
            }
        }
        out
    }

    /// Starts a run of `playbook` on `alert`. The alert is decoded first, and rejected
    /// with the JSON path of every problem before anything runs or is stored.
    pub async fn start(&self, playbook: PlaybookId, alert: Json) -> Result<RunOutcome, EngineError> {
        let pb = self
            .program
            .playbooks
            .get(playbook.0 as usize)
            .ok_or_else(|| EngineError::UnknownPlaybook(format!("#{}", playbook.0)))?;
        let value = self.decode_alert(playbook, &alert)?;
        let hash = self.hashes.get(playbook.0 as usize).cloned().unwrap_or_default();
        let run = if self.options.dry_run {
            RunRecord {
                id: format!("dry-run-{}", now_ms()),
                playbook: pb.name.clone(),
                playbook_hash: hash,
                alert,
                status: RunStatus::Running,
                disposition: None,
                error: None,
                created_at: now_ms(),
                updated_at: now_ms(),
            }
        } else {
            self.store.create_run(&NewRun {
                playbook: pb.name.clone(),
                playbook_hash: hash,
                alert,
                created_at: now_ms(),
            })?
        };
        // Held while the run executes, so no `parry resume --interrupted` replays it meanwhile.
        let _lease = if self.options.dry_run {
            None
        } else {
            Some(self.store.lease_run(&run.id)?.ok_or_else(|| EngineError::RunBusy(run.id.clone()))?)
        };
        self.execute(playbook, &run, value, true).await
    }

    /// Continues a run that is awaiting an approval (or was interrupted), by replaying it
    /// from its journal. Refused when the run is finished or its playbook changed.
    pub async fn resume(&self, run_id: &str) -> Result<RunOutcome, EngineError> {
        // The lease first, then the run as it is now: whoever held it may have moved it on.
        let lease = if self.options.dry_run { None } else { self.store.lease_run(run_id)? };
        if lease.is_none() && !self.options.dry_run {
            return match self.store.get_run(run_id)? {
                Some(_) => Err(EngineError::RunBusy(run_id.to_string())),
                None => Err(EngineError::RunNotFound(run_id.to_string())),
            };
        }
        let run = self.store.get_run(run_id)?.ok_or_else(|| EngineError::RunNotFound(run_id.to_string()))?;
        if run.status == RunStatus::Finished {
            return Err(EngineError::RunFinished {
                run_id: run.id,
                disposition: run.disposition.unwrap_or_else(|| "finished".to_string()),
            });
        }
        let playbook = self.playbook_id(&run.playbook)?;
        if self.hashes.get(playbook.0 as usize) != Some(&run.playbook_hash) {
            return Err(EngineError::ProgramChanged { run_id: run.id, playbook: run.playbook });
        }
        let value = self.decode_alert(playbook, &run.alert)?;
        // A run waiting for an approval is also taken with a compare-and-set of its status,
        // which settles the one race a lease file leaves open (see `Store::lease_run`).
        if run.status == RunStatus::AwaitingApproval
            && !self.options.dry_run
            && !self.store.claim_run(&run.id, RunStatus::AwaitingApproval, now_ms())?
        {
            return Err(EngineError::RunBusy(run.id));
        }
        self.execute(playbook, &run, value, false).await
    }

    /// Runs the undo action of every reversible call the run completed, newest first, each
    /// once (a second `undo` skips what the first did).
    ///
    /// Like an effectful call, each undo is claimed in the store before it is called and
    /// settled after, so two `parry undo` at once never both call it, and an undo whose end
    /// was never recorded (the process stopped during the call) is reported, not repeated.
    pub async fn undo(&self, run_id: &str) -> Result<UndoReport, EngineError> {
        let run = self.store.get_run(run_id)?.ok_or_else(|| EngineError::RunNotFound(run_id.to_string()))?;
        let log: HashMap<i64, store::UndoState> = self.store.undo_log(&run.id)?.into_iter().collect();
        let mut entries: Vec<store::JournalEntry> = self
            .store
            .journal(&run.id)?
            .into_iter()
            .filter(|e| e.state == store::EntryState::Done && e.effect == "reversible")
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
        let mut report = UndoReport { run_id: run.id.clone(), undone: Vec::new(), already_undone: 0 };
        for entry in entries {
            let mut item = UndoItem {
                seq: entry.seq,
                connector: entry.connector.clone(),
                action: entry.action.clone(),
                undo_action: String::new(),
                arguments: Json::Null,
                error: None,
            };
            match log.get(&entry.seq) {
                Some(store::UndoState::Done) => {
                    report.already_undone += 1;
                    continue;
                }
                Some(store::UndoState::Started) => {
                    item.error = Some(UNCONFIRMED_UNDO.to_string());
                    report.undone.push(item);
                    continue;
                }
                None => {}
            }
            match self.undo_call(&entry) {
                Ok((undo_name, args)) => {
                    item.undo_action.clone_from(&undo_name);
                    item.arguments = Json::Object(args.clone());
                    if !self.store.claim_undo(&run.id, entry.seq, now_ms())? {
                        // Another `parry undo` of this run got there first.
                        report.already_undone += 1;
                        continue;
                    }
                    let result = match self.connectors.resolve(&entry.connector) {
                        Ok(c) => c.call(&undo_name, &args).await.map(|_| ()),
                        Err(e) => Err(e),
                    };
                    self.store.settle_undo(&run.id, entry.seq, result.is_ok(), now_ms())?;
                    if let Err(e) = result {
                        item.error = Some(e.to_string());
                    }
                }
                Err(why) => item.error = Some(why),
            }
            report.undone.push(item);
        }
        Ok(report)
    }

    /// The undo action of a journaled call and its arguments (the original values, keyed by
    /// the undo action's parameter names, position by position).
    fn undo_call(
        &self,
        entry: &store::JournalEntry,
    ) -> Result<(String, serde_json::Map<String, Json>), String> {
        let (_, connector) = self
            .program
            .connector(&entry.connector)
            .ok_or_else(|| format!("connector `{}` is no longer declared", entry.connector))?;
        let action =
            connector.actions.iter().find(|a| a.name == entry.action).ok_or_else(|| {
                format!("action `{}.{}` is no longer declared", entry.connector, entry.action)
            })?;
        let undo_id = action
            .effect
            .undo
            .ok_or_else(|| format!("`{}.{}` declares no undo action", entry.connector, entry.action))?;
        let (_, undo) =
            self.program.action(undo_id).ok_or_else(|| "the undo action is not declared".to_string())?;
        let mut args = serde_json::Map::new();
        for (orig, param) in action.params.iter().zip(&undo.params) {
            let v = entry.args.get(&orig.name).cloned().unwrap_or(Json::Null);
            args.insert(param.name.clone(), v);
        }
        Ok((undo.name.clone(), args))
    }

    fn decode_alert(&self, playbook: PlaybookId, alert: &Json) -> Result<Value, EngineError> {
        let pb = self
            .program
            .playbooks
            .get(playbook.0 as usize)
            .ok_or_else(|| EngineError::UnknownPlaybook(format!("#{}", playbook.0)))?;
        match &pb.param {
            Some(param) => value::decode(alert, &param.ty, &self.program)
                .map_err(|problems| EngineError::AlertRejected { playbook: pb.name.clone(), problems }),
            None => Ok(Value::Json(alert.clone())),
        }
    }

    /// Runs (or replays) the playbook body. `fresh`: the run was just created, so its
    /// journal is empty.
    async fn execute(
        &self,
        playbook: PlaybookId,
        run: &RunRecord,
        alert: Value,
        fresh: bool,
    ) -> Result<RunOutcome, EngineError> {
        let pb = self
            .program
            .playbooks
            .get(playbook.0 as usize)
            .ok_or_else(|| EngineError::UnknownPlaybook(run.playbook.clone()))?;
        let mut case = Case::new(&run.id, &pb.name, &run.alert);
        case.dry_run = self.options.dry_run;
        case.actions.reserve(self.action_hint.load(Ordering::Relaxed));
        let state = RunState::new(case);
        let host = host::EngineHost::new(self, &run.id, fresh);
        let machine = Machine {
            program: &self.program,
            config: &self.config,
            host: &host,
            run: &state,
            consts: &self.consts,
        };
        let mut frame = Frame::new(pb.body.locals);
        if let Some(param) = &pb.param {
            frame.slots.resize(frame.slots.len().max(param.slot.0 as usize + 1), Value::Unit);
            if let Some(s) = frame.slots.get_mut(param.slot.0 as usize) {
                *s = alert;
            }
        }
        let outcome = machine.run_block(&mut frame, &pb.body.block).await;
        if let Some(e) = host.store_failure() {
            return Err(EngineError::Store(e));
        }
        let (disposition, summary, error) = outcome_of(outcome);
        let mut case = state.case.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.action_hint.store(case.actions.len(), Ordering::Relaxed);
        case.disposition = disposition;
        case.summary = summary;
        case.error = error;
        let case = Arc::new(case);
        if !self.options.dry_run {
            let status = if disposition == Disposition::AwaitingApproval {
                RunStatus::AwaitingApproval
            } else {
                RunStatus::Finished
            };
            let update = RunUpdate {
                status,
                disposition: Some(disposition.name().to_string()),
                error: case.error.clone(),
                updated_at: now_ms(),
            };
            self.store.finish_run(&run.id, host.take_pending(), &update, &case)?;
        }
        Ok(RunOutcome { run_id: run.id.clone(), disposition, case })
    }
}

/// Polls a future once with a no-op waker: the value when it is ready at once.
fn poll_once<T>(fut: join::BoxFuture<'_, T>) -> Option<T> {
    let mut fut = fut;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How a body's evaluation maps to a run's end: (disposition, summary, error).
pub(crate) fn outcome_of(outcome: R<Value>) -> (Disposition, Option<String>, Option<String>) {
    match outcome {
        Ok(_) => (Disposition::Completed, None, None),
        Err(Flow::End { disposition, summary }) => (disposition, Some(summary), None),
        Err(Flow::Error(e)) | Err(Flow::Halt(e)) => (Disposition::Failed, None, Some(e.describe())),
        Err(Flow::Suspend { .. }) => (Disposition::AwaitingApproval, None, None),
        Err(Flow::TestFailure(message)) => (Disposition::Failed, None, Some(message)),
    }
}

#[cfg(test)]
mod tests;
