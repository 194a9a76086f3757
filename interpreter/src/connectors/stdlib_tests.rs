//! The standard library's connector interfaces (`stdlib/*.play`) and the embedded
//! implementations agree: every declared action is implemented, and the arguments the
//! implementation reads are the parameters the interface declares.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use super::{Args, build_native, default_impl};

#[tokio::test]
async fn every_stdlib_action_is_implemented_with_the_declared_parameters() {
    let compilation = parry_compiler::compile_sources(Vec::new(), parry_compiler::Config::default());
    assert!(compilation.diagnostics.is_empty(), "{:#?}", compilation.diagnostics);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mailboxes")).unwrap();

    let stdlib: Vec<_> = compilation.program.connectors.iter().filter(|c| c.stdlib).collect();
    let names: Vec<&str> = stdlib.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names.len(),
        9,
        "mail intel sandbox proxy firewall edr identity notify ticket, found {names:?}"
    );
    for connector in stdlib {
        let imp = default_impl(&connector.name).unwrap();
        let native = build_native(&connector.name, imp, &Value::Null, dir.path()).unwrap();
        for action in &connector.actions {
            let what = format!("{}.{}", connector.name, action.name);
            let Err(err) = native.call(&action.name, &Args::new()).await else {
                panic!("{what} succeeded without its arguments");
            };
            assert_ne!(err.kind, "unknown_action", "{what} is not implemented: {}", err.message);
            assert_eq!(err.kind, "invalid_argument", "{what}: {}", err.message);
            let read = err.message.split('`').nth(1).unwrap_or_default();
            assert!(
                action.params.iter().any(|p| p.name == read),
                "{what} reads argument `{read}`, which the interface does not declare"
            );
        }
    }
}
