#!/usr/bin/env bash
# Drive the VSS simulator with the real PyPI CLI `vss-cli`, checking every
# answer; exits non-zero on the first one that is wrong.
# Run by `cargo test -p isogate-vss --test real_clients`; by hand:
#   cargo run -p isogate-sim --example vss_sim -- 8710 &
#   VSS_CLI=target/pyenv/bin/vss-cli PYTHON=target/pyenv/bin/python \
#     crates/sim/scripts/vss_cli_check.sh http://127.0.0.1:8710
# VSS_EXPECT_PUBLIC / VSS_EXPECT_PERSONAL / VSS_EXPECT_UPLOADS: the
# simulator's catalogue (defaults: its defaults, 230 / 12 / 3).
set -euo pipefail
EP=${1:-http://127.0.0.1:8710}
export HOME=${VSS_CLI_HOME:-$(mktemp -d)}
CLI=${VSS_CLI:-vss-cli}
PY=${PYTHON:-python3}
PUBLIC=${VSS_EXPECT_PUBLIC:-230}
PERSONAL=${VSS_EXPECT_PERSONAL:-12}
UPLOADS=${VSS_EXPECT_UPLOADS:-3}
fail() { echo "FAIL: $*" >&2; exit 1; }
# `vss-cli -o json ARGS...`: its stdout, failing with its stderr if it fails.
json() {
  echo "\$ vss-cli -o json $*" >&2
  local err out
  err=$(mktemp)
  if ! out=$("$CLI" -e "$EP" -u sim-user -p sim-password -o json "$@" 2>"$err"); then
    grep -v '^warning: A new token' "$err" >&2 || true
    fail "vss-cli $* exited non-zero"
  fi
  rm -f "$err"
  printf '%s' "$out"
}
# check 'PYTHON EXPRESSION over d (the parsed JSON)' 'what it means'
check() {
  "$PY" -c '
import json, re, sys
d = json.loads(sys.stdin.read(), strict=False)
ok = eval("(" + sys.argv[1] + ")")
print(("  ok: " if ok else "  FAILED: ") + sys.argv[2], file=sys.stderr)
sys.exit(0 if ok else 1)
' "$1" "$2" || fail "$2"
}

# Listing: every page (--show-all follows next_url), both catalogues.
public=$(json compute iso public ls --show-all)
printf '%s' "$public" | check "
len([i for i in d if i['public']]) == $PUBLIC and len({i['id'] for i in d if i['public']}) == $PUBLIC
" "every public ISO, once ($PUBLIC)"
json compute iso personal ls | check "len(d) == $PERSONAL and not any(i['public'] for i in d)" \
  "every personal ISO ($PERSONAL)"
# Timestamps in both of VSS's forms, as the CLI shows them.
printf '%s' "$public" | check "
all(re.match(r'^\d{4}-\d\d-\d\d ((Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?\d\d:\d\d:\d\d E[SD]T$', i['created_on']) for i in d)
and any(len(i['created_on'].split()) == 4 for i in d) and any(len(i['created_on'].split()) == 3 for i in d)
" "created_on in the weekday form and the 2017 form"

# Filter and sort.
json compute iso public ls --show-all -f 'name=like,ubuntu-2%' -s path=desc | check "
(lambda p: len(p) > 0 and all(i['name'].startswith('ubuntu-2') for i in p)
 and [i['path'] for i in p] == sorted((i['path'] for i in p), reverse=True))([i for i in d if i['public']])
" "name=like,ubuntu-2% sorted by path, descending"
json compute iso public ls -f 'id=in,3,5,8' | check "{i['id'] for i in d} == {3, 5, 8}" "id=in,3,5,8"

# Sync and its request status, polled to the end.
sync=$(json compute iso personal sync)
printf '%s' "$sync" | check "d[0]['request']['status'] == 'SUBMITTED'" "sync submitted"
rid=$(printf '%s' "$sync" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read(), strict=False)[0]["request"]["id"])')
status=""
for _ in $(seq 1 40); do
  status=$(json request image get "$rid" | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read(), strict=False); d=d[0] if isinstance(d, list) else d; print(d["status"])')
  [ "$status" = PROCESSED ] || [ "$status" = ERROR ] && break
  sleep 0.25
done
[ "$status" = PROCESSED ] || fail "image sync request $rid ended '$status', not PROCESSED"
echo "  ok: image sync request $rid is PROCESSED" >&2
json request image ls -f status=eq,PROCESSED | check "len(d) >= 1 and all(r['status'] == 'PROCESSED' for r in d)" \
  "request image ls -f status=eq,PROCESSED"
json compute iso personal ls | check "len(d) == $PERSONAL + $UPLOADS" \
  "the $UPLOADS uploaded files are personal ISOs after the sync"

# Wrong credentials: a clean 401, non-zero exit.
if out=$("$CLI" -e "$EP" -u sim-user -p wrong compute iso public ls 2>&1); then
  fail "a wrong password was accepted"
fi
case "$out" in
  *401*) echo "  ok: a wrong password is a 401" >&2 ;;
  *) fail "a wrong password did not say 401: $out" ;;
esac
echo "vss-cli: all checks passed"
