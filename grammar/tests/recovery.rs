//! Error tolerance: a broken item is reported and dropped, every other item survives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use parry_syntax::ast::ItemKind;

#[test]
fn two_broken_items_and_one_good() {
    let src = "\
fn broken_one(a: int) {
  let = a
}

type Good = { x: int }

playbook broken_two(a: Good) {
  resolve \"a\" \"b\"
}
";
    let (file, diags) = parry_syntax::parse(common::FILE, src);
    common::check_spans(src, &file);
    assert_eq!(diags.len(), 2, "{}", common::render_diagnostics(src, &diags));
    assert!(diags.iter().all(|d| d.code == "syntax-error"));
    let lines: Vec<usize> = diags.iter().map(|d| common::line_col(src, d.primary.span.start).0).collect();
    assert_eq!(lines, vec![2, 8]);
    assert_eq!(file.items.len(), 1);
    assert!(matches!(&file.items[0].kind, ItemKind::Type(t) if t.name.name == "Good"));
}

#[test]
fn unclosed_item_does_not_swallow_the_next_one() {
    let src = "\
fn broken(x: int) {
  if x > 1 {
    note \"x\"

playbook p(a: A) {
  resolve \"still parsed\"
}

const C = 1
";
    let (file, diags) = parry_syntax::parse(common::FILE, src);
    assert_eq!(diags.len(), 1, "{}", common::render_diagnostics(src, &diags));
    assert_eq!(diags[0].message, "expected `}` to close the block");
    assert_eq!(diags[0].secondary.len(), 1);
    let names: Vec<&str> = file.items.iter().filter_map(|i| i.name()).map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["p", "C"]);
}

#[test]
fn comments_survive_broken_items() {
    let src = "# one\nfn f( {\n  # two\n}\n## three\ntype T = int\n";
    let (file, diags) = parry_syntax::parse(common::FILE, src);
    assert_eq!(diags.len(), 1);
    let texts: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, vec![" one", " two", " three"]);
    assert_eq!(file.items.len(), 1);
    assert_eq!(file.items[0].doc.as_deref(), Some("three"));
}

#[test]
fn syntax_error_conformance_case_message() {
    let src = "# expect: syntax-error\ntype A = { x: int }\n\nplaybook p(a: A) {\n  let y = (a.x + \n  resolve \"done\"\n}\n";
    let (file, diags) = parry_syntax::parse(common::FILE, src);
    assert_eq!(file.items.len(), 1);
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(d.message, "expected an expression after `+`, found the keyword `resolve`");
    assert_eq!(common::line_col(src, d.primary.span.start), (6, 3));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(common::line_col(src, d.secondary[0].span.start), (5, 11));
    assert_eq!(d.secondary[0].message, "this `(` is never closed");
}

#[test]
fn deep_nesting_is_refused_without_crashing() {
    for open in ["(", "[", "{ a: ", "not ", "-", "f(", "if x { "] {
        let depth = 5000;
        let src = format!("const X = {}1\n", open.repeat(depth));
        let (_, diags) = parry_syntax::parse(common::FILE, &src);
        assert!(!diags.is_empty(), "deep {open:?} accepted");
    }
    // Long operator chains build deep trees: nesting too.
    let long = format!("const X = 1{}\n", " + 1".repeat(20000));
    let (file, diags) = parry_syntax::parse(common::FILE, &long);
    assert_eq!(diags.len(), 1);
    assert!(file.items.is_empty());
    // A long chain of `??` and of `else if` is nesting too.
    let chain = format!("const X = {}1\n", "a ?? ".repeat(5000));
    let (_, diags) = parry_syntax::parse(common::FILE, &chain);
    assert!(!diags.is_empty());
    let elifs = format!("fn f() {{\n  if a {{ 1 }}{} else {{ 2 }}\n}}\n", " else if a { 1 }".repeat(3000));
    let (_, diags) = parry_syntax::parse(common::FILE, &elifs);
    assert!(!diags.is_empty());
}

#[test]
fn moderate_nesting_is_fine() {
    let src = format!("const X = {}1{}\n", "(".repeat(50), ")".repeat(50));
    let (file, diags) = parry_syntax::parse(common::FILE, &src);
    assert!(diags.is_empty(), "{}", common::render_diagnostics(&src, &diags));
    common::check_spans(&src, &file);
    let long = format!("const X = 1{}\n", " + 1".repeat(100));
    let (file, diags) = parry_syntax::parse(common::FILE, &long);
    assert!(diags.is_empty());
    assert_eq!(file.items.len(), 1);
    // A flat list of many elements is not nesting.
    let list = format!("const X = [{}]\n", "1, ".repeat(20000));
    let (file, diags) = parry_syntax::parse(common::FILE, &list);
    assert!(diags.is_empty());
    assert_eq!(file.items.len(), 1);
}

#[test]
fn hostile_bytes_do_not_panic() {
    let inputs = [
        "\u{0}\u{1}\u{feff}playbook",
        "\"\\",
        "r\"",
        "\"{",
        "\"{\"{\"{",
        "}}}}}}",
        "@@@@",
        "playbook p(a: A) { \"{ }\" }",
        "🙂 fn f() { 🙂 }",
        "type T = {\n## doc\n}",
        "\r\r\r\n\r",
    ];
    for src in inputs {
        let (file, _) = parry_syntax::parse(common::FILE, src);
        common::check_spans(src, &file);
    }
}

#[test]
fn file_id_is_on_every_diagnostic_and_item() {
    let src = "type A = int\nfn (\n";
    let (file, diags) = parry_syntax::parse(parry_syntax::ast::FileId(3), src);
    assert!(file.items.iter().all(|i| i.span.file.0 == 3));
    assert!(diags.iter().all(|d| d.primary.span.file.0 == 3));
}
