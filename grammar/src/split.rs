//! A light lexical scan of a whole file, done before parsing: it collects every comment
//! (for the formatter and for doc comments) and cuts the file into top-level items, so each
//! item is parsed on its own and one broken declaration does not hide the others.
//!
//! The scan understands strings (with `{expr}` interpolation and escapes), raw strings and
//! comments, and counts brackets. A new item starts at a line whose first word is an item
//! keyword (or an `@attribute`) while no bracket is open. A line that starts in column 0
//! with an item keyword also starts a new item when a bracket is still open: the previous
//! item is then unclosed, and that is reported on it, not on everything after it.

use crate::ast::{Comment, FileId, Span};

/// One top-level item's text: `start..end` in the file. `keyword` is the item keyword the
/// chunk starts with, if any (`None` for stray text or an attribute-only chunk).
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Scan {
    pub chunks: Vec<Chunk>,
    pub comments: Vec<Comment>,
    /// The source with every comment, tab, carriage return and byte-order mark outside
    /// strings replaced by spaces, byte for byte: offsets are unchanged, and the grammar's
    /// only whitespace is the space (which makes parsing markedly faster).
    pub clean: String,
}

const ITEM_KEYWORDS: &[&str] = &["playbook", "connector", "type", "enum", "fn", "const", "test"];

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The item keyword at `pos`, if the word there is one.
fn item_keyword_at(bytes: &[u8], pos: usize) -> Option<&'static str> {
    let rest = bytes.get(pos..)?;
    ITEM_KEYWORDS
        .iter()
        .copied()
        .find(|kw| rest.starts_with(kw.as_bytes()) && !rest.get(kw.len()).is_some_and(|&b| is_ident_byte(b)))
}

/// Lexical modes of the scanner. Interpolations nest: `"a {f("b {c}")} d"`.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// In code; `interp_depth` is the bracket depth at which the enclosing interpolation
    /// (if any) closes.
    Code,
    Str,
}

pub(crate) fn scan(file: FileId, src: &str) -> Scan {
    let bytes = src.as_bytes();
    let mut comments = Vec::new();
    let mut chunks: Vec<Chunk> = Vec::new();

    // Bracket depth in code (all of `( [ {`), and a stack of modes for strings and the
    // interpolations inside them (each interpolation remembers the depth it closes at).
    let mut depth: usize = 0;
    let mut modes: Vec<(Mode, usize)> = Vec::new();
    // The current chunk: its start, whether its declaration keyword has been seen yet,
    // and that keyword.
    let mut chunk_start: Option<usize> = None;
    let mut chunk_keyword: Option<&'static str> = None;
    let mut at_line_start = true;

    let mut clean: Vec<u8> = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let in_string = matches!(modes.last(), Some((Mode::Str, _)));
        if in_string {
            match b {
                // Skip the escaped character (but never a newline: strings end there).
                b'\\' if bytes.get(i + 1).is_some_and(|&c| c != b'\n') => i += 1,
                b'"' => {
                    modes.pop();
                }
                b'{' => modes.push((Mode::Code, depth)),
                b'\n' => {
                    // An unterminated string ends at the end of its line (the parser
                    // reports it); drop every open string and interpolation.
                    modes.clear();
                    at_line_start = true;
                }
                _ => {}
            }
            i += 1;
            continue;
        }

        if at_line_start {
            // Skip indentation, then look at the first word of the line.
            let mut j = i;
            while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r') {
                clean[j] = b' ';
                j += 1;
            }
            at_line_start = false;
            if modes.is_empty() {
                let column0 = j == i;
                let keyword = item_keyword_at(bytes, j);
                let attribute = bytes.get(j) == Some(&b'@');
                let starts_item = if depth == 0 {
                    match (keyword, chunk_keyword) {
                        // A declaration keyword right after the attributes of the current
                        // chunk belongs to that chunk.
                        (Some(_), None) if chunk_start.is_some() => false,
                        (Some(_), _) => true,
                        (None, Some(_)) => attribute,
                        (None, None) => attribute && chunk_start.is_none(),
                    }
                } else {
                    // Inside an unclosed item: only a column-0 declaration keyword starts
                    // a new one (`type` inside a connector is a member, not an item).
                    column0
                        && keyword.is_some()
                        && !(keyword == Some("type") && chunk_keyword == Some("connector"))
                };
                if starts_item {
                    if let Some(start) = chunk_start {
                        chunks.push(Chunk { start, end: i });
                    } else if i > 0 {
                        chunks.push(Chunk { start: 0, end: i });
                    }
                    chunk_start = Some(i);
                    chunk_keyword = keyword;
                    depth = 0;
                } else if keyword.is_some() && chunk_keyword.is_none() && depth == 0 {
                    chunk_keyword = keyword;
                }
            }
            i = j;
            continue;
        }

        match b {
            b'\n' => at_line_start = true,
            b'\t' | b'\r' => clean[i] = b' ',
            0xEF if bytes.get(i..i + 3) == Some(&[0xEF, 0xBB, 0xBF]) => {
                clean[i..i + 3].fill(b' ');
                i += 3;
                continue;
            }
            b'#' => {
                let start = i;
                let mut end = i;
                while end < bytes.len() && bytes[end] != b'\n' {
                    end += 1;
                }
                let doc = bytes.get(i + 1) == Some(&b'#');
                let text_start = if doc { i + 2 } else { i + 1 };
                let mut text_end = end;
                if text_end > text_start && bytes[text_end - 1] == b'\r' {
                    text_end -= 1;
                }
                let text = src.get(text_start..text_end).unwrap_or_default().to_string();
                comments.push(Comment { span: Span::new(file, start, text_end), text, doc });
                clean[start..end].fill(b' ');
                i = end;
                continue;
            }
            b'"' => {
                let raw = i > 0 && bytes[i - 1] == b'r' && !(i > 1 && is_ident_byte(bytes[i - 2]));
                if raw {
                    // Raw string: up to the next quote or the end of the line.
                    let mut end = i + 1;
                    while end < bytes.len() && bytes[end] != b'"' && bytes[end] != b'\n' {
                        end += 1;
                    }
                    i = if bytes.get(end) == Some(&b'"') { end + 1 } else { end };
                    continue;
                }
                modes.push((Mode::Str, depth));
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b'}' => {
                if let Some(&(Mode::Code, close_at)) = modes.last()
                    && depth == close_at
                {
                    // The end of an interpolation: back into its string.
                    modes.pop();
                    i += 1;
                    continue;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(start) = chunk_start {
        chunks.push(Chunk { start, end: bytes.len() });
    } else if !bytes.is_empty() {
        chunks.push(Chunk { start: 0, end: bytes.len() });
    }
    // Only whole comments and single ASCII bytes were replaced, so this cannot fail; keep
    // the original text if it somehow did.
    let clean = String::from_utf8(clean).unwrap_or_else(|_| src.to_string());
    Scan { chunks, comments, clean }
}

/// True when `text` holds nothing but whitespace and comments.
pub(crate) fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// The doc comment of a node starting at `pos`: the `##` lines directly above it, joined
/// with `\n`, each without its `##` and one following space.
pub(crate) fn doc_before(src: &str, pos: usize) -> Option<String> {
    let bytes = src.as_bytes();
    // The start of the line holding `pos`; only indentation may precede `pos` on it.
    let mut line_start = pos.min(bytes.len());
    while line_start > 0 && bytes[line_start - 1] != b'\n' {
        line_start -= 1;
    }
    if !bytes.get(line_start..pos)?.iter().all(|b| matches!(b, b' ' | b'\t')) {
        return None;
    }
    let mut lines: Vec<&str> = Vec::new();
    let mut end = line_start;
    while end > 0 {
        // The previous line is `prev_start..end - 1` (without its newline).
        let mut prev_start = end - 1;
        while prev_start > 0 && bytes[prev_start - 1] != b'\n' {
            prev_start -= 1;
        }
        let line = src.get(prev_start..end - 1)?.trim();
        let Some(text) = line.strip_prefix("##") else { break };
        lines.push(text.strip_prefix(' ').unwrap_or(text));
        end = prev_start;
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n"))
}
