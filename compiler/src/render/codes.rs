//! One-line descriptions of the diagnostic codes, for SARIF rules and `parry explain`'s index.

/// What a code means, in one line. Unknown codes get a generic description.
pub fn code_summary(code: &str) -> &'static str {
    match code {
        "syntax-error" => "The text is not valid Parry syntax.",
        "unknown-name" => "A variable, type, connector, action or field is not declared.",
        "duplicate-definition" => "Two declarations in the same namespace share a name.",
        "type-mismatch" => "A value's type is not the type expected where it is used.",
        "wrong-arguments" => "A call has missing, extra, misnamed or duplicated arguments.",
        "invalid-literal" => "A literal is not a valid value of its security type (ip, cidr, url, ...).",
        "non-exhaustive-match" => "A match does not cover every possible value.",
        "recursive-function" => "A function calls itself, directly or through other functions.",
        "test-only" => "mock, expect, approvals, load or calls is used outside a test block.",
        "unapproved-destructive" => "A destructive action can run without a human approval.",
        "unbounded-containment" => {
            "An ungated reversible action can run on more targets than the policy allows automatically."
        }
        "missing-undo" => "A reversible action's undo action is missing or takes other parameters.",
        "secret-leak" => "A secret flows somewhere other than an HTTP header, query or body.",
        "allow-without-reason" => "An @allow attribute has no reason.",
        "override-forbidden" => "An @allow silences a safety code while the policy forbids overrides.",
        "approval-in-loop" => "An approval inside a for loop prompts once per item.",
        "no-disposition" => "A path through a playbook ends without resolve or escalate.",
        "unreachable-code" => "A statement follows resolve, escalate or fail and can never run.",
        "unused-variable" => "A let binding is never read.",
        _ => "A Parry diagnostic.",
    }
}

/// Where a code's page lives in the repository (the text `parry explain CODE` prints).
pub fn docs_path(code: &str) -> String {
    format!("docs/diagnostics/{code}.md")
}
