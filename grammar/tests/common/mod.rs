//! Helpers shared by the parser tests: a compact, readable AST dump, diagnostics rendered
//! as `line:col code: message`, and a checker of span invariants.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use parry_syntax::Diagnostic;
use parry_syntax::ast::*;

pub const FILE: FileId = FileId(7);

/// 1-based line and column (in Unicode scalar values) of a byte offset.
pub fn line_col(src: &str, offset: u32) -> (usize, usize) {
    let offset = (offset as usize).min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

pub fn render_diagnostics(src: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let (l, c) = line_col(src, d.primary.span.start);
        writeln!(out, "{l}:{c} {}: {}", d.code, d.message).unwrap();
        writeln!(out, "    label {l}:{c}: {}", d.primary.message).unwrap();
        for s in &d.secondary {
            let (l, c) = line_col(src, s.span.start);
            writeln!(out, "    label {l}:{c}: {}", s.message).unwrap();
        }
        for n in &d.notes {
            writeln!(out, "    note: {n}").unwrap();
        }
        if let Some(h) = &d.help {
            writeln!(out, "    help: {h}").unwrap();
        }
    }
    out
}

// ---------------------------------------------------------------- AST dump

pub fn dump(src: &str, file: &SourceFile) -> String {
    let mut d = Dumper { out: String::new(), src };
    for item in &file.items {
        d.item(item);
    }
    if !file.comments.is_empty() {
        d.out.push_str("comments:\n");
        for c in &file.comments {
            let (l, col) = line_col(src, c.span.start);
            let kind = if c.doc { "doc" } else { "comment" };
            writeln!(d.out, "  {l}:{col} {kind} {:?}", c.text).unwrap();
        }
    }
    d.out
}

struct Dumper<'s> {
    out: String,
    src: &'s str,
}

fn indent(n: usize) -> String {
    "  ".repeat(n)
}

impl Dumper<'_> {
    fn line(&mut self, depth: usize, text: &str) {
        writeln!(self.out, "{}{}", indent(depth), text).unwrap();
    }

    fn item(&mut self, item: &Item) {
        let (l, c) = line_col(self.src, item.span.start);
        let (el, ec) = line_col(self.src, item.span.end);
        if let Some(doc) = &item.doc {
            self.line(0, &format!("doc {doc:?}"));
        }
        for a in &item.attrs {
            let a = self.attr(a);
            self.line(0, &a);
        }
        match &item.kind {
            ItemKind::Playbook(p) => {
                let params = self.params(&p.params);
                self.line(0, &format!("playbook {}({params}) [{l}:{c}-{el}:{ec}]", p.name.name));
                if let Some(w) = &p.when {
                    let w = self.expr(w);
                    self.line(1, &format!("when {w}"));
                }
                if let Some(s) = &p.saves {
                    let s = self.expr(s);
                    self.line(1, &format!("saves {s}"));
                }
                self.block(1, &p.body);
            }
            ItemKind::Connector(k) => {
                self.line(0, &format!("connector {} [{l}:{c}-{el}:{ec}]", k.name.name));
                for m in &k.members {
                    match m {
                        ConnectorMember::Type { doc, decl, .. } => {
                            if let Some(doc) = doc {
                                self.line(1, &format!("doc {doc:?}"));
                            }
                            let t = self.ty(&decl.ty);
                            self.line(1, &format!("type {} = {t}", decl.name.name));
                        }
                        ConnectorMember::Action(a) => {
                            if let Some(doc) = &a.doc {
                                self.line(1, &format!("doc {doc:?}"));
                            }
                            let params = self.params(&a.params);
                            let ret =
                                a.ret.as_ref().map(|t| format!(" -> {}", self.ty(t))).unwrap_or_default();
                            let eff = match &a.effect.kind {
                                EffectKind::Read => "read".to_string(),
                                EffectKind::Write => "write".to_string(),
                                EffectKind::Destructive => "destructive".to_string(),
                                EffectKind::Reversible { undo: Some(u) } => {
                                    format!("reversible(undo: {})", u.name)
                                }
                                EffectKind::Reversible { undo: None } => "reversible".to_string(),
                            };
                            self.line(1, &format!("action {}({params}){ret} effect {eff}", a.name.name));
                        }
                    }
                }
            }
            ItemKind::Type(t) => {
                let ty = self.ty(&t.ty);
                self.line(0, &format!("type {} = {ty} [{l}:{c}-{el}:{ec}]", t.name.name));
            }
            ItemKind::Enum(e) => {
                let v: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
                self.line(0, &format!("enum {} {{ {} }} [{l}:{c}-{el}:{ec}]", e.name.name, v.join(", ")));
            }
            ItemKind::Fn(f) => {
                let params = self.params(&f.params);
                let ret = f.ret.as_ref().map(|t| format!(" -> {}", self.ty(t))).unwrap_or_default();
                self.line(0, &format!("fn {}({params}){ret} [{l}:{c}-{el}:{ec}]", f.name.name));
                self.block(1, &f.body);
            }
            ItemKind::Const(k) => {
                let ty = k.ty.as_ref().map(|t| format!(": {}", self.ty(t))).unwrap_or_default();
                let v = self.expr(&k.value);
                self.line(0, &format!("const {}{ty} = {v} [{l}:{c}-{el}:{ec}]", k.name.name));
            }
            ItemKind::Test(t) => {
                self.line(0, &format!("test {:?} [{l}:{c}-{el}:{ec}]", t.name));
                self.block(1, &t.body);
            }
        }
    }

    fn attr(&self, a: &Attribute) -> String {
        let args: Vec<String> = a.args.iter().map(|x| self.arg(x)).collect();
        format!("@{}({})", a.name.name, args.join(", "))
    }

    fn params(&self, params: &[Param]) -> String {
        let p: Vec<String> = params
            .iter()
            .map(|p| {
                let d = p.default.as_ref().map(|e| format!(" = {}", self.expr(e))).unwrap_or_default();
                format!("{}: {}{d}", p.name.name, self.ty(&p.ty))
            })
            .collect();
        p.join(", ")
    }

    fn ty(&self, t: &TypeExpr) -> String {
        match &t.kind {
            TypeExprKind::Named(n) => n.name.to_string(),
            TypeExprKind::Qualified(a, b) => format!("{}.{}", a.name, b.name),
            TypeExprKind::List(e) => format!("list<{}>", self.ty(e)),
            TypeExprKind::Optional(e) => format!("{}?", self.ty(e)),
            TypeExprKind::Record(fields) => {
                let f: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let doc = f.doc.as_ref().map(|d| format!("(doc {d:?}) ")).unwrap_or_default();
                        format!("{doc}{}: {}", f.name.name, self.ty(&f.ty))
                    })
                    .collect();
                format!("{{ {} }}", f.join(", "))
            }
        }
    }

    fn block(&mut self, depth: usize, b: &Block) {
        for s in &b.stmts {
            self.stmt(depth, s);
        }
    }

    fn stmt(&mut self, depth: usize, s: &Stmt) {
        for a in &s.attrs {
            let a = self.attr(a);
            self.line(depth, &a);
        }
        match &s.kind {
            StmtKind::Let { name, ty, value } => {
                let ty = ty.as_ref().map(|t| format!(": {}", self.ty(t))).unwrap_or_default();
                let head = format!("let {}{ty} =", name.name);
                self.expr_stmt(depth, &head, value);
            }
            StmtKind::Expr(e) => self.expr_stmt(depth, "expr", e),
            StmtKind::Note(e) => self.expr_stmt(depth, "note", e),
            StmtKind::Evidence { label, value } => {
                let head = format!("evidence {} =", self.expr(label));
                self.expr_stmt(depth, &head, value);
            }
            StmtKind::Recommend(e) => self.expr_stmt(depth, "recommend", e),
            StmtKind::Resolve(e) => self.expr_stmt(depth, "resolve", e),
            StmtKind::Escalate(e) => self.expr_stmt(depth, "escalate", e),
            StmtKind::Fail(e) => self.expr_stmt(depth, "fail", e),
            StmtKind::Expect(e) => self.expr_stmt(depth, "expect", e),
            StmtKind::Approvals { decision, .. } => {
                self.line(depth, &format!("approvals {decision:?}"));
            }
            StmtKind::Mock(m) => {
                let pats: Vec<String> = m
                    .patterns
                    .iter()
                    .map(|p| match p {
                        MockPattern::Any(_) => "_".to_string(),
                        MockPattern::Rest(_) => "..".to_string(),
                        MockPattern::Value(e) => self.expr(e),
                    })
                    .collect();
                let result = match &m.result {
                    None => String::new(),
                    Some(MockResult::Value(e)) => format!(" = {}", self.expr(e)),
                    Some(MockResult::Fail(e)) => format!(" = fail {}", self.expr(e)),
                };
                self.line(
                    depth,
                    &format!("mock {}.{}({}){result}", m.connector.name, m.action.name, pats.join(", ")),
                );
            }
        }
    }

    /// Statement-level expressions with blocks are printed over several lines.
    fn expr_stmt(&mut self, depth: usize, head: &str, e: &Expr) {
        match &e.kind {
            ExprKind::If { .. }
            | ExprKind::Match { .. }
            | ExprKind::For(_)
            | ExprKind::Approve(_)
            | ExprKind::Try { .. }
            | ExprKind::Block(_) => {
                self.line(depth, head);
                self.block_expr(depth + 1, e);
            }
            _ => {
                let e = self.expr(e);
                self.line(depth, &format!("{head} {e}"));
            }
        }
    }

    fn block_expr(&mut self, depth: usize, e: &Expr) {
        match &e.kind {
            ExprKind::If { cond, then, otherwise } => {
                let c = self.expr(cond);
                self.line(depth, &format!("if {c}"));
                self.block(depth + 1, then);
                match otherwise {
                    None => {}
                    Some(Else::Block(b)) => {
                        self.line(depth, "else");
                        self.block(depth + 1, b);
                    }
                    Some(Else::If(e)) => {
                        self.line(depth, "else");
                        self.block_expr(depth + 1, e);
                    }
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                let s = self.expr(scrutinee);
                self.line(depth, &format!("match {s}"));
                for arm in arms {
                    let pats: Vec<String> = arm
                        .patterns
                        .iter()
                        .map(|p| match p {
                            Pattern::Wildcard(_) => "_".to_string(),
                            Pattern::Name(n) => n.name.to_string(),
                            Pattern::Qualified(a, b) => format!("{}.{}", a.name, b.name),
                            Pattern::Literal(e) => self.expr(e),
                        })
                        .collect();
                    self.line(depth + 1, &format!("arm {} =>", pats.join(" | ")));
                    self.block(depth + 2, &arm.body);
                }
            }
            ExprKind::For(f) => {
                let mut head = format!("for {} in {}", f.var.name, self.expr(&f.iter));
                if let Some(w) = &f.filter {
                    write!(head, " where {}", self.expr(w)).unwrap();
                }
                if let Some(w) = &f.limit {
                    write!(head, " limit {}", self.expr(w)).unwrap();
                }
                if let Some(w) = &f.concurrency {
                    write!(head, " concurrency {}", self.expr(w)).unwrap();
                }
                self.line(depth, &head);
                self.block(depth + 1, &f.body);
            }
            ExprKind::Approve(a) => {
                let mut head = format!("approve {}", self.expr(&a.prompt));
                if let Some(g) = &a.group {
                    write!(head, " by {}", self.expr(g)).unwrap();
                }
                if let Some(w) = &a.within {
                    write!(head, " within {}", self.expr(w)).unwrap();
                }
                self.line(depth, &head);
                self.block(depth + 1, &a.body);
                if let Some(b) = &a.otherwise {
                    self.line(depth, "else");
                    self.block(depth + 1, b);
                }
            }
            ExprKind::Try { body, err, catch } => {
                self.line(depth, "try");
                self.block(depth + 1, body);
                self.line(depth, &format!("catch {}", err.name));
                self.block(depth + 1, catch);
            }
            ExprKind::Block(b) => {
                self.line(depth, "block");
                self.block(depth + 1, b);
            }
            _ => {
                let e = self.expr(e);
                self.line(depth, &e);
            }
        }
    }

    fn arg(&self, a: &Arg) -> String {
        match &a.name {
            Some(n) => format!("{}: {}", n.name, self.expr(&a.value)),
            None => self.expr(&a.value),
        }
    }

    fn inline_block(&self, b: &Block) -> String {
        let parts: Vec<String> = b
            .stmts
            .iter()
            .map(|s| match &s.kind {
                StmtKind::Expr(e) => self.expr(e),
                StmtKind::Let { name, value, .. } => format!("let {} = {}", name.name, self.expr(value)),
                StmtKind::Resolve(e) => format!("resolve {}", self.expr(e)),
                StmtKind::Escalate(e) => format!("escalate {}", self.expr(e)),
                StmtKind::Note(e) => format!("note {}", self.expr(e)),
                StmtKind::Fail(e) => format!("fail {}", self.expr(e)),
                other => format!("{other:?}"),
            })
            .collect();
        format!("{{ {} }}", parts.join("; "))
    }

    /// One expression as an s-expression.
    fn expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::None => "none".into(),
            ExprKind::Str(parts) => {
                let p: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        StrPart::Lit(s) => format!("{s:?}"),
                        StrPart::Expr(e) => format!("{{{}}}", self.expr(e)),
                    })
                    .collect();
                if p.len() == 1 && matches!(parts.first(), Some(StrPart::Lit(_))) {
                    p.concat()
                } else {
                    format!("(str {})", p.join(" "))
                }
            }
            ExprKind::RawStr(s) => format!("(raw {s:?})"),
            ExprKind::Duration(ms) => format!("{ms}ms"),
            ExprKind::List(items) => {
                let i: Vec<String> = items.iter().map(|x| self.expr(x)).collect();
                format!("[{}]", i.join(", "))
            }
            ExprKind::Record(fields) => {
                let f: Vec<String> =
                    fields.iter().map(|f| format!("{:?}: {}", f.key, self.expr(&f.value))).collect();
                format!("{{{}}}", f.join(", "))
            }
            ExprKind::Name(n) => n.name.to_string(),
            ExprKind::Field { target, field, optional } => {
                format!("({} {} {})", if *optional { "?." } else { "." }, self.expr(target), field.name)
            }
            ExprKind::Index { target, index } => {
                format!("(index {} {})", self.expr(target), self.expr(index))
            }
            ExprKind::Call { callee, args } => {
                let a: Vec<String> = args.iter().map(|x| self.arg(x)).collect();
                if a.is_empty() {
                    format!("(call {})", self.expr(callee))
                } else {
                    format!("(call {} {})", self.expr(callee), a.join(" "))
                }
            }
            ExprKind::Unary { op, operand } => {
                let op = match op {
                    UnaryOp::Not => "not",
                    UnaryOp::Neg => "neg",
                };
                format!("({op} {})", self.expr(operand))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                format!("({} {} {})", op.as_str(), self.expr(lhs), self.expr(rhs))
            }
            ExprKind::Paren(inner) => format!("(paren {})", self.expr(inner)),
            ExprKind::If { cond, then, otherwise } => {
                let mut s = format!("(if {} {}", self.expr(cond), self.inline_block(then));
                match otherwise {
                    None => {}
                    Some(Else::Block(b)) => write!(s, " else {}", self.inline_block(b)).unwrap(),
                    Some(Else::If(e)) => write!(s, " else {}", self.expr(e)).unwrap(),
                }
                s.push(')');
                s
            }
            ExprKind::For(f) => {
                let mut s = format!("(for {} in {}", f.var.name, self.expr(&f.iter));
                if let Some(w) = &f.filter {
                    write!(s, " where {}", self.expr(w)).unwrap();
                }
                if let Some(w) = &f.limit {
                    write!(s, " limit {}", self.expr(w)).unwrap();
                }
                if let Some(w) = &f.concurrency {
                    write!(s, " concurrency {}", self.expr(w)).unwrap();
                }
                write!(s, " {})", self.inline_block(&f.body)).unwrap();
                s
            }
            ExprKind::Block(b) => format!("(block {})", self.inline_block(b)),
            ExprKind::Match { scrutinee, arms } => {
                let a: Vec<String> = arms
                    .iter()
                    .map(|arm| {
                        let pats: Vec<String> = arm
                            .patterns
                            .iter()
                            .map(|p| match p {
                                Pattern::Wildcard(_) => "_".to_string(),
                                Pattern::Name(n) => n.name.to_string(),
                                Pattern::Qualified(a, b) => format!("{}.{}", a.name, b.name),
                                Pattern::Literal(e) => self.expr(e),
                            })
                            .collect();
                        format!("{} => {}", pats.join(" | "), self.inline_block(&arm.body))
                    })
                    .collect();
                format!("(match {} {})", self.expr(scrutinee), a.join(", "))
            }
            ExprKind::Approve(a) => {
                format!("(approve {} {})", self.expr(&a.prompt), self.inline_block(&a.body))
            }
            ExprKind::Try { body, err, catch } => {
                format!("(try {} catch {} {})", self.inline_block(body), err.name, self.inline_block(catch))
            }
        }
    }
}

// ---------------------------------------------------------------- span invariants

/// Checks that every span lies in `file` and inside the source, that children lie inside
/// their parents, and that siblings are ordered and do not overlap.
pub fn check_spans(src: &str, file: &SourceFile) {
    let mut c = SpanChecker { src_len: src.len() as u32, file: file.file, errors: Vec::new() };
    let mut prev: Option<Span> = None;
    for item in &file.items {
        c.item(item);
        if let Some(p) = prev {
            c.ordered(p, item.span, "items");
        }
        prev = Some(item.span);
    }
    let mut prev: Option<Span> = None;
    for com in &file.comments {
        c.valid(com.span);
        if let Some(p) = prev {
            c.ordered(p, com.span, "comments");
        }
        prev = Some(com.span);
    }
    assert!(c.errors.is_empty(), "span invariants violated:\n{}", c.errors.join("\n"));
}

struct SpanChecker {
    src_len: u32,
    file: FileId,
    errors: Vec<String>,
}

impl SpanChecker {
    fn valid(&mut self, s: Span) {
        if s.file != self.file {
            self.errors.push(format!("{s:?} is in the wrong file"));
        }
        if s.start > s.end || s.end > self.src_len {
            self.errors.push(format!("{s:?} is not a valid range"));
        }
    }

    fn inside(&mut self, parent: Span, child: Span, what: &str) {
        self.valid(child);
        if !parent.contains(&child) {
            self.errors.push(format!("{what} {child:?} is outside its parent {parent:?}"));
        }
    }

    fn ordered(&mut self, a: Span, b: Span, what: &str) {
        if a.end > b.start {
            self.errors.push(format!("{what} out of order or overlapping: {a:?} then {b:?}"));
        }
    }

    /// Checks a list of sibling spans inside `parent`.
    fn siblings(&mut self, parent: Span, spans: &[Span], what: &str) {
        for (i, s) in spans.iter().enumerate() {
            self.inside(parent, *s, what);
            if i > 0 {
                self.ordered(spans[i - 1], *s, what);
            }
        }
    }

    fn item(&mut self, item: &Item) {
        self.valid(item.span);
        for a in &item.attrs {
            self.attr(a);
            self.ordered(a.span, item.span, "attribute before item");
        }
        let p = item.span;
        match &item.kind {
            ItemKind::Playbook(pb) => {
                let mut spans = vec![pb.name.span];
                spans.extend(pb.params.iter().map(|x| x.span));
                spans.extend(pb.when.iter().map(|x| x.span));
                spans.extend(pb.saves.iter().map(|x| x.span));
                spans.push(pb.body.span);
                self.siblings(p, &spans, "playbook part");
                self.params(&pb.params);
                if let Some(w) = &pb.when {
                    self.expr(w);
                }
                if let Some(w) = &pb.saves {
                    self.expr(w);
                }
                self.block(&pb.body);
            }
            ItemKind::Connector(k) => {
                let mut spans = vec![k.name.span];
                for m in &k.members {
                    match m {
                        ConnectorMember::Type { decl, span, .. } => {
                            spans.push(*span);
                            self.siblings(*span, &[decl.name.span, decl.ty.span], "type member part");
                            self.ty(&decl.ty);
                        }
                        ConnectorMember::Action(a) => {
                            spans.push(a.span);
                            let mut parts = vec![a.name.span];
                            parts.extend(a.params.iter().map(|x| x.span));
                            parts.extend(a.ret.iter().map(|x| x.span));
                            parts.push(a.effect.span);
                            self.siblings(a.span, &parts, "action part");
                            self.params(&a.params);
                            if let Some(t) = &a.ret {
                                self.ty(t);
                            }
                            if let EffectKind::Reversible { undo: Some(u) } = &a.effect.kind {
                                self.inside(a.effect.span, u.span, "undo");
                            }
                        }
                    }
                }
                self.siblings(p, &spans, "connector member");
            }
            ItemKind::Type(t) => {
                self.siblings(p, &[t.name.span, t.ty.span], "type part");
                self.ty(&t.ty);
            }
            ItemKind::Enum(e) => {
                let mut spans = vec![e.name.span];
                spans.extend(e.variants.iter().map(|v| v.span));
                self.siblings(p, &spans, "enum part");
            }
            ItemKind::Fn(f) => {
                let mut spans = vec![f.name.span];
                spans.extend(f.params.iter().map(|x| x.span));
                spans.extend(f.ret.iter().map(|x| x.span));
                spans.push(f.body.span);
                self.siblings(p, &spans, "fn part");
                self.params(&f.params);
                if let Some(t) = &f.ret {
                    self.ty(t);
                }
                self.block(&f.body);
            }
            ItemKind::Const(k) => {
                let mut spans = vec![k.name.span];
                spans.extend(k.ty.iter().map(|x| x.span));
                spans.push(k.value.span);
                self.siblings(p, &spans, "const part");
                if let Some(t) = &k.ty {
                    self.ty(t);
                }
                self.expr(&k.value);
            }
            ItemKind::Test(t) => {
                self.siblings(p, &[t.name_span, t.body.span], "test part");
                self.block(&t.body);
            }
        }
    }

    fn attr(&mut self, a: &Attribute) {
        self.valid(a.span);
        let mut spans = vec![a.name.span];
        spans.extend(a.args.iter().map(|x| x.span));
        self.siblings(a.span, &spans, "attribute part");
        self.args(&a.args);
    }

    fn args(&mut self, args: &[Arg]) {
        for a in args {
            let mut spans = Vec::new();
            spans.extend(a.name.iter().map(|n| n.span));
            spans.push(a.value.span);
            self.siblings(a.span, &spans, "argument part");
            self.expr(&a.value);
        }
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            let mut spans = vec![p.name.span, p.ty.span];
            spans.extend(p.default.iter().map(|x| x.span));
            self.siblings(p.span, &spans, "param part");
            self.ty(&p.ty);
            if let Some(d) = &p.default {
                self.expr(d);
            }
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        self.valid(t.span);
        match &t.kind {
            TypeExprKind::Named(n) => self.inside(t.span, n.span, "type name"),
            TypeExprKind::Qualified(a, b) => self.siblings(t.span, &[a.span, b.span], "qualified type"),
            TypeExprKind::List(e) | TypeExprKind::Optional(e) => {
                self.inside(t.span, e.span, "element type");
                self.ty(e);
            }
            TypeExprKind::Record(fields) => {
                let spans: Vec<Span> = fields.iter().map(|f| f.span).collect();
                self.siblings(t.span, &spans, "record field type");
                for f in fields {
                    self.siblings(f.span, &[f.name.span, f.ty.span], "field type part");
                    self.ty(&f.ty);
                }
            }
        }
    }

    fn block(&mut self, b: &Block) {
        self.valid(b.span);
        let mut spans = Vec::new();
        for s in &b.stmts {
            spans.extend(s.attrs.iter().map(|a| a.span));
            spans.push(s.span);
        }
        self.siblings(b.span, &spans, "statement");
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        for a in &s.attrs {
            self.attr(a);
        }
        let p = s.span;
        match &s.kind {
            StmtKind::Let { name, ty, value } => {
                let mut spans = vec![name.span];
                spans.extend(ty.iter().map(|t| t.span));
                spans.push(value.span);
                self.siblings(p, &spans, "let part");
                if let Some(t) = ty {
                    self.ty(t);
                }
                self.expr(value);
            }
            StmtKind::Expr(e)
            | StmtKind::Note(e)
            | StmtKind::Recommend(e)
            | StmtKind::Resolve(e)
            | StmtKind::Escalate(e)
            | StmtKind::Fail(e)
            | StmtKind::Expect(e) => {
                self.inside(p, e.span, "statement expression");
                self.expr(e);
            }
            StmtKind::Evidence { label, value } => {
                self.siblings(p, &[label.span, value.span], "evidence part");
                self.expr(label);
                self.expr(value);
            }
            StmtKind::Approvals { span, .. } => self.inside(p, *span, "approvals decision"),
            StmtKind::Mock(m) => {
                let mut spans = vec![m.connector.span, m.action.span];
                for pat in &m.patterns {
                    spans.push(match pat {
                        MockPattern::Any(s) | MockPattern::Rest(s) => *s,
                        MockPattern::Value(e) => e.span,
                    });
                }
                if let Some(MockResult::Value(e) | MockResult::Fail(e)) = &m.result {
                    spans.push(e.span);
                }
                self.siblings(p, &spans, "mock part");
                for pat in &m.patterns {
                    if let MockPattern::Value(e) = pat {
                        self.expr(e);
                    }
                }
                if let Some(MockResult::Value(e) | MockResult::Fail(e)) = &m.result {
                    self.expr(e);
                }
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        self.valid(e.span);
        let p = e.span;
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::RawStr(_)
            | ExprKind::Duration(_) => {}
            ExprKind::Str(parts) => {
                let spans: Vec<Span> = parts
                    .iter()
                    .filter_map(|x| match x {
                        StrPart::Expr(e) => Some(e.span),
                        StrPart::Lit(_) => None,
                    })
                    .collect();
                self.siblings(p, &spans, "interpolation");
                for x in parts {
                    if let StrPart::Expr(e) = x {
                        self.expr(e);
                    }
                }
            }
            ExprKind::List(items) => {
                let spans: Vec<Span> = items.iter().map(|x| x.span).collect();
                self.siblings(p, &spans, "list item");
                items.iter().for_each(|x| self.expr(x));
            }
            ExprKind::Record(fields) => {
                let mut spans = Vec::new();
                for f in fields {
                    spans.push(f.key_span);
                    spans.push(f.value.span);
                }
                self.siblings(p, &spans, "record part");
                fields.iter().for_each(|f| self.expr(&f.value));
            }
            ExprKind::Name(n) => self.inside(p, n.span, "name"),
            ExprKind::Field { target, field, .. } => {
                self.siblings(p, &[target.span, field.span], "field access");
                self.expr(target);
            }
            ExprKind::Index { target, index } => {
                self.siblings(p, &[target.span, index.span], "index");
                self.expr(target);
                self.expr(index);
            }
            ExprKind::Call { callee, args } => {
                let mut spans = vec![callee.span];
                spans.extend(args.iter().map(|a| a.span));
                self.siblings(p, &spans, "call part");
                self.expr(callee);
                self.args(args);
            }
            ExprKind::Unary { operand, .. } => {
                self.inside(p, operand.span, "operand");
                self.expr(operand);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                self.siblings(p, &[lhs.span, rhs.span], "operand");
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::If { cond, then, otherwise } => {
                let mut spans = vec![cond.span, then.span];
                match otherwise {
                    Some(Else::Block(b)) => spans.push(b.span),
                    Some(Else::If(e)) => spans.push(e.span),
                    None => {}
                }
                self.siblings(p, &spans, "if part");
                self.expr(cond);
                self.block(then);
                match otherwise {
                    Some(Else::Block(b)) => self.block(b),
                    Some(Else::If(e)) => self.expr(e),
                    None => {}
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                let mut spans = vec![scrutinee.span];
                spans.extend(arms.iter().map(|a| a.span));
                self.siblings(p, &spans, "match part");
                self.expr(scrutinee);
                for arm in arms {
                    let mut spans: Vec<Span> = arm
                        .patterns
                        .iter()
                        .map(|x| match x {
                            Pattern::Wildcard(s) => *s,
                            Pattern::Name(n) => n.span,
                            Pattern::Qualified(a, b) => a.span.to(b.span),
                            Pattern::Literal(e) => e.span,
                        })
                        .collect();
                    spans.push(arm.body.span);
                    self.siblings(arm.span, &spans, "arm part");
                    self.block(&arm.body);
                }
            }
            ExprKind::For(f) => {
                let mut spans = vec![f.var.span, f.iter.span];
                spans.extend(f.filter.iter().map(|x| x.span));
                spans.extend(f.limit.iter().map(|x| x.span));
                spans.extend(f.concurrency.iter().map(|x| x.span));
                spans.push(f.body.span);
                self.siblings(p, &spans, "for part");
                self.expr(&f.iter);
                for x in [&f.filter, &f.limit, &f.concurrency].into_iter().flatten() {
                    self.expr(x);
                }
                self.block(&f.body);
            }
            ExprKind::Approve(a) => {
                let mut spans = vec![a.prompt.span];
                spans.extend(a.group.iter().map(|x| x.span));
                spans.extend(a.within.iter().map(|x| x.span));
                spans.push(a.body.span);
                spans.extend(a.otherwise.iter().map(|x| x.span));
                self.siblings(p, &spans, "approve part");
                self.expr(&a.prompt);
                for x in [&a.group, &a.within].into_iter().flatten() {
                    self.expr(x);
                }
                self.block(&a.body);
                if let Some(b) = &a.otherwise {
                    self.block(b);
                }
            }
            ExprKind::Try { body, err, catch } => {
                self.siblings(p, &[body.span, err.span, catch.span], "try part");
                self.block(body);
                self.block(catch);
            }
            ExprKind::Paren(inner) => {
                self.inside(p, inner.span, "parenthesised");
                self.expr(inner);
            }
            ExprKind::Block(b) => {
                self.inside(p, b.span, "block");
                self.block(b);
            }
        }
    }
}

/// Parses `src`, checks the span invariants, and returns the snapshot text: the source,
/// the AST dump and the diagnostics.
pub fn parse_and_render(src: &str) -> String {
    let (file, diags) = parry_syntax::parse(FILE, src);
    check_spans(src, &file);
    for d in &diags {
        assert_eq!(d.primary.span.file, FILE);
        assert!(d.primary.span.end as usize <= src.len());
        assert!(
            !d.message.contains("_stmt") && !d.message.contains("expr_nl"),
            "rule name leaked: {}",
            d.message
        );
    }
    let mut out = String::new();
    out.push_str("--- source\n");
    out.push_str(src);
    if !src.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("--- ast\n");
    out.push_str(&dump(src, &file));
    out.push_str("--- diagnostics\n");
    let d = render_diagnostics(src, &diags);
    out.push_str(if d.is_empty() { "(none)\n" } else { &d });
    out
}

/// Every `.play` file below `dir`, recursively (nothing when `dir` is missing).
pub fn play_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            play_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "play") {
            out.push(path);
        }
    }
}
