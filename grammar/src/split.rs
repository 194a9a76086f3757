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

/// One top-level item's text: `start..end` in the file.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Where the first non-ASCII character outside a string or comment is, if there is
    /// one: such a declaration is reported there and not parsed (only strings and
    /// comments may hold non-ASCII text).
    pub non_ascii: Option<usize>,
}

pub(crate) struct Scan {
    pub chunks: Vec<Chunk>,
    pub comments: Vec<Comment>,
    /// The source with every comment, tab, carriage return and byte-order mark outside
    /// strings replaced by spaces, byte for byte: offsets are unchanged, and the grammar's
    /// only whitespace is the space (which makes parsing markedly faster).
    pub clean: String,
    /// With [`scan_all_non_ascii`]: every non-ASCII character outside strings and comments,
    /// not only the first of each chunk.
    pub all_non_ascii: Vec<usize>,
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
    scan_with(file, src, false)
}

/// [`scan`], also listing in [`Scan::all_non_ascii`] every non-ASCII character in code.
pub(crate) fn scan_all_non_ascii(src: &str) -> Scan {
    scan_with(FileId(0), src, true)
}

fn scan_with(file: FileId, src: &str, all: bool) -> Scan {
    let bytes = src.as_bytes();
    let mut all_non_ascii = Vec::new();
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
    // The first non-ASCII character in code since the current chunk started.
    let mut non_ascii: Option<usize> = None;

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
                _ => {
                    // Plain text: on to the next byte that matters in a string.
                    i += skip_while(bytes, i, |c| !matches!(c, b'\\' | b'"' | b'{' | b'\n'));
                    continue;
                }
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
                        chunks.push(Chunk { start, end: i, non_ascii: non_ascii.take() });
                    } else if i > 0 {
                        chunks.push(Chunk { start: 0, end: i, non_ascii: non_ascii.take() });
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
            0x80.. => {
                non_ascii.get_or_insert(i);
                if all {
                    all_non_ascii.push(i);
                }
                // On past the character's continuation bytes.
                i += skip_while(bytes, i, |c| (0x80..0xC0).contains(&c));
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
                if let Some(end) = raw_string_end(bytes, i) {
                    i = end;
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
            _ => {
                // On to the next byte that matters in code.
                i += skip_while(bytes, i, |c| !CODE_BYTES[usize::from(c)]);
                continue;
            }
        }
        i += 1;
    }
    if let Some(start) = chunk_start {
        chunks.push(Chunk { start, end: bytes.len(), non_ascii });
    } else if !bytes.is_empty() {
        chunks.push(Chunk { start: 0, end: bytes.len(), non_ascii });
    }
    // Only whole comments and single ASCII bytes were replaced, so this cannot fail; keep
    // the original text if it somehow did.
    let clean = String::from_utf8(clean).unwrap_or_else(|_| src.to_string());
    Scan { chunks, comments, clean, all_non_ascii }
}

/// Where a raw string `r"..."` whose quote is at `quote` ends (just past its closing quote,
/// or at the end of its line if it has none); `None` when the quote does not open a raw
/// string (no `r` right before it, or an `r` that ends a longer word).
fn raw_string_end(bytes: &[u8], quote: usize) -> Option<usize> {
    let raw = quote > 0
        && bytes.get(quote - 1) == Some(&b'r')
        && !(quote > 1 && bytes.get(quote - 2).is_some_and(|&b| is_ident_byte(b)));
    if !raw {
        return None;
    }
    let rest = bytes.get(quote + 1..).unwrap_or_default();
    let len = rest.iter().position(|&b| b == b'"' || b == b'\n').unwrap_or(rest.len());
    let end = quote + 1 + len;
    Some(if bytes.get(end) == Some(&b'"') { end + 1 } else { end })
}

/// The number of bytes from `start` on that `keep` accepts (at least one: the byte at
/// `start` is taken as accepted).
fn skip_while(bytes: &[u8], start: usize, keep: impl Fn(u8) -> bool) -> usize {
    let rest = bytes.get(start + 1..).unwrap_or_default();
    1 + rest.iter().position(|&c| !keep(c)).unwrap_or(rest.len())
}

/// The bytes [`scan`] acts on in code; it passes over every other byte. Every byte of a
/// non-ASCII character is one: code is ASCII.
const CODE_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0x80;
    while k < 256 {
        table[k] = true;
        k += 1;
    }
    let mut k = 0;
    let special = b"\n\t\r\xEF#\"()[]{}";
    while k < special.len() {
        table[special[k] as usize] = true;
        k += 1;
    }
    table
};

/// One open level of the nesting scan: a bracket, a string or an interpolation.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Bracket,
    Str,
    Interp,
}

/// Words after which what is open on a line may go on to the next line.
const OPEN_ENDED_WORDS: &[&[u8]] = &[
    b"and",
    b"or",
    b"in",
    b"not",
    b"else",
    b"if",
    b"match",
    b"for",
    b"approve",
    b"try",
    b"catch",
    b"where",
    b"limit",
    b"concurrency",
    b"by",
    b"within",
];
/// Words that go on with what the line before left open (`else`, `catch`, an operator).
const CONTINUING_WORDS: &[&[u8]] = &[b"else", b"catch", b"and", b"or", b"in"];

/// How deeply the parser may have to nest to read `text` (one declaration, with comments,
/// tabs and carriage returns blanked as in [`Scan::clean`]): where that exceeds `limit`,
/// the byte range of the token that goes too deep.
///
/// The grammar recurses at brackets, strings and their interpolations, and at the
/// expressions that nest without a bracket of their own: `if`, `match`, `for` and `approve`
/// in another one's condition (`if if a { } { }`), `else if` chains and `list<` types. Such
/// a construct counts from its keyword until the end of its bracket level, or until a `,`,
/// a `;` or a line break that certainly ends it (the line ends with a closing bracket, a
/// string or a word, and the next one starts a new statement). The count errs on the high
/// side, never on the low one: it bounds the native stack the parser (which does not probe
/// the stack) and the AST passes use. Linear in the length of `text`.
pub(crate) fn nesting_exceeds(text: &str, limit: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // Most declarations cannot nest that deeply: see `nesting_count_bound` and `nesting_bound`.
    if bytes.len() <= limit || nesting_count_bound(bytes) <= limit || nesting_bound(bytes) <= limit {
        return None;
    }
    nesting_counted(bytes, limit)
}

/// [`nesting_exceeds`] without its shortcut: counts every level.
fn nesting_counted(bytes: &[u8], limit: usize) -> Option<(usize, usize)> {
    // Open levels, each with the constructs counted on it (keywords, `list<`) and how many
    // of those are `list<` still waiting for their `>`.
    let mut stack: Vec<(Open, usize, usize)> = Vec::new();
    let (mut root_pending, mut root_angles) = (0usize, 0usize);
    let mut total = 0usize;
    // The last code byte before the current run of line breaks, and the last word.
    let mut prev_sig = 0u8;
    let mut prev_word: &[u8] = b"";
    let mut newline_seen = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some((Open::Str, ..)) = stack.last() {
            match b {
                b'\\' if bytes.get(i + 1).is_some_and(|&c| c != b'\n') => i += 1,
                b'"' => {
                    stack.pop();
                    total = total.saturating_sub(1);
                    prev_sig = b'"';
                }
                b'{' => {
                    stack.push((Open::Interp, 0, 0));
                    total += 1;
                    if total > limit {
                        return Some((i, i + 1));
                    }
                }
                b'\n' => {
                    // The string is unterminated: it and everything opened in it fail.
                    let outer = stack.iter().position(|(o, ..)| *o == Open::Str).unwrap_or(stack.len());
                    for (_, pending, _) in stack.drain(outer..) {
                        total = total.saturating_sub(1 + pending);
                    }
                    newline_seen = true;
                }
                _ => {
                    // Plain text: on to the next byte that matters in a string. (A backslash
                    // before a line break or at the end is plain text too: at least one byte
                    // is always passed.)
                    let rest = bytes.get(i + 1..).unwrap_or_default();
                    i += 1 + rest
                        .iter()
                        .position(|&c| matches!(c, b'\\' | b'"' | b'{' | b'\n'))
                        .unwrap_or(rest.len());
                    continue;
                }
            }
            i += 1;
            continue;
        }
        if b == b' ' {
            i += 1;
            continue;
        }
        if b == b'\n' {
            newline_seen = true;
            i += 1;
            continue;
        }
        let word_len = if b.is_ascii_alphanumeric() || b == b'_' {
            bytes[i..].iter().take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_').count()
        } else {
            0
        };
        let word = &bytes[i..i + word_len];
        let (pending, angles) = match stack.last_mut() {
            Some((_, p, a)) => (p, a),
            None => (&mut root_pending, &mut root_angles),
        };
        if std::mem::take(&mut newline_seen) {
            let ends_line = matches!(prev_sig, b'}' | b')' | b']' | b'"')
                || (prev_sig.is_ascii_alphanumeric() || prev_sig == b'_')
                    && !OPEN_ENDED_WORDS.contains(&prev_word);
            let starts_statement = matches!(b, b'"' | b'@' | b'(' | b'[' | b'{')
                || word_len > 0 && !CONTINUING_WORDS.contains(&word);
            if ends_line && starts_statement {
                total = total.saturating_sub(*pending);
                (*pending, *angles) = (0, 0);
            }
        }
        match b {
            b'(' | b'[' | b'{' => {
                stack.push((Open::Bracket, 0, 0));
                total += 1;
            }
            b')' | b']' | b'}' => {
                if let Some(&(open, pending, _)) = stack.last()
                    && (open == Open::Bracket || (open == Open::Interp && b == b'}'))
                {
                    stack.pop();
                    total = total.saturating_sub(1 + pending);
                }
            }
            b',' | b';' => {
                total = total.saturating_sub(*pending);
                (*pending, *angles) = (0, 0);
            }
            b'>' if *angles > 0 => {
                *angles -= 1;
                *pending = pending.saturating_sub(1);
                total = total.saturating_sub(1);
            }
            b'"' => {
                if let Some(end) = raw_string_end(bytes, i) {
                    prev_sig = b'"';
                    i = end;
                    continue;
                }
                stack.push((Open::Str, 0, 0));
                total += 1;
            }
            _ if word_len > 0 => {
                if matches!(word, b"if" | b"match" | b"for" | b"approve") {
                    *pending += 1;
                    total += 1;
                } else if word == b"list" {
                    let next = bytes[i + word_len..].iter().find(|&&c| c != b' ' && c != b'\n');
                    if next == Some(&b'<') {
                        *pending += 1;
                        *angles += 1;
                        total += 1;
                    }
                }
                prev_word = word;
            }
            _ => {}
        }
        if total > limit {
            return Some((i, i + word_len.max(1)));
        }
        prev_sig = if word_len > 0 { b'a' } else { b };
        i += word_len.max(1);
    }
    None
}

/// A looser upper bound than [`nesting_bound`], cheaper still: every byte that may open a
/// level (`( [ { "` and the first letters of the nesting words), wherever it is. A loop of
/// comparisons only, which the compiler turns into vector instructions.
fn nesting_count_bound(bytes: &[u8]) -> usize {
    // Counted in `u8` over runs of 255 bytes (no overflow), without branches, so that the
    // comparisons run on many bytes at once.
    bytes
        .chunks(255)
        .map(|run| {
            let mut count = 0u8;
            for &b in run {
                let opens = (b == b'(') | (b == b'[') | (b == b'{') | (b == b'"');
                let word = (b == b'i') | (b == b'm') | (b == b'f') | (b == b'a') | (b == b'l');
                count += u8::from(opens | word);
            }
            usize::from(count)
        })
        .sum()
}

/// An upper bound of the nesting [`nesting_exceeds`] counts in `bytes`, in one cheap pass.
/// Each level it counts is opened at a byte of its own: a bracket, a quote, a `{` in a
/// string, or the first letter of `if`, `match`, `for`, `approve` or `list`. So the count
/// never exceeds the number of `( [ { "` bytes plus the number of those words.
fn nesting_bound(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut prev_ident = false;
    for (i, &b) in bytes.iter().enumerate() {
        let class = BYTE_CLASS[usize::from(b)];
        let ident = class >= IDENT;
        if class == OPENS {
            count += 1;
        } else if class == KEYWORD_START && !prev_ident {
            let rest = bytes.get(i..).unwrap_or_default();
            let len = rest.iter().position(|&c| !is_ident_byte(c)).unwrap_or(rest.len());
            if matches!(rest.get(..len), Some(b"if" | b"match" | b"for" | b"approve" | b"list")) {
                count += 1;
            }
        }
        prev_ident = ident;
    }
    count
}

/// Byte classes for [`nesting_bound`]: other bytes, `( [ { "`, identifier bytes, and the
/// identifier bytes that start a nesting keyword.
const OPENS: u8 = 1;
const IDENT: u8 = 2;
const KEYWORD_START: u8 = 3;
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            if matches!(c, b'i' | b'm' | b'f' | b'a' | b'l') { KEYWORD_START } else { IDENT }
        } else if matches!(c, b'(' | b'[' | b'{' | b'"') {
            OPENS
        } else {
            0
        };
        b += 1;
    }
    table
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcut_bound_is_never_below_the_count() {
        let texts = [
            "if a { if b { if c { x } } }",
            "f(g(h([{a: \"x {b + \"{c}\"} y\"}])))",
            "type T = list<list<list<int>>>",
            "match x { _ => for y in z limit 3 { approve \"a\" by \"g\" { } else { } } }",
            "let a = if x { 1 } else if y { 2 } else { 3 }\nlet b = (a +\n  f([1, [2, [3]]]))",
            "((((((((((",
            "\"\"\"\"{{{{",
        ];
        for text in texts {
            let bound = nesting_bound(text.as_bytes());
            assert_eq!(nesting_counted(text.as_bytes(), bound), None, "{text}");
            assert!(nesting_count_bound(text.as_bytes()) >= bound, "{text}");
        }
        // Where every counted byte opens a level, the bound is exact.
        assert!(nesting_counted(b"((((((((((", 9).is_some());
        assert_eq!(nesting_bound(b"(((((((((("), 10);
        assert_eq!(nesting_count_bound(b"(((((((((("), 10);
    }

    #[test]
    fn the_counting_bound_counts_every_byte_that_may_open_a_level_across_runs() {
        // Runs of 255 bytes are counted in `u8`: a text of nothing but such bytes, longer than
        // several runs, is counted exactly.
        for n in [0, 1, 254, 255, 256, 510, 511, 1000] {
            let text: String = "([{\"imfal".chars().cycle().take(n).collect();
            assert_eq!(nesting_count_bound(text.as_bytes()), n, "{n}");
        }
        assert_eq!(nesting_count_bound(b"xyz 0123 }])>< bceg"), 0);
        // Never below the tighter bound: on every declaration of a realistic file, whole and
        // cut anywhere.
        let src = "fn f(x: list<int>) -> int {\n  let y = if x == [] { 0 } else { match x { _ => 1 } }\n  \
                   for i in x limit 10 { approve \"ok {i}\" by \"g\" { log(\"{i}\") } }\n  y\n}\n";
        for end in 0..=src.len() {
            if let Some(text) = src.get(..end) {
                assert!(nesting_count_bound(text.as_bytes()) >= nesting_bound(text.as_bytes()), "{text}");
            }
        }
    }

    #[test]
    fn non_ascii_code_is_found_once_per_chunk_and_text_is_left_alone() {
        let src = "\u{FEFF}## Grüße\nconst A = \"café {b × 2}\" # ×\n\
                   const B = r\"é\"\n\
                   fn f() {\n  let é = \"é\"\n  ü\n}\n\
                   const C = \"é\n × ü\n";
        let scan = scan(FileId(0), src);
        let found: Vec<Option<&str>> = scan
            .chunks
            .iter()
            .map(|c| c.non_ascii.map(|p| &src[p..p + src[p..].chars().next().map_or(1, char::len_utf8)]))
            .collect();
        // The byte-order mark and the comment before the first item are a chunk of their
        // own. In an interpolation is code; in strings, raw strings and comments is text. An
        // unterminated string ends at its line: what follows is code again.
        assert_eq!(found, [None, Some("×"), None, Some("é"), Some("×")]);
        let all: Vec<&str> = scan_all_non_ascii(src)
            .all_non_ascii
            .iter()
            .map(|&p| &src[p..p + src[p..].chars().next().map_or(1, char::len_utf8)])
            .collect();
        assert_eq!(all, ["×", "é", "ü", "×", "ü"]);
    }

    #[test]
    fn deep_nesting_is_still_found_past_the_shortcut() {
        let deep = format!("fn f() {{ {}x{} }}", "(".repeat(600), ")".repeat(600));
        assert!(nesting_exceeds(&deep, 512).is_some());
        let shallow = format!("fn f() {{ {} }}", "g(1) + ".repeat(200));
        assert!(nesting_exceeds(&shallow, 512).is_none());
    }
}
