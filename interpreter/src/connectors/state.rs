//! `state`: the `edr` and `identity` connectors on a local JSON state file.
//!
//! The file describes the estate and the connectors change it the way the real product
//! would (`isolated`, `enabled`, `sessions`, ...); every change is also appended to the
//! file's `history`. Each call reads, changes and atomically replaces the file while
//! holding that file's lock, so concurrent calls never lose an update.
//!
//! ```json
//! { "hosts": [ { "id": "dev-7", "name": "fin-ws-042", "os": "windows", "address": "10.1.4.42",
//!                "critical": false, "isolated": false, "last_seen": "2026-11-27T08:00:00Z",
//!                "last_user": "jdoe", "tags": [],
//!                "processes": [ { "pid": 4242, "name": "invoice.exe", "path": "C:\\...",
//!                                 "command_line": "...", "sha256": "...", "user": "jdoe",
//!                                 "parent_pid": 3100 } ],
//!                "files": [ { "sha256": "...", "path": "C:\\...", "seen": "...",
//!                             "quarantined": false } ] } ],
//!   "users": [ { "name": "jdoe", "email": "jdoe@corp.example", "display_name": "J. Doe",
//!                "enabled": true, "privileged": false, "mfa_enabled": true,
//!                "groups": ["finance"], "sessions": 3, "last_sign_in": "..." } ],
//!   "sign_ins": [ { "at": "...", "name": "jdoe", "source_ip": "203.0.113.50",
//!                   "country": "NL", "application": "vpn", "success": false,
//!                   "failure_reason": "bad_password" } ] }
//! ```

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::args::{ArgReader, now_rfc3339, now_secs, parse_time};
use super::config::Config;
use super::fsutil::{file_lock, hold, process_lock, read_optional, write_atomic};
use super::indicator;
use super::{Args, ConnectorError, Native};

type Object = Map<String, Value>;

struct StateFile {
    path: PathBuf,
}

impl StateFile {
    fn load(&self) -> Result<Object, ConnectorError> {
        let Some(text) = read_optional(&self.path)? else {
            return Ok(Object::new());
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.corrupt("the top level is not an object")),
            Err(err) => Err(self.corrupt(&err.to_string())),
        }
    }

    fn corrupt(&self, why: &str) -> ConnectorError {
        ConnectorError::new(
            "invalid_state",
            format!("state file {} is not valid: {why}; fix it or remove it", self.path.display()),
            false,
        )
    }

    fn read<R>(&self, f: impl FnOnce(&Object) -> Result<R, ConnectorError>) -> Result<R, ConnectorError> {
        let lock = file_lock(&self.path);
        let _guard = hold(&lock);
        let _os_lock = process_lock(&self.path);
        f(&self.load()?)
    }

    /// Change the state; `f` returns the call's result and a history entry when it
    /// changed something (the file is then rewritten).
    fn update<R>(
        &self,
        f: impl FnOnce(&mut Object) -> Result<(R, Option<Value>), ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let lock = file_lock(&self.path);
        let _guard = hold(&lock);
        let _os_lock = process_lock(&self.path);
        let mut state = self.load()?;
        let (result, history) = f(&mut state)?;
        if let Some(entry) = history {
            with_list(&mut state, "history", |items| items.push(entry));
            let text = serde_json::to_string_pretty(&state).map_err(|e| self.corrupt(&e.to_string()))?;
            write_atomic(&self.path, format!("{text}\n").as_bytes())?;
        }
        Ok(result)
    }
}

fn history(connector: &str, action: &str, target: &str, detail: Option<&str>) -> Value {
    let mut entry =
        json!({ "at": now_rfc3339(), "action": format!("{connector}.{action}"), "target": target });
    if let (Some(d), Value::Object(map)) = (detail, &mut entry) {
        map.insert("comment".into(), json!(d));
    }
    entry
}

/// Work on the list under `key`, created when missing (anything else there is replaced).
fn with_list<R>(obj: &mut Object, key: &str, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
    let mut items = match obj.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let result = f(&mut items);
    obj.insert(key.into(), Value::Array(items));
    result
}

fn list<'a>(state: &'a Object, key: &str) -> &'a [Value] {
    state.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn s<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn field(obj: &Value, key: &str, default: Value) -> Value {
    obj.get(key).filter(|v| !v.is_null()).cloned().unwrap_or(default)
}

fn within(at: Option<&str>, since_secs: i64) -> bool {
    match at.and_then(parse_time) {
        Some(t) => t >= now_secs().saturating_sub(since_secs),
        None => false,
    }
}

/// Host names compare case-insensitively, and a short name matches its FQDN.
fn same_host(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    a == b || a.split('.').next() == Some(b.as_str()) || b.split('.').next() == Some(a.as_str())
}

// ---------------------------------------------------------------------------------------
// edr

pub(crate) struct Edr {
    name: String,
    file: StateFile,
}

const EDR_ACTIONS: &[&str] = &[
    "get_host",
    "find_hosts_by_hash",
    "list_processes",
    "isolate_host",
    "release_host",
    "kill_process",
    "quarantine_file",
    "restore_file",
    "block_hash",
    "allow_hash",
    "run_scan",
    "wipe_host",
];

fn host_record(h: &Value) -> Value {
    let name = field(h, "name", json!(""));
    json!({
        "id": field(h, "id", name.clone()),
        "name": name,
        "os": field(h, "os", json!("unknown")),
        "address": field(h, "address", Value::Null),
        "critical": field(h, "critical", json!(false)),
        "isolated": field(h, "isolated", json!(false)),
        "last_seen": field(h, "last_seen", Value::Null),
        "last_user": field(h, "last_user", Value::Null),
        "tags": field(h, "tags", json!([])),
    })
}

fn process_record(p: &Value) -> Value {
    json!({
        "pid": field(p, "pid", json!(0)),
        "name": field(p, "name", json!("")),
        "path": field(p, "path", json!("")),
        "command_line": field(p, "command_line", json!("")),
        "sha256": field(p, "sha256", Value::Null),
        "user": field(p, "user", Value::Null),
        "parent_pid": field(p, "parent_pid", Value::Null),
    })
}

impl Edr {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("state", &["file"])?;
        Ok(Edr {
            name: cfg.name.to_owned(),
            file: StateFile { path: cfg.path("file", ".parry/edr-state.json")? },
        })
    }

    fn no_host(&self, r: &ArgReader<'_>, which: &str) -> ConnectorError {
        ConnectorError::not_found(format!(
            "{}: no host `{which}` in {}",
            r.context(),
            self.file.path.display()
        ))
    }

    /// The index of the host a `Host` argument names (by id, else by name).
    fn host_index(&self, state: &Object, r: &ArgReader<'_>) -> Result<usize, ConnectorError> {
        let h = r.record("h")?;
        let id = h.get("id").and_then(Value::as_str);
        let name = h.get("name").and_then(Value::as_str);
        let hosts = list(state, "hosts");
        let found = match id {
            Some(id) => hosts.iter().position(|x| s(x, "id").or(s(x, "name")) == Some(id)),
            None => None,
        }
        .or_else(|| {
            name.and_then(|n| hosts.iter().position(|x| s(x, "name").is_some_and(|xn| same_host(xn, n))))
        });
        found.ok_or_else(|| self.no_host(r, id.or(name).unwrap_or("?")))
    }

    /// Apply `change` to the host named by the `h` argument.
    fn change_host(
        &self,
        r: &ArgReader<'_>,
        change: impl FnOnce(&mut Object) -> Result<bool, ConnectorError>,
    ) -> Result<Value, ConnectorError> {
        let comment = r.opt_str("comment")?;
        let action = r.context();
        self.file.update(|state| {
            let i = self.host_index(state, r)?;
            let (target, changed) = with_list(state, "hosts", |hosts| {
                let Some(host) = hosts.get_mut(i).and_then(Value::as_object_mut) else {
                    return Err(self.file.corrupt("a host is not an object"));
                };
                let target = host.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                Ok((target, change(host)?))
            })?;
            let action = action.split_once('.').map_or(action.as_str(), |(_, a)| a);
            Ok((Value::Null, changed.then(|| history(&self.name, action, &target, comment))))
        })
    }
}

impl Native for Edr {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "get_host" => {
                let name = r.str("name")?;
                self.file.read(|state| {
                    list(state, "hosts")
                        .iter()
                        .find(|h| s(h, "name").is_some_and(|n| same_host(n, name)))
                        .map(host_record)
                        .ok_or_else(|| self.no_host(&r, name))
                })
            }
            "find_hosts_by_hash" => {
                let raw = r.str("sha256")?;
                let hash = indicator::normalize_hash(raw)
                    .ok_or_else(|| r.invalid("sha256", format_args!("is not a hash: `{raw}`")))?;
                let since = r.duration_secs("since", 30 * 86_400)?;
                let matches =
                    |v: &Value| s(v, "sha256").map(str::to_ascii_lowercase).as_deref() == Some(hash.as_str());
                self.file.read(|state| {
                    Ok(Value::Array(
                        list(state, "hosts")
                            .iter()
                            .filter(|h| {
                                list_of(h, "processes").iter().any(matches)
                                    || list_of(h, "files").iter().any(|f| {
                                        matches(f) && (f.get("seen").is_none() || within(s(f, "seen"), since))
                                    })
                            })
                            .map(host_record)
                            .collect(),
                    ))
                })
            }
            "list_processes" => self.file.read(|state| {
                let i = self.host_index(state, &r)?;
                let host = list(state, "hosts").get(i).cloned().unwrap_or(Value::Null);
                Ok(Value::Array(list_of(&host, "processes").iter().map(process_record).collect()))
            }),
            "isolate_host" | "release_host" => {
                let isolate = action == "isolate_host";
                self.change_host(&r, |host| {
                    let was = host.get("isolated").and_then(Value::as_bool).unwrap_or(false);
                    host.insert("isolated".into(), json!(isolate));
                    Ok(was != isolate)
                })
            }
            "kill_process" => {
                let pid = r.int("pid")?;
                self.change_host(&r, |host| {
                    Ok(with_list(host, "processes", |procs| {
                        let before = procs.len();
                        procs.retain(|p| p.get("pid").and_then(Value::as_i64) != Some(pid));
                        procs.len() != before
                    }))
                })
            }
            "quarantine_file" | "restore_file" => {
                let raw = r.str("sha256")?;
                let hash = indicator::normalize_hash(raw)
                    .ok_or_else(|| r.invalid("sha256", format_args!("is not a hash: `{raw}`")))?;
                let quarantine = action == "quarantine_file";
                let context = r.context();
                self.change_host(&r, |host| {
                    let host_name = host.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                    let is_it = |v: &Value| s(v, "sha256").is_some_and(|h| h.eq_ignore_ascii_case(&hash));
                    let mut changed = false;
                    if quarantine {
                        changed |= with_list(host, "processes", |procs| {
                            let before = procs.len();
                            procs.retain(|p| !is_it(p));
                            procs.len() != before
                        });
                    }
                    let mut known = false;
                    with_list(host, "files", |files| {
                        for f in files.iter_mut().filter(|f| is_it(f)) {
                            known = true;
                            if let Value::Object(map) = f {
                                let was = map.get("quarantined").and_then(Value::as_bool).unwrap_or(false);
                                map.insert("quarantined".into(), json!(quarantine));
                                changed |= was != quarantine;
                            }
                        }
                    });
                    if !known && !changed {
                        return Err(ConnectorError::not_found(format!(
                            "{context}: no file with SHA-256 {hash} on host `{host_name}`"
                        )));
                    }
                    Ok(changed)
                })
            }
            "block_hash" | "allow_hash" => {
                let raw = r.str("sha256")?;
                let hash = indicator::normalize_hash(raw)
                    .ok_or_else(|| r.invalid("sha256", format_args!("is not a hash: `{raw}`")))?;
                let comment = r.opt_str("comment")?;
                let block = action == "block_hash";
                self.file.update(|state| {
                    with_list(state, "blocked_hashes", |blocked| {
                        let present = blocked.iter().any(|b| s(b, "sha256") == Some(hash.as_str()));
                        let changed = if block && !present {
                            blocked.push(json!({ "sha256": hash, "comment": comment, "at": now_rfc3339() }));
                            true
                        } else if !block && present {
                            blocked.retain(|b| s(b, "sha256") != Some(hash.as_str()));
                            true
                        } else {
                            false
                        };
                        Ok((Value::Null, changed.then(|| history(&self.name, action, &hash, comment))))
                    })
                })
            }
            "run_scan" => {
                let full = r.bool_or("full", false)?;
                self.change_host(&r, |host| {
                    with_list(host, "scans", |scans| {
                        scans.push(json!({ "at": now_rfc3339(), "full": full }))
                    });
                    Ok(true)
                })
            }
            "wipe_host" => self.change_host(&r, |host| {
                host.insert("processes".into(), json!([]));
                host.insert("files".into(), json!([]));
                host.insert("isolated".into(), json!(false));
                host.insert("wiped_at".into(), json!(now_rfc3339()));
                Ok(true)
            }),
            _ => Err(ConnectorError::unknown_action(&self.name, action, EDR_ACTIONS)),
        }
    }
}

fn list_of<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

// ---------------------------------------------------------------------------------------
// identity

pub(crate) struct Identity {
    name: String,
    file: StateFile,
}

const IDENTITY_ACTIONS: &[&str] = &[
    "get_user",
    "find_user_by_email",
    "list_sign_ins",
    "revoke_sessions",
    "disable_account",
    "enable_account",
    "reset_password",
    "reset_mfa",
    "add_to_group",
    "remove_from_group",
    "delete_account",
];

fn user_record(u: &Value) -> Value {
    json!({
        "name": field(u, "name", json!("")),
        "email": field(u, "email", json!("")),
        "display_name": field(u, "display_name", Value::Null),
        "enabled": field(u, "enabled", json!(true)),
        "privileged": field(u, "privileged", json!(false)),
        "mfa_enabled": field(u, "mfa_enabled", json!(false)),
        "groups": field(u, "groups", json!([])),
        "sessions": field(u, "sessions", json!(0)),
        "last_sign_in": field(u, "last_sign_in", Value::Null),
    })
}

fn sign_in_record(x: &Value) -> Value {
    json!({
        "at": field(x, "at", Value::Null),
        "name": field(x, "name", json!("")),
        "source_ip": field(x, "source_ip", Value::Null),
        "country": field(x, "country", Value::Null),
        "application": field(x, "application", Value::Null),
        "success": field(x, "success", json!(false)),
        "failure_reason": field(x, "failure_reason", Value::Null),
    })
}

/// A user name matches the account's name (case-insensitively) or its email address.
fn is_user(u: &Value, who: &str) -> bool {
    s(u, "name").is_some_and(|n| n.eq_ignore_ascii_case(who))
        || s(u, "email").is_some_and(|e| e.eq_ignore_ascii_case(who))
}

impl Identity {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("state", &["file"])?;
        Ok(Identity {
            name: cfg.name.to_owned(),
            file: StateFile { path: cfg.path("file", ".parry/identity-state.json")? },
        })
    }

    fn no_user(&self, r: &ArgReader<'_>, who: &str) -> ConnectorError {
        ConnectorError::not_found(format!(
            "{}: no account `{who}` in {}",
            r.context(),
            self.file.path.display()
        ))
    }

    fn change_user(
        &self,
        r: &ArgReader<'_>,
        action: &str,
        detail: Option<&str>,
        change: impl FnOnce(&mut Object) -> bool,
    ) -> Result<Value, ConnectorError> {
        let who = r.str("name")?;
        self.file.update(|state| {
            with_list(state, "users", |users| {
                let user = users
                    .iter_mut()
                    .find(|u| is_user(u, who))
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| self.no_user(r, who))?;
                let changed = change(user);
                Ok((Value::Null, changed.then(|| history(&self.name, action, who, detail))))
            })
        })
    }
}

fn set(user: &mut Object, key: &str, value: Value) -> bool {
    let changed = user.get(key) != Some(&value);
    user.insert(key.into(), value);
    changed
}

impl Native for Identity {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "get_user" | "find_user_by_email" => {
                let key = if action == "get_user" { "name" } else { "address" };
                let who = r.str(key)?;
                self.file.read(|state| {
                    list(state, "users")
                        .iter()
                        .find(|u| is_user(u, who))
                        .map(user_record)
                        .ok_or_else(|| self.no_user(&r, who))
                })
            }
            "list_sign_ins" => {
                let who = r.str("name")?;
                let since = r.duration_secs("since", 86_400)?;
                self.file.read(|state| {
                    let account = list(state, "users").iter().find(|u| is_user(u, who));
                    let names: Vec<&str> = match account {
                        Some(u) => [s(u, "name"), s(u, "email")].into_iter().flatten().collect(),
                        None => vec![who],
                    };
                    let mut rows: Vec<(i64, Value)> = list(state, "sign_ins")
                        .iter()
                        .filter(|x| {
                            s(x, "name").is_some_and(|n| names.iter().any(|w| w.eq_ignore_ascii_case(n)))
                        })
                        .filter(|x| within(s(x, "at"), since))
                        .map(|x| (s(x, "at").and_then(parse_time).unwrap_or(0), sign_in_record(x)))
                        .collect();
                    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
                    Ok(Value::Array(rows.into_iter().map(|(_, v)| v).collect()))
                })
            }
            "revoke_sessions" => self.change_user(&r, action, None, |u| set(u, "sessions", json!(0))),
            "disable_account" => self.change_user(&r, action, None, |u| set(u, "enabled", json!(false))),
            "enable_account" => self.change_user(&r, action, None, |u| set(u, "enabled", json!(true))),
            "reset_password" => self.change_user(&r, action, None, |u| {
                set(u, "password_reset_required", json!(true));
                set(u, "sessions", json!(0));
                true
            }),
            "reset_mfa" => self.change_user(&r, action, None, |u| {
                let a = set(u, "mfa_enabled", json!(false));
                let b = set(u, "mfa_factors", json!(0));
                a || b
            }),
            "add_to_group" | "remove_from_group" => {
                let group = r.str("group")?;
                if group.trim().is_empty() {
                    return Err(r.invalid("group", "is empty"));
                }
                let add = action == "add_to_group";
                self.change_user(&r, action, Some(group), |u| {
                    with_list(u, "groups", |groups| {
                        let present = groups.iter().any(|g| g.as_str() == Some(group));
                        if add && !present {
                            groups.push(json!(group));
                            true
                        } else if !add && present {
                            groups.retain(|g| g.as_str() != Some(group));
                            true
                        } else {
                            false
                        }
                    })
                })
            }
            "delete_account" => {
                let who = r.str("name")?;
                self.file.update(|state| {
                    let removed = with_list(state, "users", |users| {
                        users.iter().position(|u| is_user(u, who)).map(|i| users.remove(i))
                    });
                    let Some(removed) = removed else {
                        return Err(self.no_user(&r, who));
                    };
                    let mut entry = history(&self.name, action, who, None);
                    if let Value::Object(map) = &mut entry {
                        map.insert("account".into(), removed);
                    }
                    Ok((Value::Null, Some(entry)))
                })
            }
            _ => Err(ConnectorError::unknown_action(&self.name, action, IDENTITY_ACTIONS)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    fn args(v: Value) -> Args {
        v.as_object().unwrap().clone()
    }

    fn ago(secs: i64) -> String {
        super::super::format_time(now_secs() - secs)
    }

    fn state() -> Value {
        json!({
            "hosts": [
                { "id": "dev-1", "name": "fin-ws-042.corp.example", "os": "windows", "address": "10.1.4.42",
                  "critical": false, "isolated": false, "last_user": "jdoe",
                  "processes": [
                    { "pid": 10, "name": "explorer.exe", "path": "C:\\Windows\\explorer.exe", "command_line": "explorer" },
                    { "pid": 4242, "name": "invoice.exe", "path": "C:\\Users\\jdoe\\Downloads\\invoice.exe",
                      "command_line": "invoice.exe /q", "sha256": "b".repeat(64), "parent_pid": 10 } ],
                  "files": [ { "sha256": "b".repeat(64), "path": "C:\\Users\\jdoe\\Downloads\\invoice.exe", "seen": ago(3600) } ] },
                { "id": "dev-2", "name": "dc01", "os": "windows", "critical": true,
                  "files": [ { "sha256": "b".repeat(64), "path": "C:\\x.exe", "seen": ago(90 * 86_400) } ] }
            ],
            "users": [
                { "name": "jdoe", "email": "jdoe@corp.example", "enabled": true, "groups": ["finance"], "sessions": 3 },
                { "name": "admin", "email": "admin@corp.example", "privileged": true }
            ],
            "sign_ins": [
                { "at": ago(600), "name": "jdoe", "source_ip": "203.0.113.50", "success": false, "failure_reason": "bad_password" },
                { "at": ago(60), "name": "JDOE", "source_ip": "203.0.113.50", "success": true },
                { "at": ago(3 * 86_400), "name": "jdoe", "source_ip": "10.0.0.5", "success": true }
            ]
        })
    }

    fn setup() -> (tempfile::TempDir, Edr, Identity) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("state")).unwrap();
        fs::write(dir.path().join("state/estate.json"), state().to_string()).unwrap();
        let conf = json!({"file": "state/estate.json"});
        let edr = Edr::from_config(&Config::new("edr", &conf, dir.path()).unwrap()).unwrap();
        let idp = Identity::from_config(&Config::new("identity", &conf, dir.path()).unwrap()).unwrap();
        (dir, edr, idp)
    }

    fn on_disk(dir: &tempfile::TempDir) -> Value {
        serde_json::from_str(&fs::read_to_string(dir.path().join("state/estate.json")).unwrap()).unwrap()
    }

    #[test]
    fn edr_hosts_processes_and_containment() {
        let (dir, edr, _) = setup();
        let host = edr.call_blocking("get_host", &args(json!({"name": "FIN-WS-042"}))).unwrap();
        assert_eq!(host["id"], "dev-1");
        assert_eq!(host["address"], "10.1.4.42");
        assert_eq!(host["tags"], json!([]));
        assert!(host.get("processes").is_none(), "only the declared fields");
        assert_eq!(
            edr.call_blocking("get_host", &args(json!({"name": "nope"}))).unwrap_err().kind,
            "not_found"
        );

        let hosts =
            edr.call_blocking("find_hosts_by_hash", &args(json!({"sha256": "B".repeat(64)}))).unwrap();
        assert_eq!(hosts.as_array().unwrap().len(), 1, "dc01 saw it 90 days ago");
        let hosts = edr
            .call_blocking("find_hosts_by_hash", &args(json!({"sha256": "b".repeat(64), "since": "120d"})))
            .unwrap();
        assert_eq!(hosts.as_array().unwrap().len(), 2);

        let procs = edr.call_blocking("list_processes", &args(json!({"h": host.clone()}))).unwrap();
        assert_eq!(procs[1]["pid"], 4242);
        assert_eq!(procs[0]["sha256"], Value::Null);

        let h = json!({"h": host.clone(), "comment": "malware"});
        edr.call_blocking("isolate_host", &args(h.clone())).unwrap();
        edr.call_blocking("isolate_host", &args(h.clone())).unwrap();
        let s = on_disk(&dir);
        assert_eq!(s["hosts"][0]["isolated"], true);
        assert_eq!(s["history"].as_array().unwrap().len(), 1, "the second isolation changed nothing");
        assert_eq!(s["history"][0]["action"], "edr.isolate_host");
        assert_eq!(s["history"][0]["comment"], "malware");
        edr.call_blocking("release_host", &args(h)).unwrap();
        assert_eq!(on_disk(&dir)["hosts"][0]["isolated"], false);

        edr.call_blocking("kill_process", &args(json!({"h": host.clone(), "pid": 10}))).unwrap();
        edr.call_blocking("kill_process", &args(json!({"h": host.clone(), "pid": 10}))).unwrap();
        edr.call_blocking("quarantine_file", &args(json!({"h": host.clone(), "sha256": "b".repeat(64)})))
            .unwrap();
        let s = on_disk(&dir);
        assert_eq!(s["hosts"][0]["processes"], json!([]));
        assert_eq!(s["hosts"][0]["files"][0]["quarantined"], true);
        edr.call_blocking("restore_file", &args(json!({"h": host.clone(), "sha256": "b".repeat(64)})))
            .unwrap();
        assert_eq!(on_disk(&dir)["hosts"][0]["files"][0]["quarantined"], false);
        let err = edr
            .call_blocking("quarantine_file", &args(json!({"h": host.clone(), "sha256": "c".repeat(64)})))
            .unwrap_err();
        assert_eq!(err.kind, "not_found");

        edr.call_blocking("block_hash", &args(json!({"sha256": "b".repeat(64), "comment": "QakBot"})))
            .unwrap();
        edr.call_blocking("block_hash", &args(json!({"sha256": "b".repeat(64)}))).unwrap();
        assert_eq!(on_disk(&dir)["blocked_hashes"].as_array().unwrap().len(), 1);
        edr.call_blocking("allow_hash", &args(json!({"sha256": "b".repeat(64)}))).unwrap();
        assert_eq!(on_disk(&dir)["blocked_hashes"], json!([]));

        edr.call_blocking("run_scan", &args(json!({"h": host.clone(), "full": true}))).unwrap();
        edr.call_blocking("wipe_host", &args(json!({"h": {"id": "dev-1"}}))).unwrap();
        let s = on_disk(&dir);
        assert_eq!(s["hosts"][0]["files"], json!([]));
        assert_eq!(s["hosts"][0]["scans"][0]["full"], true);
        assert!(s["hosts"][0]["wiped_at"].is_string());
        let err = edr
            .call_blocking("wipe_host", &args(json!({"h": {"id": "dev-9", "name": "ghost"}})))
            .unwrap_err();
        assert!(err.message.starts_with("edr.wipe_host: no host `dev-9`"), "{}", err.message);
    }

    #[test]
    fn identity_accounts_and_sign_ins() {
        let (dir, _, idp) = setup();
        let u = idp.call_blocking("get_user", &args(json!({"name": "JDOE"}))).unwrap();
        assert_eq!(
            (u["email"].as_str(), u["sessions"].as_i64(), u["privileged"].as_bool()),
            (Some("jdoe@corp.example"), Some(3), Some(false))
        );
        let u =
            idp.call_blocking("find_user_by_email", &args(json!({"address": "admin@corp.example"}))).unwrap();
        assert_eq!((u["name"].as_str(), u["enabled"].as_bool()), (Some("admin"), Some(true)));

        let s = idp.call_blocking("list_sign_ins", &args(json!({"name": "jdoe"}))).unwrap();
        let ok: Vec<bool> = s.as_array().unwrap().iter().map(|x| x["success"].as_bool().unwrap()).collect();
        assert_eq!(ok, [true, false], "newest first, the 3-day-old sign-in is outside 24h");
        let s = idp.call_blocking("list_sign_ins", &args(json!({"name": "jdoe", "since": "7d"}))).unwrap();
        assert_eq!(s.as_array().unwrap().len(), 3);

        let who = args(json!({"name": "jdoe"}));
        idp.call_blocking("revoke_sessions", &who).unwrap();
        idp.call_blocking("disable_account", &who).unwrap();
        idp.call_blocking("disable_account", &who).unwrap();
        let d = on_disk(&dir);
        assert_eq!(
            (d["users"][0]["enabled"].as_bool(), d["users"][0]["sessions"].as_i64()),
            (Some(false), Some(0))
        );
        assert_eq!(d["history"].as_array().unwrap().len(), 2);
        idp.call_blocking("enable_account", &who).unwrap();
        idp.call_blocking("reset_password", &who).unwrap();
        idp.call_blocking("reset_mfa", &who).unwrap();
        idp.call_blocking("add_to_group", &args(json!({"name": "jdoe", "group": "restricted"}))).unwrap();
        idp.call_blocking("remove_from_group", &args(json!({"name": "jdoe", "group": "finance"}))).unwrap();
        let d = on_disk(&dir);
        assert_eq!(d["users"][0]["enabled"], true);
        assert_eq!(d["users"][0]["password_reset_required"], true);
        assert_eq!(d["users"][0]["groups"], json!(["restricted"]));
        let err =
            idp.call_blocking("add_to_group", &args(json!({"name": "jdoe", "group": " "}))).unwrap_err();
        assert_eq!(err.kind, "invalid_argument");

        idp.call_blocking("delete_account", &args(json!({"name": "admin"}))).unwrap();
        let d = on_disk(&dir);
        assert_eq!(d["users"].as_array().unwrap().len(), 1);
        assert_eq!(d["history"].as_array().unwrap().last().unwrap()["account"]["name"], "admin");
        assert_eq!(
            idp.call_blocking("get_user", &args(json!({"name": "admin"}))).unwrap_err().kind,
            "not_found"
        );
    }

    #[test]
    fn a_missing_file_is_an_empty_estate_and_a_broken_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let edr = Edr::from_config(&Config::new("edr", &Value::Null, dir.path()).unwrap()).unwrap();
        let err = edr.call_blocking("get_host", &args(json!({"name": "x"}))).unwrap_err();
        assert!(err.message.contains(".parry/edr-state.json"), "{}", err.message);
        fs::create_dir_all(dir.path().join(".parry")).unwrap();
        fs::write(dir.path().join(".parry/edr-state.json"), "[1, 2").unwrap();
        let err = edr.call_blocking("get_host", &args(json!({"name": "x"}))).unwrap_err();
        assert_eq!(err.kind, "invalid_state");
        assert!(err.message.contains("fix it or remove it"), "{}", err.message);
    }
}
