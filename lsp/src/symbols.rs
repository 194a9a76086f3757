//! Document symbols (the outline) and semantic tokens (highlighting by meaning).

use crate::analysis::View;
use crate::navigation::{DeclKind, declarations, is_keyword};
use lsp_types::{
    DocumentSymbol, SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens,
    SemanticTokensLegend, SymbolKind,
};
use parry_compiler::ir::RefKind;
use parry_syntax::ast::{ConnectorMember, ItemKind, Span};
use std::collections::HashMap;

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written.
fn symbol(
    v: &View,
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: Span,
    selection: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    let selection = if range.contains(&selection) { selection } else { range };
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: v.range(range),
        selection_range: v.range(selection),
        children: if children.is_empty() { None } else { Some(children) },
    }
}

pub fn document_symbols(v: &View) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for item in &v.ast.items {
        let span = item.span;
        let sym = match &item.kind {
            ItemKind::Playbook(p) => {
                let params: Vec<&str> = p.params.iter().map(|p| v.slice(p.span)).collect();
                symbol(
                    v,
                    p.name.name.to_string(),
                    Some(format!("playbook({})", params.join(", "))),
                    SymbolKind::EVENT,
                    span,
                    p.name.span,
                    Vec::new(),
                )
            }
            ItemKind::Connector(c) => {
                let children = c
                    .members
                    .iter()
                    .map(|m| match m {
                        ConnectorMember::Type { decl, span, .. } => symbol(
                            v,
                            decl.name.name.to_string(),
                            Some("type".into()),
                            SymbolKind::STRUCT,
                            *span,
                            decl.name.span,
                            Vec::new(),
                        ),
                        ConnectorMember::Action(a) => {
                            let effect =
                                v.slice(a.effect.span).trim_start_matches("effect").trim().to_string();
                            symbol(
                                v,
                                a.name.name.to_string(),
                                Some(effect),
                                SymbolKind::METHOD,
                                a.span,
                                a.name.span,
                                Vec::new(),
                            )
                        }
                    })
                    .collect();
                symbol(
                    v,
                    c.name.name.to_string(),
                    Some("connector".into()),
                    SymbolKind::INTERFACE,
                    span,
                    c.name.span,
                    children,
                )
            }
            ItemKind::Type(t) => symbol(
                v,
                t.name.name.to_string(),
                Some("type".into()),
                SymbolKind::STRUCT,
                span,
                t.name.span,
                Vec::new(),
            ),
            ItemKind::Enum(e) => {
                let children = e
                    .variants
                    .iter()
                    .map(|x| {
                        symbol(
                            v,
                            x.name.to_string(),
                            None,
                            SymbolKind::ENUM_MEMBER,
                            x.span,
                            x.span,
                            Vec::new(),
                        )
                    })
                    .collect();
                symbol(
                    v,
                    e.name.name.to_string(),
                    Some("enum".into()),
                    SymbolKind::ENUM,
                    span,
                    e.name.span,
                    children,
                )
            }
            ItemKind::Fn(f) => symbol(
                v,
                f.name.name.to_string(),
                Some("fn".into()),
                SymbolKind::FUNCTION,
                span,
                f.name.span,
                Vec::new(),
            ),
            ItemKind::Const(c) => symbol(
                v,
                c.name.name.to_string(),
                Some("const".into()),
                SymbolKind::CONSTANT,
                span,
                c.name.span,
                Vec::new(),
            ),
            ItemKind::Test(t) => symbol(
                v,
                format!("test \"{}\"", t.name),
                None,
                SymbolKind::METHOD,
                span,
                t.name_span,
                Vec::new(),
            ),
        };
        out.push(sym);
    }
    out
}

const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::METHOD,
    SemanticTokenType::DECORATOR,
];

const TOKEN_MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DOCUMENTATION,
    SemanticTokenModifier::DEFAULT_LIBRARY,
];

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend { token_types: TOKEN_TYPES.to_vec(), token_modifiers: TOKEN_MODIFIERS.to_vec() }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    Keyword = 0,
    Str = 1,
    Number = 2,
    Comment = 3,
    Function = 4,
    Variable = 5,
    Parameter = 6,
    Type = 7,
    Enum = 8,
    EnumMember = 9,
    Property = 10,
    Namespace = 11,
    Method = 12,
    Decorator = 13,
}

const DECLARATION: u32 = 1;
const DOCUMENTATION: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;

/// Words that are keywords only in their clause (`effect read`, `limit 10`, ...).
const CONTEXTUAL: &[&str] = &[
    "when",
    "saves",
    "effect",
    "read",
    "write",
    "reversible",
    "destructive",
    "undo",
    "where",
    "limit",
    "concurrency",
    "by",
    "within",
    "granted",
    "denied",
    "expired",
    "list",
];

fn ref_tok(kind: RefKind) -> Tok {
    match kind {
        RefKind::Local => Tok::Variable,
        RefKind::Param => Tok::Parameter,
        RefKind::Const => Tok::Variable,
        RefKind::Function | RefKind::Playbook | RefKind::Builtin => Tok::Function,
        RefKind::Connector => Tok::Namespace,
        RefKind::Action => Tok::Method,
        RefKind::Type => Tok::Type,
        RefKind::Enum => Tok::Enum,
        RefKind::Variant => Tok::EnumMember,
        RefKind::Field => Tok::Property,
    }
}

struct Lexer<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<(usize, usize, Tok, u32)>,
}

impl Lexer<'_> {
    /// Step over one whole character (several bytes when it is not ASCII).
    fn skip_char(&mut self) {
        let width = self.text.get(self.pos..).and_then(|t| t.chars().next()).map(char::len_utf8).unwrap_or(1);
        self.pos += width;
    }

    fn peek(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    /// Lex code until the end, or (inside an interpolation) until the `}` closing it.
    fn code(&mut self, in_interp: bool) {
        let mut depth = 0usize;
        while self.pos < self.bytes.len() {
            let c = self.peek(self.pos);
            match c {
                b'#' => {
                    let start = self.pos;
                    let end = self
                        .text
                        .get(start..)
                        .and_then(|t| t.find('\n'))
                        .map(|i| start + i)
                        .unwrap_or(self.bytes.len());
                    let doc = if self.peek(start + 1) == b'#' { DOCUMENTATION } else { 0 };
                    self.tokens.push((start, end, Tok::Comment, doc));
                    self.pos = end;
                }
                b'r' if self.peek(self.pos + 1) == b'"' => {
                    let start = self.pos;
                    let mut i = start + 2;
                    while i < self.bytes.len() && self.peek(i) != b'"' && self.peek(i) != b'\n' {
                        i += 1;
                    }
                    if self.peek(i) == b'"' {
                        i += 1;
                    }
                    self.tokens.push((start, i, Tok::Str, 0));
                    self.pos = i;
                }
                b'"' => self.string(),
                b'0'..=b'9' => {
                    let start = self.pos;
                    while self.peek(self.pos).is_ascii_alphanumeric()
                        || (self.peek(self.pos) == b'.' && self.peek(self.pos + 1).is_ascii_digit())
                    {
                        self.pos += 1;
                    }
                    self.tokens.push((start, self.pos, Tok::Number, 0));
                }
                b'@' => {
                    let start = self.pos;
                    self.pos += 1;
                    while self.peek(self.pos).is_ascii_alphanumeric() || self.peek(self.pos) == b'_' {
                        self.pos += 1;
                    }
                    self.tokens.push((start, self.pos, Tok::Decorator, 0));
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = self.pos;
                    while self.peek(self.pos).is_ascii_alphanumeric() || self.peek(self.pos) == b'_' {
                        self.pos += 1;
                    }
                    self.tokens.push((start, self.pos, Tok::Variable, u32::MAX));
                }
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' => {
                    if in_interp && depth == 0 {
                        return;
                    }
                    depth = depth.saturating_sub(1);
                    self.pos += 1;
                }
                _ => self.skip_char(),
            }
        }
    }

    fn string(&mut self) {
        let mut seg = self.pos;
        self.pos += 1;
        while self.pos < self.bytes.len() {
            match self.peek(self.pos) {
                b'\\' => {
                    self.pos += 1;
                    self.skip_char();
                }
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\n' => break,
                b'{' => {
                    self.tokens.push((seg, self.pos, Tok::Str, 0));
                    self.pos += 1;
                    self.code(true);
                    seg = self.pos;
                    if self.peek(self.pos) == b'}' {
                        self.pos += 1;
                    }
                }
                _ => self.skip_char(),
            }
        }
        self.pos = self.pos.min(self.bytes.len());
        if seg < self.pos {
            self.tokens.push((seg, self.pos, Tok::Str, 0));
        }
    }
}

pub fn semantic_tokens(v: &View) -> SemanticTokens {
    let mut lexer = Lexer { text: v.text, bytes: v.text.as_bytes(), pos: 0, tokens: Vec::new() };
    lexer.code(false);
    let program = &v.snap.program;
    let mut exact: HashMap<(u32, u32), (RefKind, bool)> = HashMap::new();
    for r in program.references.iter().filter(|r| r.span.file == v.file) {
        let stdlib = !v.snap.is_user_file(r.def.file) || r.def == Span::default();
        exact.insert((r.span.start, r.span.end), (r.kind, stdlib));
    }
    let mut decls: HashMap<(u32, u32), Tok> = HashMap::new();
    for d in declarations(program, v.file) {
        let tok = match d.kind {
            DeclKind::Type(_) => Tok::Type,
            DeclKind::Enum(_) => Tok::Enum,
            DeclKind::Variant(..) => Tok::EnumMember,
            DeclKind::Connector(_) => Tok::Namespace,
            DeclKind::Action(..) => Tok::Method,
            DeclKind::Function(_) | DeclKind::Playbook(_) => Tok::Function,
            DeclKind::Const(_) => Tok::Variable,
            DeclKind::Local { keyword: "param", .. } => Tok::Parameter,
            DeclKind::Local { .. } => Tok::Variable,
            DeclKind::Field { .. } => Tok::Property,
        };
        decls.insert((d.name_span.start, d.name_span.end), tok);
    }
    let mut data = Vec::new();
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    let mut tokens = lexer.tokens;
    tokens.sort_by_key(|t| t.0);
    for (start, end, tok, mods) in tokens {
        let word = v.text.get(start..end).unwrap_or("");
        let (tok, mods) = if mods == u32::MAX {
            let key = (start as u32, end as u32);
            if let Some((kind, stdlib)) = exact.get(&key) {
                (ref_tok(*kind), if *stdlib { DEFAULT_LIBRARY } else { 0 })
            } else if let Some(tok) = decls.get(&key) {
                (*tok, DECLARATION)
            } else if is_keyword(word) {
                (Tok::Keyword, 0)
            } else if let Some(r) = program.reference_at(v.file, start as u32) {
                // A qualifier (`mail` of `mail.search`, `Verdict` of `Verdict.malicious`).
                let tok = if r.span.end as usize == end {
                    ref_tok(r.kind)
                } else {
                    match r.kind {
                        RefKind::Variant => Tok::Enum,
                        _ => Tok::Namespace,
                    }
                };
                (tok, 0)
            } else if CONTEXTUAL.contains(&word) {
                (Tok::Keyword, 0)
            } else {
                continue;
            }
        } else {
            (tok, mods)
        };
        let pos = v.index.position(v.text, start, v.enc);
        let end_pos = v.index.position(v.text, end, v.enc);
        if end_pos.line != pos.line || end_pos.character <= pos.character {
            continue;
        }
        let delta_line = pos.line - prev_line;
        let delta_start = if delta_line == 0 { pos.character - prev_col } else { pos.character };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length: end_pos.character - pos.character,
            token_type: tok as u32,
            token_modifiers_bitset: mods,
        });
        prev_line = pos.line;
        prev_col = pos.character;
    }
    SemanticTokens { result_id: None, data }
}
