//! Open documents, their projects, and the compiled snapshots the features read.

use crate::convert;
use crate::position::{Encoding, LineIndex, apply_change};
use lsp_types::{PublishDiagnosticsParams, TextDocumentContentChangeEvent, TextEdit, Url};
use parry_compiler::ir::Program;
use parry_compiler::source::SourceMap;
use parry_compiler::{Compilation, Config, OverlayFs, RealFs, compile, compile_sources, load_project};
use parry_syntax::ast::{self, FileId, Span};
use parry_syntax::{Diagnostic, Severity};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One compilation of a project (or of a lone file) with the editor's unsaved text.
pub struct Snapshot {
    pub sources: SourceMap,
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    pub config: Config,
    /// The URI each user file is published under (the client's own URI for open files).
    pub uris: HashMap<FileId, Url>,
}

impl Snapshot {
    fn from_compilation(c: Compilation, open: &HashMap<PathBuf, Url>) -> Snapshot {
        let mut uris = HashMap::new();
        for f in c.sources.files() {
            let uri = match open.get(&f.path) {
                Some(uri) => Some(uri.clone()),
                None if f.path.to_string_lossy().starts_with('<') => convert::stdlib_uri(&f.path, &f.text),
                None => std::path::absolute(&f.path).ok().and_then(|p| Url::from_file_path(p).ok()),
            };
            if let Some(uri) = uri {
                uris.insert(f.id, uri);
            }
        }
        Snapshot {
            sources: c.sources,
            program: c.program,
            diagnostics: c.diagnostics,
            config: c.config,
            uris,
        }
    }

    /// Whether a file is one of the user's (not the embedded standard library).
    pub fn is_user_file(&self, file: FileId) -> bool {
        self.sources.get(file).is_some_and(|f| !f.path.to_string_lossy().starts_with('<'))
    }
}

/// What a project is keyed by: the directory holding `parry.toml`, or a lone file.
type ProjectKey = PathBuf;

struct Document {
    path: PathBuf,
    text: String,
    version: i32,
    project: ProjectKey,
}

/// Everything a feature needs about one document: its text, its position index, its
/// syntax tree, and the snapshot of its project.
pub struct View<'a> {
    pub uri: &'a Url,
    pub text: &'a str,
    pub index: LineIndex,
    pub enc: Encoding,
    pub file: FileId,
    pub snap: &'a Snapshot,
    pub ast: ast::SourceFile,
}

impl View<'_> {
    pub fn offset(&self, pos: lsp_types::Position) -> usize {
        self.index.offset(self.text, pos, self.enc)
    }

    pub fn range(&self, span: Span) -> lsp_types::Range {
        self.index.range(self.text, span.start as usize, span.end as usize, self.enc)
    }

    /// The location of a span in any file of the snapshot.
    pub fn location(&self, span: Span) -> Option<lsp_types::Location> {
        if span.file == self.file {
            return Some(lsp_types::Location { uri: self.uri.clone(), range: self.range(span) });
        }
        convert::location(self.snap, span, self.enc)
    }

    /// The source text of a span of this document.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

pub struct Workspace {
    enc: Encoding,
    docs: HashMap<Url, Document>,
    snapshots: HashMap<ProjectKey, Arc<Snapshot>>,
    /// The URIs diagnostics were last published for, per project (to clear them).
    published: HashMap<ProjectKey, BTreeSet<Url>>,
}

impl Workspace {
    pub fn new(enc: Encoding) -> Workspace {
        Workspace { enc, docs: HashMap::new(), snapshots: HashMap::new(), published: HashMap::new() }
    }

    /// The projects that have open documents.
    pub fn projects(&self) -> Vec<ProjectKey> {
        let mut keys: Vec<ProjectKey> = self.docs.values().map(|d| d.project.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    pub fn open(&mut self, uri: Url, text: String, version: i32) -> Option<ProjectKey> {
        let path = document_path(&uri);
        let project = project_key(&path);
        self.docs.insert(uri, Document { path, text, version, project: project.clone() });
        self.analyze(&project);
        Some(project)
    }

    pub fn change(
        &mut self,
        uri: &Url,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Option<ProjectKey> {
        let enc = self.enc;
        let doc = self.docs.get_mut(uri)?;
        for change in changes {
            apply_change(&mut doc.text, change.range, &change.text, enc);
        }
        doc.version = version;
        let project = doc.project.clone();
        self.analyze(&project);
        Some(project)
    }

    pub fn close(&mut self, uri: &Url) -> Option<ProjectKey> {
        let doc = self.docs.remove(uri)?;
        let still_open = self.docs.values().any(|d| d.project == doc.project);
        if still_open || doc.project.is_dir() {
            // The file on disk counts again for the rest of the project.
            self.analyze(&doc.project);
        } else {
            self.snapshots.remove(&doc.project);
        }
        Some(doc.project)
    }

    /// Recompile one project with the open documents laid over the disk.
    pub fn analyze(&mut self, project: &ProjectKey) {
        let mut fs = OverlayFs::new(RealFs);
        let mut open = HashMap::new();
        for (uri, doc) in &self.docs {
            fs.set(doc.path.clone(), doc.text.clone());
            open.insert(doc.path.clone(), uri.clone());
        }
        let compilation = if project.is_dir() {
            match load_project(project, &fs) {
                Ok(p) => compile(&p, &fs),
                Err(e) => {
                    // An unreadable or invalid parry.toml: check the open files of the
                    // project on their own and say why the project could not be loaded.
                    let files: Vec<(PathBuf, String)> = self
                        .docs
                        .values()
                        .filter(|d| &d.project == project)
                        .map(|d| (d.path.clone(), d.text.clone()))
                        .collect();
                    let mut c = compile_sources(files, Config::default());
                    if let Some(first) = c.sources.files().first().map(|f| f.id) {
                        c.diagnostics.insert(
                            0,
                            Diagnostic::error(
                                "invalid-config",
                                format!("the project's parry.toml could not be loaded: {e}"),
                                Span::new(first, 0, 0),
                                "checked without the project's configuration",
                            )
                            .with_help("fix parry.toml; `parry check` shows the exact place"),
                        );
                    }
                    c
                }
            }
        } else {
            let text =
                self.docs.values().find(|d| &d.path == project).map(|d| d.text.clone()).unwrap_or_default();
            compile_sources(vec![(project.clone(), text)], Config::default())
        };
        let snap = Snapshot::from_compilation(compilation, &open);
        self.snapshots.insert(project.clone(), Arc::new(snap));
    }

    /// The diagnostics of every user file of a project, plus empty lists for files that
    /// had diagnostics last time and have none now.
    pub fn publish(&mut self, project: &ProjectKey) -> Vec<PublishDiagnosticsParams> {
        let Some(snap) = self.snapshots.get(project).cloned() else {
            let old = self.published.remove(project).unwrap_or_default();
            return old.into_iter().map(|uri| PublishDiagnosticsParams::new(uri, Vec::new(), None)).collect();
        };
        let mut by_uri: HashMap<Url, Vec<lsp_types::Diagnostic>> = HashMap::new();
        for f in snap.sources.files() {
            if !snap.is_user_file(f.id) {
                continue;
            }
            if let Some(uri) = snap.uris.get(&f.id) {
                by_uri.entry(uri.clone()).or_default();
            }
        }
        let mut indexes: HashMap<FileId, LineIndex> = HashMap::new();
        for d in &snap.diagnostics {
            let file = d.primary.span.file;
            let Some(uri) = snap.uris.get(&file) else { continue };
            if !snap.is_user_file(file) {
                continue;
            }
            let Some(source) = snap.sources.get(file) else { continue };
            let index = indexes.entry(file).or_insert_with(|| LineIndex::new(&source.text));
            let diag = convert::diagnostic(&snap, d, index, &source.text, self.enc);
            by_uri.entry(uri.clone()).or_default().push(diag);
        }
        let old = self.published.remove(project).unwrap_or_default();
        let mut out = Vec::new();
        for uri in old {
            if !by_uri.contains_key(&uri) {
                out.push(PublishDiagnosticsParams::new(uri, Vec::new(), None));
            }
        }
        let mut now = BTreeSet::new();
        let mut entries: Vec<(Url, Vec<lsp_types::Diagnostic>)> = by_uri.into_iter().collect();
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        for (uri, diags) in entries {
            let version = self.docs.get(&uri).map(|d| d.version);
            // Files with nothing to say that were never published need no message.
            if diags.is_empty() && !self.docs.contains_key(&uri) {
                continue;
            }
            now.insert(uri.clone());
            out.push(PublishDiagnosticsParams::new(uri, diags, version));
        }
        self.published.insert(project.clone(), now);
        out
    }

    pub fn view(&self, uri: &Url) -> Option<View<'_>> {
        let (uri, doc) = self.docs.get_key_value(uri)?;
        let snap = self.snapshots.get(&doc.project)?;
        let file = snap.sources.files().iter().find(|f| f.path == doc.path).map(|f| f.id)?;
        let (ast, _) = parry_syntax::parse(file, &doc.text);
        Some(View { uri, text: &doc.text, index: LineIndex::new(&doc.text), enc: self.enc, file, snap, ast })
    }

    /// The edits that format a document (none when it is already formatted).
    pub fn format(&self, uri: &Url) -> Result<Option<Vec<TextEdit>>, String> {
        let Some(doc) = self.docs.get(uri) else { return Ok(None) };
        match parry_compiler::fmt::format_source(&doc.text) {
            Ok(formatted) if formatted == doc.text => Ok(Some(Vec::new())),
            Ok(formatted) => {
                let index = LineIndex::new(&doc.text);
                let range = index.range(&doc.text, 0, doc.text.len(), self.enc);
                Ok(Some(vec![TextEdit { range, new_text: formatted }]))
            }
            Err(diags) => {
                let first = diags.iter().find(|d| d.severity == Severity::Error).or(diags.first());
                let detail = first
                    .map(|d| {
                        let index = LineIndex::new(&doc.text);
                        let p = index.position(&doc.text, d.primary.span.start as usize, self.enc);
                        format!(" (line {}: {})", p.line + 1, d.message)
                    })
                    .unwrap_or_default();
                Err(format!("cannot format this file until its syntax errors are fixed{detail}"))
            }
        }
    }
}

/// The path of a document: its file path, or for an unsaved buffer (`untitled:`) a name
/// that cannot clash with a real file.
fn document_path(uri: &Url) -> PathBuf {
    uri.to_file_path().unwrap_or_else(|_| PathBuf::from(format!("/{}:{}", uri.scheme(), uri.path())))
}

/// The project a file belongs to: the nearest directory at or above it with `parry.toml`,
/// else the file alone.
fn project_key(path: &Path) -> ProjectKey {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.join(parry_compiler::project::PROJECT_FILE).is_file() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    path.to_path_buf()
}
