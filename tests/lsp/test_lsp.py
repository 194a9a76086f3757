"""End-to-end tests of `parry lsp` (the binary named by PARRY_BIN) with a real client."""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

PARRY_BIN = os.environ.get("PARRY_BIN", "target/release/parry")
WORKDIR = pathlib.Path(tempfile.mkdtemp(prefix="parry-lsp-e2e-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)

SOURCE = """\
connector mbox {
  type Message = { id: string, sender: email, subject: string }
  ## Find the messages a sender sent.
  action search(sender: email) -> list<Message> effect read
  ## Delete a message for good.
  action purge(message: Message) effect destructive
}

type Alert = { sender: email, subject: string }

fn first(found: list<mbox.Message>) -> mbox.Message {
  found[0]
}

playbook triage(alert: Alert) {
  let found = mbox.search(alert.sender)
  if len(found) > 0 {
    mbox.purge(first(found))
  }
  resolve "done"
}
"""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[PARRY_BIN, "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=WORKDIR.as_uri(),
        )
    )
    yield
    await lsp_client.shutdown_session()


def position_of(text: str, needle: str, nth: int = 0, delta: int = 1) -> types.Position:
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    offset = start + delta
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line=line, character=col)


def apply_edits(text: str, edits) -> str:
    lines = text.splitlines(keepends=True)

    def offset(pos):
        return sum(len(line) for line in lines[: pos.line]) + pos.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
        lines = text.splitlines(keepends=True)
    return text


async def open_document(client: LanguageClient, name: str, text: str) -> str:
    uri = (WORKDIR / name).as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="parry", version=1, text=text)
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def codes(client: LanguageClient, uri: str):
    return [d.code for d in client.diagnostics.get(uri, [])]


async def test_diagnostics_for_an_unapproved_destructive_call(client: LanguageClient):
    uri = await open_document(client, "diag.play", SOURCE)
    diags = [d for d in client.diagnostics[uri] if d.code == "unapproved-destructive"]
    assert len(diags) == 1
    assert diags[0].severity == types.DiagnosticSeverity.Error
    assert diags[0].range.start.line == SOURCE.splitlines().index("    mbox.purge(first(found))")


async def test_hover_on_an_action(client: LanguageClient):
    uri = await open_document(client, "hover.play", SOURCE)
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position_of(SOURCE, "purge(first", delta=2),
        )
    )
    assert hover is not None
    value = hover.contents.value
    assert "action mbox.purge(message: mbox.Message) effect destructive" in value or "mbox.purge" in value
    assert "Delete a message for good." in value
    assert "destructive" in value


async def test_completion_after_a_connector(client: LanguageClient):
    text = SOURCE.replace('  resolve "done"', '  mbox.\n  resolve "done"')
    uri = await open_document(client, "complete.play", text)
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position_of(text, "  mbox.\n", delta=7),
        )
    )
    items = result.items if hasattr(result, "items") else result
    labels = {item.label for item in items}
    assert {"search", "purge"} <= labels
    purge = next(item for item in items if item.label == "purge")
    assert "destructive" in (purge.detail or "")


async def test_go_to_definition(client: LanguageClient):
    uri = await open_document(client, "definition.play", SOURCE)
    result = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position_of(SOURCE, "first(found))", delta=1),
        )
    )
    location = result[0] if isinstance(result, list) else result
    assert location.uri == uri
    assert location.range.start == position_of(SOURCE, "first(found: list", delta=0)


async def test_formatting(client: LanguageClient):
    ugly = "playbook p(alert: {a:int}) {\n    note   alert.a+1\n    resolve \"done\"\n}\n"
    uri = await open_document(client, "format.play", ugly)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert apply_edits(ugly, edits) == "playbook p(alert: { a: int }) {\n  note alert.a + 1\n  resolve \"done\"\n}\n"


async def test_wrap_in_approve_quick_fix_rechecks_clean(client: LanguageClient):
    uri = await open_document(client, "fix.play", SOURCE)
    diag = next(d for d in client.diagnostics[uri] if d.code == "unapproved-destructive")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        )
    )
    fix = next(a for a in actions if a.title.startswith("Wrap in `approve`"))
    fixed = apply_edits(SOURCE, fix.edit.changes[uri])
    assert "approve" in fixed and "escalate" in fixed
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert codes(client, uri) == []
