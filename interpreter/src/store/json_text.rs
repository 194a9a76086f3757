//! Compact JSON text, byte for byte as `serde_json::to_writer` writes it, for the hot paths
//! of the journal and the case (every argument and result of every action call is written
//! once). Strings are scanned eight bytes at a time for the few bytes JSON escapes and
//! copied in runs (a short one is tested a byte at a time and copied whole); `serde_json`
//! tests and copies them one by one.

use crate::value::{self, Value};
use serde_json::Value as Json;

/// Where JSON text is written: bytes (the case, kept as bytes) or a `String` (journal text,
/// which then needs no UTF-8 check to become a `str`). Only whole `str`s and ASCII bytes are
/// written, so a `String` stays valid.
pub(crate) trait Sink {
    fn push_str(&mut self, s: &str);
    /// `byte` must be ASCII.
    fn push_ascii(&mut self, byte: u8);
    fn reserve(&mut self, additional: usize);
    fn push_number(&mut self, n: &serde_json::Number);
}

impl Sink for Vec<u8> {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    fn push_ascii(&mut self, byte: u8) {
        self.push(byte);
    }

    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }

    fn push_number(&mut self, n: &serde_json::Number) {
        if serde_json::to_writer(&mut *self, n).is_err() {
            self.extend_from_slice(b"null");
        }
    }
}

impl Sink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }

    fn push_ascii(&mut self, byte: u8) {
        self.push(char::from(byte));
    }

    fn reserve(&mut self, additional: usize) {
        String::reserve(self, additional);
    }

    fn push_number(&mut self, n: &serde_json::Number) {
        // serde_json writes a number as its `Display` does (itoa, ryu).
        use std::fmt::Write as _;
        if write!(self, "{n}").is_err() {
            String::push_str(self, "null");
        }
    }
}

/// Every byte of the word `0x01` (with [`HIGH`], the usual word-at-a-time byte tests).
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` is escaped in a JSON string: a control
/// character (below 0x20), `"` or `\`. Exact for "any", which is all that is asked.
fn needs_escape(word: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    below_space || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// Writes the escape `serde_json` writes for `byte`, one of the bytes JSON escapes.
fn escape(byte: u8, out: &mut impl Sink) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short: &str = match byte {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        0x08 => "\\b",
        0x0c => "\\f",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => {
            let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
            for b in [b'\\', b'u', b'0', b'0', hex(byte >> 4), hex(byte & 0xf)] {
                out.push_ascii(b);
            }
            return;
        }
    };
    out.push_str(short);
}

/// Which bytes JSON escapes in a string.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The longest string [`write_str`] tests a byte at a time rather than a word at a time.
const SHORT: usize = 16;

/// Writes `s` as a JSON string, quotes included.
pub(crate) fn write_str(out: &mut impl Sink, s: &str) {
    write_str_parts(out, [s]);
}

/// Writes the text of `parts`, one after the other, as one JSON string.
pub(crate) fn write_str_parts<const N: usize>(out: &mut impl Sink, parts: [&str; N]) {
    out.reserve(parts.iter().map(|p| p.len()).sum::<usize>() + 2);
    out.push_ascii(b'"');
    for part in parts {
        write_escaped(out, part);
    }
    out.push_ascii(b'"');
}

/// Writes `s` escaped for a JSON string, without quotes.
fn write_escaped(out: &mut impl Sink, s: &str) {
    let bytes = s.as_bytes();
    // A short string (a name, an id, a time) with nothing to escape, the usual kind: one
    // test per byte, then one copy.
    if bytes.len() <= SHORT && !bytes.iter().any(|&b| ESCAPED[usize::from(b)]) {
        out.push_str(s);
        return;
    }
    // `bytes[start..at]` is scanned and waits to be copied in one piece.
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Most words have nothing to escape: eight bytes at once.
        if let Some(chunk) = bytes.get(at..at + 8).and_then(|c| <[u8; 8]>::try_from(c).ok())
            && !needs_escape(u64::from_le_bytes(chunk))
        {
            at += 8;
            continue;
        }
        // A word with something to escape, or the last few bytes: byte by byte.
        let end = (at + 8).min(bytes.len());
        while at < end {
            let byte = bytes.get(at).copied().unwrap_or(0);
            if ESCAPED[usize::from(byte)] {
                // `start` and `at` are at ASCII bytes or the ends: both char boundaries.
                out.push_str(s.get(start..at).unwrap_or_default());
                escape(byte, out);
                start = at + 1;
            }
            at += 1;
        }
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// Writes `items` as a JSON array, each written by `item`; stops at the first error.
pub(crate) fn write_list<S: Sink, T, E>(
    out: &mut S,
    items: &[T],
    mut item: impl FnMut(&mut S, &T) -> Result<(), E>,
) -> Result<(), E> {
    out.push_ascii(b'[');
    for (i, value) in items.iter().enumerate() {
        if i > 0 {
            out.push_ascii(b',');
        }
        item(out, value)?;
    }
    out.push_ascii(b']');
    Ok(())
}

/// Writes `value` as compact JSON text.
pub(crate) fn write_json(out: &mut impl Sink, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        // Numbers are rare here and have their own formatting rules: serde_json writes them.
        Json::Number(n) => out.push_number(n),
        Json::String(s) => write_str(out, s),
        Json::Array(items) => write_array(out, items, write_json),
        Json::Object(map) => write_object(out, map.iter().map(|(k, v)| (k.as_str(), v)), write_json),
    }
}

/// Writes `items` as a JSON array, each written by `item`.
fn write_array<S: Sink, T>(out: &mut S, items: &[T], item: impl Fn(&mut S, &T)) {
    let written: Result<(), std::convert::Infallible> = write_list(out, items, |out, value| {
        item(out, value);
        Ok(())
    });
    let Ok(()) = written;
}

/// Writes `entries` as a JSON object (in the order given), each value written by `item`.
fn write_object<'v, S: Sink, T: 'v>(
    out: &mut S,
    entries: impl Iterator<Item = (&'v str, &'v T)>,
    item: impl Fn(&mut S, &T),
) {
    out.push_ascii(b'{');
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push_ascii(b',');
        }
        write_str(out, key);
        out.push_ascii(b':');
        item(out, value);
    }
    out.push_ascii(b'}');
}

/// Writes `value` as the compact JSON text of [`Value::to_json`], without building the JSON
/// value: record fields in key order (as a JSON object keeps them), times and durations as
/// their text, secrets as `***`.
pub(crate) fn write_value(out: &mut impl Sink, value: &Value) {
    match value {
        Value::Unit | Value::None => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_number(&serde_json::Number::from(*i)),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_number(&n),
            None => out.push_str("null"),
        },
        Value::Str(s) | Value::Sec { text: s, .. } => write_str(out, s),
        Value::Duration(ms) => write_str(out, &value::format_duration(*ms)),
        Value::Time(ms) => write_str(out, &value::format_time(*ms)),
        Value::List(items) => write_array(out, items, write_value),
        Value::Record(fields) => {
            // A JSON object's keys are in byte order; a record's fields are in declaration order.
            let mut order: Vec<&(value::Text, Value)> = fields.iter().collect();
            order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            write_object(out, order.into_iter().map(|(k, v)| (&**k, v)), write_value);
        }
        Value::Enum { variant, .. } => write_str(out, variant),
        Value::Json(json) => write_json(out, json),
        Value::Secret(_) => write_str(out, "***"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Written both ways, which must agree.
    fn ours(value: &Json) -> String {
        let mut bytes = Vec::new();
        write_json(&mut bytes, value);
        let mut text = String::new();
        write_json(&mut text, value);
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
        text
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "exactly8".into(),
            "sixteen bytes!!!".into(),
            "quote \" and backslash \\ and slash /".into(),
            "tab\tnew\nline\rcr\u{8}bs\u{c}ff".into(),
            "\u{0}\u{1}\u{1f}\u{7f} controls".into(),
            "ünïcödé — 日本語 🎣 ".repeat(5),
            "\"\"\"\"\"\"\"\"\"".into(),
            "abcdefg\"".into(),
            "abcdefgh\\".into(),
        ];
        // Every control character and every ASCII byte, at every offset within a word, in
        // strings short and long enough for either way of scanning.
        for b in 0u8..128 {
            for len in [SHORT - 1, SHORT, SHORT + 1, SHORT + 9] {
                for pad in 0..len {
                    cases.push(format!("{}{}{}", "x".repeat(pad), char::from(b), "y".repeat(len - 1 - pad)));
                }
            }
        }
        for s in cases {
            let value = Json::String(s.clone());
            assert_eq!(ours(&value), serde_json::to_string(&value).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn engine_values_are_written_as_their_json() {
        use crate::value::Secret;
        use parry_compiler::ir::SecurityKind;
        use std::sync::Arc;
        let record = |fields: Vec<(&str, Value)>| {
            Value::Record(Arc::new(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
        };
        // Many fields, declared in the reverse of key order.
        let many: Vec<(String, Value)> = (0..20).rev().map(|i| (format!("f{i}"), Value::Int(i))).collect();
        let many = record(many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect());
        let values = [
            many,
            Value::Unit,
            Value::None,
            Value::Bool(true),
            Value::Int(-42),
            Value::Int(i64::MAX),
            Value::Float(0.1),
            Value::Float(f64::NAN),
            Value::Float(-0.0),
            Value::str("say \"hi\"\n"),
            Value::Sec { kind: SecurityKind::Url, text: Arc::from("http://evil.example/a?b=1") },
            Value::Duration(90 * 60 * 1000),
            Value::Time(1_795_000_000_123),
            Value::list(vec![Value::Int(1), Value::str("two"), Value::list(vec![])]),
            record(vec![
                ("zeta", Value::Int(1)),
                ("alpha", record(vec![("b", Value::Bool(false)), ("a", Value::None)])),
                ("Mid", Value::list(vec![record(vec![("y", Value::Int(2)), ("x", Value::Int(3))])])),
                ("", Value::str("empty key")),
            ]),
            Value::Enum { enum_name: Arc::from("Verdict"), variant: Arc::from("malicious"), ordinal: 3 },
            Value::Json(json!({"b": [1, {"d": null, "c": 2.5}], "a": "x"})),
            Value::Secret(Secret::new("hunter2")),
        ];
        for value in values {
            let mut text = String::new();
            write_value(&mut text, &value);
            let mut bytes = Vec::new();
            write_value(&mut bytes, &value);
            assert_eq!(String::from_utf8(bytes).unwrap(), text);
            assert_eq!(text, serde_json::to_string(&value.to_json()).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-17),
            json!(u64::MAX),
            json!(1.5),
            json!(1e300),
            json!([]),
            json!({}),
            json!([1, "two", [3, {"four": null}], {"b": 1, "a": [true, false]}]),
            json!({"sender": "payroll@evil.example", "body": "Pay: http://evil.example/a\n\t\"now\"",
                   "nested": {"z": {"y": {"x": ["deep"]}}}, "": "empty key", "k\"ey": 1}),
        ];
        for value in values {
            assert_eq!(ours(&value), serde_json::to_string(&value).unwrap(), "{value}");
        }
    }
}
