//! The pure built-in functions of LANGUAGE.md §4 and the type conversions, over [`Value`]s.
//!
//! One entry point, [`call_builtin`]. Nothing here has an effect; `now()` returns the time
//! the engine passes in (the engine journals it, so a resumed run sees the same value).
//!
//! Decisions (also in `docs/language.md`):
//! - `worst`/`best` take one list or several arguments; they return the greatest/least value
//!   (enums by declaration order). [`call_builtin`] returns `none` for an empty list, since
//!   it does not know the enum; the engine, which knows the call's type, replaces it with
//!   [`extreme_of_empty`]: the first variant for `worst` (`unknown`, `low`), the last for
//!   `best` — the neutral element of max and min.
//! - `join` accepts `join(list, sep)` and `join(sep, list)`; `sep` defaults to `""`.
//!   `split(s)` splits on runs of whitespace; `split(s, sep)` on `sep` (not empty).
//! - `contains(haystack, needle)`: list membership (by `==`), substring, or JSON key/element.
//! - `extract_*` take a string, or any value whose strings are searched (lists, records,
//!   JSON), and return a list of security strings.
//! - `base64` is standard with padding; `base64url` is URL-safe without padding (the form
//!   VirusTotal's URL identifiers use).
//! - `domain_of` gives the lower-case domain of a URL, email or domain; a URL whose host is
//!   an IP address or a single label (`http://10.0.0.1/`) fails with kind `conversion`.
//! - Conversions (`ip(s)`, ..., `int(x)`, `float(x)`, `string(x)`) fail with kind
//!   `conversion` and a message saying why; `string` of a secret is refused.

use crate::extract;
use crate::value::{Value, format_duration};
use base64::Engine as _;
use parry_compiler::ir::SecurityKind;
use parry_compiler::security;
use serde_json::Value as Json;
use sha2::Digest as _;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The names [`call_builtin`] accepts: the built-ins of §4, then the conversions.
pub const BUILTINS: &[&str] = &[
    "len",
    "worst",
    "best",
    "any",
    "all",
    "contains",
    "unique",
    "flatten",
    "lower",
    "upper",
    "starts_with",
    "ends_with",
    "split",
    "join",
    "now",
    "extract_urls",
    "extract_domains",
    "extract_ips",
    "extract_emails",
    "extract_hashes",
    "defang",
    "refang",
    "domain_of",
    "is_private",
    "cidr_contains",
    "base64",
    "base64url",
    "sha256",
    "parse_json",
    "to_json",
    "ip",
    "cidr",
    "domain",
    "url",
    "email",
    "hash",
    "host",
    "user",
    "string",
    "int",
    "float",
];

/// Whether `name` is a built-in function.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// A built-in that could not produce a value. Surfaces in `catch err` as
/// `{ kind, message, action: none }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinError {
    /// `conversion` (a type conversion got bad input), `invalid_argument` (wrong number or
    /// kind of arguments, or a value the function cannot take), `unknown_builtin`.
    pub kind: &'static str,
    pub message: String,
}

impl fmt::Display for BuiltinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuiltinError {}

fn invalid(message: impl Into<String>) -> BuiltinError {
    BuiltinError { kind: "invalid_argument", message: message.into() }
}

fn conversion(message: impl Into<String>) -> BuiltinError {
    BuiltinError { kind: "conversion", message: message.into() }
}

type Result<T> = std::result::Result<T, BuiltinError>;

/// Calls the built-in `name` with positional `args`; `now_ms` is the run's current time
/// (UTC milliseconds), returned by `now()`.
pub fn call_builtin(name: &str, args: Vec<Value>, now_ms: i64) -> Result<Value> {
    let args = Args { name, values: args };
    match name {
        "len" => len(args.one()?),
        "worst" => extreme(name, args.values, std::cmp::Ordering::Greater),
        "best" => extreme(name, args.values, std::cmp::Ordering::Less),
        "any" => bools(name, args.one()?, false),
        "all" => bools(name, args.one()?, true),
        "contains" => {
            let (haystack, needle) = args.two()?;
            contains(&haystack, &needle).map(Value::Bool)
        }
        "unique" => {
            let list = args.list(args.one_ref()?)?;
            let mut out: Vec<Value> = Vec::with_capacity(list.len());
            for item in list {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        }
        "flatten" => {
            let list = args.list(args.one_ref()?)?;
            let mut out = Vec::new();
            for item in list {
                match item {
                    Value::List(inner) => out.extend(inner.iter().cloned()),
                    Value::Json(Json::Array(inner)) => {
                        out.extend(inner.iter().cloned().map(Value::Json));
                    }
                    other => out.push(other.clone()),
                }
            }
            Ok(Value::list(out))
        }
        "lower" | "upper" => {
            let v = args.one()?;
            let text = args.text(&v, 1)?;
            let changed = if name == "lower" { text.to_lowercase() } else { text.to_uppercase() };
            Ok(match v {
                Value::Sec { kind, .. } if security::validate_kind(kind, &changed).is_ok() => {
                    Value::Sec { kind, text: changed.into() }
                }
                _ => Value::str(changed),
            })
        }
        "starts_with" | "ends_with" => {
            let (s, affix) = args.two()?;
            let (s, affix) = (args.text(&s, 1)?, args.text(&affix, 2)?);
            Ok(Value::Bool(if name == "starts_with" { s.starts_with(affix) } else { s.ends_with(affix) }))
        }
        "split" => split(&args),
        "join" => join(&args),
        "now" => {
            args.count(0)?;
            Ok(Value::Time(now_ms))
        }
        "extract_urls" => extracted(&args, SecurityKind::Url, extract::extract_urls),
        "extract_domains" => extracted(&args, SecurityKind::Domain, extract::extract_domains),
        "extract_ips" => extracted(&args, SecurityKind::Ip, extract::extract_ips),
        "extract_emails" => extracted(&args, SecurityKind::Email, extract::extract_emails),
        "extract_hashes" => extracted(&args, SecurityKind::Hash, extract::extract_hashes),
        "defang" | "refang" => {
            let v = args.one()?;
            let f = if name == "defang" { extract::defang } else { extract::refang };
            map_strings(&args, v, &|s| Value::str(f(s)))
        }
        "domain_of" => domain_of(&args, args.one_ref()?),
        "is_private" => {
            let v = args.one()?;
            let ip = parse_ip(&args, &v)?;
            Ok(Value::Bool(is_private(ip)))
        }
        "cidr_contains" => {
            let (net, ip) = args.two()?;
            let text = args.text(&net, 1)?;
            let (network, prefix) = security::parse_cidr(text).map_err(invalid)?;
            let ip = parse_ip(&args, &ip)?;
            Ok(Value::Bool(cidr_contains(network, prefix, ip)))
        }
        "base64" | "base64url" => {
            let v = args.one()?;
            let text = args.text(&v, 1)?;
            let encoded = if name == "base64" {
                base64::engine::general_purpose::STANDARD.encode(text)
            } else {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
            };
            Ok(Value::str(encoded))
        }
        "sha256" => {
            let v = args.one()?;
            let text = args.text(&v, 1)?;
            let digest = sha2::Sha256::digest(text.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Ok(Value::Sec { kind: SecurityKind::Hash, text: hex.into() })
        }
        "parse_json" => {
            let v = args.one()?;
            if let Value::Json(j) = v {
                return Ok(Value::Json(j));
            }
            let text = args.text(&v, 1)?;
            serde_json::from_str::<Json>(text).map(Value::Json).map_err(|e| {
                conversion(format!(
                    "parse_json: the text is not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })
        }
        "to_json" => {
            let v = args.one()?;
            Ok(Value::str(v.to_json().to_string()))
        }
        "string" => {
            let v = args.one()?;
            match v {
                Value::Secret(_) => Err(conversion(
                    "string: a secret cannot be converted to a string (it may only flow into an \
                     HTTP header, query or body)",
                )),
                Value::Str(s) => Ok(Value::Str(s)),
                other => Ok(Value::str(other.to_string())),
            }
        }
        "int" => to_int(args.one()?).map(Value::Int),
        "float" => to_float(args.one()?).map(Value::Float),
        other => match SecurityKind::from_name(other) {
            Some(kind) => {
                let v = args.one()?;
                to_security(kind, &v)
            }
            None => Err(BuiltinError {
                kind: "unknown_builtin",
                message: format!("`{other}` is not a built-in function"),
            }),
        },
    }
}

/// Arguments of one call, with helpers that produce uniform error messages.
struct Args<'a> {
    name: &'a str,
    values: Vec<Value>,
}

impl Args<'_> {
    fn count(&self, n: usize) -> Result<()> {
        if self.values.len() == n {
            Ok(())
        } else {
            Err(invalid(format!(
                "{}() takes {n} argument{}, got {}",
                self.name,
                if n == 1 { "" } else { "s" },
                self.values.len()
            )))
        }
    }

    fn one(&self) -> Result<Value> {
        self.one_ref().cloned()
    }

    fn one_ref(&self) -> Result<&Value> {
        self.count(1)?;
        self.values.first().ok_or_else(|| invalid(format!("{}() takes 1 argument", self.name)))
    }

    fn two(&self) -> Result<(Value, Value)> {
        self.count(2)?;
        match self.values.as_slice() {
            [a, b] => Ok((a.clone(), b.clone())),
            _ => Err(invalid(format!("{}() takes 2 arguments", self.name))),
        }
    }

    fn text<'v>(&self, v: &'v Value, position: usize) -> Result<&'v str> {
        v.as_str().ok_or_else(|| {
            invalid(format!("{}(): argument {position} must be a string, got {}", self.name, v.kind_name()))
        })
    }

    fn list<'v>(&self, v: &'v Value) -> Result<&'v [Value]> {
        v.as_list().ok_or_else(|| {
            invalid(format!("{}(): the argument must be a list, got {}", self.name, v.kind_name()))
        })
    }
}

fn len(v: Value) -> Result<Value> {
    let n = match &v {
        Value::List(items) => items.len(),
        Value::Str(s) | Value::Sec { text: s, .. } => s.chars().count(),
        Value::Record(fields) => fields.len(),
        Value::Json(Json::Array(a)) => a.len(),
        Value::Json(Json::Object(o)) => o.len(),
        Value::Json(Json::String(s)) => s.chars().count(),
        other => {
            return Err(invalid(format!(
                "len(): expected a list, string, record or JSON array/object, got {}",
                other.kind_name()
            )));
        }
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn extreme(name: &str, args: Vec<Value>, keep: std::cmp::Ordering) -> Result<Value> {
    let items = match <[Value; 1]>::try_from(args) {
        Ok([Value::List(items)]) => Arc::unwrap_or_clone(items),
        Ok([single]) => vec![single],
        Err(args) => args,
    };
    let mut best: Option<Value> = None;
    for item in items {
        if item.is_none() {
            continue;
        }
        best = Some(match best {
            None => item,
            Some(current) => match item.compare(&current) {
                Some(ord) if ord == keep => item,
                Some(_) => current,
                None => {
                    return Err(invalid(format!(
                        "{name}(): cannot compare {} with {}",
                        item.kind_name(),
                        current.kind_name()
                    )));
                }
            },
        });
    }
    Ok(best.unwrap_or(Value::None))
}

/// What `worst` (`name = "worst"`) or `best` of an empty list of the enum `ty` is: the
/// enum's first variant for `worst`, its last for `best`. `None` when `ty` is not an enum.
pub fn extreme_of_empty(
    name: &str,
    ty: &parry_compiler::ir::Type,
    program: &parry_compiler::ir::Program,
) -> Option<Value> {
    let parry_compiler::ir::Type::Enum { id, .. } = ty else { return None };
    let def = program.enums.get(id.0 as usize)?;
    let index = if name == "best" { def.variants.len().checked_sub(1)? } else { 0 };
    let variant = def.variants.get(index)?;
    Some(Value::Enum {
        enum_name: def.name.as_str().into(),
        variant: variant.name.as_str().into(),
        ordinal: u32::try_from(index).ok()?,
    })
}

fn bools(name: &str, v: Value, all: bool) -> Result<Value> {
    let Value::List(items) = v else {
        return Err(invalid(format!("{name}(): expected a list of bools, got {}", v.kind_name())));
    };
    for (i, item) in items.iter().enumerate() {
        match item.as_bool() {
            Some(b) if b != all => return Ok(Value::Bool(!all)),
            Some(_) => {}
            None => {
                return Err(invalid(format!("{name}(): item {i} is {}, not a bool", item.kind_name())));
            }
        }
    }
    Ok(Value::Bool(all))
}

fn contains(haystack: &Value, needle: &Value) -> Result<bool> {
    match haystack {
        Value::List(items) => Ok(items.contains(needle)),
        Value::Str(s) | Value::Sec { text: s, .. } => match needle.as_str() {
            Some(n) => Ok(s.contains(n)),
            None => Err(invalid(format!(
                "contains(): looking in a string needs a string, got {}",
                needle.kind_name()
            ))),
        },
        Value::Record(fields) => match needle.as_str() {
            Some(n) => Ok(fields.iter().any(|(k, _)| **k == *n)),
            None => Err(invalid("contains(): looking in a record needs a field name")),
        },
        Value::Json(Json::Array(items)) => Ok(items.iter().any(|j| Value::Json(j.clone()) == *needle)),
        Value::Json(Json::Object(map)) => Ok(needle.as_str().is_some_and(|k| map.contains_key(k))),
        Value::Json(Json::String(s)) => Ok(needle.as_str().is_some_and(|n| s.contains(n))),
        Value::None | Value::Json(Json::Null) => Ok(false),
        other => Err(invalid(format!(
            "contains(): expected a list, string, record or JSON, got {}",
            other.kind_name()
        ))),
    }
}

fn split(args: &Args<'_>) -> Result<Value> {
    let pieces: Vec<Value> = match args.values.as_slice() {
        [s] => args.text(s, 1)?.split_whitespace().map(Value::str).collect(),
        [s, sep] => {
            let (s, sep) = (args.text(s, 1)?, args.text(sep, 2)?);
            if sep.is_empty() {
                return Err(invalid("split(): the separator is empty (use split(s) to split on whitespace)"));
            }
            s.split(sep).map(Value::str).collect()
        }
        _ => return Err(invalid(format!("split() takes 1 or 2 arguments, got {}", args.values.len()))),
    };
    Ok(Value::list(pieces))
}

fn join(args: &Args<'_>) -> Result<Value> {
    let (list, sep) = match args.values.as_slice() {
        [Value::List(list)] => (list, ""),
        [Value::List(list), sep] | [sep, Value::List(list)] => (list, args.text(sep, 2)?),
        [other] | [other, _] => {
            return Err(invalid(format!("join(): expected a list, got {}", other.kind_name())));
        }
        _ => return Err(invalid(format!("join() takes 1 or 2 arguments, got {}", args.values.len()))),
    };
    let mut out = String::new();
    for (i, item) in list.iter().enumerate() {
        if let Value::Secret(_) = item {
            return Err(invalid("join(): a secret cannot be joined into a string"));
        }
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&item.to_string());
    }
    Ok(Value::str(out))
}

/// Gathers the text of every string in a value (recursively), one per line.
fn gather_text(v: &Value, out: &mut String, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Str(s) | Value::Sec { text: s, .. } => {
            out.push_str(s);
            out.push('\n');
        }
        Value::List(items) => items.iter().for_each(|i| gather_text(i, out, depth + 1)),
        Value::Record(fields) => fields.iter().for_each(|(_, v)| gather_text(v, out, depth + 1)),
        Value::Json(j) => gather_json_text(j, out, depth),
        _ => {}
    }
}

fn gather_json_text(j: &Json, out: &mut String, depth: usize) {
    if depth > 64 {
        return;
    }
    match j {
        Json::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Json::Array(items) => items.iter().for_each(|i| gather_json_text(i, out, depth + 1)),
        Json::Object(map) => map.values().for_each(|v| gather_json_text(v, out, depth + 1)),
        _ => {}
    }
}

fn extracted(args: &Args<'_>, kind: SecurityKind, f: fn(&str) -> Vec<String>) -> Result<Value> {
    let v = args.one_ref()?;
    if let Value::Secret(_) = v {
        return Err(invalid(format!("{}(): cannot search a secret", args.name)));
    }
    let mut text = String::new();
    gather_text(v, &mut text, 0);
    Ok(Value::list(f(&text).into_iter().map(|text| Value::Sec { kind, text: text.into() }).collect()))
}

/// Applies `f` to a string, or to each string of a list.
fn map_strings(args: &Args<'_>, v: Value, f: &dyn Fn(&str) -> Value) -> Result<Value> {
    match v {
        Value::List(items) => Arc::unwrap_or_clone(items)
            .into_iter()
            .map(|item| map_strings(args, item, f))
            .collect::<Result<Vec<_>>>()
            .map(Value::list),
        other => Ok(f(args.text(&other, 1)?)),
    }
}

fn domain_of(args: &Args<'_>, v: &Value) -> Result<Value> {
    let text = args.text(v, 1)?.trim();
    let host = if text.contains("://") {
        security::validate_url(text).map_err(conversion)?;
        extract::url_host(text).unwrap_or_default().to_string()
    } else if let Some((_, domain)) = text.rsplit_once('@') {
        security::validate_email(text).map_err(conversion)?;
        domain.to_string()
    } else {
        security::validate_host(text).map_err(|e| {
            conversion(format!("domain_of(): expected a URL, an email address or a domain: {e}"))
        })?;
        text.to_string()
    };
    let host = host.to_ascii_lowercase();
    match security::validate_domain(&host) {
        Ok(()) => Ok(Value::Sec { kind: SecurityKind::Domain, text: host.into() }),
        Err(why) => Err(conversion(format!("domain_of(): `{text}` has no domain name: {why}"))),
    }
}

fn parse_ip(args: &Args<'_>, v: &Value) -> Result<IpAddr> {
    let text = args.text(v, if args.name == "cidr_contains" { 2 } else { 1 })?;
    security::validate_ip(text).map_err(invalid)?;
    text.parse::<IpAddr>().map_err(|e| invalid(format!("`{text}` is not an IP address: {e}")))
}

fn v4_in(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// Private, loopback, link-local, unique-local or carrier-grade NAT space (RFC 1918,
/// RFC 6598, RFC 3927, RFC 4193, `::1`, `fe80::/10`), IPv4-mapped addresses included.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4_in(v4, [10, 0, 0, 0], 8)
                || v4_in(v4, [172, 16, 0, 0], 12)
                || v4_in(v4, [192, 168, 0, 0], 16)
                || v4_in(v4, [127, 0, 0, 0], 8)
                || v4_in(v4, [169, 254, 0, 0], 16)
                || v4_in(v4, [100, 64, 0, 0], 10)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => {
                v6 == Ipv6Addr::LOCALHOST
                    || v6_in(v6, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10)
                    || v6_in(v6, Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7)
            }
        },
    }
}

/// Whether `ip` lies in `network/prefix`; an IPv4-mapped IPv6 address counts as IPv4.
pub fn cidr_contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => v4_in(ip, net.octets(), u32::from(prefix.min(32))),
        (IpAddr::V6(net), IpAddr::V6(ip)) => v6_in(ip, net, u32::from(prefix.min(128))),
        _ => false,
    }
}

fn to_security(kind: SecurityKind, v: &Value) -> Result<Value> {
    let text = match v {
        Value::Sec { kind: k, text } if *k == kind => return Ok(v.clone()),
        Value::Str(s) | Value::Sec { text: s, .. } => &**s,
        Value::Json(Json::String(s)) => s.as_str(),
        other => {
            return Err(conversion(format!(
                "{}(): expected a string, got {}",
                kind.name(),
                other.kind_name()
            )));
        }
    };
    security::validate_kind(kind, text).map_err(conversion)?;
    Ok(Value::Sec { kind, text: text.to_string().into() })
}

fn to_int(v: Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(i),
        Value::Float(f) => float_to_int(f),
        Value::Bool(b) => Ok(i64::from(b)),
        Value::Str(_) | Value::Json(Json::String(_)) => {
            let t = v.as_str().unwrap_or_default().trim();
            t.parse::<i64>().or_else(|_| {
                t.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map_or_else(
                    || Err(conversion(format!("int(): `{t}` is not a whole number"))),
                    float_to_int,
                )
            })
        }
        Value::Json(Json::Number(n)) => match n.as_i64() {
            Some(i) => Ok(i),
            None => float_to_int(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Json(Json::Bool(b)) => Ok(i64::from(b)),
        Value::Duration(ms) => Err(conversion(format!(
            "int(): a duration ({}) has no unit-free number; divide by a duration instead",
            format_duration(ms)
        ))),
        other => Err(conversion(format!("int(): cannot convert {} to an int", other.kind_name()))),
    }
}

fn float_to_int(f: f64) -> Result<i64> {
    if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        Ok(f.trunc() as i64)
    } else {
        Err(conversion(format!("int(): {f} is out of the int range")))
    }
}

fn to_float(v: Value) -> Result<f64> {
    match v {
        Value::Float(f) => Ok(f),
        Value::Int(i) => Ok(i as f64),
        Value::Str(_) | Value::Json(Json::String(_)) => {
            let t = v.as_str().unwrap_or_default().trim();
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(f),
                _ => Err(conversion(format!("float(): `{t}` is not a number"))),
            }
        }
        Value::Json(Json::Number(n)) => {
            n.as_f64().ok_or_else(|| conversion(format!("float(): {n} is not a number")))
        }
        other => Err(conversion(format!("float(): cannot convert {} to a float", other.kind_name()))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::value::Secret;
    use serde_json::json;

    fn call(name: &str, args: Vec<Value>) -> Value {
        call_builtin(name, args, 0).unwrap()
    }

    fn fails(name: &str, args: Vec<Value>) -> BuiltinError {
        call_builtin(name, args, 0).unwrap_err()
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn list(items: &[&str]) -> Value {
        Value::list(items.iter().map(|x| s(x)).collect())
    }

    fn verdict(v: &str, o: u32) -> Value {
        Value::Enum { enum_name: "Verdict".into(), variant: v.into(), ordinal: o }
    }

    #[test]
    fn every_listed_builtin_is_handled() {
        for name in BUILTINS {
            let e = call_builtin(name, vec![Value::Unit, Value::Unit, Value::Unit], 0);
            assert_ne!(e.map_err(|e| e.kind), Err("unknown_builtin"), "{name}");
        }
        assert_eq!(fails("nope", vec![]).kind, "unknown_builtin");
    }

    #[test]
    fn len_counts() {
        assert_eq!(call("len", vec![list(&["a", "b"])]), Value::Int(2));
        assert_eq!(call("len", vec![s("héllo")]), Value::Int(5));
        assert_eq!(call("len", vec![Value::Json(json!({"a": 1}))]), Value::Int(1));
        assert!(fails("len", vec![Value::Int(3)]).message.contains("got an int"));
        assert!(fails("len", vec![]).message.contains("takes 1 argument, got 0"));
    }

    #[test]
    fn worst_and_best() {
        let vs = Value::list(vec![verdict("benign", 1), verdict("malicious", 3), verdict("unknown", 0)]);
        assert_eq!(call("worst", vec![vs.clone()]), verdict("malicious", 3));
        assert_eq!(call("best", vec![vs]), verdict("unknown", 0));
        assert_eq!(
            call("worst", vec![verdict("benign", 1), verdict("suspicious", 2)]),
            verdict("suspicious", 2)
        );
        assert_eq!(call("worst", vec![Value::list(vec![])]), Value::None);
        assert_eq!(
            call("best", vec![Value::list(vec![Value::Int(3), Value::Float(1.5)])]),
            Value::Float(1.5)
        );
        assert!(
            fails("worst", vec![Value::list(vec![Value::Int(1), s("x")])]).message.contains("cannot compare")
        );
    }

    #[test]
    fn extreme_of_empty_lists() {
        use parry_compiler::ir::{EnumDef, EnumId, Program, Type, Variant};
        use parry_syntax::ast::Span;
        let mut program = Program::default();
        program.enums.push(EnumDef {
            name: "Verdict".into(),
            variants: ["unknown", "benign", "suspicious", "malicious"]
                .map(|n| Variant { name: n.into(), span: Span::default() })
                .to_vec(),
            doc: None,
            builtin: true,
            name_span: Span::default(),
            span: Span::default(),
        });
        let ty = Type::Enum { id: EnumId(0), name: "Verdict".into() };
        assert_eq!(extreme_of_empty("worst", &ty, &program), Some(verdict("unknown", 0)));
        assert_eq!(extreme_of_empty("best", &ty, &program), Some(verdict("malicious", 3)));
        assert_eq!(extreme_of_empty("worst", &Type::Int, &program), None);
        let missing = Type::Enum { id: EnumId(9), name: "Gone".into() };
        assert_eq!(extreme_of_empty("worst", &missing, &program), None);
    }

    #[test]
    fn any_all() {
        let bs = |v: &[bool]| Value::list(v.iter().map(|b| Value::Bool(*b)).collect());
        assert_eq!(call("any", vec![bs(&[false, true])]), Value::Bool(true));
        assert_eq!(call("any", vec![bs(&[])]), Value::Bool(false));
        assert_eq!(call("all", vec![bs(&[true, true])]), Value::Bool(true));
        assert_eq!(call("all", vec![bs(&[true, false])]), Value::Bool(false));
        assert_eq!(call("all", vec![bs(&[])]), Value::Bool(true));
        assert!(fails("all", vec![Value::list(vec![Value::Int(1)])]).message.contains("item 0"));
    }

    #[test]
    fn contains_unique_flatten() {
        assert_eq!(call("contains", vec![list(&["a", "b"]), s("b")]), Value::Bool(true));
        let ip = Value::security(SecurityKind::Ip, "10.0.0.1").unwrap();
        assert_eq!(call("contains", vec![list(&["10.0.0.1"]), ip]), Value::Bool(true));
        assert_eq!(call("contains", vec![s("hello world"), s("lo w")]), Value::Bool(true));
        assert_eq!(call("contains", vec![Value::Json(json!({"k": 1})), s("k")]), Value::Bool(true));
        assert_eq!(call("contains", vec![Value::None, s("k")]), Value::Bool(false));
        assert_eq!(call("unique", vec![list(&["b", "a", "b", "c", "a"])]), list(&["b", "a", "c"]));
        let nested = Value::list(vec![list(&["a"]), list(&["b", "c"]), s("d")]);
        assert_eq!(call("flatten", vec![nested]), list(&["a", "b", "c", "d"]));
    }

    #[test]
    fn string_functions() {
        assert_eq!(call("lower", vec![s("ÀBC")]), s("àbc"));
        let d = Value::security(SecurityKind::Domain, "Evil.Example").unwrap();
        assert!(
            matches!(call("lower", vec![d]), Value::Sec { kind: SecurityKind::Domain, ref text } if **text == *"evil.example")
        );
        assert_eq!(call("upper", vec![s("abc")]), s("ABC"));
        assert_eq!(call("starts_with", vec![s("hello"), s("he")]), Value::Bool(true));
        assert_eq!(call("ends_with", vec![s("hello"), s("he")]), Value::Bool(false));
        assert_eq!(call("split", vec![s("a,b,,c"), s(",")]), list(&["a", "b", "", "c"]));
        assert_eq!(call("split", vec![s("  a  b\tc ")]), list(&["a", "b", "c"]));
        assert!(fails("split", vec![s("a"), s("")]).message.contains("separator is empty"));
        assert_eq!(call("join", vec![list(&["a", "b"]), s(", ")]), s("a, b"));
        assert_eq!(call("join", vec![s("-"), list(&["a", "b"])]), s("a-b"));
        assert_eq!(call("join", vec![Value::list(vec![Value::Int(1), Value::Int(2)])]), s("12"));
        assert!(fails("join", vec![s("a"), s("b")]).message.contains("expected a list"));
        assert!(
            fails("join", vec![Value::list(vec![Value::Secret(Secret::new("x"))])])
                .message
                .contains("secret")
        );
    }

    #[test]
    fn now_is_the_given_time() {
        assert_eq!(call_builtin("now", vec![], 1234).unwrap(), Value::Time(1234));
        assert!(call_builtin("now", vec![Value::Int(1)], 0).is_err());
    }

    #[test]
    fn extraction_returns_security_values() {
        let body = "Click hxxps://evil[.]example/login from 203.0.113.9 or mail bob@evil.example";
        let urls = call("extract_urls", vec![s(body)]);
        assert_eq!(urls, list(&["https://evil.example/login"]));
        assert!(matches!(urls.as_list().unwrap()[0], Value::Sec { kind: SecurityKind::Url, .. }));
        assert_eq!(call("extract_ips", vec![s(body)]), list(&["203.0.113.9"]));
        assert_eq!(call("extract_emails", vec![s(body)]), list(&["bob@evil.example"]));
        assert_eq!(call("extract_domains", vec![s(body)]), list(&["evil.example"]));
        let json = Value::Json(json!({"body": body, "headers": ["From: x@y.example"]}));
        assert_eq!(call("extract_emails", vec![json]), list(&["bob@evil.example", "x@y.example"]));
        assert_eq!(call("extract_hashes", vec![s("none here")]), Value::list(vec![]));
        assert!(fails("extract_urls", vec![Value::Secret(Secret::new("x"))]).message.contains("secret"));
    }

    #[test]
    fn defang_refang_lists() {
        assert_eq!(call("defang", vec![s("https://evil.example")]), s("hxxps://evil[.]example"));
        assert_eq!(
            call("refang", vec![list(&["evil[.]example", "hxxp://a[.]example"])]),
            list(&["evil.example", "http://a.example"])
        );
    }

    #[test]
    fn domain_of_forms() {
        assert_eq!(
            call("domain_of", vec![s("https://Login.Evil.Example:8443/x?y")]),
            s("login.evil.example")
        );
        assert_eq!(call("domain_of", vec![s("bob@Evil.Example")]), s("evil.example"));
        assert_eq!(call("domain_of", vec![s("evil.example")]), s("evil.example"));
        let e = fails("domain_of", vec![s("http://10.0.0.1/")]);
        assert_eq!(e.kind, "conversion");
        assert!(e.message.contains("is an IP address"), "{}", e.message);
        assert!(fails("domain_of", vec![s("http://localhost/")]).message.contains("no dot"));
        assert_eq!(fails("domain_of", vec![s("not a thing")]).kind, "conversion");
    }

    #[test]
    fn private_ranges() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(call("is_private", vec![s(ip)]), Value::Bool(true), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "192.169.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(call("is_private", vec![s(ip)]), Value::Bool(false), "{ip}");
        }
        assert!(fails("is_private", vec![s("evil.example")]).message.contains("not an IPv4 address"));
    }

    #[test]
    fn cidr_membership() {
        assert_eq!(call("cidr_contains", vec![s("10.0.0.0/8"), s("10.200.1.1")]), Value::Bool(true));
        assert_eq!(call("cidr_contains", vec![s("10.0.0.0/8"), s("11.0.0.1")]), Value::Bool(false));
        assert_eq!(call("cidr_contains", vec![s("0.0.0.0/0"), s("1.2.3.4")]), Value::Bool(true));
        assert_eq!(call("cidr_contains", vec![s("192.168.1.7/32"), s("192.168.1.7")]), Value::Bool(true));
        assert_eq!(call("cidr_contains", vec![s("192.168.1.7/32"), s("192.168.1.8")]), Value::Bool(false));
        assert_eq!(call("cidr_contains", vec![s("2001:db8::/32"), s("2001:db8:ffff::1")]), Value::Bool(true));
        assert_eq!(call("cidr_contains", vec![s("2001:db8::/32"), s("2001:db9::1")]), Value::Bool(false));
        assert_eq!(call("cidr_contains", vec![s("10.0.0.0/8"), s("::ffff:10.1.1.1")]), Value::Bool(true));
        assert_eq!(call("cidr_contains", vec![s("10.0.0.0/8"), s("::1")]), Value::Bool(false));
        assert_eq!(call("cidr_contains", vec![s("::/0"), s("::1")]), Value::Bool(true));
        assert!(fails("cidr_contains", vec![s("10.0.0.0/33"), s("10.0.0.1")]).message.contains("above 32"));
    }

    #[test]
    fn encodings_and_json() {
        assert_eq!(call("base64", vec![s("hello?>")]), s("aGVsbG8/Pg=="));
        assert_eq!(call("base64url", vec![s("hello?>")]), s("aGVsbG8_Pg"));
        assert_eq!(
            call("base64url", vec![s("http://www.example.com/")]),
            s("aHR0cDovL3d3dy5leGFtcGxlLmNvbS8")
        );
        assert_eq!(
            call("sha256", vec![s("")]),
            s("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(call("parse_json", vec![s("{\"a\": [1, 2]}")]), Value::Json(json!({"a": [1, 2]})));
        let e = fails("parse_json", vec![s("{\"a\": }")]);
        assert!(e.message.contains("line 1, column"), "{}", e.message);
        let rec = Value::record([("a", Value::Int(1)), ("b", list(&["x"]))]);
        assert_eq!(call("to_json", vec![rec]), s("{\"a\":1,\"b\":[\"x\"]}"));
        assert_eq!(call("to_json", vec![Value::Secret(Secret::new("k"))]), s("\"***\""));
    }

    #[test]
    fn security_conversions() {
        let ip = call("ip", vec![s("10.0.0.1")]);
        assert!(matches!(ip, Value::Sec { kind: SecurityKind::Ip, .. }));
        let e = fails("ip", vec![s("999.1.2.3")]);
        assert_eq!(e.kind, "conversion");
        assert_eq!(e.message, "`999.1.2.3` is not an IPv4 address: 999 is above 255");
        assert!(matches!(
            call("url", vec![Value::Json(json!("https://x.example"))]),
            Value::Sec { kind: SecurityKind::Url, .. }
        ));
        assert!(fails("url", vec![Value::Int(1)]).message.contains("expected a string, got an int"));
        for (kind, good, bad) in [
            ("cidr", "10.0.0.0/8", "10.0.0.0/40"),
            ("domain", "evil.example", "evil"),
            ("email", "a@b.example", "a@"),
            ("hash", "d41d8cd98f00b204e9800998ecf8427e", "abc"),
            ("host", "ws-01", "ws 01"),
            ("user", "CORP\\alice", ""),
        ] {
            assert!(call_builtin(kind, vec![s(good)], 0).is_ok(), "{kind} {good}");
            assert_eq!(fails(kind, vec![s(bad)]).kind, "conversion", "{kind} {bad}");
        }
        let host = call("host", vec![call("ip", vec![s("::1")])]);
        assert!(matches!(host, Value::Sec { kind: SecurityKind::Host, .. }));
    }

    #[test]
    fn scalar_conversions() {
        assert_eq!(call("int", vec![s(" 42 ")]), Value::Int(42));
        assert_eq!(call("int", vec![s("42.0")]), Value::Int(42));
        assert_eq!(call("int", vec![Value::Float(-3.9)]), Value::Int(-3));
        assert_eq!(call("int", vec![Value::Json(json!(7))]), Value::Int(7));
        assert!(fails("int", vec![s("4x")]).message.contains("not a whole number"));
        assert!(fails("int", vec![Value::Float(f64::INFINITY)]).message.contains("out of the int range"));
        assert!(fails("int", vec![Value::Float(1e30)]).message.contains("out of the int range"));
        assert_eq!(call("float", vec![s("2.5")]), Value::Float(2.5));
        assert_eq!(call("float", vec![Value::Int(2)]), Value::Float(2.0));
        assert!(fails("float", vec![s("nan")]).message.contains("not a number"));
        assert_eq!(call("string", vec![Value::Int(5)]), s("5"));
        assert_eq!(call("string", vec![Value::Json(json!("x"))]), s("x"));
        assert_eq!(call("string", vec![Value::Json(json!({"a": 1}))]), s("{\"a\":1}"));
        assert_eq!(call("string", vec![Value::Duration(60_000)]), s("1m"));
        assert!(fails("string", vec![Value::Secret(Secret::new("k"))]).message.contains("secret"));
    }
}
