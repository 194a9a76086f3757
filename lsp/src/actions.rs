//! Quick fixes: wrap an unapproved destructive call in `approve`, bound a loop that runs a
//! reversible action too many times with `limit N` from the policy, and replace the
//! no-break spaces and curly quotes that text pasted from a document brings.

use crate::analysis::View;
use crate::position::LineIndex;
use lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Range, TextEdit, WorkspaceEdit};
use parry_syntax::Diagnostic;
use parry_syntax::ast::{self, Block, Else, ExprKind, ItemKind, Stmt, StmtKind};
use std::collections::HashMap;

pub fn code_actions(v: &View, range: Range) -> Vec<CodeActionOrCommand> {
    let (start, end) = (v.offset(range.start) as u32, v.offset(range.end) as u32);
    let mut out = Vec::new();
    for d in &v.snap.diagnostics {
        let span = d.primary.span;
        if span.file != v.file || d.suppressed.is_some() || span.end < start || span.start > end {
            continue;
        }
        let action = match d.code.as_str() {
            "unapproved-destructive" => wrap_in_approve(v, d),
            "unbounded-containment" => add_limit(v, d),
            "syntax-error" => replace_pasted(v, d),
            _ => None,
        };
        if let Some(action) = action {
            out.push(CodeActionOrCommand::CodeAction(action));
        }
    }
    out
}

fn quick_fix(v: &View, d: &Diagnostic, title: String, edit: TextEdit) -> CodeAction {
    let index = LineIndex::new(v.text);
    let diagnostic = crate::convert::diagnostic(v.snap, d, &index, v.text, v.enc);
    let changes = HashMap::from([(v.uri.clone(), vec![edit])]);
    CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic]),
        edit: Some(WorkspaceEdit { changes: Some(changes), ..Default::default() }),
        is_preferred: Some(true),
        ..Default::default()
    }
}

/// `conn.action` as written at a call site span (`mail.purge(m)` gives `mail.purge`).
fn action_name(v: &View, d: &Diagnostic) -> String {
    let written = v.slice(d.primary.span);
    let name = written.split('(').next().unwrap_or(written).trim();
    if name.is_empty() || name.contains('\n') { "this action".to_string() } else { name.to_string() }
}

/// The leading whitespace of the line holding `offset`.
fn indent_at(text: &str, offset: usize) -> String {
    let line_start = text.get(..offset).and_then(|b| b.rfind('\n')).map(|i| i + 1).unwrap_or(0);
    text.get(line_start..).unwrap_or("").chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

fn wrap_in_approve(v: &View, d: &Diagnostic) -> Option<CodeAction> {
    let span = d.primary.span;
    let stmt = innermost_stmt(&v.ast, span.start, span.end)?;
    // `let x = CALL`: gate the value, so `x` stays in scope for what follows.
    let target = match &stmt.kind {
        StmtKind::Let { value, .. } if value.span.start <= span.start && span.end <= value.span.end => {
            value.span
        }
        _ => stmt.span,
    };
    let indent = indent_at(v.text, target.start as usize);
    let body = v.slice(target).replace('\n', "\n  ");
    let name = action_name(v, d);
    let group = match v.snap.config.approvers.keys().next() {
        Some(g) => format!(" by \"{g}\""),
        None => String::new(),
    };
    let new_text = format!(
        "approve \"Run {name}?\"{group} {{\n{indent}  {body}\n{indent}}} else {{\n{indent}  escalate \"{name} was not approved\"\n{indent}}}"
    );
    let edit = TextEdit { range: v.range(target), new_text };
    Some(quick_fix(v, d, format!("Wrap in `approve` (gate {name} behind a human approval)"), edit))
}

fn add_limit(v: &View, d: &Diagnostic) -> Option<CodeAction> {
    let span = d.primary.span;
    let lp = innermost_unlimited_for(&v.ast, span.start, span.end)?;
    let at = lp.filter.as_ref().map(|f| f.span.end).unwrap_or(lp.iter.span.end) as usize;
    let name = action_name(v, d);
    let (connector, action) = name.split_once('.').unwrap_or(("", ""));
    let n = v.snap.config.max_auto_targets(connector, action);
    let range = v.index.range(v.text, at, at, v.enc);
    let edit = TextEdit { range, new_text: format!(" limit {n}") };
    Some(quick_fix(
        v,
        d,
        format!("Add `limit {n}` to the loop (the policy's automatic limit for {name})"),
        edit,
    ))
}

/// The ASCII character a pasted one stands for: a space for a non-ASCII space, `"` for a
/// curly double quote.
fn plain(c: char) -> Option<char> {
    if c.is_ascii() {
        None
    } else if c.is_whitespace() {
        Some(' ')
    } else if parry_syntax::is_curly_double_quote(c) {
        Some('"')
    } else {
        None
    }
}

/// A syntax error at a non-ASCII space or curly double quote: every such character in the
/// code of its line is replaced, as a pasted line usually has several (and a string needs
/// both its quotes). Strings and comments are left as they are.
fn replace_pasted(v: &View, d: &Diagnostic) -> Option<CodeAction> {
    let span = d.primary.span;
    let mut chars = v.slice(span).chars();
    let (Some(c), None) = (chars.next(), chars.next()) else { return None };
    plain(c)?;
    let at = span.start as usize;
    let start = v.text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let end = v.text.get(at..)?.find('\n').map_or(v.text.len(), |i| at + i);
    let (new_text, quotes) = plain_line(v.text, start..end);
    let range = v.index.range(v.text, start, end, v.enc);
    let title = if quotes {
        "Replace the curly quotes and non-ASCII spaces on this line with `\"` and plain spaces"
    } else {
        "Replace the non-ASCII spaces on this line with plain spaces"
    };
    Some(quick_fix(v, d, title.to_string(), TextEdit { range, new_text }))
}

/// The text of `line` (a range of `text`) with the non-ASCII spaces and curly double quotes
/// of its code replaced, and whether a quote was. What is code is what the parser reads as
/// code ([`parry_syntax::non_ascii_in_code`]). A curly quote opens a string that the next
/// one closes: the spaces between them are the string's text and are kept.
fn plain_line(text: &str, line: std::ops::Range<usize>) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let (mut copied, mut in_curly, mut quotes) = (line.start, false, false);
    for pos in parry_syntax::non_ascii_in_code(text).into_iter().filter(|p| line.contains(p)) {
        let Some(c) = text.get(pos..).and_then(|rest| rest.chars().next()) else { continue };
        let replacement = match plain(c) {
            Some('"') => {
                in_curly = !in_curly;
                quotes = true;
                '"'
            }
            Some(' ') if !in_curly => ' ',
            _ => continue,
        };
        out.push_str(text.get(copied..pos).unwrap_or_default());
        out.push(replacement);
        copied = pos + c.len_utf8();
    }
    out.push_str(text.get(copied..line.end).unwrap_or_default());
    (out, quotes)
}

// ---------------------------------------------------------------- syntax tree search

/// Visits every block of the file, outermost first.
fn each_block<'a>(file: &'a ast::SourceFile, f: &mut dyn FnMut(&'a Block)) {
    for item in &file.items {
        match &item.kind {
            ItemKind::Playbook(p) => block(&p.body, f),
            ItemKind::Fn(x) => block(&x.body, f),
            ItemKind::Test(t) => block(&t.body, f),
            ItemKind::Const(c) => expr(&c.value, f),
            _ => {}
        }
    }
}

fn block<'a>(b: &'a Block, f: &mut dyn FnMut(&'a Block)) {
    f(b);
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Let { value: e, .. }
            | StmtKind::Expr(e)
            | StmtKind::Note(e)
            | StmtKind::Recommend(e)
            | StmtKind::Resolve(e)
            | StmtKind::Escalate(e)
            | StmtKind::Fail(e)
            | StmtKind::Expect(e) => expr(e, f),
            StmtKind::Evidence { label, value } => {
                expr(label, f);
                expr(value, f);
            }
            StmtKind::Mock(_) | StmtKind::Approvals { .. } => {}
        }
    }
}

fn expr<'a>(e: &'a ast::Expr, f: &mut dyn FnMut(&'a Block)) {
    match &e.kind {
        ExprKind::List(items) => items.iter().for_each(|i| expr(i, f)),
        ExprKind::Record(fields) => fields.iter().for_each(|x| expr(&x.value, f)),
        ExprKind::Field { target, .. } => expr(target, f),
        ExprKind::Index { target, index } => {
            expr(target, f);
            expr(index, f);
        }
        ExprKind::Call { callee, args } => {
            expr(callee, f);
            args.iter().for_each(|a| expr(&a.value, f));
        }
        ExprKind::Unary { operand, .. } => expr(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, f);
            expr(rhs, f);
        }
        ExprKind::If { cond, then, otherwise } => {
            expr(cond, f);
            block(then, f);
            match otherwise {
                Some(Else::Block(b)) => block(b, f),
                Some(Else::If(e)) => expr(e, f),
                None => {}
            }
        }
        ExprKind::Match { scrutinee, arms } => {
            expr(scrutinee, f);
            arms.iter().for_each(|a| block(&a.body, f));
        }
        ExprKind::For(lp) => {
            expr(&lp.iter, f);
            block(&lp.body, f);
        }
        ExprKind::Approve(a) => {
            expr(&a.prompt, f);
            block(&a.body, f);
            if let Some(b) = &a.otherwise {
                block(b, f);
            }
        }
        ExprKind::Try { body, catch, .. } => {
            block(body, f);
            block(catch, f);
        }
        ExprKind::Paren(inner) => expr(inner, f),
        ExprKind::Block(b) => block(b, f),
        _ => {}
    }
}

/// The innermost statement whose span contains `start..end`.
fn innermost_stmt(file: &ast::SourceFile, start: u32, end: u32) -> Option<&Stmt> {
    let mut best: Option<&Stmt> = None;
    each_block(file, &mut |b| {
        for s in &b.stmts {
            if s.span.start <= start
                && end <= s.span.end
                && best.is_none_or(|x| s.span.end - s.span.start <= x.span.end - x.span.start)
            {
                best = Some(s);
            }
        }
    });
    best
}

/// The innermost `for` without `limit` whose body contains `start..end`.
fn innermost_unlimited_for(file: &ast::SourceFile, start: u32, end: u32) -> Option<&ast::ForLoop> {
    let mut best: Option<&ast::ForLoop> = None;
    each_block(file, &mut |b| {
        for s in &b.stmts {
            let e = match &s.kind {
                StmtKind::Expr(e) | StmtKind::Let { value: e, .. } => e,
                _ => continue,
            };
            if let ExprKind::For(lp) = &e.kind
                && lp.limit.is_none()
                && lp.body.span.start <= start
                && end <= lp.body.span.end
                && best.is_none_or(|x| {
                    lp.body.span.end - lp.body.span.start <= x.body.span.end - x.body.span.start
                })
            {
                best = Some(lp);
            }
        }
    });
    best
}

#[cfg(test)]
mod tests {
    use super::plain_line;

    #[test]
    fn pasted_characters_are_replaced_in_code_only() {
        let cases = [
            ("note \u{201C}x\u{a0}y\u{201D}", "note \"x\u{a0}y\""),
            (
                "let a\u{a0}= \"\u{a0}\u{201C}q\u{201D}\" # \u{a0}",
                "let a = \"\u{a0}\u{201C}q\u{201D}\" # \u{a0}",
            ),
            ("note \"{f(\u{a0}1)} \u{a0}\"\u{a0}", "note \"{f( 1)} \u{a0}\" "),
            ("note r\"\\\u{a0}\"\u{a0}", "note r\"\\\u{a0}\" "),
            ("note \"a\\\"\u{a0}\"\u{a0}", "note \"a\\\"\u{a0}\" "),
            ("x\u{2007}× \u{201E}", "x × \""),
        ];
        for (line, want) in cases {
            assert_eq!(plain_line(line, 0..line.len()).0, want, "{line:?}");
        }
    }
}
