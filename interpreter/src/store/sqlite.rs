//! The SQLite [`Store`]: `.parry/state.db` under the project.
//!
//! WAL mode, so `parry approvals` and `parry cases` read while a worker writes. How hard a
//! commit is pushed to disk is a [`Durability`]:
//!
//! - [`Durability::ProcessCrash`] (the default, `synchronous = NORMAL`): a committed intent
//!   or result survives the process being killed (`SIGKILL`, a panic, an abort) — the commit
//!   is in the WAL file, which the OS holds — so "never repeat a write call, even when the
//!   process is killed" holds. Only an OS crash or a power loss can lose the last commits,
//!   and a call whose intent vanished that way would run again on resume.
//! - [`Durability::PowerLoss`] (`synchronous = FULL`): every commit is also fsynced, so it
//!   survives an OS crash or a power loss as well. Measured on this project's 2-core
//!   machines: an intent plus its completion costs about 0.1 ms with `NORMAL` and about
//!   4.4 ms with `FULL` (two fsyncs) — small next to an action call over the network.
//!
//! [`SqliteStore::open`] takes the durability from the environment variable
//! `PARRY_STATE_SYNC` (`normal`, the default, or `full`); [`SqliteStore::open_with`] takes
//! it as an argument. Concurrent processes wait up to 5 s for the write lock.
//!
//! A `read` call is journaled with its outcome in one statement ([`Store::record_done`]); an
//! effectful call's intent is committed before the call is made, its outcome after.
//!
//! The schema version lives in `PRAGMA user_version`; [`MIGRATIONS`] brings an older file up
//! to date in one transaction, and a newer file is refused rather than misread.

use super::checkpoint::Checkpointer;
use super::memory::check_decision;
use super::*;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The state database of a project: `PROJECT/.parry/state.db`.
pub fn default_path(project_root: &Path) -> PathBuf {
    project_root.join(".parry").join("state.db")
}

/// Schema migrations; entry `i` brings `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    playbook      TEXT    NOT NULL,
    playbook_hash TEXT    NOT NULL,
    alert         TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    disposition   TEXT,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX runs_playbook ON runs (playbook, disposition);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE journal (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT    NOT NULL,
    site         TEXT    NOT NULL,
    indices      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('intent', 'done', 'failed')),
    effect       TEXT    NOT NULL,
    connector    TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    args         TEXT    NOT NULL,
    result       TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    approval_id  INTEGER,
    UNIQUE (run_id, site, indices)
);
CREATE INDEX journal_state ON journal (state, run_id);

CREATE TABLE journal_values (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    prompt       TEXT    NOT NULL,
    grp          TEXT,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'granted', 'denied', 'expired')),
    decided_by   TEXT,
    decided_at   INTEGER,
    UNIQUE (run_id, key)
);
CREATE INDEX approvals_status ON approvals (status);

CREATE TABLE cases (
    run_id     TEXT PRIMARY KEY,
    body       TEXT NOT NULL
);

CREATE TABLE undo_log (
    run_id    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    undone_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"#,
    r#"
ALTER TABLE undo_log ADD COLUMN state TEXT NOT NULL DEFAULT 'undone'
    CHECK (state IN ('started', 'undone'));
"#,
    // `x IN ('a', 'b', 'c')` in a CHECK makes SQLite build a temporary index of the list on
    // every insert and update of the row (three values or more; two are compared in place):
    // about a tenth of the work of journaling a call. The same test written with `=` and
    // `OR` is compared in place. A CHECK cannot be changed in place, so both tables are
    // rebuilt with their rows, indexes and AUTOINCREMENT counters.
    r#"
CREATE TABLE journal_next (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT    NOT NULL,
    site         TEXT    NOT NULL,
    indices      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state = 'intent' OR state = 'done' OR state = 'failed'),
    effect       TEXT    NOT NULL,
    connector    TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    args         TEXT    NOT NULL,
    result       TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    approval_id  INTEGER,
    UNIQUE (run_id, site, indices)
);
INSERT INTO journal_next (seq, run_id, site, indices, state, effect, connector, action, args,
                          result, error, started_at, finished_at, approval_id)
    SELECT seq, run_id, site, indices, state, effect, connector, action, args,
           result, error, started_at, finished_at, approval_id FROM journal;
DELETE FROM sqlite_sequence WHERE name = 'journal_next';
INSERT INTO sqlite_sequence (name, seq) SELECT 'journal_next', seq FROM sqlite_sequence WHERE name = 'journal';
DROP TABLE journal;
ALTER TABLE journal_next RENAME TO journal;
CREATE INDEX journal_state ON journal (state, run_id);

CREATE TABLE approvals_next (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    prompt       TEXT    NOT NULL,
    grp          TEXT,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status = 'pending' OR status = 'granted'
                                         OR status = 'denied' OR status = 'expired'),
    decided_by   TEXT,
    decided_at   INTEGER,
    UNIQUE (run_id, key)
);
INSERT INTO approvals_next (id, run_id, key, prompt, grp, requested_at, expires_at, status,
                            decided_by, decided_at)
    SELECT id, run_id, key, prompt, grp, requested_at, expires_at, status,
           decided_by, decided_at FROM approvals;
DELETE FROM sqlite_sequence WHERE name = 'approvals_next';
INSERT INTO sqlite_sequence (name, seq) SELECT 'approvals_next', seq FROM sqlite_sequence WHERE name = 'approvals';
DROP TABLE approvals;
ALTER TABLE approvals_next RENAME TO approvals;
CREATE INDEX approvals_status ON approvals (status);
"#,
    // Only calls whose outcome is not journaled yet are looked up by state (`parry resume
    // --interrupted`), in `seq` order. An index of those alone is not written at all for a
    // read, which is journaled done, and once each way for an effectful call, instead of at
    // every insert and change of state: a tenth of the work of journaling a run.
    r#"
DROP INDEX journal_state;
CREATE INDEX journal_open ON journal (state, seq) WHERE state = 'intent';
"#,
];

/// How much WAL accumulates before it is copied back into the database.
const WAL_CHECKPOINT_BYTES: i64 = 10 * 1024 * 1024;

/// What a committed journal entry survives (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: survives the process being killed; an OS crash or a power
    /// loss may lose the last commits.
    #[default]
    ProcessCrash,
    /// `synchronous = FULL`: survives an OS crash or a power loss too (an fsync per commit).
    PowerLoss,
}

/// The environment variable [`SqliteStore::open`] reads its [`Durability`] from.
pub const SYNC_ENV: &str = "PARRY_STATE_SYNC";

impl Durability {
    /// Parses a `PARRY_STATE_SYNC` value: `normal` or `full` (any case).
    pub fn from_name(name: &str) -> Option<Durability> {
        match name.trim().to_ascii_lowercase().as_str() {
            "normal" => Some(Durability::ProcessCrash),
            "full" => Some(Durability::PowerLoss),
            _ => None,
        }
    }

    /// The durability `PARRY_STATE_SYNC` asks for (`ProcessCrash` when it is unset or empty).
    pub fn from_env() -> StoreResult<Durability> {
        match std::env::var(SYNC_ENV) {
            Ok(v) if !v.trim().is_empty() => Durability::from_name(&v).ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Io,
                    format!(
                        "{SYNC_ENV}={v:?} is not a known setting: use `normal` (survives the \
                         process being killed) or `full` (also survives a power loss), or unset it"
                    ),
                )
            }),
            _ => Ok(Durability::ProcessCrash),
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Durability::ProcessCrash => "NORMAL",
            Durability::PowerLoss => "FULL",
        }
    }
}

/// A [`Store`] in one SQLite file.
pub struct SqliteStore {
    /// Declared before `conn`, so dropped (its connection closed) first: see
    /// [`Checkpointer`]. `None` for a database in memory.
    #[cfg_attr(not(test), expect(dead_code, reason = "kept for its thread, stopped when dropped"))]
    checkpointer: Option<Checkpointer>,
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Leases of a database in memory (no file to lock beside it).
    memory_leases: memory::Leases,
}

/// A run's lease on a file-backed database: an exclusive OS lock on
/// `<dir of the database>/locks/run-<id>.lock`, which the OS releases when the process
/// dies. The file is removed when the lease is given back; a process that opened it just
/// before may still lock the removed file, which is why resuming a run waiting for an
/// approval also takes it with [`Store::claim_run`].
struct FileLease {
    path: PathBuf,
    file: std::fs::File,
}

impl Drop for FileLease {
    fn drop(&mut self) {
        std::fs::remove_file(&self.path).ok();
        self.file.unlock().ok();
    }
}

/// Makes `conn` checkpoint automatically once the WAL holds about `bytes`.
fn set_autocheckpoint(conn: &Connection, bytes: i64) -> rusqlite::Result<()> {
    let page: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    conn.pragma_update(None, "wal_autocheckpoint", bytes / page.max(512))
}

/// Runs a statement that returns no rows, prepared once per connection.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Rolls back the transaction [`SqliteStore::in_transaction`] opened, when it is dropped
/// before the commit (the work failed, the commit failed, or a panic): nothing of it is
/// kept, and the connection is ready for the next one.
struct OpenTransaction<'c>(&'c Connection);

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            // A failed rollback leaves nothing to do here: the next `BEGIN` reports it.
            let _ = run_cached(self.0, "ROLLBACK");
        }
    }
}

fn io_error(path: &Path, what: &str, e: &rusqlite::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("{what} the state database {}: {e}", path.display()))
}

fn corrupt(what: &str, e: impl fmt::Display) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, format!("the state database holds {what}: {e}"))
}

fn parse_json(text: &str) -> Result<Json, rusqlite::Error> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn to_text(json: &Json) -> String {
    json.to_string()
}

fn bad_enum(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} `{value}`").into(),
    )
}

fn run_from_row(row: &Row<'_>) -> Result<RunRecord, rusqlite::Error> {
    let status: String = row.get("status")?;
    Ok(RunRecord {
        id: row.get::<_, i64>("id")?.to_string(),
        playbook: row.get("playbook")?,
        playbook_hash: row.get("playbook_hash")?,
        alert: parse_json(&row.get::<_, String>("alert")?)?,
        status: RunStatus::from_name(&status).ok_or_else(|| bad_enum("run status", &status))?,
        disposition: row.get("disposition")?,
        error: row.get("error")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn entry_from_row(row: &Row<'_>) -> Result<JournalEntry, rusqlite::Error> {
    let state: String = row.get("state")?;
    let result: Option<String> = row.get("result")?;
    Ok(JournalEntry {
        seq: row.get("seq")?,
        key: CallKey { run_id: row.get("run_id")?, site: row.get("site")?, indices: row.get("indices")? },
        state: EntryState::from_name(&state).ok_or_else(|| bad_enum("journal state", &state))?,
        effect: row.get("effect")?,
        connector: row.get("connector")?,
        action: row.get("action")?,
        args: parse_json(&row.get::<_, String>("args")?)?,
        result: result.as_deref().map(parse_json).transpose()?,
        error: row.get("error")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        approval_id: row.get("approval_id")?,
    })
}

fn approval_from_row(row: &Row<'_>) -> Result<ApprovalRow, rusqlite::Error> {
    let status: String = row.get("status")?;
    Ok(ApprovalRow {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        key: row.get("key")?,
        prompt: row.get("prompt")?,
        group: row.get("grp")?,
        requested_at: row.get("requested_at")?,
        expires_at: row.get("expires_at")?,
        status: ApprovalStatus::from_name(&status).ok_or_else(|| bad_enum("approval status", &status))?,
        decided_by: row.get("decided_by")?,
        decided_at: row.get("decided_at")?,
    })
}

/// The run ids the store assigns are decimal rowids; anything else names no run.
fn run_rowid(run_id: &str) -> Option<i64> {
    run_id.parse::<i64>().ok().filter(|n| *n > 0 && n.to_string() == run_id)
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path` and brings
    /// its schema up to date, with the [`Durability`] `PARRY_STATE_SYNC` asks for.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(path, Durability::from_env()?)
    }

    /// [`SqliteStore::open`] with an explicit [`Durability`].
    pub fn open_with(path: &Path, durability: Durability) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Io,
                    format!("cannot create the directory {} for the state database: {e}", dir.display()),
                )
            })?;
        }
        let conn = Connection::open(path).map_err(|e| io_error(path, "cannot open", &e))?;
        SqliteStore::init(conn, path.to_path_buf(), durability)
    }

    /// A private in-memory database (same code paths as a file, nothing on disk).
    pub fn open_in_memory() -> StoreResult<SqliteStore> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| io_error(&path, "cannot open", &e))?;
        SqliteStore::init(conn, path, Durability::ProcessCrash)
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(mut conn: Connection, path: PathBuf, durability: Durability) -> StoreResult<SqliteStore> {
        let setup = |conn: &Connection| -> Result<(), rusqlite::Error> {
            conn.busy_timeout(Duration::from_secs(5))?;
            // A new database gets 1 KiB pages: a commit rewrites every page it touches (a
            // journal row, its indexes), and most touch a few bytes of several pages. (An
            // existing database keeps its page size.)
            conn.pragma_update(None, "page_size", 1024)?;
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
            conn.pragma_update(None, "synchronous", durability.pragma())?;
            // Copy the WAL back into the database every ~10 MB rather than every 1,000 pages:
            // a checkpoint costs two fsyncs however much it copies, and a busy engine commits
            // a few pages per effectful call. The file is cut back to 64 MB after a burst.
            set_autocheckpoint(conn, WAL_CHECKPOINT_BYTES)?;
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(())
        };
        setup(&conn).map_err(|e| io_error(&path, "cannot configure", &e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| io_error(&path, "cannot read the schema version of", &e))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "the state database {} has schema version {version}, newer than this \
                     version of Parry understands ({known}); upgrade Parry or use another \
                     database",
                    path.display()
                ),
            ));
        }
        if version < known {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| io_error(&path, "cannot migrate", &e))?;
            // Another process may have migrated between the read above and this write lock.
            let version: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|e| io_error(&path, "cannot read the schema version of", &e))?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                tx.execute_batch(sql).map_err(|e| io_error(&path, "cannot migrate", &e))?;
                tx.pragma_update(None, "user_version", i as i64 + 1)
                    .map_err(|e| io_error(&path, "cannot migrate", &e))?;
            }
            tx.commit().map_err(|e| io_error(&path, "cannot migrate", &e))?;
        }
        // The checkpoint thread once the schema is in place (its connection reads none of it).
        let checkpointer = if path.as_os_str() == ":memory:" {
            None
        } else {
            Checkpointer::start(&path, durability.pragma())
        };
        if let Some(c) = &checkpointer {
            // The thread checkpoints; this connection only past four times as much WAL, if
            // the thread falls behind.
            set_autocheckpoint(&conn, 4 * WAL_CHECKPOINT_BYTES)
                .map_err(|e| io_error(&path, "cannot configure", &e))?;
            c.watch(&conn);
        }
        Ok(SqliteStore {
            checkpointer,
            conn: Mutex::new(conn),
            path,
            memory_leases: memory::Leases::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // rusqlite leaves the connection usable after a panic elsewhere; keep going.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| match e {
            rusqlite::Error::FromSqlConversionFailure(..) => corrupt(what, e),
            e => io_error(&self.path, &format!("cannot {what} in"), &e),
        }
    }
}

impl SqliteStore {
    /// Journals `intent` as an intent, or (with an outcome) as done or failed, on `conn`
    /// (the caller commits): replaces an earlier intent or failure of the same key, refuses
    /// a done one.
    fn insert_entry_on(
        &self,
        conn: &Connection,
        intent: &Intent,
        outcome: Option<(&Outcome, i64)>,
    ) -> StoreResult<i64> {
        const INSERT: &str = "INSERT INTO journal (run_id, site, indices, state, effect, connector, \
                              action, args, result, error, started_at, finished_at, approval_id) \
                              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                              ON CONFLICT (run_id, site, indices) DO NOTHING";
        let (state, result, error, finished_at) = match outcome {
            None => (EntryState::Intent, None, None, None),
            Some((Outcome::Returned(json), at)) => (EntryState::Done, Some(json.text()), None, Some(at)),
            Some((Outcome::Failed(message), at)) => {
                (EntryState::Failed, None, Some(message.as_str()), Some(at))
            }
        };
        let args = intent.args.text();
        let key = &intent.key;
        let insert = || -> Result<usize, rusqlite::Error> {
            conn.prepare_cached(INSERT).and_then(|mut st| {
                st.execute(params![
                    key.run_id,
                    key.site,
                    key.indices,
                    state.name(),
                    intent.names.effect(),
                    intent.names.connector(),
                    intent.names.action(),
                    args,
                    result,
                    error,
                    intent.started_at,
                    finished_at,
                    intent.approval_id
                ])
            })
        };
        // The usual case, a key never journaled: one statement.
        if insert().map_err(self.err("journal a call"))? == 1 {
            return Ok(conn.last_insert_rowid());
        }
        // A retry: look at the earlier entry and replace it.
        let existing: Option<String> = conn
            .prepare_cached("SELECT state FROM journal WHERE run_id = ?1 AND site = ?2 AND indices = ?3")
            .and_then(|mut st| st.query_row(params![key.run_id, key.site, key.indices], |row| row.get(0)))
            .optional()
            .map_err(self.err("journal a call"))?;
        match existing.as_deref() {
            Some("done") => {
                return Err(StoreError::conflict(format!(
                    "the call {key} is already journaled as done; it must not run again"
                )));
            }
            Some(_) => {
                conn.prepare_cached("DELETE FROM journal WHERE run_id = ?1 AND site = ?2 AND indices = ?3")
                    .and_then(|mut st| st.execute(params![key.run_id, key.site, key.indices]))
                    .map_err(self.err("journal a call"))?;
            }
            None => {}
        }
        if insert().map_err(self.err("journal a call"))? != 1 {
            return Err(StoreError::new(
                StoreErrorKind::Io,
                format!("the call {key} could not be journaled in {}; try again", self.path.display()),
            ));
        }
        Ok(conn.last_insert_rowid())
    }

    /// [`SqliteStore::insert_entry_on`] in a transaction of its own: one commit.
    fn insert_entry(&self, intent: &Intent, outcome: Option<(&Outcome, i64)>) -> StoreResult<i64> {
        self.in_transaction("journal a call", |conn| self.insert_entry_on(conn, intent, outcome))
    }

    /// Runs `f` in one immediate transaction: committed when `f` succeeds, rolled back
    /// (nothing recorded) when it fails.
    fn in_transaction<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = self.lock();
        // `BEGIN` and `COMMIT` as cached statements: a run commits once per effectful call,
        // and `Connection::transaction` parses both texts every time.
        run_cached(&conn, "BEGIN IMMEDIATE").map_err(self.err(what))?;
        let open = OpenTransaction(&conn);
        let value = f(&conn)?;
        run_cached(&conn, "COMMIT").map_err(self.err(what))?;
        std::mem::forget(open);
        Ok(value)
    }

    /// Completes the intent journaled for `key`, on `conn` (the caller commits).
    fn complete_on(
        &self,
        conn: &Connection,
        key: &CallKey,
        outcome: &Outcome,
        finished_at: i64,
    ) -> StoreResult<()> {
        let (state, result, error) = match outcome {
            Outcome::Returned(json) => (EntryState::Done, Some(json.text()), None),
            Outcome::Failed(message) => (EntryState::Failed, None, Some(message.as_str())),
        };
        let changed = conn
            .prepare_cached(
                "UPDATE journal SET state = ?4, result = ?5, error = ?6, finished_at = ?7 \
                 WHERE run_id = ?1 AND site = ?2 AND indices = ?3 AND state = 'intent'",
            )
            .and_then(|mut st| {
                st.execute(params![
                    key.run_id,
                    key.site,
                    key.indices,
                    state.name(),
                    result,
                    error,
                    finished_at
                ])
            })
            .map_err(self.err("complete a journaled call"))?;
        if changed == 1 {
            return Ok(());
        }
        let current: Option<String> = conn
            .prepare_cached("SELECT state FROM journal WHERE run_id = ?1 AND site = ?2 AND indices = ?3")
            .and_then(|mut st| st.query_row(params![key.run_id, key.site, key.indices], |row| row.get(0)))
            .optional()
            .map_err(self.err("complete a journaled call"))?;
        Err(match current {
            Some(state) => StoreError::conflict(format!("the call {key} is already journaled as {state}")),
            None => StoreError::not_found(format!("no intent is journaled for the call {key}")),
        })
    }

    fn write_journal_on(&self, conn: &Connection, writes: &[JournalWrite]) -> StoreResult<()> {
        for w in writes {
            match w {
                JournalWrite::Done { intent, outcome, finished_at } => {
                    self.insert_entry_on(conn, intent, Some((outcome, *finished_at)))?;
                }
                JournalWrite::Complete { key, outcome, finished_at } => {
                    self.complete_on(conn, key, outcome, *finished_at)?;
                }
                JournalWrite::Intent(intent) => {
                    self.insert_entry_on(conn, intent, None)?;
                }
            }
        }
        Ok(())
    }

    fn update_run_on(&self, conn: &Connection, run_id: &str, update: &RunUpdate) -> StoreResult<()> {
        let changed = match run_rowid(run_id) {
            Some(rowid) => conn
                .prepare_cached(
                    "UPDATE runs SET status = ?2, disposition = ?3, error = ?4, updated_at = ?5 \
                     WHERE id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        rowid,
                        update.status.name(),
                        update.disposition,
                        update.error,
                        update.updated_at
                    ])
                })
                .map_err(self.err("update a run"))?,
            None => 0,
        };
        if changed == 0 {
            return Err(StoreError::not_found(format!("there is no run {run_id}")));
        }
        Ok(())
    }

    fn save_case_on(&self, conn: &Connection, run_id: &str, body: &str) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO cases (run_id, body) VALUES (?1, ?2) \
             ON CONFLICT (run_id) DO UPDATE SET body = excluded.body",
        )
        .and_then(|mut st| st.execute(params![run_id, body]))
        .map_err(self.err("save a case"))?;
        Ok(())
    }
}

const RUN_COLUMNS: &str =
    "id, playbook, playbook_hash, alert, status, disposition, error, created_at, updated_at";
const ENTRY_COLUMNS: &str = "seq, run_id, site, indices, state, effect, connector, action, args, \
                             result, error, started_at, finished_at, approval_id";
const APPROVAL_COLUMNS: &str = "id, run_id, key, prompt, grp, requested_at, expires_at, status, \
                                decided_by, decided_at";

impl Store for SqliteStore {
    fn create_run(&self, run: &NewRun) -> StoreResult<RunRecord> {
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT INTO runs (playbook, playbook_hash, alert, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .and_then(|mut st| {
            st.execute(params![
                run.playbook,
                run.playbook_hash,
                to_text(&run.alert),
                RunStatus::Running.name(),
                run.created_at
            ])
        })
        .map_err(self.err("record a run"))?;
        Ok(run.record(conn.last_insert_rowid().to_string()))
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        let Some(rowid) = run_rowid(run_id) else { return Ok(None) };
        self.lock()
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
            .and_then(|mut st| st.query_row([rowid], run_from_row))
            .optional()
            .map_err(self.err("read a run"))
    }

    fn update_run(&self, run_id: &str, update: &RunUpdate) -> StoreResult<()> {
        self.update_run_on(&self.lock(), run_id, update)
    }

    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs \
                 WHERE (?1 IS NULL OR playbook = ?1) AND (?2 IS NULL OR status = ?2) \
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(self.err("list runs"))?;
        let limit = filter.limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = stmt
            .query_map(params![filter.playbook, filter.status.map(RunStatus::name), limit], run_from_row)
            .map_err(self.err("list runs"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("list runs"))
    }

    fn lease_run(&self, run_id: &str) -> StoreResult<Option<RunLease>> {
        let Some(dir) = self.path.parent().filter(|_| self.path != Path::new(":memory:")) else {
            return Ok(self.memory_leases.take(run_id));
        };
        let locks = dir.join("locks");
        let io = |what: &str, e: std::io::Error| {
            StoreError::new(StoreErrorKind::Io, format!("cannot {what} {}: {e}", locks.display()))
        };
        std::fs::create_dir_all(&locks).map_err(|e| io("create the lock directory", e))?;
        let path = locks.join(format!("run-{run_id}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("open a lock file in", e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLease::new(FileLease { path, file }))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io("lock a file in", e)),
        }
    }

    fn claim_run(&self, run_id: &str, from: RunStatus, at: i64) -> StoreResult<bool> {
        let Some(rowid) = run_rowid(run_id) else {
            return Err(StoreError::not_found(format!("there is no run {run_id}")));
        };
        let conn = self.lock();
        let changed = conn
            .prepare_cached("UPDATE runs SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2")
            .and_then(|mut st| st.execute(params![rowid, from.name(), RunStatus::Running.name(), at]))
            .map_err(self.err("update a run"))?;
        if changed == 1 {
            return Ok(true);
        }
        let exists = conn
            .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")
            .and_then(|mut st| st.exists([rowid]))
            .map_err(self.err("read a run"))?;
        if exists { Ok(false) } else { Err(StoreError::not_found(format!("there is no run {run_id}"))) }
    }

    fn record_intent(&self, intent: &Intent) -> StoreResult<i64> {
        self.insert_entry(intent, None)
    }

    fn record_done(&self, intent: &Intent, outcome: &Outcome, finished_at: i64) -> StoreResult<i64> {
        self.insert_entry(intent, Some((outcome, finished_at)))
    }

    fn complete(&self, key: &CallKey, outcome: &Outcome, finished_at: i64) -> StoreResult<()> {
        self.complete_on(&self.lock(), key, outcome, finished_at)
    }

    fn write_journal(&self, writes: Vec<JournalWrite>) -> StoreResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.in_transaction("journal calls", |conn| self.write_journal_on(conn, &writes))
    }

    fn write_journal_from(&self, writes: &mut Vec<JournalWrite>) -> StoreResult<()> {
        let result = if writes.is_empty() {
            Ok(())
        } else {
            self.in_transaction("journal calls", |conn| self.write_journal_on(conn, writes))
        };
        writes.clear();
        result
    }

    fn finish_run(
        &self,
        run_id: &str,
        writes: Vec<JournalWrite>,
        update: &RunUpdate,
        case: &Arc<Case>,
    ) -> StoreResult<()> {
        let body = case_text(case)?;
        self.in_transaction("finish a run", |conn| {
            self.write_journal_on(conn, &writes)?;
            self.update_run_on(conn, run_id, update)?;
            self.save_case_on(conn, run_id, &body)
        })
    }

    fn journal_entry(&self, key: &CallKey) -> StoreResult<Option<JournalEntry>> {
        self.lock()
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM journal \
                     WHERE run_id = ?1 AND site = ?2 AND indices = ?3"
            ))
            .and_then(|mut st| st.query_row(params![key.run_id, key.site, key.indices], entry_from_row))
            .optional()
            .map_err(self.err("read the journal"))
    }

    fn journal(&self, run_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM journal WHERE run_id = ?1 ORDER BY seq"))
            .map_err(self.err("read the journal"))?;
        let rows = stmt.query_map([run_id], entry_from_row).map_err(self.err("read the journal"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("read the journal"))
    }

    fn unfinished_intents(&self, run_id: Option<&str>) -> StoreResult<Vec<JournalEntry>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM journal \
                 WHERE state = 'intent' AND (?1 IS NULL OR run_id = ?1) ORDER BY seq"
            ))
            .map_err(self.err("read the journal"))?;
        let rows = stmt.query_map([run_id], entry_from_row).map_err(self.err("read the journal"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("read the journal"))
    }

    fn journal_value(&self, run_id: &str, key: &str, value: &Json) -> StoreResult<Json> {
        let conn = self.lock();
        conn.prepare_cached("INSERT OR IGNORE INTO journal_values (run_id, key, value) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![run_id, key, to_text(value)]))
            .map_err(self.err("journal a value"))?;
        let text: String = conn
            .prepare_cached("SELECT value FROM journal_values WHERE run_id = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![run_id, key], |row| row.get(0)))
            .map_err(self.err("journal a value"))?;
        serde_json::from_str(&text).map_err(|e| corrupt("a journaled value that is not JSON", e))
    }

    fn journaled_value(&self, run_id: &str, key: &str) -> StoreResult<Option<Json>> {
        let text: Option<String> = self
            .lock()
            .prepare_cached("SELECT value FROM journal_values WHERE run_id = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![run_id, key], |row| row.get(0)))
            .optional()
            .map_err(self.err("read a journaled value"))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("a journaled value that is not JSON", e)))
            .transpose()
    }

    fn add_approval(&self, approval: &NewApproval) -> StoreResult<ApprovalRow> {
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT OR IGNORE INTO approvals (run_id, key, prompt, grp, requested_at, expires_at, \
             status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
        )
        .and_then(|mut st| {
            st.execute(params![
                approval.run_id,
                approval.key,
                approval.prompt,
                approval.group,
                approval.requested_at,
                approval.expires_at
            ])
        })
        .map_err(self.err("record an approval"))?;
        conn.prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE run_id = ?1 AND key = ?2"
        ))
        .and_then(|mut st| st.query_row(params![approval.run_id, approval.key], approval_from_row))
        .map_err(self.err("record an approval"))
    }

    fn get_approval(&self, id: i64) -> StoreResult<Option<ApprovalRow>> {
        self.lock()
            .prepare_cached(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], approval_from_row))
            .optional()
            .map_err(self.err("read an approval"))
    }

    fn approval_by_key(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRow>> {
        self.lock()
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE run_id = ?1 AND key = ?2"
            ))
            .and_then(|mut st| st.query_row(params![run_id, key], approval_from_row))
            .optional()
            .map_err(self.err("read an approval"))
    }

    fn decide_approval(&self, id: i64, decision: &Decision) -> StoreResult<ApprovalRow> {
        let what = "decide an approval";
        let current = self.in_transaction(what, |conn| {
            let current = conn
                .prepare_cached(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"))
                .and_then(|mut st| st.query_row([id], approval_from_row))
                .optional()
                .map_err(self.err(what))?
                .ok_or_else(|| StoreError::not_found(format!("there is no approval {id}")))?;
            check_decision(&current, decision)?;
            conn.prepare_cached(
                "UPDATE approvals SET status = ?2, decided_by = ?3, decided_at = ?4 \
                 WHERE id = ?1 AND status = 'pending'",
            )
            .and_then(|mut st| {
                st.execute(params![id, decision.status.name(), decision.decided_by, decision.decided_at])
            })
            .map_err(self.err(what))?;
            Ok(current)
        })?;
        Ok(ApprovalRow {
            status: decision.status,
            decided_by: decision.decided_by.clone(),
            decided_at: Some(decision.decided_at),
            ..current
        })
    }

    fn list_approvals(&self, filter: &ApprovalFilter) -> StoreResult<Vec<ApprovalRow>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals \
                 WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY id"
            ))
            .map_err(self.err("list approvals"))?;
        let rows = stmt
            .query_map(params![filter.run_id, filter.status.map(ApprovalStatus::name)], approval_from_row)
            .map_err(self.err("list approvals"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("list approvals"))
    }

    fn save_case(&self, run_id: &str, case: &Json) -> StoreResult<()> {
        self.save_case_on(&self.lock(), run_id, &to_text(case))
    }

    fn load_case(&self, run_id: &str) -> StoreResult<Option<Json>> {
        let text: Option<String> = self
            .lock()
            .prepare_cached("SELECT body FROM cases WHERE run_id = ?1")
            .and_then(|mut st| st.query_row([run_id], |row| row.get(0)))
            .optional()
            .map_err(self.err("read a case"))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("a case that is not JSON", e))).transpose()
    }

    fn claim_undo(&self, run_id: &str, seq: i64, at: i64) -> StoreResult<bool> {
        let changed = self
            .lock()
            .prepare_cached(
                "INSERT OR IGNORE INTO undo_log (run_id, seq, undone_at, state) VALUES (?1, ?2, ?3, 'started')",
            )
            .and_then(|mut st| st.execute(params![run_id, seq, at]))
            .map_err(self.err("record an undo"))?;
        Ok(changed == 1)
    }

    fn settle_undo(&self, run_id: &str, seq: i64, done: bool, at: i64) -> StoreResult<()> {
        let conn = self.lock();
        let changed = if done {
            conn.prepare_cached(
                "UPDATE undo_log SET state = 'undone', undone_at = ?3 \
                 WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
            )
            .and_then(|mut st| st.execute(params![run_id, seq, at]))
        } else {
            conn.prepare_cached("DELETE FROM undo_log WHERE run_id = ?1 AND seq = ?2 AND state = 'started'")
                .and_then(|mut st| st.execute(params![run_id, seq]))
        }
        .map_err(self.err("record an undo"))?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("no undo of entry {seq} of run {run_id} was started")));
        }
        Ok(())
    }

    fn undo_log(&self, run_id: &str) -> StoreResult<Vec<(i64, UndoState)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT seq, state FROM undo_log WHERE run_id = ?1 ORDER BY seq")
            .map_err(self.err("read the undo log"))?;
        let rows = stmt
            .query_map([run_id], |row| {
                let name: String = row.get(1)?;
                let state = [UndoState::Started, UndoState::Done]
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| bad_enum("undo state", &name))?;
                Ok((row.get(0)?, state))
            })
            .map_err(self.err("read the undo log"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("read the undo log"))
    }

    fn stats(&self) -> StoreResult<Vec<StatRow>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT playbook, disposition, COUNT(*) FROM runs \
                 GROUP BY playbook, disposition ORDER BY playbook, disposition",
            )
            .map_err(self.err("compute statistics"))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StatRow {
                    playbook: row.get(0)?,
                    disposition: row.get(1)?,
                    count: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .map_err(self.err("compute statistics"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err("compute statistics"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::suite;
    use super::*;
    use serde_json::json;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!("parry-store-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A batch that fails part-way is rolled back whole, and the next one commits.
    #[test]
    fn a_failed_batch_records_nothing_and_the_next_commits() {
        let store = SqliteStore::open_in_memory().unwrap();
        let run = store.create_run(&suite::new_run("p", 1)).unwrap();
        let intent = |site: &str| suite::intent(&run.id, site, "", "write");
        let failed = store.write_journal(vec![
            JournalWrite::Intent(intent("s1")),
            JournalWrite::Complete {
                key: CallKey::new(&run.id, "never-started", ""),
                outcome: Outcome::Returned(json!(null).into()),
                finished_at: 3,
            },
        ]);
        assert_eq!(failed.unwrap_err().kind, StoreErrorKind::NotFound);
        assert!(store.journal(&run.id).unwrap().is_empty(), "the first write of the batch was kept");
        store.write_journal(vec![JournalWrite::Intent(intent("s1"))]).unwrap();
        assert_eq!(store.journal(&run.id).unwrap().len(), 1);
    }

    /// Waits up to 10 s for the store's checkpoint thread to have completed `n` checkpoints.
    fn wait_for_checkpoints(store: &SqliteStore, n: u64) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if store.checkpointer.as_ref().is_some_and(|c| c.completed() >= n) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The WAL is copied back by the checkpoint thread, both after a pause and after many
    /// commits; the store's own connection keeps only a safety limit; at close the WAL goes.
    #[test]
    fn the_wal_is_checkpointed_on_a_thread_of_its_own() {
        let dir = TempDir::new("checkpoint");
        let path = dir.0.join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        assert!(SqliteStore::open_in_memory().unwrap().checkpointer.is_none());
        let limit: i64 = store.lock().pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0)).unwrap();
        assert_eq!(limit, 4 * WAL_CHECKPOINT_BYTES / 1024);
        let run = store.create_run(&suite::new_run("p", 1)).unwrap();
        assert!(wait_for_checkpoints(&store, 1), "no checkpoint a second after one commit");
        let commits = super::super::checkpoint::EVERY_COMMITS;
        for i in 0..commits {
            store.record_intent(&suite::intent(&run.id, "s", &i.to_string(), "write")).unwrap();
        }
        assert!(wait_for_checkpoints(&store, 2), "no checkpoint after {commits} commits");
        drop(store);
        let wal = dir.0.join("state.db-wal");
        assert!(!wal.exists(), "the WAL outlived the store: its last connection did not close last");
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.journal(&run.id).unwrap().len() as u64, commits);
    }

    #[test]
    fn sqlite_in_memory_passes_the_suite() {
        super::super::suite::all(&|| Box::new(SqliteStore::open_in_memory().unwrap()));
    }

    #[test]
    fn sqlite_file_passes_the_suite() {
        let dir = TempDir::new("suite");
        let counter = std::sync::atomic::AtomicUsize::new(0);
        super::super::suite::all(&|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::new(SqliteStore::open(&dir.0.join(format!("s{n}.db"))).unwrap())
        });
    }

    #[test]
    fn a_version_1_database_is_migrated_and_its_undo_log_kept() {
        let dir = TempDir::new("migrate");
        let path = dir.0.join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO undo_log (run_id, seq, undone_at) VALUES ('4', 9, 100)", []).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.undo_log("4").unwrap(), vec![(9, UndoState::Done)]);
        assert!(!store.claim_undo("4", 9, 200).unwrap());
        assert!(store.claim_undo("4", 10, 200).unwrap());
    }

    #[test]
    fn a_version_2_database_is_rebuilt_with_its_rows_and_counters() {
        let dir = TempDir::new("migrate3");
        let path = dir.0.join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                "INSERT INTO journal (run_id, site, indices, state, effect, connector, action, args, \
                 started_at) VALUES ('1', 's1', '', 'done', 'read', 'c', 'a', '{}', 10), \
                 ('1', 's2', '[0]', 'intent', 'write', 'c', 'b', '{}', 11), \
                 ('1', 's3', '', 'failed', 'read', 'c', 'a', '{}', 12); \
                 DELETE FROM journal WHERE site = 's3'; \
                 INSERT INTO approvals (run_id, key, prompt, requested_at, expires_at, status) \
                 VALUES ('1', 'k', 'Purge?', 5, 50, 'pending'), ('1', 'k2', 'Wipe?', 6, 60, 'denied'); \
                 DELETE FROM approvals WHERE key = 'k2';",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.lock();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let rows: Vec<(i64, String, String)> = conn
            .prepare("SELECT seq, site, state FROM journal ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [(1, "s1".to_string(), "done".to_string()), (2, "s2".to_string(), "intent".to_string())]
        );
        // The counters survive: a deleted row's number is not given out again.
        let counters: Vec<(String, i64)> = conn
            .prepare("SELECT name, seq FROM sqlite_sequence ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(counters, [("approvals".to_string(), 2), ("journal".to_string(), 3)]);
        let status: String =
            conn.query_row("SELECT status FROM approvals WHERE id = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(status, "pending");
        // The checks still hold, and no longer build a temporary index per row.
        assert!(conn.execute("UPDATE journal SET state = 'maybe' WHERE seq = 1", []).is_err());
        assert!(conn.execute("UPDATE approvals SET status = 'later' WHERE id = 1", []).is_err());
        for table in ["journal", "approvals"] {
            let column = if table == "journal" { "state" } else { "status" };
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN UPDATE {table} SET {column} = ?1"))
                .unwrap()
                .query_map(["granted"], |r| r.get(1))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!plan.iter().any(|op| op == "OpenEphemeral"), "{table}: {plan:?}");
        }
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' \
                 AND name IN ('journal_open', 'approvals_status')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 2);
        // Migration 4: the calls without an outcome are found through an index of them alone.
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT seq FROM journal \
                 WHERE state = 'intent' AND (?1 IS NULL OR run_id = ?1) ORDER BY seq",
            )
            .unwrap()
            .query_map([None::<String>], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("journal_open")), "{plan:?}");
        drop(conn);
        let open: Vec<String> =
            store.unfinished_intents(None).unwrap().into_iter().map(|e| e.key.site.to_string()).collect();
        assert_eq!(open, ["s2"]);
    }

    #[test]
    fn a_run_lease_is_exclusive_across_handles_and_given_back() {
        let dir = TempDir::new("lease");
        let path = dir.0.join("state.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        let held = a.lease_run("7").unwrap().unwrap();
        assert!(b.lease_run("7").unwrap().is_none(), "another handle (as another process) is refused");
        assert!(a.lease_run("7").unwrap().is_none(), "and so is the same handle");
        assert!(b.lease_run("8").unwrap().is_some(), "other runs are free");
        drop(held);
        assert!(!dir.0.join("locks/run-7.lock").exists(), "the lock file is removed");
        assert!(b.lease_run("7").unwrap().is_some());
        let memory = SqliteStore::open_in_memory().unwrap();
        let m = memory.lease_run("1").unwrap();
        assert!(m.is_some() && memory.lease_run("1").unwrap().is_none());
    }

    #[test]
    fn data_survives_reopening() {
        let dir = TempDir::new("reopen");
        let path = default_path(&dir.0);
        assert!(path.ends_with(".parry/state.db"));
        let (run_id, approval_id) = {
            let store = SqliteStore::open(&path).unwrap();
            let run = store
                .create_run(&NewRun {
                    playbook: "phishing".into(),
                    playbook_hash: "abc".into(),
                    alert: json!({"sender": "bob@evil.example"}),
                    created_at: 1,
                })
                .unwrap();
            store
                .record_intent(&Intent {
                    key: CallKey::new(&run.id, "playbook:phishing/2", ""),
                    names: crate::engine::CallNames::new("mail", "purge", "destructive"),
                    args: json!({"message": "m1"}).into(),
                    started_at: 2,
                    approval_id: None,
                })
                .unwrap();
            let approval = store
                .add_approval(&NewApproval {
                    run_id: run.id.clone(),
                    key: "playbook:phishing/1/approve".into(),
                    prompt: "Purge?".into(),
                    group: Some("soc".into()),
                    requested_at: 1,
                    expires_at: 100,
                })
                .unwrap();
            store.save_case(&run.id, &json!({"notes": ["x"]})).unwrap();
            store.journal_value(&run.id, "now@1", &json!(123)).unwrap();
            (run.id, approval.id)
        };
        assert!(path.exists());
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_run(&run_id).unwrap().unwrap().playbook_hash, "abc");
        let crashed = store.unfinished_intents(None).unwrap();
        assert_eq!(crashed.len(), 1);
        assert_eq!(crashed[0].action, "purge");
        assert_eq!(store.get_approval(approval_id).unwrap().unwrap().status, ApprovalStatus::Pending);
        assert_eq!(store.load_case(&run_id).unwrap(), Some(json!({"notes": ["x"]})));
        assert_eq!(store.journaled_value(&run_id, "now@1").unwrap(), Some(json!(123)));
        // A second connection sees the first one's writes (as `parry approve` does while a
        // worker runs).
        let other = SqliteStore::open(&path).unwrap();
        other
            .decide_approval(
                approval_id,
                &Decision { status: ApprovalStatus::Denied, decided_by: Some("bob".into()), decided_at: 5 },
            )
            .unwrap();
        assert_eq!(store.get_approval(approval_id).unwrap().unwrap().status, ApprovalStatus::Denied);
    }

    #[test]
    fn shared_between_threads_and_processes() {
        let dir = TempDir::new("threads");
        let path = dir.0.join("state.db");
        let first = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        let run = first
            .create_run(&NewRun {
                playbook: "p".into(),
                playbook_hash: "h".into(),
                alert: json!({}),
                created_at: 0,
            })
            .unwrap();
        let mut handles = Vec::new();
        for t in 0..4 {
            // Two threads share one store; two open their own connection, as another
            // process would.
            let store: std::sync::Arc<SqliteStore> = if t % 2 == 0 {
                first.clone()
            } else {
                std::sync::Arc::new(SqliteStore::open(&path).unwrap())
            };
            let run_id = run.id.clone();
            handles.push(std::thread::spawn(move || {
                for i in 0..10 {
                    let key = CallKey::new(&run_id, &format!("site{t}"), &i.to_string());
                    store
                        .record_intent(&Intent {
                            key: key.clone(),
                            names: crate::engine::CallNames::new("ticket", "comment", "write"),
                            args: json!({"i": i}).into(),
                            started_at: i,
                            approval_id: None,
                        })
                        .unwrap();
                    store.complete(&key, &Outcome::Returned(json!(i).into()), i + 1).unwrap();
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let entries = first.journal(&run.id).unwrap();
        assert_eq!(entries.len(), 40);
        assert!(entries.iter().all(|e| e.state == EntryState::Done));
        assert!(first.unfinished_intents(None).unwrap().is_empty());
    }

    #[test]
    fn concurrent_first_opens_migrate_once() {
        let dir = TempDir::new("migrate");
        let path = dir.0.join("state.db");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store.lock().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn newer_schema_is_refused_and_wal_is_on() {
        let dir = TempDir::new("schema");
        let path = dir.0.join("state.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let conn = store.lock();
            let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
            let expected = match Durability::from_env().unwrap() {
                Durability::ProcessCrash => 1,
                Durability::PowerLoss => 2,
            };
            assert_eq!(sync, expected, "synchronous = NORMAL unless PARRY_STATE_SYNC=full");
            let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0)).unwrap();
            assert_eq!(page, 1024, "a new database has 1 KiB pages");
            let checkpoint: i64 = conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0)).unwrap();
            assert_eq!(checkpoint, 4 * 10 * 1024, "the safety limit: a thread checkpoints every ~10 MB");
            let limit: i64 = conn.pragma_query_value(None, "journal_size_limit", |r| r.get(0)).unwrap();
            assert_eq!(limit, 64 * 1024 * 1024);
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let Err(e) = SqliteStore::open(&path) else { panic!("a newer schema must be refused") };
        assert_eq!(e.kind, StoreErrorKind::Corrupt);
        assert!(e.message.contains("schema version 99"), "{}", e.message);
    }

    #[test]
    fn durability_sets_synchronous() {
        let dir = TempDir::new("sync");
        for (durability, expected) in [(Durability::ProcessCrash, 1), (Durability::PowerLoss, 2)] {
            let path = dir.0.join(format!("{durability:?}.db"));
            let store = SqliteStore::open_with(&path, durability).unwrap();
            let sync: i64 = store.lock().pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
            assert_eq!(sync, expected, "{durability:?}");
            let mode: String = store.lock().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
        }
        assert_eq!(Durability::from_name("full"), Some(Durability::PowerLoss));
        assert_eq!(Durability::from_name(" FULL "), Some(Durability::PowerLoss));
        assert_eq!(Durability::from_name("normal"), Some(Durability::ProcessCrash));
        assert_eq!(Durability::from_name("off"), None);
        assert_eq!(Durability::default(), Durability::ProcessCrash);
    }

    #[test]
    fn corrupt_json_is_reported_not_panicked() {
        let store = SqliteStore::open_in_memory().unwrap();
        store.lock().execute("INSERT INTO cases (run_id, body) VALUES ('1', '{oops')", []).unwrap();
        let e = store.load_case("1").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Corrupt);
        store
            .lock()
            .execute(
                "INSERT INTO runs (playbook, playbook_hash, alert, status, created_at, updated_at) \
                 VALUES ('p', 'h', '{}', 'bogus', 1, 1)",
                [],
            )
            .unwrap();
        let e = store.get_run("1").unwrap_err();
        assert_eq!(e.kind, StoreErrorKind::Corrupt, "{}", e.message);
    }

    #[test]
    fn unopenable_path_is_an_io_error() {
        let dir = TempDir::new("bad");
        let file = dir.0.join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let Err(e) = SqliteStore::open(&file.join("state.db")) else { panic!("must fail") };
        assert_eq!(e.kind, StoreErrorKind::Io);
        assert!(e.message.contains("plain-file"), "{}", e.message);
    }
}
