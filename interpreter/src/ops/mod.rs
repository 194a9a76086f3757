//! What the run-time commands of the CLI do (`parry run`, `approvals`, `approve`, `resume`,
//! `undo`, `cases`, `stats`), so the CLI only parses arguments and prints.
//!
//! Every command works on one project (a directory with `parry.toml`) and its state database,
//! `PROJECT/.parry/state.db` unless another file is given. The run-time commands other than
//! `run` take `--project PATH` (default `.`): the project's `parry.toml` says who may approve,
//! and its connectors are what `resume` and `undo` call.
//!
//! Decisions worth knowing:
//! - A project with compile errors never runs (nor resumes, nor undoes).
//! - An alert is validated completely before a run is created: unreadable, larger than
//!   [`alert::MAX_ALERT_BYTES`], invalid JSON, or not decodable into any candidate playbook's
//!   parameter type (every problem listed with its JSON path) → refused, nothing written (the
//!   state database is not even created).
//! - No playbook's `when` holds for a well-formed alert → nothing runs, and that is not an
//!   error (exit 0): routing an alert to no playbook is a normal outcome.
//! - `--playbook NAME` runs that playbook whatever its `when` says.
//! - `--dry-run` uses an in-memory store: nothing is written to disk (no state database).
//! - An approval with a group may be decided only by a member of that group; one without a
//!   group by anyone listed in any `[approvers]` group. An expired approval cannot be
//!   decided: `parry resume` takes its `else` branch.
//! - `parry resume` with no run resumes the runs awaiting an approval that is now decided
//!   or expired; with `--interrupted` also the runs left `running` by a process that
//!   stopped (the engine replays the journal and never repeats an effectful call).

pub mod alert;
mod crash;
pub mod render;

use crate::engine::{
    Case, ConnectorSet, Disposition, Engine, EngineError, EngineOptions, RunOutcome, UndoReport,
};
use crate::store::{
    self, ApprovalFilter, ApprovalRow, ApprovalStatus, Decision, MemoryStore, RunFilter, RunRecord,
    RunStatus, SqliteStore, Store, StoreError,
};
use alert::{AlertError, SelectError, Selection};
use parry_compiler::project::{Config, ProjectError};
use parry_compiler::{Compilation, RealFs, compile, load_project};
use serde::Serialize;
use serde_json::Value as Json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a command could not do its work.
#[derive(Debug)]
pub enum OpsError {
    /// The project could not be loaded (missing path, invalid `parry.toml`).
    Project(ProjectError),
    /// The project has compile errors; render `diagnostics` of the compilation.
    Compile(Box<Compilation>),
    /// A usage error: unknown run or approval, missing file, bad combination of options.
    Usage(String),
    /// The alert was refused before anything ran.
    Alert(AlertError),
    /// The state database failed.
    Store(StoreError),
    /// The request is understood but not allowed (an approver outside the group, an
    /// approval already decided or expired).
    Refused(String),
}

impl OpsError {
    /// The exit status (LANGUAGE.md §8): 1 for compile errors and refusals, 2 for usage and
    /// I/O errors (including rejected alerts).
    pub fn exit_code(&self) -> u8 {
        match self {
            OpsError::Compile(_) | OpsError::Refused(_) => 1,
            OpsError::Project(_) | OpsError::Usage(_) | OpsError::Alert(_) | OpsError::Store(_) => 2,
        }
    }
}

impl fmt::Display for OpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpsError::Project(e) => e.fmt(f),
            OpsError::Compile(c) => {
                let n = c
                    .diagnostics
                    .iter()
                    .filter(|d| d.effective_severity() == parry_compiler::Severity::Error)
                    .count();
                write!(
                    f,
                    "the project has {n} error(s); fix them (`parry check` lists them) before running it"
                )
            }
            OpsError::Usage(m) | OpsError::Refused(m) => f.write_str(m),
            OpsError::Alert(e) => e.fmt(f),
            OpsError::Store(e) => write!(f, "the state database failed: {e}"),
        }
    }
}

impl std::error::Error for OpsError {}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        OpsError::Store(e)
    }
}

impl From<EngineError> for OpsError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => OpsError::Store(s),
            other => OpsError::Usage(other.to_string()),
        }
    }
}

/// A loaded and compiled project.
pub struct Workspace {
    /// The directory holding `parry.toml`.
    pub root: PathBuf,
    pub compilation: Compilation,
}

impl Workspace {
    /// Loads and compiles the project `path` belongs to; refuses one with compile errors.
    pub fn load(path: &Path) -> Result<Workspace, OpsError> {
        let ws = Workspace::load_lenient(path)?;
        if ws.compilation.has_errors() {
            return Err(OpsError::Compile(Box::new(ws.compilation)));
        }
        Ok(ws)
    }

    /// Loads and compiles the project, keeping a program built despite errors (for
    /// read-only views such as `parry stats`).
    pub fn load_lenient(path: &Path) -> Result<Workspace, OpsError> {
        let fs = RealFs;
        let project = load_project(path, &fs).map_err(OpsError::Project)?;
        if project.files.is_empty() {
            return Err(OpsError::Usage(format!(
                "no .play files found in {}; give the directory of a Parry project (the one holding parry.toml)",
                path.display()
            )));
        }
        let compilation = compile(&project, &fs);
        Ok(Workspace { root: project.root, compilation })
    }

    pub fn config(&self) -> &Config {
        &self.compilation.config
    }

    /// The state database of this project (or `state` when given).
    pub fn state_path(&self, state: Option<&Path>) -> PathBuf {
        state.map_or_else(|| store::default_path(&self.root), Path::to_path_buf)
    }

    /// An engine over this project with its connectors.
    pub fn engine(&self, store: Arc<dyn Store>, dry_run: bool) -> Engine {
        let program = self.compilation.program.clone();
        let connectors = ConnectorSet::from_config(&program, &self.compilation.config, &self.root);
        Engine::new(
            Arc::new(program),
            self.compilation.config.clone(),
            connectors,
            crash::wrap_from_env(store),
            EngineOptions { dry_run, quiet: false },
        )
    }
}

/// Opens (creating it and its directory) the state database at `path`.
pub fn open_store(path: &Path) -> Result<Arc<dyn Store>, OpsError> {
    Ok(Arc::new(SqliteStore::open(path)?))
}

/// Opens the state database at `path` when it exists; `None` when no run was ever recorded.
pub fn open_existing_store(path: &Path) -> Result<Option<Arc<dyn Store>>, OpsError> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(open_store(path)?))
}

fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, OpsError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| OpsError::Usage(format!("cannot start the runtime: {e}")))?;
    Ok(rt.block_on(fut))
}

// ---------------------------------------------------------------------------------------
// parry run
// ---------------------------------------------------------------------------------------

/// What `parry run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    pub alert: PathBuf,
    pub playbook: Option<String>,
    pub dry_run: bool,
    /// Another state database than `PROJECT/.parry/state.db`.
    pub state: Option<PathBuf>,
}

/// One run of a playbook: its outcome, or why the engine could not carry it out.
#[derive(Debug)]
pub struct RunResult {
    pub playbook: String,
    pub run_id: Option<String>,
    pub outcome: Result<RunOutcome, String>,
    /// The approvals this run waits for, with their store ids.
    pub pending: Vec<ApprovalRow>,
}

impl RunResult {
    /// Whether this run failed (an engine error or disposition `failed`).
    pub fn failed(&self) -> bool {
        match &self.outcome {
            Ok(o) => o.disposition == Disposition::Failed,
            Err(_) => true,
        }
    }

    pub fn case(&self) -> Option<&Case> {
        self.outcome.as_ref().ok().map(|o| &*o.case)
    }
}

/// What `parry run` did.
#[derive(Debug)]
pub struct RunReport {
    pub runs: Vec<RunResult>,
    /// Set when no playbook's `when` held: the playbooks the alert was well-formed for.
    pub no_match: Option<Vec<String>>,
    /// How later commands must name this project and store (`--project P --state S`), empty
    /// when the defaults apply.
    pub project_args: String,
}

impl RunReport {
    pub fn any_failed(&self) -> bool {
        self.runs.iter().any(RunResult::failed)
    }
}

/// `parry run`: validates the alert, picks the playbooks and runs them.
pub fn run_alert(ws: &Workspace, request: &RunRequest) -> Result<RunReport, OpsError> {
    let alert = alert::read_alert(&request.alert).map_err(OpsError::Alert)?;
    // Selection needs an engine but must not touch the disk: a memory store until a run starts.
    let probe = ws.engine(Arc::new(MemoryStore::new()), request.dry_run);
    let selection = match alert::select(&probe, &request.alert, &alert, request.playbook.as_deref()) {
        Ok(s) => s,
        Err(SelectError::Alert(e)) => return Err(OpsError::Alert(e)),
        Err(e) => return Err(OpsError::Usage(e.to_string())),
    };
    let project_args = project_args(ws, request.state.as_deref());
    let ids = match selection {
        Selection::Run(ids) => ids,
        Selection::NoMatch { decodable } => {
            return Ok(RunReport { runs: Vec::new(), no_match: Some(decodable), project_args });
        }
    };
    let store: Arc<dyn Store> = if request.dry_run {
        Arc::new(MemoryStore::new())
    } else {
        open_store(&ws.state_path(request.state.as_deref()))?
    };
    let engine = ws.engine(store.clone(), request.dry_run);
    let mut runs = Vec::new();
    for id in ids {
        let name = engine.program().playbooks.get(id.0 as usize).map(|p| p.name.clone()).unwrap_or_default();
        let outcome = block_on(engine.start(id, alert.clone()))?;
        runs.push(result_of(name, outcome, store.as_ref(), request.dry_run)?);
    }
    Ok(RunReport { runs, no_match: None, project_args })
}

fn result_of(
    playbook: String,
    outcome: Result<RunOutcome, EngineError>,
    store: &dyn Store,
    dry_run: bool,
) -> Result<RunResult, OpsError> {
    match outcome {
        Ok(o) => {
            let pending = if dry_run || o.disposition != Disposition::AwaitingApproval {
                Vec::new()
            } else {
                store.list_approvals(&ApprovalFilter {
                    run_id: Some(o.run_id.clone()),
                    status: Some(ApprovalStatus::Pending),
                })?
            };
            Ok(RunResult { playbook, run_id: Some(o.run_id.clone()), outcome: Ok(o), pending })
        }
        Err(EngineError::Store(e)) => Err(OpsError::Store(e)),
        Err(e) => Ok(RunResult { playbook, run_id: None, outcome: Err(e.to_string()), pending: Vec::new() }),
    }
}

/// `--project P` (and `--state S`) to repeat in the commands printed for the user, when
/// they differ from the defaults (the current directory and its `.parry/state.db`).
fn project_args(ws: &Workspace, state: Option<&Path>) -> String {
    let mut out = String::new();
    let is_cwd = std::fs::canonicalize(&ws.root).ok()
        == std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    if !is_cwd {
        out.push_str(&format!(" --project {}", shell_quote(&ws.root.display().to_string())));
    }
    if let Some(s) = state {
        out.push_str(&format!(" --state {}", shell_quote(&s.display().to_string())));
    }
    out
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./@:+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

// ---------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------

/// A pending approval as listed by `parry approvals`.
#[derive(Clone, Debug, Serialize)]
pub struct PendingApproval {
    pub run_id: String,
    pub approval: i64,
    pub playbook: String,
    pub prompt: String,
    pub group: Option<String>,
    /// RFC 3339.
    pub requested_at: String,
    pub expires_at: String,
    /// Past its expiry: `parry resume` will take the `else` branch.
    pub expired: bool,
    /// The command that decides it.
    pub command: String,
}

/// Every approval still pending in the store, oldest first.
pub fn pending_approvals(store: &dyn Store, project_args: &str) -> Result<Vec<PendingApproval>, OpsError> {
    let rows =
        store.list_approvals(&ApprovalFilter { run_id: None, status: Some(ApprovalStatus::Pending) })?;
    let now = now_ms();
    let mut out = Vec::new();
    for row in rows {
        let playbook = store.get_run(&row.run_id)?.map(|r| r.playbook).unwrap_or_default();
        out.push(PendingApproval {
            command: format!("parry approve {} {} --as USER{project_args}", row.run_id, row.id),
            run_id: row.run_id,
            approval: row.id,
            playbook,
            prompt: row.prompt,
            group: row.group,
            requested_at: format_ms(row.requested_at),
            expires_at: format_ms(row.expires_at),
            expired: now > row.expires_at,
        });
    }
    Ok(out)
}

/// `parry approve RUN [APPROVAL] --as USER [--deny]`.
pub fn decide(
    config: &Config,
    store: &dyn Store,
    run_id: &str,
    approval: Option<i64>,
    user: &str,
    deny: bool,
) -> Result<ApprovalRow, OpsError> {
    let run = store.get_run(run_id)?.ok_or_else(|| {
        OpsError::Usage(format!(
            "no run `{run_id}` in the state database; `parry approvals` lists the pending ones"
        ))
    })?;
    let all = store.list_approvals(&ApprovalFilter { run_id: Some(run.id.clone()), status: None })?;
    let row = match approval {
        Some(id) => all.into_iter().find(|a| a.id == id).ok_or_else(|| {
            OpsError::Usage(format!(
                "run {} has no approval {id}; `parry approvals` lists the pending approvals with their ids",
                run.id
            ))
        })?,
        None => {
            let pending: Vec<ApprovalRow> =
                all.into_iter().filter(|a| a.status == ApprovalStatus::Pending).collect();
            match pending.len() {
                0 => {
                    return Err(OpsError::Refused(format!(
                        "run {} ({}) has no pending approval; `parry approvals` lists the pending ones",
                        run.id, run.playbook
                    )));
                }
                1 => {
                    pending.into_iter().next().ok_or_else(|| OpsError::Usage("no pending approval".into()))?
                }
                _ => {
                    let ids: Vec<String> = pending.iter().map(|a| a.id.to_string()).collect();
                    return Err(OpsError::Usage(format!(
                        "run {} waits for {} approvals ({}); name one: `parry approve {} APPROVAL --as {user}`",
                        run.id,
                        pending.len(),
                        ids.join(", "),
                        run.id
                    )));
                }
            }
        }
    };
    if row.status != ApprovalStatus::Pending {
        let by = row.decided_by.as_deref().map(|u| format!(" by {u}")).unwrap_or_default();
        return Err(OpsError::Refused(format!(
            "approval {} of run {} is already {}{by}; a decision is final",
            row.id,
            run.id,
            row.status.name()
        )));
    }
    if now_ms() > row.expires_at {
        return Err(OpsError::Refused(format!(
            "approval {} of run {} expired at {}; it can no longer be decided: `parry resume {}` takes the `else` branch",
            row.id,
            run.id,
            format_ms(row.expires_at),
            run.id
        )));
    }
    check_approver(config, row.group.as_deref(), user)?;
    let decided = store.decide_approval(
        row.id,
        &Decision {
            status: if deny { ApprovalStatus::Denied } else { ApprovalStatus::Granted },
            decided_by: Some(user.to_string()),
            decided_at: now_ms(),
        },
    );
    match decided {
        Ok(row) => Ok(row),
        Err(e) if e.kind == store::StoreErrorKind::Conflict => Err(OpsError::Refused(e.message)),
        Err(e) => Err(OpsError::Store(e)),
    }
}

/// Whether `user` may decide an approval of `group` (`None`: any listed approver).
pub fn check_approver(config: &Config, group: Option<&str>, user: &str) -> Result<(), OpsError> {
    if config.approvers.is_empty() {
        return Err(OpsError::Refused(format!(
            "parry.toml lists no approvers, so nobody may decide approvals; add an `[approvers]` table, \
             e.g. `{} = [\"{user}\"]`",
            group.unwrap_or("soc")
        )));
    }
    match group {
        Some(g) => match config.approvers.get(g) {
            Some(members) if members.iter().any(|m| m == user) => Ok(()),
            Some(members) => Err(OpsError::Refused(format!(
                "{user} is not a member of approver group `{g}` ({}); only its members may decide this approval \
                 (add {user} to `[approvers] {g}` in parry.toml to allow it)",
                if members.is_empty() {
                    "it has no member".to_string()
                } else {
                    format!("members: {}", members.join(", "))
                }
            ))),
            None => Err(OpsError::Refused(format!(
                "approver group `{g}` is not defined in parry.toml; add `{g} = [\"{user}\"]` under `[approvers]`"
            ))),
        },
        None => {
            if config.approvers.values().any(|members| members.iter().any(|m| m == user)) {
                Ok(())
            } else {
                let groups: Vec<&str> = config.approvers.keys().map(String::as_str).collect();
                Err(OpsError::Refused(format!(
                    "{user} is not listed in any approver group of parry.toml ({}); only listed approvers may decide",
                    groups.join(", ")
                )))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// parry resume
// ---------------------------------------------------------------------------------------

/// What `parry resume` did.
#[derive(Debug, Default)]
pub struct ResumeReport {
    pub resumed: Vec<RunResult>,
    /// Runs left alone, with the reason (an approval still undecided).
    pub waiting: Vec<(String, String)>,
}

/// `parry resume [RUN]`.
pub fn resume(
    ws: &Workspace,
    store: Arc<dyn Store>,
    run: Option<&str>,
    interrupted: bool,
) -> Result<ResumeReport, OpsError> {
    let engine = ws.engine(store.clone(), false);
    let mut report = ResumeReport::default();
    let runs: Vec<RunRecord> = match run {
        Some(id) => {
            let record = store.get_run(id)?.ok_or_else(|| {
                OpsError::Usage(format!("no run `{id}` in the state database; `parry cases` lists the runs"))
            })?;
            if record.status == RunStatus::Finished {
                return Err(OpsError::Usage(format!(
                    "run {} is finished ({}); there is nothing to resume",
                    record.id,
                    record.disposition.as_deref().unwrap_or("finished")
                )));
            }
            vec![record]
        }
        None => {
            let mut runs = store.list_runs(&RunFilter {
                status: Some(RunStatus::AwaitingApproval),
                ..RunFilter::default()
            })?;
            if interrupted {
                runs.extend(
                    store
                        .list_runs(&RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() })?,
                );
            }
            runs.sort_by_key(|r| r.id.parse::<i64>().unwrap_or(i64::MAX));
            runs
        }
    };
    let now = now_ms();
    for record in runs {
        if record.status == RunStatus::AwaitingApproval {
            let pending = store.list_approvals(&ApprovalFilter {
                run_id: Some(record.id.clone()),
                status: Some(ApprovalStatus::Pending),
            })?;
            if let Some(a) = pending.iter().find(|a| a.expires_at >= now) {
                report.waiting.push((
                    record.id.clone(),
                    format!(
                        "waits for approval {} (group {}, expires {}): `parry approve {} {} --as USER`",
                        a.id,
                        a.group.as_deref().unwrap_or("any approver"),
                        format_ms(a.expires_at),
                        record.id,
                        a.id
                    ),
                ));
                continue;
            }
        }
        let outcome = match block_on(engine.resume(&record.id))? {
            Err(EngineError::RunBusy(_)) if run.is_none() => {
                report.waiting.push((record.id.clone(), "is being run by another process".to_string()));
                continue;
            }
            other => other,
        };
        report.resumed.push(result_of(record.playbook.clone(), outcome, store.as_ref(), false)?);
        if let Some(last) = report.resumed.last_mut() {
            last.run_id.get_or_insert(record.id.clone());
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// parry undo
// ---------------------------------------------------------------------------------------

/// `parry undo RUN`.
pub fn undo(ws: &Workspace, store: Arc<dyn Store>, run_id: &str) -> Result<UndoReport, OpsError> {
    if store.get_run(run_id)?.is_none() {
        return Err(OpsError::Usage(format!(
            "no run `{run_id}` in the state database; `parry cases` lists the runs"
        )));
    }
    let engine = ws.engine(store, false);
    Ok(block_on(engine.undo(run_id))??)
}

// ---------------------------------------------------------------------------------------
// parry cases
// ---------------------------------------------------------------------------------------

/// One line of `parry cases`.
#[derive(Clone, Debug, Serialize)]
pub struct CaseSummary {
    pub run_id: String,
    pub playbook: String,
    /// `running`, `awaiting_approval`, `finished`.
    pub status: String,
    pub disposition: Option<String>,
    /// RFC 3339.
    pub created: String,
    pub updated: String,
    pub summary: Option<String>,
    pub error: Option<String>,
    /// The full case, when the run saved one.
    pub case: Option<Json>,
}

/// Every run, newest first, with its case.
pub fn list_cases(store: &dyn Store) -> Result<Vec<CaseSummary>, OpsError> {
    let mut out = Vec::new();
    for run in store.list_runs(&RunFilter::default())? {
        let case = store.load_case(&run.id)?;
        let summary = case.as_ref().and_then(|c| c.get("summary")).and_then(Json::as_str).map(str::to_string);
        out.push(CaseSummary {
            run_id: run.id,
            playbook: run.playbook,
            status: run.status.name().to_string(),
            disposition: run.disposition,
            created: format_ms(run.created_at),
            updated: format_ms(run.updated_at),
            summary,
            error: run.error,
            case,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// parry stats
// ---------------------------------------------------------------------------------------

/// Counts for one playbook (or all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlaybookStats {
    pub playbook: String,
    pub runs: u64,
    pub resolved: u64,
    pub escalated: u64,
    pub awaiting_approval: u64,
    pub failed: u64,
    pub completed: u64,
    /// Started and not finished (interrupted, or running now).
    pub running: u64,
    /// Resolved with no approval granted or denied by a person.
    pub automated: u64,
    /// `saves` of the playbook times `automated`, in milliseconds.
    pub saved_ms: u64,
}

impl PlaybookStats {
    /// Automatically resolved runs over all runs (0 when there is none).
    pub fn automation_rate(&self) -> f64 {
        if self.runs == 0 { 0.0 } else { self.automated as f64 / self.runs as f64 }
    }

    fn add(&mut self, other: &PlaybookStats) {
        self.runs += other.runs;
        self.resolved += other.resolved;
        self.escalated += other.escalated;
        self.awaiting_approval += other.awaiting_approval;
        self.failed += other.failed;
        self.completed += other.completed;
        self.running += other.running;
        self.automated += other.automated;
        self.saved_ms += other.saved_ms;
    }
}

/// What `parry stats` prints.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub total: PlaybookStats,
    pub automation_rate: f64,
    pub playbooks: Vec<PlaybookStats>,
    /// Playbooks with runs in the store but no `saves` (or no longer declared).
    pub without_saves: Vec<String>,
}

/// Computes the statistics of every run in `store`; `saves` comes from the project's
/// playbooks (`saves DURATION`).
pub fn stats(ws: Option<&Workspace>, store: &dyn Store) -> Result<Stats, OpsError> {
    let mut per: std::collections::BTreeMap<String, PlaybookStats> = std::collections::BTreeMap::new();
    let saves = |name: &str| -> Option<u64> {
        ws.and_then(|w| w.compilation.program.playbook(name)).and_then(|(_, p)| p.saves_ms)
    };
    for run in store.list_runs(&RunFilter::default())? {
        let entry = per
            .entry(run.playbook.clone())
            .or_insert_with(|| PlaybookStats { playbook: run.playbook.clone(), ..PlaybookStats::default() });
        entry.runs += 1;
        let disposition = if run.status == RunStatus::Running {
            None
        } else {
            run.disposition.as_deref().and_then(Disposition::from_name)
        };
        match disposition {
            Some(Disposition::Resolved) => {
                entry.resolved += 1;
                let case: Option<Case> =
                    store.load_case(&run.id)?.and_then(|json| serde_json::from_value(json).ok());
                let human = case.is_some_and(|c| {
                    c.approvals.iter().any(|a| {
                        matches!(
                            a.state,
                            crate::engine::ApprovalState::Granted | crate::engine::ApprovalState::Denied
                        )
                    })
                });
                if !human {
                    entry.automated += 1;
                    entry.saved_ms += saves(&run.playbook).unwrap_or(0);
                }
            }
            Some(Disposition::Escalated) => entry.escalated += 1,
            Some(Disposition::AwaitingApproval) => entry.awaiting_approval += 1,
            Some(Disposition::Failed) => entry.failed += 1,
            Some(Disposition::Completed) => entry.completed += 1,
            None => entry.running += 1,
        }
    }
    let mut out = Stats::default();
    out.total.playbook = "all".to_string();
    for (name, s) in per {
        out.total.add(&s);
        if saves(&name).is_none() {
            out.without_saves.push(name);
        }
        out.playbooks.push(s);
    }
    out.automation_rate = out.total.automation_rate();
    Ok(out)
}

// ---------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch as RFC 3339 (UTC, whole seconds).
pub fn format_ms(ms: i64) -> String {
    crate::connectors::format_time(ms.div_euclid(1000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{NewApproval, NewRun, RunUpdate};
    use serde_json::json;

    fn config() -> Config {
        let mut c = Config::default();
        c.approvers.insert("soc-tier2".into(), vec!["marta".into(), "yusuf".into()]);
        c.approvers.insert("it-ops".into(), vec!["priya".into()]);
        c
    }

    fn run_with_approval(store: &dyn Store, group: Option<&str>, expires_in: i64) -> (String, i64) {
        let run = store
            .create_run(&NewRun {
                playbook: "p".into(),
                playbook_hash: "h".into(),
                alert: json!({}),
                created_at: 1,
            })
            .unwrap();
        let now = now_ms();
        let a = store
            .add_approval(&NewApproval {
                run_id: run.id.clone(),
                key: format!("k{}", run.id),
                prompt: "Quarantine?".into(),
                group: group.map(str::to_string),
                requested_at: now,
                expires_at: now + expires_in,
            })
            .unwrap();
        (run.id, a.id)
    }

    #[test]
    fn only_members_of_the_group_may_decide() {
        let c = config();
        assert!(check_approver(&c, Some("soc-tier2"), "marta").is_ok());
        let e = check_approver(&c, Some("soc-tier2"), "priya").unwrap_err();
        assert!(matches!(e, OpsError::Refused(_)));
        assert!(e.to_string().contains("members: marta, yusuf"), "{e}");
        let e = check_approver(&c, Some("nobody"), "marta").unwrap_err();
        assert!(e.to_string().contains("not defined in parry.toml"), "{e}");
        // No group: anyone listed in any group.
        assert!(check_approver(&c, None, "priya").is_ok());
        assert!(check_approver(&c, None, "mallory").is_err());
        let e = check_approver(&Config::default(), None, "marta").unwrap_err();
        assert!(e.to_string().contains("[approvers]"), "{e}");
    }

    #[test]
    fn deciding_an_approval() {
        let store = MemoryStore::new();
        let c = config();
        let (run, id) = run_with_approval(&store, Some("soc-tier2"), 60_000);
        assert!(matches!(decide(&c, &store, &run, Some(id), "priya", false), Err(OpsError::Refused(_))));
        assert!(matches!(decide(&c, &store, &run, Some(id + 100), "marta", false), Err(OpsError::Usage(_))));
        assert!(matches!(decide(&c, &store, "404", None, "marta", false), Err(OpsError::Usage(_))));
        let row = decide(&c, &store, &run, None, "marta", true).unwrap();
        assert_eq!(row.status, ApprovalStatus::Denied);
        assert_eq!(row.decided_by.as_deref(), Some("marta"));
        let again = decide(&c, &store, &run, Some(id), "yusuf", false).unwrap_err();
        assert!(again.to_string().contains("already denied by marta"), "{again}");
        assert!(matches!(decide(&c, &store, &run, None, "yusuf", false), Err(OpsError::Refused(_))));

        let (expired_run, expired) = run_with_approval(&store, None, -1);
        let e = decide(&c, &store, &expired_run, Some(expired), "marta", false).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        assert_eq!(store.get_approval(expired).unwrap().unwrap().status, ApprovalStatus::Pending);
    }

    #[test]
    fn stats_count_automated_runs_and_time_saved() {
        let store = MemoryStore::new();
        let mk = |disposition: &str, human: bool| {
            let run = store
                .create_run(&NewRun {
                    playbook: "p".into(),
                    playbook_hash: "h".into(),
                    alert: json!({}),
                    created_at: 1,
                })
                .unwrap();
            let mut case = Case::new(&run.id, "p", &json!({}));
            case.disposition = Disposition::from_name(disposition).unwrap();
            if human {
                case.approvals.push(crate::engine::ApprovalRecord {
                    id: "1".into(),
                    prompt: "?".into(),
                    group: None,
                    requested_at: String::new(),
                    expires_at: String::new(),
                    state: crate::engine::ApprovalState::Granted,
                    decided_by: Some("marta".into()),
                });
            }
            store.save_case(&run.id, &serde_json::to_value(&case).unwrap()).unwrap();
            store
                .update_run(
                    &run.id,
                    &RunUpdate {
                        status: RunStatus::Finished,
                        disposition: Some(disposition.into()),
                        error: None,
                        updated_at: 2,
                    },
                )
                .unwrap();
        };
        mk("resolved", false);
        mk("resolved", false);
        mk("resolved", true);
        mk("escalated", false);
        mk("failed", false);
        store
            .create_run(&NewRun {
                playbook: "q".into(),
                playbook_hash: "h".into(),
                alert: json!({}),
                created_at: 1,
            })
            .unwrap();
        let s = stats(None, &store).unwrap();
        assert_eq!(s.total.runs, 6);
        assert_eq!(s.total.resolved, 3);
        assert_eq!(s.total.automated, 2);
        assert_eq!(s.total.failed, 1);
        assert_eq!(s.total.escalated, 1);
        assert_eq!(s.total.running, 1);
        assert!((s.automation_rate - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(s.playbooks.len(), 2);
        // Without the project, `saves` is unknown: no time is claimed.
        assert_eq!(s.total.saved_ms, 0);
        assert_eq!(s.without_saves, vec!["p".to_string(), "q".to_string()]);
    }
}
