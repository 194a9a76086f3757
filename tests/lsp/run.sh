#!/usr/bin/env bash
# End-to-end tests of `parry lsp` driven by a real LSP client (pytest-lsp).
# Usage: tests/lsp/run.sh   (builds target/release/parry unless PARRY_BIN is set)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
if [ -z "${PARRY_BIN:-}" ]; then
  cargo build --release --bin parry
  PARRY_BIN="$root/target/release/parry"
fi
export PARRY_BIN
venv="$root/target/lsp-e2e-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
