//! Go-to-definition, find-references and rename, over the compiler's resolved references.

use crate::analysis::View;
use crate::walk::{Visitor, walk_program};
use lsp_types::{Location, Position, PrepareRenameResponse, TextEdit, Url, WorkspaceEdit};
use parry_compiler::ir::{self, Program, RefKind};
use parry_syntax::ast::{FileId, Span};
use std::collections::HashMap;

/// A declaration whose name is written in a file: what it is and how hover shows it.
pub struct Declaration {
    pub name_span: Span,
    pub kind: DeclKind,
}

pub enum DeclKind {
    Type(usize),
    Enum(usize),
    Variant(usize, usize),
    Connector(usize),
    Action(usize, usize),
    Function(usize),
    Playbook(usize),
    Const(usize),
    /// A parameter, `let`, loop variable or `catch` binding, with its type.
    Local {
        name: String,
        ty: ir::Type,
        keyword: &'static str,
    },
    /// A field of a declared record type.
    Field {
        name: String,
        ty: ir::Type,
        doc: Option<String>,
    },
}

/// Every declaration whose name lies in `file`.
pub fn declarations(program: &Program, file: FileId) -> Vec<Declaration> {
    let mut out = Vec::new();
    let mut push = |name_span: Span, kind: DeclKind| {
        if name_span.file == file && name_span != Span::default() {
            out.push(Declaration { name_span, kind });
        }
    };
    for (i, t) in program.types.iter().enumerate() {
        push(t.name_span, DeclKind::Type(i));
        if let ir::Type::Record { fields } = &t.ty {
            for f in fields {
                push(f.span, DeclKind::Field { name: f.name.clone(), ty: f.ty.clone(), doc: f.doc.clone() });
            }
        }
    }
    for (i, e) in program.enums.iter().enumerate() {
        push(e.name_span, DeclKind::Enum(i));
        for (j, v) in e.variants.iter().enumerate() {
            push(v.span, DeclKind::Variant(i, j));
        }
    }
    for (i, c) in program.connectors.iter().enumerate() {
        push(c.name_span, DeclKind::Connector(i));
        for (j, a) in c.actions.iter().enumerate() {
            push(a.name_span, DeclKind::Action(i, j));
        }
    }
    for (i, f) in program.functions.iter().enumerate() {
        push(f.name_span, DeclKind::Function(i));
    }
    for (i, p) in program.playbooks.iter().enumerate() {
        push(p.name_span, DeclKind::Playbook(i));
    }
    for (i, c) in program.consts.iter().enumerate() {
        push(c.name_span, DeclKind::Const(i));
    }
    struct Locals<'a> {
        file: FileId,
        out: &'a mut Vec<Declaration>,
    }
    impl Visitor for Locals<'_> {
        fn param(&mut self, p: &ir::Param) {
            if p.name_span.file == self.file {
                let kind = DeclKind::Local { name: p.name.clone(), ty: p.ty.clone(), keyword: "param" };
                self.out.push(Declaration { name_span: p.name_span, kind });
            }
        }
        fn stmt(&mut self, s: &ir::Stmt) {
            if let ir::StmtKind::Let { name, name_span, value, .. } = &s.kind
                && name_span.file == self.file
            {
                let kind = DeclKind::Local { name: name.clone(), ty: value.ty.clone(), keyword: "let" };
                self.out.push(Declaration { name_span: *name_span, kind });
            }
        }
        fn for_loop(&mut self, f: &ir::ForLoop, _span: Span) {
            if f.var_span.file == self.file {
                let ty = match &f.iter.ty {
                    ir::Type::List { item } => (**item).clone(),
                    ir::Type::Json => ir::Type::Json,
                    _ => ir::Type::Unknown,
                };
                let kind = DeclKind::Local { name: f.var_name.clone(), ty, keyword: "for" };
                self.out.push(Declaration { name_span: f.var_span, kind });
            }
        }
    }
    walk_program(program, &mut Locals { file, out: &mut out });
    out
}

/// The declaration whose name contains `offset`.
pub fn declaration_at(v: &View, offset: u32) -> Option<Declaration> {
    declarations(&v.snap.program, v.file)
        .into_iter()
        .filter(|d| d.name_span.start <= offset && offset <= d.name_span.end)
        .min_by_key(|d| d.name_span.end - d.name_span.start)
}

/// The definition the name at `offset` refers to (or is), with its kind when known.
fn target_at(v: &View, offset: u32) -> Option<(Span, Option<RefKind>)> {
    if let Some(r) = v.snap.program.reference_at(v.file, offset)
        && r.def != Span::default()
    {
        return Some((r.def, Some(r.kind)));
    }
    let d = declaration_at(v, offset)?;
    let kind = v.snap.program.references.iter().find(|r| r.def == d.name_span).map(|r| r.kind);
    Some((d.name_span, kind))
}

pub fn definition(v: &View, pos: Position) -> Option<Location> {
    let (def, _) = target_at(v, v.offset(pos) as u32)?;
    v.location(def)
}

pub fn references(v: &View, pos: Position, include_declaration: bool) -> Vec<Location> {
    let Some((def, _)) = target_at(v, v.offset(pos) as u32) else { return Vec::new() };
    let mut spans: Vec<Span> =
        v.snap.program.references.iter().filter(|r| r.def == def).map(|r| r.span).collect();
    if include_declaration {
        spans.push(def);
    }
    spans.sort_by_key(|s| (s.file, s.start));
    spans.dedup();
    spans.into_iter().filter_map(|s| v.location(s)).collect()
}

/// The part of `span` that spells `name`: the whole span, or its last segment when the
/// use is qualified (`mail.search`, `Verdict.malicious`).
fn name_part(text: &str, span: Span, name: &str) -> Option<Span> {
    let written = text.get(span.range())?;
    if written == name {
        return Some(span);
    }
    let start = (span.end as usize).checked_sub(name.len())?;
    let qualified = written.ends_with(name) && text.get(..start).is_some_and(|before| before.ends_with('.'));
    qualified.then(|| Span::new(span.file, start, span.end as usize))
}

fn file_text(v: &View, file: FileId) -> Option<String> {
    if file == v.file {
        return Some(v.text.to_string());
    }
    v.snap.sources.get(file).map(|f| f.text.clone())
}

/// Every span to rewrite to rename what is at `offset`, or why it cannot be renamed.
fn rename_spans(v: &View, offset: u32) -> Result<(Span, Vec<Span>), String> {
    let (def, kind) = target_at(v, offset).ok_or("there is nothing to rename here")?;
    if !v.snap.is_user_file(def.file) {
        return Err("this name is declared by the standard library and cannot be renamed".into());
    }
    if matches!(kind, Some(RefKind::Builtin)) {
        return Err("built-in names cannot be renamed".into());
    }
    if matches!(kind, Some(RefKind::Field))
        || declaration_at(v, offset).is_some_and(|d| matches!(d.kind, DeclKind::Field { .. }))
    {
        return Err("fields cannot be renamed: record literals and alerts spell them too".into());
    }
    let def_text = file_text(v, def.file).ok_or("the declaration's file is not available")?;
    let name = def_text.get(def.range()).ok_or("the declaration is out of date")?.to_string();
    let mut spans = vec![def];
    for r in v.snap.program.references.iter().filter(|r| r.def == def) {
        let text = file_text(v, r.span.file).unwrap_or_default();
        if let Some(part) = name_part(&text, r.span, &name) {
            spans.push(part);
        }
    }
    spans.sort_by_key(|s| (s.file, s.start));
    spans.dedup();
    let here = spans
        .iter()
        .find(|s| s.file == v.file && s.start <= offset && offset <= s.end)
        .copied()
        .ok_or("there is nothing to rename here")?;
    Ok((here, spans))
}

pub fn prepare_rename(v: &View, pos: Position) -> Option<PrepareRenameResponse> {
    let (here, _) = rename_spans(v, v.offset(pos) as u32).ok()?;
    Some(PrepareRenameResponse::Range(v.range(here)))
}

pub fn rename(v: &View, pos: Position, new_name: &str) -> Result<WorkspaceEdit, String> {
    if !is_identifier(new_name) {
        return Err(format!(
            "`{new_name}` is not a valid name: use letters, digits and `_`, not starting with a digit"
        ));
    }
    if is_keyword(new_name) {
        return Err(format!("`{new_name}` is a keyword and cannot be used as a name"));
    }
    let (_, spans) = rename_spans(v, v.offset(pos) as u32)?;
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for span in spans {
        let location = v.location(span).ok_or("a use of this name is in a file that cannot be edited")?;
        changes
            .entry(location.uri)
            .or_default()
            .push(TextEdit { range: location.range, new_text: new_name.to_string() });
    }
    Ok(WorkspaceEdit { changes: Some(changes), ..Default::default() })
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub use parry_syntax::KEYWORDS;

/// A reserved word, or `_` (which is never a name).
pub fn is_keyword(s: &str) -> bool {
    s == "_" || KEYWORDS.contains(&s)
}
