//! An in-memory [`Store`]: for `parry test`, dry runs and unit tests. Lost on exit.

use super::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

/// A [`Store`] held in memory behind a mutex.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    leases: Leases,
}

/// The runs leased now, within this process.
#[derive(Default)]
pub(super) struct Leases(Arc<Mutex<FxHashSet<String>>>);

impl Leases {
    pub(super) fn take(&self, run_id: &str) -> Option<RunLease> {
        let mut set = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(run_id.to_string()) {
            return None;
        }
        Some(RunLease::new(Leased { run_id: run_id.to_string(), leases: self.0.clone() }))
    }
}

/// Gives a run back when dropped.
struct Leased {
    run_id: String,
    leases: Arc<Mutex<FxHashSet<String>>>,
}

impl Drop for Leased {
    fn drop(&mut self) {
        let mut set = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        set.remove(&self.run_id);
    }
}

#[derive(Default)]
struct Inner {
    next_run: u64,
    next_seq: i64,
    next_approval: i64,
    /// Run `n` (its id is the decimal `n`) is at index `n - 1`, with its journal and case.
    runs: Vec<StoredRun>,
    /// The journals and cases of run ids this store never created: the API takes them (as
    /// SQLite does), though the engine only journals runs it created.
    others: FxHashMap<String, RunData>,
    values: BTreeMap<(String, String), Json>,
    approvals: Vec<ApprovalRow>,
    undo_log: BTreeMap<(String, i64), UndoState>,
    /// The number of journal entries of the last run finished: how much room to make up
    /// front for the next one's.
    journal_hint: usize,
    /// Where journal values are written before they are kept.
    scratch: String,
    /// Where a batch's writes are checked ([`Inner::check_writes`]).
    states: Vec<Checked>,
}

/// What checking a journal write found ([`Inner::check_writes`]).
#[derive(Clone, Copy)]
struct Checked {
    /// Where its run is kept.
    run: RunAt,
    /// The [`slot_hash`] of its key.
    hash: u64,
    place: Place,
    /// The state the write leaves its key in.
    state: EntryState,
}

/// Where a run's journal and case are kept.
#[derive(Clone, Copy)]
enum RunAt {
    /// At this index of `runs`.
    Runs(usize),
    /// In `others`, under the run's id (made there when first written).
    Other,
}

/// Where a checked write's key already is.
#[derive(Clone, Copy)]
enum Place {
    /// Nowhere: the entry is appended.
    New,
    /// At this position of its run's journal: an intent, or a failure to retry.
    Journal(usize),
    /// Written earlier in the same batch: found again when applied.
    Batch,
}

/// A run's journal gets an index from this many entries on.
const INDEX_FROM: usize = 32;

/// A run as kept: its record without the alert, the alert as compact JSON text, and its
/// journal and case.
struct StoredRun {
    /// `alert` is `null` here.
    record: RunRecord,
    alert: Arc<str>,
    data: RunData,
}

/// A run's journal and case.
#[derive(Default)]
struct RunData {
    journal: RunJournal,
    /// As the engine finished it, or as JSON text when saved as a value.
    case: Option<KeptCase>,
}

impl StoredRun {
    fn new(record: &RunRecord, journal_hint: usize) -> StoredRun {
        StoredRun {
            data: RunData {
                journal: RunJournal { entries: Vec::with_capacity(journal_hint), index: BTreeMap::new() },
                case: None,
            },
            alert: compact_text(&record.alert, &mut String::new()),
            record: RunRecord {
                id: record.id.clone(),
                playbook: record.playbook.clone(),
                playbook_hash: record.playbook_hash.clone(),
                alert: Json::Null,
                status: record.status,
                disposition: record.disposition.clone(),
                error: record.error.clone(),
                created_at: record.created_at,
                updated_at: record.updated_at,
            },
        }
    }

    /// The record as the [`Store`] API gives it, alert included.
    fn full(&self) -> StoreResult<RunRecord> {
        let alert = serde_json::from_str(&self.alert).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!("the alert of run {} cannot be read: {e}", self.record.id),
            )
        })?;
        Ok(RunRecord { alert, ..self.record.clone() })
    }
}

impl std::ops::Deref for StoredRun {
    type Target = RunRecord;

    fn deref(&self) -> &RunRecord {
        &self.record
    }
}

impl std::ops::DerefMut for StoredRun {
    fn deref_mut(&mut self) -> &mut RunRecord {
        &mut self.record
    }
}

/// One journal entry as kept: arguments and result as compact JSON text (a fraction of the
/// memory of the parsed form, which matters for a store that keeps every run) or as the
/// engine's values they were handed over as (shared with the run's case), made JSON when the
/// entry is read.
#[derive(Clone)]
struct Kept {
    seq: i64,
    /// The call's key, without its run's id (the run holds the entry).
    site: Arc<str>,
    indices: Arc<str>,
    /// [`slot_hash`] of the key, to search a run's entries without comparing text.
    hash: u64,
    state: EntryState,
    names: CallNames,
    args: RecordedJson,
    result: Option<RecordedJson>,
    error: Option<Box<str>>,
    started_at: i64,
    finished_at: Option<i64>,
    approval_id: Option<i64>,
}

impl Kept {
    /// Whether this is the entry of the call at `site` and `indices` (whose [`slot_hash`]
    /// is `hash`) in its run.
    fn is(&self, site: &str, indices: &str, hash: u64) -> bool {
        self.hash == hash && *self.site == *site && *self.indices == *indices
    }

    /// The entry, of the run `run_id`, as the [`Store`] API gives it.
    fn entry(&self, run_id: &Arc<str>) -> StoreResult<JournalEntry> {
        let key = CallKey { run_id: run_id.clone(), site: self.site.clone(), indices: self.indices.clone() };
        Ok(JournalEntry {
            seq: self.seq,
            state: self.state,
            effect: self.names.effect().to_string(),
            connector: self.names.connector().to_string(),
            action: self.names.action().to_string(),
            args: parse_kept(&self.args, &key)?,
            result: self.result.as_ref().map(|r| parse_kept(r, &key)).transpose()?,
            key,
            error: self.error.as_deref().map(str::to_string),
            started_at: self.started_at,
            finished_at: self.finished_at,
            approval_id: self.approval_id,
        })
    }
}

/// JSON as kept in memory. Recorded JSON is kept as it is (shared with the case the engine
/// builds); a JSON value is written as text through `scratch`.
fn kept_json(json: JournalJson, scratch: &mut String) -> RecordedJson {
    match json {
        JournalJson::Recorded(recorded) => recorded,
        JournalJson::Value(json) => RecordedJson::from_compact(compact_text(&json, scratch)),
    }
}

/// A case as kept in memory.
enum KeptCase {
    /// The case a run finished with, shared with the outcome the engine returned: nothing is
    /// written when the run ends, and it is compact (its records share their arguments and
    /// results with the journal, as the run's own values or as text). It is made JSON only
    /// when it is read back.
    Finished(Arc<Case>),
    /// A case saved as a value ([`Store::save_case`]), as compact JSON text.
    Text(Box<str>),
}

impl KeptCase {
    fn json(&self, run_id: &str) -> StoreResult<Json> {
        let corrupt = |e: serde_json::Error| {
            StoreError::new(StoreErrorKind::Corrupt, format!("the case of run {run_id} cannot be read: {e}"))
        };
        match self {
            KeptCase::Finished(case) => serde_json::to_value(&**case).map_err(corrupt),
            KeptCase::Text(text) => serde_json::from_str(text).map_err(corrupt),
        }
    }
}

fn parse_kept(json: &RecordedJson, key: &CallKey) -> StoreResult<Json> {
    json.try_json().map_err(|e| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("the journal entry of the call {key} cannot be read: {e}"),
        )
    })
}

/// One run's journal entries.
#[derive(Default)]
struct RunJournal {
    /// In recording order; a replaced entry leaves `None` behind.
    entries: Vec<Option<Kept>>,
    /// Where each key's entry is in `entries`: by call-site id, then loop indices. Kept
    /// once the journal has [`INDEX_FROM`] entries; a shorter one is searched.
    index: BTreeMap<Arc<str>, BTreeMap<Arc<str>, usize>>,
}

/// The key a journal write is for.
fn write_key(write: &JournalWrite) -> &CallKey {
    match write {
        JournalWrite::Done { intent, .. } | JournalWrite::Intent(intent) => &intent.key,
        JournalWrite::Complete { key, .. } => key,
    }
}

/// A hash of a key's call site and loop indices (its place within its run).
fn slot_hash(key: &CallKey) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = rustc_hash::FxHasher::default();
    key.site.hash(&mut h);
    key.indices.hash(&mut h);
    h.finish()
}

impl RunJournal {
    /// Where the entry of the call at `site` and `indices` (whose [`slot_hash`] is `hash`) is.
    fn position(&self, site: &str, indices: &str, hash: u64) -> Option<usize> {
        if self.entries.len() < INDEX_FROM {
            // A short journal is searched, newest first (the usual lookup is the entry just
            // written), by hash before text: cheaper than keeping a map.
            return self
                .entries
                .iter()
                .rposition(|slot| slot.as_ref().is_some_and(|e| e.is(site, indices, hash)));
        }
        self.index.get(site)?.get(indices).copied()
    }

    /// Makes room for `entry`, a new entry of the run `run_id`: refuses when its call is
    /// done, drops an earlier intent or failure (a retry).
    fn replace(&mut self, run_id: &str, entry: &Kept) -> StoreResult<()> {
        let Some(at) = self.position(&entry.site, &entry.indices, entry.hash) else { return Ok(()) };
        if let Some(slot) = self.entries.get_mut(at) {
            if slot.as_ref().is_some_and(|old| old.state == EntryState::Done) {
                let key = CallKey::new(run_id, &entry.site, &entry.indices);
                return Err(StoreError::conflict(format!(
                    "the call {key} is already journaled as done; it must not run again"
                )));
            }
            *slot = None;
        }
        Ok(())
    }

    /// Appends an entry, indexing it once the journal is long enough to need the index.
    fn push(&mut self, entry: Kept) {
        let at = self.entries.len();
        if at + 1 == INDEX_FROM {
            for (i, e) in self.entries.iter().enumerate() {
                if let Some(e) = e {
                    Self::index_one(&mut self.index, e, i);
                }
            }
        }
        if at + 1 >= INDEX_FROM {
            Self::index_one(&mut self.index, &entry, at);
        }
        self.entries.push(Some(entry));
    }

    fn index_one(index: &mut BTreeMap<Arc<str>, BTreeMap<Arc<str>, usize>>, entry: &Kept, at: usize) {
        match index.get_mut(&*entry.site) {
            Some(by_indices) => {
                by_indices.insert(entry.indices.clone(), at);
            }
            None => {
                index.insert(entry.site.clone(), BTreeMap::from([(entry.indices.clone(), at)]));
            }
        }
    }

    fn live(&self) -> impl Iterator<Item = &Kept> {
        self.entries.iter().flatten()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// One journal write, checked and applied as a batch of one: its entry's `seq`.
    fn write_one(&self, write: JournalWrite) -> StoreResult<i64> {
        Ok(self.lock().write_all(vec![write])?.unwrap_or_default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that
        // matters more than losing the data, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn decided_conflict(a: &ApprovalRow) -> StoreError {
    StoreError::conflict(format!(
        "approval {} of run {} was already {}{}",
        a.id,
        a.run_id,
        a.status.name(),
        a.decided_by.as_deref().map(|u| format!(" by {u}")).unwrap_or_default()
    ))
}

pub(super) fn check_decision(current: &ApprovalRow, decision: &Decision) -> StoreResult<()> {
    if decision.status == ApprovalStatus::Pending {
        return Err(StoreError::conflict(format!(
            "approval {}: a decision must be granted, denied or expired, not pending",
            current.id
        )));
    }
    if current.status != ApprovalStatus::Pending {
        return Err(decided_conflict(current));
    }
    Ok(())
}

impl Inner {
    /// The index in `runs` of the run `run_id` (ids are the decimal `1`, `2`, …).
    fn run_index(&self, run_id: &str) -> Option<usize> {
        // The digits by hand: `str::parse` costs several times as much, on every journal write.
        if run_id.is_empty() {
            return None;
        }
        let mut n: usize = 0;
        for b in run_id.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
        }
        let index = n.checked_sub(1)?;
        self.runs.get(index).filter(|r| r.id == run_id).map(|_| index)
    }

    /// Where the run `run_id` is kept.
    fn run_at(&self, run_id: &str) -> RunAt {
        self.run_index(run_id).map_or(RunAt::Other, RunAt::Runs)
    }

    /// The journal and case of `run_id`, kept at `at`, if it has any.
    fn data_at(&self, at: RunAt, run_id: &str) -> Option<&RunData> {
        match at {
            RunAt::Runs(i) => self.runs.get(i).map(|r| &r.data),
            RunAt::Other => self.others.get(run_id),
        }
    }

    /// The journal and case of `run_id`, kept at `at`, if it has any (none is made).
    fn data_at_mut(&mut self, at: RunAt, run_id: &str) -> Option<&mut RunData> {
        match at {
            RunAt::Runs(i) => self.runs.get_mut(i).map(|r| &mut r.data),
            RunAt::Other => self.others.get_mut(run_id),
        }
    }

    /// The journal and case of `run_id`, if it has any.
    fn data(&self, run_id: &str) -> Option<&RunData> {
        self.data_at(self.run_at(run_id), run_id)
    }

    /// The journal and case of `run_id`, kept at `at`, made for a run id this store did not
    /// create.
    fn data_made(&mut self, at: RunAt, run_id: &str) -> &mut RunData {
        match at {
            RunAt::Runs(i) => &mut self.runs[i].data,
            RunAt::Other => self.others.entry(run_id.to_string()).or_default(),
        }
    }

    fn journal_of(&self, run_id: &str) -> Option<&RunJournal> {
        self.data(run_id).map(|d| &d.journal)
    }

    fn entry(&self, key: &CallKey) -> Option<&Kept> {
        let run = self.journal_of(&key.run_id)?;
        run.entries.get(run.position(&key.site, &key.indices, slot_hash(key))?)?.as_ref()
    }

    /// The entry of `key` (whose [`slot_hash`] is `hash`), of the run kept at `run`.
    fn entry_mut(&mut self, run: RunAt, key: &CallKey, hash: u64) -> Option<&mut Kept> {
        let journal = &mut self.data_at_mut(run, &key.run_id)?.journal;
        let at = journal.position(&key.site, &key.indices, hash)?;
        journal.entries.get_mut(at)?.as_mut()
    }

    /// Adds `entry` to its run's journal, in place of an earlier intent or failure of the
    /// same call (refused when the call is done): its `seq`.
    /// `place` is where the check of its batch found the key.
    /// `at` is where the run `run_id` is kept.
    fn put_entry(&mut self, at: RunAt, run_id: &str, entry: Kept, place: Place) -> StoreResult<i64> {
        let seq = entry.seq;
        let run = &mut self.data_made(at, run_id).journal;
        match place {
            Place::New => {}
            // An intent or a failure (the check refused a done call): this write replaces it.
            Place::Journal(at) => {
                if let Some(slot) = run.entries.get_mut(at) {
                    *slot = None;
                }
            }
            Place::Batch => run.replace(run_id, &entry)?,
        }
        run.push(entry);
        Ok(seq)
    }

    /// Where the journal of the run kept at `run` holds the entry of `key` (whose
    /// [`slot_hash`] is `hash`), and its state.
    fn journal_place(&self, run: RunAt, key: &CallKey, hash: u64) -> Option<(usize, EntryState)> {
        let journal = &self.data_at(run, &key.run_id)?.journal;
        let at = journal.position(&key.site, &key.indices, hash)?;
        Some((at, journal.entries.get(at)?.as_ref()?.state))
    }
}

impl Inner {
    /// Refuses a batch that breaks a rule of the journal anywhere, before any of it is
    /// applied (a batch is all or nothing).
    /// `states` gets, per write, the [`slot_hash`] of its key and where the key was found
    /// (for applying it without searching again), and the state its key is left in.
    fn check_writes(&self, writes: &[JournalWrite], states: &mut Vec<Checked>) -> StoreResult<()> {
        // The run of the write before: a batch's writes are usually all of one run.
        let mut last: Option<(&Arc<str>, RunAt)> = None;
        for (i, w) in writes.iter().enumerate() {
            let key = write_key(w);
            let hash = slot_hash(key);
            let run = match last {
                Some((id, at)) if Arc::ptr_eq(id, &key.run_id) => at,
                _ => self.run_at(&key.run_id),
            };
            last = Some((&key.run_id, run));
            // What the batch itself did to the key, newest first (a batch holds a few writes,
            // compared by hash before text), else what the journal holds.
            let earlier = states
                .iter()
                .zip(writes)
                .take(i)
                .rev()
                .find(|(c, earlier)| c.hash == hash && write_key(earlier) == key)
                .map(|(c, _)| c.state);
            let (state, place) = match earlier {
                Some(state) => (Some(state), Place::Batch),
                None => match self.journal_place(run, key, hash) {
                    Some((at, state)) => (Some(state), Place::Journal(at)),
                    None => (None, Place::New),
                },
            };
            let ended = |outcome: &Outcome| match outcome {
                Outcome::Returned(_) => EntryState::Done,
                Outcome::Failed(_) => EntryState::Failed,
            };
            let next = match (w, state) {
                (JournalWrite::Done { .. } | JournalWrite::Intent(_), Some(EntryState::Done)) => {
                    return Err(StoreError::conflict(format!(
                        "the call {key} is already journaled as done; it must not run again"
                    )));
                }
                (JournalWrite::Done { outcome, .. }, _) => ended(outcome),
                (JournalWrite::Intent(_), _) => EntryState::Intent,
                (JournalWrite::Complete { outcome, .. }, Some(EntryState::Intent)) => ended(outcome),
                (JournalWrite::Complete { .. }, Some(state)) => {
                    return Err(StoreError::conflict(format!(
                        "the call {key} is already journaled as {}",
                        state.name()
                    )));
                }
                (JournalWrite::Complete { .. }, None) => {
                    return Err(StoreError::not_found(format!("no intent is journaled for the call {key}")));
                }
            };
            states.push(Checked { run, hash, place, state: next });
        }
        Ok(())
    }

    /// Applies one write of a checked batch, taking its data without copying it: the `seq`
    /// of the entry written.
    /// `checked` is what checking its batch found of it.
    fn apply_write(
        &mut self,
        write: JournalWrite,
        checked: Checked,
        scratch: &mut String,
    ) -> StoreResult<i64> {
        let Checked { run, hash, place, .. } = checked;
        match write {
            JournalWrite::Done { intent, outcome, finished_at } => {
                // Converted first: nothing is changed when the conversion fails.
                let (run_id, mut entry) = self.entry_from(intent, hash, scratch)?;
                take_outcome(&mut entry, outcome, finished_at, scratch)?;
                self.put_entry(run, &run_id, entry, place)
            }
            JournalWrite::Intent(intent) => {
                let (run_id, entry) = self.entry_from(intent, hash, scratch)?;
                self.put_entry(run, &run_id, entry, place)
            }
            JournalWrite::Complete { key, outcome, finished_at } => {
                let entry = match place {
                    Place::Journal(at) => self
                        .data_at_mut(run, &key.run_id)
                        .and_then(|d| d.journal.entries.get_mut(at)?.as_mut()),
                    Place::New | Place::Batch => self.entry_mut(run, &key, hash),
                };
                let entry = entry.ok_or_else(|| {
                    StoreError::not_found(format!("no intent is journaled for the call {key}"))
                })?;
                take_outcome(entry, outcome, finished_at, scratch)?;
                Ok(entry.seq)
            }
        }
    }

    /// Checks then applies a batch: all of it or nothing.
    fn write_all(&mut self, mut writes: Vec<JournalWrite>) -> StoreResult<Option<i64>> {
        self.write_drain(&mut writes)
    }

    /// [`Inner::write_all`], leaving `writes` empty (with its capacity) whatever the result.
    fn write_drain(&mut self, writes: &mut Vec<JournalWrite>) -> StoreResult<Option<i64>> {
        // Kept from one batch to the next, as `scratch`.
        let mut states = std::mem::take(&mut self.states);
        states.clear();
        if let Err(e) = self.check_writes(writes, &mut states) {
            writes.clear();
            self.states = states;
            return Err(e);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut last = Ok(None);
        for (w, checked) in writes.drain(..).zip(&states) {
            match self.apply_write(w, *checked, &mut scratch) {
                Ok(seq) => last = Ok(Some(seq)),
                Err(e) => {
                    last = Err(e);
                    break;
                }
            }
        }
        self.scratch = scratch;
        self.states = states;
        last
    }

    /// The entry of `intent`'s call, with the id of its run.
    fn entry_from(
        &mut self,
        intent: Intent,
        hash: u64,
        scratch: &mut String,
    ) -> StoreResult<(Arc<str>, Kept)> {
        let args = kept_json(intent.args, scratch);
        self.next_seq += 1;
        let CallKey { run_id, site, indices } = intent.key;
        let entry = Kept {
            seq: self.next_seq,
            hash,
            site,
            indices,
            state: EntryState::Intent,
            names: intent.names,
            args,
            result: None,
            error: None,
            started_at: intent.started_at,
            finished_at: None,
            approval_id: intent.approval_id,
        };
        Ok((run_id, entry))
    }
}

fn take_outcome(
    entry: &mut Kept,
    outcome: Outcome,
    finished_at: i64,
    scratch: &mut String,
) -> StoreResult<()> {
    match outcome {
        Outcome::Returned(result) => {
            entry.result = Some(kept_json(result, scratch));
            entry.state = EntryState::Done;
        }
        Outcome::Failed(error) => {
            entry.state = EntryState::Failed;
            entry.error = Some(error.into_boxed_str());
        }
    }
    entry.finished_at = Some(finished_at);
    Ok(())
}

impl Store for MemoryStore {
    fn keeps_values(&self) -> bool {
        true
    }

    fn create_run(&self, run: &NewRun) -> StoreResult<RunRecord> {
        let mut inner = self.lock();
        let record = run.record((inner.next_run + 1).to_string());
        // Built before the run is numbered: run `n` must stay at index `n - 1`.
        let stored = StoredRun::new(&record, inner.journal_hint);
        inner.next_run += 1;
        inner.runs.push(stored);
        Ok(record)
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        let inner = self.lock();
        inner.run_index(run_id).and_then(|i| inner.runs.get(i)).map(StoredRun::full).transpose()
    }

    fn update_run(&self, run_id: &str, update: &RunUpdate) -> StoreResult<()> {
        let mut inner = self.lock();
        let run = inner
            .run_index(run_id)
            .and_then(|i| inner.runs.get_mut(i))
            .ok_or_else(|| StoreError::not_found(format!("there is no run {run_id}")))?;
        run.apply(update);
        Ok(())
    }

    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        let inner = self.lock();
        inner
            .runs
            .iter()
            .rev()
            .filter(|r| filter.playbook.as_ref().is_none_or(|p| *p == r.playbook))
            .filter(|r| filter.status.is_none_or(|s| s == r.status))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(StoredRun::full)
            .collect()
    }

    fn lease_run(&self, run_id: &str) -> StoreResult<Option<RunLease>> {
        Ok(self.leases.take(run_id))
    }

    fn claim_run(&self, run_id: &str, from: RunStatus, at: i64) -> StoreResult<bool> {
        let mut inner = self.lock();
        let run = inner
            .run_index(run_id)
            .and_then(|i| inner.runs.get_mut(i))
            .ok_or_else(|| StoreError::not_found(format!("there is no run {run_id}")))?;
        if run.status != from {
            return Ok(false);
        }
        run.status = RunStatus::Running;
        run.updated_at = at;
        Ok(true)
    }

    fn record_intent(&self, intent: &Intent) -> StoreResult<i64> {
        self.write_one(JournalWrite::Intent(intent.clone()))
    }

    fn record_done(&self, intent: &Intent, outcome: &Outcome, finished_at: i64) -> StoreResult<i64> {
        self.write_one(JournalWrite::Done { intent: intent.clone(), outcome: outcome.clone(), finished_at })
    }

    fn complete(&self, key: &CallKey, outcome: &Outcome, finished_at: i64) -> StoreResult<()> {
        self.write_one(JournalWrite::Complete { key: key.clone(), outcome: outcome.clone(), finished_at })
            .map(|_| ())
    }

    fn write_journal(&self, writes: Vec<JournalWrite>) -> StoreResult<()> {
        self.lock().write_all(writes).map(|_| ())
    }

    fn write_journal_from(&self, writes: &mut Vec<JournalWrite>) -> StoreResult<()> {
        self.lock().write_drain(writes).map(|_| ())
    }

    fn finish_run(
        &self,
        run_id: &str,
        writes: Vec<JournalWrite>,
        update: &RunUpdate,
        case: &Arc<Case>,
    ) -> StoreResult<()> {
        let mut inner = self.lock();
        let Some(index) = inner.run_index(run_id) else {
            return Err(StoreError::not_found(format!("there is no run {run_id}")));
        };
        inner.write_all(writes)?;
        if let Some(run) = inner.runs.get_mut(index) {
            run.apply(update);
            run.data.case = Some(KeptCase::Finished(case.clone()));
            inner.journal_hint = run.data.journal.entries.len();
        }
        Ok(())
    }

    fn journal_entry(&self, key: &CallKey) -> StoreResult<Option<JournalEntry>> {
        self.lock().entry(key).map(|e| e.entry(&key.run_id)).transpose()
    }

    fn journal(&self, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let inner = self.lock();
        let id: Arc<str> = Arc::from(run_id);
        inner.journal_of(run_id).map_or(Ok(Vec::new()), |run| run.live().map(|e| e.entry(&id)).collect())
    }

    fn unfinished_intents(&self, run_id: Option<&str>) -> StoreResult<Vec<JournalEntry>> {
        let inner = self.lock();
        let mut out = Vec::new();
        // A run's unfinished intents, its id made shared text only when it has some.
        let mut add = |id: &str, data: &RunData| -> StoreResult<()> {
            let mut shared: Option<Arc<str>> = None;
            for e in data.journal.live().filter(|e| e.state == EntryState::Intent) {
                out.push(e.entry(shared.get_or_insert_with(|| Arc::from(id)))?);
            }
            Ok(())
        };
        match run_id {
            Some(r) => {
                if let Some(data) = inner.data(r) {
                    add(r, data)?;
                }
            }
            None => {
                let others = inner.others.iter().map(|(id, d)| (id.as_str(), d));
                for (id, data) in inner.runs.iter().map(|r| (r.id.as_str(), &r.data)).chain(others) {
                    add(id, data)?;
                }
            }
        }
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    fn journal_value(&self, run_id: &str, key: &str, value: &Json) -> StoreResult<Json> {
        let mut inner = self.lock();
        Ok(inner.values.entry((run_id.to_string(), key.to_string())).or_insert_with(|| value.clone()).clone())
    }

    fn journaled_value(&self, run_id: &str, key: &str) -> StoreResult<Option<Json>> {
        Ok(self.lock().values.get(&(run_id.to_string(), key.to_string())).cloned())
    }

    fn add_approval(&self, approval: &NewApproval) -> StoreResult<ApprovalRow> {
        let mut inner = self.lock();
        if let Some(existing) =
            inner.approvals.iter().find(|a| a.run_id == approval.run_id && a.key == approval.key)
        {
            return Ok(existing.clone());
        }
        inner.next_approval += 1;
        let row = ApprovalRow {
            id: inner.next_approval,
            run_id: approval.run_id.clone(),
            key: approval.key.clone(),
            prompt: approval.prompt.clone(),
            group: approval.group.clone(),
            requested_at: approval.requested_at,
            expires_at: approval.expires_at,
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
        };
        inner.approvals.push(row.clone());
        Ok(row)
    }

    fn get_approval(&self, id: i64) -> StoreResult<Option<ApprovalRow>> {
        Ok(self.lock().approvals.iter().find(|a| a.id == id).cloned())
    }

    fn approval_by_key(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRow>> {
        Ok(self.lock().approvals.iter().find(|a| a.run_id == run_id && a.key == key).cloned())
    }

    fn decide_approval(&self, id: i64, decision: &Decision) -> StoreResult<ApprovalRow> {
        let mut inner = self.lock();
        let row = inner
            .approvals
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| StoreError::not_found(format!("there is no approval {id}")))?;
        check_decision(row, decision)?;
        row.status = decision.status;
        row.decided_by.clone_from(&decision.decided_by);
        row.decided_at = Some(decision.decided_at);
        Ok(row.clone())
    }

    fn list_approvals(&self, filter: &ApprovalFilter) -> StoreResult<Vec<ApprovalRow>> {
        Ok(self
            .lock()
            .approvals
            .iter()
            .filter(|a| filter.run_id.as_ref().is_none_or(|r| *r == a.run_id))
            .filter(|a| filter.status.is_none_or(|s| s == a.status))
            .cloned()
            .collect())
    }

    fn save_case(&self, run_id: &str, case: &Json) -> StoreResult<()> {
        let mut inner = self.lock();
        let at = inner.run_at(run_id);
        inner.data_made(at, run_id).case = Some(KeptCase::Text(case.to_string().into_boxed_str()));
        Ok(())
    }

    fn load_case(&self, run_id: &str) -> StoreResult<Option<Json>> {
        let inner = self.lock();
        inner.data(run_id).and_then(|d| d.case.as_ref()).map(|case| case.json(run_id)).transpose()
    }

    fn claim_undo(&self, run_id: &str, seq: i64, _at: i64) -> StoreResult<bool> {
        let mut inner = self.lock();
        let key = (run_id.to_string(), seq);
        if inner.undo_log.contains_key(&key) {
            return Ok(false);
        }
        inner.undo_log.insert(key, UndoState::Started);
        Ok(true)
    }

    fn settle_undo(&self, run_id: &str, seq: i64, done: bool, _at: i64) -> StoreResult<()> {
        let mut inner = self.lock();
        let key = (run_id.to_string(), seq);
        if inner.undo_log.get(&key) != Some(&UndoState::Started) {
            return Err(StoreError::not_found(format!("no undo of entry {seq} of run {run_id} was started")));
        }
        if done {
            inner.undo_log.insert(key, UndoState::Done);
        } else {
            inner.undo_log.remove(&key);
        }
        Ok(())
    }

    fn undo_log(&self, run_id: &str) -> StoreResult<Vec<(i64, UndoState)>> {
        let inner = self.lock();
        Ok(inner.undo_log.iter().filter(|((r, _), _)| r == run_id).map(|((_, seq), s)| (*seq, *s)).collect())
    }

    fn stats(&self) -> StoreResult<Vec<StatRow>> {
        let inner = self.lock();
        let mut counts: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
        for run in &inner.runs {
            *counts.entry((run.playbook.clone(), run.disposition.clone())).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((playbook, disposition), count)| StatRow { playbook, disposition, count })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::suite::new_run;
    use super::*;

    fn returned(n: i64) -> Outcome {
        Outcome::Returned(JournalJson::text_of(&serde_json::json!(n)))
    }

    #[test]
    fn memory_store_passes_the_suite() {
        super::super::suite::all(&|| Box::new(MemoryStore::new()));
    }

    fn intent(run: &str, site: &str, indices: &str) -> Intent {
        Intent {
            key: CallKey::new(run, site, indices),
            names: crate::engine::CallNames::new("mail", "quarantine", "write"),
            args: JournalJson::text_of(&serde_json::json!({ "site": site, "i": indices })),
            started_at: 1,
            approval_id: None,
        }
    }

    /// Short journals are searched, long ones indexed: both find every entry, through
    /// retries, past the point where the index is built.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn long_journals_find_every_entry() {
        let store = MemoryStore::new();
        let run = store.create_run(&new_run("p", 0)).unwrap();
        let n = INDEX_FROM * 3;
        for i in 0..n {
            let (site, indices) = (format!("s{}", i % 7), format!("{i}"));
            store.record_intent(&intent(&run.id, &site, &indices)).unwrap();
            if i % 3 == 0 {
                // A retry of an unfinished intent replaces it.
                store.record_intent(&intent(&run.id, &site, &indices)).unwrap();
            }
            if i % 2 == 0 {
                let key = CallKey::new(&run.id, &site, &indices);
                store.complete(&key, &returned(i as i64), 2).unwrap();
            }
        }
        for i in 0..n {
            let key = CallKey::new(&run.id, &format!("s{}", i % 7), &format!("{i}"));
            let entry = store.journal_entry(&key).unwrap().unwrap();
            assert_eq!(entry.key, key);
            assert_eq!(entry.args, serde_json::json!({ "site": key.site, "i": key.indices }));
            if i % 2 == 0 {
                assert_eq!(entry.state, EntryState::Done);
                assert_eq!(entry.result, Some(serde_json::json!(i)));
                let again = store.record_intent(&intent(&run.id, &key.site, &key.indices));
                assert_eq!(again.unwrap_err().kind, StoreErrorKind::Conflict);
            } else {
                assert_eq!(entry.state, EntryState::Intent);
            }
        }
        assert!(store.journal_entry(&CallKey::new(&run.id, "s0", "1")).unwrap().is_none());
        assert_eq!(store.journal(&run.id).unwrap().len(), n);
        assert_eq!(store.unfinished_intents(Some(&run.id)).unwrap().len(), n / 2);
    }

    /// In one batch: a new call and its completion, a retry of an intent journaled before
    /// and its completion, and a read replacing a failed one, each applied where its check
    /// found it.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_batch_applies_each_write_where_its_check_found_the_key() {
        let store = MemoryStore::new();
        let run = store.create_run(&new_run("p", 0)).unwrap();
        let key = |site: &str| CallKey::new(&run.id, site, "");
        store.record_intent(&intent(&run.id, "b", "")).unwrap();
        store.record_done(&intent(&run.id, "c", ""), &Outcome::Failed("down".into()), 2).unwrap();
        store
            .write_journal(vec![
                JournalWrite::Intent(intent(&run.id, "a", "")),
                JournalWrite::Complete { key: key("a"), outcome: returned(1), finished_at: 3 },
                JournalWrite::Intent(intent(&run.id, "b", "")),
                JournalWrite::Complete { key: key("b"), outcome: returned(2), finished_at: 3 },
                JournalWrite::Done { intent: intent(&run.id, "c", ""), outcome: returned(3), finished_at: 3 },
            ])
            .unwrap();
        let entries = store.journal(&run.id).unwrap();
        let sites: Vec<&str> = entries.iter().map(|e| &*e.key.site).collect();
        assert_eq!(sites, ["a", "b", "c"], "each key once, the replaced entries gone");
        for (e, n) in entries.iter().zip(1..) {
            assert_eq!((e.state, e.result.clone()), (EntryState::Done, Some(serde_json::json!(n))));
        }
        // A second completion of a done call is refused, and nothing of its batch is kept.
        let again = store.write_journal(vec![
            JournalWrite::Intent(intent(&run.id, "d", "")),
            JournalWrite::Complete { key: key("a"), outcome: returned(9), finished_at: 4 },
        ]);
        assert_eq!(again.unwrap_err().kind, StoreErrorKind::Conflict);
        assert_eq!(store.journal(&run.id).unwrap().len(), 3);
    }

    /// A batch may hold writes of several runs, one this store never created among them:
    /// each lands in its own run's journal, its intents found there by later writes.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_batch_writes_each_run_s_journal() {
        let store = MemoryStore::new();
        let (a, b) =
            (store.create_run(&new_run("p", 0)).unwrap(), store.create_run(&new_run("p", 1)).unwrap());
        let complete = |run: &str, n: i64| JournalWrite::Complete {
            key: CallKey::new(run, "s", ""),
            outcome: returned(n),
            finished_at: 3,
        };
        store
            .write_journal(vec![
                JournalWrite::Intent(intent(&a.id, "s", "")),
                JournalWrite::Intent(intent(&b.id, "s", "")),
                JournalWrite::Intent(intent("elsewhere", "s", "")),
                complete(&b.id, 2),
                complete(&a.id, 1),
                complete("elsewhere", 3),
            ])
            .unwrap();
        for (run, n) in [(&*a.id, 1), (&*b.id, 2), ("elsewhere", 3)] {
            let entries = store.journal(run).unwrap();
            assert_eq!(entries.len(), 1, "run {run}");
            assert_eq!(entries[0].key.run_id.as_ref(), run);
            assert_eq!(entries[0].result, Some(serde_json::json!(n)), "run {run}");
        }
        // A completion for a run with no intent is refused, whichever run wrote before it.
        let orphan =
            store.write_journal(vec![JournalWrite::Intent(intent(&a.id, "t", "")), complete("none", 4)]);
        assert_eq!(orphan.unwrap_err().kind, StoreErrorKind::NotFound);
        assert_eq!(store.journal(&a.id).unwrap().len(), 1);
    }
}
