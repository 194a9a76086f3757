// Starts `parry lsp` for .play files. The binary comes from the `parry.server.path`
// setting (default: `parry` on PATH); changing the setting restarts the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("parry");
  const command = config.get("server.path") || "parry";
  const extraEnv = config.get("server.extraEnv") || {};
  return {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
    options: { env: { ...process.env, ...extraEnv } },
  };
}

async function start(context) {
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "parry" }, { scheme: "untitled", language: "parry" }],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.play,parry.toml}"),
    },
  };
  client = new LanguageClient("parry", "Parry language server", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const path = vscode.workspace.getConfiguration("parry").get("server.path") || "parry";
    vscode.window.showErrorMessage(
      `Parry: could not start the language server with \`${path} lsp\` (${err.message || err}). ` +
        "Install parry or set `parry.server.path` to the binary."
    );
  }
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

async function activate(context) {
  await start(context);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("parry.server")) {
        if (client) {
          await client.stop();
        }
        await start(context);
      }
    })
  );
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate };
