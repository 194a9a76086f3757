//! In-process tests of the language server over an in-memory connection. Each test opens
//! fixture documents (a `$0` marks the cursor), sends one request, renders the answer as
//! text (ranges shown with the source they cover) and compares it with an insta snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _, SemanticTokensFullRequest,
};
use lsp_types::*;
use parry_lsp::{Encoding, LineIndex};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

// ---------------------------------------------------------------- harness

struct Client {
    conn: Connection,
    server: Option<JoinHandle<()>>,
    next_id: i32,
    enc: Encoding,
    dir: PathBuf,
    texts: std::collections::HashMap<Url, String>,
    version: i32,
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

impl Client {
    /// A server whose client offers `encodings`, over a fresh scratch directory (with a
    /// `parry.toml` when `toml` is given).
    fn start(encodings: &[PositionEncodingKind], toml: Option<&str>) -> Client {
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("parry-lsp-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(toml) = toml {
            std::fs::write(dir.join("parry.toml"), toml).unwrap();
        }
        let (server_conn, conn) = Connection::memory();
        let server = std::thread::spawn(move || {
            parry_lsp::serve(server_conn).unwrap();
        });
        let mut client = Client {
            conn,
            server: Some(server),
            next_id: 1,
            enc: Encoding::Utf16,
            dir,
            texts: Default::default(),
            version: 0,
        };
        let params = InitializeParams {
            capabilities: ClientCapabilities {
                general: Some(GeneralClientCapabilities {
                    position_encodings: Some(encodings.to_vec()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let result: InitializeResult = client.request::<lsp_types::request::Initialize>(params);
        client.enc = match result.capabilities.position_encoding {
            Some(e) if e == PositionEncodingKind::UTF8 => Encoding::Utf8,
            _ => Encoding::Utf16,
        };
        client.notify::<lsp_types::notification::Initialized>(InitializedParams {});
        client
    }

    fn uri(&self, name: &str) -> Url {
        Url::from_file_path(self.dir.join(name)).unwrap()
    }

    fn notify<N: lsp_types::notification::Notification>(&mut self, params: N::Params) {
        let note = Notification::new(N::METHOD.to_string(), params);
        self.conn.sender.send(Message::Notification(note)).unwrap();
    }

    fn request<R: lsp_types::request::Request>(&mut self, params: R::Params) -> R::Result {
        let value = self.request_raw(R::METHOD, serde_json::to_value(params).unwrap());
        serde_json::from_value(value.result.unwrap_or(serde_json::Value::Null)).unwrap()
    }

    fn request_raw(&mut self, method: &str, params: serde_json::Value) -> Response {
        let id = RequestId::from(self.next_id);
        self.next_id += 1;
        let req = Request { id: id.clone(), method: method.to_string(), params };
        self.conn.sender.send(Message::Request(req)).unwrap();
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(60))
                .expect("no response from the server")
            {
                Message::Response(r) if r.id == id => return r,
                _ => continue,
            }
        }
    }

    /// The diagnostics published for `uri` after the last change (other files' are skipped).
    fn diagnostics_for(&mut self, uri: &Url) -> Vec<lsp_types::Diagnostic> {
        loop {
            let msg =
                self.conn.receiver.recv_timeout(Duration::from_secs(60)).expect("no diagnostics published");
            if let Message::Notification(n) = msg
                && n.method == PublishDiagnostics::METHOD
            {
                let p: PublishDiagnosticsParams = serde_json::from_value(n.params).unwrap();
                if &p.uri == uri {
                    return p.diagnostics;
                }
            }
        }
    }

    /// Open a document (a `$0` in `text` marks the cursor, returned as a position).
    fn open(&mut self, name: &str, text: &str) -> (Url, Position, Vec<lsp_types::Diagnostic>) {
        let offset = text.find("$0");
        let text = text.replace("$0", "");
        let uri = self.uri(name);
        self.notify::<DidOpenTextDocument>(DidOpenTextDocumentParams {
            text_document: TextDocumentItem {
                uri: uri.clone(),
                language_id: "parry".into(),
                version: 0,
                text: text.clone(),
            },
        });
        let diags = self.diagnostics_for(&uri);
        let pos = LineIndex::new(&text).position(&text, offset.unwrap_or(0), self.enc);
        self.texts.insert(uri.clone(), text);
        (uri, pos, diags)
    }

    fn change(
        &mut self,
        uri: &Url,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Vec<lsp_types::Diagnostic> {
        self.version += 1;
        self.notify::<DidChangeTextDocument>(DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier { uri: uri.clone(), version: self.version },
            content_changes: changes,
        });
        self.diagnostics_for(uri)
    }

    /// Apply edits to the client's copy of a document and send them as one change each,
    /// last edit first (so earlier ranges stay valid), returning the new diagnostics.
    fn apply(&mut self, uri: &Url, mut edits: Vec<TextEdit>) -> Vec<lsp_types::Diagnostic> {
        edits.sort_by_key(|e| (e.range.start.line, e.range.start.character));
        let mut text = self.texts.get(uri).cloned().unwrap();
        let changes: Vec<TextDocumentContentChangeEvent> = edits
            .iter()
            .rev()
            .map(|e| {
                let index = LineIndex::new(&text);
                let start = index.offset(&text, e.range.start, self.enc);
                let end = index.offset(&text, e.range.end, self.enc);
                text.replace_range(start..end, &e.new_text);
                TextDocumentContentChangeEvent {
                    range: Some(e.range),
                    range_length: None,
                    text: e.new_text.clone(),
                }
            })
            .collect();
        self.texts.insert(uri.clone(), text);
        self.change(uri, changes)
    }

    fn text(&self, uri: &Url) -> String {
        self.texts.get(uri).cloned().unwrap_or_default()
    }

    fn doc_pos(&self, uri: &Url, pos: Position) -> TextDocumentPositionParams {
        TextDocumentPositionParams {
            text_document: TextDocumentIdentifier { uri: uri.clone() },
            position: pos,
        }
    }

    /// `line:col-line:col `covered text`` (1-based lines, columns in the negotiated unit).
    fn show_range(&self, uri: &Url, range: Range) -> String {
        let text = self.text(uri);
        let index = LineIndex::new(&text);
        let (s, e) = (index.offset(&text, range.start, self.enc), index.offset(&text, range.end, self.enc));
        format!(
            "{}:{}-{}:{} `{}`",
            range.start.line + 1,
            range.start.character,
            range.end.line + 1,
            range.end.character,
            text.get(s..e).unwrap_or("?")
        )
    }

    fn show_location(&self, loc: &Location) -> String {
        let name = loc
            .uri
            .to_file_path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_default();
        if self.texts.contains_key(&loc.uri) {
            format!("{name} {}", self.show_range(&loc.uri, loc.range))
        } else {
            format!("{name} {}:{}", loc.range.start.line + 1, loc.range.start.character)
        }
    }

    fn show_diagnostics(&self, uri: &Url, diags: &[lsp_types::Diagnostic]) -> String {
        let mut out = String::new();
        for d in diags {
            let code = match &d.code {
                Some(NumberOrString::String(s)) => s.clone(),
                _ => String::new(),
            };
            out.push_str(&format!(
                "{:?} [{code}] {}\n",
                d.severity.unwrap_or(DiagnosticSeverity::ERROR),
                self.show_range(uri, d.range)
            ));
            for line in d.message.lines() {
                out.push_str(&format!("    {line}\n"));
            }
            for r in d.related_information.iter().flatten() {
                out.push_str(&format!("    related: {} — {}\n", self.show_location(&r.location), r.message));
            }
        }
        out
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.request_raw("shutdown", serde_json::Value::Null);
        let _ = self
            .conn
            .sender
            .send(Message::Notification(Notification::new("exit".into(), serde_json::Value::Null)));
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn utf16() -> Client {
    Client::start(&[PositionEncodingKind::UTF16], None)
}

const POLICY: &str = r#"
[policy]
max_auto_targets = 10
require_approval = ["mbox.wipe"]

[policy.actions."mbox.quarantine"]
max_auto_targets = 50

[approvers]
soc-tier2 = ["alice", "bob"]
oncall = ["carol"]
"#;

/// A connector every fixture can use.
const CONNECTOR: &str = r#"connector mbox {
  type Message = { id: string, sender: email, subject: string }
  ## Find the messages a sender sent.
  action search(sender: email) -> list<Message> effect read
  action quarantine(message: Message) effect reversible(undo: release)
  action release(message: Message) effect reversible(undo: quarantine)
  ## Delete a message for good.
  action purge(message: Message) effect destructive
  action wipe(message: Message) effect write
}

type Alert = { sender: email, subject: string }
"#;

fn with_connector(body: &str) -> String {
    format!("{CONNECTOR}\n{body}")
}

// ---------------------------------------------------------------- diagnostics

#[test]
fn diagnostics_for_an_unapproved_destructive_call_through_a_function() {
    let mut c = utf16();
    let src = with_connector(
        r#"fn clean(m: mbox.Message) {
  mbox.purge(m)
}

playbook triage(alert: Alert) {
  let found = mbox.search(alert.sender)
  for m in found limit 5 {
    clean(m)
  }
  let unused = 1
  resolve "done"
}
"#,
    );
    let (uri, _, diags) = c.open("a.play", &src);
    insta::assert_snapshot!(c.show_diagnostics(&uri, &diags));
}

#[test]
fn suppressed_findings_are_hints_with_their_reason() {
    let mut c = utf16();
    let src = with_connector(
        r#"playbook triage(alert: Alert) {
  @allow("unused-variable", reason: "kept for the audit trail")
  let unused = 1
  resolve "done"
}
"#,
    );
    let (uri, _, diags) = c.open("a.play", &src);
    insta::assert_snapshot!(c.show_diagnostics(&uri, &diags));
}

#[test]
fn incremental_edits_with_non_ascii_text_in_utf16_and_utf8() {
    for enc in [PositionEncodingKind::UTF16, PositionEncodingKind::UTF8] {
        let mut c = Client::start(std::slice::from_ref(&enc), None);
        let src = "playbook p(alert: { a: string }) {\n  note \"é😀 ok\"\n  resolve \"done\"\n}\n";
        let (uri, _, diags) = c.open("u.play", src);
        assert!(diags.is_empty(), "{diags:?}");
        // Insert an unknown name right after the emoji-bearing string, by an incremental
        // edit computed in the negotiated encoding.
        let line = "  note \"é😀 ok\"";
        let col = match c.enc {
            Encoding::Utf8 => line.len(),
            Encoding::Utf16 => line.encode_utf16().count(),
        } as u32;
        let edit = TextEdit {
            range: Range::new(Position::new(1, col), Position::new(1, col)),
            new_text: " + missing".into(),
        };
        let diags = c.apply(&uri, vec![edit]);
        assert_eq!(
            c.text(&uri),
            "playbook p(alert: { a: string }) {\n  note \"é😀 ok\" + missing\n  resolve \"done\"\n}\n"
        );
        let unknown: Vec<_> =
            diags.iter().filter(|d| d.code == Some(NumberOrString::String("unknown-name".into()))).collect();
        assert_eq!(unknown.len(), 1, "{diags:?}");
        assert_eq!(c.show_range(&uri, unknown[0].range), format!("2:{}-2:{} `missing`", col + 3, col + 10));
        // Delete it again: the document is clean.
        let start = Position::new(1, col);
        let end = Position::new(1, col + 10);
        let diags = c.apply(&uri, vec![TextEdit { range: Range::new(start, end), new_text: String::new() }]);
        assert!(diags.is_empty(), "{diags:?}");
    }
}

// ---------------------------------------------------------------- hover

fn hover_text(c: &mut Client, uri: &Url, pos: Position) -> String {
    let params = HoverParams {
        text_document_position_params: c.doc_pos(uri, pos),
        work_done_progress_params: Default::default(),
    };
    match c.request::<HoverRequest>(params) {
        Some(h) => {
            let range = h.range.map(|r| c.show_range(uri, r)).unwrap_or_default();
            let body = match h.contents {
                HoverContents::Markup(m) => m.value,
                other => format!("{other:?}"),
            };
            format!("range: {range}\n\n{body}\n")
        }
        None => "no hover".to_string(),
    }
}

#[test]
fn hover_on_an_action_shows_signature_effect_undo_doc_and_policy() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some(POLICY));
    let src = with_connector(
        r#"playbook triage(alert: Alert) {
  for m in mbox.search(alert.sender) limit 5 {
    mbox.quaran$0tine(m)
  }
  resolve "done"
}
"#,
    );
    let (uri, pos, _) = c.open("a.play", &src);
    insta::assert_snapshot!(hover_text(&mut c, &uri, pos));
}

#[test]
fn hover_on_a_destructive_action_and_a_required_approval() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some(POLICY));
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  let found = mbox.search(alert.sender)\n  approve \"ok?\" {\n    mbox.pur$0ge(found[0])\n    mbox.wipe(found[0])\n  }\n  resolve \"done\"\n}\n",
    );
    let (uri, pos, _) = c.open("a.play", &src);
    let purge = hover_text(&mut c, &uri, pos);
    let wipe = hover_text(&mut c, &uri, Position::new(pos.line + 1, pos.character));
    insta::assert_snapshot!(format!("{purge}\n=====\n{wipe}"));
}

#[test]
fn hover_on_variables_fields_and_declarations() {
    let mut c = utf16();
    let src = with_connector(
        r#"## Triage a report.
playbook triage(alert: Alert) {
  let found = mbox.search(alert.sender)
  let first = found[0]
  note first.subject
  resolve "done"
}
"#,
    );
    let (uri, _, _) = c.open("a.play", &src);
    let text = c.text(&uri);
    let mut out = String::new();
    for (needle, skip) in [
        ("found", 1),
        ("first", 1),
        ("subject", 1),
        ("triage", 0),
        ("Alert", 1),
        ("alert", 1),
        ("found[0]", 0),
    ] {
        let mut at = 0;
        for _ in 0..=skip {
            at = text[at..].find(needle).map(|i| at + i + 1).unwrap();
        }
        let pos = LineIndex::new(&text).position(&text, at, c.enc);
        out.push_str(&format!("--- hover on `{needle}` #{skip}\n{}\n", hover_text(&mut c, &uri, pos)));
    }
    insta::assert_snapshot!(out);
}

// ---------------------------------------------------------------- navigation

#[test]
fn definition_and_references() {
    let mut c = utf16();
    let src = with_connector(
        r#"fn risky(m: mbox.Message) -> bool {
  m.subject == "x"
}

playbook triage(alert: Alert) {
  let found = mbox.search(alert.sender)
  for m in found limit 3 {
    if risky(m) {
      note m.subject
    }
  }
  note len(found)
  resolve "done"
}
"#,
    );
    let (uri, _, _) = c.open("a.play", &src);
    let text = c.text(&uri);
    let mut out = String::new();
    for (needle, nth) in
        [("found", 2), ("risky", 1), ("search", 1), ("Alert", 1), ("mbox.Message", 0), ("subject", 2)]
    {
        let at = text.match_indices(needle).nth(nth).map(|(i, _)| i + 1).unwrap();
        let pos = LineIndex::new(&text).position(&text, at, c.enc);
        let params = GotoDefinitionParams {
            text_document_position_params: c.doc_pos(&uri, pos),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        let def = match c.request::<GotoDefinition>(params) {
            Some(GotoDefinitionResponse::Scalar(l)) => c.show_location(&l),
            other => format!("{other:?}"),
        };
        let params = ReferenceParams {
            text_document_position: c.doc_pos(&uri, pos),
            context: ReferenceContext { include_declaration: true },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        let refs: Vec<String> =
            c.request::<References>(params).unwrap_or_default().iter().map(|l| c.show_location(l)).collect();
        out.push_str(&format!(
            "--- `{needle}` #{nth}\ndefinition: {def}\nreferences:\n  {}\n",
            refs.join("\n  ")
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn rename_a_local_and_a_function() {
    let mut c = utf16();
    let src = with_connector(
        "fn risky(m: mbox.Message) -> bool {\n  m.subject == \"x\"\n}\n\nplaybook triage(alert: Alert) {\n  let fou$0nd = mbox.search(alert.sender)\n  note len(found)\n  note risky(found[0])\n  resolve \"done\"\n}\n",
    );
    let (uri, pos, _) = c.open("a.play", &src);
    let prepared = c.request::<PrepareRenameRequest>(c.doc_pos(&uri, pos));
    let prepared = match prepared {
        Some(PrepareRenameResponse::Range(r)) => c.show_range(&uri, r),
        other => format!("{other:?}"),
    };
    let params = RenameParams {
        text_document_position: c.doc_pos(&uri, pos),
        new_name: "messages".into(),
        work_done_progress_params: Default::default(),
    };
    let edit = c.request::<Rename>(params).unwrap();
    let edits = edit.changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.iter().all(|d| d.severity != Some(DiagnosticSeverity::ERROR)), "{diags:?}");
    // Then the function, from one of its uses.
    let text = c.text(&uri);
    let at = text.match_indices("risky").nth(1).map(|(i, _)| i + 2).unwrap();
    let pos = LineIndex::new(&text).position(&text, at, c.enc);
    let params = RenameParams {
        text_document_position: c.doc_pos(&uri, pos),
        new_name: "is_risky".into(),
        work_done_progress_params: Default::default(),
    };
    let edits = c.request::<Rename>(params).unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.iter().all(|d| d.severity != Some(DiagnosticSeverity::ERROR)), "{diags:?}");
    // A keyword is refused with a reason.
    let params = RenameParams {
        text_document_position: c.doc_pos(&uri, pos),
        new_name: "match".into(),
        work_done_progress_params: Default::default(),
    };
    let refused = c.request_raw(Rename::METHOD, serde_json::to_value(params).unwrap());
    let refused = refused.error.map(|e| e.message).unwrap_or_default();
    insta::assert_snapshot!(format!("prepared: {prepared}\nrefused: {refused}\n\n{}", c.text(&uri)));
}

// ---------------------------------------------------------------- completion

fn completion_labels(c: &mut Client, uri: &Url, pos: Position) -> Vec<CompletionItem> {
    let params = CompletionParams {
        text_document_position: c.doc_pos(uri, pos),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    };
    match c.request::<Completion>(params) {
        Some(CompletionResponse::Array(items)) => items,
        Some(CompletionResponse::List(l)) => l.items,
        None => Vec::new(),
    }
}

fn show_items(items: &[CompletionItem]) -> String {
    items
        .iter()
        .map(|i| {
            format!(
                "{} ({:?}) {}",
                i.label,
                i.kind.unwrap_or(CompletionItemKind::TEXT),
                i.detail.clone().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn completion_of_actions_after_a_connector() {
    let mut c = utf16();
    let src = with_connector("playbook triage(alert: Alert) {\n  mbox.$0\n  resolve \"done\"\n}\n");
    let (uri, pos, _) = c.open("a.play", &src);
    let items = completion_labels(&mut c, &uri, pos);
    let purge = items.iter().find(|i| i.label == "purge").unwrap();
    assert_eq!(purge.insert_text.as_deref(), Some("purge(${1:message})"));
    insta::assert_snapshot!(show_items(&items));
}

#[test]
fn completion_of_record_fields_and_enum_variants() {
    let mut c = utf16();
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  let found = mbox.search(alert.sender)\n  note found[0].$0\n  resolve \"done\"\n}\n",
    );
    let (uri, pos, _) = c.open("a.play", &src);
    let fields = show_items(&completion_labels(&mut c, &uri, pos));
    let src2 = "playbook p(alert: { a: int }) {\n  let v = Verdict.\n  resolve \"done\"\n}\n";
    let (uri2, _, _) = c.open("b.play", src2);
    let variants = show_items(&completion_labels(&mut c, &uri2, Position::new(1, 18)));
    insta::assert_snapshot!(format!("{fields}\n=====\n{variants}"));
}

#[test]
fn completion_of_approver_groups_and_keywords() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some(POLICY));
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  let found = mbox.search(alert.sender)\n  approve \"purge?\" by \"$0\" {\n    mbox.purge(found[0])\n  }\n  resolve \"done\"\n}\n",
    );
    let (uri, pos, _) = c.open("a.play", &src);
    let groups = show_items(&completion_labels(&mut c, &uri, pos));
    let general = completion_labels(&mut c, &uri, Position::new(pos.line + 1, 4));
    for expected in ["approve", "playbook", "for", "match", "try", "mbox", "found", "alert", "len", "resolve"]
    {
        assert!(general.iter().any(|i| i.label == expected), "missing {expected}: {}", show_items(&general));
    }
    let approve =
        general.iter().find(|i| i.label == "approve" && i.kind == Some(CompletionItemKind::SNIPPET)).unwrap();
    insta::assert_snapshot!(format!("{groups}\n=====\n{}", approve.insert_text.clone().unwrap_or_default()));
}

// ---------------------------------------------------------------- symbols, tokens, formatting

#[test]
fn document_symbols() {
    let mut c = utf16();
    let src = with_connector(
        "enum Level { low, high }\nconst MAX = 3\nfn f(x: int) -> int {\n  x\n}\nplaybook triage(alert: Alert) {\n  resolve \"done\"\n}\ntest \"it works\" {\n  expect 1 == 1\n}\n",
    );
    let (uri, _, _) = c.open("a.play", &src);
    let params = DocumentSymbolParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    let Some(DocumentSymbolResponse::Nested(symbols)) = c.request::<DocumentSymbolRequest>(params) else {
        panic!("no symbols")
    };
    fn show(c: &Client, uri: &Url, s: &DocumentSymbol, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "{}{} {:?} {} sel {}\n",
            "  ".repeat(depth),
            s.name,
            s.kind,
            s.detail.clone().unwrap_or_default(),
            c.show_range(uri, s.selection_range)
        ));
        for child in s.children.iter().flatten() {
            show(c, uri, child, depth + 1, out);
        }
    }
    let mut out = String::new();
    for s in &symbols {
        show(&c, &uri, s, 0, &mut out);
    }
    insta::assert_snapshot!(out);
}

#[test]
fn semantic_tokens() {
    let mut c = utf16();
    let src = "## Doc.\nconnector net {\n  action block(addr: ip) effect reversible(undo: unblock)\n  action unblock(addr: ip) effect reversible(undo: block)\n}\n@allow(\"unused-variable\", reason: \"demo\")\nplaybook p(alert: { ip: ip }) {\n  let n = 3 # three\n  net.block(alert.ip)\n  note \"é {alert.ip} x\"\n  resolve \"done in {5m}\"\n}\n";
    let (uri, _, _) = c.open("a.play", src);
    let params = SemanticTokensParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    let Some(SemanticTokensResult::Tokens(tokens)) = c.request::<SemanticTokensFullRequest>(params) else {
        panic!("no tokens")
    };
    let legend = parry_lsp::capabilities(Encoding::Utf16);
    let Some(SemanticTokensServerCapabilities::SemanticTokensOptions(opts)) = legend.semantic_tokens_provider
    else {
        panic!()
    };
    let (mut line, mut col) = (0u32, 0u32);
    let mut out = String::new();
    for t in &tokens.data {
        if t.delta_line > 0 {
            line += t.delta_line;
            col = t.delta_start;
        } else {
            col += t.delta_start;
        }
        let range = Range::new(Position::new(line, col), Position::new(line, col + t.length));
        let ty = opts.legend.token_types[t.token_type as usize].as_str();
        let mods: Vec<&str> = opts
            .legend
            .token_modifiers
            .iter()
            .enumerate()
            .filter(|(i, _)| t.token_modifiers_bitset & (1 << i) != 0)
            .map(|(_, m)| m.as_str())
            .collect();
        out.push_str(&format!("{} {ty} {}\n", c.show_range(&uri, range), mods.join(",")));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn formatting_uses_the_canonical_style() {
    let mut c = utf16();
    let (uri, _, _) = c.open(
        "a.play",
        "playbook p(alert: {a:int}) {\n    note   alert.a+1 # é😀\n    resolve \"done\"\n}\n",
    );
    let params = DocumentFormattingParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        options: Default::default(),
        work_done_progress_params: Default::default(),
    };
    let edits = c.request::<Formatting>(params.clone()).unwrap();
    c.apply(&uri, edits);
    let formatted = c.text(&uri);
    assert_eq!(c.request::<Formatting>(params.clone()).unwrap(), Vec::new());
    // A file with syntax errors is refused with a reason.
    let (bad, _, _) = c.open("b.play", "playbook p(alert: int) {\n  let = 1\n}\n");
    let params = DocumentFormattingParams { text_document: TextDocumentIdentifier { uri: bad }, ..params };
    let refused = c
        .request_raw(Formatting::METHOD, serde_json::to_value(params).unwrap())
        .error
        .map(|e| e.message)
        .unwrap_or_default();
    insta::assert_snapshot!(format!("{formatted}=====\n{refused}"));
}

// ---------------------------------------------------------------- code actions

fn actions_at(c: &mut Client, uri: &Url, range: Range) -> Vec<CodeAction> {
    let params = CodeActionParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        range,
        context: CodeActionContext::default(),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    c.request::<CodeActionRequest>(params)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => Some(a),
            CodeActionOrCommand::Command(_) => None,
        })
        .collect()
}

#[test]
fn quick_fix_wraps_an_unapproved_destructive_call_in_approve() {
    let mut c = utf16();
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  let found = mbox.search(alert.sender)\n  if len(found) > 0 {\n    mbox.purge(found[0])\n  }\n  resolve \"done\"\n}\n",
    );
    let (uri, _, diags) = c.open("a.play", &src);
    let d = diags
        .iter()
        .find(|d| d.code == Some(NumberOrString::String("unapproved-destructive".into())))
        .unwrap()
        .clone();
    let actions = actions_at(&mut c, &uri, d.range);
    let fix = actions.iter().find(|a| a.title.starts_with("Wrap in `approve`")).unwrap();
    let edits = fix.edit.clone().unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.is_empty(), "{}", c.show_diagnostics(&uri, &diags));
    insta::assert_snapshot!(format!("{}\n=====\n{}", fix.title, c.text(&uri)));
}

#[test]
fn quick_fix_replaces_pasted_spaces_and_curly_quotes() {
    let mut c = utf16();
    let src = "playbook p(alert: { a: int }) {\n  note \u{201C}x\u{201D} +\u{a0}\"\u{a0}é\"\n  resolve\u{2007}\"done\"\n}\n";
    let (uri, _, diags) = c.open("a.play", src);
    assert_eq!(diags.len(), 1, "{}", c.show_diagnostics(&uri, &diags));
    let fix = actions_at(&mut c, &uri, diags[0].range).into_iter().next().unwrap();
    assert!(fix.title.contains("curly quotes"), "{}", fix.title);
    let edits = fix.edit.unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    // The space in the next line is reported in turn. Text in strings is left as it is.
    assert_eq!(diags.len(), 1, "{}", c.show_diagnostics(&uri, &diags));
    let fix = actions_at(&mut c, &uri, diags[0].range).into_iter().next().unwrap();
    assert_eq!(fix.title, "Replace the non-ASCII spaces on this line with plain spaces");
    let edits = fix.edit.unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.is_empty(), "{}", c.show_diagnostics(&uri, &diags));
    assert_eq!(
        c.text(&uri),
        "playbook p(alert: { a: int }) {\n  note \"x\" + \"\u{a0}é\"\n  resolve \"done\"\n}\n"
    );
    // Other characters have no fix.
    let (uri, _, diags) = c.open("b.play", "playbook p(alert: { a: int }) {\n  note 3 × 4\n}\n");
    assert!(actions_at(&mut c, &uri, diags[0].range).is_empty());
}

#[test]
fn quick_fix_gates_a_let_value_and_keeps_the_binding_in_scope() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some(POLICY));
    let src = with_connector(
        "connector vault {\n  action destroy(id: string) -> string effect destructive\n}\n\nplaybook triage(alert: Alert) {\n  let receipt = vault.destroy(alert.subject)\n  resolve receipt\n}\n",
    );
    let (uri, _, diags) = c.open("a.play", &src);
    let d = diags
        .iter()
        .find(|d| d.code == Some(NumberOrString::String("unapproved-destructive".into())))
        .unwrap()
        .clone();
    let fix = actions_at(&mut c, &uri, d.range).into_iter().next().unwrap();
    let edits = fix.edit.unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.is_empty(), "{}", c.show_diagnostics(&uri, &diags));
    insta::assert_snapshot!(c.text(&uri));
}

#[test]
fn quick_fix_adds_the_policy_limit_to_an_unbounded_loop() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some(POLICY));
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  let found = mbox.search(alert.sender)\n  for m in found where m.subject != \"\" {\n    mbox.quarantine(m)\n  }\n  resolve \"done\"\n}\n",
    );
    let (uri, _, diags) = c.open("a.play", &src);
    let d = diags
        .iter()
        .find(|d| d.code == Some(NumberOrString::String("unbounded-containment".into())))
        .unwrap()
        .clone();
    let fix = actions_at(&mut c, &uri, d.range).into_iter().next().unwrap();
    let edits = fix.edit.unwrap().changes.unwrap().remove(&uri).unwrap();
    let diags = c.apply(&uri, edits);
    assert!(diags.is_empty(), "{}", c.show_diagnostics(&uri, &diags));
    insta::assert_snapshot!(format!("{}\n=====\n{}", fix.title, c.text(&uri)));
}

#[test]
fn unknown_requests_and_documents_are_answered() {
    let mut c = utf16();
    let r = c.request_raw("parry/unknown", serde_json::Value::Null);
    assert!(r.error.is_some());
    let uri = c.uri("never-opened.play");
    let params = HoverParams {
        text_document_position_params: c.doc_pos(&uri, Position::new(0, 0)),
        work_done_progress_params: Default::default(),
    };
    assert!(c.request::<HoverRequest>(params).is_none());
    let r = c.request_raw(HoverRequest::METHOD, serde_json::json!({"bogus": true}));
    assert!(r.error.is_some());
}

#[test]
fn every_request_at_every_position_of_broken_text_answers() {
    let mut c = utf16();
    let src = "connector c {\n  action a(x: int) effect destructive\n}\nplaybook p(alert: { s: string }) {\n  let é = \"😀 {alert.\n  c.a(\n  for x in [1, 2] { c.\n  match alert.s { \"\\é\" => fail r\"q\n}\n@allow(\n";
    let (uri, _, _) = c.open("broken.play", src);
    let text = c.text(&uri);
    let index = LineIndex::new(&text);
    let mut offset = 0;
    while offset <= text.len() {
        let pos = index.position(&text, offset, c.enc);
        let tdp = c.doc_pos(&uri, pos);
        let _ = c.request::<HoverRequest>(HoverParams {
            text_document_position_params: tdp.clone(),
            work_done_progress_params: Default::default(),
        });
        let _ = c.request::<GotoDefinition>(GotoDefinitionParams {
            text_document_position_params: tdp.clone(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        });
        let _ = completion_labels(&mut c, &uri, pos);
        let _ = c.request::<PrepareRenameRequest>(tdp);
        let _ = actions_at(&mut c, &uri, Range::new(pos, pos));
        offset += text[offset..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
    let params = SemanticTokensParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    assert!(c.request::<SemanticTokensFullRequest>(params).is_some());
    let params = DocumentSymbolParams {
        text_document: TextDocumentIdentifier { uri: uri.clone() },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    };
    assert!(c.request::<DocumentSymbolRequest>(params).is_some());
    // Edits at odd places (inside the emoji's surrogate pair, past the end) are clamped.
    let diags = c.change(
        &uri,
        vec![TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(4, 12), Position::new(40, 3))),
            range_length: None,
            text: "x".into(),
        }],
    );
    assert!(!diags.is_empty());
}

#[test]
fn a_changed_parry_toml_is_read_again() {
    let mut c = Client::start(&[PositionEncodingKind::UTF16], Some("[policy]\nmax_auto_targets = 10\n"));
    let src = with_connector(
        "playbook triage(alert: Alert) {\n  for m in mbox.search(alert.sender) limit 20 {\n    mbox.quarantine(m)\n  }\n  resolve \"done\"\n}\n",
    );
    let (uri, _, diags) = c.open("a.play", &src);
    assert!(
        diags.iter().any(|d| d.code == Some(NumberOrString::String("unbounded-containment".into()))),
        "{diags:?}"
    );
    std::fs::write(c.dir.join("parry.toml"), "[policy]\nmax_auto_targets = 20\n").unwrap();
    let toml = Url::from_file_path(c.dir.join("parry.toml")).unwrap();
    c.notify::<lsp_types::notification::DidChangeWatchedFiles>(DidChangeWatchedFilesParams {
        changes: vec![FileEvent { uri: toml, typ: FileChangeType::CHANGED }],
    });
    let diags = c.diagnostics_for(&uri);
    assert!(diags.is_empty(), "{diags:?}");
}
