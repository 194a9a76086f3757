//! The safety analyses of LANGUAGE.md §5, as passes over the IR and its call graph:
//! recursion, effect inference, gates and multiplicity (`unapproved-destructive`,
//! `unbounded-containment`), and dispositions (`no-disposition`).

use crate::Diagnostic;
use crate::ir::*;
use crate::project::Config;
use crate::visit::{children, stmt_exprs, visit_block, visit_block_mut};
use parry_syntax::ast::Span;
use std::collections::{HashMap, HashSet};

/// A finding of the analyses, with what an `@allow` may match besides its primary span.
pub(crate) struct Finding {
    pub diag: Diagnostic,
    /// Spans whose coverage by an `@allow` of the same code also suppresses the finding
    /// (the chain of calls leading to a destructive action).
    pub also_covered_by: Vec<Span>,
    /// The action call sites the finding is about (their gate becomes `Allowed` when the
    /// finding is suppressed).
    pub sites: Vec<CallSiteId>,
}

pub(crate) fn analyze(program: &mut Program, config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let calls = call_graph(program);
    recursion(program, &calls, &mut out);
    let fn_effects = effects(program, &calls);
    for (f, e) in program.functions.iter_mut().zip(&fn_effects) {
        f.effect = *e;
    }
    for p in &mut program.playbooks {
        p.effect = block_effect(&p.body.block, &fn_effects);
        if let Some(w) = &p.when {
            p.effect = p.effect.max(expr_effect(w, &fn_effects));
        }
    }
    set_loop_effects(program, &fn_effects);
    let mut site_mult: HashMap<CallSiteId, Multiplicity> = HashMap::new();
    {
        let prog: &Program = program;
        let mut s = Safety {
            program: prog,
            config,
            out: &mut out,
            site_mult: &mut site_mult,
            reported: HashSet::new(),
        };
        for p in &prog.playbooks {
            let ctx = Ctx::default();
            if let Some(w) = &p.when {
                s.expr(w, &ctx);
            }
            s.block(&p.body.block, &ctx);
        }
    }
    set_site_multiplicities(program, &site_mult);
    dispositions(program, &mut out);
    out
}

// ------------------------------------------------------------------------- call graph

/// For each function, the functions it calls directly, with the call's span.
fn call_graph(program: &Program) -> Vec<Vec<(FnId, Span)>> {
    program
        .functions
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            visit_block(&f.body.block, &mut |e| {
                if let ExprKind::Call(Call { callee: Callee::Fn { id, .. }, .. }) = &e.kind {
                    v.push((*id, e.span));
                }
            });
            v
        })
        .collect()
}

fn reaches(calls: &[Vec<(FnId, Span)>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; calls.len()];
    let mut stack: Vec<usize> =
        calls.get(from).map(|c| c.iter().map(|(f, _)| f.0 as usize).collect()).unwrap_or_default();
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if n >= seen.len() || seen[n] {
            continue;
        }
        seen[n] = true;
        if let Some(c) = calls.get(n) {
            stack.extend(c.iter().map(|(f, _)| f.0 as usize));
        }
    }
    false
}

fn recursion(program: &Program, calls: &[Vec<(FnId, Span)>], out: &mut Vec<Finding>) {
    let n = calls.len();
    let recursive: Vec<bool> = (0..n).map(|i| reaches(calls, i, i)).collect();
    let mut done = vec![false; n];
    for i in 0..n {
        if !recursive[i] || done[i] {
            continue;
        }
        let scc: Vec<usize> = (0..n)
            .filter(|&j| recursive[j] && (j == i || (reaches(calls, i, j) && reaches(calls, j, i))))
            .collect();
        for &j in &scc {
            done[j] = true;
        }
        let Some(f) = program.functions.get(i) else { continue };
        let Some(&(_, call_span)) = calls[i].iter().find(|(g, _)| scc.contains(&(g.0 as usize))) else {
            continue;
        };
        let others: Vec<&str> = scc
            .iter()
            .filter(|&&j| j != i)
            .filter_map(|&j| program.functions.get(j))
            .map(|g| g.name.as_str())
            .collect();
        let message = if others.is_empty() {
            format!("the function `{}` calls itself", f.name)
        } else {
            format!("the functions `{}` and `{}` call each other", f.name, others.join("`, `"))
        };
        let mut d = Diagnostic::error("recursive-function", message, call_span, "this call recurses")
            .with_secondary(f.name_span, format!("`{}` is declared here", f.name))
            .with_note(
                "recursion is not allowed: every run must finish, and the checker must see every call chain",
            )
            .with_help("rewrite the recursion as a `for` loop over a list");
        for &j in &scc {
            if j != i
                && let Some(g) = program.functions.get(j)
                && let Some(&(_, s)) = calls[j].iter().find(|(h, _)| scc.contains(&(h.0 as usize)))
            {
                d = d.with_secondary(s, format!("`{}` calls back here", g.name));
            }
        }
        out.push(Finding { diag: d, also_covered_by: Vec::new(), sites: Vec::new() });
    }
}

// ------------------------------------------------------------------------- effects

fn effects(program: &Program, calls: &[Vec<(FnId, Span)>]) -> Vec<EffectKind> {
    // Direct effects, then a fixpoint over the call graph (terminates: effects only grow
    // and are bounded).
    let mut eff: Vec<EffectKind> = program
        .functions
        .iter()
        .map(|f| {
            let mut e = EffectKind::Read;
            visit_block(&f.body.block, &mut |x| {
                if let ExprKind::Call(Call { callee: Callee::Action(site), .. }) = &x.kind {
                    e = e.max(site.effect);
                }
            });
            e
        })
        .collect();
    loop {
        let mut changed = false;
        for i in 0..eff.len() {
            let mut e = eff[i];
            for (g, _) in calls.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(ge) = eff.get(g.0 as usize) {
                    e = e.max(*ge);
                }
            }
            if e != eff[i] {
                eff[i] = e;
                changed = true;
            }
        }
        if !changed {
            return eff;
        }
    }
}

fn expr_effect(e: &Expr, fns: &[EffectKind]) -> EffectKind {
    let mut eff = EffectKind::Read;
    crate::visit::visit_expr(e, &mut |x| {
        if let ExprKind::Call(c) = &x.kind {
            match &c.callee {
                Callee::Action(site) => eff = eff.max(site.effect),
                Callee::Fn { id, .. } => {
                    eff = eff.max(fns.get(id.0 as usize).copied().unwrap_or(EffectKind::Read))
                }
                _ => {}
            }
        }
    });
    eff
}

fn block_effect(b: &Block, fns: &[EffectKind]) -> EffectKind {
    let mut eff = EffectKind::Read;
    for s in &b.stmts {
        for e in stmt_exprs(s) {
            eff = eff.max(expr_effect(e, fns));
        }
    }
    eff
}

fn set_loop_effects(program: &mut Program, fns: &[EffectKind]) {
    let mut f = |e: &mut Expr| {
        if let ExprKind::For(fl) = &mut e.kind {
            let mut eff = block_effect(&fl.body, fns);
            if let Some(x) = &fl.filter {
                eff = eff.max(expr_effect(x, fns));
            }
            fl.body_effect = eff;
        }
    };
    for_each_body(program, &mut |b| visit_block_mut(b, &mut f));
}

fn for_each_body(program: &mut Program, f: &mut dyn FnMut(&mut Block)) {
    for x in &mut program.functions {
        f(&mut x.body.block);
    }
    for x in &mut program.playbooks {
        f(&mut x.body.block);
    }
    for x in &mut program.tests {
        f(&mut x.body.block);
    }
    for x in &mut program.consts {
        f(&mut x.value.block);
    }
}

fn set_site_multiplicities(program: &mut Program, worst: &HashMap<CallSiteId, Multiplicity>) {
    let mut f = |e: &mut Expr| {
        if let ExprKind::Call(Call { callee: Callee::Action(site), .. }) = &mut e.kind
            && let Some(m) = worst.get(&site.id)
        {
            site.multiplicity = *m;
        }
    };
    for_each_body(program, &mut |b| visit_block_mut(b, &mut f));
}

/// Sets the gate of the given call sites to `Allowed` (their finding was suppressed).
pub(crate) fn allow_sites(program: &mut Program, sites: &HashMap<CallSiteId, String>) {
    if sites.is_empty() {
        return;
    }
    let mut f = |e: &mut Expr| {
        if let ExprKind::Call(Call { callee: Callee::Action(site), .. }) = &mut e.kind
            && site.gate == Gate::None
            && let Some(reason) = sites.get(&site.id)
        {
            site.gate = Gate::Allowed { reason: reason.clone() };
        }
    };
    for_each_body(program, &mut |b| visit_block_mut(b, &mut f));
}

// ------------------------------------------------------------------------- gates and multiplicity

#[derive(Clone, Default)]
struct Ctx {
    /// Enclosing loops, outermost first: bound and span.
    loops: Vec<(Multiplicity, Span)>,
    /// The innermost `approve` whose body this is.
    gate: Option<Span>,
    /// The function calls that led here from the playbook: call span and function name.
    chain: Vec<(Span, String)>,
    /// For each call of `chain`, how many loops enclosed it.
    chain_loops: Vec<usize>,
    stack: Vec<FnId>,
}

impl Ctx {
    fn multiplicity(&self) -> Multiplicity {
        self.loops.iter().fold(Multiplicity::Bounded(1), |m, (b, _)| m.times(*b))
    }
}

struct Safety<'p> {
    program: &'p Program,
    config: &'p Config,
    out: &'p mut Vec<Finding>,
    site_mult: &'p mut HashMap<CallSiteId, Multiplicity>,
    /// Primary spans already reported (one finding per site and code).
    reported: HashSet<(&'static str, u32, u32, u32)>,
}

impl<'p> Safety<'p> {
    fn block(&mut self, b: &'p Block, ctx: &Ctx) {
        for s in &b.stmts {
            for e in stmt_exprs(s) {
                self.expr(e, ctx);
            }
        }
    }

    fn expr(&mut self, e: &'p Expr, ctx: &Ctx) {
        match &e.kind {
            ExprKind::For(fl) => {
                self.expr(&fl.iter, ctx);
                for x in [&fl.limit, &fl.concurrency].into_iter().flatten() {
                    self.expr(x, ctx);
                }
                let mut inner = ctx.clone();
                inner.loops.push((fl.bound, e.span));
                if let Some(x) = &fl.filter {
                    self.expr(x, &inner);
                }
                self.block(&fl.body, &inner);
            }
            ExprKind::Approve(a) => {
                self.approval_through_calls_in_loop(e.span, ctx);
                self.expr(&a.prompt, ctx);
                for x in [&a.group, &a.within].into_iter().flatten() {
                    self.expr(x, ctx);
                }
                let mut inner = ctx.clone();
                inner.gate = Some(e.span);
                self.block(&a.body, &inner);
                if let Some(o) = &a.otherwise {
                    self.block(o, ctx);
                }
            }
            ExprKind::Call(c) => {
                for x in &c.args {
                    self.expr(x, ctx);
                }
                match &c.callee {
                    Callee::Action(site) => self.action(site, ctx),
                    Callee::Fn { id, name, .. } => {
                        if ctx.stack.contains(id) {
                            return;
                        }
                        let Some(f) = self.program.function(*id) else { return };
                        let mut inner = ctx.clone();
                        inner.chain.push((e.span, name.clone()));
                        inner.chain_loops.push(ctx.loops.len());
                        inner.stack.push(*id);
                        self.block(&f.body.block, &inner);
                    }
                    _ => {}
                }
            }
            _ => {
                let (xs, bs) = children(e);
                for x in xs {
                    self.expr(x, ctx);
                }
                for b in bs {
                    self.block(b, ctx);
                }
            }
        }
    }

    /// `approval-in-loop` for an `approve` reached through function calls made inside a
    /// `for` (one inside the function's own body is reported where the function is checked).
    fn approval_through_calls_in_loop(&mut self, approve: Span, ctx: &Ctx) {
        let Some(&outer) = ctx.chain_loops.last() else { return };
        let Some(&(_, loop_span)) = outer.checked_sub(1).and_then(|i| ctx.loops.get(i)) else { return };
        // The first call made inside that loop.
        let Some(at) = ctx.chain_loops.iter().position(|&n| n >= outer) else { return };
        let Some((call, name)) = ctx.chain.get(at) else { return };
        if !self.reported.insert(("approval-in-loop", call.file.0, call.start, call.end)) {
            return;
        }
        let d = Diagnostic::warning(
            "approval-in-loop",
            format!(
                "this call inside a `for` reaches an `approve`: one approval per item (through `{name}`)"
            ),
            *call,
            "one prompt per iteration",
        )
        .with_secondary(loop_span, "the loop")
        .with_secondary(approve, "the `approve` it reaches")
        .with_help("approve the whole batch once, outside the loop, and loop inside the `approve` body");
        let mut also: Vec<Span> = ctx.chain.iter().skip(at).map(|(s, _)| *s).collect();
        also.push(approve);
        self.out.push(Finding { diag: d, also_covered_by: also, sites: Vec::new() });
    }

    fn action(&mut self, site: &'p CallSite, ctx: &Ctx) {
        let mult = ctx.multiplicity();
        let worst = self.site_mult.entry(site.id.clone()).or_insert(mult);
        *worst = (*worst).max(mult);
        if ctx.gate.is_some() {
            return;
        }
        let name = format!("{}.{}", site.connector_name, site.action_name);
        if site.requires_approval {
            let primary = ctx.chain.first().map(|(s, _)| *s).unwrap_or(site.span);
            if !self.reported.insert(("unapproved-destructive", primary.file.0, primary.start, primary.end)) {
                return;
            }
            let why = if site.effect == EffectKind::Destructive {
                "destructive".to_string()
            } else {
                "listed in `policy.require_approval`".to_string()
            };
            let (message, label) = if ctx.chain.is_empty() {
                (
                    format!(
                        "the {} action `{name}` runs without approval",
                        if site.effect == EffectKind::Destructive {
                            "destructive"
                        } else {
                            "approval-required"
                        }
                    ),
                    format!("`{name}` is {why} and not inside an `approve`"),
                )
            } else {
                (
                    format!(
                        "this call reaches the {} action `{name}` without approval",
                        if site.effect == EffectKind::Destructive {
                            "destructive"
                        } else {
                            "approval-required"
                        }
                    ),
                    format!(
                        "calls `{}`, which reaches `{name}`",
                        ctx.chain.first().map(|(_, n)| n.as_str()).unwrap_or("")
                    ),
                )
            };
            let mut d = Diagnostic::error("unapproved-destructive", message, primary, label).with_help(
                "wrap the call in `approve \"...\" by \"GROUP\" { ... }` so a human decides first",
            );
            for (i, (s, n)) in ctx.chain.iter().enumerate().skip(1) {
                let caller = ctx.chain.get(i - 1).map(|(_, c)| c.as_str()).unwrap_or("");
                d = d.with_secondary(*s, format!("`{caller}` calls `{n}` here"));
            }
            if !ctx.chain.is_empty() {
                d = d.with_secondary(site.span, format!("`{name}` is called here ({why})"));
            }
            if site.effect != EffectKind::Destructive {
                d = d.with_note(format!("the project policy lists `{name}` in `require_approval`"));
            }
            let mut also: Vec<Span> = ctx.chain.iter().map(|(s, _)| *s).collect();
            also.push(site.span);
            self.out.push(Finding { diag: d, also_covered_by: also, sites: vec![site.id.clone()] });
            return;
        }
        if site.effect != EffectKind::Reversible {
            return;
        }
        let limit = self.config.max_auto_targets(&site.connector_name, &site.action_name);
        let over = match mult {
            Multiplicity::Unbounded => true,
            Multiplicity::Bounded(n) => n > limit,
        };
        if !over
            || !self.reported.insert((
                "unbounded-containment",
                site.span.file.0,
                site.span.start,
                site.span.end,
            ))
        {
            return;
        }
        let per_action = self.config.policy.actions.get(&name).and_then(|a| a.max_auto_targets).is_some();
        let policy = if per_action {
            format!("`policy.actions.\"{name}\".max_auto_targets` is {limit}")
        } else {
            format!("`policy.max_auto_targets` is {limit}")
        };
        let message = match mult {
            Multiplicity::Unbounded => format!(
                "the reversible action `{name}` can run an unbounded number of times without approval"
            ),
            Multiplicity::Bounded(n) => {
                format!(
                    "the reversible action `{name}` can run {n} times without approval; the policy allows {limit}"
                )
            }
        };
        let label = match mult {
            Multiplicity::Unbounded => "runs an unbounded number of times per run".to_string(),
            Multiplicity::Bounded(n) => format!("runs up to {n} times per run"),
        };
        let mut d = Diagnostic::error("unbounded-containment", message, site.span, label)
            .with_note(format!("{policy}: at most that many automatic calls of `{name}` per run"))
            .with_help(format!(
                "add `limit N` (N × the enclosing bounds ≤ {limit}) to the loop, wrap the call in `approve`, or raise `max_auto_targets` for `{name}` in parry.toml"
            ));
        for (b, s) in &ctx.loops {
            d = match b {
                Multiplicity::Unbounded => {
                    d.with_secondary(*s, "this loop has no `limit` and does not iterate a list literal")
                }
                Multiplicity::Bounded(n) => d.with_secondary(*s, format!("this loop runs up to {n} times")),
            };
        }
        for (s, n) in &ctx.chain {
            d = d.with_secondary(*s, format!("through this call of `{n}`"));
        }
        let mut also: Vec<Span> = ctx.chain.iter().map(|(s, _)| *s).collect();
        also.push(site.span);
        self.out.push(Finding { diag: d, also_covered_by: also, sites: vec![site.id.clone()] });
    }
}

// ------------------------------------------------------------------------- dispositions

/// Does the block always end the run (`resolve`, `escalate`, `fail`, or a call of a
/// function that always does)?
fn block_ends(b: &Block, program: &Program, depth: u32) -> bool {
    if b.ty == Type::Never {
        return true;
    }
    if depth > 16 {
        return false;
    }
    b.stmts.iter().any(|s| match &s.kind {
        StmtKind::Expr { expr } | StmtKind::Let { value: expr, .. } => match &expr.kind {
            ExprKind::Call(Call { callee: Callee::Fn { id, .. }, .. }) => {
                program.function(*id).is_some_and(|f| block_ends(&f.body.block, program, depth + 1))
            }
            _ => false,
        },
        _ => false,
    })
}

fn dispositions(program: &Program, out: &mut Vec<Finding>) {
    for p in &program.playbooks {
        if block_ends(&p.body.block, program, 0) {
            continue;
        }
        let b = &p.body.block;
        let end = Span { file: b.span.file, start: b.span.end.saturating_sub(1), end: b.span.end };
        let d = Diagnostic::warning(
            "no-disposition",
            format!("the playbook `{}` can finish without `resolve` or `escalate`", p.name),
            p.name_span,
            "some path through this playbook ends without a disposition",
        )
        .with_secondary(end, "a run can reach the end of the body here")
        .with_help(
            "end every path with `resolve \"...\"` (handled) or `escalate \"...\"` (an analyst must act)",
        );
        out.push(Finding { diag: d, also_covered_by: Vec::new(), sites: Vec::new() });
    }
}
