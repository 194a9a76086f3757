//! SARIF 2.1.0: one run, `tool.driver` with one rule per code used, a result per finding.
//! Columns count Unicode scalar values (`columnKind: unicodeCodePoints`); `endColumn` is
//! exclusive. Allowed findings carry `suppressions: [{kind: inSource, justification}]`.

use super::Location;
use super::codes::{code_summary, docs_path};
use crate::source::SourceMap;
use parry_syntax::Diagnostic;
use parry_syntax::ast::Span;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF log as a JSON value.
pub fn to_sarif(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Value {
    // One rule per code used, in a stable (alphabetical) order; results point at them by index.
    let codes: BTreeMap<&str, usize> = {
        let mut used: Vec<&str> = diagnostics.iter().map(|d| d.code.as_str()).collect();
        used.sort_unstable();
        used.dedup();
        used.into_iter().enumerate().map(|(i, c)| (c, i)).collect()
    };
    let rules: Vec<Value> = codes.keys().map(|code| rule(code)).collect();
    let results: Vec<Value> =
        diagnostics.iter().map(|d| result(sources, d, codes.get(d.code.as_str()).copied())).collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "parry",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// The SARIF log as pretty-printed JSON text, ending with a newline.
pub fn render_sarif(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let mut text = serde_json::to_string_pretty(&to_sarif(sources, diagnostics))
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the report: {e}\"}}"));
    text.push('\n');
    text
}

fn rule(code: &str) -> Value {
    let default_level = parry_syntax::diagnostic::CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, s)| s.as_str())
        .unwrap_or("error");
    json!({
        "id": code,
        "name": camel_case(code),
        "shortDescription": { "text": code_summary(code) },
        "help": {
            "text": format!("Run `parry explain {code}` (or read {}) for a failing and a fixed example.", docs_path(code))
        },
        "defaultConfiguration": { "level": default_level },
    })
}

fn result(sources: &SourceMap, d: &Diagnostic, rule_index: Option<usize>) -> Value {
    let mut text = d.message.clone();
    for n in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(n);
    }
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let mut r = json!({
        "ruleId": d.code,
        "level": d.effective_severity().as_str(),
        "message": { "text": text },
        "locations": [location(sources, d.primary.span, Some(&d.primary.message), None)],
    });
    if let (Some(obj), Some(i)) = (r.as_object_mut(), rule_index) {
        obj.insert("ruleIndex".into(), json!(i));
    }
    if !d.secondary.is_empty() {
        let related: Vec<Value> = d
            .secondary
            .iter()
            .enumerate()
            .map(|(i, l)| location(sources, l.span, Some(&l.message), Some(i + 1)))
            .collect();
        if let Some(obj) = r.as_object_mut() {
            obj.insert("relatedLocations".into(), Value::Array(related));
        }
    }
    if let (Some(reason), Some(obj)) = (&d.suppressed, r.as_object_mut()) {
        obj.insert(
            "suppressions".into(),
            json!([{ "kind": "inSource", "status": "accepted", "justification": reason }]),
        );
    }
    r
}

fn location(sources: &SourceMap, span: Span, message: Option<&str>, id: Option<usize>) -> Value {
    let at = Location::of(sources, span);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": file_uri(&at.file) },
            "region": {
                "startLine": at.line,
                "startColumn": at.column,
                "endLine": at.end_line,
                "endColumn": at.end_column,
            }
        }
    });
    if let Some(obj) = loc.as_object_mut() {
        if let Some(id) = id {
            obj.insert("id".into(), json!(id));
        }
        if let Some(m) = message.filter(|m| !m.is_empty()) {
            obj.insert("message".into(), json!({ "text": m }));
        }
    }
    loc
}

/// A path as a URI reference: relative paths stay relative (forward slashes, no leading `./`),
/// absolute paths become `file://` URIs; characters outside RFC 3986's unreserved set and `/`
/// are percent-encoded.
pub fn file_uri(path: &str) -> String {
    let unified = path.replace('\\', "/");
    let mut rel = unified.as_str();
    while let Some(rest) = rel.strip_prefix("./") {
        rel = rest;
    }
    let is_windows_abs = rel.len() >= 2 && rel.as_bytes().get(1) == Some(&b':');
    let encoded = percent_encode(rel);
    if rel.starts_with('/') {
        format!("file://{encoded}")
    } else if is_windows_abs {
        format!("file:///{encoded}")
    } else {
        encoded
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else if b == b':' && out.len() == 1 {
            // Keep a Windows drive letter's colon readable (`C:/...`).
            out.push(':');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn camel_case(code: &str) -> String {
    code.split('-')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}
