//! The journal and case store: runs, the journal of action calls (intent before the call,
//! outcome after), journaled values such as `now()`, approvals, cases, and the undo log.
//!
//! Two implementations behind one trait: [`MemoryStore`] (tests, `parry test`, dry runs) and
//! [`SqliteStore`] (`.parry/state.db`, the default for `parry run`, `serve`, `worker`).
//!
//! Crash safety: the engine calls [`Store::record_intent`] before an effectful call and
//! [`Store::complete`] after it. An entry still in state [`EntryState::Intent`] on resume
//! means the process stopped between the two: the call may or may not have happened, and
//! [`Store::unfinished_intents`] lists such entries.
//!
//! Times are UTC milliseconds since the Unix epoch (`i64`) throughout.

mod checkpoint;
pub(crate) mod json_text;
mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::{Durability, SYNC_ENV, SqliteStore, default_path};

use crate::engine::{ActionRecord, CallNames, Case, EvidenceItem, RecordedJson};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A store failure: I/O, a corrupt or newer database, or a rule of the journal broken
/// (completing an entry that has no intent, deciding an approval twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The database could not be opened, read or written.
    Io,
    /// The referenced run, entry or approval does not exist.
    NotFound,
    /// The operation contradicts what is recorded (e.g. an approval already decided).
    Conflict,
    /// The database holds data this version cannot read.
    Corrupt,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError { kind, message: message.into() }
    }

    fn not_found(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::NotFound, message)
    }

    fn conflict(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Conflict, message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// The length of the last case written: room made up front for the next one.
static CASE_LEN_HINT: AtomicUsize = AtomicUsize::new(0);

/// A case as JSON text (how both stores keep it): exactly what `serde_json::to_string(case)`
/// writes, with the arguments and results the engine already wrote for the journal copied
/// as text rather than written again.
fn case_text(case: &Case) -> StoreResult<String> {
    String::from_utf8(case_bytes(case)?).map_err(|e| {
        StoreError::new(StoreErrorKind::Corrupt, format!("the case cannot be written as JSON: {e}"))
    })
}

/// [`case_text`] as UTF-8 bytes.
fn case_bytes(case: &Case) -> StoreResult<Vec<u8>> {
    let hint = CASE_LEN_HINT.load(Ordering::Relaxed);
    let mut out = Vec::with_capacity(hint + hint / 8);
    write_case(&mut out, case).map_err(case_error)?;
    CASE_LEN_HINT.store(out.len(), Ordering::Relaxed);
    Ok(out)
}

/// Writes `case` as `serde_json` writes it compactly (same fields, same order).
fn write_case(out: &mut Vec<u8>, case: &Case) -> serde_json::Result<()> {
    let Case {
        run_id,
        playbook,
        alert,
        disposition,
        summary,
        notes,
        evidence,
        recommendation,
        actions,
        approvals,
        error,
        dry_run,
    } = case;
    str_field(out, "{\"run_id\":", run_id);
    str_field(out, ",\"playbook\":", playbook);
    out.extend_from_slice(b",\"alert\":");
    alert.write_to(out);
    field(out, ",\"disposition\":", disposition)?;
    opt_str_field(out, ",\"summary\":", summary.as_deref());
    out.extend_from_slice(b",\"notes\":");
    json_text::write_list(out, notes, |out, note| {
        json_text::write_str(out, note);
        Ok(())
    })?;
    out.extend_from_slice(b",\"evidence\":");
    json_text::write_list(out, evidence, |out, item| {
        let EvidenceItem { label, value } = item;
        str_field(out, "{\"label\":", label);
        out.extend_from_slice(b",\"value\":");
        value.write_to(out);
        out.push(b'}');
        Ok(())
    })?;
    opt_str_field(out, ",\"recommendation\":", recommendation.as_deref());
    out.extend_from_slice(b",\"actions\":");
    json_text::write_list(out, actions, write_action)?;
    field(out, ",\"approvals\":", approvals)?;
    opt_str_field(out, ",\"error\":", error.as_deref());
    field(out, ",\"dry_run\":", dry_run)?;
    out.push(b'}');
    Ok(())
}

/// Writes one action record as `serde_json` writes it compactly.
fn write_action(out: &mut Vec<u8>, action: &ActionRecord) -> serde_json::Result<()> {
    let ActionRecord {
        call_id,
        names,
        arguments,
        result,
        error,
        status,
        started_at,
        finished_at,
        duration_ms,
        approval,
        replayed,
    } = action;
    out.extend_from_slice(b"{\"call_id\":");
    json_text::write_str_parts(out, call_id.parts());
    str_field(out, ",\"connector\":", names.connector());
    str_field(out, ",\"action\":", names.action());
    str_field(out, ",\"effect\":", names.effect());
    out.extend_from_slice(b",\"arguments\":");
    arguments.write_to(out);
    out.extend_from_slice(b",\"result\":");
    match result {
        Some(result) => result.write_to(out),
        None => out.extend_from_slice(b"null"),
    }
    opt_str_field(out, ",\"error\":", error.as_deref());
    field(out, ",\"status\":", status)?;
    stamp_field(out, ",\"started_at\":", Some(*started_at));
    stamp_field(out, ",\"finished_at\":", *finished_at);
    field(out, ",\"duration_ms\":", duration_ms)?;
    opt_str_field(out, ",\"approval\":", approval.as_deref());
    field(out, ",\"replayed\":", replayed)?;
    out.push(b'}');
    Ok(())
}

/// Writes `prefix` (the punctuation and key) then `value` as compact JSON.
fn field<T: Serialize + ?Sized>(out: &mut Vec<u8>, prefix: &str, value: &T) -> serde_json::Result<()> {
    out.extend_from_slice(prefix.as_bytes());
    serde_json::to_writer(&mut *out, value)
}

/// Writes `prefix` then `value` as a JSON string.
fn str_field(out: &mut Vec<u8>, prefix: &str, value: &str) {
    out.extend_from_slice(prefix.as_bytes());
    json_text::write_str(out, value);
}

/// Writes `prefix` then `stamp` as a JSON string (RFC 3339), or `null`.
fn stamp_field(out: &mut Vec<u8>, prefix: &str, stamp: Option<crate::engine::Stamp>) {
    match stamp {
        Some(stamp) => crate::value::with_time_text(stamp.0, |text| str_field(out, prefix, text)),
        None => opt_str_field(out, prefix, None),
    }
}

/// Writes `prefix` then `value` as a JSON string, or `null`.
fn opt_str_field(out: &mut Vec<u8>, prefix: &str, value: Option<&str>) {
    out.extend_from_slice(prefix.as_bytes());
    match value {
        Some(text) => json_text::write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn case_error(e: serde_json::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, format!("the case cannot be written as JSON: {e}"))
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or the process stopped while it ran: see `parry resume`).
    Running,
    /// Suspended at an `approve` with no decision yet.
    AwaitingApproval,
    /// Over: the disposition says how.
    Finished,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Finished => "finished",
        }
    }

    pub fn from_name(name: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::AwaitingApproval, RunStatus::Finished]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// What [`Store::create_run`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    pub playbook: String,
    /// Hash of the compiled playbook; a resume under a different hash is refused by the engine.
    pub playbook_hash: String,
    pub alert: Json,
    pub created_at: i64,
}

impl NewRun {
    /// The run as stored once the store has given it `id`: running, not updated yet.
    pub fn record(&self, id: String) -> RunRecord {
        RunRecord {
            id,
            playbook: self.playbook.clone(),
            playbook_hash: self.playbook_hash.clone(),
            alert: self.alert.clone(),
            status: RunStatus::Running,
            disposition: None,
            error: None,
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }
}

/// One run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Assigned by the store: a short decimal number (`"17"`), unique within the store.
    pub id: String,
    pub playbook: String,
    pub playbook_hash: String,
    pub alert: Json,
    pub status: RunStatus,
    /// The `Disposition` variant name once known (`resolved`, `awaiting_approval`, ...).
    pub disposition: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RunRecord {
    /// Applies a change of status, disposition and error.
    pub fn apply(&mut self, update: &RunUpdate) {
        self.status = update.status;
        self.disposition.clone_from(&update.disposition);
        self.error.clone_from(&update.error);
        self.updated_at = update.updated_at;
    }
}

/// A change to a run's status, disposition and error.
#[derive(Clone, Debug, PartialEq)]
pub struct RunUpdate {
    pub status: RunStatus,
    pub disposition: Option<String>,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// Which runs [`Store::list_runs`] returns (newest first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFilter {
    pub playbook: Option<String>,
    pub status: Option<RunStatus>,
    /// At most this many; all when `None`.
    pub limit: Option<usize>,
}

/// The state of a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Recorded before the call; no outcome yet.
    Intent,
    /// The call returned a result.
    Done,
    /// The call returned an error.
    Failed,
}

impl EntryState {
    pub fn name(self) -> &'static str {
        match self {
            EntryState::Intent => "intent",
            EntryState::Done => "done",
            EntryState::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<EntryState> {
        [EntryState::Intent, EntryState::Done, EntryState::Failed].into_iter().find(|s| s.name() == name)
    }
}

/// The identity of one action call within a run: the call-site id and the path of loop
/// indices (and function-call sites) leading to it, as text (`""` outside loops, `"2"`,
/// `"2/0"`). Shared text: copying a key copies no text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallKey {
    /// Shared by every key of the run.
    pub run_id: Arc<str>,
    /// Shared with the program's call site.
    pub site: Arc<str>,
    pub indices: Arc<str>,
}

impl CallKey {
    pub fn new(run_id: &str, site: &str, indices: &str) -> CallKey {
        CallKey::of_run(&Arc::from(run_id), Arc::from(site), indices)
    }

    /// A key of the run `run_id` at the call site `site`, sharing their text.
    pub fn of_run(run_id: &Arc<str>, site: Arc<str>, indices: &str) -> CallKey {
        // Most calls are outside loops: their keys share one empty text.
        static NONE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
        let indices = if indices.is_empty() { NONE.clone() } else { Arc::from(indices) };
        CallKey { run_id: run_id.clone(), site, indices }
    }
}

impl fmt::Display for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.indices.is_empty() {
            write!(f, "{}#{}", self.run_id, self.site)
        } else {
            write!(f, "{}#{}[{}]", self.run_id, self.site, self.indices)
        }
    }
}

/// The largest buffer [`compact_text`] keeps from one value to the next.
const SCRATCH_KEPT: usize = 64 * 1024;

/// `json` written as compact text through `scratch`, a buffer kept from one call to the next,
/// so that the text is one allocation of the exact size. A large value's buffer is not kept.
pub(crate) fn compact_text(json: &Json, scratch: &mut String) -> Arc<str> {
    text_through(scratch, |out| json_text::write_json(out, json))
}

/// The compact JSON text of `value.to_json()`, written without building that JSON value,
/// through `scratch` as [`compact_text`].
pub(crate) fn value_text_with(value: &crate::value::Value, scratch: &mut String) -> Arc<str> {
    text_through(scratch, |out| json_text::write_value(out, value))
}

fn text_through(scratch: &mut String, write: impl FnOnce(&mut String)) -> Arc<str> {
    scratch.clear();
    write(scratch);
    let text = Arc::from(scratch.as_str());
    if scratch.capacity() > SCRATCH_KEPT {
        *scratch = String::new();
    }
    text
}

/// The compact JSON text of `value.to_json()`, written without building that JSON value.
pub(crate) fn value_text(value: &crate::value::Value) -> Arc<str> {
    value_text_with(value, &mut String::new())
}

/// A JSON value on its way into the journal: a value, or JSON recorded as the case records
/// it. The engine hands arguments and results over recorded, shared with the case it
/// builds: as text written once to a store that keeps text, and, to a store that keeps
/// values ([`Store::keeps_values`]), as its own values where they are exactly the JSON.
#[derive(Clone, Debug)]
pub enum JournalJson {
    Value(Json),
    /// Shared with the case the engine builds.
    Recorded(RecordedJson),
}

impl JournalJson {
    /// `json` written as compact text.
    pub fn text_of(json: &Json) -> JournalJson {
        JournalJson::Recorded(RecordedJson::of(json))
    }

    /// The compact JSON text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            JournalJson::Value(json) => std::borrow::Cow::Owned(json.to_string()),
            JournalJson::Recorded(recorded) => recorded.text(),
        }
    }

    /// The value (text is parsed; `None` if it is not JSON).
    pub fn to_json(&self) -> Option<Json> {
        match self {
            JournalJson::Value(json) => Some(json.clone()),
            JournalJson::Recorded(recorded) => recorded.try_json().ok(),
        }
    }
}

impl From<Json> for JournalJson {
    fn from(json: Json) -> JournalJson {
        JournalJson::Value(json)
    }
}

impl PartialEq for JournalJson {
    /// Equal when they hold the same JSON value, whatever the form.
    fn eq(&self, other: &JournalJson) -> bool {
        match (self, other) {
            (JournalJson::Value(a), JournalJson::Value(b)) => a == b,
            _ => self.to_json().is_some_and(|a| other.to_json().is_some_and(|b| a == b)),
        }
    }
}

/// What is recorded before an action call.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub key: CallKey,
    /// The connector, the action and the effect (`read`, `write`, `reversible`,
    /// `destructive`), shared with the case record.
    pub names: CallNames,
    /// Arguments keyed by parameter name.
    pub args: JournalJson,
    pub started_at: i64,
    /// The approval (its store id) that allowed the call, if any.
    pub approval_id: Option<i64>,
}

/// How an action call ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Returned(JournalJson),
    Failed(String),
}

/// One journal write of a batch ([`Store::write_journal`]).
#[derive(Clone, Debug, PartialEq)]
pub enum JournalWrite {
    /// A call journaled with its outcome at once (a `read`): as [`Store::record_done`].
    Done { intent: Intent, outcome: Outcome, finished_at: i64 },
    /// The outcome of an effectful call whose intent is journaled: as [`Store::complete`].
    Complete { key: CallKey, outcome: Outcome, finished_at: i64 },
    /// The intent of an effectful call, before the call: as [`Store::record_intent`].
    Intent(Intent),
}

/// One journal entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Order of recording within the store; newest has the largest.
    pub seq: i64,
    pub key: CallKey,
    pub state: EntryState,
    pub effect: String,
    pub connector: String,
    pub action: String,
    pub args: Json,
    pub result: Option<Json>,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub approval_id: Option<i64>,
}

/// The decision state of an approval request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Granted,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub fn name(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Granted => "granted",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn from_name(name: &str) -> Option<ApprovalStatus> {
        [ApprovalStatus::Pending, ApprovalStatus::Granted, ApprovalStatus::Denied, ApprovalStatus::Expired]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// What [`Store::add_approval`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApproval {
    pub run_id: String,
    /// The engine's key for this `approve` (its id plus the call and loop path); unique per run.
    pub key: String,
    pub prompt: String,
    /// `None`: any approver listed in `[approvers]`.
    pub group: Option<String>,
    pub requested_at: i64,
    pub expires_at: i64,
}

/// One approval request as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRow {
    /// Assigned by the store: short and unique within it (`parry approve RUN 3`).
    pub id: i64,
    pub run_id: String,
    pub key: String,
    pub prompt: String,
    pub group: Option<String>,
    pub requested_at: i64,
    pub expires_at: i64,
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// Which approvals [`Store::list_approvals`] returns (oldest first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApprovalFilter {
    pub run_id: Option<String>,
    pub status: Option<ApprovalStatus>,
}

/// A decision on an approval.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// `Granted`, `Denied` or `Expired` (deciding `Pending` is refused).
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub decided_at: i64,
}

/// Where the undo of one journal entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoState {
    /// Claimed: the undo action is being called (or the process stopped while it was).
    Started,
    /// The undo action returned.
    Done,
}

impl UndoState {
    /// The name kept in the state database.
    pub fn name(self) -> &'static str {
        match self {
            UndoState::Started => "started",
            UndoState::Done => "undone",
        }
    }
}

/// One row of [`Store::stats`]: how many runs of a playbook ended with a disposition
/// (`None`: not finished yet).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StatRow {
    pub playbook: String,
    pub disposition: Option<String>,
    pub count: u64,
}

/// An exclusive hold on one run while an engine executes it ([`Store::lease_run`]). Dropping
/// it lets go; so does the operating system when the holding process dies, however it dies.
pub struct RunLease {
    _hold: Box<dyn Send + Sync>,
}

impl RunLease {
    pub fn new(hold: impl Send + Sync + 'static) -> RunLease {
        RunLease { _hold: Box::new(hold) }
    }
}

impl fmt::Debug for RunLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RunLease")
    }
}

/// The journal and case store. All methods take `&self`; implementations are `Send + Sync`
/// so an engine can share one behind an `Arc`.
pub trait Store: Send + Sync {
    // Runs
    fn create_run(&self, run: &NewRun) -> StoreResult<RunRecord>;
    fn get_run(&self, run_id: &str) -> StoreResult<Option<RunRecord>>;
    fn update_run(&self, run_id: &str, update: &RunUpdate) -> StoreResult<()>;
    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;
    /// Takes the run for this engine: `None` when another engine (in this process or another
    /// one using the same state) holds it now. A run is executed only under its lease, so a
    /// `parry resume` can never replay a run that another process is still running.
    fn lease_run(&self, run_id: &str) -> StoreResult<Option<RunLease>>;
    /// Sets the run `running` if its status is `from`, atomically; `false` when it was not
    /// (another process took it first), `NotFound` when there is no such run.
    fn claim_run(&self, run_id: &str, from: RunStatus, at: i64) -> StoreResult<bool>;

    // Journal
    /// Records the intent of a call. Replaces an earlier entry for the same key that is
    /// still an intent or failed (a retry); refuses (`Conflict`) when that entry is done, so
    /// a completed call is never recorded twice. Returns the entry's `seq`.
    fn record_intent(&self, intent: &Intent) -> StoreResult<i64>;
    /// Completes the intent recorded for `key` (`NotFound` when there is none, `Conflict`
    /// when it is already done).
    fn complete(&self, key: &CallKey, outcome: &Outcome, finished_at: i64) -> StoreResult<()>;
    /// Records a call that needed no intent beforehand (a `read`) together with its
    /// outcome, in one step: the same as [`Store::record_intent`] then [`Store::complete`],
    /// with the same conflicts. Returns the entry's `seq`.
    fn record_done(&self, intent: &Intent, outcome: &Outcome, finished_at: i64) -> StoreResult<i64> {
        let seq = self.record_intent(intent)?;
        self.complete(&intent.key, outcome, finished_at)?;
        Ok(seq)
    }
    /// Applies several journal writes in order, as one commit where the store has commits
    /// (all or none of them are recorded), with the conflicts of the single operations.
    fn write_journal(&self, writes: Vec<JournalWrite>) -> StoreResult<()> {
        for w in writes {
            match w {
                JournalWrite::Done { intent, outcome, finished_at } => {
                    self.record_done(&intent, &outcome, finished_at)?;
                }
                JournalWrite::Complete { key, outcome, finished_at } => {
                    self.complete(&key, &outcome, finished_at)?;
                }
                JournalWrite::Intent(intent) => {
                    self.record_intent(&intent)?;
                }
            }
        }
        Ok(())
    }
    /// [`Store::write_journal`] of the writes in `writes`, which is left empty whatever the
    /// result, with its capacity kept where the store can: the engine reuses one buffer for
    /// all the batches of a run.
    fn write_journal_from(&self, writes: &mut Vec<JournalWrite>) -> StoreResult<()> {
        self.write_journal(std::mem::take(writes))
    }
    /// Ends a run (or an attempt of it): the last journal writes, the run's new status and
    /// its case, as one commit where the store has commits.
    fn finish_run(
        &self,
        run_id: &str,
        writes: Vec<JournalWrite>,
        update: &RunUpdate,
        case: &Arc<Case>,
    ) -> StoreResult<()> {
        self.write_journal(writes)?;
        self.update_run(run_id, update)?;
        self.save_case(run_id, &serde_json::to_value(&**case).map_err(case_error)?)
    }
    /// Whether the store keeps the journal's arguments and results as the engine hands
    /// them over rather than as text: the engine then hands over its own values where they
    /// are exactly the JSON ([`JournalJson::Recorded`]), shared with the run and its case,
    /// instead of writing text. A store that writes text anyway (to disk) says no, and
    /// gets text the case shares.
    fn keeps_values(&self) -> bool {
        false
    }
    fn journal_entry(&self, key: &CallKey) -> StoreResult<Option<JournalEntry>>;
    /// Every entry of a run, in recording order.
    fn journal(&self, run_id: &str) -> StoreResult<Vec<JournalEntry>>;
    /// Entries still in state `intent`, of one run or of all runs, in recording order.
    fn unfinished_intents(&self, run_id: Option<&str>) -> StoreResult<Vec<JournalEntry>>;
    /// Journals a value computed once per run (e.g. `now()` at a call site): the first value
    /// recorded under `key` wins and is returned; later calls return it unchanged.
    fn journal_value(&self, run_id: &str, key: &str, value: &Json) -> StoreResult<Json>;
    fn journaled_value(&self, run_id: &str, key: &str) -> StoreResult<Option<Json>>;

    // Approvals
    /// Adds a pending approval; when one with the same run and key exists, returns it as is.
    fn add_approval(&self, approval: &NewApproval) -> StoreResult<ApprovalRow>;
    fn get_approval(&self, id: i64) -> StoreResult<Option<ApprovalRow>>;
    fn approval_by_key(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRow>>;
    /// Decides a pending approval (`Conflict` when already decided, naming who decided).
    fn decide_approval(&self, id: i64, decision: &Decision) -> StoreResult<ApprovalRow>;
    fn list_approvals(&self, filter: &ApprovalFilter) -> StoreResult<Vec<ApprovalRow>>;

    // Cases
    fn save_case(&self, run_id: &str, case: &Json) -> StoreResult<()>;
    fn load_case(&self, run_id: &str) -> StoreResult<Option<Json>>;

    // Undo
    /// Records that the undo of the journal entry `seq` of a run is about to be called,
    /// before calling it. Returns `false` when that undo is already started or done (by this
    /// or another process), so each undo is called at most once.
    fn claim_undo(&self, run_id: &str, seq: i64, at: i64) -> StoreResult<bool>;
    /// Records how a claimed undo ended: `done`, or failed (the claim is dropped, so a later
    /// `parry undo` tries again).
    fn settle_undo(&self, run_id: &str, seq: i64, done: bool, at: i64) -> StoreResult<()>;
    /// The undo log of a run: each entry whose undo was started, and whether it is done (a
    /// started one was claimed by a process that stopped before recording its end).
    fn undo_log(&self, run_id: &str) -> StoreResult<Vec<(i64, UndoState)>>;

    // Stats
    /// Run counts per playbook and disposition, sorted by playbook then disposition.
    fn stats(&self) -> StoreResult<Vec<StatRow>>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod suite {
    //! The behaviour every [`Store`] must have; run against each implementation.

    use super::*;
    use serde_json::json;

    pub(crate) fn new_run(playbook: &str, at: i64) -> NewRun {
        NewRun {
            playbook: playbook.to_string(),
            playbook_hash: "h1".to_string(),
            alert: json!({"sender": "bob@evil.example", "n": at}),
            created_at: at,
        }
    }

    pub(crate) fn intent(run: &str, site: &str, indices: &str, effect: &str) -> Intent {
        Intent {
            key: CallKey::new(run, site, indices),
            names: crate::engine::CallNames::new("mail", "quarantine", effect),
            args: json!({"message": {"id": "m1"}}).into(),
            started_at: 100,
            approval_id: None,
        }
    }

    pub fn runs(store: &dyn Store) {
        let a = store.create_run(&new_run("phishing", 1)).unwrap();
        let b = store.create_run(&new_run("malware", 2)).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.status, RunStatus::Running);
        let got = store.get_run(&a.id).unwrap().unwrap();
        assert_eq!(got, a);
        assert_eq!(got.alert, json!({"sender": "bob@evil.example", "n": 1}));
        assert_eq!(store.get_run("999999").unwrap(), None);
        assert!(!store.claim_run(&a.id, RunStatus::AwaitingApproval, 2).unwrap(), "a is running");
        store
            .update_run(
                &a.id,
                &RunUpdate {
                    status: RunStatus::AwaitingApproval,
                    disposition: None,
                    error: None,
                    updated_at: 2,
                },
            )
            .unwrap();
        assert!(store.claim_run(&a.id, RunStatus::AwaitingApproval, 3).unwrap());
        assert!(!store.claim_run(&a.id, RunStatus::AwaitingApproval, 4).unwrap(), "taken once only");
        assert_eq!(store.get_run(&a.id).unwrap().unwrap().status, RunStatus::Running);
        assert_eq!(
            store.claim_run("999999", RunStatus::Running, 5).unwrap_err().kind,
            StoreErrorKind::NotFound
        );
        assert_eq!(store.get_run("not-a-number").unwrap(), None);
        store
            .update_run(
                &a.id,
                &RunUpdate {
                    status: RunStatus::Finished,
                    disposition: Some("resolved".into()),
                    error: None,
                    updated_at: 5,
                },
            )
            .unwrap();
        let got = store.get_run(&a.id).unwrap().unwrap();
        assert_eq!(got.status, RunStatus::Finished);
        assert_eq!(got.disposition.as_deref(), Some("resolved"));
        assert_eq!(got.updated_at, 5);
        assert_eq!(got.created_at, 1);
        let missing = store.update_run(
            "424242",
            &RunUpdate { status: RunStatus::Finished, disposition: None, error: None, updated_at: 1 },
        );
        assert_eq!(missing.unwrap_err().kind, StoreErrorKind::NotFound);

        let all = store.list_runs(&RunFilter::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![b.id.clone(), a.id.clone()]);
        let phishing = store
            .list_runs(&RunFilter { playbook: Some("phishing".into()), ..RunFilter::default() })
            .unwrap();
        assert_eq!(phishing.len(), 1);
        let running =
            store.list_runs(&RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() }).unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].id, b.id);
        let limited = store.list_runs(&RunFilter { limit: Some(1), ..RunFilter::default() }).unwrap();
        assert_eq!(limited.len(), 1);
    }

    pub fn journal(store: &dyn Store) {
        let run = store.create_run(&new_run("phishing", 1)).unwrap();
        let other = store.create_run(&new_run("phishing", 2)).unwrap();
        let key0 = CallKey::new(&run.id, "playbook:p/3/for/0", "0");
        let key1 = CallKey::new(&run.id, "playbook:p/3/for/0", "1");
        let s0 = store.record_intent(&intent(&run.id, "playbook:p/3/for/0", "0", "reversible")).unwrap();
        let s1 = store.record_intent(&intent(&run.id, "playbook:p/3/for/0", "1", "reversible")).unwrap();
        assert!(s1 > s0);
        store.record_intent(&intent(&other.id, "playbook:p/1", "", "read")).unwrap();

        let e = store.journal_entry(&key0).unwrap().unwrap();
        assert_eq!(e.state, EntryState::Intent);
        assert_eq!(e.result, None);
        assert_eq!(e.args, json!({"message": {"id": "m1"}}));
        assert_eq!(store.unfinished_intents(Some(&run.id)).unwrap().len(), 2);
        assert_eq!(store.unfinished_intents(None).unwrap().len(), 3);

        store.complete(&key0, &Outcome::Returned(json!({"ok": true}).into()), 150).unwrap();
        store.complete(&key1, &Outcome::Failed("mailbox locked".into()), 160).unwrap();
        let e0 = store.journal_entry(&key0).unwrap().unwrap();
        assert_eq!(e0.state, EntryState::Done);
        assert_eq!(e0.result, Some(json!({"ok": true})));
        assert_eq!(e0.finished_at, Some(150));
        let e1 = store.journal_entry(&key1).unwrap().unwrap();
        assert_eq!(e1.state, EntryState::Failed);
        assert_eq!(e1.error.as_deref(), Some("mailbox locked"));
        assert_eq!(store.unfinished_intents(Some(&run.id)).unwrap().len(), 0);

        // A done call is never recorded again; a failed one may be retried.
        let again = store.record_intent(&intent(&run.id, "playbook:p/3/for/0", "0", "reversible"));
        assert_eq!(again.unwrap_err().kind, StoreErrorKind::Conflict);
        let retry = store.record_intent(&intent(&run.id, "playbook:p/3/for/0", "1", "reversible")).unwrap();
        assert_eq!(store.journal_entry(&key1).unwrap().unwrap().state, EntryState::Intent);
        assert_eq!(store.journal_entry(&key1).unwrap().unwrap().error, None);
        assert!(retry > s1);

        let done_twice = store.complete(&key0, &Outcome::Returned(json!(1).into()), 1);
        assert_eq!(done_twice.unwrap_err().kind, StoreErrorKind::Conflict);
        let none =
            store.complete(&CallKey::new(&run.id, "nowhere", ""), &Outcome::Returned(json!(1).into()), 1);
        assert_eq!(none.unwrap_err().kind, StoreErrorKind::NotFound);

        let entries = store.journal(&run.id).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(store.journal(&other.id).unwrap().len(), 1);
        assert_eq!(store.journal("777").unwrap().len(), 0);

        // A read is journaled with its outcome in one step, with the same conflicts.
        let read = intent(&other.id, "playbook:p/2", "", "read");
        let s2 = store.record_done(&read, &Outcome::Returned(json!({"score": 3}).into()), 170).unwrap();
        let e2 = store.journal_entry(&read.key).unwrap().unwrap();
        assert_eq!(e2.seq, s2);
        assert_eq!(e2.state, EntryState::Done);
        assert_eq!(e2.result, Some(json!({"score": 3})));
        assert_eq!(e2.finished_at, Some(170));
        assert_eq!(e2.args, json!({"message": {"id": "m1"}}));
        let twice = store.record_done(&read, &Outcome::Returned(json!(1).into()), 1);
        assert_eq!(twice.unwrap_err().kind, StoreErrorKind::Conflict);
        let failed = intent(&other.id, "playbook:p/4", "2", "read");
        store.record_done(&failed, &Outcome::Failed("timeout".into()), 180).unwrap();
        let e3 = store.journal_entry(&failed.key).unwrap().unwrap();
        assert_eq!(e3.state, EntryState::Failed);
        assert_eq!(e3.error.as_deref(), Some("timeout"));
        let s4 = store.record_done(&failed, &Outcome::Returned(json!(2).into()), 190).unwrap();
        assert!(s4 > s2);
        assert_eq!(store.journal_entry(&failed.key).unwrap().unwrap().state, EntryState::Done);
        let entries = store.journal(&other.id).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(entries.last().map(|e| e.seq), Some(s4));
        assert_eq!(store.unfinished_intents(Some(&other.id)).unwrap().len(), 1);
    }

    pub fn values(store: &dyn Store) {
        let run = store.create_run(&new_run("p", 1)).unwrap();
        assert_eq!(store.journaled_value(&run.id, "now@a").unwrap(), None);
        assert_eq!(store.journal_value(&run.id, "now@a", &json!(1000)).unwrap(), json!(1000));
        assert_eq!(store.journal_value(&run.id, "now@a", &json!(2000)).unwrap(), json!(1000));
        assert_eq!(store.journaled_value(&run.id, "now@a").unwrap(), Some(json!(1000)));
        assert_eq!(store.journaled_value(&run.id, "now@b").unwrap(), None);
    }

    pub fn approvals(store: &dyn Store) {
        let run = store.create_run(&new_run("p", 1)).unwrap();
        let ask = NewApproval {
            run_id: run.id.clone(),
            key: "playbook:p/4/approve".to_string(),
            prompt: "Purge 3 messages?".to_string(),
            group: Some("soc-tier2".to_string()),
            requested_at: 10,
            expires_at: 3_600_010,
        };
        let a = store.add_approval(&ask).unwrap();
        assert_eq!(a.status, ApprovalStatus::Pending);
        assert_eq!(store.add_approval(&ask).unwrap(), a);
        let b = store
            .add_approval(&NewApproval { key: "playbook:p/9/approve".into(), group: None, ..ask.clone() })
            .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(store.get_approval(a.id).unwrap().unwrap(), a);
        assert_eq!(store.approval_by_key(&run.id, "playbook:p/9/approve").unwrap().unwrap(), b);
        assert_eq!(store.get_approval(987_654).unwrap(), None);

        let pending = ApprovalFilter { status: Some(ApprovalStatus::Pending), ..ApprovalFilter::default() };
        assert_eq!(store.list_approvals(&pending).unwrap().len(), 2);
        let decided = store
            .decide_approval(
                a.id,
                &Decision {
                    status: ApprovalStatus::Granted,
                    decided_by: Some("alice".into()),
                    decided_at: 20,
                },
            )
            .unwrap();
        assert_eq!(decided.status, ApprovalStatus::Granted);
        assert_eq!(decided.decided_by.as_deref(), Some("alice"));
        assert_eq!(decided.decided_at, Some(20));
        let twice = store
            .decide_approval(
                a.id,
                &Decision { status: ApprovalStatus::Denied, decided_by: Some("bob".into()), decided_at: 30 },
            )
            .unwrap_err();
        assert_eq!(twice.kind, StoreErrorKind::Conflict);
        assert!(twice.message.contains("already granted by alice"), "{}", twice.message);
        let pending_again = store
            .decide_approval(
                b.id,
                &Decision { status: ApprovalStatus::Pending, decided_by: None, decided_at: 1 },
            )
            .unwrap_err();
        assert_eq!(pending_again.kind, StoreErrorKind::Conflict);
        let missing = store
            .decide_approval(
                5555,
                &Decision { status: ApprovalStatus::Granted, decided_by: None, decided_at: 1 },
            )
            .unwrap_err();
        assert_eq!(missing.kind, StoreErrorKind::NotFound);
        assert_eq!(store.list_approvals(&pending).unwrap(), vec![b.clone()]);
        let of_run = ApprovalFilter { run_id: Some(run.id.clone()), status: None };
        assert_eq!(store.list_approvals(&of_run).unwrap().len(), 2);
        let other_run = ApprovalFilter { run_id: Some("31337".into()), status: None };
        assert!(store.list_approvals(&other_run).unwrap().is_empty());
    }

    pub fn cases_undo_stats(store: &dyn Store) {
        let a = store.create_run(&new_run("phishing", 1)).unwrap();
        let b = store.create_run(&new_run("phishing", 2)).unwrap();
        let c = store.create_run(&new_run("malware", 3)).unwrap();
        assert_eq!(store.load_case(&a.id).unwrap(), None);
        let case = json!({"disposition": "resolved", "notes": ["n1"], "actions": []});
        store.save_case(&a.id, &case).unwrap();
        assert_eq!(store.load_case(&a.id).unwrap(), Some(case));
        let updated = json!({"disposition": "escalated"});
        store.save_case(&a.id, &updated).unwrap();
        assert_eq!(store.load_case(&a.id).unwrap(), Some(updated));

        assert!(store.claim_undo(&a.id, 7, 100).unwrap());
        assert!(!store.claim_undo(&a.id, 7, 150).unwrap(), "a started undo is not claimed twice");
        store.settle_undo(&a.id, 7, true, 200).unwrap();
        assert!(!store.claim_undo(&a.id, 7, 250).unwrap(), "a done undo is not claimed again");
        assert!(store.claim_undo(&a.id, 3, 100).unwrap());
        assert!(store.claim_undo(&a.id, 5, 100).unwrap());
        store.settle_undo(&a.id, 5, false, 120).unwrap();
        assert_eq!(store.undo_log(&a.id).unwrap(), vec![(3, UndoState::Started), (7, UndoState::Done)]);
        assert!(store.claim_undo(&a.id, 5, 130).unwrap(), "a failed undo may be tried again");
        assert!(store.undo_log(&b.id).unwrap().is_empty());

        let fin = |d: &str| RunUpdate {
            status: RunStatus::Finished,
            disposition: Some(d.to_string()),
            error: None,
            updated_at: 9,
        };
        store.update_run(&a.id, &fin("resolved")).unwrap();
        store.update_run(&b.id, &fin("resolved")).unwrap();
        store.update_run(&c.id, &fin("escalated")).unwrap();
        store.create_run(&new_run("malware", 4)).unwrap();
        let stats = store.stats().unwrap();
        assert_eq!(
            stats,
            vec![
                StatRow { playbook: "malware".into(), disposition: None, count: 1 },
                StatRow { playbook: "malware".into(), disposition: Some("escalated".into()), count: 1 },
                StatRow { playbook: "phishing".into(), disposition: Some("resolved".into()), count: 2 },
            ]
        );
    }

    /// Runs every part of the suite on a fresh store from `make`.
    pub fn all(make: &dyn Fn() -> Box<dyn Store>) {
        runs(make().as_ref());
        journal(make().as_ref());
        values(make().as_ref());
        approvals(make().as_ref());
        cases_undo_stats(make().as_ref());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod case_text_tests {
    use super::*;
    use crate::engine::{
        ActionStatus, ApprovalRecord, ApprovalState, Disposition, EvidenceItem, RecordedJson,
    };
    use serde_json::json;

    fn action(arguments: Json, result: Option<Json>) -> ActionRecord {
        ActionRecord {
            call_id: crate::engine::CallId::from("c1/0"),
            names: CallNames::new("mail\"box", "fetch", "read"),
            arguments: RecordedJson::of(&arguments),
            result: result.as_ref().map(RecordedJson::of),
            error: Some("line\nbreak \u{1} é".into()),
            status: ActionStatus::Unconfirmed,
            started_at: crate::engine::Stamp(1_795_785_727_123),
            finished_at: None,
            duration_ms: Some(u64::MAX),
            approval: Some(Arc::from("a1")),
            replayed: true,
        }
    }

    fn case() -> Case {
        let mut case = Case::new(
            "17",
            "phish\u{2028}ing",
            &json!({"z": 1, "a": [1.5, -0.0, 1e300, null], "é": "\"q\""}),
        );
        case.disposition = Disposition::AwaitingApproval;
        case.summary = Some("done\t".to_string());
        case.notes = vec!["n1".to_string(), "<\u{7f}>".to_string()];
        case.evidence = vec![
            EvidenceItem { label: "copies".to_string(), value: json!([{"b": 2, "a": 1}]).into() },
            EvidenceItem { label: "two \"".to_string(), value: json!("x").into() },
        ];
        case.recommendation = Some("r".to_string());
        case.actions = vec![
            action(
                json!({"u": "http://x.example/?a=1&b=\"2\"", "n": 3}),
                Some(json!({"v": [0.1, 2e-9, "\\"]})),
            ),
            action(json!({}), None),
            action(json!({"x": null}), Some(json!(false))),
        ];
        case.approvals = vec![ApprovalRecord {
            id: "3".to_string(),
            prompt: "ok?".to_string(),
            group: None,
            requested_at: "t".to_string(),
            expires_at: "u".to_string(),
            state: ApprovalState::Denied,
            decided_by: Some("ann".to_string()),
        }];
        case.error = Some("e".to_string());
        case.dry_run = true;
        case
    }

    #[test]
    fn case_text_is_what_serde_json_writes() {
        let case = case();
        assert_eq!(case_text(&case).unwrap(), serde_json::to_string(&case).unwrap());
        assert_eq!(case_bytes(&case).unwrap(), serde_json::to_vec(&case).unwrap());
        let empty = Case::new("1", "p", &Json::Null);
        assert_eq!(case_text(&empty).unwrap(), serde_json::to_string(&empty).unwrap());
    }

    #[test]
    fn recorded_json_is_the_value_as_compact_text() {
        let value = json!({"b": [1, 2.5, null], "a": "x\"y"});
        let recorded = RecordedJson::of(&value);
        assert_eq!(recorded.text(), serde_json::to_string(&value).unwrap());
        assert_eq!(recorded.json(), value);
        // It serializes as the value, not as a string holding it, and reads back from one.
        assert_eq!(serde_json::to_value(&recorded).unwrap(), value);
        let back: RecordedJson = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, recorded);
        // Text that is not compact is written compactly again.
        let spaced: RecordedJson = serde_json::from_str("{ \"a\" : [ 1 ,2 ] }").unwrap();
        assert_eq!(spaced.text(), "{\"a\":[1,2]}");
        assert!(RecordedJson::of(&Json::Null).is_null());
    }

    #[test]
    fn case_text_reads_back_as_the_case() {
        let case = case();
        let back: Case = serde_json::from_str(&case_text(&case).unwrap()).unwrap();
        assert_eq!(back, case);
    }
}
