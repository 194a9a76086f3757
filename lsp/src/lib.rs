//! The Parry language server (`parry lsp`): diagnostics, hover, go-to-definition,
//! references, completion, document symbols, semantic tokens, formatting, quick fixes and
//! rename, over the Language Server Protocol on stdin/stdout.
//!
//! The server is synchronous: one loop reads a message, handles it completely (edits are
//! applied strictly in the order received) and answers. Every change recompiles the
//! document's project through the compiler's loader, with the open editors' unsaved text
//! laid over the files on disk, so what the editor shows is exactly what `parry check`
//! reports once the files are saved.

mod actions;
mod analysis;
mod completion;
mod convert;
mod hover;
mod navigation;
mod position;
mod symbols;
mod walk;

pub use analysis::Snapshot;
pub use position::{Encoding, LineIndex};

use analysis::Workspace;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument,
    DidSaveTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _, SemanticTokensFullRequest,
};
use lsp_types::*;
use std::error::Error;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// Serve the protocol on stdin/stdout until the client asks to exit.
pub fn run_stdio() -> Result<(), BoxError> {
    let (connection, io_threads) = Connection::stdio();
    serve(connection)?;
    io_threads.join()?;
    Ok(())
}

/// Serve the protocol on any connection (stdio, or `Connection::memory()` in tests): the
/// initialize handshake, then the main loop until `shutdown`/`exit`.
pub fn serve(connection: Connection) -> Result<(), BoxError> {
    let (id, params) = connection.initialize_start()?;
    let init: InitializeParams = serde_json::from_value(params)?;
    let encoding = negotiate_encoding(&init);
    let result = InitializeResult {
        capabilities: capabilities(encoding),
        server_info: Some(ServerInfo {
            name: "parry-lsp".to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
    };
    connection.initialize_finish(id, serde_json::to_value(result)?)?;
    let mut server = Server::new(encoding);
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req)? {
                    return Ok(());
                }
                let response = server.handle_request(req);
                connection.sender.send(Message::Response(response))?;
            }
            Message::Notification(note) => {
                for out in server.handle_notification(note) {
                    connection.sender.send(out)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// UTF-8 when the client offers it (no conversion needed), else the protocol's default
/// UTF-16.
fn negotiate_encoding(init: &InitializeParams) -> Encoding {
    let offered = init.capabilities.general.as_ref().and_then(|g| g.position_encodings.as_ref());
    match offered {
        Some(list) if list.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

pub fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(match encoding {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::Supported(true)),
            ..Default::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string(), "\"".to_string()]),
            ..Default::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: symbols::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..Default::default()
            },
        )),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        ..Default::default()
    }
}

/// The server's state: the open documents and their latest analyses.
pub struct Server {
    workspace: Workspace,
}

impl Server {
    pub fn new(encoding: Encoding) -> Server {
        Server { workspace: Workspace::new(encoding) }
    }

    /// Handle one notification; returns the notifications to send (diagnostics).
    pub fn handle_notification(&mut self, note: Notification) -> Vec<Message> {
        let changed = match note.method.as_str() {
            DidOpenTextDocument::METHOD => match parse::<DidOpenTextDocumentParams>(note.params) {
                Some(p) => {
                    self.workspace.open(p.text_document.uri, p.text_document.text, p.text_document.version)
                }
                None => None,
            },
            DidChangeTextDocument::METHOD => match parse::<DidChangeTextDocumentParams>(note.params) {
                Some(p) => {
                    self.workspace.change(&p.text_document.uri, p.text_document.version, p.content_changes)
                }
                None => None,
            },
            DidCloseTextDocument::METHOD => match parse::<DidCloseTextDocumentParams>(note.params) {
                Some(p) => self.workspace.close(&p.text_document.uri),
                None => None,
            },
            // A file changed on disk (a save, `parry.toml`, a file another tool wrote):
            // every open project is checked again.
            DidSaveTextDocument::METHOD | DidChangeWatchedFiles::METHOD => {
                let projects = self.workspace.projects();
                let mut out = Vec::new();
                for key in projects {
                    self.workspace.analyze(&key);
                    out.extend(self.publish(&key));
                }
                return out;
            }
            _ => None,
        };
        match changed {
            Some(key) => self.publish(&key),
            None => Vec::new(),
        }
    }

    fn publish(&mut self, key: &std::path::Path) -> Vec<Message> {
        self.workspace
            .publish(&key.to_path_buf())
            .into_iter()
            .map(|params| {
                Message::Notification(Notification::new(PublishDiagnostics::METHOD.to_string(), params))
            })
            .collect()
    }

    /// Handle one request and produce its response (an error response for unknown methods
    /// and malformed parameters).
    pub fn handle_request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            HoverRequest::METHOD => self.with::<HoverParams, _>(req, |w, p| {
                let pos = p.text_document_position_params;
                w.view(&pos.text_document.uri).and_then(|v| hover::hover(&v, pos.position))
            }),
            GotoDefinition::METHOD => self.with::<GotoDefinitionParams, _>(req, |w, p| {
                let pos = p.text_document_position_params;
                w.view(&pos.text_document.uri)
                    .and_then(|v| navigation::definition(&v, pos.position))
                    .map(GotoDefinitionResponse::Scalar)
            }),
            References::METHOD => self.with::<ReferenceParams, _>(req, |w, p| {
                let pos = p.text_document_position;
                w.view(&pos.text_document.uri)
                    .map(|v| navigation::references(&v, pos.position, p.context.include_declaration))
            }),
            Completion::METHOD => self.with::<CompletionParams, _>(req, |w, p| {
                let pos = p.text_document_position;
                w.view(&pos.text_document.uri)
                    .map(|v| CompletionResponse::Array(completion::complete(&v, pos.position)))
            }),
            DocumentSymbolRequest::METHOD => self.with::<DocumentSymbolParams, _>(req, |w, p| {
                w.view(&p.text_document.uri)
                    .map(|v| DocumentSymbolResponse::Nested(symbols::document_symbols(&v)))
            }),
            SemanticTokensFullRequest::METHOD => self.with::<SemanticTokensParams, _>(req, |w, p| {
                w.view(&p.text_document.uri)
                    .map(|v| SemanticTokensResult::Tokens(symbols::semantic_tokens(&v)))
            }),
            CodeActionRequest::METHOD => self.with::<CodeActionParams, _>(req, |w, p| {
                w.view(&p.text_document.uri).map(|v| actions::code_actions(&v, p.range))
            }),
            PrepareRenameRequest::METHOD => self.with::<TextDocumentPositionParams, _>(req, |w, p| {
                w.view(&p.text_document.uri).and_then(|v| navigation::prepare_rename(&v, p.position))
            }),
            Rename::METHOD => {
                let parsed: Result<RenameParams, _> = serde_json::from_value(req.params);
                match parsed {
                    Err(e) => Err((ErrorCode::InvalidParams, format!("invalid parameters: {e}"))),
                    Ok(p) => {
                        let pos = p.text_document_position;
                        match self.workspace.view(&pos.text_document.uri) {
                            None => Ok(serde_json::Value::Null),
                            Some(v) => navigation::rename(&v, pos.position, &p.new_name)
                                .map_err(|msg| (ErrorCode::InvalidParams, msg))
                                .and_then(|edit| to_json(Some(edit))),
                        }
                    }
                }
            }
            Formatting::METHOD => {
                let parsed: Result<DocumentFormattingParams, _> = serde_json::from_value(req.params);
                match parsed {
                    Err(e) => Err((ErrorCode::InvalidParams, format!("invalid parameters: {e}"))),
                    Ok(p) => match self.workspace.format(&p.text_document.uri) {
                        Ok(edits) => to_json(edits),
                        Err(msg) => Err((ErrorCode::RequestFailed, msg)),
                    },
                }
            }
            other => Err((ErrorCode::MethodNotFound, format!("unsupported request: {other}"))),
        };
        match result {
            Ok(value) => Response { id, result: Some(value), error: None },
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    fn with<P, R>(
        &mut self,
        req: Request,
        f: impl FnOnce(&mut Workspace, P) -> Option<R>,
    ) -> Result<serde_json::Value, (ErrorCode, String)>
    where
        P: serde::de::DeserializeOwned,
        R: serde::Serialize,
    {
        let params: P = serde_json::from_value(req.params)
            .map_err(|e| (ErrorCode::InvalidParams, format!("invalid parameters for {}: {e}", req.method)))?;
        to_json(f(&mut self.workspace, params))
    }
}

fn to_json<R: serde::Serialize>(value: R) -> Result<serde_json::Value, (ErrorCode, String)> {
    serde_json::to_value(value)
        .map_err(|e| (ErrorCode::InternalError, format!("cannot encode the response: {e}")))
}

fn parse<P: serde::de::DeserializeOwned>(params: serde_json::Value) -> Option<P> {
    serde_json::from_value(params).ok()
}

/// Used by tests and benchmarks to build requests.
pub fn request<R: lsp_types::request::Request>(id: i32, params: R::Params) -> Request {
    Request::new(RequestId::from(id), R::METHOD.to_string(), params)
}

/// Used by tests and benchmarks to build notifications.
pub fn notification<N: lsp_types::notification::Notification>(params: N::Params) -> Notification {
    Notification::new(N::METHOD.to_string(), params)
}
