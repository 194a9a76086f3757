//! Parry's syntax: the pest grammar, the owned AST with spans, and syntax diagnostics.
//!
//! [`parse`] never fails and never panics: it returns every item it could read, all the
//! comments of the file, and a `syntax-error` diagnostic for each item it could not read.

pub mod ast;
pub mod diagnostic;
mod errors;
mod lower;
mod split;

use std::num::NonZeroUsize;

use pest::Parser as _;

pub use diagnostic::{Diagnostic, Label, Severity};
pub use errors::KEYWORDS;

use ast::{FileId, SourceFile, Span};

#[derive(pest_derive::Parser)]
#[grammar = "parry.pest"]
struct PestParser;

/// The most parser steps one top-level item may take; a bound against hostile input
/// (pathological backtracking), far above what any real declaration needs.
const CALL_LIMIT: usize = 50_000_000;

/// Files at least this large are parsed on several threads (items are independent).
const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// Parses one `.play` file. Never fails: items that could not be read are left out and
/// reported as `syntax-error` diagnostics (one per broken item), the others are returned.
/// Every node's span carries `file`.
pub fn parse(file: FileId, src: &str) -> (SourceFile, Vec<Diagnostic>) {
    parse_with(file, src, true)
}

/// [`parse`] on the calling thread only, whatever the file's size (for callers that run
/// their own parallelism, e.g. one file per thread). Same results as [`parse`].
pub fn parse_sequential(file: FileId, src: &str) -> (SourceFile, Vec<Diagnostic>) {
    parse_with(file, src, false)
}

fn parse_with(file: FileId, src: &str, parallel: bool) -> (SourceFile, Vec<Diagnostic>) {
    pest::set_call_limit(NonZeroUsize::new(CALL_LIMIT));
    let scan = split::scan(file, src);
    let chunks: Vec<&split::Chunk> =
        scan.chunks.iter().filter(|c| src.get(c.start..c.end).is_some_and(|t| !split::is_blank(t))).collect();

    let outcomes = if parallel {
        parse_all(file, src, &scan.clean, &chunks)
    } else {
        chunks.iter().map(|c| parse_chunk(file, src, &scan.clean, c)).collect()
    };

    let mut items = Vec::new();
    let mut diags = Vec::new();
    for (chunk, outcome) in chunks.iter().zip(outcomes) {
        match outcome {
            Outcome::Parsed(item, item_diags) => {
                items.extend(item.map(|i| *i));
                diags.extend(item_diags);
            }
            Outcome::Failed => diags.push(explain_failure(file, src, &scan.clean, chunk)),
        }
    }
    (SourceFile { file, items, comments: scan.comments }, diags)
}

enum Outcome {
    Parsed(Option<Box<ast::Item>>, Vec<Diagnostic>),
    /// The item does not parse; explained by [`explain_failure`] on the calling thread.
    Failed,
}

/// Parses every chunk, on several threads for large files; results are in chunk order.
fn parse_all(file: FileId, src: &str, clean: &str, chunks: &[&split::Chunk]) -> Vec<Outcome> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if src.len() < PARALLEL_THRESHOLD || threads < 2 || chunks.len() < 2 {
        return chunks.iter().map(|c| parse_chunk(file, src, clean, c)).collect();
    }
    // Contiguous groups of about equal size in bytes.
    let per_group = src.len().div_ceil(threads);
    let mut groups: Vec<&[&split::Chunk]> = Vec::new();
    let mut group_start = 0;
    let mut group_bytes = 0;
    for (i, c) in chunks.iter().enumerate() {
        group_bytes += c.end - c.start;
        if group_bytes >= per_group {
            groups.push(&chunks[group_start..=i]);
            group_start = i + 1;
            group_bytes = 0;
        }
    }
    if group_start < chunks.len() {
        groups.push(&chunks[group_start..]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|group| {
                let work = move || -> Vec<Outcome> {
                    group.iter().map(|c| parse_chunk(file, src, clean, c)).collect()
                };
                (group, std::thread::Builder::new().spawn_scoped(scope, work))
            })
            .collect();
        let mut outcomes = Vec::with_capacity(chunks.len());
        for (group, handle) in handles {
            match handle.map(|h| h.join()) {
                Ok(Ok(results)) => outcomes.extend(results),
                // A thread that could not start (or stopped) leaves its work to this one.
                _ => outcomes.extend(group.iter().map(|c| parse_chunk(file, src, clean, c))),
            }
        }
        outcomes
    })
}

fn parse_chunk(file: FileId, src: &str, clean: &str, chunk: &split::Chunk) -> Outcome {
    let Some(text) = clean.get(chunk.start..chunk.end) else { return Outcome::Failed };
    let Ok(pairs) = PestParser::parse(Rule::item_chunk, text) else { return Outcome::Failed };
    let lowerer = lower::Lowerer::new(file, src, chunk.start);
    let mut lowered = None;
    for pair in pairs {
        if pair.as_rule() == Rule::item {
            lowered = lowerer.item(pair);
        }
    }
    let mut diags = lowerer.diags.into_inner();
    if lowered.is_none() && !diags.iter().any(|d| d.code == "syntax-error") {
        diags.push(Diagnostic::error(
            "syntax-error",
            "this declaration could not be read",
            Span::new(file, chunk.start, chunk.start),
            "declaration starts here",
        ));
    }
    Outcome::Parsed(lowered.map(Box::new), diags)
}

/// Parses a failed item again, collecting what was expected where the parse stopped (this
/// costs time, so only failed items pay for it), and explains the failure.
fn explain_failure(file: FileId, src: &str, clean: &str, chunk: &split::Chunk) -> Diagnostic {
    let text = src.get(chunk.start..chunk.end).unwrap_or_default();
    let clean_text = clean.get(chunk.start..chunk.end).unwrap_or(text);
    pest::set_error_detail(true);
    let detailed = PestParser::parse(Rule::item_chunk, clean_text);
    pest::set_error_detail(false);
    match detailed {
        Err(err) => errors::syntax_error(file, text, chunk.start, &err),
        Ok(_) => Diagnostic::error(
            "syntax-error",
            "this declaration could not be read",
            Span::new(file, chunk.start, chunk.start),
            "declaration starts here",
        ),
    }
}
