//! Turning a pest failure into a `syntax-error` a user understands: what was expected, in
//! the words of the language ("an expression", "`}`"), what was found, and where the
//! unclosed bracket was opened. Pest's rule names never reach the user.

use pest::Parser as _;
use pest::error::{Error, ErrorVariant, InputLocation};

use crate::ast::{FileId, Span};
use crate::diagnostic::Diagnostic;

/// The language written plainly (`explain.pest`), run only on a declaration that does not
/// parse: the rules and tokens it tries where it stops are what messages are made of. It
/// accepts exactly the text the parser's grammar (`parry.pest`, written for speed) accepts.
#[derive(pest_derive::Parser)]
#[grammar = "explain.pest"]
pub(crate) struct ExplainParser;

/// Parses one declaration (`clean_text`, comments blanked) with the plain grammar, collecting
/// what was expected where the parse stopped; `None` if it parses after all.
pub(crate) fn explain(file: FileId, text: &str, clean_text: &str, base: usize) -> Option<Diagnostic> {
    let detailed = {
        // pest's detailed error collection is one switch for the whole process, read when a
        // parse starts. One explanation at a time: otherwise another thread's explanation,
        // ending, could turn it off before this parse starts, and the message would change.
        // (A parse of the main grammar that starts meanwhile collects details it does not read:
        // slower, not different.)
        let _one_at_a_time = EXPLAINING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pest::set_error_detail(true);
        let detailed = ExplainParser::parse(Rule::item_chunk, clean_text);
        pest::set_error_detail(false);
        detailed
    };
    detailed.err().map(|err| syntax_error(file, text, base, &err))
}

/// Held while pest's detailed error collection is on for an explanation (see [`explain`]).
static EXPLAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One thing the parser would have accepted, in the order messages list them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expect {
    CloseString,
    Declaration,
    Statement,
    Expression,
    Name,
    Type,
    Pattern,
    Token(String),
    Parameter,
    Field,
    Arm,
    Member,
    EndOfStatement,
    Operator,
    EndOfFile,
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::CloseString => "`\"` to close the string".into(),
            Expect::Declaration => {
                "a declaration (`playbook`, `connector`, `type`, `enum`, `fn`, `const` or `test`)".into()
            }
            Expect::Statement => "a statement".into(),
            Expect::Expression => "an expression".into(),
            Expect::Name => "a name".into(),
            Expect::Type => "a type".into(),
            Expect::Pattern => "a pattern".into(),
            Expect::Token(t) => format!("`{t}`"),
            Expect::Parameter => "a parameter (`name: type`)".into(),
            Expect::Field => "a field (`name: ...`)".into(),
            Expect::Arm => "a match arm (`pattern => ...`)".into(),
            Expect::Member => "`type` or `action`".into(),
            Expect::EndOfStatement => "the end of the statement".into(),
            Expect::Operator => "an operator".into(),
            Expect::EndOfFile => "the end of the declaration".into(),
        }
    }
}

fn expect_of_rule(rule: Rule) -> Option<Expect> {
    use Expect::*;
    Some(match rule {
        Rule::expr
        | Rule::expr_nl
        | Rule::name
        | Rule::if_expr
        | Rule::match_expr
        | Rule::for_expr
        | Rule::approve_expr
        | Rule::try_expr
        | Rule::duration
        | Rule::float
        | Rule::int
        | Rule::raw_string
        | Rule::string
        | Rule::k_true
        | Rule::k_false
        | Rule::k_none
        | Rule::paren
        | Rule::list
        | Rule::record
        | Rule::op_not
        | Rule::op_neg
        | Rule::arg
        | Rule::expr_stmt => Expression,
        Rule::ident | Rule::word | Rule::arg_name => Name,
        Rule::type_expr
        | Rule::named_type
        | Rule::qualified_type
        | Rule::list_type
        | Rule::record_type
        | Rule::k_list => Type,
        Rule::pat_wild
        | Rule::pat_literal
        | Rule::pat_qualified
        | Rule::pat_name
        | Rule::pat_neg
        | Rule::mock_any
        | Rule::mock_rest => Pattern,
        Rule::stmt
        | Rule::let_stmt
        | Rule::note_stmt
        | Rule::evidence_stmt
        | Rule::recommend_stmt
        | Rule::resolve_stmt
        | Rule::escalate_stmt
        | Rule::fail_stmt
        | Rule::expect_stmt
        | Rule::approvals_stmt
        | Rule::mock_stmt
        | Rule::attribute => Statement,
        Rule::item
        | Rule::playbook
        | Rule::connector
        | Rule::type_decl
        | Rule::enum_decl
        | Rule::fn_decl
        | Rule::const_decl
        | Rule::test_decl => Declaration,
        Rule::member_type | Rule::action => Member,
        Rule::param => Parameter,
        Rule::record_field | Rule::field_type => Field,
        Rule::match_arm => Arm,
        Rule::block | Rule::connector_body | Rule::enum_body | Rule::match_body => Token("{".into()),
        Rule::param_list | Rule::mock_patterns => Token("(".into()),
        Rule::call_args => Operator,
        Rule::type_optional => Token("?".into()),
        Rule::str_text | Rule::str_escape | Rule::str_interp | Rule::raw_text => CloseString,
        Rule::op_coalesce
        | Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_rem
        | Rule::field_access
        | Rule::opt_field
        | Rule::index => Operator,
        Rule::EOI => EndOfFile,
        Rule::when_clause | Rule::k_when => Token("when".into()),
        Rule::saves_clause | Rule::k_saves => Token("saves".into()),
        Rule::effect | Rule::k_effect => Token("effect".into()),
        Rule::reversible | Rule::k_reversible => Token("reversible".into()),
        Rule::for_where | Rule::k_where => Token("where".into()),
        Rule::for_limit | Rule::k_limit => Token("limit".into()),
        Rule::for_concurrency | Rule::k_concurrency => Token("concurrency".into()),
        Rule::approve_by | Rule::k_by => Token("by".into()),
        Rule::approve_within | Rule::k_within => Token("within".into()),
        Rule::mock_fail | Rule::k_fail => Token("fail".into()),
        Rule::k_playbook => Token("playbook".into()),
        Rule::k_connector => Token("connector".into()),
        Rule::k_type => Token("type".into()),
        Rule::k_enum => Token("enum".into()),
        Rule::k_fn => Token("fn".into()),
        Rule::k_const => Token("const".into()),
        Rule::k_test => Token("test".into()),
        Rule::k_action => Token("action".into()),
        Rule::k_let => Token("let".into()),
        Rule::k_if => Token("if".into()),
        Rule::k_else => Token("else".into()),
        Rule::k_match => Token("match".into()),
        Rule::k_for => Token("for".into()),
        Rule::k_in => Token("in".into()),
        Rule::k_approve => Token("approve".into()),
        Rule::k_try => Token("try".into()),
        Rule::k_catch => Token("catch".into()),
        Rule::k_note => Token("note".into()),
        Rule::k_evidence => Token("evidence".into()),
        Rule::k_recommend => Token("recommend".into()),
        Rule::k_resolve => Token("resolve".into()),
        Rule::k_escalate => Token("escalate".into()),
        Rule::k_mock => Token("mock".into()),
        Rule::k_approvals => Token("approvals".into()),
        Rule::k_expect => Token("expect".into()),
        Rule::k_undo => Token("undo".into()),
        Rule::k_read => Token("read".into()),
        Rule::k_write => Token("write".into()),
        Rule::k_destructive => Token("destructive".into()),
        Rule::k_granted => Token("granted".into()),
        Rule::k_denied => Token("denied".into()),
        Rule::k_expired => Token("expired".into()),
        _ => return None,
    })
}

fn expect_of_token(token: &str) -> Option<Expect> {
    Some(match token {
        "\n" | ";" => Expect::EndOfStatement,
        "\"" => Expect::CloseString,
        "@" => Expect::Statement,
        // Implicit whitespace and comments are never what is missing.
        " " | "\t" | "\r" | "#" | "\u{feff}" => return None,
        "-" => return None,
        t if is_operator_token(t) => Expect::Operator,
        // Single letters are the first-character guards of keyword forms.
        t if t.len() > 1 && t.bytes().all(|b| b.is_ascii_lowercase()) => {
            if ["ms", "s", "m", "h", "d"].contains(&t) {
                return None;
            }
            Expect::Token(t.to_string())
        }
        "{" | "}" | "(" | ")" | "[" | "]" | "<" | ">" | "," | ":" | "=" | "=>" | "->" | "|" | "." | "?"
        | ".." => Expect::Token(token.to_string()),
        _ => return None,
    })
}

fn is_operator_token(t: &str) -> bool {
    matches!(t, "??" | "or" | "and" | "==" | "!=" | "<=" | ">=" | "in" | "+" | "*" | "/" | "%" | "?.")
}

/// Words that cannot be used as names.
pub const KEYWORDS: &[&str] = &[
    "playbook",
    "connector",
    "type",
    "enum",
    "fn",
    "const",
    "test",
    "action",
    "let",
    "if",
    "else",
    "match",
    "for",
    "in",
    "approve",
    "try",
    "catch",
    "note",
    "evidence",
    "recommend",
    "resolve",
    "escalate",
    "fail",
    "mock",
    "approvals",
    "expect",
    "and",
    "or",
    "not",
    "true",
    "false",
    "none",
];

const BINARY_OPERATORS: &[&str] =
    &["??", "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"];

/// A token of the light tokenizer used to explain errors.
#[derive(Clone, Copy, Debug)]
struct Tok {
    start: usize,
    end: usize,
}

/// What the tokenizer learned about the text of one item up to the error.
struct Context {
    /// Brackets open at the error position: `(byte, offset)`.
    open_at_error: Vec<(u8, usize)>,
    /// Openers (offsets) never closed anywhere in the item.
    unclosed: Vec<usize>,
    /// The last token before the error position.
    previous: Option<Tok>,
    /// The start of a string that is still open at the error position.
    open_string: Option<usize>,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of a string starting at `start` (at its `"`), or of its line if unterminated;
/// and whether it was terminated. Interpolations with nested strings are skipped.
fn skip_string(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut i = start + 1;
    let mut brace = 0usize;
    // Each entry: true when the level is a string, false when an interpolation.
    let mut stack: Vec<bool> = vec![true];
    while i < bytes.len() {
        let b = bytes[i];
        let in_str = stack.last().copied().unwrap_or(false);
        if b == b'\n' {
            return (i, false);
        }
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                    if stack.is_empty() {
                        return (i + 1, true);
                    }
                }
                b'{' => {
                    stack.push(false);
                    brace = 0;
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => stack.push(true),
                b'{' => brace += 1,
                b'}' if brace == 0 => {
                    stack.pop();
                }
                b'}' => brace -= 1,
                _ => {}
            }
        }
        i += 1;
    }
    (bytes.len(), false)
}

fn tokenize_context(text: &str, error_pos: usize) -> Context {
    let bytes = text.as_bytes();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut unclosed = Vec::new();
    let mut open_at_error = None;
    let mut previous = None;
    let mut open_string = None;
    let mut i = 0;
    while i < bytes.len() {
        if open_at_error.is_none() && i >= error_pos {
            open_at_error = Some(stack.clone());
        }
        let b = bytes[i];
        let start = i;
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                let (end, closed) = skip_string(bytes, i);
                if start < error_pos && (error_pos < end || (!closed && error_pos == end)) {
                    open_string = Some(start);
                }
                i = end;
            }
            b'r' if bytes.get(i + 1) == Some(&b'"') => {
                i += 2;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
                if start < error_pos && error_pos <= i {
                    open_string = Some(start);
                }
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                stack.push((b, i));
                i += 1;
            }
            b')' | b']' | b'}' => {
                let opener = match b {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                if stack.iter().any(|&(o, _)| o == opener) {
                    while let Some((o, at)) = stack.pop() {
                        if o == opener {
                            break;
                        }
                        unclosed.push(at);
                    }
                }
                i += 1;
            }
            _ if is_ident_byte(b) => {
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
            }
            _ => {
                let two = text.get(i..i + 2).unwrap_or("");
                i += if matches!(two, "==" | "!=" | "<=" | ">=" | "=>" | "->" | "??" | "?." | "..") {
                    2
                } else {
                    text.get(i..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8)
                };
            }
        }
        if start < error_pos {
            previous = Some(Tok { start, end: i });
        }
    }
    unclosed.extend(stack.iter().map(|&(_, at)| at));
    Context { open_at_error: open_at_error.unwrap_or(stack), unclosed, previous, open_string }
}

/// The token found at `pos`, described for a message, and its byte length.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    if c == '\n' || rest.starts_with("\r\n") {
        return ("the end of the line".into(), 0);
    }
    if c == '"' {
        return ("a string".into(), 1);
    }
    if c.is_ascii_alphanumeric() || c == '_' {
        let len = rest.bytes().take_while(|&b| is_ident_byte(b)).count();
        let word = rest.get(..len).unwrap_or("");
        if KEYWORDS.contains(&word) {
            return (format!("the keyword `{word}`"), len);
        }
        if c.is_ascii_digit() {
            return (format!("the number `{word}`"), len);
        }
        return (format!("`{word}`"), len);
    }
    for op in ["==", "!=", "<=", ">=", "=>", "->", "??", "?.", ".."] {
        if rest.starts_with(op) {
            return (format!("`{op}`"), 2);
        }
    }
    (format!("`{c}`"), c.len_utf8())
}

fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What an opening bracket at `at` opens, for "expected `}` to close the ...".
fn describe_opener(text: &str, at: usize, item_keyword: Option<&str>, first_brace: Option<usize>) -> String {
    let b = text.as_bytes().get(at).copied().unwrap_or(b'{');
    match b {
        b'(' => "the parenthesis".into(),
        b'[' => "the list".into(),
        _ if first_brace == Some(at) => match item_keyword {
            Some("playbook") => "the playbook body".into(),
            Some("connector") => "the connector body".into(),
            Some("fn") => "the function body".into(),
            Some("test") => "the test body".into(),
            Some("enum") => "the enum".into(),
            Some("type") | Some("const") => "the record".into(),
            _ => "the block".into(),
        },
        _ => "the block".into(),
    }
}

fn closer(opener: u8) -> &'static str {
    match opener {
        b'(' => ")",
        b'[' => "]",
        _ => "}",
    }
}

/// Builds the diagnostic for a failed parse of one item. `text` is the item's source,
/// `base` its offset in the file.
/// The text of an expected token, as pest shows it. The grammar writes single characters as
/// one-character ranges (`'x'..'x'`, matched without a string comparison), shown as `x..x`;
/// they stand for the literal `x`. (No range of the grammar has equal ends otherwise.)
fn token_text(shown: String) -> String {
    let mut chars = shown.chars();
    match (chars.next(), chars.next(), chars.next(), chars.next(), chars.next()) {
        (Some(a), Some('.'), Some('.'), Some(b), None) if a == b => a.to_string(),
        _ => shown,
    }
}

fn syntax_error(file: FileId, text: &str, base: usize, err: &Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let pos = pos.min(text.len());
    let at = |start: usize, len: usize| Span::new(file, base + start, base + start + len);

    let positives: &[Rule] = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => {
            return Diagnostic::error(
                "syntax-error",
                "this declaration is too large or too deeply nested to be read",
                at(0, text.find('\n').unwrap_or(text.len())),
                "declaration starts here",
            )
            .with_help("split it into smaller declarations or functions");
        }
    };

    let mut pos = pos;
    let mut expected: Vec<Expect> = Vec::new();
    let mut use_positives = true;
    if let Some(attempts) = err.parse_attempts() {
        let at_max = attempts.max_position;
        // Pest may report the end of a word it matched under a lookahead (a keyword used
        // as a name); its own error position is the better one then.
        let inside_word = matches!(text.as_bytes().get(at_max), Some(b' ' | b'\t'));
        if at_max >= pos && at_max <= text.len() && !inside_word {
            use_positives = at_max == pos;
            pos = at_max;
            let tokens: Vec<String> =
                attempts.expected_tokens().iter().map(|t| token_text(t.to_string())).collect();
            // Where a binary operator could go, `(`, `[`, `.`, `<`, `-` ... are operators
            // too, and the expression being continued is not "expected".
            let operator_position = tokens.iter().any(|t| {
                matches!(t.as_str(), "??" | "==" | "!=" | "<=" | ">=" | "+" | "*" | "/" | "%" | "and" | "or")
            });
            let mut specific_token = false;
            for t in &tokens {
                if operator_position
                    && (is_operator_token(t)
                        || matches!(
                            t.as_str(),
                            "(" | "[" | "." | "<" | ">" | "-" | "in" | "=" | "!" | "?" | "a" | "o" | "i"
                        ))
                {
                    expected.push(Expect::Operator);
                } else if let Some(e) = expect_of_token(t) {
                    specific_token |= matches!(e, Expect::Token(_));
                    expected.push(e);
                }
            }
            for stack in attempts.call_stacks() {
                let Some(e) = stack.deepest.get_rule().and_then(|&r| expect_of_rule(r)) else {
                    continue;
                };
                let structural = matches!(
                    e,
                    Expect::Parameter
                        | Expect::Field
                        | Expect::Arm
                        | Expect::Member
                        | Expect::Declaration
                        | Expect::Statement
                );
                if (operator_position && e == Expect::Expression) || (structural && specific_token) {
                    continue;
                }
                expected.push(e);
            }
        }
    }
    if use_positives {
        expected.extend(positives.iter().filter_map(|&r| expect_of_rule(r)));
    }
    // The first-character guards of `primary` show up as `(`, `[`, `{`, `"` next to a name:
    // that is where an expression was expected.
    if expected.contains(&Expect::Name) && expected.contains(&Expect::Token("[".into())) {
        expected.retain(|e| {
            !matches!(e, Expect::Name | Expect::CloseString)
                && !matches!(e, Expect::Token(t) if matches!(t.as_str(), "(" | "[" | "{" | "-"))
        });
        expected.push(Expect::Expression);
    }
    expected.sort();
    expected.dedup();

    let ctx = tokenize_context(text, pos);
    let (found, found_len) = found_at(text, pos);
    let item_keyword = first_word(text);
    let first_brace = text.find('{');

    // An unterminated string.
    if let Some(start) = ctx.open_string {
        let line_end = text.get(start..).and_then(|t| t.find('\n')).map_or(text.len(), |n| start + n);
        if pos >= line_end {
            return Diagnostic::error(
                "syntax-error",
                "this string is not closed: expected `\"` before the end of the line",
                at(line_end, 0),
                "expected `\"` here",
            )
            .with_secondary(at(start, 1), "the string starts here")
            .with_help("strings end on the line they start; write `\\n` for a line break");
        }
    }

    let innermost_unclosed =
        ctx.open_at_error.iter().rev().find(|(_, off)| ctx.unclosed.contains(off)).copied();

    // The item ends while a bracket is still open.
    let rest_is_blank = crate::split::is_blank(text.get(pos..).unwrap_or(""));
    if rest_is_blank
        && let Some((opener, off)) = innermost_unclosed.or_else(|| ctx.open_at_error.last().copied())
    {
        let what = describe_opener(text, off, item_keyword, first_brace);
        // Point just after the last code of the item, not at the blank lines after it.
        let end = last_code_end(text).min(text.len());
        return Diagnostic::error(
            "syntax-error",
            format!("expected `{}` to close {what}", closer(opener)),
            at(end, 0),
            format!("expected `{}` here", closer(opener)),
        )
        .with_secondary(at(off, 1), format!("{what} opened here"));
    }

    let prev_text = ctx.previous.and_then(|t| text.get(t.start..t.end)).unwrap_or("");
    let wants_expression = expected.contains(&Expect::Expression);
    // Whether a line break separates the error from the code before it: then "a new line"
    // was clearly not what was missing.
    let newline_before =
        ctx.previous.and_then(|t| text.get(t.end..pos)).is_some_and(|between| between.contains('\n'));

    let mut diag = if wants_expression && BINARY_OPERATORS.contains(&prev_text) {
        Diagnostic::error(
            "syntax-error",
            format!("expected an expression after `{prev_text}`, found {found}"),
            at(pos, found_len),
            "expected an expression here",
        )
    } else {
        // Inside `( )`, `[ ]` or a string's `{ }`, lines do not end statements.
        let in_brackets =
            ctx.open_string.is_some() || matches!(ctx.open_at_error.last(), Some((b'(' | b'[', _)));
        let shown = select_expectations(&expected, newline_before, in_brackets);
        let list: Vec<String> = shown.iter().take(6).map(|e| e.describe()).collect();
        let what = join_alternatives(&list);
        Diagnostic::error(
            "syntax-error",
            format!("expected {what}, found {found}"),
            at(pos, found_len),
            if list.len() <= 2 { format!("expected {what}") } else { "unexpected here".to_string() },
        )
    };

    // Hints for common slips.
    let found_word = text.get(pos..pos + found_len).unwrap_or("");
    if expected.contains(&Expect::Name) && KEYWORDS.contains(&found_word) {
        diag = diag.with_help(format!("`{found_word}` is a keyword; choose another name"));
    } else if expected.contains(&Expect::Token("=>".into())) {
        diag = diag.with_help("a match arm is written `pattern => statement` or `pattern => { ... }`");
    } else if expected.contains(&Expect::Token("effect".into())) {
        diag = diag.with_help(
            "every action declares its effect: `effect read`, `effect write`, \
             `effect reversible(undo: ACTION)` or `effect destructive`",
        );
    } else if wants_expression
        && found_len > 0
        && text.get(pos..pos + 1) == Some("}")
        && ctx.open_string.is_some()
    {
        diag = diag.with_help("write `\\{` for a literal brace in a string");
    } else if expected.contains(&Expect::EndOfStatement) && !newline_before && !found.starts_with("the end") {
        diag = diag.with_help("put each statement on its own line, or separate them with `;`");
    }
    if let Some((opener, off)) = innermost_unclosed {
        diag = diag.with_secondary(at(off, 1), format!("this `{}` is never closed", opener as char));
    }
    diag
}

/// The alternatives worth showing, most specific first.
fn select_expectations(expected: &[Expect], newline_before: bool, in_brackets: bool) -> Vec<Expect> {
    const EXPRESSION_STARTS: &[&str] =
        &["true", "false", "none", "not", "if", "match", "for", "approve", "try", "(", "[", "{", "-"];
    const STATEMENT_STARTS: &[&str] = &[
        "let",
        "note",
        "evidence",
        "recommend",
        "resolve",
        "escalate",
        "fail",
        "mock",
        "approvals",
        "expect",
    ];
    const DECLARATION_STARTS: &[&str] = &["playbook", "connector", "type", "enum", "fn", "const", "test"];
    let mut shown: Vec<Expect> = expected.to_vec();
    let has = |shown: &[Expect], e: &Expect| shown.contains(e);
    if has(&shown, &Expect::Expression) {
        shown.retain(|e| match e {
            Expect::Token(t) => !EXPRESSION_STARTS.contains(&t.as_str()),
            Expect::CloseString | Expect::Name => false,
            _ => true,
        });
    }
    if has(&shown, &Expect::Statement) {
        shown.retain(|e| match e {
            Expect::Token(t) => !STATEMENT_STARTS.contains(&t.as_str()),
            Expect::Expression => false,
            _ => true,
        });
    }
    if has(&shown, &Expect::Declaration) {
        shown.retain(|e| match e {
            Expect::Token(t) => !DECLARATION_STARTS.contains(&t.as_str()),
            Expect::Statement | Expect::EndOfFile => false,
            _ => true,
        });
    }
    if has(&shown, &Expect::Member) {
        shown.retain(|e| !matches!(e, Expect::Token(t) if t == "type" || t == "action"));
    }
    if has(&shown, &Expect::Type) {
        shown.retain(|e| !matches!(e, Expect::Token(t) if t == "list" || t == "{"));
    }
    if newline_before
        || in_brackets
        || has(&shown, &Expect::Token(",".into()))
        || has(&shown, &Expect::Declaration)
    {
        shown.retain(|e| *e != Expect::EndOfStatement);
    }
    if has(&shown, &Expect::EndOfStatement) {
        shown.retain(|e| !matches!(e, Expect::Token(t) if t == "}"));
    }
    if has(&shown, &Expect::Token("=>".into())) {
        shown.retain(|e| matches!(e, Expect::Token(t) if t == "=>" || t == "|"));
    }
    if shown.len() > 1 {
        shown.retain(|e| *e != Expect::Operator);
    }
    if shown.is_empty() {
        shown = expected.to_vec();
    }
    shown
}

fn first_word(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.starts_with('#') || rest.starts_with('@') {
            // Skip comment and attribute lines.
            rest = rest.find('\n').and_then(|n| rest.get(n + 1..)).unwrap_or("");
            continue;
        }
        break;
    }
    let len = rest.bytes().take_while(|&b| is_ident_byte(b)).count();
    rest.get(..len).filter(|w| !w.is_empty())
}

/// The end of the last line of code (not blank, not a comment) in `text`.
fn last_code_end(text: &str) -> usize {
    let mut offset = 0;
    let mut last = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("");
        let trimmed = code.trim_end();
        if !trimmed.trim_start().is_empty() {
            last = offset + trimmed.len();
        }
        offset += line.len();
    }
    last
}
