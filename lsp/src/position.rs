//! Conversion between byte offsets (what spans hold) and LSP positions (line plus a
//! character offset counted in the negotiated encoding: UTF-8 bytes or UTF-16 code units).

use lsp_types::{Position, Range};

/// The unit an LSP `Position::character` counts, as negotiated at initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// Line starts of one text, for offset/position conversion in both directions.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { line_starts, len: text.len() }
    }

    /// The position of a byte offset; an offset inside a character or past the end is
    /// clamped to the character's start or the end of the text.
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(self.len);
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let prefix = text.get(start..offset).unwrap_or("");
        let character = match enc {
            Encoding::Utf8 => prefix.len(),
            Encoding::Utf16 => prefix.encode_utf16().count(),
        };
        Position { line: line as u32, character: character as u32 }
    }

    /// The byte offset of a position. A character past the end of its line is clamped to
    /// the line's end, a line past the end of the text to the end of the text, and a
    /// position inside a character (e.g. between the two halves of a UTF-16 surrogate
    /// pair) to the character's start.
    pub fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.len;
        };
        let end = self.line_starts.get(pos.line as usize + 1).map(|e| e - 1).unwrap_or(self.len);
        let line = text.get(start..end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let target = pos.character as usize;
        let mut units = 0;
        for (i, ch) in line.char_indices() {
            if units >= target {
                return start + i;
            }
            let width = match enc {
                Encoding::Utf8 => ch.len_utf8(),
                Encoding::Utf16 => ch.len_utf16(),
            };
            if units + width > target {
                return start + i;
            }
            units += width;
        }
        // Past the last character: the end of the line (before the `\r` of a `\r\n`).
        start + line.len()
    }

    pub fn range(&self, text: &str, start: usize, end: usize, enc: Encoding) -> Range {
        Range { start: self.position(text, start, enc), end: self.position(text, end, enc) }
    }
}

/// Apply one `textDocument/didChange` content change to `text`.
pub fn apply_change(text: &mut String, range: Option<Range>, new_text: &str, enc: Encoding) {
    match range {
        None => *text = new_text.to_string(),
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset(text, range.start, enc);
            let end = index.offset(text, range.end, enc).max(start);
            text.replace_range(start..end, new_text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn utf16_counts_surrogate_pairs() {
        let text = "a😀é b\nx";
        let index = LineIndex::new(text);
        // 'b' is at byte 1 + 4 + 2 + 1 = 8; UTF-16: 1 + 2 + 1 + 1 = 5.
        assert_eq!(index.position(text, 8, Encoding::Utf16), pos(0, 5));
        assert_eq!(index.position(text, 8, Encoding::Utf8), pos(0, 8));
        assert_eq!(index.offset(text, pos(0, 5), Encoding::Utf16), 8);
        assert_eq!(index.offset(text, pos(0, 8), Encoding::Utf8), 8);
        // Between the two halves of the emoji's surrogate pair: its start.
        assert_eq!(index.offset(text, pos(0, 2), Encoding::Utf16), 1);
        // Inside 'é' in UTF-8: its start.
        assert_eq!(index.offset(text, pos(0, 6), Encoding::Utf8), 5);
        // Past the end of a line: the line's end.
        assert_eq!(index.offset(text, pos(0, 99), Encoding::Utf16), 9);
        assert_eq!(index.offset(text, pos(1, 1), Encoding::Utf16), 11);
        assert_eq!(index.offset(text, pos(7, 0), Encoding::Utf16), 11);
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = "let é = 1\nnote é\n".to_string();
        // Replace `1` (UTF-16 column 8) with `2`, then insert an emoji before `é` on line 2.
        apply_change(&mut text, Some(Range { start: pos(0, 8), end: pos(0, 9) }), "2", Encoding::Utf16);
        apply_change(&mut text, Some(Range { start: pos(1, 5), end: pos(1, 5) }), "😀", Encoding::Utf16);
        assert_eq!(text, "let é = 2\nnote 😀é\n");
        apply_change(&mut text, Some(Range { start: pos(1, 7), end: pos(1, 9) }), "", Encoding::Utf16);
        assert_eq!(text, "let é = 2\nnote 😀\n");
    }
}
