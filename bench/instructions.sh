#!/usr/bin/env bash
# User-space instructions per cached answer through the real server, socket
# and HTTP stack included: the server runs under `valgrind --tool=callgrind`,
# `ab` sends N1 and then (in a second run) N2 keep-alive requests, and
# (total(N2) - total(N1)) / (N2 - N1) is what one request costs. Unlike
# req/s on a shared machine, the count does not move with the neighbours.
#
#   bench/instructions.sh            # isogate (embedded demo, API key, info logs) and the hyper ceiling
#   TOP=40 bench/instructions.sh     # more functions per server
#
# Knobs: N1 (1000), N2 (11000), TOP (25), SKIP_BUILD, CARGO_TARGET_DIR,
# HOT_LANE=false (every request through the whole stack), SKIP_CEILING=1.
# Under valgrind the CPU's SHA extensions are not offered, so the API key's
# SHA-256 runs in software (~3,400 instructions that the real CPU does not spend).
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-1000} N2=${N2:-11000} TOP=${TOP:-25}
TARGET=${CARGO_TARGET_DIR:-target}
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v ab >/dev/null || need+=(apache2-utils)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  SUDO=$([[ $(id -u) == 0 ]] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
  cargo build --release -p isogate --bin isogate
  cargo build --release -p isogate --example static_ceiling
fi
WORK=$(mktemp -d /tmp/isogate-instr.XXXXXX)
PORT=${PORT:-18790}
KEY=instr-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$WORK/isogate.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
compression = false
${HOT_LANE:+hot_lane = $HOT_LANE}
[cache]
fresh_ttl_s = 3600
stale_ttl_s = 7200
[auth]
mode = "keys"
[[auth.keys]]
name = "bench"
sha256 = "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)"
scopes = ["read"]
[auth.rate_limit]
per_second = 1000000000
burst = 1000000000
EOF
mkdir -p "$WORK/www"

# count <label> <url> <header or ""> <command...>: per-request instructions and the top functions.
count() {
  local label=$1 url=$2 header=$3
  shift 3
  local n
  for n in $N1 $N2; do
    ISOGATE_LOG=info valgrind --tool=callgrind --callgrind-out-file="$WORK/$label.$n.out" "$@" \
      >"$WORK/$label.$n.log" 2>"$WORK/$label.$n.err" &
    local pid=$!
    local i
    for i in $(seq 1 200); do
      curl -sf -o /dev/null ${header:+-H "$header"} "$url" && break
      sleep 0.3
    done
    ab -q -k -c 32 -n "$n" ${header:+-H "$header"} "$url" >"$WORK/$label.$n.ab" 2>&1
    # A body whose length changes (a source's age_s gaining a digit in a
    # long run under valgrind) is ab's "Length" failure, not a failed request.
    grep -qE "^Non-2xx|(Connect|Receive|Exceptions): [1-9]" "$WORK/$label.$n.ab" && {
      echo "$label: requests failed, see $WORK/$label.$n.ab" >&2
      exit 1
    }
    kill -TERM "$pid"
    wait "$pid" || true
    callgrind_annotate --threshold=100 "$WORK/$label.$n.out" 2>/dev/null |
      grep -E "^ *[0-9,]+ \(" | sed 's/ (.*%)  / /' |
      awk '{gsub(",","",$1); c=$1; $1=""; print c"\t"$0}' >"$WORK/$label.$n.self"
  done
  python3 - "$WORK/$label" "$N1" "$N2" "$TOP" "$label" <<'PY'
import collections, sys
base, n1, n2, top, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def load(n):
    d = collections.Counter()
    for line in open(f"{base}.{n}.self"):
        c, f = line.rstrip("\n").split("\t", 1)
        d[f.strip()] += int(c)
    return d
a, b = load(n1), load(n2)
per = {k: (b[k] - a.get(k, 0)) / (n2 - n1) for k in b}
print(f"## {label}: {round(per.pop('PROGRAM TOTALS')):,} instructions per request")
for name, v in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{v:9.0f}  {name[:150]}")
PY
}

# The catalogue is the embedded demo's; the page is captured once for the ceiling.
count isogate "http://127.0.0.1:$PORT/v1/isos?per_page=50" "Authorization: Bearer $KEY" \
  "$TARGET/release/isogate" --demo --config "$WORK/isogate.toml"
ISOGATE_LOG=warn "$TARGET/release/isogate" --demo --config "$WORK/isogate.toml" >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 100); do
  curl -sf -o "$WORK/www/page50.json" -H "Authorization: Bearer $KEY" \
    "http://127.0.0.1:$PORT/v1/isos?per_page=50" && break
  sleep 0.2
done
kill "$pid"
wait "$pid" || true
[[ -n "${SKIP_CEILING:-}" ]] && { echo "raw output: $WORK"; exit 0; }
count ceiling "http://127.0.0.1:$PORT/page50.json" "" \
  "$TARGET/release/examples/static_ceiling" "127.0.0.1:$PORT" "$WORK/www"
echo "raw output: $WORK"
