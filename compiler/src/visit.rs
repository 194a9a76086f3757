//! Walking the IR: every expression and block of a body, in source order.

use crate::ir::*;

/// The direct sub-expressions and sub-blocks of an expression, in evaluation order
/// (expressions first, then blocks; neither reaches into the other's children).
pub fn children(e: &Expr) -> (Vec<&Expr>, Vec<&Block>) {
    let mut xs: Vec<&Expr> = Vec::new();
    let mut bs: Vec<&Block> = Vec::new();
    match &e.kind {
        ExprKind::Interp { parts } => {
            for p in parts {
                if let InterpPart::Expr { expr } = p {
                    xs.push(expr);
                }
            }
        }
        ExprKind::List { items } => xs.extend(items),
        ExprKind::Record { fields } => xs.extend(fields.iter().map(|f| &f.value)),
        ExprKind::Field { target, .. } => xs.push(target),
        ExprKind::Index { target, index } => {
            xs.push(target);
            xs.push(index);
        }
        ExprKind::Call(c) => xs.extend(&c.args),
        ExprKind::Unary { operand, .. } => xs.push(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            xs.push(lhs);
            xs.push(rhs);
        }
        ExprKind::If { cond, then, otherwise } => {
            xs.push(cond);
            bs.push(then);
            bs.extend(otherwise);
        }
        ExprKind::Match { scrutinee, arms } => {
            xs.push(scrutinee);
            for a in arms {
                for p in &a.patterns {
                    if let Pattern::Literal { value } = p {
                        xs.push(value);
                    }
                }
                bs.push(&a.body);
            }
        }
        ExprKind::For(f) => {
            xs.push(&f.iter);
            xs.extend(&f.limit);
            xs.extend(&f.concurrency);
            xs.extend(&f.filter);
            bs.push(&f.body);
        }
        ExprKind::Approve(a) => {
            xs.push(&a.prompt);
            xs.extend(&a.group);
            xs.extend(&a.within);
            bs.push(&a.body);
            bs.extend(&a.otherwise);
        }
        ExprKind::Try { body, catch, .. } => {
            bs.push(body);
            bs.push(catch);
        }
        ExprKind::Block(b) => bs.push(b),
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
    }
    (xs, bs)
}

/// The expressions directly held by a statement.
pub fn stmt_exprs(s: &Stmt) -> Vec<&Expr> {
    match &s.kind {
        StmtKind::Let { value, .. }
        | StmtKind::Note { value }
        | StmtKind::Recommend { value }
        | StmtKind::Resolve { value }
        | StmtKind::Escalate { value }
        | StmtKind::Fail { value } => vec![value],
        StmtKind::Expr { expr } => vec![expr],
        StmtKind::Evidence { label, value } => vec![label, value],
        StmtKind::Mock(m) => {
            let mut v: Vec<&Expr> = m
                .patterns
                .iter()
                .filter_map(|p| match p {
                    MockPattern::Value { value } => Some(value),
                    _ => None,
                })
                .collect();
            match &m.result {
                Some(MockResult::Value { value }) => v.push(value),
                Some(MockResult::Fail { message }) => v.push(message),
                None => {}
            }
            v
        }
        StmtKind::Approvals { .. } => vec![],
        StmtKind::Expect(e) => vec![&e.cond],
    }
}

/// Calls `f` on every expression of a block, pre-order.
pub fn visit_block<'a>(b: &'a Block, f: &mut dyn FnMut(&'a Expr)) {
    for s in &b.stmts {
        for e in stmt_exprs(s) {
            visit_expr(e, f);
        }
    }
}

/// Calls `f` on `e` and every expression inside it, pre-order.
pub fn visit_expr<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(e);
    let (xs, bs) = children(e);
    for x in xs {
        visit_expr(x, f);
    }
    for b in bs {
        visit_block(b, f);
    }
}

/// Calls `f` on every expression of a block, post-order, mutably.
pub fn visit_block_mut(b: &mut Block, f: &mut dyn FnMut(&mut Expr)) {
    for s in &mut b.stmts {
        match &mut s.kind {
            StmtKind::Let { value, .. }
            | StmtKind::Note { value }
            | StmtKind::Recommend { value }
            | StmtKind::Resolve { value }
            | StmtKind::Escalate { value }
            | StmtKind::Fail { value } => visit_expr_mut(value, f),
            StmtKind::Expr { expr } => visit_expr_mut(expr, f),
            StmtKind::Evidence { label, value } => {
                visit_expr_mut(label, f);
                visit_expr_mut(value, f);
            }
            StmtKind::Mock(m) => {
                for p in &mut m.patterns {
                    if let MockPattern::Value { value } = p {
                        visit_expr_mut(value, f);
                    }
                }
                match &mut m.result {
                    Some(MockResult::Value { value }) => visit_expr_mut(value, f),
                    Some(MockResult::Fail { message }) => visit_expr_mut(message, f),
                    None => {}
                }
            }
            StmtKind::Approvals { .. } => {}
            StmtKind::Expect(e) => visit_expr_mut(&mut e.cond, f),
        }
    }
}

/// Calls `f` on every expression inside `e`, then on `e` (post-order), mutably.
pub fn visit_expr_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match &mut e.kind {
        ExprKind::Interp { parts } => {
            for p in parts {
                if let InterpPart::Expr { expr } = p {
                    visit_expr_mut(expr, f);
                }
            }
        }
        ExprKind::List { items } => items.iter_mut().for_each(|x| visit_expr_mut(x, f)),
        ExprKind::Record { fields } => fields.iter_mut().for_each(|x| visit_expr_mut(&mut x.value, f)),
        ExprKind::Field { target, .. } => visit_expr_mut(target, f),
        ExprKind::Index { target, index } => {
            visit_expr_mut(target, f);
            visit_expr_mut(index, f);
        }
        ExprKind::Call(c) => c.args.iter_mut().for_each(|x| visit_expr_mut(x, f)),
        ExprKind::Unary { operand, .. } => visit_expr_mut(operand, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit_expr_mut(lhs, f);
            visit_expr_mut(rhs, f);
        }
        ExprKind::If { cond, then, otherwise } => {
            visit_expr_mut(cond, f);
            visit_block_mut(then, f);
            if let Some(o) = otherwise {
                visit_block_mut(o, f);
            }
        }
        ExprKind::Match { scrutinee, arms } => {
            visit_expr_mut(scrutinee, f);
            for a in arms {
                for p in &mut a.patterns {
                    if let Pattern::Literal { value } = p {
                        visit_expr_mut(value, f);
                    }
                }
                visit_block_mut(&mut a.body, f);
            }
        }
        ExprKind::For(fl) => {
            visit_expr_mut(&mut fl.iter, f);
            if let Some(x) = &mut fl.limit {
                visit_expr_mut(x, f);
            }
            if let Some(x) = &mut fl.concurrency {
                visit_expr_mut(x, f);
            }
            if let Some(x) = &mut fl.filter {
                visit_expr_mut(x, f);
            }
            visit_block_mut(&mut fl.body, f);
        }
        ExprKind::Approve(a) => {
            visit_expr_mut(&mut a.prompt, f);
            if let Some(x) = &mut a.group {
                visit_expr_mut(x, f);
            }
            if let Some(x) = &mut a.within {
                visit_expr_mut(x, f);
            }
            visit_block_mut(&mut a.body, f);
            if let Some(o) = &mut a.otherwise {
                visit_block_mut(o, f);
            }
        }
        ExprKind::Try { body, catch, .. } => {
            visit_block_mut(body, f);
            visit_block_mut(catch, f);
        }
        ExprKind::Block(b) => visit_block_mut(b, f),
        _ => {}
    }
    f(e);
}

/// Every body of a program: functions, playbooks (and their `when`), tests, constants and
/// parameter defaults, as expressions or blocks.
pub fn program_blocks(program: &Program) -> (Vec<&Block>, Vec<&Expr>) {
    let mut blocks: Vec<&Block> = Vec::new();
    let mut exprs: Vec<&Expr> = Vec::new();
    for f in &program.functions {
        blocks.push(&f.body.block);
        exprs.extend(f.params.iter().filter_map(|p| p.default.as_ref()));
    }
    for p in &program.playbooks {
        blocks.push(&p.body.block);
        exprs.extend(&p.when);
    }
    for t in &program.tests {
        blocks.push(&t.body.block);
    }
    for k in &program.consts {
        blocks.push(&k.value.block);
    }
    for c in &program.connectors {
        for a in &c.actions {
            exprs.extend(a.params.iter().filter_map(|p| p.default.as_ref()));
        }
    }
    (blocks, exprs)
}

/// The innermost expression of `file` whose span contains byte `offset` (for hover).
pub fn expr_at(program: &Program, file: parry_syntax::ast::FileId, offset: u32) -> Option<&Expr> {
    let (blocks, exprs) = program_blocks(program);
    let mut all: Vec<&Expr> = Vec::new();
    for b in blocks {
        visit_block(b, &mut |e| all.push(e));
    }
    for e in exprs {
        visit_expr(e, &mut |x| all.push(x));
    }
    let mut best: Option<&Expr> = None;
    for e in all {
        let s = e.span;
        if s.file == file && s.start <= offset && offset <= s.end && !matches!(e.kind, ExprKind::Error) {
            let better =
                best.is_none_or(|b| s.end.saturating_sub(s.start) <= b.span.end.saturating_sub(b.span.start));
            if better {
                best = Some(e);
            }
        }
    }
    best
}
