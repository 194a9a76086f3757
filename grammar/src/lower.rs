//! Lowering from pest `Pairs` to the owned AST. Pairs never leave this crate: every item is
//! lowered right after it is parsed, with absolute byte spans (the item's offset in the
//! file is added to pest's offsets).
//!
//! The grammar guarantees the shape of the pairs, but nothing here relies on it with a
//! panic: a missing child makes a function return `None`, and the item is then dropped
//! with a diagnostic.

use std::cell::{Cell, RefCell};
use std::iter::Peekable;

use pest::iterators::{Pair, Pairs};

use crate::Rule;
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::split::doc_before;

/// Nesting deeper than this (blocks in blocks, expressions in expressions) is refused, so
/// that lowering, later passes and even dropping the AST stay within the stack.
pub(crate) const MAX_DEPTH: u32 = 128;

/// The diagnostic for a declaration with a non-ASCII character `c` at `span`, outside its
/// strings and comments (see [`crate::split::Chunk::non_ascii`]).
pub(crate) fn non_ascii(span: Span, c: char) -> Diagnostic {
    let shown = if c.is_whitespace() {
        "a non-ASCII space".to_string()
    } else if c.is_control() {
        "a control character".to_string()
    } else {
        format!("`{c}`")
    };
    let help = if c.is_whitespace() {
        "replace it with a plain space (such spaces often come with text pasted from a web page \
         or a document)"
            .to_string()
    } else if crate::is_curly_double_quote(c) || matches!(c, '\u{2018}' | '\u{2019}') {
        "write strings between plain `\"` quotes".to_string()
    } else if c.is_alphanumeric() {
        "names are made of ASCII letters, digits and `_`; text in other scripts goes in a string".to_string()
    } else {
        "outside strings and comments, Parry is written in ASCII; put this character in a string".to_string()
    };
    Diagnostic::error(
        "syntax-error",
        format!("{shown} (U+{:04X}) is not allowed outside strings and comments", u32::from(c)),
        span,
        "not an ASCII character",
    )
    .with_help(help)
}

/// The diagnostic for code nested deeper than [`MAX_DEPTH`], at `span`.
pub(crate) fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(
        "syntax-error",
        "this code is nested too deeply to be read",
        span,
        "nesting limit reached here",
    )
    .with_help(format!(
        "split the expression or the blocks into functions or `let` \
             bindings; at most {MAX_DEPTH} levels of nesting are accepted"
    ))
}

/// How an operator combines: before its operand, between two (left-associative or not),
/// or after one.
#[derive(Clone, Copy)]
enum Affix {
    Prefix,
    Infix { left: bool },
    Postfix,
}

/// The operators' binding powers, loosest first: `??` (right-associative), `or`, `and`,
/// `not`, comparisons and `in`, `+ -`, `* / %`, unary `-`, then field access, calls and
/// indexing. Anything else is an operand.
fn operator(rule: Rule) -> Option<(Affix, u32)> {
    let left = Affix::Infix { left: true };
    Some(match rule {
        Rule::op_coalesce => (Affix::Infix { left: false }, 20),
        Rule::op_or => (left, 30),
        Rule::op_and => (left, 40),
        Rule::op_not => (Affix::Prefix, 50),
        Rule::op_eq | Rule::op_ne | Rule::op_lt | Rule::op_le | Rule::op_gt | Rule::op_ge | Rule::op_in => {
            (left, 60)
        }
        Rule::op_add | Rule::op_sub => (left, 70),
        Rule::op_mul | Rule::op_div | Rule::op_rem => (left, 80),
        Rule::op_neg => (Affix::Prefix, 90),
        Rule::field_access | Rule::opt_field | Rule::index | Rule::call_args => (Affix::Postfix, 100),
        _ => return None,
    })
}

/// An operand lowered so far, with the depth of its operator tree; `None` once a part
/// failed (its diagnostic is already reported).
type Operand = Option<(Expr, u32)>;

pub(crate) struct Lowerer<'s> {
    file: FileId,
    src: &'s str,
    /// Offset of the parsed chunk in the file.
    base: usize,
    pub diags: RefCell<Vec<Diagnostic>>,
    depth: Cell<u32>,
    too_deep: Cell<bool>,
}

impl<'s> Lowerer<'s> {
    pub fn new(file: FileId, src: &'s str, base: usize) -> Self {
        Lowerer {
            file,
            src,
            base,
            diags: RefCell::new(Vec::new()),
            depth: Cell::new(0),
            too_deep: Cell::new(false),
        }
    }

    /// The span of a pair, without the spaces and comment pest leaves at the end of a rule
    /// that ends in an optional part (`x = a b?` covers the whitespace tried before `b`).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let (start, mut end) = (s.start(), s.end());
        let text = s.get_input().as_bytes();
        while end > start && text.get(end - 1) == Some(&b' ') {
            end -= 1;
        }
        Span::new(self.file, self.base + start, self.base + end)
    }

    fn push(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    /// Enters one level of nesting; `None` (with one diagnostic) when too deep.
    fn enter(&self, span: Span) -> Option<()> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            self.report_too_deep(span);
            return None;
        }
        self.depth.set(d);
        Some(())
    }

    fn report_too_deep(&self, span: Span) {
        if !self.too_deep.replace(true) {
            self.push(too_deep(span));
        }
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// An identifier as written. A keyword where a name is expected is reported here (the
    /// grammar reads it as a name only when nothing else fits).
    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        let name = pair.as_str();
        let span = self.span(pair);
        if pair.as_rule() == Rule::ident && is_keyword(name) {
            self.push(
                Diagnostic::error(
                    "syntax-error",
                    format!("`{name}` is a keyword and cannot be used as a name"),
                    span,
                    "keyword used as a name",
                )
                .with_help(format!("choose another name, e.g. `{name}_`")),
            );
        }
        Ident { name: Name::new(name), span }
    }

    // ------------------------------------------------------------------ items

    /// Lowers one `item` pair.
    pub fn item(&self, pair: Pair<'_, Rule>) -> Option<Item> {
        let mut attrs = Vec::new();
        let mut first_start: Option<usize> = None;
        let mut decl = None;
        for p in pair.into_inner() {
            let start = self.base + p.as_span().start();
            first_start.get_or_insert(start);
            match p.as_rule() {
                Rule::attribute => attrs.push(self.attribute(p)?),
                _ => decl = Some(p),
            }
        }
        let decl = decl?;
        let span = self.span(&decl);
        let doc = doc_before(self.src, first_start.unwrap_or(span.start as usize));
        let kind = match decl.as_rule() {
            Rule::playbook => ItemKind::Playbook(self.playbook(decl)?),
            Rule::connector => ItemKind::Connector(self.connector(decl)?),
            Rule::type_decl => ItemKind::Type(self.type_decl(decl)?),
            Rule::enum_decl => ItemKind::Enum(self.enum_decl(decl)?),
            Rule::fn_decl => ItemKind::Fn(self.fn_decl(decl)?),
            Rule::const_decl => ItemKind::Const(self.const_decl(decl)?),
            Rule::test_decl => ItemKind::Test(self.test_decl(decl)?),
            _ => return None,
        };
        Some(Item { doc, attrs, kind, span })
    }

    fn attribute(&self, pair: Pair<'_, Rule>) -> Option<Attribute> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(&inner.next()?);
        let args = match inner.next() {
            Some(p) => self.call_args(p)?,
            None => Vec::new(),
        };
        Some(Attribute { name, args, span })
    }

    fn playbook(&self, pair: Pair<'_, Rule>) -> Option<Playbook> {
        let mut name = None;
        let mut params = Vec::new();
        let mut when = None;
        let mut saves = None;
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                Rule::param_list => params = self.param_list(p)?,
                Rule::when_clause => when = Some(self.expr(last_child(p)?)?),
                Rule::saves_clause => saves = Some(self.expr(last_child(p)?)?),
                Rule::block => body = Some(self.block(p)?),
                _ => {}
            }
        }
        Some(Playbook { name: name?, params, when, saves, body: body? })
    }

    /// The children of a `param_list` are, for each parameter, its name, its type and its
    /// default value if it has one (`param` is a silent rule).
    fn param_list(&self, pair: Pair<'_, Rule>) -> Option<Vec<Param>> {
        let mut params: Vec<Param> = Vec::new();
        let mut inner = pair.into_inner();
        while let Some(name_pair) = inner.next() {
            let name = self.ident(&name_pair);
            let ty_pair = inner.next()?;
            let mut end = self.span(&ty_pair).end;
            let ty = self.type_expr(ty_pair)?;
            let mut default = None;
            if inner.peek().is_some_and(|p| p.as_rule() != Rule::ident) {
                let value_pair = inner.next()?;
                end = self.span(&value_pair).end;
                default = Some(self.expr(value_pair)?);
            }
            let span = Span { end, ..name.span };
            params.push(Param { name, ty, default, span });
        }
        Some(params)
    }

    fn connector(&self, pair: Pair<'_, Rule>) -> Option<Connector> {
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::k_connector);
        let name = self.ident(&inner.next()?);
        let body = inner.next()?;
        let mut members = Vec::new();
        for m in body.into_inner() {
            let span = self.span(&m);
            let doc = doc_before(self.src, span.start as usize);
            match m.as_rule() {
                Rule::member_type => {
                    members.push(ConnectorMember::Type { doc, decl: self.type_decl(m)?, span })
                }
                Rule::action => members.push(ConnectorMember::Action(self.action(m, doc)?)),
                _ => {}
            }
        }
        Some(Connector { name, members })
    }

    fn action(&self, pair: Pair<'_, Rule>, doc: Option<String>) -> Option<ActionDecl> {
        let span = self.span(&pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        let mut effect = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                Rule::param_list => params = self.param_list(p)?,
                Rule::type_expr => ret = Some(self.type_expr(p)?),
                Rule::effect => effect = Some(self.effect(p)?),
                _ => {}
            }
        }
        Some(ActionDecl { doc, name: name?, params, ret, effect: effect?, span })
    }

    fn effect(&self, pair: Pair<'_, Rule>) -> Option<Effect> {
        let span = self.span(&pair);
        let kind_pair = last_child(pair)?;
        let kind = match kind_pair.as_rule() {
            Rule::k_read => EffectKind::Read,
            Rule::k_write => EffectKind::Write,
            Rule::k_destructive => EffectKind::Destructive,
            Rule::reversible => {
                let undo =
                    kind_pair.into_inner().find(|p| p.as_rule() == Rule::ident).map(|p| self.ident(&p));
                EffectKind::Reversible { undo }
            }
            _ => return None,
        };
        Some(Effect { kind, span })
    }

    fn type_decl(&self, pair: Pair<'_, Rule>) -> Option<TypeDecl> {
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::k_type);
        let name = self.ident(&inner.next()?);
        let ty = self.type_expr(inner.next()?)?;
        Some(TypeDecl { name, ty })
    }

    fn enum_decl(&self, pair: Pair<'_, Rule>) -> Option<EnumDecl> {
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::k_enum);
        let name = self.ident(&inner.next()?);
        let variants = inner.next()?.into_inner().map(|p| self.ident(&p)).collect();
        Some(EnumDecl { name, variants })
    }

    fn fn_decl(&self, pair: Pair<'_, Rule>) -> Option<FnDecl> {
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                Rule::param_list => params = self.param_list(p)?,
                Rule::type_expr => ret = Some(self.type_expr(p)?),
                Rule::block => body = Some(self.block(p)?),
                _ => {}
            }
        }
        Some(FnDecl { name: name?, params, ret, body: body? })
    }

    fn const_decl(&self, pair: Pair<'_, Rule>) -> Option<ConstDecl> {
        let mut name = None;
        let mut ty = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(&p)),
                Rule::type_expr => ty = Some(self.type_expr(p)?),
                Rule::expr => value = Some(self.expr(p)?),
                _ => {}
            }
        }
        Some(ConstDecl { name: name?, ty, value: value? })
    }

    fn test_decl(&self, pair: Pair<'_, Rule>) -> Option<TestDecl> {
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::k_test);
        let name_pair = inner.next()?;
        let name_span = self.span(&name_pair);
        let name = self.plain_string(name_pair, "a test name")?;
        let body = self.block(inner.next()?)?;
        Some(TestDecl { name, name_span, body })
    }

    /// A string that must not contain interpolation (test names, record keys).
    fn plain_string(&self, pair: Pair<'_, Rule>, what: &str) -> Option<String> {
        let span = self.span(&pair);
        match self.string_like(pair)? {
            ExprKind::RawStr(s) => Some(s),
            ExprKind::Str(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        StrPart::Lit(s) => out.push_str(&s),
                        StrPart::Expr(e) => {
                            self.push(
                                Diagnostic::error(
                                    "syntax-error",
                                    format!("{what} cannot contain an interpolation"),
                                    e.span,
                                    "interpolation not allowed here",
                                )
                                .with_help("write `\\{` for a literal brace"),
                            );
                            out.push_str(self.src.get(e.span.range()).unwrap_or_default());
                        }
                    }
                }
                let _ = span;
                Some(out)
            }
            _ => None,
        }
    }

    // ------------------------------------------------------------------ types

    fn type_expr(&self, pair: Pair<'_, Rule>) -> Option<TypeExpr> {
        let outer = self.span(&pair);
        self.enter(outer)?;
        let result = self.type_expr_inner(pair);
        self.leave();
        result
    }

    fn type_expr_inner(&self, pair: Pair<'_, Rule>) -> Option<TypeExpr> {
        let mut inner = pair.into_inner();
        let atom = inner.next()?;
        let span = self.span(&atom);
        let kind = match atom.as_rule() {
            // `named_type` is silent: a named type is its `ident`.
            Rule::ident => TypeExprKind::Named(self.ident(&atom)),
            Rule::qualified_type => {
                let mut parts = atom.into_inner();
                let a = self.ident(&parts.next()?);
                let b = self.ident(&parts.next()?);
                TypeExprKind::Qualified(a, b)
            }
            Rule::list_type => {
                let elem = atom.into_inner().find(|p| p.as_rule() == Rule::type_expr)?;
                TypeExprKind::List(Box::new(self.type_expr(elem)?))
            }
            Rule::record_type => {
                // Each field is its name and its type (`field_type` is silent).
                let mut fields = Vec::new();
                let mut parts = atom.into_inner();
                while let Some(name_pair) = parts.next() {
                    let name = self.ident(&name_pair);
                    let ty_pair = parts.next()?;
                    let fspan = Span { end: self.span(&ty_pair).end, ..name.span };
                    let doc = doc_before(self.src, fspan.start as usize);
                    let ty = self.type_expr(ty_pair)?;
                    fields.push(FieldType { doc, name, ty, span: fspan });
                }
                TypeExprKind::Record(fields)
            }
            _ => return None,
        };
        let mut ty = TypeExpr { kind, span };
        // `T??...`: each `?` wraps the type once more, which is nesting too.
        let mut d = 0u32;
        for q in inner {
            let span = ty.span.to(self.span(&q));
            d = self.deeper(d, span)?;
            ty = TypeExpr { kind: TypeExprKind::Optional(Box::new(ty)), span };
        }
        Some(ty)
    }

    // ------------------------------------------------------------------ statements

    fn block(&self, pair: Pair<'_, Rule>) -> Option<Block> {
        let span = self.span(&pair);
        self.enter(span)?;
        let stmts = self.stmts(pair.into_inner());
        self.leave();
        Some(Block { stmts: stmts?, span })
    }

    /// Statements (`stmt` is a silent rule): each statement's attributes, then the
    /// statement itself.
    fn stmts(&self, pairs: Pairs<'_, Rule>) -> Option<Vec<Stmt>> {
        let mut stmts = Vec::new();
        let mut attrs = Vec::new();
        for p in pairs {
            match p.as_rule() {
                Rule::attribute => attrs.push(self.attribute(p)?),
                _ => stmts.push(self.stmt(std::mem::take(&mut attrs), p)?),
            }
        }
        Some(stmts)
    }

    /// One statement, from the pair of its kind (`let_stmt`, ..., or an `expr`).
    fn stmt(&self, attrs: Vec<Attribute>, p: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let kind = match rule {
            Rule::let_stmt => {
                let mut name = None;
                let mut ty = None;
                let mut value = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(&c)),
                        Rule::type_expr => ty = Some(self.type_expr(c)?),
                        Rule::expr => value = Some(self.expr(c)?),
                        _ => {}
                    }
                }
                StmtKind::Let { name: name?, ty, value: value? }
            }
            Rule::note_stmt => StmtKind::Note(self.expr(last_child(p)?)?),
            Rule::recommend_stmt => StmtKind::Recommend(self.expr(last_child(p)?)?),
            Rule::resolve_stmt => StmtKind::Resolve(self.expr(last_child(p)?)?),
            Rule::escalate_stmt => StmtKind::Escalate(self.expr(last_child(p)?)?),
            Rule::fail_stmt => StmtKind::Fail(self.expr(last_child(p)?)?),
            Rule::expect_stmt => StmtKind::Expect(self.expr(last_child(p)?)?),
            Rule::expr => StmtKind::Expr(self.expr(p)?),
            Rule::evidence_stmt => {
                let mut exprs = p.into_inner().filter(|c| c.as_rule() == Rule::expr);
                let label = self.expr(exprs.next()?)?;
                let value = self.expr(exprs.next()?)?;
                StmtKind::Evidence { label, value }
            }
            Rule::approvals_stmt => {
                let d = last_child(p)?;
                let decision = match d.as_rule() {
                    Rule::k_granted => ApprovalDecision::Granted,
                    Rule::k_denied => ApprovalDecision::Denied,
                    Rule::k_expired => ApprovalDecision::Expired,
                    _ => return None,
                };
                StmtKind::Approvals { decision, span: self.span(&d) }
            }
            Rule::mock_stmt => StmtKind::Mock(self.mock(p)?),
            _ => return None,
        };
        Some(Stmt { attrs, kind, span })
    }

    fn mock(&self, pair: Pair<'_, Rule>) -> Option<Mock> {
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::k_mock);
        let connector = self.ident(&inner.next()?);
        let action = self.ident(&inner.next()?);
        let mut patterns = Vec::new();
        for p in inner.next()?.into_inner() {
            patterns.push(match p.as_rule() {
                Rule::mock_any => MockPattern::Any(self.span(&p)),
                Rule::mock_rest => MockPattern::Rest(self.span(&p)),
                _ => MockPattern::Value(self.expr(p)?),
            });
        }
        let result = match inner.next() {
            None => None,
            Some(p) if p.as_rule() == Rule::mock_fail => Some(MockResult::Fail(self.expr(last_child(p)?)?)),
            Some(p) => Some(MockResult::Value(self.expr(p)?)),
        };
        Some(Mock { connector, action, patterns, result })
    }

    // ------------------------------------------------------------------ expressions

    /// Lowers an `expr` or `expr_nl` pair.
    pub fn expr(&self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let span = self.span(&pair);
        self.enter(span)?;
        let result = self.expr_inner(pair, span);
        self.leave();
        result
    }

    fn expr_inner(&self, pair: Pair<'_, Rule>, span: Span) -> Option<Expr> {
        let pairs = pair.into_inner();
        // Combining operators recurses once per prefix operator and per `??`: bound both. Most
        // expressions are one operand with postfix operators (or none, `simple`): those are
        // combined here directly.
        let mut run = 0u32;
        let mut coalesce = 0u32;
        let mut simple = true;
        for (i, p) in pairs.clone().enumerate() {
            let rule = p.as_rule();
            match rule {
                Rule::op_not | Rule::op_neg => run += 1,
                Rule::op_coalesce => coalesce += 1,
                _ => run = 0,
            }
            simple &= if i == 0 { run == 0 } else { is_postfix(rule) };
            if run + self.depth.get() > MAX_DEPTH || coalesce + self.depth.get() > MAX_DEPTH {
                self.report_too_deep(span);
                return None;
            }
        }
        if simple {
            let mut pairs = pairs;
            let mut lhs = self.primary(pairs.next()?)?;
            let mut d = 0u32;
            for op in pairs {
                let (expr, depth) = self.postfix(lhs, d, op)?;
                lhs = expr;
                d = depth;
            }
            return Some(lhs);
        }
        self.operators(pairs)
    }

    /// The tree depth of an operator result: one more than its deepest operand, refused
    /// (with one diagnostic) where it would pass the nesting limit.
    fn deeper(&self, d: u32, span: Span) -> Option<u32> {
        let d = d + 1;
        if self.depth.get() + d > MAX_DEPTH {
            self.report_too_deep(span);
            return None;
        }
        Some(d)
    }

    /// Applies a postfix operator (field access, call, index) to `lhs`, whose operator tree
    /// is `d` deep.
    fn postfix(&self, lhs: Expr, d: u32, op: Pair<'_, Rule>) -> Option<(Expr, u32)> {
        let span = lhs.span.to(self.span(&op));
        let d = self.deeper(d, span)?;
        let kind = match op.as_rule() {
            Rule::field_access | Rule::opt_field => {
                let optional = op.as_rule() == Rule::opt_field;
                let field = self.field_name(&op, if optional { 2 } else { 1 })?;
                ExprKind::Field { target: Box::new(lhs), field, optional }
            }
            Rule::index => {
                let index = self.expr(op.into_inner().next()?)?;
                ExprKind::Index { target: Box::new(lhs), index: Box::new(index) }
            }
            Rule::call_args => {
                let args = self.call_args(op)?;
                ExprKind::Call { callee: Box::new(lhs), args }
            }
            _ => return None,
        };
        Some((Expr { kind, span }, d))
    }

    /// The field name of a `.f` or `?.f` pair: its text after the `prefix` bytes and any
    /// spaces or line breaks (the name has no pair of its own).
    fn field_name(&self, op: &Pair<'_, Rule>, prefix: usize) -> Option<Ident> {
        let text = op.as_str();
        let rest = text.get(prefix..)?;
        let name = rest.trim_start_matches([' ', '\n']);
        let start = self.base + op.as_span().start() + (text.len() - name.len());
        Some(Ident { name: Name::new(name), span: Span::new(self.file, start, start + name.len()) })
    }

    /// Combines the operators of one expression by precedence climbing. Each result carries
    /// the depth of the operator tree built so far, which counts towards the nesting limit
    /// like brackets do (`a + b + ... + z` is a tree as deep as it is long). Every operand is
    /// lowered even after another failed, so that each reports its own problems.
    fn operators(&self, pairs: Pairs<'_, Rule>) -> Option<Expr> {
        self.climb(&mut pairs.peekable(), 0).map(|(e, _)| e)
    }

    /// An operand and the operators that bind tighter than `min`.
    fn climb<'i>(&self, pairs: &mut Peekable<Pairs<'i, Rule>>, min: u32) -> Operand {
        let first = pairs.next()?;
        let mut lhs = match operator(first.as_rule()) {
            Some((Affix::Prefix, power)) => {
                let operand = self.climb(pairs, power - 1);
                self.unary(first, operand)
            }
            Some(_) => return None,
            None => Some((self.primary(first)?, 0)),
        };
        while let Some((affix, power)) = pairs.peek().and_then(|p| operator(p.as_rule())) {
            if power <= min {
                break;
            }
            let op = pairs.next()?;
            lhs = match affix {
                Affix::Infix { left } => {
                    let rhs = self.climb(pairs, if left { power } else { power - 1 });
                    self.binary(lhs, op, rhs)
                }
                Affix::Postfix => {
                    let (lhs, d) = lhs?;
                    self.postfix(lhs, d, op)
                }
                Affix::Prefix => return None,
            };
        }
        lhs
    }

    fn unary(&self, op: Pair<'_, Rule>, operand: Operand) -> Operand {
        let (rhs, d) = operand?;
        let span = self.span(&op).to(rhs.span);
        let d = self.deeper(d, span)?;
        let op = if op.as_rule() == Rule::op_not { UnaryOp::Not } else { UnaryOp::Neg };
        Some((Expr { span, kind: ExprKind::Unary { op, operand: Box::new(rhs) } }, d))
    }

    fn binary(&self, lhs: Operand, op: Pair<'_, Rule>, rhs: Operand) -> Operand {
        let ((lhs, dl), (rhs, dr)) = (lhs?, rhs?);
        let span = lhs.span.to(rhs.span);
        let d = self.deeper(dl.max(dr), span)?;
        let op = match op.as_rule() {
            Rule::op_coalesce => BinaryOp::Coalesce,
            Rule::op_or => BinaryOp::Or,
            Rule::op_and => BinaryOp::And,
            Rule::op_eq => BinaryOp::Eq,
            Rule::op_ne => BinaryOp::Ne,
            Rule::op_lt => BinaryOp::Lt,
            Rule::op_le => BinaryOp::Le,
            Rule::op_gt => BinaryOp::Gt,
            Rule::op_ge => BinaryOp::Ge,
            Rule::op_in => BinaryOp::In,
            Rule::op_add => BinaryOp::Add,
            Rule::op_sub => BinaryOp::Sub,
            Rule::op_mul => BinaryOp::Mul,
            Rule::op_div => BinaryOp::Div,
            Rule::op_rem => BinaryOp::Rem,
            _ => return None,
        };
        let kind = ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        Some((Expr { span, kind }, d))
    }

    fn call_args(&self, pair: Pair<'_, Rule>) -> Option<Vec<Arg>> {
        let mut args = Vec::new();
        let mut named_seen: Option<Span> = None;
        // `arg` is silent: an argument is an optional `arg_name`, then its value.
        let mut inner = pair.into_inner();
        while let Some(first) = inner.next() {
            let (name, value_pair) = if first.as_rule() == Rule::arg_name {
                (Some(self.ident(&first)), inner.next()?)
            } else {
                (None, first)
            };
            let end = self.span(&value_pair).end;
            let span = match &name {
                Some(n) => Span { end, ..n.span },
                None => Span { end, ..self.span(&value_pair) },
            };
            let value = Some(self.expr(value_pair)?);
            match (&name, named_seen) {
                (Some(n), None) => named_seen = Some(n.span),
                (None, Some(first_named)) => self.push(
                    Diagnostic::error(
                        "syntax-error",
                        "a positional argument cannot follow a named argument",
                        span,
                        "positional argument after a named one",
                    )
                    .with_secondary(first_named, "first named argument")
                    .with_help("put positional arguments first, then `name: value` arguments"),
                ),
                _ => {}
            }
            args.push(Arg { name, value: value?, span });
        }
        Some(args)
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            // `name` is atomic: its text is the name (never a keyword).
            Rule::name => ExprKind::Name(self.ident(&pair)),
            Rule::k_true => ExprKind::Bool(true),
            Rule::k_false => ExprKind::Bool(false),
            Rule::k_none => ExprKind::None,
            Rule::int => self.int(&pair, span),
            Rule::float => self.float(&pair, span),
            Rule::duration => self.duration(&pair, span),
            Rule::string | Rule::raw_string => self.string_like(pair)?,
            Rule::paren => ExprKind::Paren(Box::new(self.expr(pair.into_inner().next()?)?)),
            Rule::list => {
                let items: Option<Vec<Expr>> = pair.into_inner().map(|p| self.expr(p)).collect();
                ExprKind::List(items?)
            }
            Rule::record => {
                let mut fields = Vec::new();
                // `record_field` is silent: each field is its key, then its value.
                let mut parts = pair.into_inner();
                while let Some(key_pair) = parts.next() {
                    let key_span = self.span(&key_pair);
                    let key = if key_pair.as_rule() == Rule::word {
                        key_pair.as_str().to_string()
                    } else {
                        self.plain_string(key_pair, "a record key")?
                    };
                    let value = self.expr(parts.next()?)?;
                    fields.push(RecordField { key, key_span, value });
                }
                ExprKind::Record(fields)
            }
            Rule::block => ExprKind::Block(self.block(pair)?),
            Rule::if_expr => self.if_expr(pair)?,
            Rule::match_expr => self.match_expr(pair)?,
            Rule::for_expr => self.for_expr(pair)?,
            Rule::approve_expr => self.approve_expr(pair)?,
            Rule::try_expr => {
                let mut body = None;
                let mut err = None;
                let mut catch = None;
                for c in pair.into_inner() {
                    match c.as_rule() {
                        Rule::block if body.is_none() => body = Some(self.block(c)?),
                        Rule::block => catch = Some(self.block(c)?),
                        Rule::ident => err = Some(self.ident(&c)),
                        _ => {}
                    }
                }
                ExprKind::Try { body: body?, err: err?, catch: catch? }
            }
            _ => return None,
        };
        Some(Expr { kind, span })
    }

    fn int(&self, pair: &Pair<'_, Rule>, span: Span) -> ExprKind {
        match pair.as_str().parse::<i64>() {
            Ok(n) => ExprKind::Int(n),
            Err(_) => {
                self.push(
                    Diagnostic::error(
                        "invalid-literal",
                        format!("the integer `{}` is too large", pair.as_str()),
                        span,
                        "does not fit in a 64-bit integer",
                    )
                    .with_help(format!("integers range up to {}", i64::MAX)),
                );
                ExprKind::Int(i64::MAX)
            }
        }
    }

    fn float(&self, pair: &Pair<'_, Rule>, span: Span) -> ExprKind {
        match pair.as_str().parse::<f64>() {
            Ok(f) if f.is_finite() => ExprKind::Float(f),
            _ => {
                self.push(Diagnostic::error(
                    "invalid-literal",
                    format!("the number `{}` is too large", pair.as_str()),
                    span,
                    "not a finite number",
                ));
                ExprKind::Float(0.0)
            }
        }
    }

    fn duration(&self, pair: &Pair<'_, Rule>, span: Span) -> ExprKind {
        let text = pair.as_str();
        let digits_end = text.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, unit) = text.split_at(digits_end);
        let factor: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 86_400_000,
        };
        match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)) {
            Some(ms) => ExprKind::Duration(ms),
            None => {
                self.push(Diagnostic::error(
                    "invalid-literal",
                    format!("the duration `{text}` is too long"),
                    span,
                    "does not fit in 64 bits of milliseconds",
                ));
                ExprKind::Duration(u64::MAX)
            }
        }
    }

    /// Lowers a `string` or `raw_string` pair.
    fn string_like(&self, pair: Pair<'_, Rule>) -> Option<ExprKind> {
        if pair.as_rule() == Rule::raw_string {
            let text = pair.into_inner().next().map(|p| p.as_str()).unwrap_or_default();
            return Some(ExprKind::RawStr(text.to_string()));
        }
        let mut parts: Vec<StrPart> = Vec::new();
        let mut lit = LitText::default();
        // Literal text has no pairs (`str_text` is silent): it is what lies between the
        // quotes, escapes and interpolations.
        let text = pair.as_str();
        let origin = pair.as_span().start();
        let mut at = 1;
        for p in pair.into_inner() {
            let span = p.as_span();
            lit.push_str(text.get(at..span.start() - origin).unwrap_or_default());
            at = span.end() - origin;
            match p.as_rule() {
                Rule::str_escape => {
                    let text = p.as_str();
                    let decoded = match text.get(1..) {
                        Some("\"") => '"',
                        Some("\\") => '\\',
                        Some("n") => '\n',
                        Some("t") => '\t',
                        Some("r") => '\r',
                        Some("{") => '{',
                        Some("}") => '}',
                        Some("0") => '\0',
                        _ => {
                            let shown = if text.len() > 1 { text } else { "\\" };
                            self.push(
                                Diagnostic::error(
                                    "syntax-error",
                                    format!("unknown escape `{shown}` in a string"),
                                    self.span(&p),
                                    "unknown escape",
                                )
                                .with_help(
                                    "the escapes are \\\" \\\\ \\n \\t \\r \\{ \\}; write \\\\ \
                                     for a backslash, or use a raw string r\"...\"",
                                ),
                            );
                            lit.push_str(text.get(1..).unwrap_or_default());
                            continue;
                        }
                    };
                    lit.push(decoded);
                }
                Rule::str_interp => {
                    if !lit.is_empty() {
                        parts.push(StrPart::Lit(std::mem::take(&mut lit).into_name()));
                    }
                    let e = p.into_inner().next()?;
                    parts.push(StrPart::Expr(self.expr(e)?));
                }
                _ => {}
            }
        }
        lit.push_str(text.get(at..text.len().saturating_sub(1)).unwrap_or_default());
        if !lit.is_empty() || parts.is_empty() {
            parts.push(StrPart::Lit(lit.into_name()));
        }
        Some(ExprKind::Str(parts))
    }

    fn if_expr(&self, pair: Pair<'_, Rule>) -> Option<ExprKind> {
        let mut cond = None;
        let mut then = None;
        let mut otherwise = None;
        for c in pair.into_inner() {
            match c.as_rule() {
                Rule::expr => cond = Some(self.expr(c)?),
                Rule::block if then.is_none() => then = Some(self.block(c)?),
                Rule::block => otherwise = Some(Else::Block(self.block(c)?)),
                Rule::if_expr => {
                    let span = self.span(&c);
                    self.enter(span)?;
                    let nested = self.if_expr(c);
                    self.leave();
                    otherwise = Some(Else::If(Box::new(Expr { kind: nested?, span })));
                }
                _ => {}
            }
        }
        Some(ExprKind::If { cond: Box::new(cond?), then: then?, otherwise })
    }

    fn match_expr(&self, pair: Pair<'_, Rule>) -> Option<ExprKind> {
        let mut scrutinee = None;
        let mut arms = Vec::new();
        for c in pair.into_inner() {
            match c.as_rule() {
                Rule::expr => scrutinee = Some(self.expr(c)?),
                Rule::match_body => {
                    for arm in c.into_inner() {
                        arms.push(self.match_arm(arm)?);
                    }
                }
                _ => {}
            }
        }
        Some(ExprKind::Match { scrutinee: Box::new(scrutinee?), arms })
    }

    fn match_arm(&self, pair: Pair<'_, Rule>) -> Option<MatchArm> {
        let span = self.span(&pair);
        let mut patterns = Vec::new();
        let mut body = None;
        // The attributes of a one-statement body (`stmt` is silent).
        let mut attrs = Vec::new();
        for c in pair.into_inner() {
            let cspan = self.span(&c);
            match c.as_rule() {
                Rule::pat_wild => patterns.push(Pattern::Wildcard(cspan)),
                Rule::pat_name => patterns.push(Pattern::Name(self.ident(&c.into_inner().next()?))),
                Rule::pat_qualified => {
                    let mut parts = c.into_inner();
                    let a = self.ident(&parts.next()?);
                    let b = self.ident(&parts.next()?);
                    patterns.push(Pattern::Qualified(a, b));
                }
                Rule::pat_literal => patterns.push(Pattern::Literal(self.pat_literal(c)?)),
                Rule::block => body = Some(self.block(c)?),
                Rule::attribute => attrs.push(self.attribute(c)?),
                _ => {
                    let stmt = self.stmt(std::mem::take(&mut attrs), c)?;
                    body = Some(Block { span: stmt.span, stmts: vec![stmt] });
                }
            }
        }
        Some(MatchArm { patterns, body: body?, span })
    }

    fn pat_literal(&self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let span = self.span(&pair);
        let mut negative = false;
        let mut lit = None;
        for c in pair.into_inner() {
            if c.as_rule() == Rule::pat_neg {
                negative = true;
            } else {
                lit = Some(self.primary(c)?);
            }
        }
        let lit = lit?;
        if !negative {
            return Some(lit);
        }
        let kind = match lit.kind {
            ExprKind::Int(n) => ExprKind::Int(n.checked_neg().unwrap_or(i64::MIN)),
            ExprKind::Float(f) => ExprKind::Float(-f),
            other => {
                ExprKind::Unary { op: UnaryOp::Neg, operand: Box::new(Expr { kind: other, span: lit.span }) }
            }
        };
        Some(Expr { kind, span })
    }

    fn for_expr(&self, pair: Pair<'_, Rule>) -> Option<ExprKind> {
        let mut var = None;
        let mut iter = None;
        let mut filter = None;
        let mut limit = None;
        let mut concurrency = None;
        let mut body = None;
        for c in pair.into_inner() {
            match c.as_rule() {
                Rule::ident => var = Some(self.ident(&c)),
                Rule::expr => iter = Some(self.expr(c)?),
                Rule::for_where => filter = Some(self.expr(last_child(c)?)?),
                Rule::for_limit => limit = Some(self.expr(last_child(c)?)?),
                Rule::for_concurrency => concurrency = Some(self.expr(last_child(c)?)?),
                Rule::block => body = Some(self.block(c)?),
                _ => {}
            }
        }
        Some(ExprKind::For(Box::new(ForLoop {
            var: var?,
            iter: iter?,
            filter,
            limit,
            concurrency,
            body: body?,
        })))
    }

    fn approve_expr(&self, pair: Pair<'_, Rule>) -> Option<ExprKind> {
        let mut prompt = None;
        let mut group = None;
        let mut within = None;
        let mut body = None;
        let mut otherwise = None;
        for c in pair.into_inner() {
            match c.as_rule() {
                Rule::expr => prompt = Some(self.expr(c)?),
                Rule::approve_by => group = Some(self.expr(last_child(c)?)?),
                Rule::approve_within => within = Some(self.expr(last_child(c)?)?),
                Rule::block if body.is_none() => body = Some(self.block(c)?),
                Rule::block => otherwise = Some(self.block(c)?),
                _ => {}
            }
        }
        Some(ExprKind::Approve(Box::new(Approve { prompt: prompt?, group, within, body: body?, otherwise })))
    }
}

/// The length of `text` without trailing spaces (comments were blanked to spaces before
/// parsing, so this also drops a trailing comment).
/// The literal text of a string between two interpolations. Most is one piece of the
/// source, kept as a slice; it is copied only when an escape is decoded into it.
#[derive(Default)]
struct LitText<'a> {
    slice: &'a str,
    owned: Option<String>,
}

impl<'a> LitText<'a> {
    fn push_str(&mut self, text: &'a str) {
        if text.is_empty() {
            return;
        }
        match &mut self.owned {
            Some(owned) => owned.push_str(text),
            None if self.slice.is_empty() => self.slice = text,
            None => self.owned = Some([self.slice, text].concat()),
        }
    }

    fn push(&mut self, c: char) {
        let slice = self.slice;
        self.owned.get_or_insert_with(|| slice.to_string()).push(c);
    }

    fn is_empty(&self) -> bool {
        self.owned.as_ref().map_or(self.slice.is_empty(), String::is_empty)
    }

    fn into_name(self) -> Name {
        match self.owned {
            Some(owned) => Name::from(owned),
            None => Name::new(self.slice),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "playbook"
            | "connector"
            | "type"
            | "enum"
            | "fn"
            | "const"
            | "test"
            | "action"
            | "let"
            | "if"
            | "else"
            | "match"
            | "for"
            | "in"
            | "approve"
            | "try"
            | "catch"
            | "note"
            | "evidence"
            | "recommend"
            | "resolve"
            | "escalate"
            | "fail"
            | "mock"
            | "approvals"
            | "expect"
            | "and"
            | "or"
            | "not"
            | "true"
            | "false"
            | "none"
    )
}

fn is_postfix(rule: Rule) -> bool {
    matches!(rule, Rule::field_access | Rule::opt_field | Rule::index | Rule::call_args)
}

fn last_child<'i>(pair: Pair<'i, Rule>) -> Option<Pair<'i, Rule>> {
    pair.into_inner().last()
}
