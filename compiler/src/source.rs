//! The files of one compilation. Every span's `FileId` indexes this table; line and column
//! are computed here, only when something is rendered.

use parry_syntax::ast::{FileId, Span};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct SourceFile {
    pub id: FileId,
    /// The path as given by the user (or `<stdlib>/mail.play` for embedded files).
    pub path: PathBuf,
    pub text: String,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(id: FileId, path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { id, path, text, line_starts }
    }

    /// The name shown in reports.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// 1-based line and 1-based column counted in Unicode scalar values, for a byte offset.
    /// Offsets past the end or inside a character are clamped, never panic.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self.text.get(start..offset).map(|s| s.chars().count()).unwrap_or_else(|| {
            // `offset` falls inside a multi-byte character: count up to the character start.
            let mut o = offset;
            while o > start && !self.text.is_char_boundary(o) {
                o -= 1;
            }
            self.text.get(start..o).map(|s| s.chars().count()).unwrap_or(0)
        });
        (line + 1, col + 1)
    }

    /// The byte offset of the start of a 0-based line, if the line exists.
    pub fn line_start(&self, line0: usize) -> Option<usize> {
        self.line_starts.get(line0).copied()
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The source text of a span (empty if out of range).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files of one compilation, user files and the embedded standard library.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(id, path.as_ref().to_path_buf(), text.into()));
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// 1-based (line, column) of a span's start and end.
    pub fn span_lines(&self, span: Span) -> Option<((usize, usize), (usize, usize))> {
        let f = self.get(span.file)?;
        Some((f.line_col(span.start as usize), f.line_col(span.end as usize)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_scalar_values() {
        let f = SourceFile::new(FileId(0), "a.play".into(), "ab\nçé x\n".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // "çé " is 5 bytes; 'x' is the 4th character of line 2.
        assert_eq!(f.line_col(8), (2, 4));
        // Inside 'ç' (offset 4): clamped to the character start.
        assert_eq!(f.line_col(4), (2, 1));
        assert_eq!(f.line_col(999), (3, 1));
    }
}
