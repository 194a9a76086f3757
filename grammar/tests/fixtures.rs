//! Fixture-driven snapshot tests: one `.play` per construct under `tests/fixtures/valid`
//! (which must parse without diagnostics) and `tests/fixtures/invalid` (which must not).
//! Each snapshot holds the source, the AST dump and the rendered diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn valid_fixtures() {
    insta::glob!("fixtures/valid/*.play", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let (_, diags) = parry_syntax::parse(common::FILE, &src);
        assert!(
            diags.is_empty(),
            "{} should parse cleanly:\n{}",
            path.display(),
            common::render_diagnostics(&src, &diags)
        );
        insta::assert_snapshot!(common::parse_and_render(&src));
    });
}

#[test]
fn invalid_fixtures() {
    insta::glob!("fixtures/invalid/*.play", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let (_, diags) = parry_syntax::parse(common::FILE, &src);
        assert!(!diags.is_empty(), "{} should report an error", path.display());
        insta::assert_snapshot!(common::parse_and_render(&src));
    });
}
