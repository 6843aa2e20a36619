#!/usr/bin/env bash
# Cold start (issue 6, acceptance 4): 64 shards, max_concurrency 16, Discord's real 5 s IDENTIFY
# window, on `shardline sim`. Shardline: `shardline launch` with 4 clusters of 16 shards, timed
# from the supervisor's start until every shard is READY with all its guilds. The peer:
# discord-hybrid-sharding 3.0.1 with discord.js 14.28.1 (bench/compare/peers/package-lock.json),
# 4 clusters of 16 shards, its defaults, timed until every cluster's client is ready. A fresh
# simulator for each start; the simulator's IDENTIFY violations are recorded with each figure.
#
#   bench/cold_start.sh            RUNS=3 Shardline starts, PEER_RUNS=1 peer start (the peer's
#                                  default spawn delay makes one start take minutes)
# Prints one JSON line per start and a summary; needs node >= 18 and npm for the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${SHARDLINE_BIN:-build/bin/shardline}")
RUNS=${RUNS:-3}
PEER_RUNS=${PEER_RUNS:-1}
SHARDS=64
GUILDS=${GUILDS:-16000}
work=$(mktemp -d -t shardline-coldstart.XXXXXX)
results="$work/results.jsonl"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

BENCH_TAG=bench-cold-start
SHARDLINE=$BIN
# shellcheck source=bench/lib.sh
source bench/lib.sh

# A fresh simulator for each start: 64 shards, 16 buckets, Discord's real 5 s window.
start_cold_sim() {
  start_sim "$1" --guilds "$GUILDS" --shards $SHARDS --max-concurrency 16 --identify-window-ms 5000 \
    --heartbeat-ms 41250 --outage-ms 0 --session-budget 5000
  pids+=($SIM_PID)
}
violations() { python3 -c "import json,urllib.request; s=json.load(urllib.request.urlopen('http://127.0.0.1:$SIM_PORT/_sim/stats')); print(s['violations_total'], s['identifies']['total'])"; }
now() { date +%s.%N; }

shardline_run() {
  start_cold_sim "shardline-$1"
  export ENABLE_SHARD_MANAGER=true SHARD_IPC_SECRET="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export SHARD_IPC_HOST=127.0.0.1 SHARD_IPC_PORT=0 SHARD_COUNT=$SHARDS SHARD_CLUSTERS=4
  export DISCORD_TOKEN=sim-token DISCORD_API_URL="http://127.0.0.1:$SIM_PORT/api/v10" SHARD_DATA_DIR="$work/data-$1"
  rm -f "$work/port"
  local t0; t0=$(now)
  "$BIN" launch --port-file "$work/port" >"$work/launch-$1.log" 2>&1 &
  local lp=$!
  pids+=($lp)
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  export SHARD_IPC_PORT=$(cat "$work/port")
  local ready=""
  for _ in $(seq 600); do  # at most 150 s
    if "$BIN" query shard_status --json --timeout-ms 2000 2>/dev/null | python3 -c "import json,sys
r = json.load(sys.stdin)['results'].values()
s = [x for v in r if isinstance(v, list) for x in v]
sys.exit(0 if len(s) == $SHARDS and all(x['status'] == 'ready' and x['unavailable_guilds'] == 0 for x in s) else 1)"; then
      ready=$(python3 -c "print(round($(now) - $t0, 2))"); break
    fi
    sleep 0.25
  done
  read -r v ids < <(violations)
  echo "{\"tool\":\"shardline\",\"run\":$1,\"all_ready_s\":${ready:-null},\"violations\":$v,\"identifies\":$ids}" | tee -a "$results"
  stop_pid $lp
  stop_sim
  unset SHARD_IPC_PORT
}

peer_run() {
  start_cold_sim "peer-$1"
  local out
  out=$(cd bench/compare/peers && SIM_PORT=$SIM_PORT DISCORD_TOKEN=sim-token TOTAL_SHARDS=$SHARDS SHARDS_PER_CLUSTER=16 \
        DEADLINE_S=900 timeout 960 node hybrid_cold_start.js 2>"$work/peer-$1.log" | tail -n 1) || true
  read -r v ids < <(violations)
  local ms
  ms=$(python3 -c "import json,sys; d=json.loads(sys.argv[1] or '{}'); print(round(d['all_ready_ms']/1000, 2) if 'all_ready_ms' in d else 'null')" "$out")
  echo "{\"tool\":\"discord-hybrid-sharding\",\"run\":$1,\"all_ready_s\":$ms,\"violations\":$v,\"identifies\":$ids}" | tee -a "$results"
  stop_sim
}

if [ "$PEER_RUNS" -gt 0 ] && [ ! -d bench/compare/peers/node_modules ]; then
  (cd bench/compare/peers && npm ci --no-audit --no-fund >/dev/null)
fi
echo "cold start: $SHARDS shards, max_concurrency 16, 5 s windows, $GUILDS guilds; target: all READY within 4 windows + 2 s = 22 s" >&2
for i in $(seq "$RUNS"); do
  shardline_run "$i"
  if [ "$i" -le "$PEER_RUNS" ]; then peer_run "$i"; fi
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for tool in ("shardline", "discord-hybrid-sharding"):
    xs = [r["all_ready_s"] for r in rows if r["tool"] == tool and r["all_ready_s"] is not None]
    v = [r["violations"] for r in rows if r["tool"] == tool]
    if xs:
        print(f"{tool}: all READY median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, "
              f"{len(xs)} start(s)); identify/other violations per start: {v}")
PY
