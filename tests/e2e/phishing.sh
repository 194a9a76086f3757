#!/usr/bin/env bash
# End-to-end suite of the run-time commands (run, approvals, approve, resume, undo, cases,
# stats) on temporary copies of the example projects. Run by .ci/run with PARRY set to the
# release binary; locally: PARRY=target/release/parry bash tests/e2e/phishing.sh
set -euo pipefail

PARRY="${PARRY:?set PARRY to the parry binary}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export NO_COLOR=1

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "  ok   $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL $*"; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local what="$1"
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# fresh NAME: a new copy of examples/NAME, without state; prints its path.
fresh() {
  local dest
  dest="$(mktemp -d "$WORK/$1.XXXX")/$1"
  cp -a "$REPO/examples/$1" "$dest"
  rm -rf "$dest/.parry"
  echo "$dest"
}

# run_parry OUT_PREFIX ARGS...: runs parry, saving stdout, stderr and the exit status.
run_parry() {
  local out="$1"
  shift
  set +e
  "$PARRY" "$@" >"$out.stdout" 2>"$out.stderr"
  echo $? >"$out.status"
  set -e
}

status_is() { [ "$(cat "$1.status")" = "$2" ]; }
stdout_has() { grep -qF -- "$2" "$1.stdout"; }
stderr_has() { grep -qF -- "$2" "$1.stderr"; }
count_in() { grep -cF -- "$2" "$1" 2>/dev/null || true; }
json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

PHISH_URL='https://login.microsoftonline-secure.example/common/oauth2/authorize?client=o365&invoice=8841'

echo "phishing: malicious report resolves, contains, and undo restores"
P="$(fresh phishing)"
O="$WORK/reported"
run_parry "$O" run "$P" --alert "$P/alerts/reported.json"
check "run exits 0" status_is "$O" 0
check "the case is resolved" stdout_has "$O" "resolved"
check "the case lists the quarantines" stdout_has "$O" "mail.quarantine [reversible] done"
check "three copies are in the quarantine" test "$(find "$P/mailboxes/.quarantine" -type f | wc -l)" -eq 3
check "the phishing URL is in the proxy blocklist" test "$(count_in "$P/blocklists/proxy-urls.txt" "$PHISH_URL")" -eq 1
check "the state database exists" test -f "$P/.parry/state.db"
run_parry "$O.cases" cases --json --project "$P"
RUN="$(json_field "$O.cases.stdout" '[0]["run_id"]')"
check "cases --json shows the run as resolved" test "$(json_field "$O.cases.stdout" '[0]["disposition"]')" = resolved
run_parry "$O.cases_text" cases --project "$P"
check "cases lists the run with its summary" stdout_has "$O.cases_text" "Phishing: quarantined 3 copies"
run_parry "$O.undo" undo "$RUN" --project "$P"
check "undo exits 0" status_is "$O.undo" 0
check "undo releases the copies" stdout_has "$O.undo" "mail.quarantine with mail.release"
check "the quarantine is empty again" test "$(find "$P/mailboxes/.quarantine" -type f | wc -l)" -eq 0
check "the URL left the blocklist" test "$(count_in "$P/blocklists/proxy-urls.txt" "$PHISH_URL")" -eq 0
run_parry "$O.undo2" undo "$RUN" --project "$P"
check "a second undo does nothing" stdout_has "$O.undo2" "nothing left to undo"

echo "phishing: suspicious report waits for an approver"
P="$(fresh phishing)"
O="$WORK/suspicious"
run_parry "$O" run "$P" --alert "$P/alerts/suspicious.json"
check "run exits 0" status_is "$O" 0
check "the run awaits approval" stdout_has "$O" "awaiting_approval"
check "the output shows the approve command" stdout_has "$O" "parry approve "
run_parry "$O.list" approvals --json --project "$P"
RUN="$(json_field "$O.list.stdout" '[0]["run_id"]')"
APPROVAL="$(json_field "$O.list.stdout" '[0]["approval"]')"
check "approvals lists the soc-tier2 request" test "$(json_field "$O.list.stdout" '[0]["group"]')" = soc-tier2
run_parry "$O.mallory" approve "$RUN" "$APPROVAL" --as mallory --project "$P"
check "a non-member is refused (exit 1)" status_is "$O.mallory" 1
check "the refusal names the group" stderr_has "$O.mallory" "not a member of approver group"
run_parry "$O.marta" approve "$RUN" "$APPROVAL" --as marta --project "$P"
check "a member grants (exit 0)" status_is "$O.marta" 0
run_parry "$O.resume" resume --project "$P"
check "resume exits 0" status_is "$O.resume" 0
check "the resumed run is resolved" stdout_has "$O.resume" "quarantined 2 copies after approval"
check "two copies are in the quarantine" test "$(find "$P/mailboxes/.quarantine" -type f | wc -l)" -eq 2
run_parry "$O.none" approvals --project "$P"
check "no approval is left" stdout_has "$O.none" "No pending approvals"

echo "phishing: benign report, bad alerts, dry run, stats"
P="$(fresh phishing)"
O="$WORK/benign"
run_parry "$O" run "$P" --alert "$P/alerts/benign.json"
check "the benign alert resolves" stdout_has "$O" "No malicious indicators"
check "nothing is quarantined" test ! -e "$P/mailboxes/.quarantine" -o "$(find "$P/mailboxes/.quarantine" -type f 2>/dev/null | wc -l)" -eq 0
echo '{"kind": 7, "reporter": "nobody"}' >"$WORK/bad.json"
run_parry "$O.bad" run "$P" --alert "$WORK/bad.json"
check "a malformed alert exits 2" status_is "$O.bad" 2
check "the problems carry JSON paths" stderr_has "$O.bad" '$.kind'
check "the missing field is named" stderr_has "$O.bad" '$.message_id'
printf '{"kind": ' >"$WORK/broken.json"
run_parry "$O.broken" run "$P" --alert "$WORK/broken.json"
check "invalid JSON exits 2" status_is "$O.broken" 2
D="$(fresh phishing)"
before="$(cd "$D" && find . -type f -exec sha256sum {} + | sort)"
run_parry "$O.dry" run "$D" --alert "$D/alerts/reported.json" --dry-run
after="$(cd "$D" && find . -type f -exec sha256sum {} + | sort)"
check "a dry run exits 0" status_is "$O.dry" 0
check "a dry run shows skipped writes" stdout_has "$O.dry" "skipped"
check "a dry run changes nothing on disk" test "$before" = "$after"
run_parry "$O.stats" stats --project "$P"
check "stats counts the run" stdout_has "$O.stats" "1 runs"
check "stats shows the automation rate" stdout_has "$O.stats" "Automation rate: 100%"
check "stats shows the time saved" stdout_has "$O.stats" "Analyst time saved: 30m"

for example in malware brute_force; do
  echo "$example: every alert runs"
  P="$(fresh "$example")"
  n=0
  for alert in "$P"/alerts/*.json; do
    O="$WORK/$example-$(basename "$alert" .json)"
    run_parry "$O" run "$P" --alert "$alert"
    check "$(basename "$alert") exits 0" status_is "$O" 0
    n=$((n + 1))
  done
  run_parry "$WORK/$example-cases" cases --project "$P"
  check "cases lists the runs" test "$(($(wc -l <"$WORK/$example-cases.stdout") - 1))" -eq "$n"
  run_parry "$WORK/$example-stats" stats --project "$P"
  check "stats counts $n runs" stdout_has "$WORK/$example-stats" "$n runs"
  # Decide every pending approval and resume: every run must end.
  run_parry "$WORK/$example-approvals" approvals --json --project "$P"
  python3 - "$WORK/$example-approvals.stdout" "$P/parry.toml" >"$WORK/$example-decisions" <<'PY'
import json, sys, tomllib
pending = json.load(open(sys.argv[1]))
approvers = tomllib.load(open(sys.argv[2], "rb")).get("approvers", {})
for a in pending:
    group = a["group"] or next(iter(approvers), None)
    members = approvers.get(group, [])
    if members:
        print(a["run_id"], a["approval"], members[0])
PY
  while read -r run approval user; do
    run_parry "$WORK/$example-approve-$run" approve "$run" "$approval" --as "$user" --project "$P"
    check "run $run approval $approval granted by $user" status_is "$WORK/$example-approve-$run" 0
  done <"$WORK/$example-decisions"
  run_parry "$WORK/$example-resume" resume --project "$P"
  check "resume completes every decided run" status_is "$WORK/$example-resume" 0
  run_parry "$WORK/$example-ended" cases --json --project "$P"
  check "every run has ended, none failed" python3 -c '
import json, sys
cases = json.load(open(sys.argv[1]))
left = [c["run_id"] for c in cases if c["status"] != "finished"]
failed = [c for c in cases if c["disposition"] == "failed"]
for c in failed:
    print("    run %s (%s) failed: %s" % (c["run_id"], c["playbook"], (c["error"] or "").splitlines()[0]))
sys.exit(1 if left or failed else 0)' "$WORK/$example-ended.stdout"
  run_parry "$WORK/$example-left" approvals --project "$P"
  check "no approval is left" stdout_has "$WORK/$example-left" "No pending approvals"
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
