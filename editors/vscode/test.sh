#!/usr/bin/env bash
# Grammar tests of the VS Code extension: installs the npm dependencies (from the lock
# file when present) and runs vscode-tmgrammar-test over test/*.play.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
npm test
