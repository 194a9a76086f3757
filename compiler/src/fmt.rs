//! The canonical formatter for `.play` files (`parry fmt` and the language server's
//! formatting request).
//!
//! One style, no options: two-space indentation, one statement per line, `{` on the line
//! that opens it, spaces around binary operators and after `,` and `:`, short lists,
//! records and argument lists on one line and long ones one element per line with a
//! trailing comma, at most one blank line between declarations or statements (blank lines
//! are kept where the author put them), and every comment kept where it was written.
//! Literals are copied from the source byte for byte, so strings, raw strings, numbers and
//! durations always read exactly as the author wrote them.
//!
//! The formatter works on the AST and the comment list the parser keeps. It refuses a file
//! with syntax errors, and it re-parses its own output and refuses to return anything whose
//! syntax tree or comments differ from the input's, so formatting can never change what a
//! playbook means.

use parry_syntax::ast::*;
use parry_syntax::{Diagnostic, Severity};

/// Lines longer than this are broken at the outermost list, record or argument list.
pub const MAX_WIDTH: usize = 100;

/// Format a whole file. Returns the syntax errors instead when the file does not parse.
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diagnostics) = parry_syntax::parse(FileId(0), src);
    let errors: Vec<Diagnostic> = diagnostics.into_iter().filter(|d| d.severity == Severity::Error).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let formatted = format_file(&file, src);
    let (reparsed, diagnostics) = parry_syntax::parse(FileId(0), &formatted);
    let broken = diagnostics.iter().any(|d| d.severity == Severity::Error);
    if broken || !same_syntax(&file, &reparsed) {
        let end = src.len();
        let diagnostic = Diagnostic::error(
            "syntax-error",
            "the formatter could not lay this file out without changing its meaning; it was left unchanged",
            Span::new(FileId(0), end, end),
            "formatting stopped here",
        )
        .with_help(
            "report this file to the Parry maintainers; meanwhile format it by hand or leave it as it is",
        );
        return Err(vec![diagnostic]);
    }
    Ok(formatted)
}

/// Print an already parsed file in the canonical style. `src` must be the text `file` was
/// parsed from (literals and comments are copied from it).
pub fn format_file(file: &SourceFile, src: &str) -> String {
    let mut comments = file.comments.clone();
    comments.sort_by_key(|c| c.span.start);
    let mut p = Printer { src, comments, next: 0, out: String::new(), indent: 0, last: 0, fresh: true };
    p.items(&file.items);
    p.flush_comments_before(usize::MAX);
    while p.out.ends_with("\n\n") {
        p.out.pop();
    }
    if p.out.trim().is_empty() {
        return String::new();
    }
    if !p.out.ends_with('\n') {
        p.out.push('\n');
    }
    p.out
}

/// Whether two parses have the same syntax tree (spans ignored) and the same comments, in
/// order. Used to check that formatting preserved a file's meaning.
pub fn same_syntax(a: &SourceFile, b: &SourceFile) -> bool {
    let strip = |f: &SourceFile| {
        let items = serde_json::to_value(&f.items).map(strip_spans).ok();
        let comments: Vec<(String, bool)> =
            f.comments.iter().map(|c| (c.text.trim_end().to_string(), c.doc)).collect();
        (items, comments)
    };
    let (items_a, comments_a) = strip(a);
    let (items_b, comments_b) = strip(b);
    items_a.is_some() && items_a == items_b && comments_a == comments_b
}

/// Replace every serialized `Span` (an object of exactly `file`, `start`, `end`) by null.
fn strip_spans(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let is_span = map.len() == 3
                && map.contains_key("file")
                && map.contains_key("start")
                && map.contains_key("end");
            if is_span {
                Value::Null
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, strip_spans(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(strip_spans).collect()),
        other => other,
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// How a sequence is bracketed when it fits on one line.
#[derive(Clone, Copy, PartialEq)]
enum Brackets {
    /// `(a, b)` / `[a, b]`
    Tight,
    /// `{ a, b }` (records, record types, enum bodies); empty is `{}`.
    Spaced,
}

struct Printer<'a> {
    src: &'a str,
    /// Every comment of the file, sorted by position; `next` is the first not yet printed.
    comments: Vec<Comment>,
    next: usize,
    out: String,
    indent: usize,
    /// Source offset of the end of the last construct printed (for blank-line detection).
    last: usize,
    /// Nothing printed yet in the current block (no blank line may be added).
    fresh: bool,
}

impl Printer<'_> {
    // ------------------------------------------------------------ output primitives

    fn col(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or("");
        width(line)
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// ` keyword EXPR` for an optional clause (`where`, `limit`, `by`, ...); nothing if absent.
    fn clause(&mut self, keyword: &str, e: Option<&Expr>) {
        if let Some(e) = e {
            self.push(" ");
            self.push(keyword);
            self.push(" ");
            self.expr(e);
        }
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
    }

    fn start_line(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.fresh = false;
    }

    fn slice(&self, span: Span) -> &str {
        self.src.get(span.range()).unwrap_or("")
    }

    // ------------------------------------------------------------ comments and blank lines

    fn peek_comment(&self) -> Option<&Comment> {
        self.comments.get(self.next)
    }

    fn comment_text(c: &Comment) -> String {
        let marker = if c.doc { "##" } else { "#" };
        format!("{marker}{}", c.text.trim_end())
    }

    /// Whether an unprinted comment starts inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        let (start, end) = (span.start as usize, span.end as usize);
        self.comments
            .get(self.next..)
            .unwrap_or(&[])
            .iter()
            .any(|c| (c.span.start as usize) >= start && (c.span.start as usize) < end)
    }

    /// A blank line separated the last printed construct from `pos` in the source.
    fn blank_before(&self, pos: usize) -> bool {
        self.src.get(self.last..pos).map(|gap| gap.matches('\n').count() >= 2).unwrap_or(false)
    }

    /// Keep (at most) one blank line where the source had one.
    fn separate(&mut self, pos: usize) {
        if !self.fresh && self.blank_before(pos) && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Print, each on its own line, the comments that start before `pos`.
    fn flush_comments_before(&mut self, pos: usize) {
        while let Some(c) = self.peek_comment() {
            let (start, end) = (c.span.start as usize, c.span.end as usize);
            if start >= pos {
                break;
            }
            let text = Self::comment_text(c);
            self.next += 1;
            self.separate(start);
            self.start_line();
            self.push(&text);
            self.newline();
            self.last = self.last.max(end);
        }
    }

    /// End the line of a construct that ended at source offset `end`: comments its own
    /// layout had no place for go on the following lines; a comment written after it on
    /// the same source line stays at the end of the line.
    fn finish_line(&mut self, end: usize) {
        if self.peek_comment().is_some_and(|c| (c.span.start as usize) < end) {
            self.newline();
            self.flush_comments_before(end);
        } else {
            let trailing = self.peek_comment().and_then(|c| {
                let gap = self.src.get(end..c.span.start as usize)?;
                let only_punct = gap.chars().all(|ch| matches!(ch, ' ' | '\t' | '\r' | ',' | ';'));
                only_punct.then(|| (Self::comment_text(c), c.span.end as usize))
            });
            if let Some((text, comment_end)) = trailing {
                self.next += 1;
                self.push(" ");
                self.push(&text);
                self.last = self.last.max(comment_end);
            }
            self.newline();
        }
        self.last = self.last.max(end);
    }

    // ------------------------------------------------------------ sequences

    /// A bracketed, comma-separated sequence: on one line when it fits and holds no
    /// comment, else one element per line with a trailing comma.
    #[allow(clippy::too_many_arguments)]
    fn seq<T>(
        &mut self,
        open: &str,
        close: &str,
        brackets: Brackets,
        container: Span,
        items: &[T],
        span_of: fn(&T) -> Span,
        flat: fn(&Self, &T) -> Option<String>,
        render: fn(&mut Self, &T),
    ) {
        if let Some(s) = self.flat_seq(open, close, brackets, container, items, flat)
            && self.col() + width(&s) <= MAX_WIDTH
        {
            self.push(&s);
            return;
        }
        self.push(open);
        self.newline();
        self.indent += 1;
        self.fresh = true;
        for item in items {
            let span = span_of(item);
            self.flush_comments_before(span.start as usize);
            self.separate(span.start as usize);
            self.start_line();
            render(self, item);
            self.push(",");
            self.finish_line(span.end as usize);
        }
        self.flush_comments_before(container.end as usize);
        self.indent -= 1;
        self.start_line();
        self.push(close);
        self.last = self.last.max(container.end as usize);
    }

    fn flat_seq<T>(
        &self,
        open: &str,
        close: &str,
        brackets: Brackets,
        container: Span,
        items: &[T],
        flat: fn(&Self, &T) -> Option<String>,
    ) -> Option<String> {
        if self.has_comment_in(container) {
            return None;
        }
        let parts: Option<Vec<String>> = items.iter().map(|i| flat(self, i)).collect();
        let parts = parts?;
        if parts.iter().any(|p| p.contains('\n')) {
            return None;
        }
        let inner = parts.join(", ");
        Some(match brackets {
            Brackets::Spaced if !parts.is_empty() => format!("{open} {inner} {close}"),
            _ => format!("{open}{inner}{close}"),
        })
    }

    // ------------------------------------------------------------ items

    fn items(&mut self, items: &[Item]) {
        for item in items {
            let first = item.attrs.first().map(|a| a.span.start).unwrap_or(item.span.start) as usize;
            self.flush_comments_before(first);
            self.separate(first);
            self.attrs(&item.attrs);
            self.flush_comments_before(item.span.start as usize);
            self.start_line();
            self.item(item);
            self.finish_line(item.span.end as usize);
        }
    }

    fn attrs(&mut self, attrs: &[Attribute]) {
        for attr in attrs {
            self.flush_comments_before(attr.span.start as usize);
            self.start_line();
            self.attr(attr);
            self.finish_line(attr.span.end as usize);
        }
    }

    fn attr(&mut self, attr: &Attribute) {
        self.push("@");
        self.push(&attr.name.name);
        if !attr.args.is_empty() {
            let container = Span { start: attr.name.span.end, ..attr.span };
            self.seq("(", ")", Brackets::Tight, container, &attr.args, |a| a.span, Self::flat_arg, Self::arg);
        }
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Playbook(p) => {
                self.push("playbook ");
                self.push(&p.name.name);
                self.params(&p.params, p.name.span, p.body.span);
                // With a trigger or a time saving, the header takes the layout of the
                // language reference: one clause per line, the body's `{` on its own line.
                let clauses = [("when ", &p.when), ("saves ", &p.saves)];
                let mut any = false;
                for (keyword, clause) in clauses {
                    if let Some(e) = clause {
                        self.finish_header_line();
                        self.indent += 1;
                        self.start_line();
                        self.indent -= 1;
                        self.push(keyword);
                        self.expr(e);
                        any = true;
                    }
                }
                if any {
                    self.finish_header_line();
                    self.start_line();
                } else {
                    self.push(" ");
                }
                self.block(&p.body);
            }
            ItemKind::Connector(c) => {
                self.push("connector ");
                self.push(&c.name.name);
                self.push(" {");
                self.newline();
                self.indent += 1;
                self.fresh = true;
                for member in &c.members {
                    let span = match member {
                        ConnectorMember::Type { span, .. } => *span,
                        ConnectorMember::Action(a) => a.span,
                    };
                    self.flush_comments_before(span.start as usize);
                    self.separate(span.start as usize);
                    self.start_line();
                    match member {
                        ConnectorMember::Type { decl, .. } => self.type_decl(decl),
                        ConnectorMember::Action(a) => self.action(a),
                    }
                    self.finish_line(span.end as usize);
                }
                self.flush_comments_before(item.span.end as usize);
                self.indent -= 1;
                self.start_line();
                self.push("}");
            }
            ItemKind::Type(t) => self.type_decl(t),
            ItemKind::Enum(e) => {
                self.push("enum ");
                self.push(&e.name.name);
                self.push(" ");
                let container = Span { start: e.name.span.end, ..item.span };
                self.seq(
                    "{",
                    "}",
                    Brackets::Spaced,
                    container,
                    &e.variants,
                    |v| v.span,
                    |_, v| Some(v.name.to_string()),
                    |p, v| p.push(&v.name),
                );
            }
            ItemKind::Fn(f) => {
                self.push("fn ");
                self.push(&f.name.name);
                self.params(&f.params, f.name.span, f.body.span);
                if let Some(ret) = &f.ret {
                    self.push(" -> ");
                    self.type_expr(ret);
                }
                self.push(" ");
                self.block(&f.body);
            }
            ItemKind::Const(c) => {
                self.push("const ");
                self.push(&c.name.name);
                if let Some(ty) = &c.ty {
                    self.push(": ");
                    self.type_expr(ty);
                }
                self.push(" = ");
                self.expr(&c.value);
            }
            ItemKind::Test(t) => {
                self.push("test ");
                let name = self.quoted(t.name_span, &t.name);
                self.push(&name);
                self.push(" ");
                self.block(&t.body);
            }
        }
    }

    /// End a header line (a trailing comment written on it stays there).
    fn finish_header_line(&mut self) {
        let end = self.last;
        let trailing = self.peek_comment().and_then(|c| {
            let gap = self.src.get(end..c.span.start as usize)?;
            (!gap.contains('\n') && gap.trim().is_empty())
                .then(|| (Self::comment_text(c), c.span.end as usize))
        });
        if let Some((text, comment_end)) = trailing {
            self.next += 1;
            self.push(" ");
            self.push(&text);
            self.last = self.last.max(comment_end);
        }
        self.newline();
    }

    /// The parameter list between `after` (the name) and `before` (what follows it).
    fn params(&mut self, params: &[Param], after: Span, before: Span) {
        let end = params.last().map(|p| p.span.end).unwrap_or(after.end);
        let close = self.src.get(end as usize..before.start as usize).and_then(|g| g.find(')'));
        let container_end = close.map(|i| end as usize + i + 1).unwrap_or(before.start as usize);
        let container = Span::new(after.file, after.end as usize, container_end);
        self.seq("(", ")", Brackets::Tight, container, params, |p| p.span, Self::flat_param, Self::param);
    }

    fn flat_param(&self, p: &Param) -> Option<String> {
        let mut s = format!("{}: {}", p.name.name, self.flat_type(&p.ty)?);
        if let Some(d) = &p.default {
            s.push_str(" = ");
            s.push_str(&self.flat_expr(d)?);
        }
        Some(s)
    }

    fn param(&mut self, p: &Param) {
        self.push(&p.name.name);
        self.push(": ");
        self.type_expr(&p.ty);
        if let Some(d) = &p.default {
            self.push(" = ");
            self.expr(d);
        }
    }

    fn type_decl(&mut self, t: &TypeDecl) {
        self.push("type ");
        self.push(&t.name.name);
        self.push(" = ");
        self.type_expr(&t.ty);
    }

    fn action(&mut self, a: &ActionDecl) {
        self.push("action ");
        self.push(&a.name.name);
        self.params(&a.params, a.name.span, a.ret.as_ref().map(|r| r.span).unwrap_or(a.effect.span));
        if let Some(ret) = &a.ret {
            self.push(" -> ");
            self.type_expr(ret);
        }
        let effect = match &a.effect.kind {
            EffectKind::Read => "effect read".to_string(),
            EffectKind::Write => "effect write".to_string(),
            EffectKind::Destructive => "effect destructive".to_string(),
            EffectKind::Reversible { undo: Some(undo) } => format!("effect reversible(undo: {})", undo.name),
            EffectKind::Reversible { undo: None } => "effect reversible".to_string(),
        };
        if self.col() + 1 + width(&effect) <= MAX_WIDTH {
            self.push(" ");
        } else {
            self.newline();
            self.indent += 1;
            self.start_line();
            self.indent -= 1;
        }
        self.push(&effect);
    }

    // ------------------------------------------------------------ types

    fn flat_type(&self, t: &TypeExpr) -> Option<String> {
        Some(match &t.kind {
            TypeExprKind::Named(n) => n.name.to_string(),
            TypeExprKind::Qualified(a, b) => format!("{}.{}", a.name, b.name),
            TypeExprKind::List(inner) => format!("list<{}>", self.flat_type(inner)?),
            TypeExprKind::Optional(inner) => format!("{}?", self.flat_type(inner)?),
            TypeExprKind::Record(fields) => {
                self.flat_seq("{", "}", Brackets::Spaced, t.span, fields, |p, f| {
                    Some(format!("{}: {}", f.name.name, p.flat_type(&f.ty)?))
                })?
            }
        })
    }

    fn type_expr(&mut self, t: &TypeExpr) {
        if let Some(s) = self.flat_type(t)
            && self.col() + width(&s) <= MAX_WIDTH
        {
            self.push(&s);
            return;
        }
        match &t.kind {
            TypeExprKind::Named(_) | TypeExprKind::Qualified(..) => {
                let s = self.flat_type(t).unwrap_or_default();
                self.push(&s);
            }
            TypeExprKind::List(inner) => {
                self.push("list<");
                self.type_expr(inner);
                self.push(">");
            }
            TypeExprKind::Optional(inner) => {
                self.type_expr(inner);
                self.push("?");
            }
            TypeExprKind::Record(fields) => {
                self.seq(
                    "{",
                    "}",
                    Brackets::Spaced,
                    t.span,
                    fields,
                    |f| f.span,
                    Self::flat_field_type,
                    |p, f| {
                        p.push(&f.name.name);
                        p.push(": ");
                        p.type_expr(&f.ty);
                    },
                );
            }
        }
    }

    fn flat_field_type(&self, f: &FieldType) -> Option<String> {
        Some(format!("{}: {}", f.name.name, self.flat_type(&f.ty)?))
    }

    // ------------------------------------------------------------ statements

    fn block(&mut self, b: &Block) {
        if b.stmts.is_empty() && !self.has_comment_in(b.span) {
            self.push("{}");
            self.last = self.last.max(b.span.end as usize);
            return;
        }
        self.push("{");
        self.last = self.last.max(b.span.start as usize + 1);
        self.finish_header_line();
        self.indent += 1;
        self.fresh = true;
        self.stmts(&b.stmts);
        self.flush_comments_before(b.span.end as usize);
        self.indent -= 1;
        self.start_line();
        self.push("}");
        self.last = self.last.max(b.span.end as usize);
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            let first = s.attrs.first().map(|a| a.span.start).unwrap_or(s.span.start) as usize;
            self.flush_comments_before(first);
            self.separate(first);
            self.attrs(&s.attrs);
            self.flush_comments_before(s.span.start as usize);
            self.start_line();
            self.stmt(s);
            self.finish_line(s.span.end as usize);
        }
    }

    fn flat_stmt(&self, s: &Stmt) -> Option<String> {
        if !s.attrs.is_empty() || self.has_comment_in(s.span) {
            return None;
        }
        Some(match &s.kind {
            StmtKind::Let { name, ty, value } => {
                let ty = match ty {
                    Some(t) => format!(": {}", self.flat_type(t)?),
                    None => String::new(),
                };
                format!("let {}{ty} = {}", name.name, self.flat_expr(value)?)
            }
            StmtKind::Expr(e) => self.flat_expr(e)?,
            StmtKind::Note(e) => format!("note {}", self.flat_expr(e)?),
            StmtKind::Evidence { label, value } => {
                format!("evidence {} = {}", self.flat_expr(label)?, self.flat_expr(value)?)
            }
            StmtKind::Recommend(e) => format!("recommend {}", self.flat_expr(e)?),
            StmtKind::Resolve(e) => format!("resolve {}", self.flat_expr(e)?),
            StmtKind::Escalate(e) => format!("escalate {}", self.flat_expr(e)?),
            StmtKind::Fail(e) => format!("fail {}", self.flat_expr(e)?),
            StmtKind::Expect(e) => format!("expect {}", self.flat_expr(e)?),
            StmtKind::Approvals { decision, .. } => format!("approvals {}", decision_word(*decision)),
            StmtKind::Mock(m) => {
                let patterns: Option<Vec<String>> =
                    m.patterns.iter().map(|p| self.flat_mock_pattern(p)).collect();
                let mut s = format!("mock {}.{}({})", m.connector.name, m.action.name, patterns?.join(", "));
                match &m.result {
                    Some(MockResult::Value(e)) => s.push_str(&format!(" = {}", self.flat_expr(e)?)),
                    Some(MockResult::Fail(e)) => s.push_str(&format!(" = fail {}", self.flat_expr(e)?)),
                    None => {}
                }
                s
            }
        })
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Let { name, ty, value } => {
                self.push("let ");
                self.push(&name.name);
                if let Some(t) = ty {
                    self.push(": ");
                    self.type_expr(t);
                }
                self.push(" = ");
                self.expr(value);
            }
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::Note(e) => self.keyword_expr("note ", e),
            StmtKind::Evidence { label, value } => {
                self.push("evidence ");
                self.expr(label);
                self.push(" = ");
                self.expr(value);
            }
            StmtKind::Recommend(e) => self.keyword_expr("recommend ", e),
            StmtKind::Resolve(e) => self.keyword_expr("resolve ", e),
            StmtKind::Escalate(e) => self.keyword_expr("escalate ", e),
            StmtKind::Fail(e) => self.keyword_expr("fail ", e),
            StmtKind::Expect(e) => self.keyword_expr("expect ", e),
            StmtKind::Approvals { decision, .. } => {
                self.push("approvals ");
                self.push(decision_word(*decision));
            }
            StmtKind::Mock(m) => {
                self.push("mock ");
                self.push(&m.connector.name);
                self.push(".");
                self.push(&m.action.name);
                let end = match &m.result {
                    Some(MockResult::Value(e)) | Some(MockResult::Fail(e)) => e.span.start,
                    None => s.span.end,
                };
                let container = Span { start: m.action.span.end, end, ..s.span };
                self.seq(
                    "(",
                    ")",
                    Brackets::Tight,
                    container,
                    &m.patterns,
                    mock_pattern_span,
                    Self::flat_mock_pattern,
                    |p, pat| {
                        let s = p.flat_mock_pattern(pat);
                        match (s, pat) {
                            (_, MockPattern::Value(e)) => p.expr(e),
                            (Some(s), _) => p.push(&s),
                            (None, _) => {}
                        }
                    },
                );
                match &m.result {
                    Some(MockResult::Value(e)) => {
                        self.push(" = ");
                        self.expr(e);
                    }
                    Some(MockResult::Fail(e)) => {
                        self.push(" = fail ");
                        self.expr(e);
                    }
                    None => {}
                }
            }
        }
    }

    fn keyword_expr(&mut self, keyword: &str, e: &Expr) {
        self.push(keyword);
        self.expr(e);
    }

    fn flat_mock_pattern(&self, p: &MockPattern) -> Option<String> {
        match p {
            MockPattern::Any(_) => Some("_".to_string()),
            MockPattern::Rest(_) => Some("..".to_string()),
            MockPattern::Value(e) => self.flat_expr(e),
        }
    }

    // ------------------------------------------------------------ expressions

    /// The expression on one line, or `None` when it holds a block or a comment.
    fn flat_expr(&self, e: &Expr) -> Option<String> {
        if self.has_comment_in(e.span) {
            return None;
        }
        Some(match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::RawStr(_)
            | ExprKind::Duration(_) => self.literal(e),
            ExprKind::Bool(true) => "true".to_string(),
            ExprKind::Bool(false) => "false".to_string(),
            ExprKind::None => "none".to_string(),
            ExprKind::Name(n) => n.name.to_string(),
            ExprKind::List(items) => {
                self.flat_seq("[", "]", Brackets::Tight, e.span, items, |p, i| p.flat_expr(i))?
            }
            ExprKind::Record(fields) => {
                self.flat_seq("{", "}", Brackets::Spaced, e.span, fields, Self::flat_record_field)?
            }
            ExprKind::Field { target, field, optional } => {
                let dot = if *optional { "?." } else { "." };
                format!("{}{dot}{}", self.flat_expr(target)?, field.name)
            }
            ExprKind::Index { target, index } => {
                format!("{}[{}]", self.flat_expr(target)?, self.flat_expr(index)?)
            }
            ExprKind::Call { callee, args } => {
                let parts: Option<Vec<String>> = args.iter().map(|a| self.flat_arg(a)).collect();
                format!("{}({})", self.flat_expr(callee)?, parts?.join(", "))
            }
            ExprKind::Unary { op, operand } => format!("{}{}", unary_str(*op), self.flat_expr(operand)?),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("{} {} {}", self.flat_expr(lhs)?, op.as_str(), self.flat_expr(rhs)?)
            }
            ExprKind::Paren(inner) => format!("({})", self.flat_expr(inner)?),
            // `if c { a } else { b }` chooses a value: one line when each branch is one
            // expression. Without `else`, an `if` is a statement and takes its lines.
            ExprKind::If { cond, then, otherwise } => {
                let otherwise = match otherwise.as_ref()? {
                    Else::Block(b) => self.flat_block(b)?,
                    Else::If(elif) => self.flat_expr(elif)?,
                };
                format!("if {} {} else {otherwise}", self.flat_expr(cond)?, self.flat_block(then)?)
            }
            // `for u in urls { lookup(u) }` maps: one line when the body is one expression.
            ExprKind::For(f) => {
                let mut out = format!("for {} in {}", f.var.name, self.flat_expr(&f.iter)?);
                for (word, clause) in for_clauses(f) {
                    if let Some(c) = clause {
                        out.push_str(&format!(" {word} {}", self.flat_expr(c)?));
                    }
                }
                format!("{out} {}", self.flat_block(&f.body)?)
            }
            ExprKind::Match { .. } | ExprKind::Approve(_) | ExprKind::Try { .. } | ExprKind::Block(_) => {
                return None;
            }
        })
    }

    /// A block of one expression statement, as `{ e }`; `None` for anything else.
    fn flat_block(&self, b: &Block) -> Option<String> {
        match b.stmts.as_slice() {
            [only] if matches!(only.kind, StmtKind::Expr(_)) && !self.has_comment_in(b.span) => {
                Some(format!("{{ {} }}", self.flat_stmt(only)?))
            }
            _ => None,
        }
    }

    fn expr(&mut self, e: &Expr) {
        if let Some(s) = self.flat_expr(e)
            && (self.col() + width(&s) <= MAX_WIDTH || !breakable(e))
        {
            self.push(&s);
            self.last = self.last.max(e.span.end as usize);
            return;
        }
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::RawStr(_)
            | ExprKind::Duration(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Name(_) => {
                let s = match &e.kind {
                    ExprKind::Bool(true) => "true".to_string(),
                    ExprKind::Bool(false) => "false".to_string(),
                    ExprKind::None => "none".to_string(),
                    ExprKind::Name(n) => n.name.to_string(),
                    _ => self.literal(e),
                };
                self.push(&s);
            }
            ExprKind::List(items) => self.seq(
                "[",
                "]",
                Brackets::Tight,
                e.span,
                items,
                |i| i.span,
                |p, i| p.flat_expr(i),
                Self::expr,
            ),
            ExprKind::Record(fields) => self.seq(
                "{",
                "}",
                Brackets::Spaced,
                e.span,
                fields,
                |f| Span { start: f.key_span.start, end: f.value.span.end, ..f.key_span },
                Self::flat_record_field,
                Self::record_field,
            ),
            ExprKind::Field { target, field, optional } => {
                self.expr(target);
                self.push(if *optional { "?." } else { "." });
                self.push(&field.name);
            }
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.push("[");
                self.expr(index);
                self.push("]");
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                let container = Span { start: callee.span.end, ..e.span };
                self.seq("(", ")", Brackets::Tight, container, args, |a| a.span, Self::flat_arg, Self::arg);
            }
            ExprKind::Unary { op, operand } => {
                self.push(unary_str(*op));
                self.expr(operand);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.push(" ");
                self.push(op.as_str());
                self.push(" ");
                self.expr(rhs);
            }
            ExprKind::Paren(inner) => {
                self.push("(");
                self.expr(inner);
                self.push(")");
            }
            ExprKind::If { cond, then, otherwise } => {
                self.push("if ");
                self.expr(cond);
                self.push(" ");
                self.block(then);
                match otherwise {
                    Some(Else::Block(b)) => {
                        self.push(" else ");
                        self.block(b);
                    }
                    Some(Else::If(elif)) => {
                        self.push(" else ");
                        self.expr(elif);
                    }
                    None => {}
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                self.push("match ");
                self.expr(scrutinee);
                self.push(" {");
                self.newline();
                self.indent += 1;
                self.fresh = true;
                for arm in arms {
                    let start = arm.patterns.first().map(pattern_span).unwrap_or(arm.span).start as usize;
                    self.flush_comments_before(start);
                    self.separate(start);
                    self.start_line();
                    self.arm(arm);
                    self.finish_line(arm.span.end as usize);
                }
                self.flush_comments_before(e.span.end as usize);
                self.indent -= 1;
                self.start_line();
                self.push("}");
            }
            ExprKind::For(f) => {
                self.push("for ");
                self.push(&f.var.name);
                self.push(" in ");
                self.expr(&f.iter);
                for (word, clause) in for_clauses(f) {
                    self.clause(word, clause);
                }
                self.push(" ");
                self.block(&f.body);
            }
            ExprKind::Approve(a) => {
                self.push("approve ");
                self.expr(&a.prompt);
                self.clause("by", a.group.as_ref());
                self.clause("within", a.within.as_ref());
                self.push(" ");
                self.block(&a.body);
                if let Some(b) = &a.otherwise {
                    self.push(" else ");
                    self.block(b);
                }
            }
            ExprKind::Try { body, err, catch } => {
                self.push("try ");
                self.block(body);
                self.push(" catch ");
                self.push(&err.name);
                self.push(" ");
                self.block(catch);
            }
            ExprKind::Block(b) => self.block(b),
        }
        self.last = self.last.max(e.span.end as usize);
    }

    fn arm(&mut self, arm: &MatchArm) {
        let patterns: Vec<String> = arm.patterns.iter().map(|p| self.pattern(p)).collect();
        self.push(&patterns.join(" | "));
        self.push(" => ");
        let single = match arm.body.stmts.as_slice() {
            [only] if !self.has_comment_in(arm.body.span) => self.flat_stmt(only).map(|_| only),
            _ => None,
        };
        match single {
            Some(stmt) => {
                self.stmt(stmt);
                self.last = self.last.max(stmt.span.end as usize);
            }
            None => self.block(&arm.body),
        }
    }

    fn pattern(&self, p: &Pattern) -> String {
        match p {
            Pattern::Wildcard(_) => "_".to_string(),
            Pattern::Name(n) => n.name.to_string(),
            Pattern::Qualified(a, b) => format!("{}.{}", a.name, b.name),
            Pattern::Literal(e) => match &e.kind {
                ExprKind::Unary { op: UnaryOp::Neg, operand } => format!("-{}", self.literal(operand)),
                ExprKind::Bool(true) => "true".to_string(),
                ExprKind::Bool(false) => "false".to_string(),
                ExprKind::None => "none".to_string(),
                _ => {
                    let text = self.literal(e);
                    let negative = match e.kind {
                        ExprKind::Int(n) => n < 0,
                        ExprKind::Float(f) => f.is_sign_negative(),
                        _ => false,
                    };
                    if negative && !text.starts_with('-') { format!("-{text}") } else { text }
                }
            },
        }
    }

    fn flat_arg(&self, a: &Arg) -> Option<String> {
        let value = self.flat_expr(&a.value)?;
        Some(match &a.name {
            Some(n) => format!("{}: {value}", n.name),
            None => value,
        })
    }

    fn arg(&mut self, a: &Arg) {
        if let Some(n) = &a.name {
            self.push(&n.name);
            self.push(": ");
        }
        self.expr(&a.value);
    }

    fn flat_record_field(&self, f: &RecordField) -> Option<String> {
        Some(format!("{}: {}", self.record_key(f), self.flat_expr(&f.value)?))
    }

    fn record_field(&mut self, f: &RecordField) {
        let key = self.record_key(f);
        self.push(&key);
        self.push(": ");
        self.expr(&f.value);
    }

    fn record_key(&self, f: &RecordField) -> String {
        let written = self.slice(f.key_span);
        if written.starts_with('"') || written.starts_with("r\"") {
            written.to_string()
        } else if is_word(&f.key) {
            f.key.clone()
        } else {
            self.quoted(f.key_span, &f.key)
        }
    }

    /// A literal exactly as written in the source.
    fn literal(&self, e: &Expr) -> String {
        let written = self.slice(e.span);
        if !written.is_empty() {
            return written.to_string();
        }
        // Only reachable for a synthesized node without a source span.
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::Duration(ms) => format!("{ms}ms"),
            ExprKind::RawStr(s) => format!("r\"{s}\""),
            ExprKind::Str(parts) => {
                let text: String = parts
                    .iter()
                    .map(|p| match p {
                        StrPart::Lit(s) => escape(s),
                        StrPart::Expr(e) => format!("{{{}}}", self.flat_expr(e).unwrap_or_default()),
                    })
                    .collect();
                format!("\"{text}\"")
            }
            _ => String::new(),
        }
    }

    /// A string literal as written at `span`, or `text` quoted when the span holds
    /// something else.
    fn quoted(&self, span: Span, text: &str) -> String {
        let written = self.slice(span);
        if written.starts_with('"') || written.starts_with("r\"") {
            written.to_string()
        } else {
            format!("\"{}\"", escape(text))
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '{' => out.push_str("\\{"),
            c => out.push(c),
        }
    }
    out
}

fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `for`'s optional clauses, in the order they are written.
fn for_clauses(f: &ForLoop) -> [(&'static str, Option<&Expr>); 3] {
    [("where", f.filter.as_ref()), ("limit", f.limit.as_ref()), ("concurrency", f.concurrency.as_ref())]
}

/// Whether breaking an expression over lines can make it narrower.
fn breakable(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::List(_)
        | ExprKind::Record(_)
        | ExprKind::Call { .. }
        | ExprKind::If { .. }
        | ExprKind::For(_) => true,
        ExprKind::Field { target, .. } | ExprKind::Index { target, .. } => breakable(target),
        ExprKind::Unary { operand, .. } => breakable(operand),
        ExprKind::Binary { lhs, rhs, .. } => breakable(lhs) || breakable(rhs),
        ExprKind::Paren(inner) => breakable(inner),
        _ => false,
    }
}

fn unary_str(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Not => "not ",
        UnaryOp::Neg => "-",
    }
}

fn decision_word(d: ApprovalDecision) -> &'static str {
    match d {
        ApprovalDecision::Granted => "granted",
        ApprovalDecision::Denied => "denied",
        ApprovalDecision::Expired => "expired",
    }
}

fn mock_pattern_span(p: &MockPattern) -> Span {
    match p {
        MockPattern::Any(s) | MockPattern::Rest(s) => *s,
        MockPattern::Value(e) => e.span,
    }
}

fn pattern_span(p: &Pattern) -> Span {
    match p {
        Pattern::Wildcard(s) => *s,
        Pattern::Name(n) => n.span,
        Pattern::Qualified(a, b) => a.span.to(b.span),
        Pattern::Literal(e) => e.span,
    }
}
