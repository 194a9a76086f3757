//! `parry graph`: a playbook's control flow as a Mermaid or Graphviz DOT diagram, with every
//! action's effect and gate visible.
//!
//! Nodes: the start, each action call (connector.action, effect, gate, multiplicity), each
//! function call (with its inferred effect), each decision (`if`, `match`, `try`, `for`,
//! `approve`) and each ending (`resolve`, `escalate`, `fail`). Notes, evidence and plain
//! `let`s without calls are left out: the diagram shows what a run can do.

use crate::ir::*;
use crate::visit::{children, stmt_exprs};
use std::fmt::Write as _;

/// The output syntax of [`render_graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Start,
    Action(EffectKind),
    Call,
    Decision,
    Approval,
    Loop,
    End,
}

struct Node {
    label: String,
    shape: Shape,
}

struct Edge {
    from: usize,
    to: usize,
    label: Option<String>,
}

#[derive(Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// Dangling exits of a piece of the graph: (node, edge label) pairs to connect onward.
type Exits = Vec<(usize, Option<String>)>;

/// Renders the control flow of the playbook named `playbook`.
pub fn render_graph(program: &Program, playbook: &str, format: GraphFormat) -> Result<String, String> {
    let Some((_, p)) = program.playbook(playbook) else {
        let names: Vec<&str> = program.playbooks.iter().map(|p| p.name.as_str()).collect();
        return Err(match crate::suggest::did_you_mean(playbook, names.iter().copied()) {
            Some(s) => format!("no playbook named `{playbook}`; did you mean `{s}`?"),
            None if names.is_empty() => {
                format!("no playbook named `{playbook}`: the project declares no playbooks")
            }
            None => format!("no playbook named `{playbook}`; the playbooks are: {}", names.join(", ")),
        });
    };
    let mut g = Graph::default();
    let param = p.param.as_ref().map(|x| format!("{}: {}", x.name, x.ty)).unwrap_or_default();
    let start = g.node(format!("playbook {}({param})", p.name), Shape::Start);
    let mut exits: Exits = vec![(start, None)];
    if let Some(w) = &p.when {
        let n = g.node(format!("when {}", show(w)), Shape::Decision);
        g.connect(&exits, n);
        exits = vec![(n, Some("matches".into()))];
    }
    let exits = g.block(&p.body.block, exits, program);
    if !exits.is_empty() {
        let end = g.node("end without disposition".into(), Shape::End);
        g.connect(&exits, end);
    }
    Ok(match format {
        GraphFormat::Mermaid => g.mermaid(),
        GraphFormat::Dot => g.dot(&p.name),
    })
}

impl Graph {
    fn node(&mut self, label: String, shape: Shape) -> usize {
        self.nodes.push(Node { label, shape });
        self.nodes.len() - 1
    }

    fn connect(&mut self, exits: &Exits, to: usize) {
        for (from, label) in exits {
            self.edges.push(Edge { from: *from, to, label: label.clone() });
        }
    }

    fn block(&mut self, b: &Block, mut exits: Exits, program: &Program) -> Exits {
        for s in &b.stmts {
            if exits.is_empty() {
                break;
            }
            exits = self.stmt(s, exits, program);
        }
        exits
    }

    fn stmt(&mut self, s: &Stmt, exits: Exits, program: &Program) -> Exits {
        match &s.kind {
            StmtKind::Let { value, .. } | StmtKind::Expr { expr: value } => self.expr(value, exits, program),
            StmtKind::Note { value } | StmtKind::Recommend { value } => self.calls_in(value, exits, program),
            StmtKind::Evidence { label, value } => {
                let exits = self.calls_in(label, exits, program);
                self.calls_in(value, exits, program)
            }
            StmtKind::Resolve { value } | StmtKind::Escalate { value } | StmtKind::Fail { value } => {
                let exits = self.calls_in(value, exits, program);
                let word = match &s.kind {
                    StmtKind::Resolve { .. } => "resolve",
                    StmtKind::Escalate { .. } => "escalate",
                    _ => "fail",
                };
                let n = self.node(format!("{word} {}", show(value)), Shape::End);
                self.connect(&exits, n);
                Vec::new()
            }
            StmtKind::Mock(_) | StmtKind::Approvals { .. } | StmtKind::Expect(_) => exits,
        }
    }

    /// Structured expressions become decisions; anything else contributes its calls.
    fn expr(&mut self, e: &Expr, exits: Exits, program: &Program) -> Exits {
        match &e.kind {
            ExprKind::If { cond, then, otherwise } => {
                let exits = self.calls_in(cond, exits, program);
                let n = self.node(format!("if {}", show(cond)), Shape::Decision);
                self.connect(&exits, n);
                let mut out = self.block(then, vec![(n, Some("yes".into()))], program);
                match otherwise {
                    Some(o) => out.extend(self.block(o, vec![(n, Some("no".into()))], program)),
                    None => out.push((n, Some("no".into()))),
                }
                out
            }
            ExprKind::Match { scrutinee, arms } => {
                let exits = self.calls_in(scrutinee, exits, program);
                let n = self.node(format!("match {}", show(scrutinee)), Shape::Decision);
                self.connect(&exits, n);
                let mut out = Vec::new();
                for a in arms {
                    let label = a.patterns.iter().map(show_pattern).collect::<Vec<_>>().join(" | ");
                    out.extend(self.block(&a.body, vec![(n, Some(label))], program));
                }
                out
            }
            ExprKind::For(f) => {
                let exits = self.calls_in(&f.iter, exits, program);
                let mut label = format!("for {} in {}", f.var_name, show(&f.iter));
                if let Some(c) = &f.filter {
                    let _ = write!(label, " where {}", show(c));
                }
                if let Some(l) = &f.limit {
                    let _ = write!(label, " limit {}", show(l));
                }
                let _ = write!(label, " (at most {})", f.bound);
                let n = self.node(label, Shape::Loop);
                self.connect(&exits, n);
                let back = self.block(&f.body, vec![(n, Some("each".into()))], program);
                for (from, l) in back {
                    self.edges.push(Edge { from, to: n, label: l.or(Some("next".into())) });
                }
                vec![(n, Some("done".into()))]
            }
            ExprKind::Approve(a) => {
                let exits = self.calls_in(&a.prompt, exits, program);
                let mut label = format!("approve {}", show(&a.prompt));
                if let Some(g) = &a.group {
                    let _ = write!(label, " by {}", show(g));
                }
                if let Some(w) = &a.within {
                    let _ = write!(label, " within {}", show(w));
                }
                let n = self.node(label, Shape::Approval);
                self.connect(&exits, n);
                let mut out = self.block(&a.body, vec![(n, Some("approved".into()))], program);
                match &a.otherwise {
                    Some(o) => {
                        out.extend(self.block(o, vec![(n, Some("denied or expired".into()))], program))
                    }
                    None => out.push((n, Some("denied or expired".into()))),
                }
                out
            }
            ExprKind::Try { body, err_name, catch, .. } => {
                let n = self.node("try".into(), Shape::Decision);
                self.connect(&exits, n);
                let mut out = self.block(body, vec![(n, None)], program);
                out.extend(self.block(catch, vec![(n, Some(format!("error as {err_name}")))], program));
                out
            }
            ExprKind::Block(b) => self.block(b, exits, program),
            _ => self.calls_in(e, exits, program),
        }
    }

    /// A chain of nodes for the action and function calls inside `e`, in evaluation order.
    fn calls_in(&mut self, e: &Expr, mut exits: Exits, program: &Program) -> Exits {
        let mut calls: Vec<&Expr> = Vec::new();
        calls_post_order(e, &mut calls);
        for c in calls {
            let ExprKind::Call(call) = &c.kind else { continue };
            let n = match &call.callee {
                Callee::Action(site) => {
                    let gate = match &site.gate {
                        Gate::None => "automatic".to_string(),
                        Gate::Approval { .. } => "after approval".to_string(),
                        Gate::Allowed { reason } => format!("allowed: {reason}"),
                    };
                    let times = match site.multiplicity {
                        Multiplicity::Bounded(1) => String::new(),
                        m => format!(" ×{m}"),
                    };
                    self.node(
                        format!(
                            "{}.{}\n{} · {gate}{times}",
                            site.connector_name,
                            site.action_name,
                            site.effect.name()
                        ),
                        Shape::Action(site.effect),
                    )
                }
                Callee::Fn { id, name, .. } => {
                    let effect = program.function(*id).map(|f| f.effect.name()).unwrap_or("read");
                    self.node(format!("fn {name}\n{effect}"), Shape::Call)
                }
                _ => continue,
            };
            self.connect(&exits, n);
            exits = vec![(n, None)];
        }
        exits
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let text = mermaid_text(&n.label);
            let (open, close) = match n.shape {
                Shape::Start => ("([", "])"),
                Shape::End => ("([", "])"),
                Shape::Action(_) => ("[", "]"),
                Shape::Call => ("[[", "]]"),
                Shape::Decision => ("{", "}"),
                Shape::Approval => ("{{", "}}"),
                Shape::Loop => ("[/", "/]"),
            };
            let _ = writeln!(out, "  n{i}{open}\"{text}\"{close}");
        }
        for e in &self.edges {
            match &e.label {
                Some(l) => {
                    let _ = writeln!(out, "  n{} -- \"{}\" --> n{}", e.from, mermaid_text(l), e.to);
                }
                None => {
                    let _ = writeln!(out, "  n{} --> n{}", e.from, e.to);
                }
            }
        }
        out.push_str("  classDef read fill:#e8f4ff,stroke:#4a90d9\n");
        out.push_str("  classDef write fill:#eefbea,stroke:#4caf50\n");
        out.push_str("  classDef reversible fill:#fff6e0,stroke:#f0a020\n");
        out.push_str("  classDef destructive fill:#ffe4e4,stroke:#d32f2f,stroke-width:2px\n");
        out.push_str("  classDef approval fill:#f3e8ff,stroke:#7b3fb5\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let class = match n.shape {
                Shape::Action(e) => e.name(),
                Shape::Approval => "approval",
                _ => continue,
            };
            let _ = writeln!(out, "  class n{i} {class}");
        }
        out
    }

    fn dot(&self, name: &str) -> String {
        let mut out =
            format!("digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n", dot_text(name));
        for (i, n) in self.nodes.iter().enumerate() {
            let attrs = match n.shape {
                Shape::Start | Shape::End => "shape=oval".to_string(),
                Shape::Action(e) => {
                    let color = match e {
                        EffectKind::Read => "#e8f4ff",
                        EffectKind::Write => "#eefbea",
                        EffectKind::Reversible => "#fff6e0",
                        EffectKind::Destructive => "#ffe4e4",
                    };
                    let pen = if e == EffectKind::Destructive { ", penwidth=2" } else { "" };
                    format!("shape=box, style=filled, fillcolor=\"{color}\"{pen}")
                }
                Shape::Call => "shape=box, peripheries=2".to_string(),
                Shape::Decision => "shape=diamond".to_string(),
                Shape::Approval => "shape=hexagon, style=filled, fillcolor=\"#f3e8ff\"".to_string(),
                Shape::Loop => "shape=parallelogram".to_string(),
            };
            let _ = writeln!(out, "  n{i} [label=\"{}\", {attrs}];", dot_text(&n.label));
        }
        for e in &self.edges {
            match &e.label {
                Some(l) => {
                    let _ = writeln!(out, "  n{} -> n{} [label=\"{}\"];", e.from, e.to, dot_text(l));
                }
                None => {
                    let _ = writeln!(out, "  n{} -> n{};", e.from, e.to);
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Action and function calls inside `e` in evaluation order (arguments before the call).
fn calls_post_order<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    let (xs, bs) = children(e);
    for x in xs {
        calls_post_order(x, out);
    }
    for b in bs {
        for s in &b.stmts {
            for x in stmt_exprs(s) {
                calls_post_order(x, out);
            }
        }
    }
    if let ExprKind::Call(Call { callee: Callee::Action(_) | Callee::Fn { .. }, .. }) = &e.kind {
        out.push(e);
    }
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;").replace('\n', "<br/>")
}

fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn show_pattern(p: &Pattern) -> String {
    match p {
        Pattern::Wildcard { .. } => "_".into(),
        Pattern::Variant { name, .. } => name.clone(),
        Pattern::Literal { value } => show(value),
    }
}

/// A short source-like rendering of an expression for labels (at most ~48 characters).
fn show(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(e, &mut s, 0);
    if s.chars().count() > 48 {
        let cut: String = s.chars().take(45).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn write_expr(e: &Expr, out: &mut String, depth: u32) {
    if depth > 6 || out.len() > 96 {
        out.push('…');
        return;
    }
    let d = depth + 1;
    match &e.kind {
        ExprKind::Int { value } => {
            let _ = write!(out, "{value}");
        }
        ExprKind::Float { value } => {
            let _ = write!(out, "{value}");
        }
        ExprKind::Bool { value } => {
            let _ = write!(out, "{value}");
        }
        ExprKind::None => out.push_str("none"),
        ExprKind::Str { value } => {
            let _ = write!(out, "\"{value}\"");
        }
        ExprKind::Interp { parts } => {
            out.push('"');
            for p in parts {
                match p {
                    InterpPart::Lit { text } => out.push_str(text),
                    InterpPart::Expr { expr } => {
                        out.push('{');
                        write_expr(expr, out, d);
                        out.push('}');
                    }
                }
            }
            out.push('"');
        }
        ExprKind::Duration { ms } => out.push_str(&duration_text(*ms)),
        ExprKind::List { items } => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(x, out, d);
            }
            out.push(']');
        }
        ExprKind::Record { fields } => {
            out.push_str("{ ");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", f.name);
                write_expr(&f.value, out, d);
            }
            out.push_str(" }");
        }
        ExprKind::Local { name, .. } | ExprKind::Const { name, .. } | ExprKind::Variant { name, .. } => {
            out.push_str(name)
        }
        ExprKind::Field { target, field, optional } => {
            write_expr(target, out, d);
            out.push_str(if *optional { "?." } else { "." });
            out.push_str(field);
        }
        ExprKind::Index { target, index } => {
            write_expr(target, out, d);
            out.push('[');
            write_expr(index, out, d);
            out.push(']');
        }
        ExprKind::Call(c) => {
            match &c.callee {
                Callee::Action(s) => {
                    let _ = write!(out, "{}.{}", s.connector_name, s.action_name);
                }
                Callee::Fn { name, .. } | Callee::Playbook { name, .. } => out.push_str(name),
                Callee::Builtin { builtin } => out.push_str(builtin.name()),
                Callee::Convert => {
                    let _ = write!(out, "{}", e.ty);
                }
            }
            out.push('(');
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(a, out, d);
            }
            out.push(')');
        }
        ExprKind::Unary { op, operand } => {
            out.push_str(match op {
                UnaryOp::Not => "not ",
                UnaryOp::Neg => "-",
            });
            write_expr(operand, out, d);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            write_expr(lhs, out, d);
            let _ = write!(out, " {} ", op.as_str());
            write_expr(rhs, out, d);
        }
        ExprKind::If { .. } => out.push_str("if …"),
        ExprKind::Match { .. } => out.push_str("match …"),
        ExprKind::For(_) => out.push_str("for …"),
        ExprKind::Approve(_) => out.push_str("approve …"),
        ExprKind::Try { .. } => out.push_str("try …"),
        ExprKind::Block(_) => out.push_str("{ … }"),
        ExprKind::ActionRef { action } => {
            let _ = write!(out, "action#{}.{}", action.connector.0, action.index);
        }
        ExprKind::Error => out.push('?'),
    }
}

fn duration_text(ms: u64) -> String {
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Config, compile_sources};

    const SRC: &str = r#"
connector hosts {
  action info(name: host) -> { critical: bool } effect read
  action isolate(name: host) effect reversible(undo: release)
  action release(name: host) effect reversible(undo: isolate)
  action wipe(name: host) effect destructive
}
type A = { name: host, names: list<host> }

playbook contain(a: A) {
  if hosts.info(a.name).critical {
    escalate "critical host"
  }
  for h in a.names limit 5 { hosts.isolate(h) }
  approve "Wipe {a.name}?" by "ops" {
    hosts.wipe(a.name)
    resolve "wiped"
  } else {
    escalate "not wiped"
  }
}
"#;

    #[test]
    fn mermaid_shows_effects_and_gates() {
        let c = compile_sources(vec![("g.play".into(), SRC.into())], Config::default());
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        let m = render_graph(&c.program, "contain", GraphFormat::Mermaid).unwrap();
        assert!(m.starts_with("flowchart TD"));
        assert!(m.contains("hosts.wipe<br/>destructive · after approval"), "{m}");
        assert!(m.contains("hosts.isolate<br/>reversible · automatic ×5"), "{m}");
        assert!(m.contains("-- \"approved\" -->"), "{m}");
        assert!(m.contains("escalate #quot;critical host#quot;"), "{m}");
        assert!(!m.contains("end without disposition"), "{m}");
    }

    #[test]
    fn dot_is_a_digraph_and_unknown_playbooks_are_errors() {
        let c = compile_sources(vec![("g.play".into(), SRC.into())], Config::default());
        let d = render_graph(&c.program, "contain", GraphFormat::Dot).unwrap();
        assert!(d.starts_with("digraph \"contain\" {"));
        assert!(d.contains("fillcolor=\"#ffe4e4\", penwidth=2"), "{d}");
        let err = render_graph(&c.program, "contian", GraphFormat::Dot).unwrap_err();
        assert!(err.contains("did you mean `contain`"), "{err}");
    }
}
