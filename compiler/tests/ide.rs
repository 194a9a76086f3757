//! What the language server relies on: resolved references with definition spans and hover
//! text, typed expressions by position, and an IR even for broken files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use parry_compiler::ir::{RefKind, Type};
use parry_compiler::{Config, compile_sources};
use std::path::PathBuf;

const SRC: &str = r#"connector mail {
  ## A message.
  type Message = { id: string, sender: email }
  ## Search messages.
  action search(sender: email) -> list<Message> effect read
}
type Report = { sender: email }

playbook triage(r: Report) {
  let found = mail.search(r.sender)
  note "{len(found)} {r.nosuch}"
  resolve "done"
}
"#;

fn offset_of(needle: &str, nth: usize) -> u32 {
    SRC.match_indices(needle).nth(nth).map(|(i, _)| i as u32).unwrap()
}

#[test]
fn references_point_at_definitions() {
    let c = compile_sources(vec![(PathBuf::from("a.play"), SRC.into())], Config::default());
    let file = c.file_id(&PathBuf::from("a.play")).unwrap();
    // `found` in `len(found)` resolves to the `let`.
    let use_at = offset_of("found", 1) + 1;
    let r = c.program.reference_at(file, use_at).unwrap();
    assert_eq!(r.kind, RefKind::Local);
    assert_eq!(r.def.start, offset_of("found", 0));
    assert_eq!(r.detail, "let found: list<mail.Message>");
    // `search` resolves to the action, with its doc comment.
    let r = c.program.reference_at(file, offset_of("search(r", 0) + 1).unwrap();
    assert_eq!(r.kind, RefKind::Action);
    assert_eq!(r.doc.as_deref(), Some("Search messages."));
    assert!(r.detail.starts_with("action mail.search(sender: email) -> list<mail.Message>"), "{}", r.detail);
    assert!(
        c.program
            .definitions()
            .iter()
            .any(|(u, d)| u.start == offset_of("sender)", 0) && d.start == offset_of("sender:", 2))
    );
}

#[test]
fn broken_programs_still_have_typed_ir() {
    let c = compile_sources(vec![(PathBuf::from("a.play"), SRC.into())], Config::default());
    assert!(c.has_errors());
    assert_eq!(c.diagnostics.len(), 1, "{:?}", c.diagnostics);
    let file = c.file_id(&PathBuf::from("a.play")).unwrap();
    let e = c.program.expr_at(file, offset_of("r.sender", 0) + 3).unwrap();
    assert_eq!(e.ty.to_string(), "email");
    let call = c.program.expr_at(file, offset_of("mail.search", 0)).unwrap();
    assert!(matches!(call.ty, Type::List { .. }));
}
