#!/usr/bin/env bash
# Wall-clock cost of `parry run` on the phishing example: N runs of each alert on a fresh
# temporary copy (the state database grows as it would in use), then `cases` and `stats`
# over all of them. Usage: bench/run.sh [N] (default 20), with PARRY or target/release/parry.
set -euo pipefail

N="${1:-20}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARRY="${PARRY:-$REPO/target/release/parry}"
[ -x "$PARRY" ] || { echo "error: $PARRY not found; run \`cargo build --release\` or set PARRY" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

ms() { date +%s%3N; }

for alert in reported suspicious benign; do
  total=0
  for _ in $(seq "$N"); do
    # A fresh copy per run for `reported`, whose containment moves the mail; the others
    # share one copy, so the journal and case tables fill up.
    if [ "$alert" = reported ] || [ ! -d "$WORK/$alert/phishing" ]; then
      rm -rf "$WORK/$alert"
      mkdir -p "$WORK/$alert"
      cp -a "$REPO/examples/phishing" "$WORK/$alert/"
    fi
    start="$(ms)"
    "$PARRY" run "$WORK/$alert/phishing" --alert "$WORK/$alert/phishing/alerts/$alert.json" >/dev/null 2>&1 || true
    total=$((total + $(ms) - start))
  done
  printf '%-10s %4d runs  %6d ms total  %5d ms/run\n' "$alert" "$N" "$total" $((total / N))
done

P="$WORK/benign/phishing"
for cmd in cases stats approvals; do
  start="$(ms)"
  "$PARRY" "$cmd" --project "$P" >/dev/null
  printf '%-10s over %d runs: %d ms\n' "$cmd" "$N" $(($(ms) - start))
done
