//! The signatures of the built-in functions (LANGUAGE.md §4) and of the test-only `load`
//! and `calls`.

use super::Checker;
use super::expr::Want;
use super::types::{is_stringy, unoptional};
use crate::Diagnostic;
use crate::ir::*;
use parry_syntax::ast::{self, Span};

impl Checker<'_> {
    pub(crate) fn builtin_call(
        &mut self,
        b: Builtin,
        id: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
        hint: Option<&Type>,
    ) -> Expr {
        if b.test_only() && !self.body.in_test {
            self.diags.push(
                Diagnostic::error(
                    "test-only",
                    format!("`{}` can only be used inside a `test`", b.name()),
                    span,
                    "outside a test",
                )
                .with_help("move this into a `test \"...\" { ... }` block"),
            );
        }
        if let Some(named) = args.iter().find(|a| a.name.is_some()) {
            self.diags.push(
                Diagnostic::error(
                    "wrong-arguments",
                    format!("`{}` takes only positional arguments", b.name()),
                    named.span,
                    "named argument",
                )
                .with_help(format!("the signature is `{}`", b.signature())),
            );
        }
        let arity = match b {
            Builtin::Now => 0,
            Builtin::Contains
            | Builtin::StartsWith
            | Builtin::EndsWith
            | Builtin::Split
            | Builtin::Join
            | Builtin::CidrContains => 2,
            _ => 1,
        };
        if args.len() != arity {
            self.diags.push(
                Diagnostic::error(
                    "wrong-arguments",
                    format!(
                        "`{}` takes {arity} argument{}, {} given",
                        b.name(),
                        if arity == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                    "wrong number of arguments",
                )
                .with_help(format!("the signature is `{}`", b.signature())),
            );
            let a = self.lower_args_loosely(args);
            return self.builtin_expr(b, a, Type::Unknown, span);
        }
        let _ = id;
        let s = || Want::Expect(Type::String);
        match b {
            Builtin::Len => {
                let x = self.expr(&args[0].value, &Want::Infer);
                match self.structure(&x.ty) {
                    Type::List { .. } | Type::Json | Type::Unknown | Type::Never => {}
                    t if is_stringy(&t) => {}
                    other => self.bad_arg(b, &x, &other, "a list, a string or `json`"),
                }
                self.builtin_expr(b, vec![x], Type::Int, span)
            }
            Builtin::Worst | Builtin::Best => {
                let want = match hint.map(|h| self.structure(unoptional(h))) {
                    Some(t @ Type::Enum { .. }) => Want::Expect(Type::list(t)),
                    _ => Want::Infer,
                };
                let x = self.expr(&args[0].value, &want);
                let ty = match self.structure(&x.ty) {
                    Type::List { item } => match self.structure(&item) {
                        t @ Type::Enum { .. } => t,
                        Type::Unknown | Type::Never => Type::Unknown,
                        other => {
                            self.bad_arg(b, &x, &Type::list(other), "a list of enum values");
                            Type::Unknown
                        }
                    },
                    Type::Unknown | Type::Never => Type::Unknown,
                    other => {
                        self.bad_arg(b, &x, &other, "a list of enum values");
                        Type::Unknown
                    }
                };
                self.builtin_expr(b, vec![x], ty, span)
            }
            Builtin::Any | Builtin::All => {
                let x = self.expr(&args[0].value, &Want::Expect(Type::list(Type::Bool)));
                self.builtin_expr(b, vec![x], Type::Bool, span)
            }
            Builtin::Contains => {
                let hay = self.expr(&args[0].value, &Want::Infer);
                let needle_want = match self.structure(&hay.ty) {
                    Type::List { item } => Want::Expect(*item),
                    t if is_stringy(&t) => s(),
                    Type::Json | Type::Unknown | Type::Never => Want::Infer,
                    other => {
                        self.bad_arg(b, &hay, &other, "a list or a string");
                        Want::Infer
                    }
                };
                let needle = self.expr(&args[1].value, &needle_want);
                self.builtin_expr(b, vec![hay, needle], Type::Bool, span)
            }
            Builtin::Unique => {
                let x = self.expr(&args[0].value, &Want::Infer);
                let ty = match self.structure(&x.ty) {
                    t @ Type::List { .. } => t,
                    Type::Unknown | Type::Never => Type::Unknown,
                    other => {
                        self.bad_arg(b, &x, &other, "a list");
                        Type::Unknown
                    }
                };
                self.builtin_expr(b, vec![x], ty, span)
            }
            Builtin::Flatten => {
                let x = self.expr(&args[0].value, &Want::Infer);
                let ty = match self.structure(&x.ty) {
                    Type::List { item } => match self.structure(&item) {
                        t @ Type::List { .. } => t,
                        Type::Unknown | Type::Never => Type::Unknown,
                        other => {
                            self.bad_arg(b, &x, &Type::list(other), "a list of lists");
                            Type::Unknown
                        }
                    },
                    Type::Unknown | Type::Never => Type::Unknown,
                    other => {
                        self.bad_arg(b, &x, &other, "a list of lists");
                        Type::Unknown
                    }
                };
                self.builtin_expr(b, vec![x], ty, span)
            }
            Builtin::Lower
            | Builtin::Upper
            | Builtin::Defang
            | Builtin::Refang
            | Builtin::Base64
            | Builtin::Base64url => {
                let x = self.expr(&args[0].value, &s());
                self.builtin_expr(b, vec![x], Type::String, span)
            }
            Builtin::StartsWith | Builtin::EndsWith => {
                let x = self.expr(&args[0].value, &s());
                let y = self.expr(&args[1].value, &s());
                self.builtin_expr(b, vec![x, y], Type::Bool, span)
            }
            Builtin::Split => {
                let x = self.expr(&args[0].value, &s());
                let y = self.expr(&args[1].value, &s());
                self.builtin_expr(b, vec![x, y], Type::list(Type::String), span)
            }
            Builtin::Join => {
                let x = self.expr(&args[0].value, &Want::Expect(Type::list(Type::String)));
                let y = self.expr(&args[1].value, &s());
                self.builtin_expr(b, vec![x, y], Type::String, span)
            }
            Builtin::Now => self.builtin_expr(b, vec![], Type::Time, span),
            Builtin::ExtractUrls
            | Builtin::ExtractDomains
            | Builtin::ExtractIps
            | Builtin::ExtractEmails
            | Builtin::ExtractHashes => {
                let x = self.expr(&args[0].value, &s());
                let kind = match b {
                    Builtin::ExtractUrls => SecurityKind::Url,
                    Builtin::ExtractDomains => SecurityKind::Domain,
                    Builtin::ExtractIps => SecurityKind::Ip,
                    Builtin::ExtractEmails => SecurityKind::Email,
                    _ => SecurityKind::Hash,
                };
                self.builtin_expr(b, vec![x], Type::list(Type::security(kind)), span)
            }
            Builtin::DomainOf => {
                let x = self.expr(&args[0].value, &Want::Infer);
                match self.structure(&x.ty) {
                    t if is_stringy(&t) => {}
                    Type::Unknown | Type::Never | Type::Json => {}
                    other => self.bad_arg(b, &x, &other, "a `url`, `email`, `host` or string"),
                }
                self.builtin_expr(b, vec![x], Type::security(SecurityKind::Domain), span)
            }
            Builtin::IsPrivate => {
                let x = self.expr(&args[0].value, &Want::Expect(Type::security(SecurityKind::Ip)));
                self.builtin_expr(b, vec![x], Type::Bool, span)
            }
            Builtin::CidrContains => {
                let x = self.expr(&args[0].value, &Want::Expect(Type::security(SecurityKind::Cidr)));
                let y = self.expr(&args[1].value, &Want::Expect(Type::security(SecurityKind::Ip)));
                self.builtin_expr(b, vec![x, y], Type::Bool, span)
            }
            Builtin::Sha256 => {
                let x = self.expr(&args[0].value, &s());
                self.builtin_expr(b, vec![x], Type::security(SecurityKind::Hash), span)
            }
            Builtin::ParseJson => {
                let x = self.expr(&args[0].value, &s());
                self.builtin_expr(b, vec![x], Type::Json, span)
            }
            Builtin::ToJson => {
                let x = self.expr(&args[0].value, &Want::Infer);
                self.sink(&x, "`to_json`");
                self.builtin_expr(b, vec![x], Type::String, span)
            }
            Builtin::Load => {
                let x = self.expr(&args[0].value, &s());
                let ty = match hint {
                    Some(h) if !h.is_unknown() => h.clone(),
                    _ => Type::Json,
                };
                self.builtin_expr(b, vec![x], ty, span)
            }
            Builtin::Calls => {
                let arg = &args[0].value;
                let action = match &arg.kind {
                    ast::ExprKind::Field { target, field, optional: false } => match &target.kind {
                        ast::ExprKind::Name(c) => match self.connectors.get(c.name.as_str()).copied() {
                            Some(cid) => {
                                self.reference_connector(cid, c.span);
                                match self.actions.get(&(cid.0, field.name.to_string())).copied() {
                                    Some(index) => {
                                        let a = ActionId { connector: cid, index };
                                        self.reference_action(a, field.span);
                                        Some(a)
                                    }
                                    None => {
                                        self.unknown_action(cid, field);
                                        None
                                    }
                                }
                            }
                            None => {
                                let cands: Vec<String> = self.connectors.keys().cloned().collect();
                                self.unknown(&c.name, c.span, "connector", cands.iter().map(String::as_str));
                                None
                            }
                        },
                        _ => None,
                    },
                    _ => None,
                };
                let Some(action) = action else {
                    if !matches!(arg.kind, ast::ExprKind::Field { .. }) {
                        self.diags.push(
                            Diagnostic::error(
                                "wrong-arguments",
                                "`calls` takes an action: `calls(connector.action)`",
                                arg.span,
                                "not an action",
                            )
                            .with_help("write e.g. `calls(mail.quarantine)`"),
                        );
                    }
                    return self.builtin_expr(b, vec![], Type::Unknown, span);
                };
                let fields = self
                    .program
                    .action(action)
                    .map(|(_, a)| {
                        a.params
                            .iter()
                            .map(|p| FieldType {
                                name: p.name.clone(),
                                ty: p.ty.clone(),
                                doc: None,
                                span: p.name_span,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let x = Expr { kind: ExprKind::ActionRef { action }, ty: Type::Unknown, span: arg.span };
                self.builtin_expr(b, vec![x], Type::list(Type::Record { fields }), span)
            }
        }
    }

    fn builtin_expr(&mut self, b: Builtin, args: Vec<Expr>, ty: Type, span: Span) -> Expr {
        Expr { kind: ExprKind::Call(Call { callee: Callee::Builtin { builtin: b }, args }), ty, span }
    }

    fn bad_arg(&mut self, b: Builtin, x: &Expr, found: &Type, expected: &str) {
        self.diags.push(
            Diagnostic::error(
                "type-mismatch",
                format!("`{}` expects {expected}, found `{found}`", b.name()),
                x.span,
                format!("this is `{found}`"),
            )
            .with_help(format!("the signature is `{}`", b.signature())),
        );
    }
}
