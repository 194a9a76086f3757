//! Hostile nesting never overflows the native stack: the parser does not probe the stack,
//! so nesting is bounded before parsing (`split::nesting_exceeds`). Each input runs on a
//! thread with a 2 MiB stack (smaller than the 8 MiB main thread of the CLI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

const DEPTH: usize = 100_000;

/// Parses `src` on a thread with a 2 MiB stack; returns the diagnostics' messages.
fn parse_small_stack(src: String) -> (usize, Vec<String>) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let (file, diags) = parry_syntax::parse(common::FILE, &src);
            common::check_spans(&src, &file);
            (file.items.len(), diags.into_iter().map(|d| d.message).collect())
        })
        .unwrap()
        .join()
        .unwrap()
}

fn refused(name: &str, src: String) {
    let (items, messages) = parse_small_stack(src);
    assert_eq!(items, 0, "{name}: accepted");
    assert_eq!(messages, vec!["this code is nested too deeply to be read".to_string()], "{name}");
}

#[test]
fn deep_brackets_are_refused() {
    for (name, open, close) in [
        ("parentheses", "(", ")"),
        ("lists", "[", "]"),
        ("records", "{ a: ", "}"),
        ("calls", "f(", ")"),
        ("indexes", "a[", "]"),
        ("interpolations", "\"{", "}\""),
        ("blocks", "{ ", " }"),
    ] {
        refused(name, format!("const X = {}1{}\n", open.repeat(DEPTH), close.repeat(DEPTH)));
        // Unclosed too.
        refused(name, format!("const X = {}1\n", open.repeat(DEPTH)));
    }
    refused("ifs", format!("fn f() {{\n{}1{}\n}}\n", "if x { ".repeat(DEPTH), " }".repeat(DEPTH)));
    refused(
        "matches",
        format!("fn f() {{\n{}1{}\n}}\n", "match x { a => ".repeat(DEPTH), " }".repeat(DEPTH)),
    );
    refused("record types", format!("type T = {}int{}\n", "{ a: ".repeat(DEPTH), " }".repeat(DEPTH)));
    refused("params", format!("fn f(a: {}int{}) {{ 1 }}\n", "{ a: ".repeat(DEPTH), " }".repeat(DEPTH)));
}

#[test]
fn deep_nesting_without_brackets_is_refused() {
    // Types nest with `<`.
    refused("list types", format!("type T = {}int{}\n", "list<".repeat(DEPTH), ">".repeat(DEPTH)));
    refused("unclosed list types", format!("type T = {}int\n", "list<".repeat(DEPTH)));
    // An `if` (or `match`, `for`, `approve`) in another one's condition.
    refused(
        "if conditions",
        format!("const X = {}a{}\n", "if ".repeat(DEPTH), " { 1 } else { 2 }".repeat(DEPTH)),
    );
    refused("if conditions on lines", format!("const X = {}a\n", "if a + \n".repeat(DEPTH)));
    refused(
        "match scrutinees",
        format!("const X = {}a{}\n", "match ".repeat(DEPTH), " { _ => 1 }".repeat(DEPTH)),
    );
    refused("for iterables", format!("const X = {}a{}\n", "for x in ".repeat(DEPTH), " { 1 }".repeat(DEPTH)));
    refused(
        "approve prompts",
        format!("const X = {}a{}\n", "approve ".repeat(DEPTH), " { 1 }".repeat(DEPTH)),
    );
    refused(
        "records in conditions",
        format!("const X = {}1{}\n", "if a + { x: 1 }.x + ".repeat(DEPTH), " { 1 }".repeat(DEPTH)),
    );
    // `else if` chains, on one line and across lines.
    refused(
        "else if",
        format!("fn f() {{\n  if a {{ 1 }}{} else {{ 2 }}\n}}\n", " else if a { 1 }".repeat(DEPTH)),
    );
    refused(
        "else if lines",
        format!("fn f() {{\n  if a {{ 1 }}{}\n}}\n", "\n  else if a { 1 }".repeat(DEPTH)),
    );
    refused("else if try", format!("const X = {}1\n", "if try { 1 }\ncatch e { 2 } + ".repeat(DEPTH)));
}

#[test]
fn long_flat_chains_are_refused_or_read_without_overflow() {
    // Prefix operators and `??` chains are flat in the grammar; the AST they build is deep.
    for chain in ["not ", "-", "- ", "not -"] {
        refused(chain, format!("const X = {}1\n", chain.repeat(DEPTH)));
    }
    refused("coalesce", format!("const X = 1{}\n", " ?? 1".repeat(DEPTH)));
    refused("sum", format!("const X = 1{}\n", " + 1".repeat(DEPTH)));
    refused("fields", format!("const X = a{}\n", ".b".repeat(DEPTH)));
    refused("calls", format!("const X = f{}\n", "()".repeat(DEPTH)));
    refused(
        "optional types",
        format!("type T = {{ a: int{} }}\n", "?".repeat(DEPTH)).replace("int?", "list<int>?"),
    );
}

#[test]
fn many_flat_constructs_are_not_nesting() {
    // Long bodies of statements, arms and separate `if`s are not deep.
    let ifs = "  if a { 1 } else if b { 2 } else { 3 }\n".repeat(2000);
    let (items, messages) = parse_small_stack(format!("fn f() {{\n{ifs}}}\n"));
    assert_eq!((items, messages), (1, vec![]));
    let lets = "  let x = if a { [1, 2] } else { match b { _ => (1) } }\n".repeat(2000);
    let (items, messages) = parse_small_stack(format!("fn f() {{\n{lets}}}\n"));
    assert_eq!((items, messages), (1, vec![]));
    let list = format!("const X = [{}]\n", "if a { 1 } else { 2 }, ".repeat(5000));
    assert_eq!(parse_small_stack(list), (1, vec![]));
    let types = format!(
        "type T = {{ {} }}\n",
        (0..2000).map(|i| format!("f{i}: list<list<int>>")).collect::<Vec<_>>().join(", ")
    );
    assert_eq!(parse_small_stack(types), (1, vec![]));
}

#[test]
fn nesting_up_to_the_limit_is_read() {
    // 100 levels of brackets: read (the AST limit is 128 levels).
    let src = format!("const X = {}1{}\n", "[(".repeat(50), ")]".repeat(50));
    assert_eq!(parse_small_stack(src), (1, vec![]));
    let src = format!("type T = {}int{}\n", "list<".repeat(100), ">".repeat(100));
    assert_eq!(parse_small_stack(src), (1, vec![]));
}

#[test]
fn nested_matches_up_to_the_limit_are_read_on_a_main_thread_stack() {
    // A `match` arm holding a `match` recurses the most per level. 8 MiB is the stack of the
    // CLI's main thread and of the threads that parse large files, in any build.
    let src = format!("fn f() {{\n{}1{}\n}}\n", "match x { a => ".repeat(120), " }".repeat(120));
    let read = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let (file, diags) = parry_syntax::parse(common::FILE, &src);
            (file.items.len(), diags.len())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(read, (1, 0));
}

#[test]
fn strings_cut_anywhere_are_scanned() {
    // A backslash at the end of the text or of a line, in a string and in an interpolation.
    for src in [
        "const X = \"a\\",
        "const X = \"a\\\n",
        "const X = \"{\"\\",
        "const X = \"{ \"\\\n1",
        "\"\\",
        "r\"\\",
    ] {
        let (items, _) = parse_small_stack(src.to_string());
        assert_eq!(items, 0, "{src:?}");
    }
}
