//! Completion: actions after `connector.`, fields after `value.`, variants after `Enum.`,
//! approver groups inside `by "`, and otherwise keywords, snippets and the names in scope.

use crate::analysis::View;
use crate::navigation::{DeclKind, KEYWORDS, declarations};
use crate::walk::{Visitor, walk_program};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionItemLabelDetails, Documentation, InsertTextFormat,
    MarkupContent, MarkupKind, Position,
};
use parry_compiler::ir::{self, Builtin, Program, Type};
use parry_syntax::ast::{FileId, Span};

pub fn complete(v: &View, pos: Position) -> Vec<CompletionItem> {
    let offset = v.offset(pos);
    let before = v.text.get(..offset).unwrap_or("");
    let line = before.rsplit('\n').next().unwrap_or("");
    if let Some(items) = approver_groups(v, line) {
        return items;
    }
    let word_start = before.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
    let head = &before[..word_start];
    if let Some(receiver_end) = head.strip_suffix("?.").or_else(|| head.strip_suffix('.')).map(str::len) {
        return after_dot(v, receiver_end, word_start);
    }
    general(v, offset)
}

/// Inside `by "` of an `approve`: the groups of `[approvers]`.
fn approver_groups(v: &View, line: &str) -> Option<Vec<CompletionItem>> {
    let quote = line.rfind('"')?;
    let open = line[..quote].trim_end().ends_with(" by") || line[..quote].trim_end() == "by";
    let closed = line[quote + 1..].contains('"');
    if !open || closed || !line[..quote].matches('"').count().is_multiple_of(2) {
        return None;
    }
    Some(
        v.snap
            .config
            .approvers
            .iter()
            .map(|(group, members)| CompletionItem {
                label: group.clone(),
                kind: Some(CompletionItemKind::VALUE),
                detail: Some(format!("approvers: {}", members.join(", "))),
                documentation: Some(markdown("An approver group from `[approvers]` in parry.toml.".into())),
                ..Default::default()
            })
            .collect(),
    )
}

fn markdown(value: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })
}

fn after_dot(v: &View, receiver_end: usize, word_start: usize) -> Vec<CompletionItem> {
    let program = &v.snap.program;
    let receiver_text = v.text.get(..receiver_end).unwrap_or("");
    let name_start = receiver_text.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
    let name = &receiver_text[name_start..];
    let simple = !receiver_text[..name_start].ends_with('.') && !receiver_text[..name_start].ends_with('?');
    if simple && !name.is_empty() {
        if let Some((_, c)) = program.connector(name) {
            return c.actions.iter().map(|a| action_item(v, c, a)).collect();
        }
        if let Some(e) = program.enums.iter().find(|e| e.name == name) {
            return e
                .variants
                .iter()
                .map(|variant| CompletionItem {
                    label: variant.name.clone(),
                    kind: Some(CompletionItemKind::ENUM_MEMBER),
                    detail: Some(format!("{}.{}", e.name, variant.name)),
                    ..Default::default()
                })
                .collect();
        }
    }
    match receiver_type(v, receiver_end, word_start) {
        Some(ty) => fields_of(program, &ty)
            .into_iter()
            .map(|f| CompletionItem {
                label: f.name.clone(),
                kind: Some(CompletionItemKind::FIELD),
                detail: Some(f.ty.to_string()),
                documentation: f.doc.clone().map(markdown),
                ..Default::default()
            })
            .collect(),
        None => Vec::new(),
    }
}

pub fn action_item(v: &View, c: &ir::Connector, a: &ir::Action) -> CompletionItem {
    let params: Vec<String> = a
        .params
        .iter()
        .filter(|p| p.default.is_none())
        .enumerate()
        .map(|(i, p)| format!("${{{}:{}}}", i + 1, p.name))
        .collect();
    CompletionItem {
        label: a.name.clone(),
        kind: Some(CompletionItemKind::METHOD),
        label_details: Some(CompletionItemLabelDetails {
            detail: None,
            description: Some(format!("effect {}", a.effect.kind.name())),
        }),
        detail: Some(parry_compiler::action_signature(c, a)),
        documentation: Some(markdown(crate::hover::describe_action(v, c, a))),
        insert_text: Some(format!("{}({})", a.name, params.join(", "))),
        insert_text_format: Some(InsertTextFormat::SNIPPET),
        ..Default::default()
    }
}

/// The fields a value of type `ty` has (records, `Run`, caught errors, through aliases and
/// optionals).
fn fields_of(program: &Program, ty: &Type) -> Vec<ir::FieldType> {
    match program.resolve_type(ty) {
        Type::Record { fields } => fields.clone(),
        Type::Optional { inner } => fields_of(program, inner),
        Type::Run => Type::run_fields(),
        Type::Error => Type::error_fields(),
        _ => Vec::new(),
    }
}

/// The type of the expression that ends at `receiver_end` (just before the `.`). The
/// document is recompiled without the `.` and the partial word after it, so the receiver
/// is typed exactly as the program is written now.
fn receiver_type(v: &View, receiver_end: usize, word_start: usize) -> Option<Type> {
    let word_end = word_start
        + v.text
            .get(word_start..)
            .unwrap_or("")
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(0);
    let mut patched = String::with_capacity(v.text.len());
    patched.push_str(v.text.get(..receiver_end)?);
    patched.push_str(v.text.get(word_end..)?);
    let snap = v.snap;
    let path = snap.sources.get(v.file)?.path.clone();
    let files: Vec<(std::path::PathBuf, String)> = snap
        .sources
        .files()
        .iter()
        .filter(|f| snap.is_user_file(f.id))
        .map(|f| (f.path.clone(), if f.id == v.file { patched.clone() } else { f.text.clone() }))
        .collect();
    let compiled = parry_compiler::compile_sources(files, snap.config.clone());
    let file = compiled.file_id(&path)?;
    innermost_ending_at(&compiled.program, file, receiver_end as u32)
}

fn innermost_ending_at(program: &Program, file: FileId, end: u32) -> Option<Type> {
    struct Find {
        file: FileId,
        end: u32,
        best: Option<(Span, Type)>,
    }
    impl Visitor for Find {
        fn expr(&mut self, e: &ir::Expr) {
            if e.span.file != self.file || e.span.end != self.end || e.ty.is_unknown() {
                return;
            }
            if self.best.as_ref().is_none_or(|(b, _)| e.span.start > b.start) {
                self.best = Some((e.span, e.ty.clone()));
            }
        }
    }
    let mut find = Find { file, end, best: None };
    walk_program(program, &mut find);
    find.best.map(|(_, t)| t)
}

const SNIPPETS: &[(&str, &str, &str)] = &[
    ("playbook", "playbook ${1:name}(${2:alert}: ${3:Alert}) {\n  $0\n}", "a playbook"),
    (
        "approve",
        "approve \"${1:prompt}\" by \"${2:group}\" {\n  $0\n} else {\n  escalate \"${3:approval denied}\"\n}",
        "an approval gate",
    ),
    ("for", "for ${1:item} in ${2:items} limit ${3:10} {\n  $0\n}", "a bounded loop"),
    ("match", "match ${1:value} {\n  ${2:pattern} => $0\n  _ => ${3:resolve \"done\"}\n}", "a match"),
    ("try", "try {\n  $1\n} catch ${2:err} {\n  $0\n}", "catch an action's failure"),
    ("if", "if ${1:condition} {\n  $0\n}", "a condition"),
    ("let", "let ${1:name} = $0", "a binding"),
    ("fn", "fn ${1:name}(${2}) -> ${3:bool} {\n  $0\n}", "a function"),
    (
        "connector",
        "connector ${1:name} {\n  action ${2:action}(${3}) effect ${4:read}\n}",
        "a connector interface",
    ),
    ("test", "test \"${1:description}\" {\n  $0\n}", "a test"),
    ("mock", "mock ${1:connector}.${2:action}(..) = $0", "mock an action (tests)"),
];

fn general(v: &View, offset: usize) -> Vec<CompletionItem> {
    let program = &v.snap.program;
    let mut items = Vec::new();
    for (label, body, detail) in SNIPPETS {
        items.push(CompletionItem {
            label: label.to_string(),
            kind: Some(CompletionItemKind::SNIPPET),
            detail: Some(detail.to_string()),
            insert_text: Some(body.to_string()),
            insert_text_format: Some(InsertTextFormat::SNIPPET),
            ..Default::default()
        });
    }
    for kw in KEYWORDS {
        items.push(CompletionItem {
            label: kw.to_string(),
            kind: Some(CompletionItemKind::KEYWORD),
            ..Default::default()
        });
    }
    for c in &program.connectors {
        items.push(CompletionItem {
            label: c.name.clone(),
            kind: Some(CompletionItemKind::MODULE),
            detail: Some(format!("connector {} ({} actions)", c.name, c.actions.len())),
            documentation: c.doc.clone().map(markdown),
            ..Default::default()
        });
    }
    for f in &program.functions {
        items.push(named(&f.name, CompletionItemKind::FUNCTION, "fn", f.doc.as_ref()));
    }
    for p in &program.playbooks {
        items.push(named(&p.name, CompletionItemKind::FUNCTION, "playbook", p.doc.as_ref()));
    }
    for c in &program.consts {
        items.push(named(&c.name, CompletionItemKind::CONSTANT, &format!("const: {}", c.ty), c.doc.as_ref()));
    }
    for t in program.types.iter().filter(|t| t.connector.is_none()) {
        items.push(named(&t.name, CompletionItemKind::STRUCT, "type", t.doc.as_ref()));
    }
    for e in &program.enums {
        items.push(named(&e.name, CompletionItemKind::ENUM, "enum", e.doc.as_ref()));
    }
    for b in Builtin::ALL {
        items.push(CompletionItem {
            label: b.name().to_string(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(b.signature().to_string()),
            ..Default::default()
        });
    }
    // Locals declared earlier in the same declaration.
    let item_span =
        v.ast.items.iter().map(|i| i.span).find(|s| s.start as usize <= offset && offset <= s.end as usize);
    if let Some(item_span) = item_span {
        let mut seen = std::collections::HashSet::new();
        for d in declarations(program, v.file) {
            if let DeclKind::Local { name, ty, .. } = &d.kind
                && item_span.contains(&d.name_span)
                && (d.name_span.end as usize) <= offset
                && seen.insert(name.clone())
            {
                items.push(CompletionItem {
                    label: name.clone(),
                    kind: Some(CompletionItemKind::VARIABLE),
                    detail: Some(ty.to_string()),
                    ..Default::default()
                });
            }
        }
    }
    items
}

fn named(name: &str, kind: CompletionItemKind, detail: &str, doc: Option<&String>) -> CompletionItem {
    CompletionItem {
        label: name.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        documentation: doc.cloned().map(markdown),
        ..Default::default()
    }
}
