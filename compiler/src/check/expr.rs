//! Lowering and type checking of expressions.

use super::types::{is_numeric, is_optional, is_stringy, unoptional};
use super::{Checker, ValueRef, literal_text};
use crate::Diagnostic;
use crate::ir::*;
use parry_syntax::ast::{self, Span};

/// What the context wants from an expression.
#[derive(Clone, Debug)]
pub(crate) enum Want {
    /// The value is dropped (an expression statement): branches need not agree.
    Discard,
    /// The value is used, its type is whatever the expression has.
    Infer,
    /// The value must fit this type.
    Expect(Type),
}

impl Want {
    pub(crate) fn hint(&self) -> Option<&Type> {
        match self {
            Want::Expect(t) => Some(t),
            _ => None,
        }
    }
}

impl Checker<'_> {
    /// Lowers an expression; with `Want::Expect`, reports a mismatch (once).
    pub(crate) fn expr(&mut self, e: &ast::Expr, want: &Want) -> Expr {
        let (x, checked) = self.expr_inner(e, want);
        match want {
            Want::Expect(t) if !checked => self.coerce(x, t),
            _ => x,
        }
    }

    /// Checks that `x` fits `expected`: reports `type-mismatch`, or `secret-leak` when a
    /// secret goes where a non-secret is expected.
    pub(crate) fn coerce(&mut self, mut x: Expr, expected: &Type) -> Expr {
        if matches!(x.kind, ExprKind::Int { .. })
            && matches!(unoptional(&self.structure(expected)), Type::Float)
        {
            if let ExprKind::Int { value } = x.kind {
                x.kind = ExprKind::Float { value: value as f64 };
                x.ty = Type::Float;
            }
            return x;
        }
        // In tests, `json` (from `load`) is decoded into whatever type is expected, at
        // run time, like an alert.
        if self.body.in_test && matches!(x.ty, Type::Json) {
            return x;
        }
        if !self.fits(&x.ty, expected) {
            self.mismatch(x.span, expected, &x.ty);
            return x;
        }
        let leaks = if matches!(x.ty, Type::Secret) {
            !self.secretish(expected)
        } else {
            self.contains_secret(&x.ty, 0) && !self.contains_secret(expected, 0) && !expected.is_unknown()
        };
        if leaks {
            self.secret_leak(&x, &format!("a value of type `{expected}`"));
        }
        x
    }

    /// Whether a value of this type holds a secret somewhere (a field, an item).
    pub(crate) fn contains_secret(&self, t: &Type, depth: u32) -> bool {
        if depth > 16 {
            return false;
        }
        match t {
            Type::Secret => true,
            Type::Named { .. } => self.contains_secret(&self.structure(t), depth + 1),
            Type::List { item } => self.contains_secret(item, depth + 1),
            Type::Optional { inner } => self.contains_secret(inner, depth + 1),
            Type::Record { fields } => fields.iter().any(|f| self.contains_secret(&f.ty, depth + 1)),
            _ => false,
        }
    }

    fn secretish(&self, t: &Type) -> bool {
        match self.structure(t) {
            Type::Secret | Type::Unknown => true,
            Type::Optional { inner } => self.secretish(&inner),
            _ => false,
        }
    }

    /// Reports a secret flowing into a place that is not `secret` (only outside tests).
    pub(crate) fn secret_leak(&mut self, x: &Expr, into: &str) {
        if !self.safety() {
            return;
        }
        let mut d = Diagnostic::error(
            "secret-leak",
            format!("a secret flows into {into}"),
            x.span,
            if matches!(x.ty, Type::Secret) { "this value is a secret" } else { "this value holds a secret" },
        )
        .with_help(
            "a secret may only flow into an HTTP binding's header, query or body, or into another `secret`",
        );
        if let Some(origin) = self.secret_origin(x)
            && origin != x.span
        {
            d = d.with_secondary(origin, "the secret comes from here");
        }
        self.diags.push(d);
    }

    /// Reports a secret used as text (note, evidence, interpolation, ...).
    pub(crate) fn sink(&mut self, x: &Expr, into: &str) {
        if self.contains_secret(&x.ty, 0) {
            self.secret_leak(x, into);
        }
    }

    fn secret_origin(&self, x: &Expr) -> Option<Span> {
        match &x.kind {
            ExprKind::Local { slot, .. } => self.body.locals.get(slot.0 as usize).map(|l| l.origin),
            ExprKind::Const { id, .. } => self.program.const_def(*id).map(|c| c.name_span),
            ExprKind::Call(_) => Some(x.span),
            ExprKind::Binary { lhs, rhs, .. } => {
                if matches!(lhs.ty, Type::Secret) {
                    self.secret_origin(lhs)
                } else {
                    self.secret_origin(rhs)
                }
            }
            ExprKind::Field { target, .. } | ExprKind::Index { target, .. } => self.secret_origin(target),
            ExprKind::Record { fields } => fields
                .iter()
                .find(|f| self.contains_secret(&f.value.ty, 0))
                .and_then(|f| self.secret_origin(&f.value).or(Some(f.value.span))),
            ExprKind::List { items } => items
                .iter()
                .find(|x| self.contains_secret(&x.ty, 0))
                .and_then(|x| self.secret_origin(x).or(Some(x.span))),
            _ => None,
        }
    }

    /// A call-site id for the next call or approval in the current statement.
    pub(crate) fn site_id(&mut self, kind: &str) -> CallSiteId {
        let n = match self.body.counters.last_mut() {
            Some(c) => {
                *c += 1;
                *c - 1
            }
            None => {
                self.body.counters.push(1);
                0
            }
        };
        let mut id = self.body.item.clone();
        for seg in &self.body.path {
            id.push('/');
            id.push_str(seg);
        }
        id.push('/');
        id.push_str(kind);
        if n > 0 {
            id.push_str(&n.to_string());
        }
        CallSiteId(id.into())
    }

    fn local_multiplicity(&self) -> Multiplicity {
        self.body.loops.iter().fold(Multiplicity::Bounded(1), |m, (b, _)| m.times(*b))
    }

    fn lexical_gate(&self) -> Gate {
        match self.body.gates.last() {
            Some(s) => Gate::Approval { approve: *s },
            None => Gate::None,
        }
    }

    /// Lowers without the final fit check; returns whether the fit was already checked.
    fn expr_inner(&mut self, e: &ast::Expr, want: &Want) -> (Expr, bool) {
        let span = e.span;
        let hint = want.hint().cloned();
        let mk = |kind: ExprKind, ty: Type| Expr { kind, ty, span };
        match &e.kind {
            ast::ExprKind::Int(v) => match hint.as_ref().map(|h| self.structure(unoptional(h))) {
                Some(Type::Float) => (mk(ExprKind::Float { value: *v as f64 }, Type::Float), false),
                _ => (mk(ExprKind::Int { value: *v }, Type::Int), false),
            },
            ast::ExprKind::Float(v) => (mk(ExprKind::Float { value: *v }, Type::Float), false),
            ast::ExprKind::Bool(v) => (mk(ExprKind::Bool { value: *v }, Type::Bool), false),
            ast::ExprKind::None => (mk(ExprKind::None, Type::None), false),
            ast::ExprKind::Duration(ms) => (mk(ExprKind::Duration { ms: *ms }, Type::Duration), false),
            ast::ExprKind::RawStr(s) => self.string_literal(s.clone(), span, hint.as_ref()),
            ast::ExprKind::Str(parts) => {
                if let Some(text) = literal_text(e) {
                    return self.string_literal(text, span, hint.as_ref());
                }
                let mut out = Vec::new();
                for p in parts {
                    match p {
                        ast::StrPart::Lit(t) => out.push(InterpPart::Lit { text: t.to_string() }),
                        ast::StrPart::Expr(x) => {
                            let x = self.expr(x, &Want::Infer);
                            self.sink(&x, "string interpolation");
                            out.push(InterpPart::Expr { expr: x });
                        }
                    }
                }
                (mk(ExprKind::Interp { parts: out }, Type::String), false)
            }
            ast::ExprKind::List(items) => self.list_literal(items, span, hint.as_ref()),
            ast::ExprKind::Record(fields) => self.record_literal(fields, span, hint.as_ref()),
            ast::ExprKind::Name(id) => (self.name(id, hint.as_ref()), false),
            ast::ExprKind::Field { target, field, optional } => {
                (self.field(target, field, *optional, span, hint.as_ref()), false)
            }
            ast::ExprKind::Index { target, index } => {
                let t = self.expr(target, &Want::Infer);
                let (idx, ty) = match self.structure(&t.ty) {
                    Type::List { item } => (self.expr(index, &Want::Expect(Type::Int)), *item),
                    Type::Json => {
                        let i = self.expr(index, &Want::Infer);
                        if !matches!(i.ty, Type::Int | Type::String | Type::Unknown | Type::Never) {
                            self.mismatch(i.span, &Type::Int, &i.ty);
                        }
                        (i, Type::Json)
                    }
                    Type::Unknown | Type::Never => (self.expr(index, &Want::Infer), Type::Unknown),
                    other => {
                        let i = self.expr(index, &Want::Infer);
                        self.diags.push(
                            Diagnostic::error(
                                "type-mismatch",
                                format!("`{other}` cannot be indexed"),
                                target.span,
                                format!("this is `{other}`"),
                            )
                            .with_help("only lists (by `int`) and `json` values can be indexed"),
                        );
                        (i, Type::Unknown)
                    }
                };
                (mk(ExprKind::Index { target: Box::new(t), index: Box::new(idx) }, ty), false)
            }
            ast::ExprKind::Call { callee, args } => (self.call(callee, args, span, hint.as_ref()), false),
            ast::ExprKind::Unary { op, operand } => match op {
                UnaryOp::Not => {
                    let x = self.expr(operand, &Want::Expect(Type::Bool));
                    (mk(ExprKind::Unary { op: *op, operand: Box::new(x) }, Type::Bool), false)
                }
                UnaryOp::Neg => {
                    let x = self.expr(operand, &Want::Infer);
                    let ty = match self.structure(&x.ty) {
                        t @ (Type::Int | Type::Float | Type::Duration | Type::Unknown) => t,
                        other => {
                            self.diags.push(Diagnostic::error(
                                "type-mismatch",
                                format!("`-` needs a number or a duration, found `{other}`"),
                                x.span,
                                format!("this is `{other}`"),
                            ));
                            Type::Unknown
                        }
                    };
                    (mk(ExprKind::Unary { op: *op, operand: Box::new(x) }, ty), false)
                }
            },
            ast::ExprKind::Binary { op, lhs, rhs } => {
                (self.binary(*op, lhs, rhs, span, hint.as_ref()), false)
            }
            ast::ExprKind::If { cond, then, otherwise } => {
                self.if_expr(cond, then, otherwise.as_ref(), span, want)
            }
            ast::ExprKind::Match { scrutinee, arms } => self.match_expr(scrutinee, arms, span, want),
            ast::ExprKind::For(f) => self.for_expr(f, span, want),
            ast::ExprKind::Approve(a) => self.approve_expr(a, span, want),
            ast::ExprKind::Try { body, err, catch } => {
                self.body.path.push("try".into());
                let b = self.block(body, want);
                self.body.path.pop();
                self.body.scopes.push(Vec::new());
                let slot = self.bind(&err.name, Type::Error, err.span, err.span, false, RefKind::Local);
                self.body.path.push("catch".into());
                let c = self.block(catch, want);
                self.body.path.pop();
                self.body.scopes.pop();
                let ty = self.branch_type(&[&b, &c], true, want, span);
                let kind =
                    ExprKind::Try { body: b, err_slot: slot, err_name: err.name.to_string(), catch: c };
                (mk(kind, ty), want.hint().is_some())
            }
            ast::ExprKind::Paren(inner) => self.expr_inner(inner, want),
            ast::ExprKind::Block(b) => {
                let block = self.block(b, want);
                let ty = block.ty.clone();
                (mk(ExprKind::Block(block), ty), want.hint().is_some())
            }
        }
    }

    /// A string literal: where a security type is expected, it is validated now.
    fn string_literal(&mut self, text: String, span: Span, hint: Option<&Type>) -> (Expr, bool) {
        let target = hint.map(|h| self.structure(unoptional(h)));
        if let Some(Type::Security { security }) = target {
            if let Err(why) = crate::security::validate(security.name(), &text) {
                self.diags.push(
                    Diagnostic::error(
                        "invalid-literal",
                        format!("invalid `{}` literal: {why}", security.name()),
                        span,
                        format!("not a valid `{}`", security.name()),
                    )
                    .with_help(format!("write a valid `{}` here", security.name())),
                );
                return (Expr { kind: ExprKind::Str { value: text }, ty: Type::Unknown, span }, true);
            }
            return (Expr { kind: ExprKind::Str { value: text }, ty: Type::security(security), span }, false);
        }
        (Expr { kind: ExprKind::Str { value: text }, ty: Type::String, span }, false)
    }

    fn list_literal(&mut self, items: &[ast::Expr], span: Span, hint: Option<&Type>) -> (Expr, bool) {
        let item_hint = hint.and_then(|h| match self.structure(unoptional(h)) {
            Type::List { item } => Some(*item),
            _ => None,
        });
        if let Some(item_ty) = item_hint {
            let out: Vec<Expr> = items.iter().map(|x| self.expr(x, &Want::Expect(item_ty.clone()))).collect();
            let ty = Type::list(item_ty);
            return (Expr { kind: ExprKind::List { items: out }, ty, span }, false);
        }
        let mut out: Vec<Expr> = Vec::new();
        let mut ty: Option<Type> = None;
        for x in items {
            let lowered = match &ty {
                Some(t) => {
                    let x = self.expr(x, &Want::Infer);
                    match self.join(t, &x.ty) {
                        Some(j) => ty = Some(j),
                        None => {
                            let t = t.clone();
                            self.diags.push(
                                Diagnostic::error(
                                    "type-mismatch",
                                    format!(
                                        "list items must have one type: expected `{t}`, found `{}`",
                                        x.ty
                                    ),
                                    x.span,
                                    format!("this is `{}`", x.ty),
                                )
                                .with_help("convert the items to one type"),
                            );
                        }
                    }
                    x
                }
                None => {
                    let x = self.expr(x, &Want::Infer);
                    ty = Some(x.ty.clone());
                    x
                }
            };
            out.push(lowered);
        }
        let ty = Type::list(ty.unwrap_or(Type::Unknown));
        (Expr { kind: ExprKind::List { items: out }, ty, span }, false)
    }

    fn record_literal(
        &mut self,
        fields: &[ast::RecordField],
        span: Span,
        hint: Option<&Type>,
    ) -> (Expr, bool) {
        let expected = hint.and_then(|h| {
            let inner = unoptional(h).clone();
            self.record_fields(&inner).map(|f| (inner, f))
        });
        let mut out: Vec<RecordField> = Vec::new();
        for f in fields {
            if let Some(prev) = out.iter().find(|p| p.name == f.key) {
                let prev = prev.name_span;
                self.duplicate(&f.key, "field", f.key_span, Some(prev));
                continue;
            }
            let want = match &expected {
                Some((ty, decl)) => match decl.iter().find(|d| d.name == f.key) {
                    Some(d) => {
                        self.add_ref(
                            f.key_span,
                            d.span,
                            RefKind::Field,
                            format!("{}: {}", d.name, d.ty),
                            d.doc.clone(),
                        );
                        Want::Expect(d.ty.clone())
                    }
                    None => {
                        let cands: Vec<&str> = decl.iter().map(|d| d.name.as_str()).collect();
                        let d = self.unknown_field(&f.key, f.key_span, ty, cands);
                        self.diags.push(d);
                        Want::Infer
                    }
                },
                None => Want::Infer,
            };
            let value = self.expr(&f.value, &want);
            out.push(RecordField { name: f.key.clone(), name_span: f.key_span, value });
        }
        if let Some((ty, decl)) = expected {
            let missing: Vec<String> = decl
                .iter()
                .filter(|d| !is_optional(&d.ty) && !out.iter().any(|f| f.name == d.name))
                .map(|d| format!("`{}: {}`", d.name, d.ty))
                .collect();
            if !missing.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!(
                            "this record is missing field{} {} of `{ty}`",
                            if missing.len() > 1 { "s" } else { "" },
                            missing.join(", ")
                        ),
                        span,
                        "missing fields",
                    )
                    .with_help("add the missing fields (only optional fields may be left out)"),
                );
            }
            return (Expr { kind: ExprKind::Record { fields: out }, ty, span }, true);
        }
        let ty = Type::Record {
            fields: out
                .iter()
                .map(|f| FieldType {
                    name: f.name.clone(),
                    ty: f.value.ty.clone(),
                    doc: None,
                    span: f.name_span,
                })
                .collect(),
        };
        (Expr { kind: ExprKind::Record { fields: out }, ty, span }, false)
    }

    /// The variant `name` of the enum that `hint` expects, or the only enum that has it.
    fn bare_variant(&mut self, id: &ast::Ident, hint: Option<&Type>) -> Option<Expr> {
        let expected = hint.map(|h| self.structure(unoptional(h)));
        let mut candidates: Vec<EnumId> = Vec::new();
        if let Some(Type::Enum { id: eid, .. }) = expected {
            candidates.push(eid);
        } else if let Some(Type::List { item }) = &expected
            && let Type::Enum { id: eid, .. } = self.structure(item)
        {
            candidates.push(eid);
        }
        let found = candidates.iter().find_map(|eid| self.variant_of(*eid, &id.name)).or_else(|| {
            let all: Vec<(EnumId, u32)> = (0..self.program.enums.len() as u32)
                .filter_map(|i| self.variant_of(EnumId(i), &id.name))
                .collect();
            if all.len() == 1 { all.first().copied() } else { None }
        })?;
        Some(self.variant_expr(found.0, found.1, id.span))
    }

    pub(crate) fn variant_of(&self, eid: EnumId, name: &str) -> Option<(EnumId, u32)> {
        let e = self.program.enum_def(eid)?;
        e.variants.iter().position(|v| v.name == name).map(|i| (eid, i as u32))
    }

    pub(crate) fn variant_expr(&mut self, eid: EnumId, ordinal: u32, span: Span) -> Expr {
        let (ename, vname, vspan, doc) = match self.program.enum_def(eid) {
            Some(e) => {
                let v = e.variants.get(ordinal as usize);
                (
                    e.name.clone(),
                    v.map(|v| v.name.clone()).unwrap_or_default(),
                    v.map(|v| v.span).unwrap_or_default(),
                    e.doc.clone(),
                )
            }
            None => Default::default(),
        };
        self.add_ref(span, vspan, RefKind::Variant, format!("{ename}.{vname}"), doc);
        Expr { kind: ExprKind::Variant { id: eid, ordinal, name: vname }, ty: self.enum_type(eid), span }
    }

    fn use_local(&mut self, slot: Slot, span: Span) -> Expr {
        let Some(l) = self.body.locals.get_mut(slot.0 as usize) else { return Expr::error(span) };
        l.used = true;
        let (name, ty, def, kind) = (l.name.clone(), l.ty.clone(), l.def, l.kind);
        let what = if kind == RefKind::Param { "param" } else { "let" };
        self.add_ref(span, def, kind, format!("{what} {name}: {ty}"), None);
        Expr { kind: ExprKind::Local { slot, name }, ty, span }
    }

    fn name(&mut self, id: &ast::Ident, hint: Option<&Type>) -> Expr {
        let span = id.span;
        if let Some(slot) = self.lookup_local(&id.name) {
            return self.use_local(slot, span);
        }
        match self.values.get(id.name.as_str()).copied() {
            Some(ValueRef::Const(cid)) => {
                let ty = self.ensure_const(cid);
                if let Some(k) = self.program.const_def(cid) {
                    let (def, detail, doc) =
                        (k.name_span, format!("const {}: {}", k.name, ty), k.doc.clone());
                    self.add_ref(span, def, RefKind::Const, detail, doc);
                }
                return Expr { kind: ExprKind::Const { id: cid, name: id.name.to_string() }, ty, span };
            }
            Some(ValueRef::Fn(_)) | Some(ValueRef::Playbook(_)) => {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("`{}` is a function; it can only be called", id.name),
                        span,
                        "not a value",
                    )
                    .with_help(format!("call it: `{}(...)`", id.name)),
                );
                return Expr::error(span);
            }
            None => {}
        }
        if let Some(v) = self.bare_variant(id, hint) {
            return v;
        }
        if self.types.contains_key(id.name.as_str()) || self.connectors.contains_key(id.name.as_str()) {
            let what = if self.connectors.contains_key(id.name.as_str()) { "a connector" } else { "a type" };
            self.diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("`{}` is {what}, not a value", id.name),
                    span,
                    "not a value",
                )
                .with_help("use one of its members, e.g. `Name.member`"),
            );
            return Expr::error(span);
        }
        let mut cands: Vec<String> =
            self.body.scopes.iter().flat_map(|s| s.iter().map(|(n, _)| n.clone())).collect();
        cands.extend(self.values.keys().cloned());
        if let Some(Type::Enum { id: eid, .. }) = hint.map(|h| self.structure(unoptional(h)))
            && let Some(e) = self.program.enum_def(eid)
        {
            cands.extend(e.variants.iter().map(|v| v.name.clone()));
        }
        let mut d = self.unknown_diag(&id.name, span, "name", cands.iter().map(String::as_str));
        let ambiguous: Vec<String> = self
            .program
            .enums
            .iter()
            .filter(|e| e.variants.iter().any(|v| v.name == id.name))
            .map(|e| format!("`{}.{}`", e.name, id.name))
            .collect();
        if ambiguous.len() > 1 {
            d.message =
                format!("`{}` is a variant of several enums; which one is meant is unclear here", id.name);
            d.help = Some(format!("qualify it: {}", ambiguous.join(" or ")));
        }
        self.diags.push(d);
        Expr::error(span)
    }

    /// `Name.member` where `Name` is not a value: an enum variant or an action reference.
    fn qualified(&mut self, target: &ast::Expr, field: &ast::Ident, span: Span) -> Option<Expr> {
        let ast::ExprKind::Name(t) = &target.kind else { return None };
        if self.lookup_local(&t.name).is_some() || self.values.contains_key(t.name.as_str()) {
            return None;
        }
        if let Some(super::TypeRef::Enum(eid)) = self.types.get(t.name.as_str()).copied() {
            self.reference_enum(eid, t.span);
            return Some(match self.variant_of(eid, &field.name) {
                Some((e, o)) => {
                    let mut x = self.variant_expr(e, o, field.span);
                    x.span = span;
                    x
                }
                None => {
                    let cands: Vec<String> = self
                        .program
                        .enum_def(eid)
                        .map(|e| e.variants.iter().map(|v| v.name.clone()).collect())
                        .unwrap_or_default();
                    let d = Diagnostic::error(
                        "unknown-name",
                        format!("the enum `{}` has no variant `{}`", t.name, field.name),
                        field.span,
                        "no such variant",
                    );
                    let d = match crate::suggest::did_you_mean(&field.name, cands.iter().map(String::as_str))
                    {
                        Some(s) => d.with_help(format!("did you mean `{}.{s}`?", t.name)),
                        None => {
                            d.with_help(format!("the variants of `{}` are: {}", t.name, cands.join(", ")))
                        }
                    };
                    self.diags.push(d);
                    Expr::error(span)
                }
            });
        }
        if let Some(&cid) = self.connectors.get(t.name.as_str()) {
            self.reference_connector(cid, t.span);
            return Some(match self.actions.get(&(cid.0, field.name.to_string())).copied() {
                Some(index) => {
                    let action = ActionId { connector: cid, index };
                    self.reference_action(action, field.span);
                    Expr { kind: ExprKind::ActionRef { action }, ty: Type::Unknown, span }
                }
                None => {
                    self.unknown_action(cid, field);
                    Expr::error(span)
                }
            });
        }
        None
    }

    pub(crate) fn unknown_action(&mut self, cid: ConnectorId, field: &ast::Ident) {
        let c = &self.program.connectors[cid.0 as usize];
        let cname = c.name.clone();
        let cands: Vec<String> = c.actions.iter().map(|a| a.name.clone()).collect();
        let d = Diagnostic::error(
            "unknown-name",
            format!("the connector `{cname}` has no action `{}`", field.name),
            field.span,
            "no such action",
        );
        let d = match crate::suggest::did_you_mean(&field.name, cands.iter().map(String::as_str)) {
            Some(s) => d.with_help(format!("did you mean `{cname}.{s}`?")),
            None if cands.is_empty() => d.with_help(format!("`{cname}` declares no actions")),
            None => d.with_help(format!("the actions of `{cname}` are: {}", cands.join(", "))),
        };
        self.diags.push(d);
    }

    fn field(
        &mut self,
        target: &ast::Expr,
        field: &ast::Ident,
        optional: bool,
        span: Span,
        _hint: Option<&Type>,
    ) -> Expr {
        if let Some(q) = self.qualified(target, field, span) {
            if matches!(q.kind, ExprKind::ActionRef { .. }) {
                self.diags.push(
                    Diagnostic::error("type-mismatch", "an action must be called", span, "not a value")
                        .with_help(format!("call it: `{}(...)`", self.sources_text(span))),
                );
                return Expr::error(span);
            }
            return q;
        }
        if let ast::ExprKind::Name(t) = &target.kind
            && self.lookup_local(&t.name).is_none()
            && !self.values.contains_key(t.name.as_str())
            && !self.types.contains_key(t.name.as_str())
            && self.bare_variant_exists(&t.name).is_none()
        {
            // `x.f` with an unknown `x`: one diagnostic, for `x`.
            let mut cands: Vec<String> =
                self.body.scopes.iter().flat_map(|s| s.iter().map(|(n, _)| n.clone())).collect();
            cands.extend(self.values.keys().cloned());
            cands.extend(self.connectors.keys().cloned());
            self.unknown(&t.name, t.span, "name", cands.iter().map(String::as_str));
            return Expr::error(span);
        }
        let t = self.expr(target, &Want::Infer);
        let base = self.structure(&t.ty);
        let (base, through_optional) = match base {
            Type::Optional { inner } => {
                if !optional {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!(
                                "`{}` may be `none`; its field `{}` cannot be read directly",
                                t.ty, field.name
                            ),
                            t.span,
                            format!("this is `{}`", t.ty),
                        )
                        .with_help(format!(
                            "use `?.{}` (which yields `none` when the value is) or give a fallback with `??`",
                            field.name
                        )),
                    );
                }
                (self.structure(&inner), true)
            }
            Type::None => (Type::Unknown, true),
            other => (other, false),
        };
        let ty = match &base {
            Type::Unknown | Type::Never => Type::Unknown,
            Type::Json => Type::Json,
            _ => match self.record_fields(&base) {
                Some(fields) => match fields.iter().find(|f| f.name == field.name) {
                    Some(f) => {
                        self.add_ref(
                            field.span,
                            f.span,
                            RefKind::Field,
                            format!("{}: {}", f.name, f.ty),
                            f.doc.clone(),
                        );
                        f.ty.clone()
                    }
                    None => {
                        let cands: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                        let d = self.unknown_field(&field.name, field.span, unoptional(&t.ty), cands);
                        self.diags.push(d);
                        Type::Unknown
                    }
                },
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`{}` has no fields; cannot read `.{}`", unoptional(&t.ty), field.name),
                            field.span,
                            format!("the value is `{}`", t.ty),
                        )
                        .with_help("only records, `json` values and runs have fields"),
                    );
                    Type::Unknown
                }
            },
        };
        let ty = if through_optional && optional { Type::optional(ty) } else { ty };
        Expr {
            kind: ExprKind::Field { target: Box::new(t), field: field.name.to_string(), optional },
            ty,
            span,
        }
    }

    fn bare_variant_exists(&self, name: &str) -> Option<(EnumId, u32)> {
        (0..self.program.enums.len() as u32).find_map(|i| self.variant_of(EnumId(i), name))
    }

    fn sources_text(&self, span: Span) -> String {
        self.sources.get(span.file).map(|f| f.slice(span).to_string()).unwrap_or_default()
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
        hint: Option<&Type>,
    ) -> Expr {
        use BinaryOp as B;
        let mk = |l: Expr, r: Expr, ty: Type| Expr {
            kind: ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) },
            ty,
            span,
        };
        match op {
            B::Or | B::And => {
                let l = self.expr(lhs, &Want::Expect(Type::Bool));
                let r = self.expr(rhs, &Want::Expect(Type::Bool));
                mk(l, r, Type::Bool)
            }
            B::Coalesce => {
                let l_want = match hint {
                    Some(h) => Want::Expect(Type::optional(h.clone())),
                    None => Want::Infer,
                };
                let (l, _) = self.expr_inner(lhs, &l_want);
                let inner = match self.structure(&l.ty) {
                    Type::Optional { inner } => *inner,
                    Type::None => hint.cloned().unwrap_or(Type::Unknown),
                    other => other,
                };
                let r = self
                    .expr(rhs, &if inner.is_unknown() { Want::Infer } else { Want::Expect(inner.clone()) });
                let ty = if inner.is_unknown() {
                    r.ty.clone()
                } else if is_optional(&r.ty) {
                    Type::optional(inner)
                } else {
                    inner
                };
                mk(l, r, ty)
            }
            B::Eq | B::Ne => {
                let l = self.expr(lhs, &Want::Infer);
                let r_hint =
                    if matches!(l.kind, ExprKind::Error) { Want::Infer } else { Want::Expect(l.ty.clone()) };
                let (r, _) = self.expr_inner(rhs, &r_hint);
                if !self.comparable(&l.ty, &r.ty) {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("cannot compare `{}` with `{}`", l.ty, r.ty),
                            span,
                            "these values have different types",
                        )
                        .with_secondary(l.span, format!("this is `{}`", l.ty))
                        .with_secondary(r.span, format!("this is `{}`", r.ty)),
                    );
                }
                mk(l, r, Type::Bool)
            }
            B::Lt | B::Le | B::Gt | B::Ge => {
                let l = self.expr(lhs, &Want::Infer);
                let (r, _) = self.expr_inner(rhs, &Want::Expect(l.ty.clone()));
                let (a, b) = (self.structure(&l.ty), self.structure(&r.ty));
                let ok = match (&a, &b) {
                    (Type::Unknown | Type::Never, _) | (_, Type::Unknown | Type::Never) => true,
                    (x, y) if is_numeric(x) && is_numeric(y) => true,
                    (Type::Duration, Type::Duration) | (Type::Time, Type::Time) => true,
                    (x, y) if is_stringy(x) && is_stringy(y) => true,
                    (Type::Enum { id: x, .. }, Type::Enum { id: y, .. }) => x == y,
                    _ => false,
                };
                if !ok {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("cannot order `{}` and `{}` with `{}`", l.ty, r.ty, op.as_str()),
                            span,
                            "not comparable",
                        )
                        .with_help(
                            "order compares numbers, durations, times, strings, or values of one enum",
                        ),
                    );
                }
                mk(l, r, Type::Bool)
            }
            B::In => {
                let l = self.expr(lhs, &Want::Infer);
                let (r, _) = self.expr_inner(
                    rhs,
                    &if l.ty.is_unknown() { Want::Infer } else { Want::Expect(Type::list(l.ty.clone())) },
                );
                match self.structure(&r.ty) {
                    Type::List { item } => {
                        if !self.comparable(&l.ty, &item) {
                            self.mismatch(l.span, &item, &l.ty);
                        }
                    }
                    t if is_stringy(&t) => {
                        if !is_stringy(&self.structure(&l.ty)) && !l.ty.is_unknown() {
                            self.mismatch(l.span, &Type::String, &l.ty);
                        }
                    }
                    Type::Json | Type::Unknown | Type::Never => {}
                    other => {
                        self.diags.push(
                            Diagnostic::error(
                                "type-mismatch",
                                format!("`in` needs a list or a string on its right, found `{other}`"),
                                r.span,
                                format!("this is `{other}`"),
                            )
                            .with_help("write `x in [a, b]` or `\"sub\" in text`"),
                        );
                    }
                }
                mk(l, r, Type::Bool)
            }
            B::Add | B::Sub | B::Mul | B::Div | B::Rem => {
                let l = self.expr(lhs, &Want::Infer);
                let (r, _) = self.expr_inner(rhs, &Want::Expect(l.ty.clone()));
                let ty = self.arith(op, &l, &r, span);
                mk(l, r, ty)
            }
        }
    }

    fn comparable(&self, a: &Type, b: &Type) -> bool {
        let (x, y) = (self.structure(a), self.structure(b));
        if is_numeric(&x) && is_numeric(&y) {
            return true;
        }
        if is_stringy(unoptional(&x)) && is_stringy(unoptional(&y)) {
            return true;
        }
        self.fits(a, b) || self.fits(b, a)
    }

    fn arith(&mut self, op: BinaryOp, l: &Expr, r: &Expr, span: Span) -> Type {
        use BinaryOp as B;
        let (a, b) = (self.structure(&l.ty), self.structure(&r.ty));
        let ty = match (op, &a, &b) {
            (_, Type::Unknown | Type::Never, _) | (_, _, Type::Unknown | Type::Never) => Some(Type::Unknown),
            (_, Type::Int, Type::Int) => Some(Type::Int),
            (_, x, y) if is_numeric(x) && is_numeric(y) => Some(Type::Float),
            (B::Add, Type::Secret, y) if is_stringy(y) || *y == Type::Secret => Some(Type::Secret),
            (B::Add, x, Type::Secret) if is_stringy(x) => Some(Type::Secret),
            (B::Add, x, y) if is_stringy(x) && is_stringy(y) => Some(Type::String),
            (B::Add, Type::List { item: x }, Type::List { item: y }) => self.join(x, y).map(Type::list),
            (B::Add | B::Sub, Type::Duration, Type::Duration) => Some(Type::Duration),
            (B::Add | B::Sub, Type::Time, Type::Duration) => Some(Type::Time),
            (B::Sub, Type::Time, Type::Time) => Some(Type::Duration),
            (B::Mul | B::Div, Type::Duration, Type::Int) => Some(Type::Duration),
            (B::Mul, Type::Int, Type::Duration) => Some(Type::Duration),
            _ => None,
        };
        match ty {
            Some(t) => t,
            None => {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("`{}` cannot combine `{}` and `{}`", op.as_str(), l.ty, r.ty),
                        span,
                        "incompatible operands",
                    )
                    .with_secondary(l.span, format!("this is `{}`", l.ty))
                    .with_secondary(r.span, format!("this is `{}`", r.ty))
                    .with_help(
                        "`+` joins strings or lists and adds numbers and durations; convert one side first",
                    ),
                );
                Type::Unknown
            }
        }
    }

    /// The type of a branching construct from its branches' blocks.
    pub(crate) fn branch_type(&mut self, blocks: &[&Block], complete: bool, want: &Want, span: Span) -> Type {
        if complete && !blocks.is_empty() && blocks.iter().all(|b| b.ty == Type::Never) {
            return Type::Never;
        }
        match want {
            Want::Discard => Type::Unit,
            Want::Expect(t) => {
                if !complete && !self.fits(&Type::Unit, t) {
                    self.diags.push(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("expected `{t}`, but this has no value when no branch is taken"),
                            span,
                            "missing `else` (or `_` arm)",
                        )
                        .with_help("add an `else` branch that yields a value"),
                    );
                }
                t.clone()
            }
            Want::Infer => {
                if !complete {
                    return Type::Unit;
                }
                let mut ty = Type::Never;
                for b in blocks {
                    match self.join(&ty, &b.ty) {
                        Some(j) => ty = j,
                        None => {
                            self.diags.push(
                                Diagnostic::error(
                                    "type-mismatch",
                                    format!("branches have different types: `{ty}` and `{}`", b.ty),
                                    b.span,
                                    format!("this branch yields `{}`", b.ty),
                                )
                                .with_help(
                                    "make every branch yield the same type, or annotate the variable's type",
                                ),
                            );
                            return Type::Unknown;
                        }
                    }
                }
                ty
            }
        }
    }

    fn if_expr(
        &mut self,
        cond: &ast::Expr,
        then: &ast::Block,
        otherwise: Option<&ast::Else>,
        span: Span,
        want: &Want,
    ) -> (Expr, bool) {
        let c = self.expr(cond, &Want::Expect(Type::Bool));
        self.body.path.push("then".into());
        let t = self.block(then, want);
        self.body.path.pop();
        self.body.path.push("else".into());
        let o = otherwise.map(|o| match o {
            ast::Else::Block(b) => self.block(b, want),
            ast::Else::If(e) => {
                let x = self.expr(e, want);
                let ty = x.ty.clone();
                let s = x.span;
                Block { stmts: vec![Stmt { kind: StmtKind::Expr { expr: x }, span: s }], ty, span: s }
            }
        });
        self.body.path.pop();
        let mut blocks = vec![&t];
        if let Some(o) = &o {
            blocks.push(o);
        }
        let ty = self.branch_type(&blocks, o.is_some(), want, span);
        let checked = want.hint().is_some();
        (Expr { kind: ExprKind::If { cond: Box::new(c), then: t, otherwise: o }, ty, span }, checked)
    }

    fn match_expr(
        &mut self,
        scrutinee: &ast::Expr,
        arms: &[ast::MatchArm],
        span: Span,
        want: &Want,
    ) -> (Expr, bool) {
        let s = self.expr(scrutinee, &Want::Infer);
        let sty = self.structure(&s.ty);
        let mut out_arms: Vec<MatchArm> = Vec::new();
        let mut wildcard = false;
        let mut covered: Vec<u32> = Vec::new();
        let mut bools: (bool, bool) = (false, false);
        let mut has_none = false;
        for (i, arm) in arms.iter().enumerate() {
            let mut pats = Vec::new();
            for p in &arm.patterns {
                let pat = self.pattern(p, &s.ty);
                match &pat {
                    Pattern::Wildcard { .. } => wildcard = true,
                    Pattern::Variant { ordinal, .. } => covered.push(*ordinal),
                    Pattern::Literal { value } => match value.kind {
                        ExprKind::Bool { value: true } => bools.0 = true,
                        ExprKind::Bool { value: false } => bools.1 = true,
                        ExprKind::None => has_none = true,
                        _ => {}
                    },
                }
                pats.push(pat);
            }
            self.body.path.push(format!("arm{i}"));
            let body = self.block(&arm.body, want);
            self.body.path.pop();
            out_arms.push(MatchArm { patterns: pats, body, span: arm.span });
        }
        // Exhaustiveness.
        let missing: Option<String> = if wildcard {
            None
        } else {
            let (base, optional) = match &sty {
                Type::Optional { inner } => (self.structure(inner), true),
                other => (other.clone(), false),
            };
            let none_missing = optional && !has_none;
            match base {
                Type::Enum { id, .. } => {
                    let vs: Vec<String> = self
                        .program
                        .enum_def(id)
                        .map(|e| {
                            e.variants
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| !covered.contains(&(*i as u32)))
                                .map(|(_, v)| v.name.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut vs = vs;
                    if none_missing {
                        vs.push("none".into());
                    }
                    if vs.is_empty() { None } else { Some(vs.join(", ")) }
                }
                Type::Bool => {
                    let mut vs = Vec::new();
                    if !bools.0 {
                        vs.push("true".to_string());
                    }
                    if !bools.1 {
                        vs.push("false".to_string());
                    }
                    if none_missing {
                        vs.push("none".into());
                    }
                    if vs.is_empty() { None } else { Some(vs.join(", ")) }
                }
                Type::Unknown | Type::Never => None,
                _ => Some("`_`".to_string()),
            }
        };
        let exhaustive = missing.is_none();
        if let Some(m) = missing {
            let msg = if m == "`_`" {
                format!("this `match` on `{}` needs a `_` arm", s.ty)
            } else {
                format!("this `match` does not cover: {m}")
            };
            self.diags.push(
                Diagnostic::error("non-exhaustive-match", msg, span, "not every value is handled")
                    .with_secondary(s.span, format!("this is `{}`", s.ty))
                    .with_help("add arms for the missing cases, or a `_ => ...` arm"),
            );
        }
        let blocks: Vec<&Block> = out_arms.iter().map(|a| &a.body).collect();
        let ty = self.branch_type(&blocks, exhaustive, want, span);
        let checked = want.hint().is_some();
        (Expr { kind: ExprKind::Match { scrutinee: Box::new(s), arms: out_arms }, ty, span }, checked)
    }

    fn pattern(&mut self, p: &ast::Pattern, scrutinee: &Type) -> Pattern {
        match p {
            ast::Pattern::Wildcard(span) => Pattern::Wildcard { span: *span },
            ast::Pattern::Name(id) => {
                let hint = Some(scrutinee.clone());
                match self.bare_variant(id, hint.as_ref()) {
                    Some(Expr { kind: ExprKind::Variant { id: eid, ordinal, name }, ty, .. }) => {
                        if !self.fits(&ty, scrutinee) {
                            self.mismatch(id.span, scrutinee, &ty);
                        }
                        Pattern::Variant { id: eid, ordinal, name, span: id.span }
                    }
                    _ => {
                        let cands: Vec<String> = match self.structure(unoptional(scrutinee)) {
                            Type::Enum { id: eid, .. } => self
                                .program
                                .enum_def(eid)
                                .map(|e| e.variants.iter().map(|v| v.name.clone()).collect())
                                .unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        self.unknown(&id.name, id.span, "variant", cands.iter().map(String::as_str));
                        Pattern::Wildcard { span: id.span }
                    }
                }
            }
            ast::Pattern::Qualified(e, v) => {
                let target = ast::Expr { kind: ast::ExprKind::Name(e.clone()), span: e.span };
                match self.qualified(&target, v, e.span.to(v.span)) {
                    Some(Expr { kind: ExprKind::Variant { id: eid, ordinal, name }, ty, span }) => {
                        if !self.fits(&ty, scrutinee) {
                            self.mismatch(span, scrutinee, &ty);
                        }
                        Pattern::Variant { id: eid, ordinal, name, span }
                    }
                    Some(_) => Pattern::Wildcard { span: e.span.to(v.span) },
                    None => {
                        let cands: Vec<String> = self.types.keys().cloned().collect();
                        self.unknown(&e.name, e.span, "enum", cands.iter().map(String::as_str));
                        Pattern::Wildcard { span: e.span.to(v.span) }
                    }
                }
            }
            ast::Pattern::Literal(x) => {
                let want = if matches!(x.kind, ast::ExprKind::None) {
                    Want::Infer
                } else {
                    Want::Expect(unoptional(scrutinee).clone())
                };
                let value = self.expr(x, &want);
                if matches!(value.kind, ExprKind::None) && !is_optional(scrutinee) {
                    self.mismatch(value.span, scrutinee, &Type::None);
                }
                Pattern::Literal { value }
            }
        }
    }

    fn for_expr(&mut self, f: &ast::ForLoop, span: Span, want: &Want) -> (Expr, bool) {
        let iter = self.expr(&f.iter, &Want::Infer);
        let item = match self.structure(&iter.ty) {
            Type::List { item } => *item,
            Type::Json => Type::Json,
            Type::Unknown | Type::Never => Type::Unknown,
            other => {
                self.diags.push(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("`for` iterates a list, found `{other}`"),
                        iter.span,
                        format!("this is `{other}`"),
                    )
                    .with_help("iterate a `list<T>` value"),
                );
                Type::Unknown
            }
        };
        let limit = f.limit.as_ref().map(|l| self.expr(l, &Want::Expect(Type::Int)));
        let concurrency = f.concurrency.as_ref().map(|c| self.expr(c, &Want::Expect(Type::Int)));
        let bound = match limit.as_ref().map(|l| self.static_int(l)) {
            Some(Some(n)) => {
                if n < 0 {
                    self.diags.push(Diagnostic::error(
                        "invalid-literal",
                        format!("`limit` must not be negative (found {n})"),
                        limit.as_ref().map(|l| l.span).unwrap_or(span),
                        "negative limit",
                    ));
                }
                Multiplicity::Bounded(n.max(0) as u64)
            }
            Some(None) => Multiplicity::Unbounded,
            None => match &iter.kind {
                ExprKind::List { items } => Multiplicity::Bounded(items.len() as u64),
                ExprKind::Const { id, .. } => {
                    match self.program.const_def(*id).and_then(|k| k.value.block.stmts.first()) {
                        Some(Stmt {
                            kind: StmtKind::Expr { expr: Expr { kind: ExprKind::List { items }, .. } },
                            ..
                        }) => Multiplicity::Bounded(items.len() as u64),
                        _ => Multiplicity::Unbounded,
                    }
                }
                _ => Multiplicity::Unbounded,
            },
        };
        self.body.scopes.push(Vec::new());
        let slot = self.bind(&f.var.name, item.clone(), f.var.span, iter.span, false, RefKind::Local);
        let filter = f.filter.as_ref().map(|c| self.expr(c, &Want::Expect(Type::Bool)));
        let body_want = match want {
            Want::Discard => Want::Discard,
            Want::Infer => Want::Infer,
            Want::Expect(t) => match self.structure(unoptional(t)) {
                Type::List { item } => Want::Expect(*item),
                _ => Want::Infer,
            },
        };
        self.body.loops.push((bound, span));
        self.body.path.push("for".into());
        let body = self.block(&f.body, &body_want);
        self.body.path.pop();
        self.body.loops.pop();
        self.body.scopes.pop();
        let item_ty = match &body.ty {
            Type::Never => Type::Unit,
            t => t.clone(),
        };
        let ty = match &body_want {
            Want::Expect(t) => Type::list(t.clone()),
            _ => Type::list(item_ty),
        };
        let checked = matches!(body_want, Want::Expect(_));
        let fl = ForLoop {
            var_slot: slot,
            var_name: f.var.name.to_string(),
            var_span: f.var.span,
            iter,
            filter,
            limit,
            concurrency,
            body,
            bound,
            body_effect: EffectKind::Read,
        };
        (Expr { kind: ExprKind::For(Box::new(fl)), ty, span }, checked)
    }

    /// The value of an `int` literal or of a const initialized with one.
    fn static_int(&self, e: &Expr) -> Option<i64> {
        match &e.kind {
            ExprKind::Int { value } => Some(*value),
            ExprKind::Const { id, .. } => match self.program.const_def(*id)?.value.block.stmts.first() {
                Some(Stmt { kind: StmtKind::Expr { expr }, .. }) => self.static_int(expr),
                _ => None,
            },
            _ => None,
        }
    }

    fn approve_expr(&mut self, a: &ast::Approve, span: Span, want: &Want) -> (Expr, bool) {
        let id = self.site_id("approve");
        if let Some((_, loop_span)) = self.body.loops.last().copied()
            && self.safety()
        {
            self.diags.push(
                Diagnostic::warning(
                    "approval-in-loop",
                    "an `approve` inside a `for` asks for one approval per item",
                    span,
                    "one prompt per iteration",
                )
                .with_secondary(loop_span, "the loop")
                .with_help(
                    "approve the whole batch once, outside the loop, and loop inside the `approve` body",
                ),
            );
        }
        let prompt = self.expr(&a.prompt, &Want::Infer);
        self.sink(&prompt, "an approval prompt");
        let group = a.group.as_ref().map(|g| self.expr(g, &Want::Expect(Type::String)));
        if let Some(g) = &group
            && let ExprKind::Str { value } = &g.kind
            && !self.config.approvers.is_empty()
            && !self.config.approvers.contains_key(value)
        {
            let cands: Vec<&str> = self.config.approvers.keys().map(String::as_str).collect();
            let d = self
                .unknown_diag(value, g.span, "approver group", cands)
                .with_note("groups are declared in `[approvers]` of parry.toml");
            self.diags.push(d);
        }
        let within = a.within.as_ref().map(|w| self.expr(w, &Want::Expect(Type::Duration)));
        self.body.gates.push(span);
        self.body.path.push("approved".into());
        let body = self.block(&a.body, want);
        self.body.path.pop();
        self.body.gates.pop();
        self.body.path.push("denied".into());
        let otherwise = a.otherwise.as_ref().map(|o| self.block(o, want));
        self.body.path.pop();
        let mut blocks = vec![&body];
        if let Some(o) = &otherwise {
            blocks.push(o);
        }
        let ty = self.branch_type(&blocks, otherwise.is_some(), want, span);
        let checked = want.hint().is_some();
        let ap = Approve { id, prompt, group, within, body, otherwise };
        (Expr { kind: ExprKind::Approve(Box::new(ap)), ty, span }, checked)
    }

    // ------------------------------------------------------------------------ calls

    fn call(&mut self, callee: &ast::Expr, args: &[ast::Arg], span: Span, hint: Option<&Type>) -> Expr {
        match &callee.kind {
            ast::ExprKind::Field { target, field, optional: false } => {
                if let ast::ExprKind::Name(c) = &target.kind
                    && self.lookup_local(&c.name).is_none()
                    && !self.values.contains_key(c.name.as_str())
                {
                    if let Some(&cid) = self.connectors.get(c.name.as_str()) {
                        self.reference_connector(cid, c.span);
                        return self.action_call(cid, field, args, span);
                    }
                    if !self.types.contains_key(c.name.as_str()) {
                        let mut cands: Vec<String> = self.connectors.keys().cloned().collect();
                        cands.extend(self.body.scopes.iter().flat_map(|s| s.iter().map(|(n, _)| n.clone())));
                        self.unknown(&c.name, c.span, "connector", cands.iter().map(String::as_str));
                        self.lower_args_loosely(args);
                        return Expr::error(span);
                    }
                }
                self.not_callable(callee, args, span)
            }
            ast::ExprKind::Name(id) => {
                match self.values.get(id.name.as_str()).copied() {
                    Some(ValueRef::Fn(fid)) => return self.fn_call(fid, id, args, span),
                    Some(ValueRef::Playbook(pid)) => return self.playbook_call(pid, id, args, span),
                    _ => {}
                }
                if let Some(b) = Builtin::from_name(&id.name) {
                    self.add_ref(id.span, Span::default(), RefKind::Builtin, b.signature().to_string(), None);
                    return self.builtin_call(b, id, args, span, hint);
                }
                if let Some(target) = super::types::scalar(&id.name).filter(|t| {
                    matches!(t, Type::Security { .. } | Type::String | Type::Int | Type::Float | Type::Bool)
                }) {
                    return self.conversion(target, id, args, span);
                }
                if self.lookup_local(&id.name).is_some() || self.values.contains_key(id.name.as_str()) {
                    return self.not_callable(callee, args, span);
                }
                let mut cands: Vec<String> = self
                    .values
                    .iter()
                    .filter(|(_, v)| !matches!(v, ValueRef::Const(_)))
                    .map(|(k, _)| k.clone())
                    .collect();
                cands.extend(Builtin::ALL.iter().map(|b| b.name().to_string()));
                cands.extend(SecurityKind::ALL.iter().map(|k| k.name().to_string()));
                self.unknown(&id.name, id.span, "function", cands.iter().map(String::as_str));
                self.lower_args_loosely(args);
                Expr::error(span)
            }
            _ => self.not_callable(callee, args, span),
        }
    }

    fn not_callable(&mut self, callee: &ast::Expr, args: &[ast::Arg], span: Span) -> Expr {
        let c = self.expr(callee, &Want::Infer);
        if !matches!(c.kind, ExprKind::Error) {
            self.diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("a value of type `{}` cannot be called", c.ty),
                    callee.span,
                    "not a function",
                )
                .with_help("call a function, a built-in, a playbook (in tests) or `connector.action`"),
            );
        }
        self.lower_args_loosely(args);
        Expr::error(span)
    }

    pub(crate) fn lower_args_loosely(&mut self, args: &[ast::Arg]) -> Vec<Expr> {
        args.iter().map(|a| self.expr(&a.value, &Want::Infer)).collect()
    }

    /// Binds arguments to parameters: positional first, then named; defaults fill the
    /// rest; an omitted optional parameter without default is `none`.
    pub(crate) fn bind_args(
        &mut self,
        what: &str,
        params: &[Param],
        args: &[ast::Arg],
        span: Span,
    ) -> Vec<Expr> {
        let mut slots: Vec<Option<Expr>> = vec![None; params.len()];
        let mut positional = 0usize;
        let mut seen_named = false;
        for arg in args {
            match &arg.name {
                None => {
                    if seen_named {
                        self.diags.push(
                            Diagnostic::error(
                                "wrong-arguments",
                                format!("a positional argument follows a named one in the call of {what}"),
                                arg.span,
                                "positional after named",
                            )
                            .with_help("put positional arguments first, then named ones"),
                        );
                        self.expr(&arg.value, &Want::Infer);
                        continue;
                    }
                    let i = positional;
                    positional += 1;
                    match params.get(i) {
                        Some(p) => {
                            let x = self.expr(&arg.value, &Want::Expect(p.ty.clone()));
                            if let Some(s) = slots.get_mut(i) {
                                *s = Some(x);
                            }
                        }
                        None => {
                            self.diags.push(
                                Diagnostic::error(
                                    "wrong-arguments",
                                    format!(
                                        "too many arguments: {what} takes {} but got {}",
                                        count(params.len(), "argument"),
                                        args.iter().filter(|a| a.name.is_none()).count()
                                    ),
                                    arg.span,
                                    "unexpected argument",
                                )
                                .with_help(format!("the parameters are ({})", super::params_text(params))),
                            );
                            self.expr(&arg.value, &Want::Infer);
                        }
                    }
                }
                Some(n) => {
                    seen_named = true;
                    match params.iter().position(|p| p.name == n.name) {
                        Some(i) => {
                            let p = &params[i];
                            self.add_ref(
                                n.span,
                                p.name_span,
                                RefKind::Param,
                                format!("{}: {}", p.name, p.ty),
                                None,
                            );
                            let x = self.expr(&arg.value, &Want::Expect(p.ty.clone()));
                            if slots.get(i).is_some_and(Option::is_some) {
                                self.diags.push(
                                    Diagnostic::error(
                                        "wrong-arguments",
                                        format!(
                                            "the argument `{}` is given twice in the call of {what}",
                                            n.name
                                        ),
                                        arg.span,
                                        "given again here",
                                    )
                                    .with_help("give each argument once"),
                                );
                            } else if let Some(s) = slots.get_mut(i) {
                                *s = Some(x);
                            }
                        }
                        None => {
                            let cands: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                            let mut d = Diagnostic::error(
                                "wrong-arguments",
                                format!("{what} has no parameter named `{}`", n.name),
                                arg.span,
                                "unknown argument",
                            );
                            d = match crate::suggest::did_you_mean(&n.name, cands) {
                                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                None => d.with_help(format!(
                                    "the parameters are ({})",
                                    super::params_text(params)
                                )),
                            };
                            self.diags.push(d);
                            self.expr(&arg.value, &Want::Infer);
                        }
                    }
                }
            }
        }
        let mut missing = Vec::new();
        let mut out = Vec::new();
        for (p, s) in params.iter().zip(slots) {
            match s {
                Some(x) => out.push(x),
                None => match &p.default {
                    Some(d) => out.push(d.clone()),
                    None if is_optional(&p.ty) => {
                        out.push(Expr { kind: ExprKind::None, ty: Type::None, span })
                    }
                    None => {
                        missing.push(format!("`{}: {}`", p.name, p.ty));
                        out.push(Expr::error(span));
                    }
                },
            }
        }
        if !missing.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "wrong-arguments",
                    format!(
                        "missing argument{} {} in the call of {what}",
                        if missing.len() > 1 { "s" } else { "" },
                        missing.join(", ")
                    ),
                    span,
                    "arguments missing",
                )
                .with_help(format!("the parameters are ({})", super::params_text(params))),
            );
        }
        out
    }

    fn action_call(&mut self, cid: ConnectorId, field: &ast::Ident, args: &[ast::Arg], span: Span) -> Expr {
        let Some(index) = self.actions.get(&(cid.0, field.name.to_string())).copied() else {
            self.unknown_action(cid, field);
            self.lower_args_loosely(args);
            return Expr::error(span);
        };
        let action = ActionId { connector: cid, index };
        self.reference_action(action, field.span);
        let Some((c, a)) = self.program.action(action) else { return Expr::error(span) };
        let (cname, aname, params, ret, effect, requires) = (
            c.name.clone(),
            a.name.clone(),
            a.params.clone(),
            a.ret.clone(),
            a.effect.kind,
            a.requires_approval,
        );
        let id = self.site_id("call");
        let args = self.bind_args(&format!("`{cname}.{aname}`"), &params, args, span);
        let site = CallSite {
            id,
            action,
            connector_name: cname,
            action_name: aname,
            effect,
            requires_approval: requires,
            gate: self.lexical_gate(),
            multiplicity: self.local_multiplicity(),
            span,
        };
        Expr { kind: ExprKind::Call(Call { callee: Callee::Action(Box::new(site)), args }), ty: ret, span }
    }

    fn fn_call(&mut self, fid: FnId, id: &ast::Ident, args: &[ast::Arg], span: Span) -> Expr {
        let Some(f) = self.program.function(fid) else { return Expr::error(span) };
        let (params, ret, def, doc) = (f.params.clone(), f.ret.clone(), f.name_span, f.doc.clone());
        let ret_text = if ret == Type::Unit { String::new() } else { format!(" -> {ret}") };
        self.add_ref(
            id.span,
            def,
            RefKind::Function,
            format!("fn {}({}){ret_text}", id.name, super::params_text(&params)),
            doc,
        );
        let site_id = self.site_id("fn");
        let args = self.bind_args(&format!("`{}`", id.name), &params, args, span);
        let site =
            FnCallSite { id: site_id, gate: self.lexical_gate(), multiplicity: self.local_multiplicity() };
        Expr {
            kind: ExprKind::Call(Call {
                callee: Callee::Fn { id: fid, name: id.name.to_string(), site: Box::new(site) },
                args,
            }),
            ty: ret,
            span,
        }
    }

    fn playbook_call(&mut self, pid: PlaybookId, id: &ast::Ident, args: &[ast::Arg], span: Span) -> Expr {
        let Some(p) = self.program.playbooks.get(pid.0 as usize) else { return Expr::error(span) };
        let (param, def, doc) = (p.param.clone(), p.name_span, p.doc.clone());
        let params: Vec<Param> = param.into_iter().collect();
        self.add_ref(
            id.span,
            def,
            RefKind::Playbook,
            format!("playbook {}({})", id.name, super::params_text(&params)),
            doc,
        );
        if !self.body.in_test {
            self.diags.push(
                Diagnostic::error(
                    "test-only",
                    format!("the playbook `{}` is called like a function outside a `test`", id.name),
                    span,
                    "only tests can call playbooks",
                )
                .with_help(
                    "move the shared logic into a `fn` and call that, or write this in a `test` block",
                ),
            );
        }
        let args = self.bind_args(&format!("the playbook `{}`", id.name), &params, args, span);
        Expr {
            kind: ExprKind::Call(Call {
                callee: Callee::Playbook { id: pid, name: id.name.to_string() },
                args,
            }),
            ty: Type::Run,
            span,
        }
    }

    fn conversion(&mut self, target: Type, id: &ast::Ident, args: &[ast::Arg], span: Span) -> Expr {
        self.add_ref(
            id.span,
            Span::default(),
            RefKind::Builtin,
            format!("{}(x) -> {}  (fails at run time on bad input)", id.name, target),
            None,
        );
        if args.len() != 1 || args.iter().any(|a| a.name.is_some()) {
            self.diags.push(
                Diagnostic::error(
                    "wrong-arguments",
                    format!("`{}(...)` takes exactly one positional argument", id.name),
                    span,
                    "wrong arguments",
                )
                .with_help(format!("write `{}(value)`", id.name)),
            );
            let a = self.lower_args_loosely(args);
            return Expr {
                kind: ExprKind::Call(Call { callee: Callee::Convert, args: a }),
                ty: target,
                span,
            };
        }
        let arg = &args[0];
        let x = if let Type::Security { security } = &target
            && let Some(text) = literal_text(&arg.value)
        {
            // A literal converted at compile time is validated now.
            let (x, _) = self.string_literal(text, arg.value.span, Some(&Type::security(*security)));
            x
        } else {
            self.expr(&arg.value, &Want::Infer)
        };
        let from = self.structure(&x.ty);
        let ok = match (&target, &from) {
            (_, Type::Unknown | Type::Never | Type::Json) => true,
            (Type::String, Type::Secret) => {
                self.secret_leak(&x, "a plain string");
                true
            }
            (Type::String, Type::Unit) => false,
            (Type::String, _) => true,
            (Type::Security { .. }, f) => is_stringy(f),
            (Type::Int | Type::Float, f) => is_numeric(f) || is_stringy(f),
            (Type::Bool, f) => matches!(f, Type::Bool) || is_stringy(f),
            _ => false,
        };
        if !ok {
            self.diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("cannot convert `{}` to `{target}`", x.ty),
                    x.span,
                    format!("this is `{}`", x.ty),
                )
                .with_help(format!("`{}(...)` converts strings and `json` values", id.name)),
            );
        }
        Expr { kind: ExprKind::Call(Call { callee: Callee::Convert, args: vec![x] }), ty: target, span }
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
