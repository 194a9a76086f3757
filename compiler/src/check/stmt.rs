//! Lowering of blocks and statements.

use super::Checker;
use super::expr::Want;
use crate::Diagnostic;
use crate::ir::*;
use parry_syntax::ast::{self, Span};

impl Checker<'_> {
    /// Lowers a block in a new scope. Its value is its last expression statement's.
    pub(crate) fn block(&mut self, b: &ast::Block, want: &Want) -> Block {
        self.body.scopes.push(Vec::new());
        let mut stmts = Vec::new();
        let mut diverged: Option<Span> = None;
        let mut reported_unreachable = false;
        let last = b.stmts.len().saturating_sub(1);
        let mut value_ty = Type::Unit;
        for (i, s) in b.stmts.iter().enumerate() {
            if let Some(end) = diverged
                && !reported_unreachable
            {
                reported_unreachable = true;
                self.diags.push(
                    Diagnostic::warning(
                        "unreachable-code",
                        "this statement can never run",
                        s.span,
                        "unreachable",
                    )
                    .with_secondary(end, "the run ends here")
                    .with_help("remove the statement, or move it before the statement that ends the run"),
                );
            }
            let stmt_want = if i == last { want.clone() } else { Want::Discard };
            self.body.path.push(i.to_string());
            self.body.counters.push(0);
            let stmt = self.stmt(s, &stmt_want);
            self.body.counters.pop();
            self.body.path.pop();
            let ends = match &stmt.kind {
                StmtKind::Resolve { .. } | StmtKind::Escalate { .. } | StmtKind::Fail { .. } => true,
                StmtKind::Expr { expr } => expr.ty == Type::Never,
                StmtKind::Let { value, .. } => value.ty == Type::Never,
                _ => false,
            };
            if i == last {
                value_ty = match &stmt.kind {
                    StmtKind::Expr { expr } => expr.ty.clone(),
                    _ => Type::Unit,
                };
                if let Want::Expect(t) = want
                    && !matches!(stmt.kind, StmtKind::Expr { .. })
                    && !ends
                    && !self.fits(&Type::Unit, t)
                {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("expected a value of type `{t}`, but this block ends with a statement"),
                            stmt.span,
                            "this statement has no value",
                        )
                        .with_help(format!("end the block with an expression of type `{t}`")),
                    );
                }
            }
            if ends && diverged.is_none() {
                diverged = Some(stmt.span);
            }
            stmts.push(stmt);
        }
        if b.stmts.is_empty()
            && let Want::Expect(t) = want
            && !self.fits(&Type::Unit, t)
        {
            self.diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("expected a value of type `{t}`, but this block is empty"),
                    b.span,
                    "empty block",
                )
                .with_help(format!("end the block with an expression of type `{t}`")),
            );
        }
        self.body.scopes.pop();
        let ty = if diverged.is_some() { Type::Never } else { value_ty };
        Block { stmts, ty, span: b.span }
    }

    fn stmt(&mut self, s: &ast::Stmt, want: &Want) -> Stmt {
        self.attributes(&s.attrs, s.span);
        let span = s.span;
        let kind = match &s.kind {
            ast::StmtKind::Let { name, ty, value } => {
                let (x, ty) = match ty {
                    Some(t) => {
                        let ty = self.resolve_type_expr(t);
                        (self.expr(value, &Want::Expect(ty.clone())), ty)
                    }
                    None => {
                        let x = self.expr(value, &Want::Infer);
                        let ty = x.ty.clone();
                        (x, ty)
                    }
                };
                let slot = self.bind(&name.name, ty.clone(), name.span, x.span, true, RefKind::Local);
                self.add_ref(name.span, name.span, RefKind::Local, format!("let {}: {ty}", name.name), None);
                StmtKind::Let { name: name.name.to_string(), slot, name_span: name.span, value: x }
            }
            ast::StmtKind::Expr(e) => StmtKind::Expr { expr: self.expr(e, want) },
            ast::StmtKind::Note(e) => {
                let x = self.expr(e, &Want::Infer);
                self.sink(&x, "a note");
                StmtKind::Note { value: x }
            }
            ast::StmtKind::Evidence { label, value } => {
                let l = self.expr(label, &Want::Expect(Type::String));
                let x = self.expr(value, &Want::Infer);
                self.sink(&x, "evidence");
                StmtKind::Evidence { label: l, value: x }
            }
            ast::StmtKind::Recommend(e) => {
                let x = self.expr(e, &Want::Infer);
                self.sink(&x, "a recommendation");
                StmtKind::Recommend { value: x }
            }
            ast::StmtKind::Resolve(e) => {
                let x = self.expr(e, &Want::Infer);
                self.sink(&x, "a `resolve` text");
                StmtKind::Resolve { value: x }
            }
            ast::StmtKind::Escalate(e) => {
                let x = self.expr(e, &Want::Infer);
                self.sink(&x, "an `escalate` text");
                StmtKind::Escalate { value: x }
            }
            ast::StmtKind::Fail(e) => {
                let x = self.expr(e, &Want::Infer);
                self.sink(&x, "a `fail` message");
                StmtKind::Fail { value: x }
            }
            ast::StmtKind::Mock(m) => {
                self.test_only(span, "mock");
                match self.mock(m, span) {
                    Some(m) => StmtKind::Mock(m),
                    None => StmtKind::Expr { expr: Expr::error(span) },
                }
            }
            ast::StmtKind::Approvals { decision, .. } => {
                self.test_only(span, "approvals");
                StmtKind::Approvals { decision: *decision }
            }
            ast::StmtKind::Expect(e) => {
                self.test_only(span, "expect");
                let cond = self.expr(e, &Want::Expect(Type::Bool));
                let source =
                    self.sources.get(e.span.file).map(|f| f.slice(e.span).to_string()).unwrap_or_default();
                StmtKind::Expect(Expect { cond, source })
            }
        };
        Stmt { kind, span }
    }

    fn test_only(&mut self, span: Span, what: &str) {
        if !self.body.in_test {
            self.diags.push(
                Diagnostic::error(
                    "test-only",
                    format!("`{what}` can only be used inside a `test`"),
                    span,
                    "outside a test",
                )
                .with_help("move this into a `test \"...\" { ... }` block"),
            );
        }
    }

    fn mock(&mut self, m: &ast::Mock, span: Span) -> Option<Mock> {
        let Some(&cid) = self.connectors.get(m.connector.name.as_str()) else {
            let cands: Vec<String> = self.connectors.keys().cloned().collect();
            self.unknown(&m.connector.name, m.connector.span, "connector", cands.iter().map(String::as_str));
            return None;
        };
        self.reference_connector(cid, m.connector.span);
        let Some(index) = self.actions.get(&(cid.0, m.action.name.to_string())).copied() else {
            self.unknown_action(cid, &m.action);
            return None;
        };
        let action = ActionId { connector: cid, index };
        self.reference_action(action, m.action.span);
        let (cname, aname, params, ret) = {
            let (c, a) = self.program.action(action)?;
            (c.name.clone(), a.name.clone(), a.params.clone(), a.ret.clone())
        };
        let mut patterns = Vec::new();
        let mut rest = false;
        for (i, p) in m.patterns.iter().enumerate() {
            let pspan = match p {
                ast::MockPattern::Any(s) | ast::MockPattern::Rest(s) => *s,
                ast::MockPattern::Value(e) => e.span,
            };
            if rest {
                self.diags.push(
                    Diagnostic::error(
                        "wrong-arguments",
                        "`..` must be the last pattern of a mock",
                        pspan,
                        "after `..`",
                    )
                    .with_help("`..` matches every remaining argument; remove what follows it"),
                );
                continue;
            }
            let Some(param) = params.get(i) else {
                self.diags.push(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("too many patterns: `{cname}.{aname}` takes {} arguments", params.len()),
                        pspan,
                        "unexpected pattern",
                    )
                    .with_help(format!("the parameters are ({})", super::params_text(&params))),
                );
                continue;
            };
            patterns.push(match p {
                ast::MockPattern::Any(s) => MockPattern::Any { span: *s },
                ast::MockPattern::Rest(s) => {
                    rest = true;
                    MockPattern::Rest { span: *s }
                }
                ast::MockPattern::Value(e) => {
                    MockPattern::Value { value: self.expr(e, &Want::Expect(param.ty.clone())) }
                }
            });
        }
        let result = match &m.result {
            Some(ast::MockResult::Value(e)) => {
                Some(MockResult::Value { value: self.expr(e, &Want::Expect(ret.clone())) })
            }
            Some(ast::MockResult::Fail(e)) => {
                Some(MockResult::Fail { message: self.expr(e, &Want::Expect(Type::String)) })
            }
            None => {
                if ret != Type::Unit {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`{cname}.{aname}` returns `{ret}`; its mock needs a value"),
                            span,
                            "no value given",
                        )
                        .with_help(format!(
                            "write `mock {cname}.{aname}(...) = VALUE` or `= fail \"message\"`"
                        )),
                    );
                }
                None
            }
        };
        Some(Mock { action, connector_name: cname, action_name: aname, patterns, result })
    }
}
