//! Reading an alert file and choosing the playbooks that take it.
//!
//! Everything here happens before a run is created: a rejected alert leaves no trace.

use crate::engine::Engine;
use crate::value::{self, DecodeError};
use parry_compiler::ir::PlaybookId;
use serde_json::Value as Json;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Alerts larger than this are refused unread: an alert is a small JSON document, and a
/// huge one is a mistake (or an attack) that should not reach the engine.
pub const MAX_ALERT_BYTES: u64 = 10 * 1024 * 1024;

/// Why an alert was refused. Nothing ran and nothing was written.
#[derive(Debug)]
pub enum AlertError {
    /// The file could not be read.
    Unreadable { path: PathBuf, message: String },
    /// The file is larger than [`MAX_ALERT_BYTES`].
    TooLarge { path: PathBuf, size: u64 },
    /// The file is not valid JSON.
    InvalidJson { path: PathBuf, line: usize, column: usize, message: String },
    /// The alert does not decode into the parameter type of any playbook that could take
    /// it: per playbook, every problem with its JSON path.
    Rejected { path: PathBuf, playbooks: Vec<(String, Vec<DecodeError>)> },
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::Unreadable { path, message } => {
                write!(f, "cannot read the alert {}: {message}", path.display())
            }
            AlertError::TooLarge { path, size } => write!(
                f,
                "the alert {} is {size} bytes, more than the limit of {MAX_ALERT_BYTES} bytes (10 MiB); \
                 pass the alert itself, not a bulk export",
                path.display()
            ),
            AlertError::InvalidJson { path, line, column, message } => write!(
                f,
                "the alert {}:{line}:{column} is not valid JSON: {message}\n  fix the JSON syntax at that position",
                path.display()
            ),
            AlertError::Rejected { path, playbooks } => {
                write!(f, "the alert {} was rejected; nothing ran", path.display())?;
                for (playbook, problems) in playbooks {
                    write!(f, "\n  as the parameter of playbook `{playbook}`:")?;
                    for p in problems {
                        write!(f, "\n    {p}")?;
                    }
                }
                write!(
                    f,
                    "\n  fix these fields of the alert (unknown fields are ignored), or the playbook's parameter type"
                )
            }
        }
    }
}

impl std::error::Error for AlertError {}

/// Reads and parses an alert file, refusing files over [`MAX_ALERT_BYTES`] without
/// reading them whole.
pub fn read_alert(path: &Path) -> Result<Json, AlertError> {
    let unreadable =
        |e: std::io::Error| AlertError::Unreadable { path: path.to_path_buf(), message: e.to_string() };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(AlertError::Unreadable {
            path: path.to_path_buf(),
            message: "it is a directory; give a JSON file".to_string(),
        });
    }
    if meta.len() > MAX_ALERT_BYTES {
        return Err(AlertError::TooLarge { path: path.to_path_buf(), size: meta.len() });
    }
    // The file may grow between `metadata` and the read (or be a pipe): read one byte past
    // the limit to tell.
    let mut bytes = Vec::new();
    file.take(MAX_ALERT_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_ALERT_BYTES {
        return Err(AlertError::TooLarge { path: path.to_path_buf(), size: bytes.len() as u64 });
    }
    parse_alert(path, &bytes)
}

/// Parses alert bytes as JSON.
pub fn parse_alert(path: &Path, bytes: &[u8]) -> Result<Json, AlertError> {
    serde_json::from_slice(bytes).map_err(|e| AlertError::InvalidJson {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// serde_json appends " at line L column C", which the caller prints as `file:L:C` already.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Which playbooks run on an alert.
#[derive(Debug)]
pub enum Selection {
    /// Run these, in declaration order.
    Run(Vec<PlaybookId>),
    /// The alert is well-formed for at least one playbook but no `when` holds: nothing runs.
    NoMatch { decodable: Vec<String> },
}

/// Picks the playbooks for `alert`: the one named (whatever its `when` says), or every
/// playbook whose parameter type the alert decodes into and whose `when` holds.
///
/// The alert is rejected ([`AlertError::Rejected`]) when it decodes into no candidate's
/// parameter type, with the problems for each candidate.
pub fn select(
    engine: &Engine,
    alert_path: &Path,
    alert: &Json,
    named: Option<&str>,
) -> Result<Selection, SelectError> {
    let program = engine.program();
    if let Some(name) = named {
        let Some((id, pb)) = program.playbook(name) else {
            let known: Vec<&str> = program.playbooks.iter().map(|p| p.name.as_str()).collect();
            return Err(SelectError::UnknownPlaybook { name: name.to_string(), known: known.join(", ") });
        };
        if let Some(param) = &pb.param
            && let Err(problems) = value::decode(alert, &param.ty, program)
        {
            return Err(SelectError::Alert(AlertError::Rejected {
                path: alert_path.to_path_buf(),
                playbooks: vec![(pb.name.clone(), problems)],
            }));
        }
        return Ok(Selection::Run(vec![id]));
    }
    let candidates: Vec<_> = program.playbooks.iter().filter(|p| p.param.is_some()).collect();
    if candidates.is_empty() {
        return Err(SelectError::NoPlaybooks);
    }
    let matching = engine.matching_playbooks(alert);
    if !matching.is_empty() {
        return Ok(Selection::Run(matching));
    }
    let mut decodable = Vec::new();
    let mut rejected = Vec::new();
    for pb in candidates {
        let Some(param) = &pb.param else { continue };
        match value::decode(alert, &param.ty, program) {
            Ok(_) => decodable.push(pb.name.clone()),
            Err(problems) => rejected.push((pb.name.clone(), problems)),
        }
    }
    if decodable.is_empty() {
        return Err(SelectError::Alert(AlertError::Rejected {
            path: alert_path.to_path_buf(),
            playbooks: rejected,
        }));
    }
    Ok(Selection::NoMatch { decodable })
}

/// Why no playbook could be chosen.
#[derive(Debug)]
pub enum SelectError {
    /// `--playbook NAME` names no playbook.
    UnknownPlaybook { name: String, known: String },
    /// The project declares no playbook that takes an alert.
    NoPlaybooks,
    /// The alert was rejected.
    Alert(AlertError),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::UnknownPlaybook { name, known } if known.is_empty() => {
                write!(f, "no playbook `{name}`: this project declares no playbook")
            }
            SelectError::UnknownPlaybook { name, known } => {
                write!(f, "no playbook `{name}` in this project; its playbooks are: {known}")
            }
            SelectError::NoPlaybooks => write!(
                f,
                "this project declares no playbook that takes an alert; add `playbook NAME(alert: TYPE) {{ ... }}` to a .play file"
            ),
            SelectError::Alert(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SelectError {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_reports_the_position() {
        let err = parse_alert(Path::new("a.json"), b"{\n  \"kind\": ,\n}").unwrap_err();
        match err {
            AlertError::InvalidJson { line, column, ref message, .. } => {
                assert_eq!(line, 2);
                assert!(column > 0);
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("a.json:2:"), "{err}");
    }

    #[test]
    fn oversized_alerts_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_ALERT_BYTES + 1).unwrap();
        assert!(matches!(read_alert(&path), Err(AlertError::TooLarge { .. })));
        assert!(matches!(read_alert(dir.path()), Err(AlertError::Unreadable { .. })));
        assert!(matches!(read_alert(&dir.path().join("missing.json")), Err(AlertError::Unreadable { .. })));
    }
}
