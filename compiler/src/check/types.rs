//! Type relations: assignability (`fits`), joins of branch types, exact equality for undo
//! signatures, and the resolution of written types.

use super::Checker;
use crate::ir::{FieldType, SecurityKind, Type};
use crate::suggest::did_you_mean;
use parry_syntax::ast;

/// The scalar type names of LANGUAGE.md §2.
pub(crate) const SCALARS: &[&str] =
    &["bool", "int", "float", "string", "duration", "time", "json", "unit", "secret"];

pub(crate) fn scalar(name: &str) -> Option<Type> {
    Some(match name {
        "bool" => Type::Bool,
        "int" => Type::Int,
        "float" => Type::Float,
        "string" => Type::String,
        "duration" => Type::Duration,
        "time" => Type::Time,
        "json" => Type::Json,
        "unit" => Type::Unit,
        "secret" => Type::Secret,
        other => Type::security(SecurityKind::from_name(other)?),
    })
}

pub(crate) fn is_optional(t: &Type) -> bool {
    matches!(t, Type::Optional { .. } | Type::None | Type::Unknown)
}

/// Strips one optional layer.
pub(crate) fn unoptional(t: &Type) -> &Type {
    match t {
        Type::Optional { inner } => inner,
        other => other,
    }
}

pub(crate) fn is_numeric(t: &Type) -> bool {
    matches!(t, Type::Int | Type::Float)
}

/// String-like: `string` and the security types (which convert to `string`).
pub(crate) fn is_stringy(t: &Type) -> bool {
    matches!(t, Type::String | Type::Security { .. })
}

impl Checker<'_> {
    /// Follows named types to their structure; `Unknown` for broken aliases.
    pub(crate) fn structure(&self, t: &Type) -> Type {
        let r = self.program.resolve_type(t);
        match r {
            Type::Named { .. } => Type::Unknown,
            other => other.clone(),
        }
    }

    /// May a value of type `a` be used where `e` is expected?
    pub(crate) fn fits(&self, a: &Type, e: &Type) -> bool {
        self.fits_depth(a, e, 0)
    }

    fn fits_depth(&self, a: &Type, e: &Type, depth: u32) -> bool {
        use Type as T;
        if depth > 32 {
            return true;
        }
        let d = depth + 1;
        match (a, e) {
            (T::Unknown | T::Never, _) | (_, T::Unknown) => true,
            (T::Named { id: x, .. }, T::Named { id: y, .. }) if x == y => true,
            (T::Named { .. }, _) => self.fits_depth(&self.structure(a), e, d),
            (_, T::Named { .. }) => self.fits_depth(a, &self.structure(e), d),
            (T::None, T::Optional { .. }) => true,
            (T::Optional { inner: x }, T::Optional { inner: y }) => self.fits_depth(x, y, d),
            (_, T::Optional { inner }) => self.fits_depth(a, inner, d),
            (T::Secret, T::Secret) => true,
            // For typing, a secret is a string; `secret-leak` reports where it goes.
            (T::Secret, _) => self.fits_depth(&T::String, e, d),
            (T::String | T::Security { .. }, T::Secret) => true,
            (T::Security { security: x }, T::Security { security: y }) => x == y,
            (T::Security { .. }, T::String) => true,
            (T::List { item: x }, T::List { item: y }) => self.fits_depth(x, y, d),
            (T::Record { fields: af }, T::Record { fields: ef }) => {
                ef.iter().all(|f| match af.iter().find(|g| g.name == f.name) {
                    Some(g) => self.fits_depth(&g.ty, &f.ty, d),
                    None => is_optional(&f.ty),
                })
            }
            (T::Error, T::Record { .. }) => {
                self.fits_depth(&T::Record { fields: Type::error_fields() }, e, d)
            }
            (T::Run, T::Record { .. }) => self.fits_depth(&T::Record { fields: Type::run_fields() }, e, d),
            (T::Enum { id: x, .. }, T::Enum { id: y, .. }) => x == y,
            // Every value but `unit` serializes to JSON.
            (_, T::Json) => !matches!(a, T::Unit),
            (x, y) => {
                std::mem::discriminant(x) == std::mem::discriminant(y) && !matches!(x, T::Record { .. })
            }
        }
    }

    /// The type of a value that may come from either of two branches, if they agree.
    pub(crate) fn join(&self, a: &Type, b: &Type) -> Option<Type> {
        match (a, b) {
            (Type::Never, _) | (Type::Unknown, _) => return Some(b.clone()),
            (_, Type::Never) | (_, Type::Unknown) => return Some(a.clone()),
            (Type::None, Type::None) => return Some(Type::None),
            (Type::None, other) | (other, Type::None) => return Some(Type::optional(other.clone())),
            _ => {}
        }
        if a == b {
            return Some(a.clone());
        }
        if self.fits(a, b) {
            return Some(b.clone());
        }
        if self.fits(b, a) {
            return Some(a.clone());
        }
        if is_numeric(a) && is_numeric(b) {
            return Some(Type::Float);
        }
        None
    }

    /// Exact equality after resolving aliases (undo actions must take the same types).
    pub(crate) fn same_type(&self, a: &Type, b: &Type) -> bool {
        match (a, b) {
            (Type::Named { id: x, .. }, Type::Named { id: y, .. }) if x == y => true,
            (Type::Named { .. }, _) | (_, Type::Named { .. }) => {
                let (x, y) = (self.structure(a), self.structure(b));
                if matches!(x, Type::Named { .. }) || matches!(y, Type::Named { .. }) {
                    return false;
                }
                self.fits(&x, &y)
                    && self.fits(&y, &x)
                    && std::mem::discriminant(&x) == std::mem::discriminant(&y)
            }
            (Type::List { item: x }, Type::List { item: y }) => self.same_type(x, y),
            (Type::Optional { inner: x }, Type::Optional { inner: y }) => self.same_type(x, y),
            (Type::Record { fields: xs }, Type::Record { fields: ys }) => {
                xs.len() == ys.len()
                    && xs.iter().all(|f| ys.iter().any(|g| g.name == f.name && self.same_type(&f.ty, &g.ty)))
            }
            _ => a == b,
        }
    }

    /// The fields of a record-like type, if it is one.
    pub(crate) fn record_fields(&self, t: &Type) -> Option<Vec<FieldType>> {
        match self.structure(t) {
            Type::Record { fields } => Some(fields),
            Type::Run => Some(Type::run_fields()),
            Type::Error => Some(Type::error_fields()),
            _ => None,
        }
    }

    /// Resolves a written type. Inside a connector, its own types are found by bare name.
    pub(crate) fn resolve_type_expr(&mut self, t: &ast::TypeExpr) -> Type {
        match &t.kind {
            ast::TypeExprKind::Named(id) => self.resolve_type_name(id),
            ast::TypeExprKind::Qualified(c, n) => {
                let Some(&cid) = self.connectors.get(c.name.as_str()) else {
                    let cands: Vec<String> = self.connectors.keys().cloned().collect();
                    self.unknown(&c.name, c.span, "connector", cands.iter().map(String::as_str));
                    return Type::Unknown;
                };
                self.reference_connector(cid, c.span);
                match self.conn_types.get(&(cid.0, n.name.to_string())).copied() {
                    Some(tid) => {
                        self.reference_type(tid, n.span);
                        self.named_type(tid)
                    }
                    None => {
                        let cands: Vec<String> = self
                            .conn_types
                            .keys()
                            .filter(|(c2, _)| *c2 == cid.0)
                            .map(|(_, n)| n.clone())
                            .collect();
                        self.unknown(
                            &format!("{}.{}", c.name, n.name),
                            n.span,
                            "type",
                            cands.iter().map(String::as_str),
                        );
                        Type::Unknown
                    }
                }
            }
            ast::TypeExprKind::List(inner) => Type::list(self.resolve_type_expr(inner)),
            ast::TypeExprKind::Optional(inner) => Type::optional(self.resolve_type_expr(inner)),
            ast::TypeExprKind::Record(fields) => {
                let mut out: Vec<FieldType> = Vec::new();
                for f in fields {
                    if let Some(prev) = out.iter().find(|g| g.name == f.name.name) {
                        let prev_span = prev.span;
                        self.duplicate(&f.name.name, "field", f.name.span, Some(prev_span));
                        continue;
                    }
                    let ty = self.resolve_type_expr(&f.ty);
                    out.push(FieldType {
                        name: f.name.name.to_string(),
                        ty,
                        doc: f.doc.clone(),
                        span: f.name.span,
                    });
                }
                Type::Record { fields: out }
            }
        }
    }

    fn resolve_type_name(&mut self, id: &ast::Ident) -> Type {
        if let Some(t) = scalar(&id.name) {
            return t;
        }
        if let Some(cid) = self.body.connector
            && let Some(&tid) = self.conn_types.get(&(cid.0, id.name.to_string()))
        {
            self.reference_type(tid, id.span);
            return self.named_type(tid);
        }
        match self.types.get(id.name.as_str()).copied() {
            Some(super::TypeRef::Named(tid)) => {
                self.reference_type(tid, id.span);
                self.named_type(tid)
            }
            Some(super::TypeRef::Enum(eid)) => {
                self.reference_enum(eid, id.span);
                self.enum_type(eid)
            }
            None => {
                let mut cands: Vec<String> = self.types.keys().cloned().collect();
                cands.extend(SCALARS.iter().map(|s| s.to_string()));
                cands.extend(SecurityKind::ALL.iter().map(|k| k.name().to_string()));
                if let Some(cid) = self.body.connector {
                    cands.extend(self.conn_types.keys().filter(|(c, _)| *c == cid.0).map(|(_, n)| n.clone()));
                }
                let help = if id.name == "list" { Some("write a list type as `list<T>`") } else { None };
                let mut d = self.unknown_diag(&id.name, id.span, "type", cands.iter().map(String::as_str));
                if let Some(h) = help {
                    d = d.with_help(h);
                }
                self.diags.push(d);
                Type::Unknown
            }
        }
    }

    pub(crate) fn named_type(&self, id: crate::ir::TypeId) -> Type {
        let name = self.program.type_def(id).map(|t| t.name.clone()).unwrap_or_default();
        Type::Named { id, name }
    }

    pub(crate) fn enum_type(&self, id: crate::ir::EnumId) -> Type {
        let name = self.program.enum_def(id).map(|t| t.name.clone()).unwrap_or_default();
        Type::Enum { id, name }
    }

    /// Builds an "unknown X" diagnostic with a did-you-mean suggestion.
    pub(crate) fn unknown_diag<'c>(
        &self,
        name: &str,
        span: parry_syntax::ast::Span,
        what: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> crate::Diagnostic {
        let mut d = crate::Diagnostic::error(
            "unknown-name",
            format!("unknown {what} `{name}`"),
            span,
            format!("`{name}` is not defined here"),
        );
        if let Some(s) = did_you_mean(name, candidates) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_help(format!("declare the {what} or check the spelling"));
        }
        d
    }

    /// Builds the diagnostic for a missing record field.
    pub(crate) fn unknown_field<'c>(
        &self,
        name: &str,
        span: parry_syntax::ast::Span,
        owner: &Type,
        fields: impl IntoIterator<Item = &'c str>,
    ) -> crate::Diagnostic {
        let fields: Vec<&str> = fields.into_iter().collect();
        let d = crate::Diagnostic::error(
            "unknown-name",
            format!("`{owner}` has no field `{name}`"),
            span,
            "no such field",
        );
        match did_you_mean(name, fields.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None if fields.is_empty() => d.with_help(format!("`{owner}` has no fields")),
            None => d.with_help(format!("the fields of `{owner}` are: {}", fields.join(", "))),
        }
    }

    pub(crate) fn unknown<'c>(
        &mut self,
        name: &str,
        span: parry_syntax::ast::Span,
        what: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) {
        let d = self.unknown_diag(name, span, what, candidates);
        self.diags.push(d);
    }

    pub(crate) fn duplicate(
        &mut self,
        name: &str,
        what: &str,
        span: parry_syntax::ast::Span,
        first: Option<parry_syntax::ast::Span>,
    ) {
        let mut d = crate::Diagnostic::error(
            "duplicate-definition",
            format!("the {what} `{name}` is defined more than once"),
            span,
            "defined again here",
        )
        .with_help(format!("rename or remove one of the definitions of `{name}`"));
        match first {
            Some(f) if f != parry_syntax::ast::Span::default() => {
                d = d.with_secondary(f, "first defined here")
            }
            Some(_) => d = d.with_note(format!("`{name}` is built into the language")),
            None => {}
        }
        self.diags.push(d);
    }

    pub(crate) fn mismatch(&mut self, span: parry_syntax::ast::Span, expected: &Type, found: &Type) {
        let d = crate::Diagnostic::error(
            "type-mismatch",
            format!("expected `{expected}`, found `{found}`"),
            span,
            format!("this is `{found}`"),
        );
        let d = match (expected, found) {
            (Type::Security { security }, Type::String) => d.with_help(format!(
                "convert the string with `{}(...)`, which fails at run time on invalid input",
                security.name()
            )),
            (Type::Optional { .. }, _) | (_, Type::Optional { .. }) if !is_optional(expected) => {
                d.with_help("the value may be `none`: give a fallback with `??` or use `?.`")
            }
            _ => d,
        };
        self.diags.push(d);
    }
}
