//! `log`: the `notify` and `ticket` connectors on append-only JSON-lines files under
//! `.parry/` (and, if asked, stderr), so every notification and ticket of a run can be
//! read back without any service.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::args::{ArgReader, now_rfc3339};
use super::config::Config;
use super::fsutil::{append_line, file_lock, hold, process_lock, read_optional};
use super::{Args, ConnectorError, Native};

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

struct Log {
    path: PathBuf,
    stderr: bool,
}

impl Log {
    fn from_config(cfg: &Config<'_>, default: &str) -> Result<Self, String> {
        Ok(Log { path: cfg.path("file", default)?, stderr: cfg.bool("stderr", false)? })
    }

    fn write(&self, record: &Value) -> Result<(), ConnectorError> {
        let line = record.to_string();
        if self.stderr {
            eprintln!("{line}");
        }
        append_line(&self.path, &line)
    }

    fn records(&self) -> Result<Vec<Map<String, Value>>, ConnectorError> {
        let text = read_optional(&self.path)?.unwrap_or_default();
        // A line that is not a JSON object (a torn write, a hand edit) is skipped rather
        // than making every later ticket unreadable.
        Ok(text
            .lines()
            .filter_map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            })
            .collect())
    }
}

fn non_empty<'a>(r: &ArgReader<'a>, name: &str) -> Result<&'a str, ConnectorError> {
    let text = r.str(name)?;
    if text.trim().is_empty() {
        return Err(r.invalid(name, "is empty"));
    }
    Ok(text)
}

fn severity<'a>(r: &ArgReader<'a>, name: &str, default: &'a str) -> Result<&'a str, ConnectorError> {
    let s = r.opt_str(name)?.unwrap_or(default);
    if SEVERITIES.contains(&s) {
        Ok(s)
    } else {
        Err(r.invalid(name, format_args!("must be one of {}, found `{s}`", SEVERITIES.join(", "))))
    }
}

/// `notify`: chat messages and pages, written to the log.
pub(crate) struct Notify {
    name: String,
    log: Log,
}

impl Notify {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("log", &["file", "stderr"])?;
        Ok(Notify { name: cfg.name.to_owned(), log: Log::from_config(cfg, ".parry/notifications.jsonl")? })
    }
}

impl Native for Notify {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        let record = match action {
            "send" => json!({
                "at": now_rfc3339(),
                "connector": self.name,
                "action": "send",
                "channel": non_empty(&r, "channel")?,
                "text": r.str("text")?,
            }),
            "page" => json!({
                "at": now_rfc3339(),
                "connector": self.name,
                "action": "page",
                "team": non_empty(&r, "team")?,
                "summary": r.str("summary")?,
                "severity": severity(&r, "severity", "high")?,
            }),
            _ => return Err(ConnectorError::unknown_action(&self.name, action, &["send", "page"])),
        };
        self.log.write(&record)?;
        Ok(Value::Null)
    }
}

/// `ticket`: tickets as events in a log; the current state of a ticket is the replay of
/// its events.
pub(crate) struct Tickets {
    name: String,
    log: Log,
    prefix: String,
    link_base: Option<String>,
}

impl Tickets {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("log", &["file", "stderr", "prefix", "link_base"])?;
        let prefix = cfg.str("prefix")?.unwrap_or("TKT").to_owned();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!(
                "connectors.{}.prefix must be letters, digits, `-` or `_`, found `{prefix}`",
                cfg.name
            ));
        }
        Ok(Tickets {
            name: cfg.name.to_owned(),
            log: Log::from_config(cfg, ".parry/tickets.jsonl")?,
            prefix,
            link_base: cfg.str("link_base")?.map(|s| s.trim_end_matches('/').to_owned()),
        })
    }

    /// Every ticket in the log, by id, in its current state.
    fn tickets(&self) -> Result<HashMap<String, Map<String, Value>>, ConnectorError> {
        let mut tickets: HashMap<String, Map<String, Value>> = HashMap::new();
        for event in self.log.records()? {
            let id = event.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            match event.get("event").and_then(Value::as_str) {
                Some("open") => {
                    if let Some(Value::Object(ticket)) = event.get("ticket") {
                        tickets.insert(id, ticket.clone());
                    }
                }
                Some("close") => {
                    if let Some(t) = tickets.get_mut(&id) {
                        t.insert("status".into(), json!("closed"));
                    }
                }
                _ => {}
            }
        }
        Ok(tickets)
    }

    fn existing(&self, r: &ArgReader<'_>) -> Result<(String, Map<String, Value>), ConnectorError> {
        let id = r.str("id")?;
        match self.tickets()?.remove(id) {
            Some(t) => Ok((id.to_owned(), t)),
            None => Err(ConnectorError::not_found(format!(
                "{}: no ticket `{id}` in {}",
                r.context(),
                self.log.path.display()
            ))),
        }
    }
}

const TICKET_ACTIONS: &[&str] = &["open", "comment", "get", "close"];

impl Native for Tickets {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "open" => {
                let title = non_empty(&r, "title")?;
                let description = r.str("description")?;
                let severity = severity(&r, "severity", "medium")?;
                let assignee = r.opt_str("assignee")?;
                let lock = file_lock(&self.log.path);
                let _guard = hold(&lock);
                let _os_lock = process_lock(&self.log.path);
                let number = self.tickets()?.len() + 1;
                let id = format!("{}-{number}", self.prefix);
                let link = self.link_base.as_ref().map(|base| format!("{base}/{id}"));
                let ticket = json!({
                    "id": id,
                    "title": title,
                    "status": "open",
                    "severity": severity,
                    "assignee": assignee,
                    "link": link,
                });
                self.log.write(&json!({
                    "at": now_rfc3339(),
                    "event": "open",
                    "id": id,
                    "description": description,
                    "ticket": ticket,
                }))?;
                Ok(ticket)
            }
            "comment" => {
                let (id, _) = self.existing(&r)?;
                let text = r.str("text")?;
                self.log.write(&json!({"at": now_rfc3339(), "event": "comment", "id": id, "text": text}))?;
                Ok(Value::Null)
            }
            "get" => Ok(Value::Object(self.existing(&r)?.1)),
            "close" => {
                let (id, ticket) = self.existing(&r)?;
                let resolution = r.str("resolution")?;
                if ticket.get("status").and_then(Value::as_str) != Some("closed") {
                    self.log.write(&json!({
                        "at": now_rfc3339(), "event": "close", "id": id, "resolution": resolution,
                    }))?;
                }
                Ok(Value::Null)
            }
            _ => Err(ConnectorError::unknown_action(&self.name, action, TICKET_ACTIONS)),
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

    #[test]
    fn notifications_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let conf = json!({"file": "out/notify.jsonl"});
        let n = Notify::from_config(&Config::new("notify", &conf, dir.path()).unwrap()).unwrap();
        n.call_blocking("send", &args(json!({"channel": "#soc", "text": "hello"}))).unwrap();
        n.call_blocking("page", &args(json!({"team": "ir", "summary": "wake up"}))).unwrap();
        let text = fs::read_to_string(dir.path().join("out/notify.jsonl")).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["channel"], "#soc");
        assert_eq!(lines[1]["severity"], "high");
        let err = n.call_blocking("send", &args(json!({"channel": " ", "text": "x"}))).unwrap_err();
        assert!(err.message.contains("`channel` is empty"), "{}", err.message);
        let err = n
            .call_blocking("page", &args(json!({"team": "ir", "summary": "x", "severity": "urgent"})))
            .unwrap_err();
        assert!(err.message.contains("must be one of low"), "{}", err.message);
    }

    #[test]
    fn tickets_get_ids_comments_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let conf = json!({"prefix": "SOC", "link_base": "https://tickets.example/browse/"});
        let t = Tickets::from_config(&Config::new("ticket", &conf, dir.path()).unwrap()).unwrap();
        let first = t
            .call_blocking("open", &args(json!({"title": "Phish", "description": "d", "severity": "high"})))
            .unwrap();
        assert_eq!(first["id"], "SOC-1");
        assert_eq!(first["link"], "https://tickets.example/browse/SOC-1");
        let second = t.call_blocking("open", &args(json!({"title": "Other", "description": ""}))).unwrap();
        assert_eq!(second["id"], "SOC-2");
        assert_eq!(second["severity"], "medium");

        t.call_blocking("comment", &args(json!({"id": "SOC-1", "text": "quarantined"}))).unwrap();
        t.call_blocking("close", &args(json!({"id": "SOC-1", "resolution": "done"}))).unwrap();
        t.call_blocking("close", &args(json!({"id": "SOC-1", "resolution": "again"}))).unwrap();
        let got = t.call_blocking("get", &args(json!({"id": "SOC-1"}))).unwrap();
        assert_eq!(got["status"], "closed");
        assert_eq!(got["title"], "Phish");

        let err = t.call_blocking("comment", &args(json!({"id": "SOC-9", "text": "x"}))).unwrap_err();
        assert_eq!(err.kind, "not_found");
        assert!(err.message.starts_with("ticket.comment: no ticket `SOC-9`"), "{}", err.message);
        let log = fs::read_to_string(dir.path().join(".parry/tickets.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 4, "a second close writes nothing");
    }
}
