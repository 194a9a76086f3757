//! Hover: the signature, effect, undo action, doc comment and policy limits of an action;
//! the declaration of any other name; the type of any expression.

use crate::analysis::View;
use crate::navigation::{DeclKind, declaration_at};
use crate::walk::{Visitor, walk_program};
use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Position};
use parry_compiler::ir::{self, EffectKind, Program, RefKind};
use parry_syntax::ast::{FileId, Span};

pub fn hover(v: &View, pos: Position) -> Option<Hover> {
    let offset = v.offset(pos) as u32;
    let program = &v.snap.program;
    let (span, text) = if let Some(r) = program.reference_at(v.file, offset) {
        (r.span, describe_reference(v, r))
    } else if let Some(d) = declaration_at(v, offset) {
        (d.name_span, describe_declaration(v, &d.kind))
    } else {
        let (span, ty) = expr_at(program, v.file, offset)?;
        (span, code(&ty.to_string()))
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: text }),
        range: Some(v.range(span)),
    })
}

fn code(s: &str) -> String {
    format!("```parry\n{s}\n```")
}

fn with_doc(mut text: String, doc: Option<&String>) -> String {
    if let Some(doc) = doc.filter(|d| !d.trim().is_empty()) {
        text.push_str("\n\n---\n\n");
        text.push_str(doc.trim());
    }
    text
}

fn describe_reference(v: &View, r: &ir::Reference) -> String {
    let program = &v.snap.program;
    if r.kind == RefKind::Action
        && let Some((c, a)) = find_action(program, r.def)
    {
        return describe_action(v, c, a);
    }
    if let Some(d) = declarations_by_span(v, r.def) {
        return describe_declaration(v, &d);
    }
    with_doc(code(&r.detail), r.doc.as_ref())
}

/// The declaration at a definition span in any file of the snapshot.
fn declarations_by_span(v: &View, def: Span) -> Option<DeclKind> {
    if def == Span::default() {
        return None;
    }
    crate::navigation::declarations(&v.snap.program, def.file)
        .into_iter()
        .find(|d| d.name_span == def)
        .map(|d| d.kind)
}

fn find_action(program: &Program, def: Span) -> Option<(&ir::Connector, &ir::Action)> {
    program.connectors.iter().find_map(|c| c.actions.iter().find(|a| a.name_span == def).map(|a| (c, a)))
}

pub fn describe_action(v: &View, c: &ir::Connector, a: &ir::Action) -> String {
    let config = &v.snap.config;
    let mut text = code(&parry_compiler::action_signature(c, a));
    if let Some(doc) = a.doc.as_ref().filter(|d| !d.trim().is_empty()) {
        text.push_str("\n\n");
        text.push_str(doc.trim());
    }
    text.push_str("\n\n---\n\n");
    let effect = match a.effect.kind {
        EffectKind::Read => {
            "**effect** `read`: no side effect; safe to retry and to run concurrently".to_string()
        }
        EffectKind::Write => "**effect** `write`: a benign side effect that need not be undone".to_string(),
        EffectKind::Reversible => "**effect** `reversible`: changes state and can be undone".to_string(),
        EffectKind::Destructive => {
            "**effect** `destructive`: irreversible; must run inside an `approve` block".to_string()
        }
    };
    text.push_str(&effect);
    if let Some(undo) = a.effect.undo.and_then(|u| c.actions.get(u.index as usize)) {
        text.push_str(&format!("\n\n**undo** `{}.{}` (run by `parry undo`)", c.name, undo.name));
    }
    let listed = config.requires_approval(&c.name, &a.name);
    if listed {
        text.push_str(&format!(
            "\n\n**policy** `{}.{}` is listed in `policy.require_approval`: it must run inside an `approve` block",
            c.name, a.name
        ));
    }
    if a.effect.kind == EffectKind::Reversible && !listed {
        let n = config.max_auto_targets(&c.name, &a.name);
        let per_action =
            config.policy.actions.get(&format!("{}.{}", c.name, a.name)).and_then(|p| p.max_auto_targets);
        let source = if per_action.is_some() {
            format!("`policy.actions.\"{}.{}\".max_auto_targets`", c.name, a.name)
        } else {
            "`policy.max_auto_targets`".to_string()
        };
        text.push_str(&format!(
            "\n\n**policy** at most {n} automatic calls per run without an approval ({source})"
        ));
    }
    text
}

fn params_text(params: &[ir::Param]) -> String {
    params
        .iter()
        .map(|p| {
            let default = if p.default.is_some() { " = …" } else { "" };
            format!("{}: {}{default}", p.name, p.ty)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_declaration(v: &View, d: &DeclKind) -> String {
    let program = &v.snap.program;
    match d {
        DeclKind::Type(i) => match program.types.get(*i) {
            Some(t) => with_doc(code(&format!("type {} = {}", t.name, t.ty)), t.doc.as_ref()),
            None => String::new(),
        },
        DeclKind::Enum(i) => match program.enums.get(*i) {
            Some(e) => {
                let variants: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
                with_doc(code(&format!("enum {} {{ {} }}", e.name, variants.join(", "))), e.doc.as_ref())
            }
            None => String::new(),
        },
        DeclKind::Variant(i, j) => match program.enums.get(*i) {
            Some(e) => {
                let name = e.variants.get(*j).map(|v| v.name.as_str()).unwrap_or("?");
                code(&format!("{}.{name}  (variant {} of {})", e.name, j + 1, e.variants.len()))
            }
            None => String::new(),
        },
        DeclKind::Connector(i) => match program.connectors.get(*i) {
            Some(c) => {
                let actions: Vec<String> = c
                    .actions
                    .iter()
                    .map(|a| {
                        format!(
                            "  action {}({}) effect {}",
                            a.name,
                            params_text(&a.params),
                            a.effect.kind.name()
                        )
                    })
                    .collect();
                let body =
                    if actions.is_empty() { String::new() } else { format!("\n{}\n", actions.join("\n")) };
                let implementation = match v.snap.config.connectors.get(&c.name).and_then(|t| t.get("impl")) {
                    Some(i) => format!("\n\nimplementation: `{}` (parry.toml)", i.as_str().unwrap_or("?")),
                    None => String::new(),
                };
                with_doc(code(&format!("connector {} {{{body}}}", c.name)), c.doc.as_ref()) + &implementation
            }
            None => String::new(),
        },
        DeclKind::Action(i, j) => {
            match program.connectors.get(*i).and_then(|c| Some((c, c.actions.get(*j)?))) {
                Some((c, a)) => describe_action(v, c, a),
                None => String::new(),
            }
        }
        DeclKind::Function(i) => match program.functions.get(*i) {
            Some(f) => {
                let ret = if f.ret == ir::Type::Unit { String::new() } else { format!(" -> {}", f.ret) };
                let sig = format!("fn {}({}){ret}", f.name, params_text(&f.params));
                let text = with_doc(code(&sig), f.doc.as_ref());
                format!(
                    "{text}\n\n**effect** `{}` (the strongest effect of the actions it reaches)",
                    f.effect.name()
                )
            }
            None => String::new(),
        },
        DeclKind::Playbook(i) => match program.playbooks.get(*i) {
            Some(p) => {
                let param = p.param.as_ref().map(|p| format!("{}: {}", p.name, p.ty)).unwrap_or_default();
                let text = with_doc(code(&format!("playbook {}({param})", p.name)), p.doc.as_ref());
                let mut text =
                    format!("{text}\n\n**effect** `{}` (the strongest effect of a run)", p.effect.name());
                if let Some(ms) = p.saves_ms {
                    text.push_str(&format!("\n\n**saves** {} minutes of analyst time per run", ms / 60_000));
                }
                text
            }
            None => String::new(),
        },
        DeclKind::Const(i) => match program.consts.get(*i) {
            Some(c) => with_doc(code(&format!("const {}: {}", c.name, c.ty)), c.doc.as_ref()),
            None => String::new(),
        },
        DeclKind::Local { name, ty, keyword } => match *keyword {
            "let" => code(&format!("let {name}: {ty}")),
            _ => code(&format!("{name}: {ty}")),
        },
        DeclKind::Field { name, ty, doc } => with_doc(code(&format!("{name}: {ty}")), doc.as_ref()),
    }
}

/// The innermost expression of `file` containing `offset` whose type is known.
pub fn expr_at(program: &Program, file: FileId, offset: u32) -> Option<(Span, ir::Type)> {
    struct Find {
        file: FileId,
        offset: u32,
        best: Option<(Span, ir::Type)>,
    }
    impl Visitor for Find {
        fn expr(&mut self, e: &ir::Expr) {
            let inside = e.span.file == self.file && e.span.start <= self.offset && self.offset < e.span.end;
            let typed = !matches!(e.ty, ir::Type::Unknown | ir::Type::Never)
                && !matches!(e.kind, ir::ExprKind::Error);
            let smaller =
                self.best.as_ref().is_none_or(|(b, _)| e.span.end - e.span.start <= b.end - b.start);
            if inside && typed && smaller {
                self.best = Some((e.span, e.ty.clone()));
            }
        }
    }
    let mut find = Find { file, offset, best: None };
    walk_program(program, &mut find);
    find.best
}
