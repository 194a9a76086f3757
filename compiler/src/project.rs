//! Projects: `parry.toml` (LANGUAGE.md §9), the file loader, and project discovery.
//!
//! The compiler reads files only through [`FileSystem`], so the language server can feed it
//! unsaved editor buffers with [`OverlayFs`].

use miette::{LabeledSpan, NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The name of the project file.
pub const PROJECT_FILE: &str = "parry.toml";

// ---------------------------------------------------------------------------------------
// File system
// ---------------------------------------------------------------------------------------

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Everything the compiler reads goes through this trait.
pub trait FileSystem {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
    /// The entries of a directory (any order).
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<DirEntry>>;
    fn is_file(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
}

/// The real disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push(DirEntry { path: entry.path(), is_dir });
        }
        Ok(out)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// A file system whose files can be overridden by in-memory contents (unsaved editor
/// buffers). An overlay file that does not exist on disk is listed in its directory too.
#[derive(Clone, Debug, Default)]
pub struct OverlayFs<B: FileSystem = RealFs> {
    pub base: B,
    overlays: HashMap<PathBuf, String>,
}

impl<B: FileSystem> OverlayFs<B> {
    pub fn new(base: B) -> Self {
        OverlayFs { base, overlays: HashMap::new() }
    }

    /// Sets (or replaces) the contents of `path`.
    pub fn set(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) {
        self.overlays.insert(path.into(), text.into());
    }

    /// Drops the overlay of `path`: the disk contents count again.
    pub fn remove(&mut self, path: &Path) {
        self.overlays.remove(path);
    }

    pub fn get(&self, path: &Path) -> Option<&str> {
        self.overlays.get(path).map(String::as_str)
    }
}

impl<B: FileSystem> FileSystem for OverlayFs<B> {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        match self.overlays.get(path) {
            Some(text) => Ok(text.clone()),
            None => self.base.read_to_string(path),
        }
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<DirEntry>> {
        let mut entries = match self.base.read_dir(path) {
            Ok(e) => e,
            Err(_) if self.overlays.keys().any(|p| p.parent() == Some(path)) => Vec::new(),
            Err(e) => return Err(e),
        };
        for p in self.overlays.keys() {
            if p.parent() == Some(path) && !entries.iter().any(|e| &e.path == p) {
                entries.push(DirEntry { path: p.clone(), is_dir: false });
            }
        }
        Ok(entries)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.overlays.contains_key(path) || self.base.is_file(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.base.is_dir(path) || self.overlays.keys().any(|p| p.starts_with(path) && p != path)
    }
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// The contents of `parry.toml`, with every default applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Config {
    pub policy: Policy,
    /// `[approvers]`: group name -> user names.
    pub approvers: BTreeMap<String, Vec<String>>,
    /// `[connectors.NAME]` tables, raw, for the interpreter (`impl = "maildir"`, ...).
    pub connectors: BTreeMap<String, toml::Table>,
}

impl Config {
    /// A connector's table as JSON (`None` when the project does not configure it).
    pub fn connector_json(&self, name: &str) -> Option<serde_json::Value> {
        let table = self.connectors.get(name)?;
        serde_json::to_value(table).ok()
    }

    /// The `max_auto_targets` that applies to `connector.action`: the per-action policy if
    /// any, else the default.
    pub fn max_auto_targets(&self, connector: &str, action: &str) -> u64 {
        self.policy
            .actions
            .get(&format!("{connector}.{action}"))
            .and_then(|a| a.max_auto_targets)
            .unwrap_or(self.policy.max_auto_targets)
    }

    /// Whether `connector.action` is listed in `policy.require_approval`.
    pub fn requires_approval(&self, connector: &str, action: &str) -> bool {
        let name = format!("{connector}.{action}");
        self.policy.require_approval.contains(&name)
    }
}

/// `[policy]`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    /// Ungated reversible calls per action per run (default 25).
    pub max_auto_targets: u64,
    /// May `@allow` silence safety codes? (default true)
    pub allow_overrides: bool,
    /// `connector.action` names treated as destructive.
    pub require_approval: Vec<String>,
    /// How long an approval waits before it expires, in milliseconds (default 1h).
    pub approval_timeout_ms: u64,
    /// Concurrent iterations of a read-only `for` (default 8).
    pub default_concurrency: u64,
    /// `[policy.actions."conn.action"]`
    pub actions: BTreeMap<String, ActionPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_auto_targets: 25,
            allow_overrides: true,
            require_approval: Vec::new(),
            approval_timeout_ms: 3_600_000,
            default_concurrency: 8,
            actions: BTreeMap::new(),
        }
    }
}

/// `[policy.actions."conn.action"]`
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ActionPolicy {
    pub max_auto_targets: Option<u64>,
}

/// Parses a duration such as `500ms 15s 30m 2h 7d` into milliseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

// The raw file, as serde reads it (spans kept for validation messages).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    policy: Option<RawPolicy>,
    #[serde(default)]
    approvers: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    connectors: Option<BTreeMap<String, toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    max_auto_targets: Option<toml::Spanned<i64>>,
    allow_overrides: Option<bool>,
    require_approval: Option<Vec<toml::Spanned<String>>>,
    approval_timeout: Option<toml::Spanned<String>>,
    default_concurrency: Option<toml::Spanned<i64>>,
    actions: Option<BTreeMap<String, RawActionPolicy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActionPolicy {
    max_auto_targets: Option<toml::Spanned<i64>>,
}

/// Parses and validates the text of a `parry.toml`. `path` is used in error reports.
pub fn parse_config(path: &Path, text: &str) -> Result<Config, ProjectError> {
    let bad = |span: std::ops::Range<usize>, message: String, help: Option<String>| {
        ProjectError::Config(Box::new(ConfigError {
            path: path.to_path_buf(),
            src: NamedSource::new(path.display().to_string(), text.to_string()),
            span: SourceSpan::from(span),
            message,
            help,
        }))
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let help = if message.contains("unknown field") {
            Some(
                "known keys: [policy] max_auto_targets, allow_overrides, require_approval, \
                 approval_timeout, default_concurrency, [policy.actions.\"conn.action\"] \
                 max_auto_targets; [approvers]; [connectors.NAME]"
                    .to_string(),
            )
        } else {
            None
        };
        bad(span, format!("invalid {PROJECT_FILE}: {message}"), help)
    })?;
    let mut config = Config::default();
    let count = |v: &toml::Spanned<i64>, key: &str| -> Result<u64, ProjectError> {
        let n = *v.get_ref();
        u64::try_from(n).map_err(|_| {
            bad(
                v.span(),
                format!("`{key}` must not be negative (found {n})"),
                Some(format!("write a whole number of 0 or more, e.g. `{key} = 25`")),
            )
        })
    };
    if let Some(p) = raw.policy {
        if let Some(v) = &p.max_auto_targets {
            config.policy.max_auto_targets = count(v, "max_auto_targets")?;
        }
        if let Some(v) = p.allow_overrides {
            config.policy.allow_overrides = v;
        }
        if let Some(list) = p.require_approval {
            for item in &list {
                let name = item.get_ref();
                let ok = name.split_once('.').is_some_and(|(c, a)| is_ident(c) && is_ident(a));
                if !ok {
                    return Err(bad(
                        item.span(),
                        format!("`{name}` in `require_approval` is not a `connector.action` name"),
                        Some(
                            "write the action as `connector.action`, e.g. \"identity.disable_account\""
                                .into(),
                        ),
                    ));
                }
            }
            config.policy.require_approval = list.into_iter().map(|s| s.into_inner()).collect();
        }
        if let Some(v) = &p.approval_timeout {
            config.policy.approval_timeout_ms = parse_duration(v.get_ref()).ok_or_else(|| {
                bad(
                    v.span(),
                    format!("`approval_timeout` is not a duration: `{}`", v.get_ref()),
                    Some("write a number and a unit: ms, s, m, h or d, e.g. \"1h\"".into()),
                )
            })?;
        }
        if let Some(v) = &p.default_concurrency {
            let n = count(v, "default_concurrency")?;
            if n == 0 {
                return Err(bad(
                    v.span(),
                    "`default_concurrency` must be at least 1".into(),
                    Some("write e.g. `default_concurrency = 8`".into()),
                ));
            }
            config.policy.default_concurrency = n;
        }
        for (name, a) in p.actions.unwrap_or_default() {
            let max = match &a.max_auto_targets {
                Some(v) => Some(count(v, "max_auto_targets")?),
                None => None,
            };
            config.policy.actions.insert(name, ActionPolicy { max_auto_targets: max });
        }
    }
    config.approvers = raw.approvers.unwrap_or_default();
    config.connectors = raw.connectors.unwrap_or_default();
    Ok(config)
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------

/// A set of `.play` files checked together, with their configuration.
#[derive(Clone, Debug)]
pub struct Project {
    /// The directory holding `parry.toml` (or the lone file's directory).
    pub root: PathBuf,
    pub config: Config,
    /// Every `.play` file of the project, sorted.
    pub files: Vec<PathBuf>,
}

/// Why a project could not be loaded.
#[derive(Debug)]
pub enum ProjectError {
    /// A path could not be read.
    Io { path: PathBuf, message: String },
    /// `parry.toml` is invalid.
    Config(Box<ConfigError>),
}

/// What is wrong in a `parry.toml`, and where.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub src: NamedSource<String>,
    pub span: SourceSpan,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for ProjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProjectError::Io { path, message } => write!(f, "cannot read {}: {message}", path.display()),
            ProjectError::Config(c) => f.write_str(&c.message),
        }
    }
}

impl std::error::Error for ProjectError {}

impl miette::Diagnostic for ProjectError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(match self {
            ProjectError::Io { .. } => "io-error",
            ProjectError::Config(_) => "invalid-config",
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            ProjectError::Io { .. } => Some(Box::new("check that the path exists and is readable")),
            ProjectError::Config(c) => c.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>),
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self {
            ProjectError::Config(c) => Some(&c.src),
            ProjectError::Io { .. } => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            ProjectError::Config(c) => {
                Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), c.span))))
            }
            ProjectError::Io { .. } => None,
        }
    }
}

/// Finds the project `path` (a `.play` file or a directory) belongs to: the nearest
/// `parry.toml` at or above it makes a project of every `.play` file below that directory
/// (hidden directories and `target/` skipped). A lone file without `parry.toml` is a
/// project of one file; a directory without one is a project of its files, with the
/// default configuration.
pub fn load_project(path: &Path, fs: &dyn FileSystem) -> Result<Project, ProjectError> {
    let is_file = fs.is_file(path);
    if !is_file && !fs.is_dir(path) {
        return Err(ProjectError::Io {
            path: path.to_path_buf(),
            message: "no such file or directory".into(),
        });
    }
    let start =
        if is_file { path.parent().map(Path::to_path_buf).unwrap_or_default() } else { path.to_path_buf() };
    if let Some(root) = find_root(&start, fs) {
        let toml_path = root.join(PROJECT_FILE);
        let text = fs
            .read_to_string(&toml_path)
            .map_err(|e| ProjectError::Io { path: toml_path.clone(), message: e.to_string() })?;
        let config = parse_config(&toml_path, &text)?;
        let mut files = Vec::new();
        collect_play_files(&root, fs, &mut files)?;
        files.sort();
        return Ok(Project { root, config, files });
    }
    if is_file {
        return Ok(Project { root: start, config: Config::default(), files: vec![path.to_path_buf()] });
    }
    let mut files = Vec::new();
    collect_play_files(path, fs, &mut files)?;
    files.sort();
    Ok(Project { root: path.to_path_buf(), config: Config::default(), files })
}

/// The nearest directory at or above `start` that holds `parry.toml`. A relative `start`
/// is searched through its absolute form, and the root is returned in the same relative
/// form when possible.
fn find_root(start: &Path, fs: &dyn FileSystem) -> Option<PathBuf> {
    let dir = if start.as_os_str().is_empty() { Path::new(".") } else { start };
    if fs.is_file(&dir.join(PROJECT_FILE)) {
        return Some(dir.to_path_buf());
    }
    let abs = std::path::absolute(dir).ok()?;
    let cwd = std::env::current_dir().ok();
    for ancestor in abs.ancestors().skip(1) {
        if fs.is_file(&ancestor.join(PROJECT_FILE)) {
            if dir.is_relative()
                && let Some(cwd) = &cwd
                && let Ok(rel) = ancestor.strip_prefix(cwd)
            {
                return Some(if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel.to_path_buf() });
            }
            return Some(ancestor.to_path_buf());
        }
    }
    None
}

fn collect_play_files(dir: &Path, fs: &dyn FileSystem, out: &mut Vec<PathBuf>) -> Result<(), ProjectError> {
    let entries =
        fs.read_dir(dir).map_err(|e| ProjectError::Io { path: dir.to_path_buf(), message: e.to_string() })?;
    for entry in entries {
        let name = entry.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if entry.is_dir {
            if name.starts_with('.') || name == "target" {
                continue;
            }
            collect_play_files(&entry.path, fs, out)?;
        } else if entry.path.extension().is_some_and(|e| e == "play") {
            out.push(entry.path);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = parse_config(
            Path::new("parry.toml"),
            "[policy]\nmax_auto_targets = 5\nrequire_approval = [\"identity.disable_account\"]\n\
             approval_timeout = \"30m\"\n[policy.actions.\"mail.quarantine\"]\nmax_auto_targets = 1000\n\
             [approvers]\nsoc = [\"alice\"]\n[connectors.mail]\nimpl = \"maildir\"\n",
        )
        .unwrap();
        assert_eq!(c.policy.max_auto_targets, 5);
        assert_eq!(c.max_auto_targets("mail", "quarantine"), 1000);
        assert_eq!(c.max_auto_targets("fw", "block"), 5);
        assert!(c.requires_approval("identity", "disable_account"));
        assert_eq!(c.policy.approval_timeout_ms, 1_800_000);
        assert_eq!(c.policy.default_concurrency, 8);
        assert_eq!(c.approvers["soc"], vec!["alice".to_string()]);
        assert_eq!(c.connector_json("mail").unwrap()["impl"], "maildir");
    }

    #[test]
    fn errors_point_into_the_file() {
        let text = "[policy]\nmax_auto_target = 5\n";
        let err = parse_config(Path::new("parry.toml"), text).unwrap_err();
        match err {
            ProjectError::Config(c) => {
                assert!(c.message.contains("max_auto_target"), "{}", c.message);
                assert_eq!(c.span.offset(), 9);
            }
            other => panic!("{other:?}"),
        }
        let err = parse_config(Path::new("parry.toml"), "[policy]\nmax_auto_targets = -1\n").unwrap_err();
        assert!(err.to_string().contains("negative"));
        let err =
            parse_config(Path::new("parry.toml"), "[policy]\napproval_timeout = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("duration"));
    }

    #[test]
    fn overlay_overrides_and_lists() {
        let mut fs = OverlayFs::new(RealFs);
        fs.set("/nonexistent-dir-xyz/a.play", "type A = { x: int }");
        assert_eq!(
            fs.read_to_string(Path::new("/nonexistent-dir-xyz/a.play")).unwrap(),
            "type A = { x: int }"
        );
        let listed = fs.read_dir(Path::new("/nonexistent-dir-xyz")).unwrap();
        assert_eq!(listed.len(), 1);
    }
}
