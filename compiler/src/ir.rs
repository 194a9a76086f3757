//! The typed intermediate representation: what the interpreter executes, what the safety
//! analyses inspect, and what the language server hovers over.
//!
//! The IR is produced by the compiler from the AST after name resolution and type checking.
//! It never refers back to the AST: every name is resolved to an id (an index into one of
//! the tables of [`Program`]) or to a local slot, and every expression carries its [`Type`]
//! and its [`Span`].
//!
//! Conventions:
//! - Ids ([`TypeId`], [`EnumId`], [`ConnectorId`], [`FnId`], [`PlaybookId`], [`ConstId`]) are
//!   indices into the matching `Program` vector. They are stable within one compilation only;
//!   anything persisted across compilations (the run journal) keys on [`CallSiteId`] and on
//!   names instead.
//! - Locals (parameters, `let`, loop variables, `catch` bindings) live in numbered slots,
//!   unique within one body ([`Body::locals`] slots in all); a slot is never reused.
//! - The IR is produced best-effort even when the program has errors: an expression that
//!   could not be resolved is [`ExprKind::Error`] with type [`Type::Unknown`]. A program
//!   with error diagnostics must not be executed.
//! - Declarations from the embedded standard library are included like user declarations;
//!   their spans point into the `<stdlib>/NAME.play` files of the source map.

use parry_syntax::ast::Span;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use parry_syntax::ast::{ApprovalDecision, BinaryOp, UnaryOp};

// ---------------------------------------------------------------------------------------
// Ids and references
// ---------------------------------------------------------------------------------------

/// Index into [`Program::types`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TypeId(pub u32);

/// Index into [`Program::enums`]. The built-in enums come first: see [`EnumId::VERDICT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnumId(pub u32);

impl EnumId {
    pub const VERDICT: EnumId = EnumId(0);
    pub const SEVERITY: EnumId = EnumId(1);
    pub const DISPOSITION: EnumId = EnumId(2);
}

/// Index into [`Program::connectors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnectorId(pub u32);

/// One action: its connector and its index in [`Connector::actions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionId {
    pub connector: ConnectorId,
    pub index: u32,
}

/// Index into [`Program::functions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FnId(pub u32);

/// Index into [`Program::playbooks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlaybookId(pub u32);

/// Index into [`Program::consts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConstId(pub u32);

/// A local variable slot within one [`Body`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slot(pub u32);

/// A stable identifier of one action call site (or one `approve`), used by the run journal.
///
/// It is built from the declaring item (`playbook:NAME`, `fn:NAME`, `test:"NAME"`,
/// `const:NAME`, `connector:NAME` for parameter defaults) and the path of the node inside
/// that item's IR: statement indices and the branch taken at each level (`then`, `else`,
/// `armN`, `for`, `approved`, `denied`, `try`, `catch`), ending in `call`, `fn` or
/// `approve` (numbered `call1`, `call2`, ... when one statement holds several), e.g.
/// `playbook:phishing_triage/10/arm0/0/for/0/call`. It does not change when other items
/// change; it does change when the enclosing body is edited before the call. Loop indices
/// are appended at run time by the interpreter. Shared text: every journal key of the call
/// holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallSiteId(pub std::sync::Arc<str>);

impl fmt::Display for CallSiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

/// The eight validated string types of LANGUAGE.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityKind {
    Ip,
    Cidr,
    Domain,
    Url,
    Email,
    Hash,
    Host,
    User,
}

impl SecurityKind {
    pub const ALL: [SecurityKind; 8] = [
        SecurityKind::Ip,
        SecurityKind::Cidr,
        SecurityKind::Domain,
        SecurityKind::Url,
        SecurityKind::Email,
        SecurityKind::Hash,
        SecurityKind::Host,
        SecurityKind::User,
    ];

    /// The type's name as written in `.play` (`ip`, `cidr`, ...), also the name
    /// `security::validate` takes.
    pub fn name(self) -> &'static str {
        match self {
            SecurityKind::Ip => "ip",
            SecurityKind::Cidr => "cidr",
            SecurityKind::Domain => "domain",
            SecurityKind::Url => "url",
            SecurityKind::Email => "email",
            SecurityKind::Hash => "hash",
            SecurityKind::Host => "host",
            SecurityKind::User => "user",
        }
    }

    pub fn from_name(name: &str) -> Option<SecurityKind> {
        SecurityKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A field of a record type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldType {
    pub name: String,
    /// An optional field has type `Optional(T)`; it may be missing from literals and alerts.
    pub ty: Type,
    pub doc: Option<String>,
    /// Where the field is declared (a default span for built-in records such as `Run`).
    pub span: Span,
}

/// A type after resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Duration,
    Time,
    /// Undecoded JSON; `j.field` and `j[i]` yield `json`.
    Json,
    Unit,
    /// An opaque configuration value; see the `secret-leak` rule.
    Secret,
    /// `ip cidr domain url email hash host user`: strings validated on construction.
    Security {
        security: SecurityKind,
    },
    List {
        item: Box<Type>,
    },
    Optional {
        inner: Box<Type>,
    },
    /// A structural record `{ name: T, other: U? }`.
    Record {
        fields: Vec<FieldType>,
    },
    /// A declared `type NAME = ...` (also connector-scoped: `name` is then `mail.Message`).
    /// Its structure is `Program::types[id].ty`.
    Named {
        id: TypeId,
        name: String,
    },
    /// A declared or built-in enum.
    Enum {
        id: EnumId,
        name: String,
    },
    /// What calling a playbook returns (tests only): see [`Type::run_fields`].
    Run,
    /// The `err` of `catch err`: `{ kind: string, message: string, action: string? }`.
    Error,
    /// The type of the `none` literal before it meets an optional.
    None,
    /// The type of `resolve`, `escalate`, `fail`: control never continues. Fits everywhere.
    Never,
    /// Error recovery: an expression whose type could not be determined. Fits everywhere,
    /// so one mistake is reported once.
    Unknown,
}

impl Type {
    pub fn list(item: Type) -> Type {
        Type::List { item: Box::new(item) }
    }

    /// `T?`; an optional of an optional stays one optional.
    pub fn optional(inner: Type) -> Type {
        match inner {
            Type::Optional { .. } | Type::None | Type::Unknown => inner,
            other => Type::Optional { inner: Box::new(other) },
        }
    }

    pub fn security(kind: SecurityKind) -> Type {
        Type::Security { security: kind }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Unknown)
    }

    /// The fields of a [`Type::Run`]:
    /// `{ disposition: Disposition, notes: list<string>, evidence: json,
    ///    recommendation: string?, actions: list<json>, approvals: list<json>, error: string? }`.
    pub fn run_fields() -> Vec<FieldType> {
        let f =
            |name: &str, ty: Type| FieldType { name: name.to_string(), ty, doc: None, span: Span::default() };
        vec![
            f("disposition", Type::Enum { id: EnumId::DISPOSITION, name: "Disposition".into() }),
            f("notes", Type::list(Type::String)),
            f("evidence", Type::Json),
            f("recommendation", Type::optional(Type::String)),
            f("actions", Type::list(Type::Json)),
            f("approvals", Type::list(Type::Json)),
            f("error", Type::optional(Type::String)),
        ]
    }

    /// The fields of a [`Type::Error`]: `{ kind: string, message: string, action: string? }`.
    pub fn error_fields() -> Vec<FieldType> {
        let f =
            |name: &str, ty: Type| FieldType { name: name.to_string(), ty, doc: None, span: Span::default() };
        vec![f("kind", Type::String), f("message", Type::String), f("action", Type::optional(Type::String))]
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::String => f.write_str("string"),
            Type::Duration => f.write_str("duration"),
            Type::Time => f.write_str("time"),
            Type::Json => f.write_str("json"),
            Type::Unit => f.write_str("unit"),
            Type::Secret => f.write_str("secret"),
            Type::Security { security } => f.write_str(security.name()),
            Type::List { item } => write!(f, "list<{item}>"),
            Type::Optional { inner } => write!(f, "{inner}?"),
            Type::Record { fields } => {
                f.write_str("{ ")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", field.name, field.ty)?;
                }
                f.write_str(if fields.is_empty() { "}" } else { " }" })
            }
            Type::Named { name, .. } | Type::Enum { name, .. } => f.write_str(name),
            Type::Run => f.write_str("Run"),
            Type::Error => f.write_str("{ kind: string, message: string, action: string? }"),
            Type::None => f.write_str("none"),
            Type::Never => f.write_str("never"),
            Type::Unknown => f.write_str("unknown"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Program and declarations
// ---------------------------------------------------------------------------------------

/// A whole compiled project (user files and the standard library).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Declared types, top-level and connector-scoped.
    pub types: Vec<TypeDef>,
    /// Built-in enums (`Verdict`, `Severity`, `Disposition`, at [`EnumId::VERDICT`] ...)
    /// then declared ones.
    pub enums: Vec<EnumDef>,
    pub connectors: Vec<Connector>,
    pub functions: Vec<Function>,
    pub playbooks: Vec<Playbook>,
    pub consts: Vec<Const>,
    pub tests: Vec<Test>,
    /// Every resolved name use, for go-to-definition, hover and find-references.
    pub references: Vec<Reference>,
}

/// `type NAME = TYPE`, top level or inside a connector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    /// The name used outside the declaring connector: `Alert`, `mail.Message`.
    pub name: String,
    /// Set for a type declared inside a connector.
    pub connector: Option<ConnectorId>,
    /// The structure (never `Named` of itself).
    pub ty: Type,
    pub doc: Option<String>,
    /// The declared name.
    pub name_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnumDef {
    pub name: String,
    /// In declaration order; a variant's ordinal is its index here.
    pub variants: Vec<Variant>,
    pub doc: Option<String>,
    /// True for `Verdict`, `Severity`, `Disposition` (their spans are default spans).
    pub builtin: bool,
    pub name_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub span: Span,
}

/// `connector NAME { ... }`: the interface of a service; the implementation is chosen in
/// `parry.toml` (`[connectors.NAME]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    pub name: String,
    pub doc: Option<String>,
    /// Types declared inside the connector.
    pub types: Vec<TypeId>,
    pub actions: Vec<Action>,
    /// True when declared by the embedded standard library.
    pub stdlib: bool,
    pub name_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    /// `unit` when no `-> TYPE` is written.
    pub ret: Type,
    pub effect: Effect,
    /// Destructive, or listed in `policy.require_approval`: must run inside an `approve`.
    pub requires_approval: bool,
    pub name_span: Span,
    pub span: Span,
}

/// What an action does to the world, ordered `read < write < reversible < destructive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectKind {
    Read,
    Write,
    Reversible,
    Destructive,
}

impl EffectKind {
    pub fn name(self) -> &'static str {
        match self {
            EffectKind::Read => "read",
            EffectKind::Write => "write",
            EffectKind::Reversible => "reversible",
            EffectKind::Destructive => "destructive",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub kind: EffectKind,
    /// For `reversible(undo: X)`: the undo action, when it resolves to an action of the same
    /// connector (even one with mismatching parameters, which is reported as `missing-undo`).
    pub undo: Option<ActionId>,
    pub span: Span,
}

/// A parameter of a playbook, function or action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    /// The parameter's local slot (for functions and playbooks; actions number them too).
    pub slot: Slot,
    pub ty: Type,
    /// Evaluated at the call when the argument is omitted. Call sites already have defaults
    /// filled in (see [`Call::args`]); this is kept for hover and the interpreter's API.
    pub default: Option<Expr>,
    pub name_span: Span,
    pub span: Span,
}

/// A body of code with its own local slots (playbook, function, test, const initializer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub block: Block,
    /// Number of local slots used (parameters included); slots are `0..locals`.
    pub locals: u32,
}

/// `fn NAME(PARAMS) -> TYPE { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    /// `unit` when no `-> TYPE` is written (the body's value is then discarded).
    pub ret: Type,
    pub body: Body,
    /// The strongest effect the function can have, through every call it makes.
    pub effect: EffectKind,
    pub name_span: Span,
    pub span: Span,
}

/// `playbook NAME(PARAM: TYPE) when EXPR saves DURATION { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    pub name: String,
    pub doc: Option<String>,
    /// The alert parameter (slot 0). `None` only in erroneous programs.
    pub param: Option<Param>,
    /// Trigger condition (`bool`), evaluated with the parameter bound.
    pub when: Option<Expr>,
    /// Analyst time one run replaces, in milliseconds.
    pub saves_ms: Option<u64>,
    pub body: Body,
    /// The strongest effect a run can have.
    pub effect: EffectKind,
    pub name_span: Span,
    pub span: Span,
}

/// `const NAME: TYPE = EXPR`. Consts may refer to other consts (never cyclically).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Const {
    pub name: String,
    pub doc: Option<String>,
    pub ty: Type,
    /// The initializer, with its own slots (it has no locals in practice).
    pub value: Body,
    pub name_span: Span,
    pub span: Span,
}

/// `test "description" { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub name: String,
    pub body: Body,
    pub name_span: Span,
    pub span: Span,
}

/// One resolved use of a name: where it is written and where it is defined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The name as written at the use.
    pub span: Span,
    /// The defining name (a default span for built-ins, which have no source).
    pub def: Span,
    pub kind: RefKind,
    /// Hover text: a signature such as `let verdict: Verdict` or
    /// `action mail.search(sender: email, ...) -> list<Message> effect read`.
    pub detail: String,
    pub doc: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    Local,
    Param,
    Const,
    Function,
    Playbook,
    Connector,
    Action,
    Type,
    Enum,
    Variant,
    Field,
    Builtin,
}

impl Program {
    /// `(use span, definition span)` of every resolved name whose definition has source.
    pub fn definitions(&self) -> Vec<(Span, Span)> {
        self.references.iter().filter(|r| r.def != Span::default()).map(|r| (r.span, r.def)).collect()
    }

    /// The innermost reference whose use span contains the byte `offset` of `file`.
    pub fn reference_at(&self, file: parry_syntax::ast::FileId, offset: u32) -> Option<&Reference> {
        self.references
            .iter()
            .filter(|r| r.span.file == file && r.span.start <= offset && offset <= r.span.end)
            .min_by_key(|r| r.span.end.saturating_sub(r.span.start))
    }

    /// The innermost typed expression of `file` containing byte `offset` (for hover).
    pub fn expr_at(&self, file: parry_syntax::ast::FileId, offset: u32) -> Option<&Expr> {
        crate::visit::expr_at(self, file, offset)
    }

    pub fn playbook(&self, name: &str) -> Option<(PlaybookId, &Playbook)> {
        self.playbooks
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name)
            .map(|(i, p)| (PlaybookId(i as u32), p))
    }

    pub fn connector(&self, name: &str) -> Option<(ConnectorId, &Connector)> {
        self.connectors
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .map(|(i, c)| (ConnectorId(i as u32), c))
    }

    pub fn action(&self, id: ActionId) -> Option<(&Connector, &Action)> {
        let c = self.connectors.get(id.connector.0 as usize)?;
        Some((c, c.actions.get(id.index as usize)?))
    }

    pub fn function(&self, id: FnId) -> Option<&Function> {
        self.functions.get(id.0 as usize)
    }

    pub fn enum_def(&self, id: EnumId) -> Option<&EnumDef> {
        self.enums.get(id.0 as usize)
    }

    pub fn type_def(&self, id: TypeId) -> Option<&TypeDef> {
        self.types.get(id.0 as usize)
    }

    pub fn const_def(&self, id: ConstId) -> Option<&Const> {
        self.consts.get(id.0 as usize)
    }

    /// Follows `Named` types to their structure (a bounded number of steps; aliases are
    /// acyclic in programs without errors).
    pub fn resolve_type<'a>(&'a self, mut ty: &'a Type) -> &'a Type {
        for _ in 0..64 {
            match ty {
                Type::Named { id, .. } => match self.type_def(*id) {
                    Some(def) => ty = &def.ty,
                    None => return ty,
                },
                _ => return ty,
            }
        }
        ty
    }
}

// ---------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------

/// `{ stmt ... }`. Its value is the value of its last statement when that is an
/// expression statement, else `unit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// The block's value type (`never` when it always ends the run).
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stmt {
    pub kind: StmtKind,
    /// The statement, attributes excluded.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stmt", rename_all = "snake_case")]
pub enum StmtKind {
    /// `let NAME: TYPE = EXPR` (the declared type, if any, is `value.ty` after coercion).
    Let { name: String, slot: Slot, name_span: Span, value: Expr },
    /// An expression evaluated for its effect (or as the block's value when last).
    Expr { expr: Expr },
    /// `note EXPR`: appends `string(value)` to the case notes.
    Note { value: Expr },
    /// `evidence LABEL = EXPR`
    Evidence { label: Expr, value: Expr },
    /// `recommend EXPR`
    Recommend { value: Expr },
    /// `resolve EXPR`: ends the run with disposition `resolved`.
    Resolve { value: Expr },
    /// `escalate EXPR`: ends the run with disposition `escalated`.
    Escalate { value: Expr },
    /// `fail EXPR`: raises an error (caught by an enclosing `try`, else the run fails).
    Fail { value: Expr },
    /// `mock C.A(PATTERNS) = EXPR | fail EXPR` (tests only).
    Mock(Mock),
    /// `approvals granted|denied|expired` (tests only): the decision for every approval
    /// the following playbook calls reach.
    Approvals { decision: ApprovalDecision },
    /// `expect COND` (tests only).
    Expect(Expect),
}

/// `mock C.A(PATTERNS) = RESULT`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mock {
    pub action: ActionId,
    pub connector_name: String,
    pub action_name: String,
    pub patterns: Vec<MockPattern>,
    /// `None`: a unit result (`mock fw.block(_)`).
    pub result: Option<MockResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum MockPattern {
    /// `_`: any one argument.
    Any { span: Span },
    /// `..`: any remaining arguments.
    Rest { span: Span },
    /// An argument equal to this value (typed as the matching parameter).
    Value { value: Expr },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MockResult {
    /// The call returns this value (typed as the action's return type).
    Value { value: Expr },
    /// The call fails with this message (a `string`).
    Fail { message: Expr },
}

/// `expect COND`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    pub cond: Expr,
    /// The condition's source text, shown when the expectation fails.
    pub source: String,
}

// ---------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

impl Expr {
    /// The placeholder for an expression that could not be lowered.
    pub fn error(span: Span) -> Expr {
        Expr { kind: ExprKind::Error, ty: Type::Unknown, span }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "expr", rename_all = "snake_case")]
pub enum ExprKind {
    Int {
        value: i64,
    },
    Float {
        value: f64,
    },
    Bool {
        value: bool,
    },
    None,
    /// A string without interpolation. When `Expr::ty` is a security type, the literal was
    /// validated at compile time.
    Str {
        value: String,
    },
    /// `"text {expr} text"`: parts are concatenated; each expression is converted to text.
    Interp {
        parts: Vec<InterpPart>,
    },
    /// In milliseconds.
    Duration {
        ms: u64,
    },
    List {
        items: Vec<Expr>,
    },
    /// A record literal; fields in the order written.
    Record {
        fields: Vec<RecordField>,
    },
    /// A local variable or parameter.
    Local {
        slot: Slot,
        name: String,
    },
    Const {
        id: ConstId,
        name: String,
    },
    /// An enum variant; `ordinal` is its declaration index (enums compare by it).
    Variant {
        id: EnumId,
        ordinal: u32,
        name: String,
    },
    /// `target.field`, or `target?.field` when `optional` (then `none` propagates).
    /// On `json`, a missing field is a run-time error (or `none` with `?.`).
    Field {
        target: Box<Expr>,
        field: String,
        optional: bool,
    },
    /// `target[index]`: lists by `int`, `json` by `int` or `string`.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    Call(Call),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// Binary operators. `+` joins strings (a `secret` stays secret), lists, and adds
    /// numbers/durations; comparisons on enums compare ordinals; `in` tests list
    /// membership or substring; `??` yields `lhs` unless it is `none`.
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `if` as statement or expression; a missing `else` yields `unit`.
    If {
        cond: Box<Expr>,
        then: Block,
        otherwise: Option<Block>,
    },
    Match {
        scrutinee: Box<Expr>,
        arms: Vec<MatchArm>,
    },
    /// `for`: yields the list of each kept iteration's value.
    For(Box<ForLoop>),
    Approve(Box<Approve>),
    /// `try { body } catch err { catch }`: `err` is bound to a [`Type::Error`] value.
    Try {
        body: Block,
        err_slot: Slot,
        err_name: String,
        catch: Block,
    },
    Block(Block),
    /// An action used as a value: only as the argument of the test built-in `calls`.
    ActionRef {
        action: ActionId,
    },
    /// Could not be resolved or typed; a diagnostic was reported. Never executed.
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum InterpPart {
    Lit { text: String },
    Expr { expr: Expr },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordField {
    pub name: String,
    pub name_span: Span,
    pub value: Expr,
}

/// A call. Arguments are in parameter order, one per parameter, with defaults already
/// filled in for omitted ones (named arguments are reordered) — except for built-ins, whose
/// arguments are as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub callee: Callee,
    pub args: Vec<Expr>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "callee", rename_all = "snake_case")]
pub enum Callee {
    /// A connector action: the effectful operation.
    Action(Box<CallSite>),
    /// A user function.
    Fn { id: FnId, name: String, site: Box<FnCallSite> },
    /// A playbook called like a function (tests only); returns a [`Type::Run`].
    Playbook { id: PlaybookId, name: String },
    /// A pure built-in function.
    Builtin { builtin: Builtin },
    /// A type conversion `ip(s)`, `string(x)`, `int(j)`, ...: fails at run time on bad
    /// input. The target type is the call's `Expr::ty`.
    Convert,
}

/// How an action call site is allowed to run without a fresh decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// Not inside an approval: runs automatically.
    None,
    /// Lexically inside the body of the `approve` at this span (in the same playbook or
    /// function body).
    Approval { approve: Span },
    /// Not gated, but an `@allow` of the safety finding covers it.
    Allowed { reason: String },
}

/// How many times a call site can run in one run: the product of the bounds of the
/// enclosing loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "bound", content = "n", rename_all = "snake_case")]
pub enum Multiplicity {
    Bounded(u64),
    Unbounded,
}

impl Multiplicity {
    pub fn times(self, other: Multiplicity) -> Multiplicity {
        match (self, other) {
            (Multiplicity::Bounded(a), Multiplicity::Bounded(b)) => match a.checked_mul(b) {
                Some(n) => Multiplicity::Bounded(n),
                None => Multiplicity::Unbounded,
            },
            _ => Multiplicity::Unbounded,
        }
    }

    pub fn max(self, other: Multiplicity) -> Multiplicity {
        std::cmp::max(self, other)
    }
}

impl fmt::Display for Multiplicity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Multiplicity::Bounded(n) => write!(f, "{n}"),
            Multiplicity::Unbounded => f.write_str("unbounded"),
        }
    }
}

/// One action call site, with everything the interpreter and the journal need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallSite {
    pub id: CallSiteId,
    pub action: ActionId,
    pub connector_name: String,
    pub action_name: String,
    pub effect: EffectKind,
    /// Destructive or listed in `policy.require_approval`.
    pub requires_approval: bool,
    /// The gate lexically around this call in its own body. A call inside a function that
    /// is itself called inside an `approve` has `Gate::None` here; see
    /// [`FnCallSite::gate`] (the interpreter tracks the dynamic gate at run time).
    pub gate: Gate,
    /// The worst-case number of times this call runs per run: the product of the enclosing
    /// loop bounds, times (inside a function) the worst multiplicity of the function's call
    /// sites reached from playbooks.
    pub multiplicity: Multiplicity,
    /// The whole call expression (`mail.search(msg.sender, since: 7d)`).
    pub span: Span,
}

/// Context of a call to a user function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FnCallSite {
    pub id: CallSiteId,
    /// The gate lexically around this call; every action the function reaches is gated
    /// by it.
    pub gate: Gate,
    /// The product of the enclosing loop bounds in the caller's body.
    pub multiplicity: Multiplicity,
}

/// `for VAR in ITER where FILTER limit N concurrency C { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForLoop {
    pub var_slot: Slot,
    pub var_name: String,
    pub var_span: Span,
    /// A `list<T>` (or `json`, iterated as a list of `json`).
    pub iter: Expr,
    pub filter: Option<Expr>,
    /// `limit N` (an `int`); more items than N raises `limit_exceeded` before any iteration.
    pub limit: Option<Expr>,
    /// `concurrency C` (an `int`); `None`: `policy.default_concurrency`.
    pub concurrency: Option<Expr>,
    pub body: Block,
    /// The static bound used by the analyses: the literal limit, else the length of a list
    /// literal iterated, else unbounded.
    pub bound: Multiplicity,
    /// The strongest effect of the body; iterations may run concurrently only when `read`.
    pub body_effect: EffectKind,
}

/// `approve PROMPT by "GROUP" within DURATION { BODY } else { OTHERWISE }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approve {
    /// Stable id of the approval request (same scheme as action call sites).
    pub id: CallSiteId,
    /// The question shown to approvers (a `string`).
    pub prompt: Expr,
    /// The approver group (a `string`); `None`: anyone listed in `[approvers]`.
    pub group: Option<Expr>,
    /// How long to wait (a `duration`); `None`: `policy.approval_timeout`.
    pub within: Option<Expr>,
    /// Runs when approved.
    pub body: Block,
    /// Runs when denied or expired (`None`: yields `unit` and continues).
    pub otherwise: Option<Block>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchArm {
    /// Alternatives `a | b`; the arm is taken when any matches.
    pub patterns: Vec<Pattern>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pattern", rename_all = "snake_case")]
pub enum Pattern {
    Wildcard {
        span: Span,
    },
    Variant {
        id: EnumId,
        ordinal: u32,
        name: String,
        span: Span,
    },
    /// A literal compared by equality (typed as the scrutinee).
    Literal {
        value: Expr,
    },
}

/// The pure built-in functions of LANGUAGE.md §4 and the test-only `load` and `calls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    Len,
    Worst,
    Best,
    Any,
    All,
    Contains,
    Unique,
    Flatten,
    Lower,
    Upper,
    StartsWith,
    EndsWith,
    Split,
    Join,
    Now,
    ExtractUrls,
    ExtractDomains,
    ExtractIps,
    ExtractEmails,
    ExtractHashes,
    Defang,
    Refang,
    DomainOf,
    IsPrivate,
    CidrContains,
    Base64,
    Base64url,
    Sha256,
    ParseJson,
    ToJson,
    /// `load(path)`: reads a JSON file relative to the test's file (tests only); decoded
    /// into the expected type (the call's `Expr::ty`), else `json`.
    Load,
    /// `calls(C.A)`: each call's arguments as a record, in call order (tests only).
    Calls,
}

impl Builtin {
    pub const ALL: [Builtin; 32] = [
        Builtin::Len,
        Builtin::Worst,
        Builtin::Best,
        Builtin::Any,
        Builtin::All,
        Builtin::Contains,
        Builtin::Unique,
        Builtin::Flatten,
        Builtin::Lower,
        Builtin::Upper,
        Builtin::StartsWith,
        Builtin::EndsWith,
        Builtin::Split,
        Builtin::Join,
        Builtin::Now,
        Builtin::ExtractUrls,
        Builtin::ExtractDomains,
        Builtin::ExtractIps,
        Builtin::ExtractEmails,
        Builtin::ExtractHashes,
        Builtin::Defang,
        Builtin::Refang,
        Builtin::DomainOf,
        Builtin::IsPrivate,
        Builtin::CidrContains,
        Builtin::Base64,
        Builtin::Base64url,
        Builtin::Sha256,
        Builtin::ParseJson,
        Builtin::ToJson,
        Builtin::Load,
        Builtin::Calls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Len => "len",
            Builtin::Worst => "worst",
            Builtin::Best => "best",
            Builtin::Any => "any",
            Builtin::All => "all",
            Builtin::Contains => "contains",
            Builtin::Unique => "unique",
            Builtin::Flatten => "flatten",
            Builtin::Lower => "lower",
            Builtin::Upper => "upper",
            Builtin::StartsWith => "starts_with",
            Builtin::EndsWith => "ends_with",
            Builtin::Split => "split",
            Builtin::Join => "join",
            Builtin::Now => "now",
            Builtin::ExtractUrls => "extract_urls",
            Builtin::ExtractDomains => "extract_domains",
            Builtin::ExtractIps => "extract_ips",
            Builtin::ExtractEmails => "extract_emails",
            Builtin::ExtractHashes => "extract_hashes",
            Builtin::Defang => "defang",
            Builtin::Refang => "refang",
            Builtin::DomainOf => "domain_of",
            Builtin::IsPrivate => "is_private",
            Builtin::CidrContains => "cidr_contains",
            Builtin::Base64 => "base64",
            Builtin::Base64url => "base64url",
            Builtin::Sha256 => "sha256",
            Builtin::ParseJson => "parse_json",
            Builtin::ToJson => "to_json",
            Builtin::Load => "load",
            Builtin::Calls => "calls",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// `load` and `calls` may only be used inside `test` blocks.
    pub fn test_only(self) -> bool {
        matches!(self, Builtin::Load | Builtin::Calls)
    }

    /// Human-readable signature, for hover and error messages.
    pub fn signature(self) -> &'static str {
        match self {
            Builtin::Len => "len(x: list<T> | string | json) -> int",
            Builtin::Worst => "worst(xs: list<E>) -> E  (the greatest enum value; error on an empty list)",
            Builtin::Best => "best(xs: list<E>) -> E  (the least enum value; error on an empty list)",
            Builtin::Any => "any(xs: list<bool>) -> bool",
            Builtin::All => "all(xs: list<bool>) -> bool",
            Builtin::Contains => "contains(haystack: list<T> | string, needle: T | string) -> bool",
            Builtin::Unique => "unique(xs: list<T>) -> list<T>",
            Builtin::Flatten => "flatten(xs: list<list<T>>) -> list<T>",
            Builtin::Lower => "lower(s: string) -> string",
            Builtin::Upper => "upper(s: string) -> string",
            Builtin::StartsWith => "starts_with(s: string, prefix: string) -> bool",
            Builtin::EndsWith => "ends_with(s: string, suffix: string) -> bool",
            Builtin::Split => "split(s: string, sep: string) -> list<string>",
            Builtin::Join => "join(xs: list<string>, sep: string) -> string",
            Builtin::Now => "now() -> time",
            Builtin::ExtractUrls => "extract_urls(text: string) -> list<url>",
            Builtin::ExtractDomains => "extract_domains(text: string) -> list<domain>",
            Builtin::ExtractIps => "extract_ips(text: string) -> list<ip>",
            Builtin::ExtractEmails => "extract_emails(text: string) -> list<email>",
            Builtin::ExtractHashes => "extract_hashes(text: string) -> list<hash>",
            Builtin::Defang => "defang(s: string) -> string",
            Builtin::Refang => "refang(s: string) -> string",
            Builtin::DomainOf => "domain_of(x: url | email | host) -> domain",
            Builtin::IsPrivate => "is_private(addr: ip) -> bool",
            Builtin::CidrContains => "cidr_contains(net: cidr, addr: ip) -> bool",
            Builtin::Base64 => "base64(s: string) -> string",
            Builtin::Base64url => "base64url(s: string) -> string",
            Builtin::Sha256 => "sha256(s: string) -> hash",
            Builtin::ParseJson => "parse_json(s: string) -> json",
            Builtin::ToJson => "to_json(x: T) -> string",
            Builtin::Load => "load(path: string) -> T  (tests only; decoded into the expected type)",
            Builtin::Calls => "calls(C.A) -> list<{ PARAMS }>  (tests only)",
        }
    }
}
