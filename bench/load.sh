#!/usr/bin/env bash
# isogate against the physical limit on this machine, in one run, on loopback.
#
#   bench/load.sh            full run (about 10 minutes after the build)
#   bench/load.sh --smoke    a few seconds of everything (checks the harness)
#
# Environment: CARGO_TARGET_DIR (where the release build goes), DURATION
# (seconds per wrk run), ROUNDS (A/B rounds), SCALE (items per simulator),
# VSS_SCALE, VSS_PAGE_CONCURRENCY,
# SERVER_CPU / CLIENT_CPU (taskset cores), BASE_PORT (+1..+5, +80..+83 used),
# SKIP_BUILD=1 (use what is built), GATEWAY_BIN (another gateway binary),
# CASES (cached cases to drive), SKIP_SCENARIOS=1 (only the cached A/B).
# See bench/README.md for what is measured and why.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1

if ((SMOKE)); then
  DURATION=${DURATION:-1}
  ROUNDS=${ROUNDS:-1}
  CONNS=${CONNS:-"64"}
  SCALE=${SCALE:-2000}
  COLD_RUNS=${COLD_RUNS:-2}
else
  DURATION=${DURATION:-10}
  ROUNDS=${ROUNDS:-3}
  CONNS=${CONNS:-"64 256"}
  # 4 simulators x 22,500 + VSS 10,000 (+ its personal ISOs) = ~100k items.
  SCALE=${SCALE:-22500}
  COLD_RUNS=${COLD_RUNS:-5}
fi
VSS_SCALE=${VSS_SCALE:-10000}
# The adapter's default (40): all 40 pages after the first at once.
VSS_PAGE_CONCURRENCY=${VSS_PAGE_CONCURRENCY:-40}
CONCURRENT=${CONCURRENT:-500}
CASES=${CASES:-"page50 list1000"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18700}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[load %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- tools ---------------------------------------------------------------
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx)
if (($(nproc) < 2)); then
  log "only one core: server and client share it; ratios are still comparable, absolute figures are not"
  CLIENT_CPU=$SERVER_CPU
fi

# --- build ---------------------------------------------------------------
BIN=$CARGO_TARGET_DIR/release
if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building isogate and isogate-sim (release) into $CARGO_TARGET_DIR"
  (cd "$ROOT" && cargo build --release --quiet -p isogate -p isogate-sim \
    && cargo build --release --quiet -p isogate --example static_ceiling)
fi
CEILING_BIN=$BIN/examples/static_ceiling
# GATEWAY_BIN measures another build of the gateway (e.g. before a change).
GATEWAY_BIN=${GATEWAY_BIN:-$BIN/isogate}

# --- processes -------------------------------------------------------------
WORK=$(mktemp -d /tmp/isogate-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
declare -A SERVER_PID # wrk target -> the server process it measures
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

P_V1=$((BASE_PORT + 1)) P_V2=$((BASE_PORT + 2)) P_VSS=$((BASE_PORT + 3))
P_ACT=$((BASE_PORT + 4)) P_COX=$((BASE_PORT + 5)) P_GW=$((BASE_PORT + 80)) P_NGX=$((BASE_PORT + 81)) P_GW2=$((BASE_PORT + 82))
P_CEIL=$((BASE_PORT + 83))
for p in $P_V1 $P_V2 $P_VSS $P_ACT $P_COX $P_GW $P_NGX $P_GW2 $P_CEIL; do
  if (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
    log "port $p is taken; set BASE_PORT"; exit 1
  fi
done

wait_port() { # port [pid that must stay alive]
  for _ in $(seq 1 600); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    if [[ -n "${2:-}" ]] && ! kill -0 "$2" 2>/dev/null; then break; fi
    sleep 0.1
  done
  log "nothing listens on $1"; return 1
}

# The simulators get the client's core: they are idle while wrk runs and
# must not steal the server's core during the cold scenarios.
log "starting simulators: scale $SCALE, VSS $VSS_SCALE"
taskset -c "$CLIENT_CPU" "$BIN/isogate-sim" --cloudmc-v1 --cloudmc-v2 --action --cox --seed 42 \
  --scale "$SCALE" --cloudmc-v1-port $P_V1 --cloudmc-v2-port $P_V2 --action-port $P_ACT \
  --cox-port $P_COX >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
taskset -c "$CLIENT_CPU" "$BIN/isogate-sim" --vss --seed 42 --scale "$VSS_SCALE" \
  --vss-port $P_VSS >"$WORK/sim-vss.log" 2>&1 &
PIDS+=($!)
for p in $P_V1 $P_V2 $P_VSS $P_ACT $P_COX; do wait_port $p; done
# Base URLs as the simulators print them (some carry a path prefix).
sim_url() { awk -v n="$1" '$1 == n {print $2}' "$WORK"/sim*.log; }
U_V1=$(sim_url cloudmc-v1) U_V2=$(sim_url cloudmc-v2) U_VSS=$(sim_url vss)
U_ACT=$(sim_url action) U_COX=$(sim_url cox)
for u in "$U_V1" "$U_V2" "$U_VSS" "$U_ACT" "$U_COX"; do
  [[ -n "$u" ]] || { log "a simulator did not print its base URL"; cat "$WORK"/sim*.log >&2; exit 1; }
done

# The real binary and middleware stack: an API key (auth + its rate-limit
# check, set too high to bite), metrics on, tracing at info (one line per
# request, written to a file), compression off so both servers send the same
# bytes. Snapshots stay fresh for the whole run.
API_KEY=bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$WORK/isogate.toml" <<EOF
[server]
listen = "127.0.0.1:$P_GW"
compression = false
[cache]
fresh_ttl_s = 3600
stale_ttl_s = 7200
stale_if_error_s = 7200
refresh_min_interval_s = 0
[auth]
mode = "keys"
[[auth.keys]]
name = "bench"
sha256 = "$(printf %s "$API_KEY" | sha256sum | cut -d' ' -f1)"
scopes = ["read", "admin"]
[auth.rate_limit]
per_second = 1000000000
burst = 1000000000
[providers.cloudmc-legacy]
base_url = "$U_V1"
[providers.coxedge-prod]
base_url = "$U_V2"
[providers.coxedge-images]
base_url = "$U_COX"
[providers.vss-prod]
base_url = "$U_VSS"
page_concurrency = $VSS_PAGE_CONCURRENCY
[providers.hostkey]
base_url = "$U_ACT"
EOF
AUTH_ARGS=(-H "Authorization: Bearer $API_KEY")
log "starting isogate on core $SERVER_CPU"
ISOGATE_LOG=info taskset -c "$SERVER_CPU" "$GATEWAY_BIN" --demo --config "$WORK/isogate.toml" \
  >"$WORK/isogate.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
if ! wait_port $P_GW $GW_PID; then cat "$WORK/isogate.log" >&2; exit 1; fi
GW=http://127.0.0.1:$P_GW

# The same gateway with logging at warn (no line per request), to show what
# the per-request log line costs; it idles while the others are measured.
ISOGATE_LOG=warn ISOGATE_SERVER__LISTEN=127.0.0.1:$P_GW2 taskset -c "$SERVER_CPU" "$GATEWAY_BIN" \
  --demo --config "$WORK/isogate.toml" >"$WORK/isogate-nolog.log" 2>&1 &
GW2_PID=$!
PIDS+=($GW2_PID)
if ! wait_port $P_GW2 $GW2_PID; then cat "$WORK/isogate-nolog.log" >&2; exit 1; fi
GW2=http://127.0.0.1:$P_GW2

# --- snapshot, RSS, the bytes nginx will serve ------------------------------
mkdir -p "$WORK/www"
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GW_PID/status"; }
RSS_IDLE=$(rss_kb)
curl -sf "${AUTH_ARGS[@]}" "$GW/v1/isos?per_page=1" -o "$WORK/first.json" || {
  log "the first listing failed"; cat "$WORK/isogate.log" >&2; exit 1
}
ITEMS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["meta"]["total"])' "$WORK/first.json")
RSS_CACHED=$(rss_kb)
log "cached $ITEMS items; RSS idle $((RSS_IDLE / 1024)) MiB, with the snapshots $((RSS_CACHED / 1024)) MiB"
PAGE50="/v1/isos?per_page=50"
LIST1000="/v1/isos?per_page=1000"
curl -sf "${AUTH_ARGS[@]}" "$GW$PAGE50" -o "$WORK/www/page50.json"
curl -sf "${AUTH_ARGS[@]}" "$GW$LIST1000" -o "$WORK/www/list1000.json"
curl -sf "${AUTH_ARGS[@]}" "$GW2$PAGE50" -o /dev/null
log "page50.json $(stat -c %s "$WORK/www/page50.json") B, list1000.json $(stat -c %s "$WORK/www/list1000.json") B"

# nginx at its best for static JSON: one worker on the server core,
# sendfile, no access log, unlimited keep-alive (as hyper).
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000000; keepalive_timeout 300s;
  open_file_cache max=16 inactive=300s; open_file_cache_valid 300s;
  types { } default_type application/json;
  client_body_temp_path $WORK/nginx-tmp;
  server { listen 127.0.0.1:$P_NGX; root $WORK/www; }
}
EOF
mkdir -p "$WORK/nginx-tmp"
chmod -R a+rX "$WORK"
taskset -c "$SERVER_CPU" "$NGINX" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
NGX_MASTER=$!
wait_port $P_NGX $NGX_MASTER
NGX=http://127.0.0.1:$P_NGX
cmp -s <(curl -s "$NGX/page50.json") "$WORK/www/page50.json" || { log "nginx serves other bytes"; exit 1; }

# The same tokio + hyper stack as isogate serving the same bytes with no
# middleware: what the HTTP stack alone costs, between nginx and isogate.
taskset -c "$SERVER_CPU" "$CEILING_BIN" 127.0.0.1:$P_CEIL "$WORK/www" >"$WORK/ceiling.log" 2>&1 &
PIDS+=($!)
CEIL_PID=$!
wait_port $P_CEIL $CEIL_PID
CEIL=http://127.0.0.1:$P_CEIL
SERVER_PID=([isogate]=$GW_PID [isogate-nolog]=$GW2_PID [hyper]=$CEIL_PID
  [nginx]=$(pgrep -P "$NGX_MASTER" | head -n1))
cmp -s <(curl -s "$CEIL/page50.json") "$WORK/www/page50.json" || { log "the ceiling serves other bytes"; exit 1; }

# --- wrk A/B ---------------------------------------------------------------
RESULTS=$WORK/wrk.tsv
: >"$RESULTS"
# CPU time (user + system, clock ticks) a server process has used: per
# request, it is steadier than req/s when neighbours steal the core.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wrk_run() { # target case conns round url [lua]
  local out=$WORK/wrk-$1-$2-$3-$4.txt
  local lua=()
  [[ -n "${6:-}" ]] && lua=(-s "$6")
  local pid=${SERVER_PID[$1]:-} before=0
  [[ -n "$pid" ]] && before=$(cpu_ticks "$pid")
  taskset -c "$CLIENT_CPU" wrk -t1 -c "$3" -d "${DURATION}s" --latency "${lua[@]}" \
    "${AUTH_ARGS[@]}" "$5" >"$out" 2>&1
  local ticks=0
  [[ -n "$pid" ]] && ticks=$(($(cpu_ticks "$pid") - before))
  python3 "$ROOT/bench/driver.py" parse-wrk "$out" "$1" "$2" "$3" "$4" \
    --cpu-ticks "$ticks" --clk-tck "$(getconf CLK_TCK)" >>"$RESULTS"
  tail -n1 "$RESULTS" >&2
}

log "warming both servers"
DURATION=1 wrk_run warm page50 64 0 "$GW$PAGE50" >/dev/null 2>&1
DURATION=1 wrk_run warm page50 64 0 "$NGX/page50.json" >/dev/null 2>&1
DURATION=1 wrk_run warm page50 64 0 "$GW2$PAGE50" >/dev/null 2>&1
DURATION=1 wrk_run warm page50 64 0 "$CEIL/page50.json" >/dev/null 2>&1
: >"$RESULTS"
# The same cached items once the gateway has served a little (an allocator
# that returns freed decode buffers only on later activity shows it here).
RSS_SETTLED=$(rss_kb)

for round in $(seq 1 "$ROUNDS"); do
  for case in $CASES; do
    for c in $CONNS; do
      if [[ $case == page50 ]]; then gw=$GW$PAGE50 ngx=$NGX/page50.json; else gw=$GW$LIST1000 ngx=$NGX/list1000.json; fi
      ceil=$CEIL/${ngx##*/}
      # A/B order alternates by round so drift (thermal, neighbours) hits both.
      if ((round % 2)); then
        wrk_run nginx "$case" "$c" "$round" "$ngx"
        wrk_run isogate "$case" "$c" "$round" "$gw"
      else
        wrk_run isogate "$case" "$c" "$round" "$gw"
        wrk_run nginx "$case" "$c" "$round" "$ngx"
      fi
      wrk_run hyper "$case" "$c" "$round" "$ceil"
      if [[ $case == page50 ]]; then wrk_run isogate-nolog "$case" "$c" "$round" "$GW2$PAGE50"; fi
    done
  done
done

# Uncached: every request a new size bound, so the rendered cache misses and
# each answer is a full filter + sort over all items.
cat >"$WORK/uncached.lua" <<'EOF'
math.randomseed(os.time())
local n = math.random(1, 1000000)
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/isos?filter=status,eq,ready;size_bytes,gt," .. (n * 7919 % 4000000000) .. "&sort=name,desc&per_page=50")
end
EOF
if [[ -z "${SKIP_SCENARIOS:-}" ]]; then
for c in 1 8; do
  wrk_run isogate uncached "$c" 1 "$GW/" "$WORK/uncached.lua"
done

# --- cold, concurrent, RSS ------------------------------------------------
python3 "$ROOT/bench/driver.py" cold --gateway "$GW" --pid "$GW_PID" --runs "$COLD_RUNS" \
  --concurrent "$CONCURRENT" --latency-ms 50 \
  --sim cloudmc-legacy=http://127.0.0.1:$P_V1 --sim coxedge-prod=http://127.0.0.1:$P_V2 \
  --sim vss-prod=http://127.0.0.1:$P_VSS --sim hostkey=http://127.0.0.1:$P_ACT \
  --sim coxedge-images=http://127.0.0.1:$P_COX --api-key "$API_KEY" \
  >"$WORK/cold.json"
else
  echo '{"skipped": true}' >"$WORK/cold.json"
fi
RSS_END=$(rss_kb)

# --- report -----------------------------------------------------------------
mkdir -p "$ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/$STAMP.md
python3 "$ROOT/bench/driver.py" report --wrk "$RESULTS" --cold "$WORK/cold.json" \
  --items "$ITEMS" --rss-idle "$RSS_IDLE" --rss-cached "$RSS_CACHED" --rss-settled "$RSS_SETTLED" --rss-end "$RSS_END" \
  --page50-bytes "$(stat -c %s "$WORK/www/page50.json")" \
  --list1000-bytes "$(stat -c %s "$WORK/www/list1000.json")" \
  --duration "$DURATION" --rounds "$ROUNDS" --scale "$SCALE" --vss-scale "$VSS_SCALE" \
  --smoke "$SMOKE" --log-lines "$(wc -l <"$WORK/isogate.log")" >"$OUT"
cat "$OUT"
log "written $OUT (raw output in $WORK)"
