//! Walks over the typed IR: every statement and expression of every body, in source order.

use parry_compiler::ir::*;
use parry_compiler::visit::{children, stmt_exprs};

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
    for e in stmt_exprs(s) {
        walk_expr(e, visit);
    }
}

/// Visits `e`, then its sub-expressions, then its blocks (the compiler's own order, see
/// [`parry_compiler::visit::children`]).
pub fn walk_expr(e: &Expr, visit: &mut dyn Visitor) {
    visit.expr(e);
    if let ExprKind::For(f) = &e.kind {
        visit.for_loop(f, e.span);
    }
    let (exprs, blocks) = children(e);
    for x in exprs {
        walk_expr(x, visit);
    }
    for b in blocks {
        walk_block(b, visit);
    }
}
