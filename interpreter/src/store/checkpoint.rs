//! Copies the WAL back into a state database from a thread of its own.
//!
//! A checkpoint ends with two fsyncs (the WAL, then the database file). SQLite's automatic
//! checkpoint runs them in the connection that committed, so every few hundred commits one
//! run stopped for as long as the disk took: 1–80 ms on a shared machine, about a sixth of
//! the journal's wall time in the engine benchmark. Here the store's connection does not
//! checkpoint below a safety limit; a second connection, on this thread, checkpoints after
//! [`EVERY_COMMITS`] commits, or [`IDLE`] after the first commit since the last checkpoint.
//! Its checkpoints are `PASSIVE`: they never wait for, nor block, the store's reads and
//! writes.
//!
//! Nothing about durability changes: a commit is in the WAL before the store returns, as
//! before. A process killed before a checkpoint leaves the WAL for the next open to read.

use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Commits between checkpoints: about 10 MB of WAL with the 1 KiB pages of a new database.
pub(super) const EVERY_COMMITS: u64 = 1_000;
/// A checkpoint also runs this long after the first commit since the last one, so a process
/// that commits little (a `serve` between alerts) keeps a short WAL too.
const IDLE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    /// Commits since the last checkpoint began.
    commits: u64,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Checkpoints completed (for tests and diagnostics).
    done: AtomicU64,
}

/// The checkpoint thread of one store. Dropping it stops the thread and closes its
/// connection; the store's own connection, closed after it, is then the last one and
/// SQLite checkpoints the rest and removes the WAL.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to `path` and starts the thread. `synchronous` is the
    /// store's setting, which decides the fsyncs of a checkpoint. `None` when either cannot
    /// be had: the store then checkpoints as SQLite does by default.
    pub(super) fn start(path: &Path, synchronous: &str) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.pragma_update(None, "synchronous", synchronous).ok()?;
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("parry-checkpoint".to_string())
            .spawn(move || run(&conn, &theirs))
            .ok()?;
        Some(Checkpointer { shared, thread: Some(thread) })
    }

    /// Installs the commit hook that counts the commits of `conn`, the store's connection,
    /// and wakes the thread when a checkpoint is due.
    pub(super) fn watch(&self, conn: &Connection) {
        let shared = self.shared.clone();
        conn.commit_hook(Some(move || {
            let mut state = lock(&shared.state);
            state.commits += 1;
            if state.commits == 1 || state.commits == EVERY_COMMITS {
                // The first commit starts the idle timer; the thousandth asks for a checkpoint
                // (the thread sets the count back to 0 when it starts one).
                shared.wake.notify_one();
            }
            // `false`: the commit goes ahead.
            false
        }));
    }

    /// How many checkpoints the thread has completed.
    #[cfg(test)]
    pub(super) fn completed(&self) -> u64 {
        self.shared.done.load(Ordering::Acquire)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panic on the thread has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(conn: &Connection, shared: &Shared) {
    let mut state = lock(&shared.state);
    loop {
        // Waits for a first commit, then for enough more or for the idle time, whichever
        // comes first. Stopping leaves the rest to the store's connection, which closes last.
        while !state.stop && state.commits == 0 {
            state = shared.wake.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let deadline = Instant::now() + IDLE;
        while !state.stop && state.commits < EVERY_COMMITS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state =
                shared.wake.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        if state.stop {
            return;
        }
        state.commits = 0;
        drop(state);
        // A failed or partial checkpoint (the database busy, a disk error) is tried again
        // after the next commits; the store's own safety limit bounds the WAL meanwhile.
        if conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).is_ok() {
            shared.done.fetch_add(1, Ordering::Release);
        }
        state = lock(&shared.state);
    }
}
