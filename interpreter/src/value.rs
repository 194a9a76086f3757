//! Runtime values: what expressions evaluate to, what actions take and return, what the
//! journal stores.
//!
//! Decisions (also in `docs/language.md`):
//! - A security-typed string ([`Value::Sec`]) equals a plain string with the same text, and
//!   `Int` equals `Float` when numerically equal.
//! - `Display` is what string interpolation shows: strings raw at the top level, quoted
//!   inside lists and records (`["a", "b"]`, `{ id: "m1", n: 2 }`), enums by variant name,
//!   durations in literal syntax (`1h30m`), times in RFC 3339 UTC, secrets as `***`.
//! - To JSON: enums become their variant name, durations their literal text (`"30m"`),
//!   times RFC 3339 strings, security strings plain strings, secrets `"***"`, `unit` and
//!   `none` `null`. [`decode`] reads all of these back.

use parry_compiler::ir::{Program, SecurityKind, Type};
use parry_compiler::security;
use rustc_hash::FxHashSet;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A runtime value.
///
/// Values are immutable once built, so strings, lists and records are shared (`Arc`): copying a value into a loop variable, a concurrent branch or an action's
/// arguments costs a reference count, not a deep copy.
#[derive(Clone)]
pub enum Value {
    Unit,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    /// A validated security string (`ip`, `url`, ...).
    Sec {
        kind: SecurityKind,
        text: Text,
    },
    /// Milliseconds.
    Duration(i64),
    /// UTC, milliseconds since the Unix epoch.
    Time(i64),
    List(Arc<Vec<Value>>),
    /// Fields in declaration (or literal) order.
    Record(Arc<Vec<(Text, Value)>>),
    Enum {
        enum_name: Text,
        variant: Text,
        ordinal: u32,
    },
    Json(Json),
    Secret(Secret),
}

/// Shared, immutable text.
pub type Text = Arc<str>;

/// An opaque secret: shown as `***` by `Display` and `Debug`; only [`Secret::expose`] reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret text, for the one place that needs it (an HTTP header, query or body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Value {
    pub fn str(s: impl Into<Text>) -> Value {
        Value::Str(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// An enum value.
    pub fn variant(enum_name: impl Into<Text>, variant: impl Into<Text>, ordinal: u32) -> Value {
        Value::Enum { enum_name: enum_name.into(), variant: variant.into(), ordinal }
    }

    /// A security string, validated.
    pub fn security(kind: SecurityKind, text: impl Into<Text> + AsRef<str>) -> Result<Value, String> {
        security::validate_kind(kind, text.as_ref())?;
        Ok(Value::Sec { kind, text: text.into() })
    }

    pub fn record<K: Into<Text>>(fields: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Record(Arc::new(fields.into_iter().map(|(k, v)| (k.into(), v)).collect()))
    }

    /// The text of a string or security string (or of a JSON string).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Sec { text: s, .. } => Some(s),
            Value::Json(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Json(Json::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Json(j) => j.as_i64(),
            _ => None,
        }
    }

    /// A field of a record (or a key of a JSON object, as JSON).
    pub fn field(&self, name: &str) -> Option<Value> {
        match self {
            Value::Record(fields) => fields.iter().find(|(k, _)| &**k == name).map(|(_, v)| v.clone()),
            Value::Json(Json::Object(map)) => map.get(name).map(|j| Value::Json(j.clone())),
            _ => None,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None | Value::Json(Json::Null))
    }

    /// A short name of the value's kind for error messages (`a string`, `a list`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Unit => "unit",
            Value::None => "none",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Sec { kind, .. } => match kind {
                SecurityKind::Ip => "an ip",
                SecurityKind::Cidr => "a cidr",
                SecurityKind::Domain => "a domain",
                SecurityKind::Url => "a url",
                SecurityKind::Email => "an email",
                SecurityKind::Hash => "a hash",
                SecurityKind::Host => "a host",
                SecurityKind::User => "a user",
            },
            Value::Duration(_) => "a duration",
            Value::Time(_) => "a time",
            Value::List(_) => "a list",
            Value::Record(_) => "a record",
            Value::Enum { .. } => "an enum value",
            Value::Json(_) => "json",
            Value::Secret(_) => "a secret",
        }
    }

    /// Converts to JSON (see the module documentation for the mapping).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Unit | Value::None => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            // `String::from(&str)`, not `to_string()`, which goes through `Display` for `Arc<str>`.
            Value::Str(s) | Value::Sec { text: s, .. } => Json::String(String::from(&**s)),
            Value::Duration(ms) => Json::String(format_duration(*ms)),
            Value::Time(ms) => Json::String(format_time(*ms)),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Record(fields) => {
                // Extended, not collected: collecting a map sorts through a temporary buffer.
                let mut map = serde_json::Map::new();
                map.extend(fields.iter().map(|(k, v)| (String::from(&**k), v.to_json())));
                Json::Object(map)
            }
            Value::Enum { variant, .. } => Json::String(String::from(&**variant)),
            Value::Json(j) => j.clone(),
            Value::Secret(_) => Json::String("***".to_string()),
        }
    }

    fn numeric(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Json(Json::Number(n)) => n.as_f64(),
            _ => None,
        }
    }

    /// Ordering for `< <= > >=`: numbers (int and float mixed), strings (security strings
    /// included, by text), durations, times, bools, enums of the same enum by ordinal, and
    /// lists lexicographically. `None` when the two values are not comparable.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Duration(a), Value::Duration(b)) | (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (
                Value::Enum { enum_name: e1, ordinal: a, .. },
                Value::Enum { enum_name: e2, ordinal: b, .. },
            ) if e1 == e2 => Some(a.cmp(b)),
            (Value::List(a), Value::List(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    match x.compare(y)? {
                        Ordering::Equal => {}
                        other => return Some(other),
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            _ => {
                if let (Some(a), Some(b)) = (self.numeric(), other.numeric()) {
                    return a.partial_cmp(&b);
                }
                match (self.as_str(), other.as_str()) {
                    (Some(a), Some(b)) => Some(a.cmp(b)),
                    _ => None,
                }
            }
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Unit, Value::Unit) => true,
            (Value::None, Value::None) => true,
            (Value::None, Value::Json(Json::Null)) | (Value::Json(Json::Null), Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Record(a), Value::Record(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            (
                Value::Enum { enum_name: e1, variant: v1, .. },
                Value::Enum { enum_name: e2, variant: v2, .. },
            ) => e1 == e2 && v1 == v2,
            (Value::Json(a), Value::Json(b)) => a == b,
            (Value::Secret(a), Value::Secret(b)) => a == b,
            (Value::Json(j), v) | (v, Value::Json(j)) => match (j, v) {
                (Json::Number(_), Value::Int(_) | Value::Float(_)) => self.numeric() == other.numeric(),
                (Json::String(s), Value::Enum { variant, .. }) => s.as_str() == &**variant,
                (Json::String(s), _) => v.as_str() == Some(s.as_str()),
                (Json::Bool(b), Value::Bool(c)) => b == c,
                (_, Value::Secret(_)) => false,
                _ => *j == v.to_json(),
            },
            _ => {
                if let (Some(a), Some(b)) = (self.numeric(), other.numeric()) {
                    return a == b;
                }
                match (self.as_str(), other.as_str()) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        self.compare(other)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Sec { kind, text } => write!(f, "{}({text:?})", kind.name()),
            Value::Json(j) => write!(f, "json({j})"),
            other => write!(f, "{}", Nested(other)),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) | Value::Sec { text: s, .. } => f.write_str(s),
            Value::Json(Json::String(s)) => f.write_str(s),
            other => write!(f, "{}", Nested(other)),
        }
    }
}

/// Display of a value inside a container: strings quoted.
struct Nested<'a>(&'a Value);

impl fmt::Display for Nested<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Unit => f.write_str("()"),
            Value::None => f.write_str("none"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Str(s) | Value::Sec { text: s, .. } => write!(f, "{}", Json::String(s.to_string())),
            Value::Duration(ms) => f.write_str(&format_duration(*ms)),
            Value::Time(ms) => f.write_str(&format_time(*ms)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Nested(item))?;
                }
                f.write_str("]")
            }
            Value::Record(fields) => {
                if fields.is_empty() {
                    return f.write_str("{}");
                }
                f.write_str("{ ")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if is_identifier(k) {
                        write!(f, "{k}: {}", Nested(v))?;
                    } else {
                        write!(f, "{}: {}", Json::String(k.to_string()), Nested(v))?;
                    }
                }
                f.write_str(" }")
            }
            Value::Enum { variant, .. } => f.write_str(variant),
            Value::Json(j) => write!(f, "{j}"),
            Value::Secret(_) => f.write_str("***"),
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Floats show a fractional part (`3.0`, `0.25`) so they read differently from ints.
pub fn format_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 { format!("{x:.1}") } else { format!("{x}") }
}

// ---------------------------------------------------------------------------------------------
// Durations and times

const MS_PER_SEC: i64 = 1000;
const MS_PER_MIN: i64 = 60 * MS_PER_SEC;
const MS_PER_HOUR: i64 = 60 * MS_PER_MIN;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Formats milliseconds in duration-literal syntax: `500ms`, `15s`, `1h30m`, `7d`, `0s`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, size) in [
        ("d", MS_PER_DAY as u64),
        ("h", MS_PER_HOUR as u64),
        ("m", MS_PER_MIN as u64),
        ("s", MS_PER_SEC as u64),
        ("ms", 1),
    ] {
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest %= size;
        }
    }
    out
}

/// Parses duration-literal syntax, one or more `<integer><unit>` parts with units
/// `ms s m h d` (`500ms`, `30m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad =
        |why: &str| format!("`{s}` is not a duration: {why} (write e.g. `500ms`, `15s`, `30m`, `2h`, `7d`)");
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    let bytes = t.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad("a number must come before each unit"));
        }
        let n: i64 = t[start..i].parse().map_err(|_| bad("the number is too large"))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let size = match &t[ustart..i] {
            "ms" => 1,
            "s" => MS_PER_SEC,
            "m" => MS_PER_MIN,
            "h" => MS_PER_HOUR,
            "d" => MS_PER_DAY,
            "" => return Err(bad("a unit is missing")),
            u => return Err(bad(&format!("`{u}` is not a unit"))),
        };
        total =
            n.checked_mul(size).and_then(|x| total.checked_add(x)).ok_or_else(|| bad("it is too large"))?;
    }
    Ok(if neg { -total } else { total })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a time in RFC 3339 UTC: `2026-11-27T13:22:07Z`, with `.123` when there are
/// milliseconds.
pub fn format_time(ms: i64) -> String {
    with_time_text(ms, str::to_string)
}

/// `write` given the text of [`format_time`]`(ms)`, written without allocating for the
/// years 0 to 9999.
pub(crate) fn with_time_text<T>(ms: i64, write: impl FnOnce(&str) -> T) -> T {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) =
        (rem / MS_PER_HOUR, rem % MS_PER_HOUR / MS_PER_MIN, rem % MS_PER_MIN / MS_PER_SEC, rem % MS_PER_SEC);
    if !(0..=9999).contains(&y) {
        return write(&if milli == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
        });
    }
    // The common case without the formatting machinery: every action call has two.
    let mut out = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut out[0..4], y.unsigned_abs());
    put_digits(&mut out[5..7], mo.unsigned_abs());
    put_digits(&mut out[8..10], d.unsigned_abs());
    put_digits(&mut out[11..13], h.unsigned_abs());
    put_digits(&mut out[14..16], mi.unsigned_abs());
    put_digits(&mut out[17..19], s.unsigned_abs());
    let text = if milli == 0 {
        out[19] = b'Z';
        &out[..20]
    } else {
        put_digits(&mut out[20..23], milli.unsigned_abs());
        &out[..]
    };
    // Only ASCII digits and separators were written.
    write(std::str::from_utf8(text).unwrap_or_default())
}

/// Writes `n` (below `10^digits.len()`) zero-padded into `digits`.
fn put_digits(digits: &mut [u8], n: u64) {
    let mut n = n;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-27T13:22:07Z`, `2026-11-27 13:22:07.5+01:00`)
/// into milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("`{s}` is not an RFC 3339 time: {why} (write e.g. `2026-11-27T13:22:07Z`)");
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = b.get(from..from + len).ok_or_else(|| bad("it is too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("a date or time field is not a number"));
        }
        Ok(part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad("the separators are wrong")),
        }
    };
    let y = num(0, 4)?;
    sep(4, b"-")?;
    let mo = num(5, 2)?;
    sep(7, b"-")?;
    let d = num(8, 2)?;
    sep(10, b"Tt ")?;
    let h = num(11, 2)?;
    sep(13, b":")?;
    let mi = num(14, 2)?;
    sep(16, b":")?;
    let sec = num(17, 2)?;
    if !(1..=12).contains(&mo) {
        return Err(bad("the month is not 1 to 12"));
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let max_day = month_days.get((mo - 1) as usize).copied().unwrap_or(31);
    if d < 1 || d > max_day {
        return Err(bad("the day does not exist in that month"));
    }
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad("the time of day is out of range"));
    }
    let mut i = 19;
    let mut milli = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad("the fraction of a second is empty"));
        }
        let digits = &b[start..i.min(start + 3)];
        milli = digits.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
        for _ in digits.len()..3 {
            milli *= 10;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = num(i + 1, 2)?;
            sep(i + 3, b":")?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(bad("the UTC offset is out of range"));
            }
            let total = oh * 60 + om;
            if *sign == b'-' { -total } else { total }
        }
        None => return Err(bad("the UTC offset (`Z` or `+01:00`) is missing")),
        _ => return Err(bad("unexpected text after the time")),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset_min * 60;
    Ok(secs * MS_PER_SEC + milli)
}

// ---------------------------------------------------------------------------------------------
// Decoding JSON guided by a type

/// One problem found while decoding JSON: where (`$.tags[2]`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// JSONPath-like location: `$`, `$.reporter`, `$.tags[2]`, `$["odd key"]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Nesting deeper than this is rejected rather than followed.
pub const MAX_DECODE_DEPTH: usize = 64;
/// At most this many problems are listed; one more entry says how many were left out.
pub const MAX_DECODE_ERRORS: usize = 100;

/// Decodes `json` as a value of type `ty` (named types and enums looked up in `program`).
///
/// Every problem is reported with its JSON path, not only the first. Unknown record fields
/// are ignored; a missing optional field is `none`; a missing required field is an error.
/// Accepted forms: durations as literal text (`"30m"`); times as RFC 3339 text or as Unix
/// seconds (a number); enums as a variant name (exact, else ignoring ASCII case); security
/// types as valid strings; `json` takes anything.
pub fn decode(json: &Json, ty: &Type, program: &Program) -> Result<Value, Vec<DecodeError>> {
    decode_with(json, ty, program, &mut FxHashSet::default())
}

/// A value [`decode_names`] made, and whether it is exactly the JSON it was made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub value: Value,
    /// Whether `value` written as JSON ([`Value::to_json`]) is the decoded JSON itself, so
    /// either may stand for the other. Not when decoding dropped or normalised something:
    /// an unknown or absent record field, a number of the other kind (`1` as a `float`,
    /// `1.0` as an `int`), an enum name in another case, a duration, a time or a secret.
    pub exact: bool,
}

/// [`decode`], taking the names it puts into values (record field names, enum and variant
/// names) from `names` when they are there, so a long-lived set saves allocating each again;
/// and saying whether the value is exactly the JSON.
pub fn decode_names(
    json: &Json,
    ty: &Type,
    program: &Program,
    names: &Names,
) -> Result<Decoded, Vec<DecodeError>> {
    let mut shared = names.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    decode_exact(json, ty, program, &mut shared)
}

/// Checks that `value`, made by an in-process connector ([`crate::connectors::ValueConnector`])
/// rather than decoded from JSON, is a value of type `ty`, as strictly as [`decode`] reads
/// JSON: every problem with its path. Beyond the kind of each value: a record has exactly
/// the declared fields, in declaration order (`none` for an absent optional one); an enum
/// value names a variant of the declared enum at its place; a security string is valid for
/// its kind.
pub fn check(value: &Value, ty: &Type, program: &Program) -> Result<(), Vec<DecodeError>> {
    in_two_passes(program, &mut FxHashSet::default(), |d, path| d.check(value, ty, path, 0)).map(|_| ())
}

/// Runs `pass` without paths (most input is valid, and then no path is ever read); when it
/// finds a problem, again with the path of every problem. Its result, and whether it is
/// exact ([`Decoded::exact`]).
fn in_two_passes<T>(
    program: &Program,
    shared: &mut FxHashSet<Text>,
    mut pass: impl FnMut(&mut Decoder<'_>, &mut String) -> T,
) -> Result<(T, bool), Vec<DecodeError>> {
    let mut quick =
        Decoder { program, errors: Vec::new(), dropped: 0, shared, paths: false, failed: false, exact: true };
    let out = pass(&mut quick, &mut String::new());
    if !quick.failed {
        return Ok((out, quick.exact));
    }
    let mut slow = Decoder { paths: true, ..quick };
    // Room for a path a few levels deep, so that descending does not reallocate.
    let mut path = String::with_capacity(64);
    path.push('$');
    pass(&mut slow, &mut path);
    if slow.dropped > 0 {
        slow.errors.push(DecodeError {
            path: "$".to_string(),
            message: format!("… and {} more problems", slow.dropped),
        });
    }
    Err(slow.errors)
}

/// Copies of the names in a program's types (record fields, enums, variants) that decoded
/// values share (see [`decode_names`]). The set is bounded by the program.
#[derive(Default)]
pub struct Names(Mutex<FxHashSet<Text>>);

impl Names {
    pub fn new() -> Names {
        Names::default()
    }
}

fn intern(set: &mut FxHashSet<Text>, name: &str) -> Text {
    if let Some(t) = set.get(name) {
        return t.clone();
    }
    let t = Text::from(name);
    set.insert(t.clone());
    t
}

fn decode_with(
    json: &Json,
    ty: &Type,
    program: &Program,
    shared: &mut FxHashSet<Text>,
) -> Result<Value, Vec<DecodeError>> {
    decode_exact(json, ty, program, shared).map(|d| d.value)
}

fn decode_exact(
    json: &Json,
    ty: &Type,
    program: &Program,
    shared: &mut FxHashSet<Text>,
) -> Result<Decoded, Vec<DecodeError>> {
    in_two_passes(program, shared, |d, path| d.decode(json, ty, path, 0))
        .map(|(value, exact)| Decoded { value, exact })
}

struct Decoder<'p> {
    program: &'p Program,
    errors: Vec<DecodeError>,
    dropped: usize,
    /// Shared copies of names (see [`Names`]).
    shared: &'p mut FxHashSet<Text>,
    /// Whether the JSON path of each value is kept, for error messages. Without it, a
    /// problem only sets `failed`.
    paths: bool,
    failed: bool,
    /// Whether everything decoded so far is exactly its JSON (see [`Decoded::exact`]).
    exact: bool,
}

/// Shows a JSON value briefly inside an error message.
fn brief(json: &Json) -> String {
    let text = match json {
        Json::Array(a) => return format!("a list of {} items", a.len()),
        Json::Object(_) => return "an object".to_string(),
        Json::Null => return "null".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text }
}

fn push_key(path: &mut String, key: &str) {
    if is_identifier(key) {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Json::String(key.to_string()).to_string());
        path.push(']');
    }
}

/// Appends `[i]`: an index in a JSON path, or an iteration in a loop's context path.
pub(crate) fn push_index(path: &mut String, i: usize) {
    // The digits by hand: `write!` costs more than the rest of a loop iteration's bookkeeping.
    let n = u64::try_from(i).unwrap_or(u64::MAX);
    let mut buffer = [0u8; 20];
    let digits = &mut buffer[..n.checked_ilog10().map_or(1, |log| log as usize + 1)];
    put_digits(digits, n);
    path.push('[');
    path.extend(digits.iter().map(|&d| char::from(d)));
    path.push(']');
}

fn security_noun(kind: SecurityKind) -> &'static str {
    match kind {
        SecurityKind::Ip => "an IP address",
        SecurityKind::Cidr => "a CIDR network",
        SecurityKind::Domain => "a domain name",
        SecurityKind::Url => "a URL",
        SecurityKind::Email => "an email address",
        SecurityKind::Hash => "a hash",
        SecurityKind::Host => "a host",
        SecurityKind::User => "a user name",
    }
}

impl Decoder<'_> {
    /// A shared copy of `name`.
    fn name(&mut self, name: &str) -> Text {
        intern(self.shared, name)
    }

    fn error(&mut self, path: &str, message: String) {
        self.failed = true;
        if !self.paths {
            return;
        }
        if self.errors.len() >= MAX_DECODE_ERRORS {
            self.dropped += 1;
        } else {
            self.errors.push(DecodeError { path: path.to_string(), message });
        }
    }

    fn expected(&mut self, path: &str, what: &str, got: &Json) -> Value {
        self.error(path, format!("expected {what}, got {}", brief(got)));
        Value::None
    }

    fn decode(&mut self, json: &Json, ty: &Type, path: &mut String, depth: usize) -> Value {
        if depth > MAX_DECODE_DEPTH {
            self.error(path, format!("nested more than {MAX_DECODE_DEPTH} levels deep"));
            return Value::None;
        }
        match ty {
            Type::Json => Value::Json(json.clone()),
            Type::Optional { inner } => match json {
                Json::Null => Value::None,
                _ => self.decode(json, inner, path, depth + 1),
            },
            Type::None => match json {
                Json::Null => Value::None,
                other => self.expected(path, "null", other),
            },
            Type::Unit => match json {
                Json::Null => Value::Unit,
                other => self.expected(path, "null", other),
            },
            Type::Bool => match json {
                Json::Bool(b) => Value::Bool(*b),
                other => self.expected(path, "true or false", other),
            },
            Type::Int => match json {
                Json::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        Value::Int(i)
                    } else if let Some(f) = n
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
                    {
                        self.exact = false;
                        Value::Int(f as i64)
                    } else {
                        self.expected(path, "an integer", json)
                    }
                }
                other => self.expected(path, "an integer", other),
            },
            Type::Float => match json {
                Json::Number(n) => match n.as_f64() {
                    Some(f) => {
                        // An integer in the JSON is written back as a float (`1` as `1.0`).
                        self.exact &= n.is_f64();
                        Value::Float(f)
                    }
                    None => self.expected(path, "a number", json),
                },
                other => self.expected(path, "a number", other),
            },
            Type::String => match json {
                Json::String(s) => Value::str(s.as_str()),
                other => self.expected(path, "a string", other),
            },
            Type::Secret => match json {
                Json::String(s) => {
                    // Written as `***`.
                    self.exact = false;
                    Value::Secret(Secret::new(s.clone()))
                }
                other => self.expected(path, "a string", other),
            },
            Type::Security { security: kind } => match json {
                Json::String(s) => match security::validate_kind(*kind, s) {
                    Ok(()) => Value::Sec { kind: *kind, text: s.as_str().into() },
                    Err(why) => {
                        let noun = security_noun(*kind);
                        self.error(path, format!("expected {noun}, got {} ({why})", brief(json)));
                        Value::None
                    }
                },
                other => self.expected(path, security_noun(*kind), other),
            },
            Type::Duration => match json {
                Json::String(s) => match parse_duration(s) {
                    Ok(ms) => {
                        // Written back in one form (`"90m"` as `"1h30m"`).
                        self.exact = false;
                        Value::Duration(ms)
                    }
                    Err(why) => {
                        self.error(path, why);
                        Value::None
                    }
                },
                other => self.expected(path, "a duration such as \"30m\"", other),
            },
            Type::Time => {
                // Written back in one form: UTC text with milliseconds.
                self.exact = false;
                match json {
                    Json::String(s) => match parse_time(s) {
                        Ok(ms) => Value::Time(ms),
                        Err(why) => {
                            self.error(path, why);
                            Value::None
                        }
                    },
                    Json::Number(n) => match n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e14) {
                        Some(secs) => Value::Time((secs * 1000.0).round() as i64),
                        None => self.expected(path, "a time (RFC 3339 text or Unix seconds)", json),
                    },
                    other => self.expected(path, "a time (RFC 3339 text or Unix seconds)", other),
                }
            }
            Type::List { item } => match json {
                Json::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, element) in items.iter().enumerate() {
                        let len = path.len();
                        if self.paths {
                            push_index(path, i);
                        }
                        out.push(self.decode(element, item, path, depth + 1));
                        path.truncate(len);
                    }
                    Value::list(out)
                }
                other => self.expected(path, "a list", other),
            },
            Type::Record { fields } => self.decode_record(json, fields, path, depth),
            Type::Run => self.decode_record(json, &Type::run_fields(), path, depth),
            Type::Error => self.decode_record(json, &Type::error_fields(), path, depth),
            Type::Named { id, name } => match self.program.types.get(id.0 as usize) {
                // The program outlives the decoder: no need to copy the type.
                Some(def) => self.decode(json, &def.ty, path, depth + 1),
                None => {
                    self.error(path, format!("the type `{name}` is not defined"));
                    Value::None
                }
            },
            Type::Enum { id, name } => {
                let Some(def) = self.program.enums.get(id.0 as usize) else {
                    self.error(path, format!("the enum `{name}` is not defined"));
                    return Value::None;
                };
                let Json::String(s) = json else {
                    return self.expected(path, &format!("a `{name}` name"), json);
                };
                let found = def.variants.iter().position(|v| v.name == *s).or_else(|| {
                    // Written back as the declared name.
                    self.exact = false;
                    def.variants.iter().position(|v| v.name.eq_ignore_ascii_case(s))
                });
                match found.and_then(|i| def.variants.get(i).map(|v| (i, v))) {
                    Some((i, v)) => Value::Enum {
                        enum_name: self.name(&def.name),
                        variant: self.name(&v.name),
                        ordinal: i as u32,
                    },
                    None => {
                        let names: Vec<&str> = def.variants.iter().map(|v| v.name.as_str()).collect();
                        self.error(
                            path,
                            format!("expected one of {} ({name}), got {}", names.join(", "), brief(json)),
                        );
                        Value::None
                    }
                }
            }
            Type::Never | Type::Unknown => {
                self.error(path, format!("values of type `{ty}` cannot be decoded"));
                Value::None
            }
        }
    }

    fn mismatch(&mut self, path: &str, what: &str, got: &Value) {
        self.error(path, format!("expected {what}, got {}", got.kind_name()));
    }

    /// See [`check`].
    fn check(&mut self, value: &Value, ty: &Type, path: &mut String, depth: usize) {
        if depth > MAX_DECODE_DEPTH {
            self.error(path, format!("nested more than {MAX_DECODE_DEPTH} levels deep"));
            return;
        }
        match (ty, value) {
            (Type::Json, Value::Json(_))
            | (Type::Optional { .. } | Type::None, Value::None)
            | (Type::Unit, Value::Unit)
            | (Type::Bool, Value::Bool(_))
            | (Type::Int, Value::Int(_))
            | (Type::Float, Value::Float(_))
            | (Type::String, Value::Str(_))
            | (Type::Secret, Value::Secret(_))
            | (Type::Duration, Value::Duration(_))
            | (Type::Time, Value::Time(_)) => {}
            (Type::Optional { inner }, value) => self.check(value, inner, path, depth + 1),
            (Type::Security { security: kind }, Value::Sec { kind: got, text }) if got == kind => {
                if let Err(why) = security::validate_kind(*kind, text) {
                    let noun = security_noun(*kind);
                    self.error(path, format!("expected {noun}, got {text:?} ({why})"));
                }
            }
            (Type::Security { security: kind }, other) => self.mismatch(path, security_noun(*kind), other),
            (Type::List { item }, Value::List(items)) => {
                for (i, element) in items.iter().enumerate() {
                    let len = path.len();
                    if self.paths {
                        push_index(path, i);
                    }
                    self.check(element, item, path, depth + 1);
                    path.truncate(len);
                }
            }
            (Type::Record { fields }, value) => self.check_record(value, fields, path, depth),
            (Type::Run, value) => self.check_record(value, &Type::run_fields(), path, depth),
            (Type::Error, value) => self.check_record(value, &Type::error_fields(), path, depth),
            (Type::Named { id, name }, value) => match self.program.types.get(id.0 as usize) {
                Some(def) => self.check(value, &def.ty, path, depth + 1),
                None => self.error(path, format!("the type `{name}` is not defined")),
            },
            (Type::Enum { id, name }, Value::Enum { enum_name, variant, ordinal }) => {
                let Some(def) = self.program.enums.get(id.0 as usize) else {
                    return self.error(path, format!("the enum `{name}` is not defined"));
                };
                let at = def.variants.get(*ordinal as usize);
                if **enum_name != *def.name || at.is_none_or(|v| *v.name != **variant) {
                    let names: Vec<&str> = def.variants.iter().map(|v| v.name.as_str()).collect();
                    self.error(
                        path,
                        format!(
                            "expected one of {} ({name}) at its place, got {enum_name}.{variant} at {ordinal}",
                            names.join(", ")
                        ),
                    );
                }
            }
            (Type::Enum { name, .. }, other) => self.mismatch(path, &format!("a `{name}` value"), other),
            (Type::Never | Type::Unknown, _) => {
                self.error(path, format!("values of type `{ty}` cannot be checked"));
            }
            (ty, other) => self.mismatch(path, &format!("a value of type `{ty}`"), other),
        }
    }

    fn check_record(
        &mut self,
        value: &Value,
        fields: &[parry_compiler::ir::FieldType],
        path: &mut String,
        depth: usize,
    ) {
        let Value::Record(got) = value else {
            return self.mismatch(path, "a record", value);
        };
        let names_match =
            got.len() == fields.len() && got.iter().zip(fields).all(|((k, _), f)| **k == *f.name);
        if !names_match {
            let want: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let have: Vec<&str> = got.iter().map(|(k, _)| &**k).collect();
            return self.error(
                path,
                format!("expected the fields {} in this order, got {}", want.join(", "), have.join(", ")),
            );
        }
        for ((_, v), field) in got.iter().zip(fields) {
            let len = path.len();
            if self.paths {
                push_key(path, &field.name);
            }
            self.check(v, &field.ty, path, depth + 1);
            path.truncate(len);
        }
    }

    /// Whether a field of type `ty` may be absent: optional, `json` or `none`, also through
    /// declared type names.
    fn may_be_missing(&self, ty: &Type) -> bool {
        let mut ty = ty;
        for _ in 0..MAX_DECODE_DEPTH {
            match ty {
                Type::Optional { .. } | Type::Json | Type::None => return true,
                Type::Named { id, .. } => match self.program.types.get(id.0 as usize) {
                    Some(def) => ty = &def.ty,
                    None => return false,
                },
                _ => return false,
            }
        }
        false
    }

    fn decode_record(
        &mut self,
        json: &Json,
        fields: &[parry_compiler::ir::FieldType],
        path: &mut String,
        depth: usize,
    ) -> Value {
        let Json::Object(map) = json else {
            return self.expected(path, "an object", json);
        };
        let mut out = Vec::with_capacity(fields.len());
        let mut present = 0;
        for field in fields {
            let len = path.len();
            if self.paths {
                push_key(path, &field.name);
            }
            let value = match (map.get(&field.name), &field.ty) {
                (Some(j), ty) => {
                    present += 1;
                    self.decode(j, ty, path, depth + 1)
                }
                // Written back as `null`.
                (None, ty) if self.may_be_missing(ty) => Value::None,
                (None, ty) => {
                    self.error(path, format!("missing required field `{}` ({ty})", field.name));
                    Value::None
                }
            };
            path.truncate(len);
            out.push((self.name(&field.name), value));
        }
        // A field absent, or one the type does not declare, is not written back as it was.
        self.exact &= present == fields.len() && present == map.len();
        Value::Record(Arc::new(out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use parry_compiler::ir::{EnumDef, EnumId, FieldType, TypeDef, TypeId, Variant};
    use parry_syntax::ast::Span;
    use serde_json::json;

    fn field(name: &str, ty: Type) -> FieldType {
        FieldType { name: name.to_string(), ty, doc: None, span: Span::default() }
    }

    fn program() -> Program {
        let variant = |n: &str| Variant { name: n.to_string(), span: Span::default() };
        let mut p = Program::default();
        p.enums.push(EnumDef {
            name: "Verdict".into(),
            variants: ["unknown", "benign", "suspicious", "malicious"].map(variant).to_vec(),
            doc: None,
            builtin: true,
            name_span: Span::default(),
            span: Span::default(),
        });
        p.types.push(TypeDef {
            name: "Attachment".into(),
            connector: None,
            ty: Type::Record {
                fields: vec![
                    field("name", Type::String),
                    field("sha256", Type::security(SecurityKind::Hash)),
                ],
            },
            doc: None,
            name_span: Span::default(),
            span: Span::default(),
        });
        p
    }

    fn alert_type() -> Type {
        Type::Record {
            fields: vec![
                field("reporter", Type::security(SecurityKind::Email)),
                field("subject", Type::String),
                field("tags", Type::list(Type::String)),
                field("urls", Type::optional(Type::list(Type::security(SecurityKind::Url)))),
                field("verdict", Type::Enum { id: EnumId(0), name: "Verdict".into() }),
                field("attachments", Type::list(Type::Named { id: TypeId(0), name: "Attachment".into() })),
                field("received", Type::Time),
                field("window", Type::Duration),
                field("count", Type::Int),
                field("raw", Type::Json),
            ],
        }
    }

    #[test]
    fn decodes_a_valid_alert() {
        let alert = json!({
            "reporter": "alice@example.com",
            "subject": "Invoice",
            "tags": ["phish", "reported"],
            "verdict": "Malicious",
            "attachments": [{"name": "a.pdf", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],
            "received": "2026-11-27T13:22:07Z",
            "window": "1h30m",
            "count": 3,
            "raw": {"x": [1, 2]},
            "unknown_field": 42
        });
        let v = decode(&alert, &alert_type(), &program()).unwrap();
        assert_eq!(v.field("reporter").unwrap(), Value::str("alice@example.com"));
        assert!(matches!(v.field("reporter"), Some(Value::Sec { kind: SecurityKind::Email, .. })));
        assert_eq!(v.field("urls"), Some(Value::None));
        assert!(matches!(v.field("verdict"), Some(Value::Enum { ordinal: 3, .. })));
        assert_eq!(v.field("received"), Some(Value::Time(1_795_785_727_000)));
        assert_eq!(v.field("window"), Some(Value::Duration(90 * 60 * 1000)));
        assert_eq!(v.field("raw").unwrap().to_json(), json!({"x": [1, 2]}));
        assert!(v.field("unknown_field").is_none());
    }

    /// Decodes with [`decode_names`], checking its `exact` against the texts themselves.
    fn exactly(json: Json, ty: &Type) -> bool {
        let decoded = decode_names(&json, ty, &program(), &Names::new()).unwrap();
        let mut text = String::new();
        crate::store::json_text::write_value(&mut text, &decoded.value);
        let same = text == serde_json::to_string(&json).unwrap();
        // `exact` is a promise: when it is made, the texts are the same.
        assert!(!decoded.exact || same, "{json} written back as {text}");
        decoded.exact
    }

    #[test]
    fn a_decoded_value_says_whether_it_is_exactly_its_json() {
        let verdict = || Type::Enum { id: EnumId(0), name: "Verdict".into() };
        let attachment = || Type::Named { id: TypeId(0), name: "Attachment".into() };
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let rep = Type::Record {
            fields: vec![
                field("verdict", verdict()),
                field("score", Type::Float),
                field("note", Type::optional(Type::String)),
            ],
        };
        // Exact: what a connector usually returns.
        assert!(exactly(json!({"name": "a.pdf", "sha256": hash}), &attachment()));
        assert!(exactly(
            json!([{"name": "a", "sha256": hash}, {"name": "b\n\"q\"", "sha256": hash}]),
            &Type::list(attachment())
        ));
        assert!(exactly(json!({"verdict": "malicious", "score": 2.5, "note": null}), &rep));
        assert!(exactly(json!({"verdict": "benign", "score": -0.0, "note": "ok"}), &rep));
        assert!(exactly(json!(null), &Type::optional(Type::Int)));
        assert!(exactly(json!(-7), &Type::Int));
        assert!(exactly(json!({"any": [1, {"b": 2.5}]}), &Type::Json));
        assert!(exactly(json!("http://evil.example/a?b=1"), &Type::security(SecurityKind::Url)));
        // Not exact: something is dropped or written back in another form.
        assert!(
            !exactly(json!({"name": "a.pdf", "sha256": hash, "size": 3}), &attachment()),
            "an unknown field"
        );
        assert!(!exactly(json!({"verdict": "malicious", "score": 2.5}), &rep), "an absent optional field");
        assert!(
            !exactly(json!({"verdict": "Malicious", "score": 2.5, "note": null}), &rep),
            "an enum name's case"
        );
        assert!(
            !exactly(json!({"verdict": "benign", "score": 2, "note": null}), &rep),
            "an integer as a float"
        );
        assert!(!exactly(json!(3.0), &Type::Int), "a float as an integer");
        assert!(!exactly(json!("90m"), &Type::Duration));
        assert!(!exactly(json!("2026-11-27T14:22:07+01:00"), &Type::Time));
        assert!(!exactly(json!(1_795_785_727), &Type::Time));
        assert!(!exactly(json!("hunter2"), &Type::Secret));
        // One inexact part makes the whole inexact.
        assert!(!exactly(
            json!([{"name": "a", "sha256": hash}, {"name": "b", "sha256": hash, "x": 1}]),
            &Type::list(attachment())
        ));
    }

    #[test]
    fn a_value_from_a_typed_connector_is_checked_like_decoded_json() {
        let program = program();
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let alert = json!({
            "reporter": "alice@example.com", "subject": "Invoice", "tags": ["phish"],
            "urls": ["http://evil.example/a"], "verdict": "malicious",
            "attachments": [{"name": "a.pdf", "sha256": hash}],
            "received": "2026-11-27T13:22:07Z", "window": "1h30m", "count": 3, "raw": {"x": [1, 2]}
        });
        // What decoding makes passes the check, whatever it is.
        let good = decode(&alert, &alert_type(), &program).unwrap();
        assert_eq!(check(&good, &alert_type(), &program), Ok(()));
        let without_urls = {
            let mut j = alert.clone();
            j.as_object_mut().unwrap().remove("urls");
            decode(&j, &alert_type(), &program).unwrap()
        };
        assert_eq!(check(&without_urls, &alert_type(), &program), Ok(()), "an absent optional field is none");

        // Each kind of mistake, found with its path.
        let with = |name: &str, value: Value| {
            let Value::Record(fields) = &good else { panic!("a record") };
            let fields: Vec<(Text, Value)> = fields
                .iter()
                .map(|(k, v)| (k.clone(), if &**k == name { value.clone() } else { v.clone() }))
                .collect();
            Value::Record(Arc::new(fields))
        };
        let problems = |value: &Value| -> Vec<String> {
            check(value, &alert_type(), &program).unwrap_err().iter().map(ToString::to_string).collect()
        };
        let bad_email = Value::Sec { kind: SecurityKind::Email, text: Text::from("not an address") };
        assert!(
            problems(&with("reporter", bad_email))[0].starts_with("$.reporter: expected an email address")
        );
        let plain = problems(&with("reporter", Value::str("alice@example.com")));
        assert_eq!(plain, ["$.reporter: expected an email address, got a string"]);
        let tags = problems(&with("tags", Value::list(vec![Value::str("a"), Value::Int(3)])));
        assert_eq!(tags, ["$.tags[1]: expected a value of type `string`, got an int"]);
        let misplaced = Value::variant("Verdict", "malicious", 0);
        assert!(problems(&with("verdict", misplaced))[0].starts_with("$.verdict: expected one of unknown"));
        let float = problems(&with("count", Value::Float(3.0)));
        assert_eq!(float, ["$.count: expected a value of type `int`, got a float"]);
        let attachment = Value::record([("sha256", Value::str(hash)), ("name", Value::str("a.pdf"))]);
        let swapped = problems(&with("attachments", Value::list(vec![attachment])));
        assert_eq!(
            swapped,
            ["$.attachments[0]: expected the fields name, sha256 in this order, got sha256, name"]
        );
        assert_eq!(problems(&Value::Int(1)), ["$: expected a record, got an int"]);
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let alert = json!({
            "reporter": "bob",
            "tags": ["a", "b", 3],
            "verdict": "evil",
            "attachments": [{"name": 1, "sha256": "xyz"}],
            "received": "yesterday",
            "window": 30,
            "count": 1.5,
            "urls": ["hxxp://evil.example"]
        });
        let errors = decode(&alert, &alert_type(), &program()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let has = |prefix: &str| shown.iter().any(|e| e.starts_with(prefix));
        assert!(
            shown.iter().any(|e| e.starts_with("$.reporter: expected an email address, got \"bob\"")),
            "{shown:#?}"
        );
        assert!(has("$.subject: missing required field `subject`"), "{shown:#?}");
        assert!(has("$.tags[2]: expected a string, got 3"), "{shown:#?}");
        assert!(has("$.verdict: expected one of unknown, benign, suspicious, malicious"), "{shown:#?}");
        assert!(has("$.attachments[0].name: expected a string, got 1"), "{shown:#?}");
        assert!(has("$.attachments[0].sha256: expected a hash"), "{shown:#?}");
        assert!(has("$.received: `yesterday` is not an RFC 3339 time"), "{shown:#?}");
        assert!(has("$.window: expected a duration"), "{shown:#?}");
        assert!(has("$.count: expected an integer, got 1.5"), "{shown:#?}");
        assert!(has("$.urls[0]: expected a URL"), "{shown:#?}");
        assert_eq!(errors.len(), 10, "{shown:#?}");
        let not_object = decode(&json!([1]), &alert_type(), &program()).unwrap_err();
        assert_eq!(not_object[0].to_string(), "$: expected an object, got a list of 1 items");
    }

    #[test]
    fn optional_through_a_type_name_may_be_missing() {
        let mut p = program();
        p.types.push(TypeDef {
            name: "MaybeUrl".into(),
            connector: None,
            ty: Type::optional(Type::security(SecurityKind::Url)),
            doc: None,
            name_span: Span::default(),
            span: Span::default(),
        });
        let ty = Type::Record {
            fields: vec![field("link", Type::Named { id: TypeId(1), name: "MaybeUrl".into() })],
        };
        let v = decode(&json!({}), &ty, &p).unwrap();
        assert_eq!(v.field("link"), Some(Value::None));
        let errors = decode(&json!({"link": "nope"}), &ty, &p).unwrap_err();
        assert!(errors[0].to_string().starts_with("$.link: expected a URL"), "{errors:?}");
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let ty = Type::Record { fields: vec![field("odd key", Type::Int)] };
        let errors = decode(&json!({"odd key": "x"}), &ty, &program()).unwrap_err();
        assert_eq!(errors[0].path, "$[\"odd key\"]");
    }

    #[test]
    fn deep_and_huge_input_do_not_panic() {
        let mut ty = Type::Int;
        for _ in 0..200 {
            ty = Type::list(ty);
        }
        let mut json = json!(1);
        for _ in 0..120 {
            json = json!([json]);
        }
        let errors = decode(&json, &ty, &program()).unwrap_err();
        assert!(errors[0].message.contains("nested more than"));
        let many = Json::Array((0..10_000).map(|i| json!(i)).collect());
        let errors = decode(&many, &Type::list(Type::String), &program()).unwrap_err();
        assert_eq!(errors.len(), MAX_DECODE_ERRORS + 1);
        assert!(errors.last().unwrap().message.contains("9900 more"));
    }

    #[test]
    fn recursive_named_type_is_bounded() {
        let mut p = Program::default();
        p.types.push(TypeDef {
            name: "Tree".into(),
            connector: None,
            ty: Type::list(Type::Named { id: TypeId(0), name: "Tree".into() }),
            doc: None,
            name_span: Span::default(),
            span: Span::default(),
        });
        let mut json = json!([]);
        for _ in 0..100 {
            json = json!([json]);
        }
        let errors = decode(&json, &Type::Named { id: TypeId(0), name: "Tree".into() }, &p).unwrap_err();
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn equality_rules() {
        let ip = Value::security(SecurityKind::Ip, "10.0.0.1").unwrap();
        assert_eq!(ip, Value::str("10.0.0.1"));
        assert_eq!(Value::str("10.0.0.1"), ip);
        assert_ne!(ip, Value::str("10.0.0.2"));
        assert_eq!(Value::Int(3), Value::Float(3.0));
        assert_ne!(Value::Int(3), Value::Float(3.5));
        assert_eq!(Value::Json(json!("x")), Value::str("x"));
        assert_eq!(Value::Json(json!(2)), Value::Int(2));
        assert_eq!(Value::Json(json!(null)), Value::None);
        let malicious = Value::Enum { enum_name: "Verdict".into(), variant: "malicious".into(), ordinal: 3 };
        assert_eq!(Value::Json(json!("malicious")), malicious);
        assert_ne!(Value::Json(json!("benign")), malicious);
        assert_ne!(Value::Int(1), Value::Bool(true));
        let r1 = Value::record([("a", Value::Int(1)), ("b", Value::Int(2))]);
        let r2 = Value::record([("b", Value::Int(2)), ("a", Value::Int(1))]);
        assert_eq!(r1, r2);
        assert!(Value::security(SecurityKind::Ip, "10.0.0.300").is_err());
    }

    #[test]
    fn ordering_rules() {
        let e = |v: &str, o: u32| Value::Enum { enum_name: "Severity".into(), variant: v.into(), ordinal: o };
        assert!(e("low", 0) < e("high", 2));
        assert!(Value::Int(2) < Value::Float(2.5));
        assert!(Value::str("a") < Value::str("b"));
        assert!(Value::Duration(1000) < Value::Duration(60_000));
        assert!(Value::Time(1) > Value::Time(0));
        assert_eq!(Value::Int(1).compare(&Value::str("1")), None);
        let other = Value::Enum { enum_name: "Verdict".into(), variant: "low".into(), ordinal: 0 };
        assert_eq!(e("low", 0).compare(&other), None);
    }

    #[test]
    fn display_for_interpolation() {
        assert_eq!(Value::str("hi").to_string(), "hi");
        assert_eq!(Value::list(vec![Value::str("a"), Value::Int(1)]).to_string(), "[\"a\", 1]");
        assert_eq!(
            Value::record([("k", Value::str("v")), ("odd key", Value::Bool(true))]).to_string(),
            "{ k: \"v\", \"odd key\": true }"
        );
        assert_eq!(Value::Duration(30 * 60_000).to_string(), "30m");
        assert_eq!(Value::Duration(5_400_500).to_string(), "1h30m500ms");
        assert_eq!(Value::Duration(0).to_string(), "0s");
        assert_eq!(Value::Time(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Value::Time(1_795_785_727_123).to_string(), "2026-11-27T13:22:07.123Z");
        assert_eq!(format_time(1_795_785_727_007), "2026-11-27T13:22:07.007Z");
        assert_eq!(format_time(1_795_785_727_120), "2026-11-27T13:22:07.120Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_time(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00Z");
        for ms in [0, 1, 59_999, 86_399_999, 1_795_785_727_000, 4_102_444_800_001] {
            assert_eq!(parse_time(&format_time(ms)).unwrap(), ms, "{ms}");
        }
        assert_eq!(Value::Float(3.0).to_string(), "3.0");
        assert_eq!(Value::Float(0.25).to_string(), "0.25");
        assert_eq!(Value::None.to_string(), "none");
        let e = Value::Enum { enum_name: "Verdict".into(), variant: "malicious".into(), ordinal: 3 };
        assert_eq!(e.to_string(), "malicious");
        assert_eq!(Value::Json(json!("raw")).to_string(), "raw");
        assert_eq!(Value::Json(json!({"a": 1})).to_string(), "{\"a\":1}");
    }

    #[test]
    fn secrets_never_show() {
        let s = Value::Secret(Secret::new("hunter2"));
        assert_eq!(s.to_string(), "***");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", Value::list(vec![s.clone()])).contains("hunter2"));
        assert_eq!(s.to_json(), json!("***"));
        let Value::Secret(inner) = &s else { unreachable!() };
        assert_eq!(inner.expose(), "hunter2");
    }

    #[test]
    fn to_json_mapping() {
        let v = Value::record([
            ("e", Value::Enum { enum_name: "Verdict".into(), variant: "benign".into(), ordinal: 1 }),
            ("d", Value::Duration(7 * 86_400_000)),
            ("t", Value::Time(0)),
            ("n", Value::None),
            ("f", Value::Float(f64::NAN)),
            ("ip", Value::security(SecurityKind::Ip, "::1").unwrap()),
        ]);
        assert_eq!(
            v.to_json(),
            json!({"e": "benign", "d": "7d", "t": "1970-01-01T00:00:00Z", "n": null, "f": null, "ip": "::1"})
        );
    }

    #[test]
    fn durations_round_trip() {
        for s in ["500ms", "15s", "30m", "2h", "7d", "1h30m", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").unwrap_err().contains("unit is missing"));
        assert!(parse_duration("5w").unwrap_err().contains("`w` is not a unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("9999999999999d").is_err());
        assert_eq!(parse_duration("-5s").unwrap(), -5000);
    }

    #[test]
    fn times_parse_and_format() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_time("2026-11-27T13:22:07Z").unwrap(), 1_795_785_727_000);
        assert_eq!(parse_time("2026-11-27T14:22:07+01:00").unwrap(), 1_795_785_727_000);
        assert_eq!(parse_time("2026-11-27 13:22:07.5z").unwrap(), 1_795_785_727_500);
        assert_eq!(parse_time("2024-02-29T00:00:00Z").map(format_time).unwrap(), "2024-02-29T00:00:00Z");
        assert!(parse_time("2023-02-29T00:00:00Z").unwrap_err().contains("day does not exist"));
        assert!(parse_time("2026-13-01T00:00:00Z").unwrap_err().contains("month"));
        assert!(parse_time("2026-11-27T13:22:07").unwrap_err().contains("offset"));
        assert!(parse_time("2026-11-27").is_err());
        assert!(parse_time("").is_err());
        assert!(parse_time("2026-11-27T25:00:00Z").is_err());
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
        for ms in [0i64, 951_782_400_000, 4_102_444_800_000, 1_795_785_727_123] {
            assert_eq!(parse_time(&format_time(ms)).unwrap(), ms);
        }
        assert_eq!(format_time(1_795_785_727_120), "2026-11-27T13:22:07.120Z");
        assert_eq!(format_time(1_795_785_727_000), "2026-11-27T13:22:07Z");
        assert_eq!(format_time(253_402_300_800_000), "10000-01-01T00:00:00Z");
        assert_eq!(format_time(-62_167_219_200_001), "-001-12-31T23:59:59.999Z");
    }
}
