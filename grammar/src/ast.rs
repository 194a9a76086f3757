//! The owned abstract syntax tree of a `.play` file.
//!
//! Every node carries a [`Span`]: byte offsets into its file plus the file's id. Line and
//! column are computed only when a diagnostic is rendered. Nothing here borrows the source
//! text, so an AST can cross threads and outlive the parser.

use serde::{Deserialize, Serialize};

/// A name in the AST: an immutable string kept inline up to 23 bytes, cheap to clone.
pub type Name = smol_str::SmolStr;

/// Identifies one source file within a compilation (an index into the loader's file table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// A byte range `start..end` in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.file == other.file && self.start <= other.start && other.end <= self.end
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ident {
    /// Stored inline when short (most names are), so reading a name does not allocate.
    pub name: Name,
    pub span: Span,
}

/// One parsed file: the items that parsed, the comments (for the formatter), and the
/// syntax diagnostics. Parsing never fails; a broken item is dropped and reported.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SourceFile {
    pub file: FileId,
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
}

/// A `#` comment (or a `##` doc comment line), kept for the formatter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub span: Span,
    /// The text after `#` (or `##`), without the newline.
    pub text: String,
    pub doc: bool,
}

/// `@allow("code", reason: "why")` and any future attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Text of the `##` lines directly before the item, joined with `\n`, without the `## `.
    pub doc: Option<String>,
    pub attrs: Vec<Attribute>,
    pub kind: ItemKind,
    /// Whole item, attributes and doc comment excluded.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ItemKind {
    Playbook(Playbook),
    Connector(Connector),
    Type(TypeDecl),
    Enum(EnumDecl),
    Fn(FnDecl),
    Const(ConstDecl),
    Test(TestDecl),
}

impl Item {
    /// The declared name, if the item has one (tests are named by a string instead).
    pub fn name(&self) -> Option<&Ident> {
        match &self.kind {
            ItemKind::Playbook(p) => Some(&p.name),
            ItemKind::Connector(c) => Some(&c.name),
            ItemKind::Type(t) => Some(&t.name),
            ItemKind::Enum(e) => Some(&e.name),
            ItemKind::Fn(f) => Some(&f.name),
            ItemKind::Const(c) => Some(&c.name),
            ItemKind::Test(_) => None,
        }
    }
}

/// `playbook NAME(PARAM: TYPE) when EXPR saves DURATION { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    pub name: Ident,
    /// Exactly one parameter in valid programs; the parser keeps what was written so the
    /// compiler can say what is wrong.
    pub params: Vec<Param>,
    pub when: Option<Expr>,
    pub saves: Option<Expr>,
    pub body: Block,
}

/// `connector NAME { type ...  action ... }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    pub name: Ident,
    pub members: Vec<ConnectorMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConnectorMember {
    Type { doc: Option<String>, decl: TypeDecl, span: Span },
    Action(ActionDecl),
}

/// `action NAME(PARAMS) -> TYPE effect EFFECT`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionDecl {
    pub doc: Option<String>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    pub effect: Effect,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub kind: EffectKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EffectKind {
    Read,
    Write,
    /// `reversible(undo: ACTION)`; `undo` is `None` when written `reversible` alone.
    Reversible {
        undo: Option<Ident>,
    },
    Destructive,
}

/// `NAME: TYPE = DEFAULT`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `type NAME = TYPE`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypeDecl {
    pub name: Ident,
    pub ty: TypeExpr,
}

/// `enum NAME { a, b, c }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnumDecl {
    pub name: Ident,
    pub variants: Vec<Ident>,
}

/// `fn NAME(PARAMS) -> TYPE { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    pub body: Block,
}

/// `const NAME: TYPE = EXPR`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstDecl {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
}

/// `test "description" { BODY }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestDecl {
    pub name: String,
    pub name_span: Span,
    pub body: Block,
}

/// A type as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TypeExprKind {
    /// `int`, `Verdict`, `Message` — one identifier.
    Named(Ident),
    /// `mail.Message` — a connector-scoped type.
    Qualified(Ident, Ident),
    /// `list<T>`
    List(Box<TypeExpr>),
    /// `T?`
    Optional(Box<TypeExpr>),
    /// `{ name: T, other: U? }`
    Record(Vec<FieldType>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldType {
    pub doc: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `{ stmt; stmt }` — its value is the value of its last statement, when that is an
/// expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stmt {
    pub attrs: Vec<Attribute>,
    pub kind: StmtKind,
    /// The statement, attributes excluded.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StmtKind {
    /// `let NAME: TYPE = EXPR`
    Let { name: Ident, ty: Option<TypeExpr>, value: Expr },
    /// An expression used as a statement (calls, `if`, `for`, `approve`, ...).
    Expr(Expr),
    /// `note EXPR`
    Note(Expr),
    /// `evidence LABEL = EXPR`
    Evidence { label: Expr, value: Expr },
    /// `recommend EXPR`
    Recommend(Expr),
    /// `resolve EXPR`
    Resolve(Expr),
    /// `escalate EXPR`
    Escalate(Expr),
    /// `fail EXPR`
    Fail(Expr),
    /// `mock C.A(PATTERNS) = EXPR | fail EXPR` (tests only)
    Mock(Mock),
    /// `approvals granted|denied|expired` (tests only)
    Approvals { decision: ApprovalDecision, span: Span },
    /// `expect COND` (tests only)
    Expect(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mock {
    pub connector: Ident,
    pub action: Ident,
    pub patterns: Vec<MockPattern>,
    /// `None` for a unit-returning mock written without `= ...`.
    pub result: Option<MockResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MockPattern {
    /// `_`: any one argument.
    Any(Span),
    /// `..`: any remaining arguments.
    Rest(Span),
    /// An expression the argument must equal.
    Value(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MockResult {
    Value(Expr),
    Fail(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalDecision {
    Granted,
    Denied,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    /// `"text {expr} text"`; a string without interpolation is one `Lit` part.
    Str(Vec<StrPart>),
    /// `r"..."`: no escapes, no interpolation.
    RawStr(String),
    /// `500ms 15s 30m 2h 7d`, in milliseconds.
    Duration(u64),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `{ key: value, "any key": value }`
    Record(Vec<RecordField>),
    /// A bare name: a variable, constant, function, playbook, connector, enum or variant.
    Name(Ident),
    /// `e.f`, and `e?.f` when `optional`.
    Field {
        target: Box<Expr>,
        field: Ident,
        optional: bool,
    },
    /// `e[i]`
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `callee(args)`; the callee is usually a `Name` or a `Field` (`mail.search`).
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `if c { } else if c { } else { }`
    If {
        cond: Box<Expr>,
        then: Block,
        otherwise: Option<Else>,
    },
    /// `match e { pattern => body ... }`
    Match {
        scrutinee: Box<Expr>,
        arms: Vec<MatchArm>,
    },
    /// `for x in e where c limit n concurrency c { }`
    For(Box<ForLoop>),
    /// `approve PROMPT by "GROUP" within DURATION { } else { }`
    Approve(Box<Approve>),
    /// `try { } catch err { }`
    Try {
        body: Block,
        err: Ident,
        catch: Block,
    },
    /// `( e )` is kept so spans and the formatter see the parentheses.
    Paren(Box<Expr>),
    /// A `{ ... }` block used as an expression (match arm bodies are blocks too).
    Block(Block),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StrPart {
    /// Literal text, escapes already decoded.
    Lit(Name),
    /// `{expr}`
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordField {
    /// The key as written: an identifier or a quoted string, decoded.
    pub key: String,
    pub key_span: Span,
    pub value: Expr,
}

/// A call or attribute argument: positional when `name` is `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    Coalesce,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Coalesce => "??",
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Else {
    /// `else { ... }`
    Block(Block),
    /// `else if ...`: an `If` expression.
    If(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchArm {
    /// `a | b` alternatives.
    pub patterns: Vec<Pattern>,
    /// A single statement after `=>` is wrapped in a one-statement block.
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Pattern {
    /// `_`
    Wildcard(Span),
    /// A bare name: an enum variant (or `true`/`false`/`none` are literals instead).
    Name(Ident),
    /// `Verdict.malicious`
    Qualified(Ident, Ident),
    /// A literal: int, float, string, bool, none, duration, negative number.
    Literal(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForLoop {
    pub var: Ident,
    pub iter: Expr,
    pub filter: Option<Expr>,
    pub limit: Option<Expr>,
    pub concurrency: Option<Expr>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approve {
    pub prompt: Expr,
    /// `by "GROUP"`
    pub group: Option<Expr>,
    /// `within DURATION`
    pub within: Option<Expr>,
    pub body: Block,
    pub otherwise: Option<Block>,
}
