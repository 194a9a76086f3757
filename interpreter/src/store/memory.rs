//! An in-memory [`Store`]: for `parry test`, dry runs and unit tests. Lost on exit.

use super::*;
use std::collections::{BTreeMap, HashMap, HashSet};
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
pub(super) struct Leases(Arc<Mutex<HashSet<String>>>);

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
    leases: Arc<Mutex<HashSet<String>>>,
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
    /// Run `n` (its id is the decimal `n`) is at index `n - 1`.
    runs: Vec<RunRecord>,
    /// Each run's journal, by run id.
    journal: HashMap<String, RunJournal>,
    values: BTreeMap<(String, String), Json>,
    approvals: Vec<ApprovalRow>,
    /// Cases as JSON text, as the SQLite store keeps them.
    cases: BTreeMap<String, String>,
    undo_log: BTreeMap<(String, i64), UndoState>,
}

/// One run's journal entries.
#[derive(Default)]
struct RunJournal {
    /// In recording order; a replaced entry leaves `None` behind.
    entries: Vec<Option<JournalEntry>>,
    /// Where each key's entry is in `entries`: by call-site id, then loop indices.
    index: BTreeMap<String, BTreeMap<String, usize>>,
}

impl RunJournal {
    fn position(&self, key: &CallKey) -> Option<usize> {
        self.index.get(&key.site)?.get(&key.indices).copied()
    }

    fn live(&self) -> impl Iterator<Item = &JournalEntry> {
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
        let n: usize = run_id.parse().ok()?;
        let index = n.checked_sub(1)?;
        self.runs.get(index).filter(|r| r.id == run_id).map(|_| index)
    }

    fn entry(&self, key: &CallKey) -> Option<&JournalEntry> {
        let run = self.journal.get(&key.run_id)?;
        run.entries.get(run.position(key)?)?.as_ref()
    }

    fn entry_mut(&mut self, key: &CallKey) -> Option<&mut JournalEntry> {
        let run = self.journal.get_mut(&key.run_id)?;
        let at = run.position(key)?;
        run.entries.get_mut(at)?.as_mut()
    }

    /// Makes room for a new entry under `key`: refuses when the call is done, drops an
    /// earlier intent or failure (a retry).
    fn replace_entry(&mut self, key: &CallKey) -> StoreResult<()> {
        let Some(run) = self.journal.get_mut(&key.run_id) else { return Ok(()) };
        let Some(at) = run.position(key) else { return Ok(()) };
        if let Some(slot) = run.entries.get_mut(at) {
            if slot.as_ref().is_some_and(|old| old.state == EntryState::Done) {
                return Err(StoreError::conflict(format!(
                    "the call {key} is already journaled as done; it must not run again"
                )));
            }
            *slot = None;
        }
        Ok(())
    }

    fn push_entry(&mut self, entry: JournalEntry) -> i64 {
        let seq = entry.seq;
        let run = match self.journal.get_mut(&entry.key.run_id) {
            Some(run) => run,
            None => self.journal.entry(entry.key.run_id.clone()).or_default(),
        };
        let at = run.entries.len();
        match run.index.get_mut(&entry.key.site) {
            Some(by_indices) => {
                by_indices.insert(entry.key.indices.clone(), at);
            }
            None => {
                run.index.insert(entry.key.site.clone(), BTreeMap::from([(entry.key.indices.clone(), at)]));
            }
        }
        run.entries.push(Some(entry));
        seq
    }
}

impl Inner {
    /// Refuses a batch that breaks a rule of the journal anywhere, before any of it is
    /// applied (a batch is all or nothing).
    fn check_writes(&self, writes: &[JournalWrite]) -> StoreResult<()> {
        let mut states: HashMap<&CallKey, EntryState> = HashMap::new();
        for w in writes {
            let key = match w {
                JournalWrite::Done { intent, .. } | JournalWrite::Intent(intent) => &intent.key,
                JournalWrite::Complete { key, .. } => key,
            };
            let state = states.get(key).copied().or_else(|| self.entry(key).map(|e| e.state));
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
            states.insert(key, next);
        }
        Ok(())
    }

    /// Applies one write of a checked batch, taking its data without copying it: the `seq`
    /// of the entry written.
    fn apply_write(&mut self, write: JournalWrite) -> StoreResult<i64> {
        match write {
            JournalWrite::Done { intent, outcome, finished_at } => {
                self.replace_entry(&intent.key)?;
                let mut entry = self.entry_from(intent);
                take_outcome(&mut entry, outcome, finished_at);
                Ok(self.push_entry(entry))
            }
            JournalWrite::Intent(intent) => {
                self.replace_entry(&intent.key)?;
                let entry = self.entry_from(intent);
                Ok(self.push_entry(entry))
            }
            JournalWrite::Complete { key, outcome, finished_at } => {
                let entry = self.entry_mut(&key).ok_or_else(|| {
                    StoreError::not_found(format!("no intent is journaled for the call {key}"))
                })?;
                take_outcome(entry, outcome, finished_at);
                Ok(entry.seq)
            }
        }
    }

    /// Checks then applies a batch: all of it or nothing.
    fn write_all(&mut self, writes: Vec<JournalWrite>) -> StoreResult<Option<i64>> {
        self.check_writes(&writes)?;
        let mut last = None;
        for w in writes {
            last = Some(self.apply_write(w)?);
        }
        Ok(last)
    }

    fn entry_from(&mut self, intent: Intent) -> JournalEntry {
        self.next_seq += 1;
        JournalEntry {
            seq: self.next_seq,
            key: intent.key,
            state: EntryState::Intent,
            effect: intent.effect,
            connector: intent.connector,
            action: intent.action,
            args: intent.args,
            result: None,
            error: None,
            started_at: intent.started_at,
            finished_at: None,
            approval_id: intent.approval_id,
        }
    }
}

fn take_outcome(entry: &mut JournalEntry, outcome: Outcome, finished_at: i64) {
    match outcome {
        Outcome::Returned(result) => {
            entry.state = EntryState::Done;
            entry.result = Some(result);
        }
        Outcome::Failed(error) => {
            entry.state = EntryState::Failed;
            entry.error = Some(error);
        }
    }
    entry.finished_at = Some(finished_at);
}

impl Store for MemoryStore {
    fn create_run(&self, run: &NewRun) -> StoreResult<RunRecord> {
        let mut inner = self.lock();
        inner.next_run += 1;
        let record = run.record(inner.next_run.to_string());
        inner.runs.push(record.clone());
        Ok(record)
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        let inner = self.lock();
        Ok(inner.run_index(run_id).and_then(|i| inner.runs.get(i)).cloned())
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
        Ok(inner
            .runs
            .iter()
            .rev()
            .filter(|r| filter.playbook.as_ref().is_none_or(|p| *p == r.playbook))
            .filter(|r| filter.status.is_none_or(|s| s == r.status))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
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

    fn finish_run(
        &self,
        run_id: &str,
        writes: Vec<JournalWrite>,
        update: &RunUpdate,
        case: &Case,
    ) -> StoreResult<()> {
        let body = case_text(case)?;
        let mut inner = self.lock();
        let Some(index) = inner.run_index(run_id) else {
            return Err(StoreError::not_found(format!("there is no run {run_id}")));
        };
        inner.write_all(writes)?;
        if let Some(run) = inner.runs.get_mut(index) {
            run.apply(update);
        }
        inner.cases.insert(run_id.to_string(), body);
        Ok(())
    }

    fn journal_entry(&self, key: &CallKey) -> StoreResult<Option<JournalEntry>> {
        Ok(self.lock().entry(key).cloned())
    }

    fn journal(&self, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let inner = self.lock();
        Ok(inner.journal.get(run_id).map(|run| run.live().cloned().collect()).unwrap_or_default())
    }

    fn unfinished_intents(&self, run_id: Option<&str>) -> StoreResult<Vec<JournalEntry>> {
        let inner = self.lock();
        let is_intent = |e: &&JournalEntry| e.state == EntryState::Intent;
        let mut out: Vec<JournalEntry> = match run_id {
            Some(r) => inner
                .journal
                .get(r)
                .map(|run| run.live().filter(is_intent).cloned().collect())
                .unwrap_or_default(),
            None => inner.journal.values().flat_map(RunJournal::live).filter(is_intent).cloned().collect(),
        };
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
        self.lock().cases.insert(run_id.to_string(), case.to_string());
        Ok(())
    }

    fn load_case(&self, run_id: &str) -> StoreResult<Option<Json>> {
        let inner = self.lock();
        let Some(text) = inner.cases.get(run_id) else { return Ok(None) };
        serde_json::from_str(text).map(Some).map_err(|e| {
            StoreError::new(StoreErrorKind::Corrupt, format!("the case of run {run_id} cannot be read: {e}"))
        })
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
    use super::*;

    #[test]
    fn memory_store_passes_the_suite() {
        super::super::suite::all(&|| Box::new(MemoryStore::new()));
    }
}
