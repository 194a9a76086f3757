//! Walks over the typed IR: every statement and expression of every body, in source order.

use parry_compiler::ir::*;

/// Calls `on_expr` for every expression and `on_stmt` for every statement of the program
/// (playbooks with their `when` and parameter defaults, functions, tests, consts).
pub fn walk_program(program: &Program, visit: &mut dyn Visitor) {
    for p in &program.playbooks {
        if let Some(param) = &p.param {
            walk_param(param, visit);
        }
        if let Some(when) = &p.when {
            walk_expr(when, visit);
        }
        walk_block(&p.body.block, visit);
    }
    for f in &program.functions {
        for param in &f.params {
            walk_param(param, visit);
        }
        walk_block(&f.body.block, visit);
    }
    for c in &program.connectors {
        for a in &c.actions {
            for param in &a.params {
                walk_param(param, visit);
            }
        }
    }
    for t in &program.tests {
        walk_block(&t.body.block, visit);
    }
    for c in &program.consts {
        walk_block(&c.value.block, visit);
    }
}

pub trait Visitor {
    fn expr(&mut self, _e: &Expr) {}
    fn stmt(&mut self, _s: &Stmt) {}
    fn param(&mut self, _p: &Param) {}
    fn for_loop(&mut self, _f: &ForLoop, _span: parry_syntax::ast::Span) {}
}

fn walk_param(p: &Param, visit: &mut dyn Visitor) {
    visit.param(p);
    if let Some(d) = &p.default {
        walk_expr(d, visit);
    }
}

pub fn walk_block(b: &Block, visit: &mut dyn Visitor) {
    for s in &b.stmts {
        walk_stmt(s, visit);
    }
}

fn walk_stmt(s: &Stmt, visit: &mut dyn Visitor) {
    visit.stmt(s);
    match &s.kind {
        StmtKind::Let { value, .. }
        | StmtKind::Note { value }
        | StmtKind::Recommend { value }
        | StmtKind::Resolve { value }
        | StmtKind::Escalate { value }
        | StmtKind::Fail { value } => walk_expr(value, visit),
        StmtKind::Expr { expr } => walk_expr(expr, visit),
        StmtKind::Evidence { label, value } => {
            walk_expr(label, visit);
            walk_expr(value, visit);
        }
        StmtKind::Mock(m) => {
            for p in &m.patterns {
                if let MockPattern::Value { value } = p {
                    walk_expr(value, visit);
                }
            }
            match &m.result {
                Some(MockResult::Value { value }) => walk_expr(value, visit),
                Some(MockResult::Fail { message }) => walk_expr(message, visit),
                None => {}
            }
        }
        StmtKind::Approvals { .. } => {}
        StmtKind::Expect(e) => walk_expr(&e.cond, visit),
    }
}

pub fn walk_expr(e: &Expr, visit: &mut dyn Visitor) {
    visit.expr(e);
    match &e.kind {
        ExprKind::Int { .. }
        | ExprKind::Float { .. }
        | ExprKind::Bool { .. }
        | ExprKind::None
        | ExprKind::Str { .. }
        | ExprKind::Duration { .. }
        | ExprKind::Local { .. }
        | ExprKind::Const { .. }
        | ExprKind::Variant { .. }
        | ExprKind::ActionRef { .. }
        | ExprKind::Error => {}
        ExprKind::Interp { parts } => {
            for p in parts {
                if let InterpPart::Expr { expr } = p {
                    walk_expr(expr, visit);
                }
            }
        }
        ExprKind::List { items } => items.iter().for_each(|i| walk_expr(i, visit)),
        ExprKind::Record { fields } => fields.iter().for_each(|f| walk_expr(&f.value, visit)),
        ExprKind::Field { target, .. } => walk_expr(target, visit),
        ExprKind::Index { target, index } => {
            walk_expr(target, visit);
            walk_expr(index, visit);
        }
        ExprKind::Call(call) => call.args.iter().for_each(|a| walk_expr(a, visit)),
        ExprKind::Unary { operand, .. } => walk_expr(operand, visit),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, visit);
            walk_expr(rhs, visit);
        }
        ExprKind::If { cond, then, otherwise } => {
            walk_expr(cond, visit);
            walk_block(then, visit);
            if let Some(b) = otherwise {
                walk_block(b, visit);
            }
        }
        ExprKind::Match { scrutinee, arms } => {
            walk_expr(scrutinee, visit);
            for arm in arms {
                for p in &arm.patterns {
                    if let Pattern::Literal { value } = p {
                        walk_expr(value, visit);
                    }
                }
                walk_block(&arm.body, visit);
            }
        }
        ExprKind::For(f) => {
            visit.for_loop(f, e.span);
            walk_expr(&f.iter, visit);
            if let Some(x) = &f.filter {
                walk_expr(x, visit);
            }
            if let Some(x) = &f.limit {
                walk_expr(x, visit);
            }
            if let Some(x) = &f.concurrency {
                walk_expr(x, visit);
            }
            walk_block(&f.body, visit);
        }
        ExprKind::Approve(a) => {
            walk_expr(&a.prompt, visit);
            if let Some(x) = &a.group {
                walk_expr(x, visit);
            }
            if let Some(x) = &a.within {
                walk_expr(x, visit);
            }
            walk_block(&a.body, visit);
            if let Some(b) = &a.otherwise {
                walk_block(b, visit);
            }
        }
        ExprKind::Try { body, catch, .. } => {
            walk_block(body, visit);
            walk_block(catch, visit);
        }
        ExprKind::Block(b) => walk_block(b, visit),
    }
}
