//! Name resolution and type checking: lowers the ASTs of every file of a compilation to
//! one typed [`Program`], reporting what is wrong on the way.
//!
//! Phases: (1) collect every declaration into its namespace (values, types, connectors and
//! their actions and types), detecting duplicates; (2) resolve written types and
//! signatures; (3) lower bodies (consts on demand, then functions, playbooks and tests).
//! The safety analyses then run over the IR (see `crate::analysis`).

mod builtin;
mod expr;
mod stmt;
pub(crate) mod types;

use crate::Diagnostic;
use crate::ir::*;
use crate::project::Config;
use crate::source::SourceMap;
use parry_syntax::ast::{self, Span};
use std::collections::HashMap;

/// What a value name refers to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueRef {
    Const(ConstId),
    Fn(FnId),
    Playbook(PlaybookId),
}

/// What a type name refers to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TypeRef {
    Named(TypeId),
    Enum(EnumId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConstState {
    Pending,
    InProgress,
    Done,
}

/// An `@allow` attribute, validated.
#[derive(Clone, Debug)]
pub(crate) struct Allow {
    pub code: String,
    pub reason: String,
    /// The statement or declaration it covers.
    pub covers: Span,
    /// `false` when the attribute itself is an error: it suppresses nothing.
    pub valid: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct LocalInfo {
    pub name: String,
    pub ty: Type,
    /// The binding's name.
    pub def: Span,
    /// Where its value comes from (the `let` value, the parameter), for `secret-leak`.
    pub origin: Span,
    pub is_let: bool,
    pub used: bool,
    pub kind: RefKind,
}

/// State of the body being lowered.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyCtx {
    /// `playbook:NAME`, `fn:NAME`, `test:"NAME"`, `const:NAME`.
    pub item: String,
    pub scopes: Vec<Vec<(String, Slot)>>,
    pub locals: Vec<LocalInfo>,
    /// The connector whose types are visible by bare name.
    pub connector: Option<ConnectorId>,
    pub in_test: bool,
    /// Enclosing `approve` bodies (innermost last).
    pub gates: Vec<Span>,
    /// Enclosing loops: their bound and span.
    pub loops: Vec<(Multiplicity, Span)>,
    /// IR path of the current node, for call-site ids.
    pub path: Vec<String>,
    /// Call counters per statement nesting level.
    pub counters: Vec<u32>,
}

pub(crate) struct Checker<'a> {
    pub config: &'a Config,
    pub sources: &'a SourceMap,
    pub program: Program,
    pub diags: Vec<Diagnostic>,
    pub allows: Vec<Allow>,
    pub values: HashMap<String, ValueRef>,
    pub types: HashMap<String, TypeRef>,
    pub connectors: HashMap<String, ConnectorId>,
    pub conn_types: HashMap<(u32, String), TypeId>,
    pub actions: HashMap<(u32, String), u32>,
    pub body: BodyCtx,
    type_asts: Vec<&'a ast::TypeDecl>,
    conn_asts: Vec<&'a ast::Connector>,
    fn_asts: Vec<&'a ast::FnDecl>,
    pb_asts: Vec<&'a ast::Playbook>,
    const_asts: Vec<&'a ast::ConstDecl>,
    const_state: Vec<ConstState>,
    test_asts: Vec<&'a ast::TestDecl>,
    /// Item attributes, applied once the item is lowered.
    item_attrs: Vec<(&'a [ast::Attribute], Span)>,
}

const BUILTIN_ENUMS: &[(&str, &[&str])] = &[
    ("Verdict", &["unknown", "benign", "suspicious", "malicious"]),
    ("Severity", &["low", "medium", "high", "critical"]),
    ("Disposition", &["resolved", "escalated", "awaiting_approval", "failed", "completed"]),
];

/// Lowers the parsed files (user files first, then the standard library) to a program.
pub(crate) fn check(
    files: &[(ast::SourceFile, bool)],
    sources: &SourceMap,
    config: &Config,
) -> (Program, Vec<Diagnostic>, Vec<Allow>) {
    let mut c = Checker {
        config,
        sources,
        program: Program::default(),
        diags: Vec::new(),
        allows: Vec::new(),
        values: HashMap::new(),
        types: HashMap::new(),
        connectors: HashMap::new(),
        conn_types: HashMap::new(),
        actions: HashMap::new(),
        body: BodyCtx::default(),
        type_asts: Vec::new(),
        conn_asts: Vec::new(),
        fn_asts: Vec::new(),
        pb_asts: Vec::new(),
        const_asts: Vec::new(),
        const_state: Vec::new(),
        test_asts: Vec::new(),
        item_attrs: Vec::new(),
    };
    c.builtin_enums();
    c.collect(files);
    c.resolve_declarations();
    c.lower_bodies();
    for (attrs, span) in std::mem::take(&mut c.item_attrs) {
        c.attributes(attrs, span);
    }
    (c.program, c.diags, c.allows)
}

impl<'a> Checker<'a> {
    fn builtin_enums(&mut self) {
        for (name, variants) in BUILTIN_ENUMS {
            let id = EnumId(self.program.enums.len() as u32);
            self.program.enums.push(EnumDef {
                name: name.to_string(),
                variants: variants
                    .iter()
                    .map(|v| Variant { name: v.to_string(), span: Span::default() })
                    .collect(),
                doc: None,
                builtin: true,
                name_span: Span::default(),
                span: Span::default(),
            });
            self.types.insert(name.to_string(), TypeRef::Enum(id));
        }
    }

    // ---------------------------------------------------------------- phase 1: collect

    fn collect(&mut self, files: &'a [(ast::SourceFile, bool)]) {
        // (namespace, name) -> (definition span, from the standard library)
        let mut seen: HashMap<(u8, String), (Span, bool)> = HashMap::new();
        for (name, _) in BUILTIN_ENUMS {
            seen.insert((1, name.to_string()), (Span::default(), false));
        }
        for s in types::SCALARS.iter().copied().chain(SecurityKind::ALL.iter().map(|k| k.name())) {
            seen.insert((1, s.to_string()), (Span::default(), false));
        }
        let mut test_names: HashMap<String, Span> = HashMap::new();
        for (file, stdlib) in files {
            for item in &file.items {
                let Some(name) = item.name() else {
                    if let ast::ItemKind::Test(t) = &item.kind {
                        if let Some(first) = test_names.get(&t.name) {
                            let first = *first;
                            self.duplicate(&t.name, "test", t.name_span, Some(first));
                        } else {
                            test_names.insert(t.name.clone(), t.name_span);
                        }
                        self.test_asts.push(t);
                        self.program.tests.push(Test {
                            name: t.name.clone(),
                            body: empty_body(t.body.span),
                            name_span: t.name_span,
                            span: item.span,
                        });
                        self.item_attrs.push((&item.attrs, item.span));
                    }
                    continue;
                };
                let ns: u8 = match &item.kind {
                    ast::ItemKind::Type(_) | ast::ItemKind::Enum(_) => 1,
                    ast::ItemKind::Connector(_) => 2,
                    _ => 0,
                };
                let what = item_kind_name(&item.kind);
                if let Some(&(first, first_std)) = seen.get(&(ns, name.name.to_string())) {
                    if *stdlib && !first_std {
                        // A user declaration shadows the standard library's.
                        continue;
                    }
                    self.duplicate(&name.name, what, name.span, Some(first));
                    continue;
                }
                seen.insert((ns, name.name.to_string()), (name.span, *stdlib));
                self.item_attrs.push((&item.attrs, item.span));
                let doc = item.doc.clone();
                match &item.kind {
                    ast::ItemKind::Type(t) => {
                        let id = TypeId(self.program.types.len() as u32);
                        self.program.types.push(TypeDef {
                            name: t.name.name.to_string(),
                            connector: None,
                            ty: Type::Unknown,
                            doc,
                            name_span: t.name.span,
                            span: item.span,
                        });
                        self.type_asts.push(t);
                        self.types.insert(t.name.name.to_string(), TypeRef::Named(id));
                    }
                    ast::ItemKind::Enum(e) => {
                        let id = EnumId(self.program.enums.len() as u32);
                        let mut variants: Vec<Variant> = Vec::new();
                        for v in &e.variants {
                            if let Some(prev) = variants.iter().find(|p| p.name == v.name) {
                                let prev = prev.span;
                                self.duplicate(&v.name, "variant", v.span, Some(prev));
                                continue;
                            }
                            variants.push(Variant { name: v.name.to_string(), span: v.span });
                        }
                        self.program.enums.push(EnumDef {
                            name: e.name.name.to_string(),
                            variants,
                            doc,
                            builtin: false,
                            name_span: e.name.span,
                            span: item.span,
                        });
                        self.types.insert(e.name.name.to_string(), TypeRef::Enum(id));
                    }
                    ast::ItemKind::Connector(conn) => self.collect_connector(conn, doc, item.span, *stdlib),
                    ast::ItemKind::Fn(f) => {
                        let id = FnId(self.program.functions.len() as u32);
                        self.program.functions.push(Function {
                            name: f.name.name.to_string(),
                            doc,
                            params: Vec::new(),
                            ret: Type::Unit,
                            body: empty_body(f.body.span),
                            effect: EffectKind::Read,
                            name_span: f.name.span,
                            span: item.span,
                        });
                        self.fn_asts.push(f);
                        self.values.insert(f.name.name.to_string(), ValueRef::Fn(id));
                    }
                    ast::ItemKind::Playbook(p) => {
                        let id = PlaybookId(self.program.playbooks.len() as u32);
                        self.program.playbooks.push(Playbook {
                            name: p.name.name.to_string(),
                            doc,
                            param: None,
                            when: None,
                            saves_ms: None,
                            body: empty_body(p.body.span),
                            effect: EffectKind::Read,
                            name_span: p.name.span,
                            span: item.span,
                        });
                        self.pb_asts.push(p);
                        self.values.insert(p.name.name.to_string(), ValueRef::Playbook(id));
                    }
                    ast::ItemKind::Const(k) => {
                        let id = ConstId(self.program.consts.len() as u32);
                        self.program.consts.push(Const {
                            name: k.name.name.to_string(),
                            doc,
                            ty: Type::Unknown,
                            value: empty_body(k.value.span),
                            name_span: k.name.span,
                            span: item.span,
                        });
                        self.const_asts.push(k);
                        self.const_state.push(ConstState::Pending);
                        self.values.insert(k.name.name.to_string(), ValueRef::Const(id));
                    }
                    ast::ItemKind::Test(_) => {}
                }
            }
        }
    }

    fn collect_connector(&mut self, conn: &'a ast::Connector, doc: Option<String>, span: Span, stdlib: bool) {
        let cid = ConnectorId(self.program.connectors.len() as u32);
        let mut connector = Connector {
            name: conn.name.name.to_string(),
            doc,
            types: Vec::new(),
            actions: Vec::new(),
            stdlib,
            name_span: conn.name.span,
            span,
        };
        let mut seen_types: HashMap<String, Span> = HashMap::new();
        let mut seen_actions: HashMap<String, Span> = HashMap::new();
        for m in &conn.members {
            match m {
                ast::ConnectorMember::Type { doc, decl, span } => {
                    if let Some(&first) = seen_types.get(decl.name.name.as_str()) {
                        self.duplicate(&decl.name.name, "type", decl.name.span, Some(first));
                        continue;
                    }
                    seen_types.insert(decl.name.name.to_string(), decl.name.span);
                    let tid = TypeId(self.program.types.len() as u32);
                    self.program.types.push(TypeDef {
                        name: format!("{}.{}", conn.name.name, decl.name.name),
                        connector: Some(cid),
                        ty: Type::Unknown,
                        doc: doc.clone(),
                        name_span: decl.name.span,
                        span: *span,
                    });
                    self.type_asts.push(decl);
                    self.conn_types.insert((cid.0, decl.name.name.to_string()), tid);
                    connector.types.push(tid);
                }
                ast::ConnectorMember::Action(a) => {
                    if let Some(&first) = seen_actions.get(a.name.name.as_str()) {
                        self.duplicate(&a.name.name, "action", a.name.span, Some(first));
                        continue;
                    }
                    seen_actions.insert(a.name.name.to_string(), a.name.span);
                    self.actions.insert((cid.0, a.name.name.to_string()), connector.actions.len() as u32);
                    connector.actions.push(Action {
                        name: a.name.name.to_string(),
                        doc: a.doc.clone(),
                        params: Vec::new(),
                        ret: Type::Unit,
                        effect: Effect { kind: EffectKind::Read, undo: None, span: a.effect.span },
                        requires_approval: false,
                        name_span: a.name.span,
                        span: a.span,
                    });
                }
            }
        }
        self.program.connectors.push(connector);
        self.conn_asts.push(conn);
        self.connectors.insert(conn.name.name.to_string(), cid);
    }

    // ---------------------------------------------------------------- phase 2: signatures

    fn resolve_declarations(&mut self) {
        // Declared types (top-level and connector-scoped).
        for i in 0..self.type_asts.len() {
            let decl = self.type_asts[i];
            let conn = self.program.types[i].connector;
            self.body = BodyCtx { connector: conn, ..BodyCtx::default() };
            let ty = self.resolve_type_expr(&decl.ty);
            // `type A = A` and other alias cycles resolve to nothing.
            let ty = if self.alias_cycle(TypeId(i as u32), &ty) {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("the type `{}` is defined in terms of itself", decl.name.name),
                        decl.ty.span,
                        "this refers back to the type being defined",
                    )
                    .with_help("a type alias must end in a concrete type; wrap recursion in a record field"),
                );
                Type::Unknown
            } else {
                ty
            };
            self.program.types[i].ty = ty;
        }
        // Connector actions.
        for ci in 0..self.conn_asts.len() {
            let conn = self.conn_asts[ci];
            let cid = ConnectorId(ci as u32);
            self.body = BodyCtx {
                connector: Some(cid),
                item: format!("connector:{}", conn.name.name),
                ..BodyCtx::default()
            };
            for m in &conn.members {
                let ast::ConnectorMember::Action(a) = m else { continue };
                let Some(&ai) = self.actions.get(&(cid.0, a.name.name.to_string())) else { continue };
                if self.program.connectors[ci].actions.get(ai as usize).map(|x| x.span) != Some(a.span) {
                    continue; // a duplicate, dropped
                }
                let params = self.params(&a.params);
                let ret = a.ret.as_ref().map(|t| self.resolve_type_expr(t)).unwrap_or(Type::Unit);
                let kind = match a.effect.kind {
                    ast::EffectKind::Read => EffectKind::Read,
                    ast::EffectKind::Write => EffectKind::Write,
                    ast::EffectKind::Reversible { .. } => EffectKind::Reversible,
                    ast::EffectKind::Destructive => EffectKind::Destructive,
                };
                let requires_approval = kind == EffectKind::Destructive
                    || self.config.requires_approval(&conn.name.name, &a.name.name);
                let action = &mut self.program.connectors[ci].actions[ai as usize];
                action.params = params;
                action.ret = ret;
                action.effect.kind = kind;
                action.requires_approval = requires_approval;
            }
            // Undo actions, once every action of the connector has its parameters.
            for m in &conn.members {
                let ast::ConnectorMember::Action(a) = m else { continue };
                let Some(&ai) = self.actions.get(&(cid.0, a.name.name.to_string())) else { continue };
                if self.program.connectors[ci].actions.get(ai as usize).map(|x| x.span) != Some(a.span) {
                    continue;
                }
                if let ast::EffectKind::Reversible { undo } = &a.effect.kind {
                    self.check_undo(cid, ai, a, undo.as_ref());
                }
            }
        }
        // Functions.
        for i in 0..self.fn_asts.len() {
            let f = self.fn_asts[i];
            self.body = BodyCtx { item: format!("fn:{}", f.name.name), ..BodyCtx::default() };
            let params = self.params(&f.params);
            let ret = f.ret.as_ref().map(|t| self.resolve_type_expr(t)).unwrap_or(Type::Unit);
            self.program.functions[i].params = params;
            self.program.functions[i].ret = ret;
        }
        // Playbooks.
        for i in 0..self.pb_asts.len() {
            let p = self.pb_asts[i];
            self.body = BodyCtx { item: format!("playbook:{}", p.name.name), ..BodyCtx::default() };
            let params = self.params(&p.params);
            if p.params.len() != 1 {
                let span = p.params.get(1).map(|x| x.span).unwrap_or(p.name.span);
                self.diags.push(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("the playbook `{}` takes {} parameters; a playbook takes exactly one", p.name.name, p.params.len()),
                        span,
                        "a playbook has one parameter: the alert",
                    )
                    .with_help("declare the alert's type and take it as the only parameter: `playbook NAME(alert: AlertType)`"),
                );
            }
            self.program.playbooks[i].param = params.into_iter().next();
        }
        // Declared const types.
        for i in 0..self.const_asts.len() {
            if let Some(t) = &self.const_asts[i].ty {
                self.body = BodyCtx::default();
                self.program.consts[i].ty = self.resolve_type_expr(t);
            }
        }
    }

    fn alias_cycle(&self, start: TypeId, ty: &Type) -> bool {
        let mut cur = ty.clone();
        for _ in 0..64 {
            match cur {
                Type::Named { id, .. } if id == start => return true,
                Type::Named { id, .. } => match self.program.type_def(id) {
                    Some(def) => cur = def.ty.clone(),
                    _ => return false,
                },
                _ => return false,
            }
        }
        true
    }

    fn check_undo(&mut self, cid: ConnectorId, ai: u32, a: &ast::ActionDecl, undo: Option<&ast::Ident>) {
        let conn_name = self.program.connectors[cid.0 as usize].name.clone();
        let Some(undo) = undo else {
            self.diags.push(
                Diagnostic::error(
                    "missing-undo",
                    format!("the reversible action `{conn_name}.{}` names no undo action", a.name.name),
                    a.effect.span,
                    "`reversible` needs `(undo: ACTION)`",
                )
                .with_help("name the action that reverses this one: `effect reversible(undo: ACTION)`"),
            );
            return;
        };
        let Some(&ui) = self.actions.get(&(cid.0, undo.name.to_string())) else {
            let cands: Vec<String> = self.program.connectors[cid.0 as usize]
                .actions
                .iter()
                .filter(|x| x.name != a.name.name)
                .map(|x| x.name.clone())
                .collect();
            let mut d = Diagnostic::error(
                "missing-undo",
                format!(
                    "the undo action `{}` of `{conn_name}.{}` does not exist in connector `{conn_name}`",
                    undo.name, a.name.name
                ),
                undo.span,
                "no such action in this connector",
            );
            d = match crate::suggest::did_you_mean(&undo.name, cands.iter().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "declare `action {}(...)` in `{conn_name}` with the same parameter types, or name an existing action",
                    undo.name
                )),
            };
            self.diags.push(d);
            return;
        };
        let undo_id = ActionId { connector: cid, index: ui };
        self.program.connectors[cid.0 as usize].actions[ai as usize].effect.undo = Some(undo_id);
        self.reference_action(undo_id, undo.span);
        let conn = &self.program.connectors[cid.0 as usize];
        let (Some(this), Some(other)) = (conn.actions.get(ai as usize), conn.actions.get(ui as usize)) else {
            return;
        };
        let same = this.params.len() == other.params.len()
            && this.params.iter().zip(&other.params).all(|(x, y)| self.same_type(&x.ty, &y.ty));
        if !same {
            let sig = |p: &[Param]| p.iter().map(|x| x.ty.to_string()).collect::<Vec<_>>().join(", ");
            let d = Diagnostic::error(
                "missing-undo",
                format!(
                    "the undo action `{conn_name}.{}` takes ({}) but `{conn_name}.{}` takes ({})",
                    undo.name,
                    sig(&other.params),
                    a.name.name,
                    sig(&this.params)
                ),
                undo.span,
                "this undo action takes other parameters",
            )
            .with_secondary(other.name_span, "declared here")
            .with_help("an undo action must take the same parameter types in the same order");
            self.diags.push(d);
        }
    }

    /// Lowers parameters: types and defaults (defaults see consts, not other parameters).
    fn params(&mut self, params: &[ast::Param]) -> Vec<Param> {
        let mut out: Vec<Param> = Vec::new();
        for (i, p) in params.iter().enumerate() {
            if let Some(prev) = out.iter().find(|x| x.name == p.name.name) {
                let prev = prev.name_span;
                self.duplicate(&p.name.name, "parameter", p.name.span, Some(prev));
            }
            let ty = self.resolve_type_expr(&p.ty);
            let default = p.default.as_ref().map(|d| self.expr(d, &expr::Want::Expect(ty.clone())));
            out.push(Param {
                name: p.name.name.to_string(),
                slot: Slot(i as u32),
                ty,
                default,
                name_span: p.name.span,
                span: p.span,
            });
        }
        out
    }

    // ---------------------------------------------------------------- phase 3: bodies

    fn lower_bodies(&mut self) {
        for i in 0..self.const_asts.len() {
            self.ensure_const(ConstId(i as u32));
        }
        for i in 0..self.fn_asts.len() {
            let f = self.fn_asts[i];
            let params = self.program.functions[i].params.clone();
            let ret = self.program.functions[i].ret.clone();
            self.body = BodyCtx { item: format!("fn:{}", f.name.name), ..BodyCtx::default() };
            self.bind_params(&params);
            let want = if f.ret.is_some() { expr::Want::Expect(ret) } else { expr::Want::Discard };
            let block = self.block(&f.body, &want);
            self.program.functions[i].body = self.finish_body(block);
        }
        for i in 0..self.pb_asts.len() {
            let p = self.pb_asts[i];
            self.body = BodyCtx { item: format!("playbook:{}", p.name.name), ..BodyCtx::default() };
            if let Some(param) = self.program.playbooks[i].param.clone() {
                self.bind_params(std::slice::from_ref(&param));
            }
            let when = p.when.as_ref().map(|w| self.expr(w, &expr::Want::Expect(Type::Bool)));
            let saves_ms = p.saves.as_ref().and_then(|s| match &s.kind {
                ast::ExprKind::Duration(ms) => Some(*ms),
                _ => {
                    let e = self.expr(s, &expr::Want::Infer);
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`saves` takes a duration literal, found `{}`", e.ty),
                            s.span,
                            "not a duration literal",
                        )
                        .with_help("write the analyst time one run replaces, e.g. `saves 20m`"),
                    );
                    None
                }
            });
            let block = self.block(&p.body, &expr::Want::Discard);
            let body = self.finish_body(block);
            let pb = &mut self.program.playbooks[i];
            pb.when = when;
            pb.saves_ms = saves_ms;
            pb.body = body;
        }
        for i in 0..self.test_asts.len() {
            let t = self.test_asts[i];
            self.body = BodyCtx { item: format!("test:{:?}", t.name), in_test: true, ..BodyCtx::default() };
            let block = self.block(&t.body, &expr::Want::Discard);
            self.program.tests[i].body = self.finish_body(block);
        }
    }

    /// Lowers a const initializer the first time the const is needed.
    pub(crate) fn ensure_const(&mut self, id: ConstId) -> Type {
        let i = id.0 as usize;
        match self.const_state.get(i) {
            Some(ConstState::Done) => return self.program.consts[i].ty.clone(),
            Some(ConstState::InProgress) => {
                let k = self.const_asts[i];
                self.diags.push(
                    Diagnostic::error(
                        "recursive-function",
                        format!("the constant `{}` is defined in terms of itself", k.name.name),
                        k.name.span,
                        "this constant's value refers back to it",
                    )
                    .with_help("give the constant a value that does not depend on itself"),
                );
                self.const_state[i] = ConstState::Done;
                return Type::Unknown;
            }
            None => return Type::Unknown,
            Some(ConstState::Pending) => {}
        }
        self.const_state[i] = ConstState::InProgress;
        let k = self.const_asts[i];
        let saved = std::mem::replace(
            &mut self.body,
            BodyCtx { item: format!("const:{}", k.name.name), ..BodyCtx::default() },
        );
        let want = match k.ty {
            Some(_) => expr::Want::Expect(self.program.consts[i].ty.clone()),
            None => expr::Want::Infer,
        };
        let value = self.expr(&k.value, &want);
        let ty = if k.ty.is_some() { self.program.consts[i].ty.clone() } else { value.ty.clone() };
        let span = value.span;
        let block =
            Block { stmts: vec![Stmt { kind: StmtKind::Expr { expr: value }, span }], ty: ty.clone(), span };
        let body = self.finish_body(block);
        self.body = saved;
        if self.const_state[i] == ConstState::InProgress {
            self.program.consts[i].ty = ty.clone();
        }
        self.program.consts[i].value = body;
        self.const_state[i] = ConstState::Done;
        self.program.consts[i].ty.clone()
    }

    fn bind_params(&mut self, params: &[Param]) {
        self.body.scopes.push(Vec::new());
        for p in params {
            self.bind(&p.name, p.ty.clone(), p.name_span, p.span, false, RefKind::Param);
        }
    }

    /// Declares a local in the innermost scope and returns its slot.
    pub(crate) fn bind(
        &mut self,
        name: &str,
        ty: Type,
        def: Span,
        origin: Span,
        is_let: bool,
        kind: RefKind,
    ) -> Slot {
        let slot = Slot(self.body.locals.len() as u32);
        self.body.locals.push(LocalInfo {
            name: name.to_string(),
            ty,
            def,
            origin,
            is_let,
            used: false,
            kind,
        });
        if self.body.scopes.is_empty() {
            self.body.scopes.push(Vec::new());
        }
        if let Some(scope) = self.body.scopes.last_mut() {
            scope.push((name.to_string(), slot));
        }
        slot
    }

    pub(crate) fn lookup_local(&self, name: &str) -> Option<Slot> {
        self.body
            .scopes
            .iter()
            .rev()
            .find_map(|s| s.iter().rev().find(|(n, _)| n == name).map(|(_, slot)| *slot))
    }

    /// Ends a body: reports unused `let`s and returns it with its slot count.
    fn finish_body(&mut self, block: Block) -> Body {
        for l in &self.body.locals {
            if l.is_let && !l.used && !l.name.starts_with('_') {
                self.diags.push(
                    Diagnostic::warning(
                        "unused-variable",
                        format!("the variable `{}` is never used", l.name),
                        l.def,
                        "assigned here, never read",
                    )
                    .with_help(format!("remove the `let`, or name it `_{}` to keep it on purpose", l.name)),
                );
            }
        }
        Body { block, locals: self.body.locals.len() as u32 }
    }

    // ---------------------------------------------------------------- references

    pub(crate) fn add_ref(
        &mut self,
        span: Span,
        def: Span,
        kind: RefKind,
        detail: String,
        doc: Option<String>,
    ) {
        self.program.references.push(Reference { span, def, kind, detail, doc });
    }

    pub(crate) fn reference_type(&mut self, id: TypeId, span: Span) {
        if let Some(t) = self.program.type_def(id) {
            let (def, detail, doc) = (t.name_span, format!("type {} = {}", t.name, t.ty), t.doc.clone());
            self.add_ref(span, def, RefKind::Type, detail, doc);
        }
    }

    pub(crate) fn reference_enum(&mut self, id: EnumId, span: Span) {
        if let Some(e) = self.program.enum_def(id) {
            let vs: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
            let (def, detail, doc) =
                (e.name_span, format!("enum {} {{ {} }}", e.name, vs.join(", ")), e.doc.clone());
            self.add_ref(span, def, RefKind::Enum, detail, doc);
        }
    }

    pub(crate) fn reference_connector(&mut self, id: ConnectorId, span: Span) {
        if let Some(c) = self.program.connectors.get(id.0 as usize) {
            let (def, detail, doc) = (c.name_span, format!("connector {}", c.name), c.doc.clone());
            self.add_ref(span, def, RefKind::Connector, detail, doc);
        }
    }

    pub(crate) fn reference_action(&mut self, id: ActionId, span: Span) {
        if let Some((c, a)) = self.program.action(id) {
            let (def, detail, doc) = (a.name_span, action_signature(c, a), a.doc.clone());
            self.add_ref(span, def, RefKind::Action, detail, doc);
        }
    }

    // ---------------------------------------------------------------- attributes

    /// Validates the attributes on a statement or declaration covering `covers`.
    pub(crate) fn attributes(&mut self, attrs: &[ast::Attribute], covers: Span) {
        for attr in attrs {
            if attr.name.name != "allow" {
                self.unknown(&attr.name.name, attr.name.span, "attribute", ["allow"]);
                continue;
            }
            let mut valid = true;
            let mut code: Option<String> = None;
            let mut reason: Option<String> = None;
            for arg in &attr.args {
                let text = literal_text(&arg.value);
                match (&arg.name, text) {
                    (None, Some(t)) if code.is_none() => code = Some(t),
                    (Some(n), Some(t)) if n.name == "reason" && reason.is_none() => reason = Some(t),
                    _ => {
                        valid = false;
                        self.diags.push(
                            Diagnostic::error(
                                "wrong-arguments",
                                "`@allow` takes a code and a reason: `@allow(\"CODE\", reason: \"why\")`",
                                arg.span,
                                "unexpected argument",
                            )
                            .with_help("write `@allow(\"CODE\", reason: \"why\")` with string literals"),
                        );
                    }
                }
            }
            let code_str = code.clone().unwrap_or_default();
            if code.is_none() {
                valid = false;
                self.diags.push(
                    Diagnostic::error(
                        "wrong-arguments",
                        "`@allow` needs the code it allows",
                        attr.span,
                        "no code given",
                    )
                    .with_help("write `@allow(\"CODE\", reason: \"why\")`"),
                );
            } else if !parry_syntax::diagnostic::CODES.iter().any(|(c, _)| *c == code_str) {
                valid = false;
                let cands = parry_syntax::diagnostic::CODES.iter().map(|(c, _)| *c);
                self.unknown(
                    &code_str,
                    attr.args.first().map(|a| a.value.span).unwrap_or(attr.span),
                    "diagnostic code",
                    cands,
                );
            }
            let reason_str = reason.clone().unwrap_or_default();
            if reason_str.trim().is_empty() {
                valid = false;
                self.diags.push(
                    Diagnostic::error(
                        "allow-without-reason",
                        if reason.is_some() {
                            "`@allow` has an empty reason"
                        } else {
                            "`@allow` has no reason"
                        },
                        attr.span,
                        "say why this finding is acceptable",
                    )
                    .with_help(
                        "add a reason reviewers can check: `@allow(\"CODE\", reason: \"why this is safe\")`",
                    ),
                );
            }
            if parry_syntax::diagnostic::SAFETY_CODES.contains(&code_str.as_str())
                && !self.config.policy.allow_overrides
            {
                valid = false;
                self.diags.push(
                    Diagnostic::error(
                        "override-forbidden",
                        format!("`@allow(\"{code_str}\")` is forbidden: this project sets `policy.allow_overrides = false`"),
                        attr.span,
                        "safety findings cannot be silenced in this project",
                    )
                    .with_help("fix the finding instead (e.g. wrap the action in `approve`), or change the project policy"),
                );
            }
            self.allows.push(Allow { code: code_str, reason: reason_str, covers, valid });
        }
    }

    pub(crate) fn safety(&self) -> bool {
        !self.body.in_test
    }
}

fn empty_body(span: Span) -> Body {
    Body { block: Block { stmts: Vec::new(), ty: Type::Unit, span }, locals: 0 }
}

fn item_kind_name(k: &ast::ItemKind) -> &'static str {
    match k {
        ast::ItemKind::Playbook(_) => "playbook",
        ast::ItemKind::Connector(_) => "connector",
        ast::ItemKind::Type(_) => "type",
        ast::ItemKind::Enum(_) => "enum",
        ast::ItemKind::Fn(_) => "function",
        ast::ItemKind::Const(_) => "constant",
        ast::ItemKind::Test(_) => "test",
    }
}

/// The text of a plain string literal, if the expression is one.
pub(crate) fn literal_text(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ast::ExprKind::Str(parts) => {
            let mut s = String::new();
            for p in parts {
                match p {
                    ast::StrPart::Lit(t) => s.push_str(t),
                    ast::StrPart::Expr(_) => return None,
                }
            }
            Some(s)
        }
        ast::ExprKind::RawStr(s) => Some(s.clone()),
        _ => None,
    }
}

/// `action mail.search(sender: email, subject: string? = none) -> list<mail.Message> effect read`
pub fn action_signature(c: &Connector, a: &Action) -> String {
    let effect = match (a.effect.kind, a.effect.undo) {
        (EffectKind::Reversible, Some(u)) => {
            let undo = c.actions.get(u.index as usize).map(|x| x.name.as_str()).unwrap_or("?");
            format!("reversible(undo: {undo})")
        }
        (k, _) => k.name().to_string(),
    };
    let ret = if a.ret == Type::Unit { String::new() } else { format!(" -> {}", a.ret) };
    format!("action {}.{}({}){ret} effect {effect}", c.name, a.name, params_text(&a.params))
}

pub(crate) fn params_text(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| {
            if p.default.is_some() {
                format!("{}: {} = …", p.name, p.ty)
            } else {
                format!("{}: {}", p.name, p.ty)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
