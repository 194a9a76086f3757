//! File helpers shared by the embedded connectors: atomic replacement, appends, and
//! locks so concurrent calls — in this process or in another `parry` process — never
//! interleave a read-modify-write.

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use super::ConnectorError;

static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The process-wide lock of one file. Hold the returned guard's lock for the whole
/// read-modify-write.
pub(crate) fn file_lock(path: &Path) -> Arc<Mutex<()>> {
    let mut locks = LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(locks.entry(path.to_path_buf()).or_default())
}

/// Lock a file lock, ignoring poisoning: the protected data is the file, which is only
/// ever replaced atomically, so a panicking holder cannot leave it half-written.
pub(crate) fn hold(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lock a file against other processes for as long as the returned handle lives, through
/// a sidecar `.NAME.lock` beside it (the file itself is replaced by rename, so it cannot
/// carry the lock). Take the in-process [`file_lock`] first. Best effort: where the
/// sidecar cannot be created (a read-only or missing directory) this returns `None` and
/// only the in-process lock applies.
pub(crate) fn process_lock(path: &Path) -> Option<fs::File> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name()?.to_string_lossy();
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!(".{name}.lock")))
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

/// Read a file as text; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, ConnectorError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ConnectorError::io("read", path, &err)),
    }
}

/// Replace a file's content atomically: write a temporary file beside it, flush it to
/// disk, then rename it over the original. Creates missing parent directories.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> Result<(), ConnectorError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| ConnectorError::io("create directory", dir, &e))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    result.map_err(|err| {
        // Best effort: the temporary file is garbage whatever happened.
        let _ = fs::remove_file(&temp);
        ConnectorError::io("write", path, &err)
    })
}

/// Append one line to a file, creating it and its directory when missing.
pub(crate) fn append_line(path: &Path, line: &str) -> Result<(), ConnectorError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| ConnectorError::io("create directory", dir, &e))?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ConnectorError::io("open", path, &e))?;
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    // One write call: with O_APPEND, lines from concurrent writers do not interleave.
    file.write_all(&bytes).map_err(|e| ConnectorError::io("append to", path, &e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/list.txt");
        write_atomic(&path, b"one\n").unwrap();
        write_atomic(&path, b"two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert_eq!(read_optional(&dir.path().join("nope")).unwrap(), None);
        append_line(&path, "three").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\nthree\n");
    }

    #[test]
    fn the_process_lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let held = process_lock(&path).unwrap();
        let other = fs::OpenOptions::new().write(true).open(dir.path().join(".state.json.lock")).unwrap();
        assert!(other.try_lock().is_err(), "a second holder must wait");
        drop(held);
        assert!(other.try_lock().is_ok());
        assert!(process_lock(&dir.path().join("missing/dir/file")).is_none());
    }
}
