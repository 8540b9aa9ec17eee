#!/usr/bin/env bash
# Drive the VSS simulator with the real PyPI CLI `vss-cli`.
#   python3 -m venv /tmp/v && /tmp/v/bin/pip install pyvss vss-cli
#   cargo run -p isogate-sim --example vss_sim -- 8710 &
#   VSS_CLI=/tmp/v/bin/vss-cli crates/sim/scripts/vss_cli_check.sh http://127.0.0.1:8710
set -euo pipefail
EP=${1:-http://127.0.0.1:8710}
export HOME=${VSS_CLI_HOME:-$(mktemp -d)}
V="${VSS_CLI:-vss-cli} -e $EP -u sim-user -p sim-password"
count='import json,sys; print(len(json.loads(sys.stdin.read(), strict=False)), "items")'
run() { echo "\$ vss-cli $*"; $V "$@" 2>&1 | grep -v '^warning: A new token' || true; }
run compute iso public ls -f 'name=like,ubuntu-2%' -s path=desc
run compute iso public ls -f 'id=in,3,5,8'
echo '$ vss-cli -o json compute iso public ls --show-all | count'; $V -o json compute iso public ls --show-all 2>/dev/null | python3 -c "$count"
echo '$ vss-cli -o json compute iso personal ls | count'; $V -o json compute iso personal ls 2>/dev/null | python3 -c "$count"
run compute iso personal sync
sleep 2.5
run request image ls
echo '$ vss-cli -o json compute iso personal ls | count'; $V -o json compute iso personal ls 2>/dev/null | python3 -c "$count"
echo '$ vss-cli -p wrong compute iso public ls'
${VSS_CLI:-vss-cli} -e "$EP" -u sim-user -p wrong compute iso public ls 2>&1 | grep -v '^warning: A new token' | head -1 || true
