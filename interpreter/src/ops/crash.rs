//! A test hook that stops the process abruptly at a chosen point of the journal, so the
//! end-to-end tests can prove that a resumed run never repeats an effectful call.
//!
//! - `PARRY_TEST_CRASH_AFTER=N`: abort right after the outcome of the N-th effectful
//!   (`write`, `reversible`, `destructive`) call of this process is journaled.
//! - `PARRY_TEST_CRASH_BEFORE=N`: abort right after the intent of the N-th effectful call
//!   is journaled, before the call is made (the case a crash between intent and outcome
//!   leaves: the call is then reported `unconfirmed` and never retried).
//!
//! The abort is `std::process::abort`: no destructor, no flush, like a `kill -9`. Unset
//! (the normal case), the wrapper is not installed at all.

use crate::engine::Case;
use crate::store::{
    ApprovalFilter, ApprovalRow, CallKey, Decision, Intent, JournalEntry, JournalWrite, NewApproval, NewRun,
    Outcome, RunFilter, RunLease, RunRecord, RunStatus, RunUpdate, StatRow, Store, StoreResult, UndoState,
};
use serde_json::Value as Json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const AFTER: &str = "PARRY_TEST_CRASH_AFTER";
const BEFORE: &str = "PARRY_TEST_CRASH_BEFORE";

/// Wraps `store` when one of the crash variables is set to a positive number.
pub fn wrap_from_env(store: Arc<dyn Store>) -> Arc<dyn Store> {
    let read =
        |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|n| *n > 0);
    let after = read(AFTER);
    let before = read(BEFORE);
    if after.is_none() && before.is_none() {
        return store;
    }
    Arc::new(CrashingStore {
        inner: store,
        after,
        before,
        completed: AtomicU64::new(0),
        intents: AtomicU64::new(0),
    })
}

struct CrashingStore {
    inner: Arc<dyn Store>,
    after: Option<u64>,
    before: Option<u64>,
    completed: AtomicU64,
    intents: AtomicU64,
}

fn effectful(effect: &str) -> bool {
    effect != "read"
}

impl Store for CrashingStore {
    fn create_run(&self, run: &NewRun) -> StoreResult<RunRecord> {
        self.inner.create_run(run)
    }
    fn get_run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        self.inner.get_run(run_id)
    }
    fn update_run(&self, run_id: &str, update: &RunUpdate) -> StoreResult<()> {
        self.inner.update_run(run_id, update)
    }
    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.inner.list_runs(filter)
    }
    fn lease_run(&self, run_id: &str) -> StoreResult<Option<RunLease>> {
        self.inner.lease_run(run_id)
    }
    fn claim_run(&self, run_id: &str, from: RunStatus, at: i64) -> StoreResult<bool> {
        self.inner.claim_run(run_id, from, at)
    }
    fn record_intent(&self, intent: &Intent) -> StoreResult<i64> {
        let seq = self.inner.record_intent(intent)?;
        if effectful(intent.names.effect()) {
            let n = self.intents.fetch_add(1, Ordering::SeqCst) + 1;
            if self.before == Some(n) {
                eprintln!(
                    "[parry] {BEFORE}={n}: stopping before {}.{}",
                    intent.names.connector(),
                    intent.names.action()
                );
                std::process::abort();
            }
        }
        Ok(seq)
    }
    fn complete(&self, key: &CallKey, outcome: &Outcome, finished_at: i64) -> StoreResult<()> {
        self.inner.complete(key, outcome, finished_at)?;
        let entry = self.inner.journal_entry(key)?;
        if let Some(entry) = entry.filter(|e| effectful(&e.effect)) {
            let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
            if self.after == Some(n) {
                eprintln!("[parry] {AFTER}={n}: stopping after {}.{}", entry.connector, entry.action);
                std::process::abort();
            }
        }
        Ok(())
    }
    /// A batch is committed in parts so that each crash point is where the single
    /// operations would put it: right after the commit that holds the N-th outcome (or
    /// intent) of an effectful call.
    fn write_journal(&self, mut writes: Vec<JournalWrite>) -> StoreResult<()> {
        for (i, w) in writes.iter().enumerate() {
            let stop = match w {
                JournalWrite::Complete { key, .. } => {
                    let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
                    (self.after == Some(n)).then(|| format!("{AFTER}={n}: stopping after {key}"))
                }
                JournalWrite::Intent(intent) if effectful(intent.names.effect()) => {
                    let n = self.intents.fetch_add(1, Ordering::SeqCst) + 1;
                    (self.before == Some(n)).then(|| {
                        format!(
                            "{BEFORE}={n}: stopping before {}.{}",
                            intent.names.connector(),
                            intent.names.action()
                        )
                    })
                }
                JournalWrite::Done { .. } | JournalWrite::Intent(_) => None,
            };
            if let Some(message) = stop {
                writes.truncate(i + 1);
                self.inner.write_journal(writes)?;
                eprintln!("[parry] {message}");
                std::process::abort();
            }
        }
        self.inner.write_journal(writes)
    }
    fn finish_run(
        &self,
        run_id: &str,
        writes: Vec<JournalWrite>,
        update: &RunUpdate,
        case: &Arc<Case>,
    ) -> StoreResult<()> {
        self.write_journal(writes)?;
        self.inner.finish_run(run_id, Vec::new(), update, case)
    }
    fn keeps_values(&self) -> bool {
        self.inner.keeps_values()
    }
    fn journal_entry(&self, key: &CallKey) -> StoreResult<Option<JournalEntry>> {
        self.inner.journal_entry(key)
    }
    fn journal(&self, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
        self.inner.journal(run_id)
    }
    fn unfinished_intents(&self, run_id: Option<&str>) -> StoreResult<Vec<JournalEntry>> {
        self.inner.unfinished_intents(run_id)
    }
    fn journal_value(&self, run_id: &str, key: &str, value: &Json) -> StoreResult<Json> {
        self.inner.journal_value(run_id, key, value)
    }
    fn journaled_value(&self, run_id: &str, key: &str) -> StoreResult<Option<Json>> {
        self.inner.journaled_value(run_id, key)
    }
    fn add_approval(&self, approval: &NewApproval) -> StoreResult<ApprovalRow> {
        self.inner.add_approval(approval)
    }
    fn get_approval(&self, id: i64) -> StoreResult<Option<ApprovalRow>> {
        self.inner.get_approval(id)
    }
    fn approval_by_key(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRow>> {
        self.inner.approval_by_key(run_id, key)
    }
    fn decide_approval(&self, id: i64, decision: &Decision) -> StoreResult<ApprovalRow> {
        self.inner.decide_approval(id, decision)
    }
    fn list_approvals(&self, filter: &ApprovalFilter) -> StoreResult<Vec<ApprovalRow>> {
        self.inner.list_approvals(filter)
    }
    fn save_case(&self, run_id: &str, case: &Json) -> StoreResult<()> {
        self.inner.save_case(run_id, case)
    }
    fn load_case(&self, run_id: &str) -> StoreResult<Option<Json>> {
        self.inner.load_case(run_id)
    }
    fn claim_undo(&self, run_id: &str, seq: i64, at: i64) -> StoreResult<bool> {
        self.inner.claim_undo(run_id, seq, at)
    }
    fn settle_undo(&self, run_id: &str, seq: i64, done: bool, at: i64) -> StoreResult<()> {
        self.inner.settle_undo(run_id, seq, done, at)
    }
    fn undo_log(&self, run_id: &str) -> StoreResult<Vec<(i64, UndoState)>> {
        self.inner.undo_log(run_id)
    }
    fn stats(&self) -> StoreResult<Vec<StatRow>> {
        self.inner.stats()
    }
}
